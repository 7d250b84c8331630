package ops_test

import (
	"math"
	"strings"
	"testing"

	"github.com/agate-ml/agate/ops"
)

func TestActivations(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		op    string
		ver   int
		attrs []*ops.Attr
		in    []float32
		want  []float32
	}{
		{"Relu", 14, nil, []float32{-1, 0, 2, nan}, []float32{0, 0, 2, nan}},
		{"Sigmoid", 13, nil, []float32{0, 2, -2, -200}, []float32{0.5, 0.8807971, 0.11920292, 0}},
		{"LeakyRelu", 16, nil, []float32{-1, 3}, []float32{-0.01, 3}},
		{"LeakyRelu", 16, []*ops.Attr{ewAttrF("alpha", 0.1)}, []float32{-2, 3}, []float32{-0.2, 3}},
		{"Elu", 6, nil, []float32{-1, 2}, []float32{-0.63212055, 2}},
		{"Elu", 6, []*ops.Attr{ewAttrF("alpha", 2)}, []float32{-1, 2}, []float32{-1.2642411, 2}},
		{"Selu", 6, nil, []float32{-1, 2}, []float32{-1.1113307, 2.101402}},
		{"Celu", 12, []*ops.Attr{ewAttrF("alpha", 2)}, []float32{-1, 2}, []float32{-0.78693867, 2}},
		{"HardSigmoid", 6, nil, []float32{-3, 0, 1, 3}, []float32{0, 0.5, 0.7, 1}},
		{"HardSigmoid", 6, []*ops.Attr{ewAttrF("alpha", 0.5), ewAttrF("beta", 0.6)}, []float32{-1, 0.5}, []float32{0.1, 0.85}},
		{"HardSwish", 14, nil, []float32{-4, -1, 0, 1, 4}, []float32{0, -0.33333334, 0, 0.6666667, 4}},
		{"Softplus", 1, nil, []float32{0, 1, -1, 100}, []float32{0.6931472, 1.3132616, 0.31326166, 100}},
		{"Softsign", 1, nil, []float32{-3, 0, 1}, []float32{-0.75, 0, 0.5}},
		{"Mish", 18, nil, []float32{-1, 0, 1}, []float32{-0.30340144, 0, 0.86509836}},
		{"Gelu", 20, nil, []float32{-1, 0, 1, 2}, []float32{-0.15865526, 0, 0.8413447, 1.9544997}},
		{"Gelu", 20, []*ops.Attr{ewAttrS("approximate", "tanh")}, []float32{-1, 0, 1, 2}, []float32{-0.15880796, 0, 0.841192, 1.9545977}},
		{"ThresholdedRelu", 10, nil, []float32{0.5, 1, 2}, []float32{0, 0, 2}},
		{"ThresholdedRelu", 10, []*ops.Attr{ewAttrF("alpha", 0.2)}, []float32{0.1, 0.5}, []float32{0, 0.5}},
		{"Shrink", 9, nil, []float32{-1, -0.4, 0.4, 1}, []float32{-1, 0, 0, 1}},
		{"Shrink", 9, []*ops.Attr{ewAttrF("bias", 1.5), ewAttrF("lambd", 1)}, []float32{-2, 0.5, 2}, []float32{-0.5, 0, 0.5}},
		{"Swish", 24, nil, []float32{-1, 0, 2}, []float32{-0.26894143, 0, 1.7615942}},
		{"Swish", 24, []*ops.Attr{ewAttrF("alpha", 2)}, []float32{1}, []float32{0.8807971}},
	}
	for _, tc := range tests {
		got := ewRun1(t, tc.op, tc.ver, tc.attrs, ewF32(tc.in...))
		ewCheckF32(t, tc.op, got, tc.want)
	}
}

func TestActivationOtherTypes(t *testing.T) {
	got := ewRun1(t, "Relu", 14, nil, ops.FromSlice(ops.Int32, []int32{-3, 4}, 2))
	if d := got.Int32s(); d[0] != 0 || d[1] != 4 {
		t.Errorf("Relu int32 = %v", d)
	}
	got = ewRun1(t, "Shrink", 9, []*ops.Attr{ewAttrF("bias", 1), ewAttrF("lambd", 1)}, ops.FromSlice(ops.Int8, []int8{-3, 1, 5}, 3))
	if d := got.Data.([]int8); d[0] != -2 || d[1] != 0 || d[2] != 4 {
		t.Errorf("Shrink int8 = %v", d)
	}
	got = ewRun1(t, "Sigmoid", 13, nil, ops.FromSlice(ops.Double, []float64{0, 1}, 2))
	if d := got.Float64s(); d[0] != 0.5 || !ewClose(d[1], 0.7310585786300049) {
		t.Errorf("Sigmoid float64 = %v", d)
	}
	got = ewRun1(t, "LeakyRelu", 16, nil, ops.FromSlice(ops.BFloat16, []ops.BF16{ops.BF16From(-2), ops.BF16From(2)}, 2))
	if d := got.Data.([]ops.BF16); d[0].Float32() != ops.BF16From(-0.02).Float32() || d[1].Float32() != 2 {
		t.Errorf("LeakyRelu bfloat16 = %v %v", d[0].Float32(), d[1].Float32())
	}
	if _, err := ewRun(t, "Sigmoid", 13, nil, 1, ops.FromSlice(ops.Int32, []int32{1}, 1)); err == nil {
		t.Error("Sigmoid accepted an int32 input")
	}
	if _, err := ewRun(t, "Gelu", 20, []*ops.Attr{ewAttrS("approximate", "erf")}, 1, ewF32(1)); err == nil || !strings.Contains(err.Error(), "approximate") {
		t.Errorf("Gelu with a bad approximate: error %v", err)
	}
}

