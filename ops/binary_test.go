package ops_test

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/agate-ml/agate/ops"
)

func ewT[T any](dt ops.DType, data []T, shape ...int) *ops.Tensor {
	if shape == nil {
		shape = []int{len(data)}
	}
	return ops.FromSlice(dt, data, shape...)
}

// ewCheck compares a tensor's type, shape and data with want.
func ewCheck(t *testing.T, name string, got, want *ops.Tensor) {
	t.Helper()
	if got.DType != want.DType || !ops.EqualShapes(got.Shape, want.Shape) {
		t.Errorf("%s: got %s, want %s", name, got, want)
		return
	}
	if _, ok := got.Data.([]float32); ok {
		ewCheckF32(t, name, got, want.Data.([]float32))
		return
	}
	if !reflect.DeepEqual(got.Data, want.Data) {
		t.Errorf("%s: got %v, want %v", name, got.Data, want.Data)
	}
}

func TestBinaryArithmetic(t *testing.T) {
	tests := []struct {
		name string
		op   string
		ver  int
		a, b *ops.Tensor
		want *ops.Tensor
	}{
		{"same shape", "Add", 14, ewF32(1, 2, 3), ewF32(10, 20, 30), ewF32(11, 22, 33)},
		{"scalar b", "Sub", 14, ewF32(1, 2, 3), ewT(ops.Float, []float32{1}, []int{}...), ewF32(0, 1, 2)},
		{"scalar a", "Sub", 14, ewT(ops.Float, []float32{10}, 1), ewF32(1, 2, 3), ewF32(9, 8, 7)},
		{"bias", "Add", 14, ewT(ops.Float, []float32{1, 2, 3, 4, 5, 6}, 2, 3), ewF32(10, 20, 30),
			ewT(ops.Float, []float32{11, 22, 33, 14, 25, 36}, 2, 3)},
		{"bias on the left", "Mul", 14, ewF32(1, 2, 3), ewT(ops.Float, []float32{1, 2, 3, 4, 5, 6}, 2, 3),
			ewT(ops.Float, []float32{1, 4, 9, 4, 10, 18}, 2, 3)},
		{"column", "Mul", 14, ewT(ops.Float, []float32{1, 2, 3, 4, 5, 6}, 2, 3), ewT(ops.Float, []float32{2, 10}, 2, 1),
			ewT(ops.Float, []float32{2, 4, 6, 40, 50, 60}, 2, 3)},
		{"outer", "Add", 14, ewT(ops.Float, []float32{1, 2}, 2, 1), ewT(ops.Float, []float32{10, 20, 30}, 1, 3),
			ewT(ops.Float, []float32{11, 21, 31, 12, 22, 32}, 2, 3)},
		{"middle", "Sub", 14, ewT(ops.Float, []float32{1, 2, 3, 4, 5, 6, 7, 8}, 2, 2, 2), ewT(ops.Float, []float32{1, 2}, 1, 2, 1),
			ewT(ops.Float, []float32{0, 1, 1, 2, 4, 5, 5, 6}, 2, 2, 2)},
		{"div float", "Div", 14, ewF32(1, -3, 1), ewF32(2, 2, 0), ewF32(0.5, -1.5, float32(math.Inf(1)))},
		{"div int truncates", "Div", 14, ewT(ops.Int32, []int32{7, -7, 7, -7}), ewT(ops.Int32, []int32{2, 2, -2, -2}),
			ewT(ops.Int32, []int32{3, -3, -3, 3})},
		{"uint8 wraps", "Add", 14, ewT(ops.Uint8, []uint8{250, 1}), ewT(ops.Uint8, []uint8{10, 2}), ewT(ops.Uint8, []uint8{4, 3})},
		{"int64 mul", "Mul", 14, ewT(ops.Int64, []int64{1 << 40, -3}), ewT(ops.Int64, []int64{4, 5}), ewT(ops.Int64, []int64{1 << 42, -15})},
		{"float64", "Sub", 14, ewT(ops.Double, []float64{1.5}), ewT(ops.Double, []float64{0.25}), ewT(ops.Double, []float64{1.25})},
		{"legacy broadcast axis", "Add", 6, ewT(ops.Float, []float32{1, 2, 3, 4, 5, 6}, 2, 3), ewF32(10, 20),
			ewT(ops.Float, []float32{11, 12, 13, 24, 25, 26}, 2, 3)},
		{"empty", "Add", 14, ewT(ops.Float, []float32{}, 0, 3), ewF32(1, 2, 3), ewT(ops.Float, []float32{}, 0, 3)},
	}
	for _, tc := range tests {
		var attrs []*ops.Attr
		if tc.ver < 7 {
			attrs = []*ops.Attr{ewAttrI("broadcast", 1), ewAttrI("axis", 0)}
		}
		got := ewRun1(t, tc.op, tc.ver, attrs, tc.a, tc.b)
		ewCheck(t, tc.name, got, tc.want)
	}
}

