//go:build cuda

package cuda

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/agate-ml/agate/ops"
)

// openOrSkip opens cuda:0, or skips the test with the reason (no driver,
// no GPU, stub kernels), after checking that the error is the documented one.
func openOrSkip(t *testing.T) *Device {
	t.Helper()
	d, err := Open(0, Options{Logf: t.Logf})
	if err != nil {
		if !errors.Is(err, ErrNoDevice) && !errors.Is(err, ErrStubKernels) {
			t.Fatalf("Open failed without wrapping ErrNoDevice or ErrStubKernels: %v", err)
		}
		t.Skipf("no usable GPU: %v", err)
	}
	t.Logf("device: %s", d.Describe())
	return d
}

// TestOpenError runs everywhere: without a GPU it checks the error, with one
// it checks that opening twice returns the same device.
func TestOpenError(t *testing.T) {
	d, err := Open(0, Options{})
	if err != nil {
		t.Logf("Open(0): %v", err)
		if !errors.Is(err, ErrNoDevice) && !errors.Is(err, ErrStubKernels) {
			t.Fatalf("unexpected error type %T: %v", err, err)
		}
		return
	}
	if d2, _ := Open(0, Options{}); d2 != d {
		t.Fatal("Open returned a second device")
	}
	if _, err := Open(maxDevices, Options{}); !errors.Is(err, ErrNoDevice) {
		t.Fatalf("ordinal out of range: %v", err)
	}
}

func randTensor(rng *rand.Rand, shape ...int) *ops.Tensor {
	t := ops.NewTensor(ops.Float, shape...)
	for i := range t.Float32s() {
		t.Float32s()[i] = float32(rng.NormFloat64())
	}
	return t
}

type opCase struct {
	name   string
	node   *ops.Node
	inputs []*ops.Tensor // nil entries are omitted inputs
	consts []bool        // input i is a plan-time constant
}

func node(domain, op string, nin, nout int, attrs ...*ops.Attr) *ops.Node {
	n := &ops.Node{OpType: op, Domain: domain, Version: 17, Attrs: ops.NewAttrs(attrs...)}
	for i := range nin {
		n.Inputs = append(n.Inputs, string(rune('a'+i)))
	}
	for i := range nout {
		n.Outputs = append(n.Outputs, string(rune('p'+i)))
	}
	return n
}

