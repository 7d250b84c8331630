package ops

import (
	"math"
	"math/rand"
	"testing"
)

func TestMaxPool(t *testing.T) {
	x := cvtSeq(1, 1, 4, 4)
	tests := []struct {
		name    string
		attrs   []*Attr
		shape   []int
		want    []float64
		indices []float64
	}{
		{"2x2 stride 2", []*Attr{cvtInts("kernel_shape", 2, 2), cvtInts("strides", 2, 2)},
			[]int{1, 1, 2, 2}, []float64{5, 7, 13, 15}, []float64{5, 7, 13, 15}},
		{"column major", []*Attr{cvtInts("kernel_shape", 2, 2), cvtInts("strides", 2, 2), cvtInt("storage_order", 1)},
			[]int{1, 1, 2, 2}, []float64{5, 7, 13, 15}, []float64{5, 13, 7, 15}},
		{"pads", []*Attr{cvtInts("kernel_shape", 2, 2), cvtInts("strides", 2, 2), cvtInts("pads", 1, 1, 1, 1)},
			[]int{1, 1, 3, 3}, []float64{0, 2, 3, 8, 10, 11, 12, 14, 15}, []float64{0, 2, 3, 8, 10, 11, 12, 14, 15}},
		{"ceil", []*Attr{cvtInts("kernel_shape", 3, 3), cvtInts("strides", 2, 2), cvtInt("ceil_mode", 1)},
			[]int{1, 1, 2, 2}, []float64{10, 11, 14, 15}, []float64{10, 11, 14, 15}},
		{"dilations", []*Attr{cvtInts("kernel_shape", 2, 2), cvtInts("dilations", 2, 2)},
			[]int{1, 1, 2, 2}, []float64{10, 11, 14, 15}, []float64{10, 11, 14, 15}},
		{"same upper", []*Attr{cvtInts("kernel_shape", 2, 2), cvtStr("auto_pad", "SAME_UPPER")},
			[]int{1, 1, 4, 4}, []float64{5, 6, 7, 7, 9, 10, 11, 11, 13, 14, 15, 15, 13, 14, 15, 15}, nil},
	}
	for _, tc := range tests {
		out := cvtMust(t, "MaxPool", 12, tc.attrs, 2, x)
		cvtCheck(t, tc.name, out[0], tc.shape, tc.want, 0)
		if tc.indices != nil {
			cvtCheck(t, tc.name+" indices", out[1], tc.shape, tc.indices, 0)
		}
	}
	// Integer inputs keep their type.
	xi := FromSlice(Uint8, []uint8{1, 9, 3, 4}, 1, 1, 2, 2)
	out := cvtMust(t, "MaxPool", 12, []*Attr{cvtInts("kernel_shape", 2, 2)}, 1, xi)
	if got := out[0].Data.([]uint8); len(got) != 1 || got[0] != 9 {
		t.Fatalf("uint8 max pool = %v, want [9]", got)
	}
	_, err := cvtRun(t, "MaxPool", 12, nil, 1, x)
	cvtWantErr(t, "kernel_shape", err, "kernel_shape")
	_, err = cvtRun(t, "MaxPool", 12, []*Attr{cvtInts("kernel_shape", 2)}, 1, x)
	cvtWantErr(t, "rank", err, "kernel_shape")
	_, err = cvtRun(t, "MaxPool", 12, []*Attr{cvtInts("kernel_shape", 2, 2), cvtInt("storage_order", 3)}, 1, x)
	cvtWantErr(t, "storage_order", err, "storage_order")
}

func TestAveragePool(t *testing.T) {
	x := cvtSeq(1, 1, 3, 3)
	k2 := cvtInts("kernel_shape", 2, 2)
	tests := []struct {
		name  string
		op    string
		attrs []*Attr
		shape []int
		want  []float64
	}{
		{"valid", "AveragePool", []*Attr{k2}, []int{1, 1, 2, 2}, []float64{2, 3, 5, 6}},
		{"pads exclude", "AveragePool", []*Attr{k2, cvtInts("pads", 1, 1, 0, 0)}, []int{1, 1, 3, 3},
			[]float64{0, 0.5, 1.5, 1.5, 2, 3, 4.5, 5, 6}},
		{"pads include", "AveragePool", []*Attr{k2, cvtInts("pads", 1, 1, 0, 0), cvtInt("count_include_pad", 1)}, []int{1, 1, 3, 3},
			[]float64{0, 0.25, 0.75, 0.75, 2, 3, 2.25, 5, 6}},
		{"ceil", "AveragePool", []*Attr{k2, cvtInts("strides", 2, 2), cvtInt("ceil_mode", 1)}, []int{1, 1, 2, 2},
			[]float64{2, 3.5, 6.5, 8}},
		{"lp2", "LpPool", []*Attr{k2, cvtInt("p", 2)}, []int{1, 1, 2, 2},
			[]float64{math.Sqrt(0 + 1 + 9 + 16), math.Sqrt(1 + 4 + 16 + 25), math.Sqrt(9 + 16 + 36 + 49), math.Sqrt(16 + 25 + 49 + 64)}},
		{"lp1", "LpPool", []*Attr{k2, cvtInt("p", 1)}, []int{1, 1, 2, 2}, []float64{8, 12, 20, 24}},
	}
	for _, tc := range tests {
		out := cvtMust(t, tc.op, 18, tc.attrs, 1, x)
		cvtCheck(t, tc.name, out[0], tc.shape, tc.want, 1e-6)
	}
}