func TestBinaryFloat16(t *testing.T) {
	h := func(v ...float32) *ops.Tensor {
		d := make([]ops.F16, len(v))
		for i, x := range v {
			d[i] = ops.F16From(x)
		}
		return ewT(ops.Float16, d)
	}
	got := ewRun1(t, "Add", 14, nil, h(1, 2.5), h(0.5, -1))
	ewCheck(t, "Add float16", got, h(1.5, 1.5))
	got = ewRun1(t, "Less", 13, nil, h(1, 2.5), h(0.5, 3))
	ewCheck(t, "Less float16", got, ewT(ops.Bool, []bool{false, true}))
	got = ewRun1(t, "Max", 13, nil, h(1, 2.5), h(0.5, 3), h(4, 0))
	ewCheck(t, "Max float16", got, h(4, 3))
}

func TestBinaryModPow(t *testing.T) {
	fmod := []*ops.Attr{ewAttrI("fmod", 1)}
	tests := []struct {
		name  string
		op    string
		attrs []*ops.Attr
		a, b  *ops.Tensor
		want  *ops.Tensor
	}{
		{"mod int python", "Mod", nil, ewT(ops.Int32, []int32{7, -7, 7, -7}), ewT(ops.Int32, []int32{3, 3, -3, -3}),
			ewT(ops.Int32, []int32{1, 2, -2, -1})},
		{"mod int fmod", "Mod", fmod, ewT(ops.Int64, []int64{7, -7, 7, -7}), ewT(ops.Int64, []int64{3, 3, -3, -3}),
			ewT(ops.Int64, []int64{1, -1, 1, -1})},
		{"mod uint8", "Mod", nil, ewT(ops.Uint8, []uint8{200, 7}), ewT(ops.Uint8, []uint8{7, 200}), ewT(ops.Uint8, []uint8{4, 7})},
		{"mod float fmod", "Mod", fmod, ewF32(5.5, -5.5), ewF32(2, 2), ewF32(1.5, -1.5)},
		{"mod float python", "Mod", nil, ewF32(5.5, -5.5), ewF32(2, 2), ewF32(1.5, 0.5)},
		{"pow float", "Pow", nil, ewF32(2, 4, -2), ewF32(3, 0.5, 2), ewF32(8, 2, 4)},
		{"pow square", "Pow", nil, ewF32(1.5, -3), ewF32(2), ewF32(2.25, 9)},
		{"pow float int64", "Pow", nil, ewF32(2, 3), ewT(ops.Int64, []int64{3, -1}), ewF32(8, 0.33333334)},
		{"pow int int", "Pow", nil, ewT(ops.Int64, []int64{3, -2, 5, 2}), ewT(ops.Int64, []int64{4, 3, 0, -1}),
			ewT(ops.Int64, []int64{81, -8, 1, 0})},
		{"pow int float", "Pow", nil, ewT(ops.Int32, []int32{2, 9}), ewF32(3, 0.5), ewT(ops.Int32, []int32{8, 3})},
		{"pow large int64 exact", "Pow", nil, ewT(ops.Int64, []int64{3}), ewT(ops.Int64, []int64{39}),
			ewT(ops.Int64, []int64{4052555153018976267})},
	}
	for _, tc := range tests {
		got := ewRun1(t, tc.op, 15, tc.attrs, tc.a, tc.b)
		ewCheck(t, tc.name, got, tc.want)
	}
}