// TestOpsMatchCPU runs each supported op as a one-step program on the GPU
// and compares with the CPU kernel.
func TestOpsMatchCPU(t *testing.T) {
	d := openOrSkip(t)
	rng := rand.New(rand.NewPCG(5, 6))
	ids := ops.FromSlice(ops.Int64, []int64{3, 0, -1, 7, 7, 2}, 2, 3)
	mask := ops.NewTensor(ops.Float, 2, 1, 1, 16)
	mask.Float32s()[5] = -10000
	f := func(name string, v float32) *ops.Attr { return &ops.Attr{Name: name, Type: ops.AttrFloat, F: v} }
	i := func(name string, v int64) *ops.Attr { return &ops.Attr{Name: name, Type: ops.AttrInt, I: v} }
	s := func(name, v string) *ops.Attr { return &ops.Attr{Name: name, Type: ops.AttrString, S: v} }
	cases := []opCase{
		{"add bias", node("ai.onnx", "Add", 2, 1), []*ops.Tensor{randTensor(rng, 4, 8, 32), randTensor(rng, 32)}, nil},
		{"mul broadcast", node("ai.onnx", "Mul", 2, 1), []*ops.Tensor{randTensor(rng, 4, 1, 32), randTensor(rng, 8, 1)}, nil},
		{"div", node("ai.onnx", "Div", 2, 1), []*ops.Tensor{randTensor(rng, 3, 5), randTensor(rng, 3, 5)}, nil},
		{"gelu", node("com.microsoft", "Gelu", 1, 1), []*ops.Tensor{randTensor(rng, 1000)}, nil},
		{"gelu tanh", node("ai.onnx", "Gelu", 1, 1, s("approximate", "tanh")), []*ops.Tensor{randTensor(rng, 1000)}, nil},
		{"softmax", node("ai.onnx", "Softmax", 1, 1), []*ops.Tensor{randTensor(rng, 7, 300)}, nil},
		{"layernorm", node("ai.onnx", "LayerNormalization", 3, 1, f("epsilon", 1e-5)),
			[]*ops.Tensor{randTensor(rng, 2, 9, 768), randTensor(rng, 768), randTensor(rng, 768)}, []bool{false, true, true}},
		{"skip layernorm", node("com.microsoft", "SkipLayerNormalization", 5, 1),
			[]*ops.Tensor{randTensor(rng, 2, 9, 64), randTensor(rng, 2, 9, 64), randTensor(rng, 64), randTensor(rng, 64), randTensor(rng, 64)}, nil},
		{"matmul weights", node("ai.onnx", "MatMul", 2, 1), []*ops.Tensor{randTensor(rng, 2, 9, 64), randTensor(rng, 64, 48)}, []bool{false, true}},
		{"matmul batched", node("ai.onnx", "MatMul", 2, 1), []*ops.Tensor{randTensor(rng, 2, 3, 9, 16), randTensor(rng, 2, 3, 16, 9)}, nil},
		{"gemm", node("ai.onnx", "Gemm", 3, 1, i("transB", 1), f("alpha", 0.5)),
			[]*ops.Tensor{randTensor(rng, 5, 16), randTensor(rng, 12, 16), randTensor(rng, 12)}, nil},
		{"fused matmul gelu", node(ops.DomainAgate, "FusedMatMul", 3, 1, s("activation", "gelu")),
			[]*ops.Tensor{randTensor(rng, 2, 9, 64), randTensor(rng, 64, 256), randTensor(rng, 256)}, []bool{false, true, true}},
		{"fused matmul relu", node(ops.DomainAgate, "FusedMatMul", 3, 1, s("activation", "relu")),
			[]*ops.Tensor{randTensor(rng, 18, 64), randTensor(rng, 64, 32), randTensor(rng, 32)}, []bool{false, true, true}},
		{"attention", node(ops.DomainAgate, "SelfAttention", 4, 1, i("num_heads", 4)),
			[]*ops.Tensor{randTensor(rng, 2, 16, 64), randTensor(rng, 2, 16, 64), randTensor(rng, 2, 16, 64), mask}, nil},
		{"gather", node("ai.onnx", "Gather", 2, 1), []*ops.Tensor{randTensor(rng, 8, 32), ids}, []bool{true, false}},
	}
	reg := ops.DefaultRegistry()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkProgram(t, d, reg, c)
		})
	}
	t.Run("trees", func(t *testing.T) {
		n := randomEnsemble(rng, 300, 2, 8, "SUM", []float32{1, 2}, 2)
		checkProgram(t, d, reg, opCase{"trees", n, []*ops.Tensor{randTensor(rng, 5000, 8)}, nil})
	})
	if s := d.PoolStats(); s.InUse > int64(4*laneWorkspace) {
		t.Errorf("blocks still in use after the programs: %+v", s)
	}
}

