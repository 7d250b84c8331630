package ops

import (
	"math/rand"
	"testing"
)

func TestAffineGrid(t *testing.T) {
	theta := cvtF32([]int{1, 2, 3}, 1, 0, 0, 0, 1, 0)
	size := cvtI64([]int{4}, 1, 1, 2, 2)
	out := cvtMust(t, "AffineGrid", 20, nil, 1, theta, size)
	cvtCheck(t, "identity", out[0], []int{1, 2, 2, 2}, []float64{-0.5, -0.5, 0.5, -0.5, -0.5, 0.5, 0.5, 0.5}, 1e-6)
	out = cvtMust(t, "AffineGrid", 20, []*Attr{cvtInt("align_corners", 1)}, 1, cvtF32([]int{1, 2, 3}, 2, 0, 1, 0, 1, 0), size)
	cvtCheck(t, "scaled shifted", out[0], []int{1, 2, 2, 2}, []float64{-1, -1, 3, -1, -1, 1, 3, 1}, 1e-6)
	theta3 := cvtF32([]int{1, 3, 4}, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0)
	out = cvtMust(t, "AffineGrid", 20, []*Attr{cvtInt("align_corners", 1)}, 1, theta3, cvtI64([]int{5}, 1, 1, 1, 1, 2))
	cvtCheck(t, "3d", out[0], []int{1, 1, 1, 2, 3}, []float64{-1, -1, -1, 1, -1, -1}, 1e-6)
	_, err := cvtRun(t, "AffineGrid", 20, nil, 1, theta, cvtI64([]int{3}, 1, 1, 2))
	cvtWantErr(t, "size", err, "size")
	_, err = cvtRun(t, "AffineGrid", 20, nil, 1, theta3, size)
	cvtWantErr(t, "theta", err, "theta")
}

func TestGridSample(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	x := cvtRand(r, 2, 3, 4, 5)
	theta := cvtF32([]int{2, 2, 3}, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0)
	for _, align := range []int64{0, 1} {
		grid := cvtMust(t, "AffineGrid", 20, []*Attr{cvtInt("align_corners", align)}, 1, theta, cvtI64([]int{4}, 2, 3, 4, 5))
		for _, mode := range []string{"linear", "nearest", "cubic"} {
			out := cvtMust(t, "GridSample", 20, []*Attr{cvtInt("align_corners", align), cvtStr("mode", mode)}, 1, x, grid[0])
			want, _ := x.AsFloat64s()
			cvtCheck(t, "identity "+mode, out[0], x.Shape, want, 1e-5)
		}
	}
	// One sample outside the input on the right, one halfway between the
	// two pixels of a 1×2 image (align_corners: x = 0 is the midpoint).
	img := cvtF32([]int{1, 1, 1, 2}, 10, 20)
	grid := cvtF32([]int{1, 1, 2, 2}, 3, 0, 0, 0)
	tests := []struct {
		attrs []*Attr
		want  []float64
	}{
		{[]*Attr{cvtInt("align_corners", 1)}, []float64{0, 15}},
		{[]*Attr{cvtInt("align_corners", 1), cvtStr("padding_mode", "border")}, []float64{20, 15}},
		{[]*Attr{cvtInt("align_corners", 1), cvtStr("padding_mode", "reflection")}, []float64{10, 15}},
		{[]*Attr{cvtInt("align_corners", 1), cvtStr("mode", "nearest")}, []float64{0, 10}},
	}
	for i, tc := range tests {
		out := cvtMust(t, "GridSample", 16, tc.attrs, 1, img, grid)
		cvtCheck(t, "padding "+string(rune('0'+i)), out[0], []int{1, 1, 1, 2}, tc.want, 1e-6)
	}
	_, err := cvtRun(t, "GridSample", 16, nil, 1, img, cvtSeq(1, 1, 2, 3))
	cvtWantErr(t, "grid shape", err, "grid shape")
	_, err = cvtRun(t, "GridSample", 16, []*Attr{cvtStr("padding_mode", "wrap")}, 1, img, grid)
	cvtWantErr(t, "padding_mode", err, "padding_mode")
}

func BenchmarkGridSample(b *testing.B) {
	r := rand.New(rand.NewSource(2))
	x := cvtRand(r, 1, 16, 64, 64)
	grid := cvtRand(r, 1, 64, 64, 2)
	cvtBench(b, "GridSample", 20, nil, x, grid)
}
