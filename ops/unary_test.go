package ops_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/agate-ml/agate/ops"
)

// ewRun builds op (ai.onnx at the given opset) with the given attributes
// and runs it on inputs (nil for an omitted optional input), returning
// nout outputs.
func ewRun(t testing.TB, op string, version int, attrs []*ops.Attr, nout int, inputs ...*ops.Tensor) ([]*ops.Tensor, error) {
	t.Helper()
	return ewRunCtx(ops.NewContext(context.Background(), nil, nil), op, version, attrs, nout, inputs...)
}

func ewRunCtx(ec *ops.Context, op string, version int, attrs []*ops.Attr, nout int, inputs ...*ops.Tensor) ([]*ops.Tensor, error) {
	present := make([]bool, len(inputs))
	for i, in := range inputs {
		present[i] = in != nil
	}
	k, err := ewBuild(op, version, attrs, present, nout)
	if err != nil {
		return nil, err
	}
	out := make([]*ops.Tensor, nout)
	if err := k.Run(ec, inputs, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ewBuild creates the kernel of an ai.onnx node whose inputs are present
// or omitted as listed.
func ewBuild(op string, version int, attrs []*ops.Attr, present []bool, nout int) (ops.Kernel, error) {
	n := &ops.Node{OpType: op, Domain: ops.DomainONNX, Version: version, Attrs: ops.NewAttrs(attrs...)}
	for i, p := range present {
		name := ""
		if p {
			name = "x" + string(rune('0'+i))
		}
		n.Inputs = append(n.Inputs, name)
	}
	for i := 0; i < nout; i++ {
		n.Outputs = append(n.Outputs, "y"+string(rune('0'+i)))
	}
	k, err := ops.DefaultRegistry().Build(n)
	if err != nil {
		return nil, err
	}
	return k.(ops.Kernel), nil
}

// ewBench measures a kernel on fixed inputs with an arena, as the engine
// runs it.
func ewBench(b *testing.B, op string, version int, attrs []*ops.Attr, inputs ...*ops.Tensor) {
	present := make([]bool, len(inputs))
	for i := range present {
		present[i] = true
	}
	k, err := ewBuild(op, version, attrs, present, 1)
	if err != nil {
		b.Fatal(err)
	}
	ec := ops.NewContext(context.Background(), nil, ops.NewArena())
	out := make([]*ops.Tensor, 1)
	b.SetBytes(int64(4 * inputs[0].Len()))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := k.Run(ec, inputs, out); err != nil {
			b.Fatal(err)
		}
		ec.Release(out[0])
	}
}

// ewRun1 runs op and returns its only output, failing the test on error.
func ewRun1(t testing.TB, op string, version int, attrs []*ops.Attr, inputs ...*ops.Tensor) *ops.Tensor {
	t.Helper()
	out, err := ewRun(t, op, version, attrs, 1, inputs...)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	return out[0]
}

func ewF32(v ...float32) *ops.Tensor { return ops.FromSlice(ops.Float, v, len(v)) }

func ewAttrF(name string, v float32) *ops.Attr {
	return &ops.Attr{Name: name, Type: ops.AttrFloat, F: v}
}

func ewAttrI(name string, v int64) *ops.Attr { return &ops.Attr{Name: name, Type: ops.AttrInt, I: v} }

func ewAttrS(name, v string) *ops.Attr { return &ops.Attr{Name: name, Type: ops.AttrString, S: v} }

// ewClose reports whether got matches want within 1e-6 relative error
// (NaNs match NaNs).
func ewClose(got, want float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	if math.IsInf(want, 0) {
		return got == want
	}
	return math.Abs(got-want) <= 1e-6*math.Max(1, math.Abs(want))
}

func ewCheckF32(t *testing.T, name string, got *ops.Tensor, want []float32) {
	t.Helper()
	g := got.Float32s()
	if len(g) != len(want) {
		t.Fatalf("%s: got %d elements (%s), want %d", name, len(g), got, len(want))
	}
	for i := range want {
		if !ewClose(float64(g[i]), float64(want[i])) {
			t.Errorf("%s: element %d = %v, want %v", name, i, g[i], want[i])
		}
	}
}

func TestUnaryFloat(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	tests := []struct {
		op   string
		ver  int
		in   []float32
		want []float32
	}{
		{"Abs", 13, []float32{-2, 0, 3.5}, []float32{2, 0, 3.5}},
		{"Neg", 13, []float32{-2, 0, 3.5}, []float32{2, 0, -3.5}},
		{"Sign", 13, []float32{-2, 0, 3.5, nan}, []float32{-1, 0, 1, nan}},
		{"Sqrt", 13, []float32{4, 2, -1}, []float32{2, 1.4142135, nan}},
		{"Exp", 13, []float32{0, 1, -inf}, []float32{1, 2.7182817, 0}},
		{"Log", 13, []float32{1, 0, 2.7182817}, []float32{0, -inf, 1}},
		{"Reciprocal", 13, []float32{2, -4, 0}, []float32{0.5, -0.25, inf}},
		{"Ceil", 13, []float32{-1.5, 1.2, 2}, []float32{-1, 2, 2}},
		{"Floor", 13, []float32{-1.5, 1.2, 2}, []float32{-2, 1, 2}},
		{"Round", 22, []float32{0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6}, []float32{0, 2, 2, 0, -2, 2, 3}},
		{"Sin", 7, []float32{0, math.Pi / 2}, []float32{0, 1}},
		{"Cos", 7, []float32{0, math.Pi}, []float32{1, -1}},
		{"Tan", 7, []float32{0, math.Pi / 4}, []float32{0, 1}},
		{"Asin", 7, []float32{0, 1}, []float32{0, math.Pi / 2}},
		{"Acos", 7, []float32{1, -1}, []float32{0, math.Pi}},
		{"Atan", 7, []float32{0, 1}, []float32{0, math.Pi / 4}},
		{"Sinh", 9, []float32{0, 1}, []float32{0, 1.1752012}},
		{"Cosh", 9, []float32{0, 1}, []float32{1, 1.5430806}},
		{"Asinh", 9, []float32{0, 1}, []float32{0, 0.8813736}},
		{"Acosh", 9, []float32{1, 2}, []float32{0, 1.3169579}},
		{"Atanh", 9, []float32{0, 0.5}, []float32{0, 0.54930615}},
		{"Erf", 13, []float32{0, 1, -2, inf}, []float32{0, 0.8427008, -0.9953223, 1}},
		{"Tanh", 13, []float32{0, 1, -20}, []float32{0, 0.7615942, -1}},
	}
	for _, tc := range tests {
		got := ewRun1(t, tc.op, tc.ver, nil, ewF32(tc.in...))
		ewCheckF32(t, tc.op, got, tc.want)
	}
}

func TestUnaryOtherTypes(t *testing.T) {
	// int8 Abs wraps at the minimum like two's complement.
	got := ewRun1(t, "Abs", 13, nil, ops.FromSlice(ops.Int8, []int8{-128, -3, 4}, 3))
	if d := got.Data.([]int8); d[0] != -128 || d[1] != 3 || d[2] != 4 {
		t.Errorf("Abs int8 = %v", d)
	}
	got = ewRun1(t, "Sign", 13, nil, ops.FromSlice(ops.Int64, []int64{-7, 0, 9}, 3))
	if d := got.Int64s(); d[0] != -1 || d[1] != 0 || d[2] != 1 {
		t.Errorf("Sign int64 = %v", d)
	}
	got = ewRun1(t, "Neg", 13, nil, ops.FromSlice(ops.Int32, []int32{5, -6}, 2))
	if d := got.Int32s(); d[0] != -5 || d[1] != 6 {
		t.Errorf("Neg int32 = %v", d)
	}
	got = ewRun1(t, "BitwiseNot", 18, nil, ops.FromSlice(ops.Uint8, []uint8{0, 0xf0}, 2))
	if d := got.Data.([]uint8); d[0] != 0xff || d[1] != 0x0f {
		t.Errorf("BitwiseNot uint8 = %v", d)
	}
	got = ewRun1(t, "Abs", 13, nil, ops.FromSlice(ops.Double, []float64{-1.25}, 1))
	if d := got.Float64s(); d[0] != 1.25 {
		t.Errorf("Abs float64 = %v", d)
	}
	// float16 computes through float32.
	h := ops.FromSlice(ops.Float16, []ops.F16{ops.F16From(-1.5), ops.F16From(4)}, 2)
	got = ewRun1(t, "Sqrt", 13, nil, ewRun1(t, "Abs", 13, nil, h))
	if got.DType != ops.Float16 {
		t.Fatalf("Sqrt float16 returned %s", got.DType)
	}
	if d := got.Data.([]ops.F16); !ewClose(float64(d[0].Float32()), 1.2246094) || d[1].Float32() != 2 {
		t.Errorf("Sqrt(Abs) float16 = %v, %v", d[0].Float32(), d[1].Float32())
	}
	got = ewRun1(t, "Not", 1, nil, ops.FromSlice(ops.Bool, []bool{true, false}, 2))
	if d := got.Bools(); d[0] || !d[1] {
		t.Errorf("Not = %v", d)
	}
}

func TestUnaryErrors(t *testing.T) {
	tests := []struct {
		op   string
		in   *ops.Tensor
		want string
	}{
		{"Sqrt", ops.FromSlice(ops.Int32, []int32{4}, 1), "int32"},
		{"BitwiseNot", ewF32(1), "float32"},
		{"Not", ewF32(1), "bool"},
		{"IsNaN", ops.FromSlice(ops.Int32, []int32{4}, 1), "float"},
		{"Exp", ops.FromSlice(ops.String, []string{"a"}, 1), "string"},
	}
	for _, tc := range tests {
		_, err := ewRun(t, tc.op, 20, nil, 1, tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.op, err, tc.want)
		}
	}
}