func TestGlobalPools(t *testing.T) {
	x := cvtF32([]int{1, 2, 2, 2}, 1, 2, 3, 4, -1, -2, -3, -4)
	out := cvtMust(t, "GlobalAveragePool", 1, nil, 1, x)
	cvtCheck(t, "avg", out[0], []int{1, 2, 1, 1}, []float64{2.5, -2.5}, 1e-6)
	out = cvtMust(t, "GlobalMaxPool", 1, nil, 1, x)
	cvtCheck(t, "max", out[0], []int{1, 2, 1, 1}, []float64{4, -1}, 0)
	out = cvtMust(t, "GlobalLpPool", 2, nil, 1, x)
	cvtCheck(t, "lp", out[0], []int{1, 2, 1, 1}, []float64{math.Sqrt(30), math.Sqrt(30)}, 1e-6)
	_, err := cvtRun(t, "GlobalMaxPool", 1, nil, 1, cvtSeq(3))
	cvtWantErr(t, "rank", err, "rank")
}

func TestMaxUnpool(t *testing.T) {
	x := cvtF32([]int{1, 1, 2, 2}, 5, 6, 7, 8)
	idx := cvtI64([]int{1, 1, 2, 2}, 5, 7, 13, 15)
	attrs := []*Attr{cvtInts("kernel_shape", 2, 2), cvtInts("strides", 2, 2)}
	out := cvtMust(t, "MaxUnpool", 11, attrs, 1, x, idx)
	cvtCheck(t, "default shape", out[0], []int{1, 1, 4, 4}, []float64{0, 0, 0, 0, 0, 5, 0, 6, 0, 0, 0, 0, 0, 7, 0, 8}, 0)
	out = cvtMust(t, "MaxUnpool", 11, attrs, 1, x, idx, cvtI64([]int{4}, 1, 1, 5, 5))
	cvtCheck(t, "output_shape", out[0], []int{1, 1, 5, 5},
		[]float64{0, 0, 0, 0, 0, 0, 5, 0, 6, 0, 0, 0, 0, 0, 0, 0, 7, 0, 8, 0, 0, 0, 0, 0, 0}, 0)
	_, err := cvtRun(t, "MaxUnpool", 11, attrs, 1, x, cvtI64([]int{1, 1, 2, 2}, 5, 7, 13, 16))
	cvtWantErr(t, "index range", err, "out of range")
}

func TestRoiAlign(t *testing.T) {
	x := cvtSeq(1, 1, 4, 4)
	rois := cvtF32([]int{1, 4}, 0, 0, 3, 3)
	bi := cvtI64([]int{1}, 0)
	// Output-half-pixel coordinates, one sample per bin at the bin centre:
	// bins of 1.5 pixels centred at 0.75 and 2.25.
	attrs := []*Attr{cvtInt("output_height", 2), cvtInt("output_width", 2), cvtInt("sampling_ratio", 1),
		cvtStr("coordinate_transformation_mode", "output_half_pixel")}
	out := cvtMust(t, "RoiAlign", 16, attrs, 1, x, rois, bi)
	at := func(y, x float64) float64 { return 4*y + x }
	cvtCheck(t, "avg", out[0], []int{1, 1, 2, 2}, []float64{at(0.75, 0.75), at(0.75, 2.25), at(2.25, 0.75), at(2.25, 2.25)}, 1e-6)
	_, err := cvtRun(t, "RoiAlign", 16, attrs, 1, x, rois, cvtI64([]int{1}, 3))
	cvtWantErr(t, "batch index", err, "batch index")
	_, err = cvtRun(t, "RoiAlign", 16, []*Attr{cvtStr("mode", "median")}, 1, x, rois, bi)
	cvtWantErr(t, "mode", err, "mode")
}

func TestNonMaxSuppression(t *testing.T) {
	boxes := cvtF32([]int{1, 4, 4},
		0, 0, 1, 1,
		0, 0.1, 1, 1.1,
		0, 10, 1, 11,
		1, 1, 0, 0) // flipped duplicate of box 0
	scores := cvtF32([]int{1, 1, 4}, 0.9, 0.8, 0.7, 0.95)
	out := cvtMust(t, "NonMaxSuppression", 11, nil, 1, boxes, scores,
		cvtI64([]int{1}, 3), cvtF32([]int{1}, 0.5), cvtF32([]int{1}, 0))
	cvtCheck(t, "selected", out[0], []int{2, 3}, []float64{0, 0, 3, 0, 0, 2}, 0)
	out = cvtMust(t, "NonMaxSuppression", 11, nil, 1, boxes, scores, cvtI64([]int{1}, 1))
	cvtCheck(t, "limit", out[0], []int{1, 3}, []float64{0, 0, 3}, 0)
	out = cvtMust(t, "NonMaxSuppression", 11, nil, 1, boxes, scores)
	cvtCheck(t, "no max", out[0], []int{0, 3}, nil, 0)
	_, err := cvtRun(t, "NonMaxSuppression", 11, nil, 1, boxes, cvtSeq(1, 1, 3))
	cvtWantErr(t, "scores", err, "scores")
}

func BenchmarkMaxPool(b *testing.B) {
	x := cvtRand(rand.New(rand.NewSource(1)), 1, 64, 112, 112)
	cvtBench(b, "MaxPool", 12, []*Attr{cvtInts("kernel_shape", 3, 3), cvtInts("strides", 2, 2), cvtInts("pads", 1, 1, 1, 1)}, x)
}
