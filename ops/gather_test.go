package ops

import (
	"math/rand"
	"testing"
)

func TestGather(t *testing.T) {
	x := shtF32([]int{3, 2}, 1, 2, 3, 4, 5, 6)
	shtRunCases(t, []shtCase{
		{name: "axis 0 rows", op: "Gather", in: []*Tensor{x, shtI64([]int{2, 2}, 0, 2, -1, 1)},
			want: []*Tensor{shtF32([]int{2, 2, 2}, 1, 2, 5, 6, 5, 6, 3, 4)}},
		{name: "axis 1", op: "Gather", attrs: []*Attr{shtInt("axis", 1)}, in: []*Tensor{x, FromSlice(Int32, []int32{1, 0, 1}, 3)},
			want: []*Tensor{shtF32([]int{3, 3}, 2, 1, 2, 4, 3, 4, 6, 5, 6)}},
		{name: "scalar index", op: "Gather", in: []*Tensor{x, Scalar(int64(-2))}, want: []*Tensor{shtF32([]int{2}, 3, 4)}},
		{name: "axis -1 scalar index", op: "Gather", attrs: []*Attr{shtInt("axis", -1)}, in: []*Tensor{x, Scalar(int32(1))}, want: []*Tensor{shtF32([]int{3}, 2, 4, 6)}},
		{name: "strings", op: "Gather", in: []*Tensor{FromSlice(String, []string{"a", "b", "c"}, 3), shtVec(2, 0)}, want: []*Tensor{FromSlice(String, []string{"c", "a"}, 2)}},
		{name: "empty indices", op: "Gather", in: []*Tensor{x, shtI64([]int{0})}, want: []*Tensor{shtF32([]int{0, 2})}},
		{name: "out of range", op: "Gather", in: []*Tensor{x, shtVec(0, 3)}, err: "index 3 at position 1 out of range [-3, 3)"},
		{name: "out of range negative", op: "Gather", in: []*Tensor{x, FromSlice(Int32, []int32{-4}, 1)}, err: "index -4"},
		{name: "float indices", op: "Gather", in: []*Tensor{x, shtF32([]int{1}, 0)}, err: "int32 or int64"},
		{name: "bad axis", op: "Gather", attrs: []*Attr{shtInt("axis", 2)}, in: []*Tensor{x, shtVec(0)}, err: "out of range"},
		{name: "elements", op: "GatherElements", attrs: []*Attr{shtInt("axis", 1)}, in: []*Tensor{shtF32([]int{2, 2}, 1, 2, 3, 4), shtI64([]int{2, 2}, 0, 0, 1, 0)},
			want: []*Tensor{shtF32([]int{2, 2}, 1, 1, 4, 3)}},
		{name: "elements axis 0 negative", op: "GatherElements", in: []*Tensor{shtF32([]int{3, 3}, 1, 2, 3, 4, 5, 6, 7, 8, 9), shtI64([]int{2, 3}, -1, 0, 2, 1, -2, 0)},
			want: []*Tensor{shtF32([]int{2, 3}, 7, 2, 9, 4, 5, 3)}},
		{name: "elements smaller index", op: "GatherElements", attrs: []*Attr{shtInt("axis", 0)}, in: []*Tensor{shtF32([]int{2, 3}, 1, 2, 3, 4, 5, 6), shtI64([]int{1, 2}, 1, 0)},
			want: []*Tensor{shtF32([]int{1, 2}, 4, 2)}},
		{name: "elements out of range", op: "GatherElements", in: []*Tensor{shtF32([]int{2}, 1, 2), shtVec(2)}, err: "index 2 at position 0"},
		{name: "elements rank", op: "GatherElements", in: []*Tensor{shtF32([]int{2}, 1, 2), shtI64([]int{1, 1}, 0)}, err: "rank"},
		{name: "nd", op: "GatherND", in: []*Tensor{shtF32([]int{2, 2}, 1, 2, 3, 4), shtI64([]int{2, 2}, 0, 0, 1, 1)}, want: []*Tensor{shtF32([]int{2}, 1, 4)}},
		{name: "nd slices", op: "GatherND", in: []*Tensor{shtF32([]int{2, 2}, 1, 2, 3, 4), shtI64([]int{2, 1}, 1, -2)}, want: []*Tensor{shtF32([]int{2, 2}, 3, 4, 1, 2)}},
		{name: "nd batch_dims", op: "GatherND", attrs: []*Attr{shtInt("batch_dims", 1)},
			in:   []*Tensor{shtF32([]int{2, 2, 2}, 1, 2, 3, 4, 5, 6, 7, 8), shtI64([]int{2, 1}, 1, 0)},
			want: []*Tensor{shtF32([]int{2, 2}, 3, 4, 5, 6)}},
		{name: "nd out of range", op: "GatherND", in: []*Tensor{shtF32([]int{2, 2}, 1, 2, 3, 4), shtI64([]int{1, 2}, 0, 2)}, err: "index 2 at position 1"},
		{name: "nd too deep", op: "GatherND", in: []*Tensor{shtF32([]int{2}, 1, 2), shtI64([]int{1, 2}, 0, 0)}, err: "address more"},
	})
}

func TestGatherLargeParallel(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	rows, width, n := 500, 96, 700
	table := make([]float32, rows*width)
	for i := range table {
		table[i] = r.Float32()
	}
	idx := make([]int64, n)
	want := make([]float32, 0, n*width)
	for i := range idx {
		idx[i] = int64(r.Intn(2*rows) - rows)
		j := int(idx[i])
		if j < 0 {
			j += rows
		}
		want = append(want, table[j*width:(j+1)*width]...)
	}
	shtRunCases(t, []shtCase{{name: "embedding", op: "Gather", in: []*Tensor{FromSlice(Float, table, rows, width), FromSlice(Int64, idx, 1, n)},
		want: []*Tensor{FromSlice(Float, want, 1, n, width)}}})
}

func BenchmarkGatherEmbedding(b *testing.B) {
	// BERT-base word embeddings: [30522, 768] table, 1x128 token ids.
	table := FromSlice(Float, make([]float32, 30522*768), 30522, 768)
	ids := make([]int64, 128)
	for i := range ids {
		ids[i] = int64(i * 211 % 30522)
	}
	shtBench(b, &shtCase{op: "Gather", in: []*Tensor{table, FromSlice(Int64, ids, 1, 128)}})
}
