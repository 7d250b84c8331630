package ops

import (
	"context"
	"math"
	"math/rand"
	"testing"
)

func TestTopK(t *testing.T) {
	x := rtF32([]int{2, 4}, 1, 3, 3, 2, 0, -1, 5, 5)
	nan := float32(math.NaN())
	tests := []struct {
		name    string
		version int
		attrs   []*Attr
		x       *Tensor
		k       *Tensor
		shape   []int
		vals    []float64
		idx     []float64
	}{
		{"largest ties", 11, nil, x, rtI64(3), []int{2, 3}, []float64{3, 3, 2, 5, 5, 0}, []float64{1, 2, 3, 2, 3, 0}},
		{"smallest", 11, []*Attr{rtAttrI("largest", 0)}, x, rtI64(2), []int{2, 2}, []float64{1, 2, -1, 0}, []float64{0, 3, 1, 0}},
		{"axis0", 11, []*Attr{rtAttrI("axis", 0)}, x, rtI64(1), []int{1, 4}, []float64{1, 3, 5, 5}, []float64{0, 0, 1, 1}},
		{"k attribute", 1, []*Attr{rtAttrI("k", 1)}, x, nil, []int{2, 1}, []float64{3, 5}, []float64{1, 2}},
		{"k zero", 10, nil, x, rtI64(0), []int{2, 0}, []float64{}, []float64{}},
		{"int64 ties", 11, nil, FromSlice(Int64, []int64{0, 0, 1, 1}, 4), rtI64(3), []int{3}, []float64{1, 1, 0}, []float64{2, 3, 0}},
		{"uint64", 11, nil, FromSlice(Uint64, []uint64{1 << 63, 1, 7}, 3), rtI64(2), []int{2}, []float64{1 << 63, 7}, []float64{0, 2}},
		{"nan largest", 11, nil, rtF32([]int{3}, 1, nan, 2), rtI64(2), []int{2}, []float64{math.NaN(), 2}, []float64{1, 2}},
		{"nan smallest", 11, []*Attr{rtAttrI("largest", 0)}, rtF32([]int{3}, 1, nan, 2), rtI64(3), []int{3}, []float64{1, 2, math.NaN()}, []float64{0, 2, 1}},
		{"float16", 11, nil, FromSlice(Float16, []F16{F16From(1), F16From(2)}, 2), rtI64(1), []int{1}, []float64{2}, []float64{1}},
	}
	for _, tc := range tests {
		in := []*Tensor{tc.x}
		if tc.k != nil {
			in = append(in, tc.k)
		}
		out, err := rtRun(t, "TopK", tc.version, tc.attrs, 2, in...)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if out[0].DType != tc.x.DType || out[1].DType != Int64 {
			t.Errorf("%s: types %s, %s", tc.name, out[0].DType, out[1].DType)
		}
		rtCheck(t, tc.name+" values", out[0], tc.shape, tc.vals, 0)
		rtCheck(t, tc.name+" indices", out[1], tc.shape, tc.idx, 0)
	}
	for _, tc := range []struct {
		name string
		k    *Tensor
	}{
		{"k too large", rtI64(5)},
		{"k negative", rtI64(-1)},
		{"k two values", rtI64(1, 2)},
	} {
		if _, err := rtRun(t, "TopK", 11, nil, 2, x, tc.k); err == nil {
			t.Errorf("%s: expected an error", tc.name)
		}
	}
	if _, err := rtRun(t, "TopK", 1, nil, 2, x); err == nil {
		t.Error("opset 1 without k: expected an error")
	}
}

// TestTopKHeap checks the bounded-heap path (K much smaller than the axis)
// against the full sort, with many ties, on a worker pool.
func TestTopKHeap(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	rows, n := 40, 3000
	xv := make([]float32, rows*n)
	for i := range xv {
		xv[i] = float32(r.Intn(50))
	}
	x := rtF32([]int{rows, n}, xv...)
	pool := NewPool(4)
	defer pool.Close()
	ec := NewContext(context.Background(), pool, NewArena())
	for _, largest := range []int64{1, 0} {
		attrs := []*Attr{rtAttrI("largest", largest)}
		small, err := rtRunCtx(ec, "TopK", 11, attrs, 2, x, rtI64(20))
		if err != nil {
			t.Fatal(err)
		}
		full, err := rtRunCtx(ec, "TopK", 11, attrs, 2, x, rtI64(int64(n)))
		if err != nil {
			t.Fatal(err)
		}
		fv, fi := full[0].Float32s(), full[1].Int64s()
		want := make([]float64, 0, rows*20)
		wantIdx := make([]float64, 0, rows*20)
		for i := 0; i < rows; i++ {
			for j := 0; j < 20; j++ {
				want = append(want, float64(fv[i*n+j]))
				wantIdx = append(wantIdx, float64(fi[i*n+j]))
			}
		}
		rtCheck(t, "heap values", small[0], []int{rows, 20}, want, 0)
		rtCheck(t, "heap indices", small[1], []int{rows, 20}, wantIdx, 0)
		// The full sort keeps equal values in index order.
		for i := 0; i < rows; i++ {
			for j := 1; j < n; j++ {
				a, b := fv[i*n+j-1], fv[i*n+j]
				if a == b && fi[i*n+j-1] > fi[i*n+j] || (largest == 1 && a < b) || (largest == 0 && a > b) {
					t.Fatalf("row %d: order broken at %d", i, j)
				}
			}
		}
	}
}

func BenchmarkTopKVocab(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	x := rtF32([]int{8, 32000}, rtRandF32(r, 8*32000)...)
	rtBench(b, "TopK", 11, nil, x, rtI64(50))
}
