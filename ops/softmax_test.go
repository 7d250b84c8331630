package ops

import (
	"context"
	"math"
	"math/rand"
	"testing"
)

func TestExpfAccuracy(t *testing.T) {
	worst := 0.0
	check := func(x float32) {
		got := float64(rnExpf(x))
		want := math.Exp(float64(x))
		if want < 1e-37 { // float32 subnormal range: absolute error instead
			if math.Abs(got-want) > 1e-44 {
				t.Fatalf("rnExpf(%v) = %v, want %v", x, got, want)
			}
			return
		}
		rel := math.Abs(got-want) / want
		if rel > worst {
			worst = rel
		}
		if rel > 1.5e-7 {
			t.Fatalf("rnExpf(%v) = %v, want %v (relative error %.3g)", x, got, want, rel)
		}
	}
	for x := float32(-104); x < 88.7; x += 0.000731 {
		check(x)
	}
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 200000; i++ {
		check(float32(r.Float64()*4 - 2))
	}
	t.Logf("worst relative error %.3g", worst)
	for _, tc := range []struct{ x, want float32 }{
		{0, 1},
		{float32(math.Inf(-1)), 0},
		{-200, 0},
		{89, float32(math.Inf(1))},
		{float32(math.Inf(1)), float32(math.Inf(1))},
	} {
		if got := rnExpf(tc.x); got != tc.want {
			t.Errorf("rnExpf(%v) = %v, want %v", tc.x, got, tc.want)
		}
	}
	if got := rnExpf(float32(math.NaN())); got == got {
		t.Errorf("rnExpf(NaN) = %v, want NaN", got)
	}
}

func TestSoftmax(t *testing.T) {
	e1, e2 := math.Exp(1), math.Exp(2)
	s := 1 + e1 + e2
	x3 := rtF32([]int{1, 3}, 0, 1, 2)
	// x222 rows for the legacy 2-D coercion at axis 1: [0 1 2 3] and [4 5 6 7].
	x222 := rtF32([]int{2, 2, 2}, 0, 1, 2, 3, 4, 5, 6, 7)
	l4 := math.Log(1 + math.Exp(1) + math.Exp(2) + math.Exp(3))
	ninf := float32(math.Inf(-1))
	tests := []struct {
		name    string
		op      string
		version int
		attrs   []*Attr
		x       *Tensor
		want    []float64
	}{
		{"softmax", "Softmax", 13, nil, x3, []float64{1 / s, e1 / s, e2 / s}},
		{"logsoftmax", "LogSoftmax", 13, nil, x3, []float64{-math.Log(s), 1 - math.Log(s), 2 - math.Log(s)}},
		{"hardmax ties", "Hardmax", 13, nil, rtF32([]int{2, 3}, 3, 1, 3, 0, 0, 0), []float64{1, 0, 0, 1, 0, 0}},
		{"softmax float64", "Softmax", 13, nil, FromSlice(Double, []float64{0, 1, 2}, 1, 3), []float64{1 / s, e1 / s, e2 / s}},
		{"softmax large", "Softmax", 13, nil, rtF32([]int{2}, 1000, 1000), []float64{0.5, 0.5}},
		{"softmax -inf", "Softmax", 13, nil, rtF32([]int{2}, ninf, 0), []float64{0, 1}},
		{"softmax axis0", "Softmax", 13, []*Attr{rtAttrI("axis", 0)}, rtF32([]int{2, 2}, 0, 5, 0, 5), []float64{0.5, 0.5, 0.5, 0.5}},
		{"logsoftmax legacy 2d", "LogSoftmax", 11, nil, x222, []float64{
			-l4, 1 - l4, 2 - l4, 3 - l4,
			-l4, 1 - l4, 2 - l4, 3 - l4}},
		{"hardmax legacy axis0", "Hardmax", 1, []*Attr{rtAttrI("axis", 0)}, rtF32([]int{2, 2}, 1, 4, 3, 2), []float64{0, 1, 0, 0}},
		{"hardmax v13 axis0", "Hardmax", 13, []*Attr{rtAttrI("axis", 0)}, rtF32([]int{2, 2}, 1, 4, 3, 2), []float64{0, 1, 1, 0}},
		{"softmax float16", "Softmax", 13, nil, FromSlice(Float16, []F16{F16From(0), F16From(0)}, 2), []float64{0.5, 0.5}},
		{"softmax scalar", "Softmax", 13, nil, rtF32([]int{}, 3), []float64{1}},
	}
	for _, tc := range tests {
		out, err := rtRun(t, tc.op, tc.version, tc.attrs, 1, tc.x)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if out[0].DType != tc.x.DType {
			t.Errorf("%s: type %s, want %s", tc.name, out[0].DType, tc.x.DType)
		}
		rtCheck(t, tc.name, out[0], tc.x.Shape, tc.want, 1e-6)
	}
	for _, tc := range []struct {
		name string
		x    *Tensor
		axis int64
	}{
		{"axis out of range", x3, 2},
		{"int input", FromSlice(Int32, []int32{1}, 1), -1},
	} {
		if _, err := rtRun(t, "Softmax", 13, []*Attr{rtAttrI("axis", tc.axis)}, 1, tc.x); err == nil {
			t.Errorf("%s: expected an error", tc.name)
		}
	}
}

// TestSoftmaxParallel checks the fast row path against the float64 lane
// path on a worker pool, for every function.
func TestSoftmaxParallel(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	rows, n := 300, 517
	xv := rtRandF32(r, rows*n)
	for i := range xv {
		xv[i] *= 8
	}
	x := rtF32([]int{rows, n}, xv...)
	pool := NewPool(4)
	defer pool.Close()
	ec := NewContext(context.Background(), pool, NewArena())
	for _, op := range []string{"Softmax", "LogSoftmax", "Hardmax"} {
		out, err := rtRunCtx(ec, op, 13, nil, 1, x)
		if err != nil {
			t.Fatal(err)
		}
		kind := map[string]softmaxKind{"Softmax": softmaxPlain, "LogSoftmax": softmaxLog, "Hardmax": softmaxHard}[op]
		want := make([]float64, rows*n)
		x64, _ := x.AsFloat64s()
		softmaxLanes(NewContext(context.Background(), nil, nil), x64, want, rows, n, 1, kind)
		rtCheck(t, op, out[0], x.Shape, want, 2e-6)
		ec.Release(out[0])
	}
}

func BenchmarkSoftmaxRows(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	x := rtF32([]int{12 * 128, 128}, rtRandF32(r, 12*128*128)...)
	rtBench(b, "Softmax", 13, nil, x)
}

func BenchmarkSoftmaxVocab(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	x := rtF32([]int{8, 32000}, rtRandF32(r, 8*32000)...)
	rtBench(b, "Softmax", 13, nil, x)
}