func TestBinaryLogicCompare(t *testing.T) {
	b := func(v ...bool) *ops.Tensor { return ewT(ops.Bool, v) }
	tests := []struct {
		name  string
		op    string
		attrs []*ops.Attr
		a, b  *ops.Tensor
		want  *ops.Tensor
	}{
		{"equal", "Equal", nil, ewF32(1, 2, float32(math.NaN())), ewF32(1, 3, float32(math.NaN())), b(true, false, false)},
		{"less", "Less", nil, ewT(ops.Int32, []int32{1, 5}), ewT(ops.Int32, []int32{3}), b(true, false)},
		{"greater", "Greater", nil, ewT(ops.Uint64, []uint64{1, 5}), ewT(ops.Uint64, []uint64{3}), b(false, true)},
		{"less or equal", "LessOrEqual", nil, ewF32(1, 3, 5), ewF32(3), b(true, true, false)},
		{"greater or equal", "GreaterOrEqual", nil, ewF32(1, 3, 5), ewF32(3), b(false, true, true)},
		{"equal strings", "Equal", nil, ewT(ops.String, []string{"a", "b"}), ewT(ops.String, []string{"a"}), b(true, false)},
		{"equal bools", "Equal", nil, b(true, false), b(true, true), b(true, false)},
		{"and", "And", nil, b(true, true, false, false), b(true, false, true, false), b(true, false, false, false)},
		{"or", "Or", nil, b(true, true, false, false), b(true, false, true, false), b(true, true, true, false)},
		{"xor", "Xor", nil, b(true, true, false, false), b(true, false, true, false), b(false, true, true, false)},
		{"bitwise and", "BitwiseAnd", nil, ewT(ops.Int16, []int16{0x0ff0, -1}), ewT(ops.Int16, []int16{0x00ff}), ewT(ops.Int16, []int16{0x00f0, 0x00ff})},
		{"bitwise or", "BitwiseOr", nil, ewT(ops.Uint8, []uint8{0xf0}), ewT(ops.Uint8, []uint8{0x0f}), ewT(ops.Uint8, []uint8{0xff})},
		{"bitwise xor", "BitwiseXor", nil, ewT(ops.Int32, []int32{6}), ewT(ops.Int32, []int32{3}), ewT(ops.Int32, []int32{5})},
		{"shift left", "BitShift", []*ops.Attr{ewAttrS("direction", "LEFT")}, ewT(ops.Uint8, []uint8{1, 3, 16}), ewT(ops.Uint8, []uint8{1, 2, 4}),
			ewT(ops.Uint8, []uint8{2, 12, 0})},
		{"shift right", "BitShift", []*ops.Attr{ewAttrS("direction", "RIGHT")}, ewT(ops.Uint32, []uint32{16, 5}), ewT(ops.Uint32, []uint32{2, 40}),
			ewT(ops.Uint32, []uint32{4, 0})},
		{"prelu", "PRelu", nil, ewT(ops.Float, []float32{-1, 2, -3, 4}, 2, 2), ewT(ops.Float, []float32{0.5, 0.1}, 2, 1),
			ewT(ops.Float, []float32{-0.5, 2, -0.3, 4}, 2, 2)},
		{"prelu int", "PRelu", nil, ewT(ops.Int32, []int32{-4, 4}), ewT(ops.Int32, []int32{2}), ewT(ops.Int32, []int32{-8, 4})},
	}
	for _, tc := range tests {
		got := ewRun1(t, tc.op, 18, tc.attrs, tc.a, tc.b)
		ewCheck(t, tc.name, got, tc.want)
	}
}