func TestIsNaNIsInf(t *testing.T) {
	x := ewF32(1, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)))
	tests := []struct {
		op    string
		attrs []*ops.Attr
		want  []bool
	}{
		{"IsNaN", nil, []bool{false, true, false, false}},
		{"IsInf", nil, []bool{false, false, true, true}},
		{"IsInf", []*ops.Attr{ewAttrI("detect_negative", 0)}, []bool{false, false, true, false}},
		{"IsInf", []*ops.Attr{ewAttrI("detect_positive", 0)}, []bool{false, false, false, true}},
	}
	for _, tc := range tests {
		got := ewRun1(t, tc.op, 20, tc.attrs, x).Bools()
		for i := range tc.want {
			if got[i] != tc.want[i] {
				t.Errorf("%s %v: got %v, want %v", tc.op, tc.attrs, got, tc.want)
				break
			}
		}
	}
	// float16 input
	h := ops.FromSlice(ops.Float16, []ops.F16{ops.F16From(float32(math.NaN())), ops.F16From(2)}, 2)
	if got := ewRun1(t, "IsNaN", 20, nil, h).Bools(); !got[0] || got[1] {
		t.Errorf("IsNaN float16 = %v", got)
	}
}

// TestUnaryParallel checks that the chunked path over a worker pool gives
// the same values as the inline one.
func TestUnaryParallel(t *testing.T) {
	const n = 100003
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i%2000-1000) / 100
	}
	pool := ops.NewPool(4)
	defer pool.Close()
	ec := ops.NewContext(context.Background(), pool, nil)
	for _, op := range []string{"Tanh", "Exp", "Relu", "Sigmoid"} {
		par, err := ewRunCtx(ec, op, 13, nil, 1, ops.FromSlice(ops.Float, x, n))
		if err != nil {
			t.Fatal(err)
		}
		seq := ewRun1(t, op, 13, nil, ops.FromSlice(ops.Float, x, n))
		p, s := par[0].Float32s(), seq.Float32s()
		for i := range p {
			if p[i] != s[i] {
				t.Fatalf("%s: element %d differs: %v vs %v", op, i, p[i], s[i])
			}
		}
	}
}

func ewBenchInput(n int) *ops.Tensor {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i%200-100) / 20
	}
	return ops.FromSlice(ops.Float, x, n)
}

func BenchmarkUnaryTanh(b *testing.B) { ewBench(b, "Tanh", 13, nil, ewBenchInput(1<<16)) }

func BenchmarkUnaryErf(b *testing.B) { ewBench(b, "Erf", 13, nil, ewBenchInput(1<<16)) }

func BenchmarkUnaryExp(b *testing.B) { ewBench(b, "Exp", 13, nil, ewBenchInput(1<<16)) }
