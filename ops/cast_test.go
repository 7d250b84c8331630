package ops_test

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/agate-ml/agate/ops"
)

func ewCast(t *testing.T, x *ops.Tensor, to ops.DType, attrs ...*ops.Attr) *ops.Tensor {
	t.Helper()
	attrs = append(attrs, ewAttrI("to", int64(to)))
	return ewRun1(t, "Cast", 25, attrs, x)
}

func TestCastFloat8(t *testing.T) {
	inf := float32(math.Inf(1))
	x := ewF32(0.5, 448, 500, 1e6, -inf, float32(math.NaN()), 1e-7, -1e-7, 0.0019531250, 0.01)
	noSat := ewAttrI("saturate", 0)
	tests := []struct {
		name  string
		to    ops.DType
		attrs []*ops.Attr
		want  []uint8
	}{
		// 2^-9 = 0.001953125 is E4M3FN's smallest subnormal; 0.01 rounds to 5·2^-9.
		{"e4m3fn", ops.Float8E4M3FN, nil, []uint8{0x30, 0x7e, 0x7e, 0x7e, 0xfe, 0x7f, 0, 0x80, 0x01, 0x05}},
		{"e4m3fn no saturate", ops.Float8E4M3FN, []*ops.Attr{noSat}, []uint8{0x30, 0x7e, 0x7f, 0x7f, 0xff, 0x7f, 0, 0x80, 0x01, 0x05}},
		{"e4m3fnuz", ops.Float8E4M3FNUZ, nil, []uint8{0x38, 0x7f, 0x7f, 0x7f, 0xff, 0x80, 0, 0, 0x02, 0x0a}},
		{"e5m2", ops.Float8E5M2, nil, []uint8{0x38, 0x5f, 0x60, 0x7b, 0xfb, 0x7e, 0, 0x80, 0x18, 0x21}},
		{"e5m2 no saturate", ops.Float8E5M2, []*ops.Attr{noSat}, []uint8{0x38, 0x5f, 0x60, 0x7c, 0xfc, 0x7e, 0, 0x80, 0x18, 0x21}},
		{"e5m2fnuz no saturate", ops.Float8E5M2FNUZ, []*ops.Attr{noSat}, []uint8{0x3c, 0x63, 0x64, 0x80, 0x80, 0x80, 0, 0, 0x1c, 0x25}},
	}
	for _, tc := range tests {
		got := ewCast(t, x, tc.to, tc.attrs...)
		if got.DType != tc.to || !reflect.DeepEqual(got.Data, tc.want) {
			t.Errorf("%s: got %s % x, want % x", tc.name, got.DType, got.Data, tc.want)
		}
	}
	// Decoding.
	f8 := ops.FromSlice(ops.Float8E4M3FN, []uint8{0x7e, 0x01, 0x80, 0xff, 0xb8}, 5)
	got := ewCast(t, f8, ops.Float).Float32s()
	want := []float32{448, 0.001953125, 0, float32(math.NaN()), -1}
	for i := range want {
		if !ewClose(float64(got[i]), float64(want[i])) || i == 2 && !math.Signbit(float64(got[i])) {
			t.Errorf("e4m3fn decode %#x = %v, want %v", f8.Data.([]uint8)[i], got[i], want[i])
		}
	}
	fnuz := ops.FromSlice(ops.Float8E5M2FNUZ, []uint8{0x80, 0x7f, 0x00}, 3)
	got = ewCast(t, fnuz, ops.Float).Float32s()
	if !math.IsNaN(float64(got[0])) || got[1] != 57344 || got[2] != 0 {
		t.Errorf("e5m2fnuz decode = %v", got)
	}
}

func TestCastSmallTypes(t *testing.T) {
	// float4e2m1 rounds to nearest even and saturates; NaN becomes -0.
	negZero := float32(math.Copysign(0, -1))
	x := ewF32(0.25, 0.75, 5, -7, 100, float32(math.NaN()), negZero)
	got := ewCast(t, x, ops.Float4E2M1)
	if want := []uint8{0, 2, 6, 0xf, 7, 8, 8}; !reflect.DeepEqual(got.Data, want) {
		t.Errorf("float4e2m1 = % x, want % x", got.Data, want)
	}
	back := ewCast(t, got, ops.Float).Float32s()
	if want := []float32{0, 1, 4, -6, 6, 0, 0}; !reflect.DeepEqual(back, want) {
		t.Errorf("float4e2m1 decode = %v, want %v", back, want)
	}
	// Sub-byte integers keep the low bits.
	ints := ewF32(-9, 7, 8, 15, -1)
	if got := ewCast(t, ints, ops.Int4).Data; !reflect.DeepEqual(got, []int8{7, 7, -8, -1, -1}) {
		t.Errorf("int4 = %v", got)
	}
	if got := ewCast(t, ints, ops.Uint4).Data; !reflect.DeepEqual(got, []uint8{7, 7, 8, 15, 15}) {
		t.Errorf("uint4 = %v", got)
	}
	if got := ewCast(t, ints, ops.Int2).Data; !reflect.DeepEqual(got, []int8{-1, -1, 0, -1, -1}) {
		t.Errorf("int2 = %v", got)
	}
	if got := ewCast(t, ops.FromSlice(ops.Int4, []int8{-8, 7}, 2), ops.Float).Float32s(); !reflect.DeepEqual(got, []float32{-8, 7}) {
		t.Errorf("int4 -> float = %v", got)
	}
	// float8e8m0 with the three rounding modes.
	e := ewF32(0.124, 3, 0.25, 0)
	for _, tc := range []struct {
		mode string
		want []uint8
	}{
		{"up", []uint8{0x7c, 0x81, 0x7d, 0}},
		{"down", []uint8{0x7b, 0x80, 0x7d, 0}},
		{"nearest", []uint8{0x7c, 0x81, 0x7d, 0}},
	} {
		got := ewCast(t, e, ops.Float8E8M0, ewAttrS("round_mode", tc.mode))
		if !reflect.DeepEqual(got.Data, tc.want) {
			t.Errorf("e8m0 %s = % x, want % x", tc.mode, got.Data, tc.want)
		}
	}
	if got := ewCast(t, ops.FromSlice(ops.Float8E8M0, []uint8{0x7f, 0x82}, 2), ops.Float).Float32s(); got[0] != 1 || got[1] != 8 {
		t.Errorf("e8m0 decode = %v", got)
	}
}

