package ops

import "testing"

func TestScatter(t *testing.T) {
	data := shtF32([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	idx := shtI64([]int{1, 2}, 2, -3)
	upd := shtF32([]int{1, 2}, 10, 20)
	red := func(s string) []*Attr { return []*Attr{shtInt("axis", 1), shtStr("reduction", s)} }
	shtRunCases(t, []shtCase{
		{name: "elements none", op: "ScatterElements", attrs: []*Attr{shtInt("axis", 1)}, in: []*Tensor{data, idx, upd},
			want: []*Tensor{shtF32([]int{2, 3}, 20, 2, 10, 4, 5, 6)}},
		{name: "elements axis 0", op: "ScatterElements", in: []*Tensor{data, shtI64([]int{1, 3}, 1, 0, 1), shtF32([]int{1, 3}, 7, 8, 9)},
			want: []*Tensor{shtF32([]int{2, 3}, 1, 8, 3, 7, 5, 9)}},
		{name: "elements add duplicates", op: "ScatterElements", version: 16, attrs: red("add"), in: []*Tensor{data, shtI64([]int{1, 2}, 1, 1), upd},
			want: []*Tensor{shtF32([]int{2, 3}, 1, 32, 3, 4, 5, 6)}},
		{name: "elements mul", op: "ScatterElements", version: 16, attrs: red("mul"), in: []*Tensor{data, idx, upd},
			want: []*Tensor{shtF32([]int{2, 3}, 20, 2, 30, 4, 5, 6)}},
		{name: "elements max", op: "ScatterElements", version: 18, attrs: red("max"), in: []*Tensor{data, idx, shtF32([]int{1, 2}, 0, 5)},
			want: []*Tensor{shtF32([]int{2, 3}, 5, 2, 3, 4, 5, 6)}},
		{name: "elements min int32", op: "ScatterElements", version: 18, attrs: red("min"),
			in:   []*Tensor{FromSlice(Int32, []int32{1, 2, 3}, 1, 3), shtI64([]int{1, 2}, 0, 2), FromSlice(Int32, []int32{0, 5}, 1, 2)},
			want: []*Tensor{FromSlice(Int32, []int32{0, 2, 3}, 1, 3)}},
		{name: "elements f16 add", op: "ScatterElements", version: 18, attrs: []*Attr{shtStr("reduction", "add")},
			in:   []*Tensor{FromSlice(Float16, []F16{F16From(1), F16From(2)}, 2), shtVec(1), FromSlice(Float16, []F16{F16From(0.5)}, 1)},
			want: []*Tensor{FromSlice(Float16, []F16{F16From(1), F16From(2.5)}, 2)}},
		{name: "scatter-9", op: "Scatter", version: 9, attrs: []*Attr{shtInt("axis", 1)}, in: []*Tensor{data, idx, upd},
			want: []*Tensor{shtF32([]int{2, 3}, 20, 2, 10, 4, 5, 6)}},
		{name: "elements out of range", op: "ScatterElements", attrs: []*Attr{shtInt("axis", 1)}, in: []*Tensor{data, shtI64([]int{1, 2}, 0, 3), upd}, err: "index 3 at position 1"},
		{name: "elements shape mismatch", op: "ScatterElements", in: []*Tensor{data, shtVec(0), upd}, err: "differs"},
		{name: "bad reduction", op: "ScatterElements", attrs: []*Attr{shtStr("reduction", "avg")}, in: []*Tensor{data, idx, upd}, err: "unsupported reduction"},
		{name: "nd rows", op: "ScatterND", in: []*Tensor{data, shtI64([]int{1, 1}, -1), shtF32([]int{1, 3}, 7, 8, 9)},
			want: []*Tensor{shtF32([]int{2, 3}, 1, 2, 3, 7, 8, 9)}},
		{name: "nd elements", op: "ScatterND", in: []*Tensor{data, shtI64([]int{2, 2}, 0, 1, 1, 2), shtF32([]int{2}, 7, 8)},
			want: []*Tensor{shtF32([]int{2, 3}, 1, 7, 3, 4, 5, 8)}},
		{name: "nd add", op: "ScatterND", version: 16, attrs: []*Attr{shtStr("reduction", "add")}, in: []*Tensor{data, shtI64([]int{2, 1}, 0, 0), shtF32([]int{2, 3}, 1, 1, 1, 2, 2, 2)},
			want: []*Tensor{shtF32([]int{2, 3}, 4, 5, 6, 4, 5, 6)}},
		{name: "nd mul", op: "ScatterND", version: 16, attrs: []*Attr{shtStr("reduction", "mul")}, in: []*Tensor{data, shtI64([]int{1, 2}, 1, 1), shtF32([]int{1}, 3)},
			want: []*Tensor{shtF32([]int{2, 3}, 1, 2, 3, 4, 15, 6)}},
		{name: "nd updates shape", op: "ScatterND", in: []*Tensor{data, shtI64([]int{1, 1}, 0), shtF32([]int{1, 2}, 7, 8)}, err: "updates shape"},
		{name: "nd out of range", op: "ScatterND", in: []*Tensor{data, shtI64([]int{1, 1}, 2), shtF32([]int{1, 3}, 7, 8, 9)}, err: "index 2 at position 0"},
	})
}

func TestTensorScatter(t *testing.T) {
	// cache [batch 2, seq 3, 2]
	past := shtF32([]int{2, 3, 2}, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6)
	upd := shtF32([]int{2, 2, 2}, 10, 10, 11, 11, 20, 20, 21, 21)
	shtRunCases(t, []shtCase{
		{name: "prefill", op: "TensorScatter", version: 24, in: []*Tensor{past, upd},
			want: []*Tensor{shtF32([]int{2, 3, 2}, 10, 10, 11, 11, 3, 3, 20, 20, 21, 21, 6, 6)}},
		{name: "linear", op: "TensorScatter", version: 24, in: []*Tensor{past, upd, shtVec(1, 0)},
			want: []*Tensor{shtF32([]int{2, 3, 2}, 1, 1, 10, 10, 11, 11, 20, 20, 21, 21, 6, 6)}},
		{name: "circular", op: "TensorScatter", version: 24, attrs: []*Attr{shtStr("mode", "circular")}, in: []*Tensor{past, upd, shtVec(2, 4)},
			want: []*Tensor{shtF32([]int{2, 3, 2}, 11, 11, 2, 2, 10, 10, 4, 4, 20, 20, 21, 21)}},
		{name: "axis 2 of 4-D", op: "TensorScatter", version: 24, attrs: []*Attr{shtInt("axis", 1)},
			in:   []*Tensor{shtF32([]int{1, 3, 1}, 1, 2, 3), shtF32([]int{1, 1, 1}, 9), shtVec(2)},
			want: []*Tensor{shtF32([]int{1, 3, 1}, 1, 2, 9)}},
		{name: "linear overflow", op: "TensorScatter", version: 24, in: []*Tensor{past, upd, shtVec(2, 0)}, err: "exceeds the cache length"},
		{name: "axis 0", op: "TensorScatter", version: 24, attrs: []*Attr{shtInt("axis", 0)}, in: []*Tensor{past, upd}, err: "batch"},
		{name: "shape mismatch", op: "TensorScatter", version: 24, in: []*Tensor{past, shtF32([]int{2, 2, 1}, 1, 2, 3, 4)}, err: "incompatible"},
	})
}
