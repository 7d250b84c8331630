package ops

import "testing"

func TestPad(t *testing.T) {
	x := shtF32([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	mode := func(m string) []*Attr { return []*Attr{shtStr("mode", m)} }
	shtRunCases(t, []shtCase{
		{name: "constant", op: "Pad", in: []*Tensor{x, shtVec(0, 1, 1, 0), Scalar(float32(9))},
			want: []*Tensor{shtF32([]int{3, 4}, 9, 1, 2, 3, 9, 4, 5, 6, 9, 9, 9, 9)}},
		{name: "constant default value", op: "Pad", in: []*Tensor{x, shtVec(1, 0, 0, 0)},
			want: []*Tensor{shtF32([]int{3, 3}, 0, 0, 0, 1, 2, 3, 4, 5, 6)}},
		{name: "negative pads crop", op: "Pad", in: []*Tensor{x, shtVec(0, -1, -1, 1)},
			want: []*Tensor{shtF32([]int{1, 3}, 2, 3, 0)}},
		{name: "axes input", op: "Pad", version: 18, in: []*Tensor{x, shtVec(2, 0), Scalar(float32(7)), shtVec(-1)},
			want: []*Tensor{shtF32([]int{2, 5}, 7, 7, 1, 2, 3, 7, 7, 4, 5, 6)}},
		{name: "pad-2 attrs", op: "Pad", version: 2, attrs: []*Attr{shtInts("pads", 0, 0, 0, 1), {Name: "value", Type: AttrFloat, F: 1.5}}, in: []*Tensor{x},
			want: []*Tensor{shtF32([]int{2, 4}, 1, 2, 3, 1.5, 4, 5, 6, 1.5)}},
		{name: "pad-1 paddings", op: "Pad", version: 1, attrs: []*Attr{shtInts("paddings", 1, 0, 0, 0)}, in: []*Tensor{shtI64([]int{1, 1}, 4)},
			want: []*Tensor{shtI64([]int{2, 1}, 0, 4)}},
		{name: "reflect", op: "Pad", attrs: mode("reflect"), in: []*Tensor{x, shtVec(0, 2, 0, 2)},
			want: []*Tensor{shtF32([]int{2, 7}, 3, 2, 1, 2, 3, 2, 1, 6, 5, 4, 5, 6, 5, 4)}},
		{name: "edge", op: "Pad", attrs: mode("edge"), in: []*Tensor{x, shtVec(1, 1, 0, 1)},
			want: []*Tensor{shtF32([]int{3, 5}, 1, 1, 2, 3, 3, 1, 1, 2, 3, 3, 4, 4, 5, 6, 6)}},
		{name: "wrap", op: "Pad", attrs: mode("wrap"), in: []*Tensor{x, shtVec(1, 1, 0, 2)},
			want: []*Tensor{shtF32([]int{3, 6}, 6, 4, 5, 6, 4, 5, 3, 1, 2, 3, 1, 2, 6, 4, 5, 6, 4, 5)}},
		{name: "reflect wide", op: "Pad", attrs: mode("reflect"), in: []*Tensor{shtF32([]int{2}, 1, 2), shtVec(3, 0)},
			want: []*Tensor{shtF32([]int{5}, 2, 1, 2, 1, 2)}},
		{name: "string constant", op: "Pad", in: []*Tensor{FromSlice(String, []string{"a"}, 1), shtVec(1, 1)},
			want: []*Tensor{FromSlice(String, []string{"", "a", ""}, 3)}},
		{name: "bad pads length", op: "Pad", in: []*Tensor{x, shtVec(1, 1)}, err: "pads has 2 values"},
		{name: "over-crop", op: "Pad", in: []*Tensor{x, shtVec(-2, 0, -1, 0)}, err: "remove more"},
		{name: "edge empty axis", op: "Pad", attrs: mode("edge"), in: []*Tensor{shtF32([]int{0}), shtVec(1, 1)}, err: "empty axis"},
		{name: "bad mode", op: "Pad", attrs: mode("mirror"), in: []*Tensor{x, shtVec(0, 0, 0, 0)}, err: "unsupported mode"},
	})
}

func TestDepthSpace(t *testing.T) {
	// [1, 4, 1, 2]: channel c holds 10c, 10c+1
	x := shtF32([]int{1, 4, 1, 2}, 0, 1, 10, 11, 20, 21, 30, 31)
	shtRunCases(t, []shtCase{
		{name: "dcr", op: "DepthToSpace", attrs: []*Attr{shtInt("blocksize", 2)}, in: []*Tensor{x},
			want: []*Tensor{shtF32([]int{1, 1, 2, 4}, 0, 10, 1, 11, 20, 30, 21, 31)}},
		{name: "crd", op: "DepthToSpace", attrs: []*Attr{shtInt("blocksize", 2), shtStr("mode", "CRD")}, in: []*Tensor{x},
			want: []*Tensor{shtF32([]int{1, 1, 2, 4}, 0, 10, 1, 11, 20, 30, 21, 31)}},
		{name: "crd two channels", op: "DepthToSpace", attrs: []*Attr{shtInt("blocksize", 2), shtStr("mode", "CRD")},
			in:   []*Tensor{shtF32([]int{1, 8, 1, 1}, 0, 1, 2, 3, 4, 5, 6, 7)},
			want: []*Tensor{shtF32([]int{1, 2, 2, 2}, 0, 1, 2, 3, 4, 5, 6, 7)}},
		{name: "dcr two channels", op: "DepthToSpace", attrs: []*Attr{shtInt("blocksize", 2)},
			in:   []*Tensor{shtF32([]int{1, 8, 1, 1}, 0, 1, 2, 3, 4, 5, 6, 7)},
			want: []*Tensor{shtF32([]int{1, 2, 2, 2}, 0, 2, 4, 6, 1, 3, 5, 7)}},
		{name: "space to depth", op: "SpaceToDepth", attrs: []*Attr{shtInt("blocksize", 2)},
			in:   []*Tensor{shtF32([]int{1, 1, 2, 4}, 0, 10, 1, 11, 20, 30, 21, 31)},
			want: []*Tensor{shtF32([]int{1, 4, 1, 2}, 0, 1, 10, 11, 20, 21, 30, 31)}},
		{name: "bad channels", op: "DepthToSpace", attrs: []*Attr{shtInt("blocksize", 3)}, in: []*Tensor{x}, err: "not divisible"},
		{name: "bad blocksize", op: "SpaceToDepth", attrs: []*Attr{shtInt("blocksize", 0)}, in: []*Tensor{x}, err: "positive"},
		{name: "bad spatial", op: "SpaceToDepth", attrs: []*Attr{shtInt("blocksize", 2)}, in: []*Tensor{x}, err: "not divisible"},
	})
}

func TestCenterCropPadCol2Im(t *testing.T) {
	x := shtF32([]int{3, 4}, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
	shtRunCases(t, []shtCase{
		{name: "crop", op: "CenterCropPad", in: []*Tensor{x, shtVec(1, 2)}, want: []*Tensor{shtF32([]int{1, 2}, 6, 7)}},
		{name: "crop odd rounds down", op: "CenterCropPad", in: []*Tensor{x, shtVec(2, 1)}, want: []*Tensor{shtF32([]int{2, 1}, 2, 6)}},
		{name: "pad", op: "CenterCropPad", attrs: []*Attr{shtInts("axes", -1)}, in: []*Tensor{x, shtVec(7)},
			want: []*Tensor{shtF32([]int{3, 7}, 0, 1, 2, 3, 4, 0, 0, 0, 5, 6, 7, 8, 0, 0, 0, 9, 10, 11, 12, 0, 0)}},
		{name: "crop and pad", op: "CenterCropPad", in: []*Tensor{x, shtVec(5, 2)},
			want: []*Tensor{shtF32([]int{5, 2}, 0, 0, 2, 3, 6, 7, 10, 11, 0, 0)}},
		{name: "shape length", op: "CenterCropPad", in: []*Tensor{x, shtVec(5)}, err: "shape has 1 values"},
		// 1 image 1 channel 3x3, block 2x2, stride 1: 4 blocks.
		{name: "col2im", op: "Col2Im", in: []*Tensor{shtF32([]int{1, 4, 4}, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), shtVec(3, 3), shtVec(2, 2)},
			want: []*Tensor{shtF32([]int{1, 1, 3, 3}, 1, 2, 1, 2, 4, 2, 1, 2, 1)}},
		{name: "col2im strides pads", op: "Col2Im", attrs: []*Attr{shtInts("strides", 2, 2), shtInts("pads", 1, 1, 1, 1)},
			in:   []*Tensor{shtF32([]int{1, 1, 4}, 1, 2, 3, 4), shtVec(2, 2), shtVec(1, 1)},
			want: []*Tensor{shtF32([]int{1, 1, 2, 2}, 0, 0, 0, 4)}},
		{name: "col2im mismatch", op: "Col2Im", in: []*Tensor{shtF32([]int{1, 4, 3}, make([]float32, 12)...), shtVec(3, 3), shtVec(2, 2)}, err: "blocks"},
	})
}