func TestCastNumeric(t *testing.T) {
	tests := []struct {
		name string
		x    *ops.Tensor
		to   ops.DType
		want any
	}{
		{"float to float16", ewF32(1.5, 65520, -0.1), ops.Float16, []ops.F16{0x3e00, 0x7c00, 0xae66}},
		{"double to float16", ewT(ops.Double, []float64{1.5, 1e-8}), ops.Float16, []ops.F16{0x3e00, 0x0000}},
		{"float to bfloat16", ewF32(1, 1.00390625, 1.01171875), ops.BFloat16, []ops.BF16{0x3f80, 0x3f80, 0x3f82}},
		{"float16 to bfloat16", ewT(ops.Float16, []ops.F16{0x3e00}), ops.BFloat16, []ops.BF16{0x3fc0}},
		{"int64 to int8 wraps", ewT(ops.Int64, []int64{200, -129, 5}), ops.Int8, []int8{-56, 127, 5}},
		{"float to uint8", ewF32(-1, 3.9, 255), ops.Uint8, []uint8{255, 3, 255}},
		{"float to int32 truncates", ewF32(-2.7, 2.7), ops.Int32, []int32{-2, 2}},
		{"float to bool", ewF32(0, float32(math.Copysign(0, -1)), 0.1, float32(math.NaN())), ops.Bool, []bool{false, false, true, true}},
		{"bool to float", ewT(ops.Bool, []bool{true, false}), ops.Float, []float32{1, 0}},
		{"uint64 to float64", ewT(ops.Uint64, []uint64{1 << 63}), ops.Double, []float64{9223372036854775808}},
		{"float64 to uint64", ewT(ops.Double, []float64{1 << 63}), ops.Uint64, []uint64{1 << 63}},
		{"int32 to float16", ewT(ops.Int32, []int32{3, 70000}), ops.Float16, []ops.F16{0x4200, 0x7c00}},
		{"same type", ewT(ops.Int16, []int16{1, -2}), ops.Int16, []int16{1, -2}},
	}
	for _, tc := range tests {
		got := ewCast(t, tc.x, tc.to)
		if got.DType != tc.to || !reflect.DeepEqual(got.Data, tc.want) {
			t.Errorf("%s: got %s %v, want %v", tc.name, got.DType, got.Data, tc.want)
		}
	}
}

func TestCastStrings(t *testing.T) {
	inf := math.Inf(1)
	toStr := []struct {
		name string
		x    *ops.Tensor
		want []string
	}{
		{"float32", ewF32(0.1, 1e-5, 1e16, 123456789, float32(math.NaN()), float32(-inf), float32(math.Copysign(0, -1)), 2.5),
			[]string{"0.1", "1e-05", "1e+16", "123456790.0", "nan", "-inf", "-0.0", "2.5"}},
		{"float64", ewT(ops.Double, []float64{0.1, 1, 1.5e300, 0.0001}), []string{"0.1", "1.0", "1.5e+300", "0.0001"}},
		{"float16", ewT(ops.Float16, []ops.F16{ops.F16From(0.1), ops.F16From(1000)}), []string{"0.1", "1000.0"}},
		{"int64", ewT(ops.Int64, []int64{-5, 1 << 40}), []string{"-5", "1099511627776"}},
		{"uint8", ewT(ops.Uint8, []uint8{255}), []string{"255"}},
		{"bool", ewT(ops.Bool, []bool{true, false}), []string{"True", "False"}},
	}
	for _, tc := range toStr {
		got := ewCast(t, tc.x, ops.String).Strings()
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s to string: got %q, want %q", tc.name, got, tc.want)
		}
	}
	s := ewT(ops.String, []string{"1e3", " 2.5 ", "INF", "-inf", "NaN", "+Inf"})
	got := ewCast(t, s, ops.Float).Float32s()
	want := []float32{1000, 2.5, float32(inf), float32(-inf), float32(math.NaN()), float32(inf)}
	for i := range want {
		if !ewClose(float64(got[i]), float64(want[i])) {
			t.Errorf("string %q to float = %v, want %v", s.Strings()[i], got[i], want[i])
		}
	}
	ints := ewCast(t, ewT(ops.String, []string{"12", "-7", "12.7", "300"}), ops.Uint8).Data
	if !reflect.DeepEqual(ints, []uint8{12, 249, 12, 44}) {
		t.Errorf("string to uint8 = %v", ints)
	}
	if _, err := ewRun(t, "Cast", 25, []*ops.Attr{ewAttrI("to", int64(ops.Float))}, 1, ewT(ops.String, []string{"hello"})); err == nil || !strings.Contains(err.Error(), "hello") {
		t.Errorf("Cast of a non-number string: error %v", err)
	}
}