// TestFastTranscendentals compares the float32 kernels with the float64
// math package, rounded to float32, over a dense grid.
func TestFastTranscendentals(t *testing.T) {
	var xs []float32
	for x := -30.0; x <= 30; x += 0.00731 {
		xs = append(xs, float32(x))
	}
	for _, x := range []float64{0, 1e-30, -1e-30, 1e-7, -1e-7, 1e-3, -1e-3, 88, 88.7, 89, -87, -103, -110, 200, -200} {
		xs = append(xs, float32(x))
	}
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	tests := []struct {
		op    string
		attrs []*ops.Attr
		f     func(float64) float64
	}{
		{"Exp", nil, math.Exp},
		{"Sigmoid", nil, sig},
		{"Tanh", nil, math.Tanh},
		{"Erf", nil, math.Erf},
		{"Gelu", nil, func(x float64) float64 { return x / 2 * math.Erfc(-x/math.Sqrt2) }},
		{"Gelu", []*ops.Attr{ewAttrS("approximate", "tanh")}, func(x float64) float64 {
			// x/2·(1+tanh(y)) without the cancellation for negative y
			return x / (1 + math.Exp(-2*math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		}},
		{"Swish", []*ops.Attr{ewAttrF("alpha", 1.5)}, func(x float64) float64 { return x * sig(1.5*x) }},
	}
	for _, tc := range tests {
		got := ewRun1(t, tc.op, 24, tc.attrs, ops.FromSlice(ops.Float, xs, len(xs))).Float32s()
		worst, at := 0.0, float32(0)
		for i, x := range xs {
			want := float32(tc.f(float64(x)))
			d := math.Abs(float64(got[i]) - float64(want))
			if d <= 1e-37 {
				continue
			}
			rel := d / math.Abs(float64(want))
			if rel > worst {
				worst, at = rel, x
			}
		}
		if worst > 2.5e-7 {
			t.Errorf("%s %v: relative error %.3g at x = %v", tc.op, tc.attrs, worst, at)
		}
	}
}

func TestDropout(t *testing.T) {
	x := ewF32(1, 2, 3, 4)
	// Inference: identity and an all-true mask.
	out, err := ewRun(t, "Dropout", 13, nil, 2, x)
	if err != nil {
		t.Fatal(err)
	}
	ewCheckF32(t, "Dropout", out[0], []float32{1, 2, 3, 4})
	for _, m := range out[1].Bools() {
		if !m {
			t.Fatalf("mask = %v", out[1].Bools())
		}
	}
	// Opset 7 masks have the input's type.
	out, err = ewRun(t, "Dropout", 7, []*ops.Attr{ewAttrF("ratio", 0.3)}, 2, x)
	if err != nil {
		t.Fatal(err)
	}
	ewCheckF32(t, "Dropout-7 mask", out[1], []float32{1, 1, 1, 1})
	// Training mode with ratio 0 is the identity too.
	tm := ops.FromSlice(ops.Bool, []bool{true}, 1)
	out, err = ewRun(t, "Dropout", 13, nil, 1, x, ewF32(0), tm)
	if err != nil {
		t.Fatal(err)
	}
	ewCheckF32(t, "Dropout ratio 0", out[0], []float32{1, 2, 3, 4})
	// Seeded training mode follows numpy's MT19937 stream: with seed 0 the
	// first uniforms are 0.5488, 0.7152, 0.6028, 0.5449.
	out, err = ewRun(t, "Dropout", 13, []*ops.Attr{ewAttrI("seed", 0)}, 2, x, ewF32(0.6), tm)
	if err != nil {
		t.Fatal(err)
	}
	ewCheckF32(t, "Dropout training", out[0], []float32{0, 5, 7.5, 0})
	if m := out[1].Bools(); m[0] || !m[1] || !m[2] || m[3] {
		t.Errorf("Dropout training mask = %v", m)
	}
	if _, err := ewRun(t, "Dropout", 13, nil, 1, x, ewF32(1), tm); err == nil {
		t.Error("Dropout accepted ratio 1 in training mode")
	}
}

func BenchmarkActivationGelu(b *testing.B) { ewBench(b, "Gelu", 20, nil, ewBenchInput(1<<16)) }

func BenchmarkActivationSigmoid(b *testing.B) { ewBench(b, "Sigmoid", 13, nil, ewBenchInput(1<<16)) }

func BenchmarkActivationRelu(b *testing.B) { ewBench(b, "Relu", 14, nil, ewBenchInput(1<<16)) }
