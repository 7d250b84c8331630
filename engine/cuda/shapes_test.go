package cuda

import (
	"errors"
	"slices"
	"testing"

	"github.com/agate-ml/agate/ops"
)

func TestPlanBinary(t *testing.T) {
	p, err := planBinary([]int{2, 3, 4}, []int{2, 3, 4})
	if err != nil || p.bcast || p.bmod != 0 || p.n != 24 {
		t.Fatalf("same shapes: %+v %v", p, err)
	}
	p, _ = planBinary([]int{8, 128, 768}, []int{768})
	if p.bcast || p.bmod != 768 {
		t.Fatalf("bias: %+v", p)
	}
	p, _ = planBinary([]int{8, 128, 768}, []int{1, 128, 768})
	if p.bcast || p.bmod != 128*768 {
		t.Fatalf("row block: %+v", p)
	}
	p, _ = planBinary([]int{2, 1, 4}, []int{3, 1})
	if !p.bcast || !slices.Equal(p.out, []int{2, 3, 4}) || !slices.Equal(p.astride, []int{4, 0, 1}) || !slices.Equal(p.bstride, []int{0, 1, 0}) {
		t.Fatalf("general: %+v", p)
	}
	if _, err := planBinary([]int{2, 3}, []int{4}); err == nil {
		t.Fatal("incompatible shapes accepted")
	}
	if _, err := planBinary([]int{1, 1, 1, 1, 1, 1, 2}, []int{3, 1}); !errors.Is(err, errUnsupported) {
		t.Fatalf("rank 7: %v", err)
	}
}

func TestReshapeShape(t *testing.T) {
	for _, c := range []struct {
		in   []int
		spec []int64
		want []int
	}{
		{[]int{2, 3, 4}, []int64{0, -1}, []int{2, 12}},
		{[]int{2, 3, 4}, []int64{-1}, []int{24}},
		{[]int{8, 128, 768}, []int64{0, 0, 12, 64}, []int{8, 128, 12, 64}},
		{[]int{0, 4}, []int64{-1, 2}, []int{0, 2}},
		{[]int{2, 3}, []int64{-1, 4}, nil},
	} {
		got, err := reshapeShape(c.in, c.spec, false)
		if c.want == nil {
			if err == nil {
				t.Errorf("%v %v: no error", c.in, c.spec)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%v %v = %v, %v; want %v", c.in, c.spec, got, err, c.want)
		}
	}
	if _, err := reshapeShape([]int{2, 3}, []int64{4}, false); err == nil {
		t.Fatal("size mismatch accepted")
	}
	if got, err := reshapeShape([]int{0, 3}, []int64{0, 3}, true); err != nil || !slices.Equal(got, []int{0, 3}) {
		t.Fatalf("allowzero: %v %v", got, err)
	}
}

func TestPlanMatMul(t *testing.T) {
	p, err := planMatMul([]int{8, 128, 768}, []int{768, 3072})
	if err != nil || p.batch != 1 || p.m != 8*128 || p.n != 3072 || p.k != 768 || !slices.Equal(p.out, []int{8, 128, 3072}) {
		t.Fatalf("weights: %+v %v", p, err)
	}
	p, err = planMatMul([]int{8, 12, 128, 64}, []int{8, 12, 64, 128})
	if err != nil || p.batch != 96 || p.strideA != 128*64 || p.strideB != 64*128 {
		t.Fatalf("batched: %+v %v", p, err)
	}
	p, err = planMatMul([]int{128, 64}, []int{12, 64, 32})
	if err != nil || p.batch != 12 || p.strideA != 0 || !slices.Equal(p.out, []int{12, 128, 32}) {
		t.Fatalf("shared a: %+v %v", p, err)
	}
	if _, err := planMatMul([]int{2, 1, 4, 5}, []int{3, 5, 6}); !errors.Is(err, errUnsupported) {
		t.Fatalf("mixed broadcast: %v", err)
	}
	if _, err := planMatMul([]int{4, 5}, []int{6, 7}); err == nil || errors.Is(err, errUnsupported) {
		t.Fatalf("inner mismatch: %v", err)
	}
}

func TestMaskStrides(t *testing.T) {
	s, err := maskStrides([]int{8, 1, 1, 128}, 8, 12, 128, 128)
	if err != nil || s != [4]int{128, 0, 0, 1} {
		t.Fatalf("%v %v", s, err)
	}
	if _, err := maskStrides([]int{7, 1, 1, 128}, 8, 12, 128, 128); err == nil {
		t.Fatal("bad mask accepted")
	}
}

func TestParseDevice(t *testing.T) {
	for name, want := range map[string]int{"cuda": 0, "cuda:0": 0, "CUDA:3": 3} {
		if got, err := ParseDevice(name); err != nil || got != want {
			t.Errorf("ParseDevice(%q) = %d, %v", name, got, err)
		}
	}
	for _, bad := range []string{"gpu", "cuda:", "cuda:-1", "cuda0", "cuda:x"} {
		if _, err := ParseDevice(bad); err == nil {
			t.Errorf("ParseDevice(%q) accepted", bad)
		}
	}
}

func TestProgramValidate(t *testing.T) {
	reshape := &ops.Node{OpType: "Reshape", Domain: ops.DomainONNX, Version: 14, Attrs: ops.NewAttrs()}
	relu := &ops.Node{OpType: "Relu", Domain: ops.DomainONNX, Version: 14, Attrs: ops.NewAttrs()}
	shape := ops.FromSlice(ops.Int64, []int64{-1}, 1)
	// 0 x, 1 shape, 2 relu(x), 3 reshape(relu, shape)
	p := &Program{NumValues: 4, Consts: []*ops.Tensor{nil, shape, nil, nil}, Inputs: []int{0}, Outputs: []int{3},
		Steps: []ProgramStep{{Node: relu, In: []int{0}, Out: []int{2}}, {Node: reshape, In: []int{2, 1}, Out: []int{3}}}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	a, _ := p.analyze()
	if a.lastUse[0] != 0 || a.lastUse[2] != 1 || a.lastUse[3] != 2 || !a.views[1] {
		t.Fatalf("analysis %+v", a)
	}
	// The shape computed on the device cannot be read on the host.
	p.Steps[1].In = []int{0, 2}
	var se *StepError
	if err := p.Validate(); !errors.As(err, &se) || se.Step != 1 || !errors.Is(err, ErrHostInput) {
		t.Fatalf("device-made shape: %v", err)
	}
	// Reading a value before it is defined.
	p.Steps[0].In = []int{3}
	if err := p.Validate(); !errors.As(err, &se) || se.Step != 0 {
		t.Fatalf("undefined value: %v", err)
	}
}