func TestBinaryErrors(t *testing.T) {
	tests := []struct {
		name  string
		op    string
		attrs []*ops.Attr
		a, b  *ops.Tensor
		want  string
	}{
		{"shapes", "Add", nil, ewF32(1, 2, 3), ewF32(1, 2), "broadcast"},
		{"types", "Add", nil, ewF32(1), ewT(ops.Double, []float64{1}), "differ"},
		{"int div zero", "Div", nil, ewT(ops.Int32, []int32{1, 2}), ewT(ops.Int32, []int32{1, 0}), "division by zero"},
		{"int mod zero", "Mod", nil, ewT(ops.Int64, []int64{1}), ewT(ops.Int64, []int64{0}), "by zero"},
		{"and on floats", "And", nil, ewF32(1), ewF32(1), "float32"},
		{"shift signed", "BitShift", []*ops.Attr{ewAttrS("direction", "LEFT")}, ewT(ops.Int32, []int32{1}), ewT(ops.Int32, []int32{1}), "unsigned"},
		{"bad direction", "BitShift", []*ops.Attr{ewAttrS("direction", "UP")}, ewT(ops.Uint8, []uint8{1}), ewT(ops.Uint8, []uint8{1}), "direction"},
		{"bad fmod", "Mod", []*ops.Attr{ewAttrI("fmod", 2)}, ewF32(1), ewF32(1), "fmod"},
		{"prelu slope", "PRelu", nil, ewF32(1, 2), ewT(ops.Float, []float32{1, 2, 3, 4}, 2, 2), "slope"},
		{"bitwise float", "BitwiseAnd", nil, ewF32(1), ewF32(1), "float32"},
		{"less strings", "Less", nil, ewT(ops.String, []string{"a"}), ewT(ops.String, []string{"b"}), "string"},
	}
	for _, tc := range tests {
		_, err := ewRun(t, tc.op, 18, tc.attrs, 1, tc.a, tc.b)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestVariadic(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		op   string
		in   []*ops.Tensor
		want *ops.Tensor
	}{
		{"Sum", []*ops.Tensor{ewF32(1, 2, 3)}, ewF32(1, 2, 3)},
		{"Sum", []*ops.Tensor{ewF32(1, 2, 3), ewF32(10), ewT(ops.Float, []float32{100, 200}, 2, 1)},
			ewT(ops.Float, []float32{111, 112, 113, 211, 212, 213}, 2, 3)},
		{"Mean", []*ops.Tensor{ewF32(1, 2), ewF32(3, 6)}, ewF32(2, 4)},
		{"Max", []*ops.Tensor{ewF32(1, 5, nan), ewF32(3, 2, 1)}, ewF32(3, 5, nan)},
		{"Min", []*ops.Tensor{ewF32(1, 5, 0), ewF32(3, nan, 1)}, ewF32(1, nan, 0)},
		{"Max", []*ops.Tensor{ewT(ops.Int8, []int8{-5, 7}), ewT(ops.Int8, []int8{-6, 9})}, ewT(ops.Int8, []int8{-5, 9})},
		{"Min", []*ops.Tensor{ewT(ops.Uint32, []uint32{5, 7}), ewT(ops.Uint32, []uint32{6})}, ewT(ops.Uint32, []uint32{5, 6})},
	}
	for _, tc := range tests {
		got := ewRun1(t, tc.op, 13, nil, tc.in...)
		ewCheck(t, tc.op, got, tc.want)
	}
	if _, err := ewRun(t, "Sum", 13, nil, 1, ewF32(1, 2), ewF32(1, 2, 3)); err == nil {
		t.Error("Sum accepted shapes that do not broadcast")
	}
}

func TestWhere(t *testing.T) {
	c := ewT(ops.Bool, []bool{true, false, true, false}, 2, 2)
	got := ewRun1(t, "Where", 16, nil, c, ewT(ops.Float, []float32{1, 2, 3, 4}, 2, 2), ewF32(-1))
	ewCheck(t, "Where", got, ewT(ops.Float, []float32{1, -1, 3, -1}, 2, 2))
	got = ewRun1(t, "Where", 16, nil, ewT(ops.Bool, []bool{false, true}, 2, 1), ewT(ops.String, []string{"a", "b"}, 1, 2), ewT(ops.String, []string{"z"}))
	ewCheck(t, "Where strings", got, ewT(ops.String, []string{"z", "z", "a", "b"}, 2, 2))
	if _, err := ewRun(t, "Where", 16, nil, 1, ewF32(1), ewF32(1), ewF32(1)); err == nil {
		t.Error("Where accepted a float condition")
	}
	if _, err := ewRun(t, "Where", 16, nil, 1, c, ewF32(1, 2, 3), ewF32(1)); err == nil {
		t.Error("Where accepted shapes that do not broadcast")
	}
}

func TestClip(t *testing.T) {
	x := ewF32(-3, -1, 0, 2, 5, float32(math.NaN()))
	got := ewRun1(t, "Clip", 13, nil, x, ewF32(-1), ewF32(2))
	ewCheck(t, "Clip", got, ewF32(-1, -1, 0, 2, 2, float32(math.NaN())))
	got = ewRun1(t, "Clip", 13, nil, x, nil, ewF32(0))
	ewCheck(t, "Clip max only", got, ewF32(-3, -1, 0, 0, 0, float32(math.NaN())))
	got = ewRun1(t, "Clip", 13, nil, x, ewF32(3), ewF32(1))
	ewCheck(t, "Clip min > max", got, ewF32(1, 1, 1, 1, 1, float32(math.NaN())))
	got = ewRun1(t, "Clip", 6, []*ops.Attr{ewAttrF("min", -2), ewAttrF("max", 1)}, x)
	ewCheck(t, "Clip-6", got, ewF32(-2, -1, 0, 1, 1, float32(math.NaN())))
	got = ewRun1(t, "Clip", 13, nil, ewT(ops.Int8, []int8{-128, 0, 127}), ewT(ops.Int8, []int8{-5}))
	ewCheck(t, "Clip int8", got, ewT(ops.Int8, []int8{-5, 0, 127}))
	if _, err := ewRun(t, "Clip", 13, nil, 1, x, ewF32(1, 2)); err == nil {
		t.Error("Clip accepted a non-scalar bound")
	}
	if _, err := ewRun(t, "Clip", 13, nil, 1, x, ewT(ops.Double, []float64{1})); err == nil {
		t.Error("Clip accepted a bound of another type")
	}
}

// TestBinaryParallel compares the chunked paths over a pool with inline
// runs.
func TestBinaryParallel(t *testing.T) {
	pool := ops.NewPool(4)
	defer pool.Close()
	ec := ops.NewContext(context.Background(), pool, nil)
	a := make([]float32, 3*257*129)
	for i := range a {
		a[i] = float32(i % 1000)
	}
	b := make([]float32, 257)
	for i := range b {
		b[i] = float32(i) / 7
	}
	cases := [][2]*ops.Tensor{
		{ewT(ops.Float, a, 3, 257, 129), ewT(ops.Float, b, 1, 257, 1)},
		{ewT(ops.Float, a, 3, 129, 257), ewT(ops.Float, b, 257)},
		{ewT(ops.Float, a, 3, 257, 129), ewT(ops.Float, a, 3, 257, 129)},
	}
	for i, c := range cases {
		par, err := ewRunCtx(ec, "Mul", 14, nil, 1, c[0], c[1])
		if err != nil {
			t.Fatal(err)
		}
		seq := ewRun1(t, "Mul", 14, nil, c[0], c[1])
		if !reflect.DeepEqual(par[0].Data, seq.Data) {
			t.Errorf("case %d: parallel and inline results differ", i)
		}
		// check a few values by hand
		p := par[0].Float32s()
		if i == 0 {
			for _, j := range []int{0, 130, 257*129 + 5, len(p) - 1} {
				want := a[j] * b[(j/129)%257]
				if p[j] != want {
					t.Errorf("case 0: element %d = %v, want %v", j, p[j], want)
				}
			}
		}
	}
}

func BenchmarkBinaryAddBias(b *testing.B) {
	x := ewBenchInput(128 * 768)
	x.Shape = []int{128, 768}
	bias := ewBenchInput(768)
	ewBench(b, "Add", 14, nil, x, bias)
}

func BenchmarkBinaryMulSame(b *testing.B) {
	ewBench(b, "Mul", 14, nil, ewBenchInput(1<<16), ewBenchInput(1<<16))
}

func BenchmarkBinaryAddColumn(b *testing.B) {
	x := ewBenchInput(128 * 768)
	x.Shape = []int{128, 768}
	c := ewBenchInput(128)
	c.Shape = []int{128, 1}
	ewBench(b, "Add", 14, nil, x, c)
}