func checkProgram(t *testing.T, d *Device, reg *ops.Registry, c opCase) {
	n := c.node
	n.ConstInputs = make([]*ops.Tensor, len(c.inputs))
	for i := range c.consts {
		if c.consts[i] {
			n.ConstInputs[i] = c.inputs[i]
		}
	}
	if ok, why := Supported(n); !ok {
		t.Fatalf("not supported: %s", why)
	}
	k, err := reg.Build(n)
	if err != nil {
		t.Fatal(err)
	}
	cpu := k.(ops.Kernel)
	ec := ops.NewContext(context.Background(), nil, nil)
	want := make([]*ops.Tensor, 1)
	if err := cpu.Run(ec, c.inputs, want); err != nil {
		t.Fatal(err)
	}
	p := &Program{NumValues: len(c.inputs) + 1}
	st := ProgramStep{Node: n, Fallback: cpu, Out: []int{len(c.inputs)}}
	var hostIn []*ops.Tensor
	for i, in := range c.inputs {
		st.In = append(st.In, i)
		if i < len(c.consts) && c.consts[i] {
			p.Consts = append(p.Consts, in)
			continue
		}
		p.Consts = append(p.Consts, nil)
		p.Inputs = append(p.Inputs, i)
		hostIn = append(hostIn, in)
	}
	p.Consts = append(p.Consts, nil)
	p.Steps = []ProgramStep{st}
	p.Outputs = []int{len(c.inputs)}
	gk, err := d.Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	defer gk.(interface{ Close() error }).Close()
	for range 2 { // the second run reuses pooled blocks
		got := make([]*ops.Tensor, 1)
		if err := gk.Run(ec, hostIn, got); err != nil {
			t.Fatal(err)
		}
		if !ops.EqualShapes(got[0].Shape, want[0].Shape) {
			t.Fatalf("shape %v, CPU %v", got[0].Shape, want[0].Shape)
		}
		g, w := got[0].Float32s(), want[0].Float32s()
		for i := range w {
			if math.Abs(float64(g[i]-w[i])) > 2e-3*(1+math.Abs(float64(w[i]))) {
				t.Fatalf("element %d: GPU %g, CPU %g", i, g[i], w[i])
			}
		}
	}
}

// TestProgramKeepsIntermediates runs a three-step program (MatMul, Add,
// Reshape, Softmax) whose intermediates never leave the device.
func TestProgramKeepsIntermediates(t *testing.T) {
	d := openOrSkip(t)
	rng := rand.New(rand.NewPCG(7, 8))
	reg := ops.DefaultRegistry()
	x, w, b := randTensor(rng, 6, 32), randTensor(rng, 32, 16), randTensor(rng, 16)
	shape := ops.FromSlice(ops.Int64, []int64{3, -1}, 2)
	nodes := []*ops.Node{node("ai.onnx", "MatMul", 2, 1), node("ai.onnx", "Add", 2, 1), node("ai.onnx", "Reshape", 2, 1), node("ai.onnx", "Softmax", 1, 1)}
	// values: 0 x, 1 w, 2 b, 3 shape, 4 mm, 5 add, 6 reshaped, 7 y
	p := &Program{NumValues: 8, Consts: []*ops.Tensor{nil, w, b, shape, nil, nil, nil, nil}, Inputs: []int{0}, Outputs: []int{7}}
	ins := [][]int{{0, 1}, {4, 2}, {5, 3}, {6}}
	ec := ops.NewContext(context.Background(), nil, nil)
	vals := map[int]*ops.Tensor{0: x, 1: w, 2: b, 3: shape}
	for i, n := range nodes {
		k, err := reg.Build(n)
		if err != nil {
			t.Fatal(err)
		}
		p.Steps = append(p.Steps, ProgramStep{Node: n, In: ins[i], Out: []int{4 + i}, Fallback: k.(ops.Kernel)})
		in := []*ops.Tensor{}
		for _, v := range ins[i] {
			in = append(in, vals[v])
		}
		out := make([]*ops.Tensor, 1)
		if err := k.(ops.Kernel).Run(ec, in, out); err != nil {
			t.Fatal(err)
		}
		vals[4+i] = out[0]
	}
	gk, err := d.Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]*ops.Tensor, 1)
	if err := gk.Run(ec, []*ops.Tensor{x}, got); err != nil {
		t.Fatal(err)
	}
	want := vals[7]
	if !ops.EqualShapes(got[0].Shape, want.Shape) {
		t.Fatalf("shape %v, want %v", got[0].Shape, want.Shape)
	}
	for i, v := range want.Float32s() {
		if math.Abs(float64(got[0].Float32s()[i]-v)) > 1e-4 {
			t.Fatalf("element %d: %g, want %g", i, got[0].Float32s()[i], v)
		}
	}
}
