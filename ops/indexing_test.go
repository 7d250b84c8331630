package ops

import (
	"math"
	"testing"
)

func TestTrilu(t *testing.T) {
	x := shtF32([]int{3, 4}, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
	shtRunCases(t, []shtCase{
		{name: "upper", op: "Trilu", in: []*Tensor{x}, want: []*Tensor{shtF32([]int{3, 4}, 1, 2, 3, 4, 0, 6, 7, 8, 0, 0, 11, 12)}},
		{name: "upper k=1", op: "Trilu", in: []*Tensor{x, Scalar(int64(1))}, want: []*Tensor{shtF32([]int{3, 4}, 0, 2, 3, 4, 0, 0, 7, 8, 0, 0, 0, 12)}},
		{name: "lower", op: "Trilu", attrs: []*Attr{shtInt("upper", 0)}, in: []*Tensor{x}, want: []*Tensor{shtF32([]int{3, 4}, 1, 0, 0, 0, 5, 6, 0, 0, 9, 10, 11, 0)}},
		{name: "lower k=-1", op: "Trilu", attrs: []*Attr{shtInt("upper", 0)}, in: []*Tensor{x, Scalar(int64(-1))}, want: []*Tensor{shtF32([]int{3, 4}, 0, 0, 0, 0, 5, 0, 0, 0, 9, 10, 0, 0)}},
		{name: "upper k huge", op: "Trilu", in: []*Tensor{x, Scalar(int64(1 << 40))}, want: []*Tensor{shtF32([]int{3, 4}, make([]float32, 12)...)}},
		{name: "batched int64", op: "Trilu", attrs: []*Attr{shtInt("upper", 0)}, in: []*Tensor{shtI64([]int{2, 2, 2}, 1, 2, 3, 4, 5, 6, 7, 8)},
			want: []*Tensor{shtI64([]int{2, 2, 2}, 1, 0, 3, 4, 5, 0, 7, 8)}},
		{name: "rank 1", op: "Trilu", in: []*Tensor{shtF32([]int{2}, 1, 2)}, err: "rank at least 2"},
	})
}

func TestCumulative(t *testing.T) {
	x := shtF32([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	attrs := func(excl, rev int64) []*Attr { return []*Attr{shtInt("exclusive", excl), shtInt("reverse", rev)} }
	shtRunCases(t, []shtCase{
		{name: "sum axis 1", op: "CumSum", in: []*Tensor{x, Scalar(int64(1))}, want: []*Tensor{shtF32([]int{2, 3}, 1, 3, 6, 4, 9, 15)}},
		{name: "sum axis 0 int32 axis", op: "CumSum", in: []*Tensor{x, Scalar(int32(0))}, want: []*Tensor{shtF32([]int{2, 3}, 1, 2, 3, 5, 7, 9)}},
		{name: "sum exclusive reverse", op: "CumSum", attrs: attrs(1, 1), in: []*Tensor{x, Scalar(int64(-1))}, want: []*Tensor{shtF32([]int{2, 3}, 5, 3, 0, 11, 6, 0)}},
		{name: "sum exclusive", op: "CumSum", attrs: attrs(1, 0), in: []*Tensor{shtI64([]int{3}, 1, 2, 3), Scalar(int64(0))}, want: []*Tensor{shtI64([]int{3}, 0, 1, 3)}},
		{name: "sum reverse", op: "CumSum", attrs: attrs(0, 1), in: []*Tensor{shtI64([]int{3}, 1, 2, 3), Scalar(int64(0))}, want: []*Tensor{shtI64([]int{3}, 6, 5, 3)}},
		{name: "prod", op: "CumProd", version: 26, in: []*Tensor{shtF32([]int{3}, 1, 2, 3), Scalar(int64(0))}, want: []*Tensor{shtF32([]int{3}, 1, 2, 6)}},
		{name: "prod exclusive", op: "CumProd", version: 26, attrs: attrs(1, 0), in: []*Tensor{shtF32([]int{3}, 1, 2, 3), Scalar(int64(0))}, want: []*Tensor{shtF32([]int{3}, 1, 1, 2)}},
		{name: "prod reverse", op: "CumProd", version: 26, attrs: attrs(0, 1), in: []*Tensor{shtF32([]int{3}, 1, 2, 3), Scalar(int64(0))}, want: []*Tensor{shtF32([]int{3}, 6, 6, 3)}},
		{name: "prod exclusive reverse", op: "CumProd", version: 26, attrs: attrs(1, 1), in: []*Tensor{shtF32([]int{3}, 1, 2, 3), Scalar(int64(0))}, want: []*Tensor{shtF32([]int{3}, 6, 3, 1)}},
		{name: "bad axis", op: "CumSum", in: []*Tensor{x, Scalar(int64(2))}, err: "out of range"},
		{name: "string", op: "CumSum", in: []*Tensor{FromSlice(String, []string{"a"}, 1), Scalar(int64(0))}, err: "unsupported type"},
	})
}

func TestNonZeroCompress(t *testing.T) {
	shtRunCases(t, []shtCase{
		{name: "nonzero", op: "NonZero", in: []*Tensor{shtF32([]int{2, 2}, 1, 0, float32(math.Copysign(0, -1)), 3)}, want: []*Tensor{shtI64([]int{2, 2}, 0, 1, 0, 1)}},
		{name: "nonzero bool", op: "NonZero", in: []*Tensor{FromSlice(Bool, []bool{false, true, true}, 3)}, want: []*Tensor{shtI64([]int{1, 2}, 1, 2)}},
		{name: "nonzero int8 none", op: "NonZero", in: []*Tensor{FromSlice(Int8, []int8{0, 0}, 2)}, want: []*Tensor{shtI64([]int{1, 0})}},
		{name: "compress axis 0", op: "Compress", attrs: []*Attr{shtInt("axis", 0)}, in: []*Tensor{shtF32([]int{3, 2}, 1, 2, 3, 4, 5, 6), FromSlice(Bool, []bool{false, true}, 2)},
			want: []*Tensor{shtF32([]int{1, 2}, 3, 4)}},
		{name: "compress axis -1", op: "Compress", attrs: []*Attr{shtInt("axis", -1)}, in: []*Tensor{shtF32([]int{3, 2}, 1, 2, 3, 4, 5, 6), FromSlice(Bool, []bool{false, true}, 2)},
			want: []*Tensor{shtF32([]int{3, 1}, 2, 4, 6)}},
		{name: "compress flat", op: "Compress", in: []*Tensor{shtF32([]int{3, 2}, 1, 2, 3, 4, 5, 6), FromSlice(Bool, []bool{false, true, false, false, true}, 5)},
			want: []*Tensor{shtF32([]int{2}, 2, 5)}},
		{name: "compress beyond", op: "Compress", attrs: []*Attr{shtInt("axis", 0)}, in: []*Tensor{shtF32([]int{1}, 1), FromSlice(Bool, []bool{false, true}, 2)}, err: "beyond size 1"},
	})
}

func TestUnique(t *testing.T) {
	x := shtF32([]int{6}, 2, 1, 1, 3, 4, 3)
	m := shtF32([]int{3, 3}, 1, 0, 0, 1, 0, 0, 2, 3, 4)
	shtRunCases(t, []shtCase{
		{name: "sorted", op: "Unique", in: []*Tensor{x}, nout: 4,
			want: []*Tensor{shtF32([]int{4}, 1, 2, 3, 4), shtVec(1, 0, 3, 4), shtVec(1, 0, 0, 2, 3, 2), shtVec(2, 1, 2, 1)}},
		{name: "not sorted", op: "Unique", attrs: []*Attr{shtInt("sorted", 0)}, in: []*Tensor{x}, nout: 4,
			want: []*Tensor{shtF32([]int{4}, 2, 1, 3, 4), shtVec(0, 1, 3, 4), shtVec(0, 1, 1, 2, 3, 2), shtVec(1, 2, 2, 1)}},
		{name: "axis 0", op: "Unique", attrs: []*Attr{shtInt("axis", 0)}, in: []*Tensor{m}, nout: 4,
			want: []*Tensor{shtF32([]int{2, 3}, 1, 0, 0, 2, 3, 4), shtVec(0, 2), shtVec(0, 0, 1), shtVec(2, 1)}},
		{name: "axis 1", op: "Unique", attrs: []*Attr{shtInt("axis", -1)}, in: []*Tensor{m}, nout: 2,
			want: []*Tensor{shtF32([]int{3, 3}, 0, 0, 1, 0, 0, 1, 3, 4, 2), shtVec(1, 2, 0)}},
		{name: "strings", op: "Unique", in: []*Tensor{FromSlice(String, []string{"b", "a", "b"}, 3)},
			want: []*Tensor{FromSlice(String, []string{"a", "b"}, 2)}},
		{name: "bad axis", op: "Unique", attrs: []*Attr{shtInt("axis", 2)}, in: []*Tensor{m}, err: "out of range"},
	})
}

func TestReverseSequence(t *testing.T) {
	// [time 3, batch 2]
	x := shtF32([]int{3, 2}, 1, 2, 3, 4, 5, 6)
	shtRunCases(t, []shtCase{
		{name: "time major", op: "ReverseSequence", in: []*Tensor{x, shtVec(3, 2)}, want: []*Tensor{shtF32([]int{3, 2}, 5, 4, 3, 2, 1, 6)}},
		{name: "batch major", op: "ReverseSequence", attrs: []*Attr{shtInt("batch_axis", 0), shtInt("time_axis", 1)},
			in:   []*Tensor{shtF32([]int{2, 3, 2}, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12), shtVec(2, 0)},
			want: []*Tensor{shtF32([]int{2, 3, 2}, 3, 4, 1, 2, 5, 6, 7, 8, 9, 10, 11, 12)}},
		{name: "too long", op: "ReverseSequence", in: []*Tensor{x, shtVec(4, 1)}, err: "out of range"},
		{name: "bad axes", op: "ReverseSequence", attrs: []*Attr{shtInt("batch_axis", 0)}, in: []*Tensor{x, shtVec(1, 1)}, err: "batch_axis"},
	})
}