func TestCastVariants(t *testing.T) {
	// Cast-1 names the type.
	got := ewRun1(t, "Cast", 1, []*ops.Attr{ewAttrS("to", "DOUBLE")}, ewF32(1.5))
	if got.DType != ops.Double || got.Float64s()[0] != 1.5 {
		t.Errorf("Cast-1 = %s %v", got, got.Data)
	}
	got = ewRun1(t, "CastLike", 21, nil, ewF32(2.5, -1), ewT(ops.Int64, []int64{0}))
	if got.DType != ops.Int64 || !reflect.DeepEqual(got.Int64s(), []int64{2, -1}) {
		t.Errorf("CastLike = %s %v", got, got.Data)
	}
	got = ewRun1(t, "CastLike", 21, []*ops.Attr{ewAttrI("saturate", 0)}, ewF32(1000), ewT(ops.Float8E4M3FN, []uint8{0}))
	if !reflect.DeepEqual(got.Data, []uint8{0x7f}) {
		t.Errorf("CastLike no saturate = % x", got.Data)
	}
	for _, attrs := range [][]*ops.Attr{
		{ewAttrI("to", 0)},
		{ewAttrI("to", 99)},
		{ewAttrI("to", int64(ops.Complex64))},
		{ewAttrI("to", int64(ops.Float)), ewAttrS("round_mode", "sideways")},
		nil,
	} {
		if _, err := ewRun(t, "Cast", 25, attrs, 1, ewF32(1)); err == nil {
			t.Errorf("Cast accepted attributes %v", attrs)
		}
	}
}

func TestBitCast(t *testing.T) {
	tests := []struct {
		name string
		x    *ops.Tensor
		to   ops.DType
		want any
	}{
		{"float32 to int32", ewF32(1, -2), ops.Int32, []int32{0x3f800000, -0x40000000}},
		{"int64 to float64", ewT(ops.Int64, []int64{0x3ff0000000000000}), ops.Double, []float64{1}},
		{"uint8 to bool", ewT(ops.Uint8, []uint8{0, 1, 2}), ops.Bool, []bool{false, true, true}},
		{"bool to int8", ewT(ops.Bool, []bool{true, false}), ops.Int8, []int8{1, 0}},
		{"int4 to uint4", ewT(ops.Int4, []int8{-1, 7}), ops.Uint4, []uint8{15, 7}},
		{"uint4 to int4", ewT(ops.Uint4, []uint8{8, 3}), ops.Int4, []int8{-8, 3}},
		{"float16 to uint16", ewT(ops.Float16, []ops.F16{0x3c00}), ops.Uint16, []uint16{0x3c00}},
		{"uint8 to float8", ewT(ops.Uint8, []uint8{0x7e}), ops.Float8E4M3FN, []uint8{0x7e}},
	}
	for _, tc := range tests {
		got := ewRun1(t, "BitCast", 26, []*ops.Attr{ewAttrI("to", int64(tc.to))}, tc.x)
		if got.DType != tc.to || !reflect.DeepEqual(got.Data, tc.want) || !ops.EqualShapes(got.Shape, tc.x.Shape) {
			t.Errorf("%s: got %s %v, want %v", tc.name, got, got.Data, tc.want)
		}
	}
	if _, err := ewRun(t, "BitCast", 26, []*ops.Attr{ewAttrI("to", int64(ops.Int64))}, 1, ewF32(1)); err == nil || !strings.Contains(err.Error(), "bits") {
		t.Errorf("BitCast between widths: error %v", err)
	}
	if _, err := ewRun(t, "BitCast", 26, []*ops.Attr{ewAttrI("to", int64(ops.String))}, 1, ewF32(1)); err == nil {
		t.Error("BitCast to string accepted")
	}
}

func BenchmarkCastFloatToFloat16(b *testing.B) {
	x := ewBenchInput(1 << 16)
	ewBench(b, "Cast", 19, []*ops.Attr{ewAttrI("to", int64(ops.Float16))}, x)
}
