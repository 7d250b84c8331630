package ops

import (
	"context"
	"math/rand"
	"testing"
)

func TestResize(t *testing.T) {
	f32 := func(v ...float32) *Tensor { return cvtF32([]int{len(v)}, v...) }
	i64 := func(v ...int64) *Tensor { return cvtI64([]int{len(v)}, v...) }
	row := cvtF32([]int{1, 1, 1, 2}, 1, 2)
	tests := []struct {
		name    string
		version int
		attrs   []*Attr
		in      []*Tensor
		shape   []int
		want    []float64
	}{
		{"nearest half pixel", 13, nil, []*Tensor{row, nil, f32(1, 1, 1, 2)}, []int{1, 1, 1, 4}, []float64{1, 1, 2, 2}},
		{"nearest asymmetric ceil", 13, []*Attr{cvtStr("coordinate_transformation_mode", "asymmetric"), cvtStr("nearest_mode", "ceil")},
			[]*Tensor{row, nil, f32(1, 1, 1, 2)}, []int{1, 1, 1, 4}, []float64{1, 2, 2, 2}},
		{"linear align corners", 13, []*Attr{cvtStr("mode", "linear"), cvtStr("coordinate_transformation_mode", "align_corners")},
			[]*Tensor{cvtF32([]int{1, 1, 1, 3}, 0, 2, 4), nil, nil, i64(1, 1, 1, 5)}, []int{1, 1, 1, 5}, []float64{0, 1, 2, 3, 4}},
		{"linear half pixel", 13, []*Attr{cvtStr("mode", "linear")},
			[]*Tensor{row, nil, f32(1, 1, 1, 2)}, []int{1, 1, 1, 4}, []float64{1, 1.25, 1.75, 2}},
		{"cubic identity", 13, []*Attr{cvtStr("mode", "cubic")},
			[]*Tensor{cvtSeq(1, 1, 3, 3), nil, f32(1, 1, 1, 1)}, []int{1, 1, 3, 3}, []float64{0, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"tf crop extrapolation", 18, []*Attr{cvtStr("mode", "linear"), cvtStr("coordinate_transformation_mode", "tf_crop_and_resize"),
			cvtInts("axes", 3), cvtFloat("extrapolation_value", 10)},
			[]*Tensor{cvtF32([]int{1, 1, 1, 4}, 0, 1, 2, 3), f32(0.5, 1.5), nil, i64(3)}, []int{1, 1, 1, 3}, []float64{1.5, 3, 10}},
		{"not larger", 18, []*Attr{cvtInts("axes", 2, 3), cvtStr("keep_aspect_ratio_policy", "not_larger")},
			[]*Tensor{cvtSeq(1, 1, 1, 2), nil, nil, i64(4, 4)}, []int{1, 1, 2, 4}, []float64{0, 0, 1, 1, 0, 0, 1, 1}},
		{"antialias downsample", 18, []*Attr{cvtStr("mode", "linear"), cvtInt("antialias", 1)},
			[]*Tensor{cvtF32([]int{1, 4}, 0, 4, 8, 12), nil, f32(1, 0.5)}, []int{1, 2}, []float64{2.5, 9.5}},
	}
	for _, tc := range tests {
		out := cvtMust(t, "Resize", tc.version, tc.attrs, 1, tc.in...)
		cvtCheck(t, tc.name, out[0], tc.shape, tc.want, 1e-6)
	}
	// Nearest keeps integer types exact.
	xi := FromSlice(Uint8, []uint8{7, 200}, 1, 2)
	out := cvtMust(t, "Resize", 13, nil, 1, xi, nil, f32(1, 1.5))
	if got := out[0].Data.([]uint8); len(got) != 3 || got[0] != 7 || got[2] != 200 {
		t.Fatalf("uint8 nearest = %v", got)
	}
	// Upsample-7 takes its scales as an attribute, Upsample-9 as an input.
	out = cvtMust(t, "Upsample", 7, []*Attr{cvtFloats("scales", 1, 2)}, 1, cvtF32([]int{1, 2}, 1, 2))
	cvtCheck(t, "upsample 7", out[0], []int{1, 4}, []float64{1, 1, 2, 2}, 0)
	out = cvtMust(t, "Upsample", 9, []*Attr{cvtStr("mode", "linear")}, 1, cvtF32([]int{1, 2}, 1, 2), f32(1, 2))
	cvtCheck(t, "upsample 9 linear", out[0], []int{1, 4}, []float64{1, 1.5, 2, 2}, 1e-6)

	_, err := cvtRun(t, "Resize", 13, nil, 1, row, nil, f32(1, 1, 1, 2), i64(1, 1, 1, 4))
	cvtWantErr(t, "scales and sizes", err, "only one")
	_, err = cvtRun(t, "Resize", 13, nil, 1, row, nil, f32(1, 2))
	cvtWantErr(t, "scale count", err, "scales")
	_, err = cvtRun(t, "Resize", 13, nil, 1, row, nil, f32(1, 1, 1, -2))
	cvtWantErr(t, "negative scale", err, "positive")
	_, err = cvtRun(t, "Resize", 13, []*Attr{cvtStr("mode", "area")}, 1, row, nil, f32(1, 1, 1, 2))
	cvtWantErr(t, "mode", err, "mode")
	_, err = cvtRun(t, "Resize", 13, nil, 1, row)
	cvtWantErr(t, "no sizes", err, "required")
}

func BenchmarkResizeLinear(b *testing.B) {
	x := cvtRand(rand.New(rand.NewSource(1)), 1, 3, 224, 224)
	scales := cvtF32([]int{4}, 1, 1, 2, 2)
	cvtBench(b, "Resize", 13, []*Attr{cvtStr("mode", "linear")}, x, nil, scales)
}

// TestResizeNearest32 compares the float32 nearest path with the generic
// gather over index patterns: identity, integer upsampling by 2 and 3,
// downsampling and arbitrary indices, small and large (parallel) outputs.
func TestResizeNearest32(t *testing.T) {
	pool := NewPool(3)
	defer pool.Close()
	ec := NewContext(context.Background(), pool, nil)
	r := rand.New(rand.NewSource(9))
	for _, tc := range []struct {
		in, out []int
		kind    string
	}{
		{[]int{1, 3, 4, 5}, []int{1, 3, 8, 10}, "up"},
		{[]int{2, 64, 40, 56}, []int{2, 64, 80, 112}, "up"},
		{[]int{1, 2, 5, 7}, []int{1, 2, 15, 21}, "up"},
		{[]int{1, 2, 9, 9}, []int{1, 2, 9, 9}, "up"},
		{[]int{3, 10, 12}, []int{3, 5, 6}, "random"},
		{[]int{4, 300, 70}, []int{4, 200, 93}, "random"},
		{[]int{7}, []int{20}, "random"},
	} {
		x := cvtRand(r, tc.in...)
		axes := make([]resizeAxis, len(tc.in))
		idx := make([][]int, len(tc.in))
		for a := range axes {
			ix := make([]int, tc.out[a])
			for j := range ix {
				if tc.kind == "up" {
					ix[j] = j * tc.in[a] / tc.out[a]
				} else {
					ix[j] = r.Intn(tc.in[a])
				}
			}
			axes[a], idx[a] = resizeAxis{in: tc.in[a], out: tc.out[a], idx: ix}, ix
		}
		n := NumElements(tc.out)
		want, got := make([]float32, n), make([]float32, n)
		resizeGatherNearest(want, x.Float32s(), tc.in, tc.out, idx, 0)
		if !resizeNearest32(ec, got, x.Float32s(), tc.in, tc.out, axes) {
			t.Fatalf("%v -> %v: refused", tc.in, tc.out)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%v -> %v (%s): element %d = %v, want %v", tc.in, tc.out, tc.kind, i, got[i], want[i])
			}
		}
	}
	// An out-of-range index leaves the case to the generic gather.
	axes := []resizeAxis{{in: 3, out: 2, idx: []int{0, -1}}}
	if resizeNearest32(ec, make([]float32, 2), []float32{1, 2, 3}, []int{3}, []int{2}, axes) {
		t.Fatal("an extrapolated index was accepted")
	}
}

// TestDup2 checks the vectorised row duplication against dup2Go.
func TestDup2(t *testing.T) {
	vm := vecmath()
	r := rand.New(rand.NewSource(2))
	for n := 0; n <= 40; n++ {
		src := randSlice(r, n)
		want, got := make([]float32, 2*n+1), make([]float32, 2*n+1)
		dup2Go(want[1:], src)
		vm.dup2(got[1:], src) // unaligned destination
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("n=%d: element %d = %v, want %v", n, i, got[i], want[i])
			}
		}
	}
}
