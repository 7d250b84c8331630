package ops

import (
	"context"
	"math/rand"
	"reflect"
	"strings"
	"sync"
	"testing"
)

var (
	shtRegOnce sync.Once
	shtReg     *Registry
)

func shtRegistry() *Registry {
	shtRegOnce.Do(func() { shtReg = DefaultRegistry() })
	return shtReg
}

func shtInts(name string, v ...int64) *Attr { return &Attr{Name: name, Type: AttrInts, Ints: v} }
func shtInt(name string, v int64) *Attr     { return &Attr{Name: name, Type: AttrInt, I: v} }
func shtStr(name, v string) *Attr           { return &Attr{Name: name, Type: AttrString, S: v} }

// shtF32 makes a float32 tensor; no values means zeros.
func shtF32(shape []int, v ...float32) *Tensor {
	if len(v) == 0 {
		v = make([]float32, NumElements(shape))
	}
	return FromSlice(Float, v, shape...)
}
func shtI64(shape []int, v ...int64) *Tensor { return FromSlice(Int64, v, shape...) }
func shtVec(v ...int64) *Tensor              { return FromSlice(Int64, v, len(v)) }

// shtCase is one kernel invocation with its expected outputs (nil Data
// entries are not checked) or an error substring.
type shtCase struct {
	name    string
	op      string
	version int
	attrs   []*Attr
	in      []*Tensor
	nout    int
	want    []*Tensor
	err     string
}

// shtRun builds the node and runs it once on the heap and once on an arena
// with a worker pool.
func shtRun(t testing.TB, c *shtCase, arena bool) ([]*Tensor, error) {
	t.Helper()
	inputs := make([]string, len(c.in))
	for i, x := range c.in {
		if x != nil {
			inputs[i] = "in" + string(rune('a'+i))
		}
	}
	nout := max(c.nout, len(c.want), 1)
	outputs := make([]string, nout)
	for i := range outputs {
		outputs[i] = "out" + string(rune('a'+i))
	}
	version := c.version
	if version == 0 {
		version = 21
	}
	n := &Node{OpType: c.op, Domain: DomainONNX, Version: version, Attrs: NewAttrs(c.attrs...), Inputs: inputs, Outputs: outputs}
	k, err := shtRegistry().Build(n)
	if err != nil {
		return nil, err
	}
	kern, ok := k.(Kernel)
	if !ok {
		t.Fatalf("%s: %T is not a tensor kernel", c.name, k)
	}
	var ec *Context
	if arena {
		pool := NewPool(4)
		defer pool.Close()
		ec = NewContext(context.Background(), pool, NewArena())
	} else {
		ec = NewContext(context.Background(), nil, nil)
	}
	out := make([]*Tensor, nout)
	if err := kern.Run(ec, c.in, out); err != nil {
		return nil, err
	}
	for i, o := range out {
		if o == nil {
			t.Fatalf("%s: output %d not set", c.name, i)
		}
		for _, x := range c.in {
			if x == o {
				t.Fatalf("%s: output %d is an input", c.name, i)
			}
		}
	}
	return out, nil
}

func shtRunCases(t *testing.T, cases []shtCase) {
	t.Helper()
	for _, c := range cases {
		for _, arena := range []bool{false, true} {
			// Inputs must never be modified: compare against a snapshot.
			saved := make([]*Tensor, len(c.in))
			for i, x := range c.in {
				if x != nil {
					saved[i] = x.Clone()
				}
			}
			out, err := shtRun(t, &c, arena)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("%s: error %v, want one containing %q", c.name, err, c.err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			for i, w := range c.want {
				if w == nil {
					continue
				}
				g := out[i]
				if g.DType != w.DType || !EqualShapes(g.Shape, w.Shape) || !shtSameData(g.Data, w.Data) {
					t.Errorf("%s (arena %v): output %d = %s %v, want %s %v", c.name, arena, i, g, g.Data, w, w.Data)
				}
			}
			for i, x := range c.in {
				if x != nil && !shtSameData(x.Data, saved[i].Data) {
					t.Errorf("%s: input %d was modified", c.name, i)
				}
			}
		}
	}
}

func TestShapeViews(t *testing.T) {
	x := shtF32([]int{2, 3, 4}, shtSeq(24)...)
	seq := shtSeq(24)
	shtRunCases(t, []shtCase{
		{name: "reshape -1", op: "Reshape", in: []*Tensor{x, shtVec(4, -1)}, want: []*Tensor{shtF32([]int{4, 6}, seq...)}},
		{name: "reshape 0 copies", op: "Reshape", in: []*Tensor{x, shtVec(0, 0, 2, 2)}, want: []*Tensor{shtF32([]int{2, 3, 2, 2}, seq...)}},
		{name: "reshape 0 -1", op: "Reshape", in: []*Tensor{x, shtVec(0, -1)}, want: []*Tensor{shtF32([]int{2, 12}, seq...)}},
		{name: "reshape allowzero", op: "Reshape", attrs: []*Attr{shtInt("allowzero", 1)}, in: []*Tensor{shtF32([]int{0, 3}), shtVec(3, 0)}, want: []*Tensor{shtF32([]int{3, 0})}},
		{name: "reshape-1 attr", op: "Reshape", version: 1, attrs: []*Attr{shtInts("shape", 6, -1)}, in: []*Tensor{x}, want: []*Tensor{shtF32([]int{6, 4}, seq...)}},
		{name: "reshape int32 shape", op: "Reshape", in: []*Tensor{x, FromSlice(Int32, []int32{24}, 1)}, want: []*Tensor{shtF32([]int{24}, seq...)}},
		{name: "reshape bad count", op: "Reshape", in: []*Tensor{x, shtVec(5, 5)}, err: "cannot reshape"},
		{name: "reshape two -1", op: "Reshape", in: []*Tensor{x, shtVec(-1, -1)}, err: "more than one -1"},
		{name: "reshape allowzero with -1", op: "Reshape", attrs: []*Attr{shtInt("allowzero", 1)}, in: []*Tensor{x, shtVec(0, -1)}, err: "both 0 and -1"},
		{name: "flatten default", op: "Flatten", in: []*Tensor{x}, want: []*Tensor{shtF32([]int{2, 12}, seq...)}},
		{name: "flatten 0", op: "Flatten", attrs: []*Attr{shtInt("axis", 0)}, in: []*Tensor{x}, want: []*Tensor{shtF32([]int{1, 24}, seq...)}},
		{name: "flatten -1", op: "Flatten", attrs: []*Attr{shtInt("axis", -1)}, in: []*Tensor{x}, want: []*Tensor{shtF32([]int{6, 4}, seq...)}},
		{name: "flatten 3", op: "Flatten", attrs: []*Attr{shtInt("axis", 3)}, in: []*Tensor{x}, want: []*Tensor{shtF32([]int{24, 1}, seq...)}},
		{name: "flatten bad axis", op: "Flatten", attrs: []*Attr{shtInt("axis", 4)}, in: []*Tensor{x}, err: "out of range"},
		{name: "squeeze all", op: "Squeeze", in: []*Tensor{shtF32([]int{1, 3, 1}, 1, 2, 3)}, want: []*Tensor{shtF32([]int{3}, 1, 2, 3)}},
		{name: "squeeze input axes", op: "Squeeze", in: []*Tensor{shtF32([]int{1, 3, 1}, 1, 2, 3), shtVec(-1)}, want: []*Tensor{shtF32([]int{1, 3}, 1, 2, 3)}},
		{name: "squeeze-11 attr", op: "Squeeze", version: 11, attrs: []*Attr{shtInts("axes", 0)}, in: []*Tensor{shtF32([]int{1, 3, 1}, 1, 2, 3)}, want: []*Tensor{shtF32([]int{3, 1}, 1, 2, 3)}},
		{name: "squeeze non-1", op: "Squeeze", in: []*Tensor{shtF32([]int{1, 3, 1}, 1, 2, 3), shtVec(1)}, err: "cannot squeeze axis 1"},
		{name: "squeeze bad axis", op: "Squeeze", in: []*Tensor{shtF32([]int{1, 3, 1}, 1, 2, 3), shtVec(3)}, err: "out of range"},
		{name: "unsqueeze", op: "Unsqueeze", in: []*Tensor{shtF32([]int{3}, 1, 2, 3), shtVec(0, -1)}, want: []*Tensor{shtF32([]int{1, 3, 1}, 1, 2, 3)}},
		{name: "unsqueeze unsorted", op: "Unsqueeze", in: []*Tensor{shtF32([]int{3}, 1, 2, 3), shtVec(2, 0)}, want: []*Tensor{shtF32([]int{1, 3, 1}, 1, 2, 3)}},
		{name: "unsqueeze-1 attr", op: "Unsqueeze", version: 1, attrs: []*Attr{shtInts("axes", 1)}, in: []*Tensor{shtF32([]int{3}, 1, 2, 3)}, want: []*Tensor{shtF32([]int{3, 1}, 1, 2, 3)}},
		{name: "unsqueeze scalar", op: "Unsqueeze", in: []*Tensor{Scalar(float32(5)), shtVec(0)}, want: []*Tensor{shtF32([]int{1}, 5)}},
		{name: "unsqueeze repeated", op: "Unsqueeze", in: []*Tensor{shtF32([]int{3}, 1, 2, 3), shtVec(0, 0)}, err: "repeated"},
		{name: "identity", op: "Identity", in: []*Tensor{x}, want: []*Tensor{shtF32([]int{2, 3, 4}, seq...)}},
		{name: "shape", op: "Shape", in: []*Tensor{x}, want: []*Tensor{shtVec(2, 3, 4)}},
		{name: "shape start end", op: "Shape", attrs: []*Attr{shtInt("start", -2), shtInt("end", 10)}, in: []*Tensor{x}, want: []*Tensor{shtVec(3, 4)}},
		{name: "shape empty range", op: "Shape", attrs: []*Attr{shtInt("start", 2), shtInt("end", 1)}, in: []*Tensor{x}, want: []*Tensor{shtVec()}},
		{name: "size", op: "Size", in: []*Tensor{x}, want: []*Tensor{Scalar(int64(24))}},
	})
}

func TestIdentitySequence(t *testing.T) {
	n := &Node{OpType: "Identity", Domain: DomainONNX, Version: 16, Attrs: NewAttrs(), Inputs: []string{"a"}, Outputs: []string{"b"},
		InputTypes: []*Type{{Kind: KindSequence, Elem: &Type{Kind: KindTensor, DType: Float}}}}
	k, err := shtRegistry().Build(n)
	if err != nil {
		t.Fatal(err)
	}
	vk, ok := k.(ValueKernel)
	if !ok {
		t.Fatalf("Identity on a sequence built %T", k)
	}
	s := &Sequence{ElemType: n.InputTypes[0].Elem, Values: []Value{shtF32([]int{1}, 1)}}
	out := make([]Value, 1)
	if err := vk.RunValues(NewContext(context.Background(), nil, nil), []Value{s}, out); err != nil {
		t.Fatal(err)
	}
	got, ok := out[0].(*Sequence)
	if !ok || got == s || len(got.Values) != 1 || got.Values[0] != s.Values[0] {
		t.Fatalf("Identity(sequence) = %#v", out[0])
	}
}

// shtSameData compares backing slices, treating nil and empty alike.
func shtSameData(a, b any) bool {
	if SliceLen(a) == 0 && SliceLen(b) == 0 {
		return reflect.TypeOf(a) == reflect.TypeOf(b)
	}
	return reflect.DeepEqual(a, b)
}

// shtSeq returns 0, 1, ..., n-1 as float32.
func shtSeq(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(i)
	}
	return s
}

func TestExpandTile(t *testing.T) {
	shtRunCases(t, []shtCase{
		{name: "expand", op: "Expand", in: []*Tensor{shtF32([]int{3, 1}, 1, 2, 3), shtVec(2, 1, 2)},
			want: []*Tensor{shtF32([]int{2, 3, 2}, 1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3)}},
		{name: "expand keeps larger input dim", op: "Expand", in: []*Tensor{shtF32([]int{1, 3}, 1, 2, 3), shtVec(2, 1)},
			want: []*Tensor{shtF32([]int{2, 3}, 1, 2, 3, 1, 2, 3)}},
		{name: "expand string", op: "Expand", in: []*Tensor{FromSlice(String, []string{"a", "b"}, 2), shtVec(2, 2)},
			want: []*Tensor{FromSlice(String, []string{"a", "b", "a", "b"}, 2, 2)}},
		{name: "expand bad", op: "Expand", in: []*Tensor{shtF32([]int{3}, 1, 2, 3), shtVec(2)}, err: "cannot be broadcast"},
		{name: "tile", op: "Tile", in: []*Tensor{shtF32([]int{2, 2}, 1, 2, 3, 4), shtVec(2, 3)},
			want: []*Tensor{shtF32([]int{4, 6}, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4)}},
		{name: "tile zero", op: "Tile", in: []*Tensor{shtF32([]int{2}, 1, 2), shtVec(0)}, want: []*Tensor{shtF32([]int{0})}},
		{name: "tile-1", op: "Tile", version: 1, in: []*Tensor{shtF32([]int{2, 2}, 1, 2, 3, 4), shtVec(2), shtVec(1)},
			want: []*Tensor{shtF32([]int{2, 4}, 1, 2, 1, 2, 3, 4, 3, 4)}},
		{name: "tile int8", op: "Tile", in: []*Tensor{FromSlice(Int8, []int8{-1, 2}, 2), shtVec(2)}, want: []*Tensor{FromSlice(Int8, []int8{-1, 2, -1, 2}, 4)}},
		{name: "tile rank mismatch", op: "Tile", in: []*Tensor{shtF32([]int{2}, 1, 2), shtVec(1, 2)}, err: "repeats has 2 values"},
		{name: "tile negative", op: "Tile", in: []*Tensor{shtF32([]int{2}, 1, 2), shtVec(-1)}, err: "negative"},
	})
}

// shtNaiveTranspose permutes x by index arithmetic.
func shtNaiveTranspose(x []float32, shape, perm []int) ([]float32, []int) {
	r := len(shape)
	outShape := make([]int, r)
	for i, p := range perm {
		outShape[i] = shape[p]
	}
	st := Strides(shape)
	out := make([]float32, len(x))
	idx := make([]int, r)
	for o := range out {
		rem := o
		for d := r - 1; d >= 0; d-- {
			idx[d] = rem % outShape[d]
			rem /= outShape[d]
		}
		src := 0
		for d := range r {
			src += idx[d] * st[perm[d]]
		}
		out[o] = x[src]
	}
	return out, outShape
}

func TestTranspose(t *testing.T) {
	shtRunCases(t, []shtCase{
		{name: "default 2-D", op: "Transpose", in: []*Tensor{shtF32([]int{2, 3}, 1, 2, 3, 4, 5, 6)}, want: []*Tensor{shtF32([]int{3, 2}, 1, 4, 2, 5, 3, 6)}},
		{name: "perm 1 0 2", op: "Transpose", attrs: []*Attr{shtInts("perm", 1, 0, 2)}, in: []*Tensor{shtF32([]int{2, 2, 2}, 1, 2, 3, 4, 5, 6, 7, 8)},
			want: []*Tensor{shtF32([]int{2, 2, 2}, 1, 2, 5, 6, 3, 4, 7, 8)}},
		{name: "scalar", op: "Transpose", in: []*Tensor{Scalar(float32(3))}, want: []*Tensor{Scalar(float32(3))}},
		{name: "bad perm length", op: "Transpose", attrs: []*Attr{shtInts("perm", 1, 0)}, in: []*Tensor{shtF32([]int{1, 1, 1}, 1)}, err: "does not match"},
		{name: "not a permutation", op: "Transpose", attrs: []*Attr{shtInts("perm", 0, 0)}, in: []*Tensor{shtF32([]int{1, 1}, 1)}, err: "not a permutation"},
	})
	r := rand.New(rand.NewSource(1))
	for _, tc := range []struct{ shape, perm []int }{
		{[]int{2, 5, 3, 4}, []int{0, 2, 1, 3}},
		{[]int{64, 48}, []int{1, 0}},
		{[]int{3, 40, 33}, []int{0, 2, 1}},
		{[]int{2, 3, 4, 5, 6}, []int{4, 2, 0, 3, 1}},
		{[]int{2, 128, 12, 64}, []int{0, 2, 1, 3}}, // large: parallel path
		{[]int{300, 257}, []int{1, 0}},
	} {
		x := make([]float32, NumElements(tc.shape))
		for i := range x {
			x[i] = r.Float32()
		}
		want, wshape := shtNaiveTranspose(x, tc.shape, tc.perm)
		perm := make([]int64, len(tc.perm))
		for i, p := range tc.perm {
			perm[i] = int64(p)
		}
		shtRunCases(t, []shtCase{{name: "transpose " + ShapeString(tc.shape), op: "Transpose", attrs: []*Attr{shtInts("perm", perm...)},
			in: []*Tensor{FromSlice(Float, x, tc.shape...)}, want: []*Tensor{FromSlice(Float, want, wshape...)}}})
	}
}

func TestConcatSplit(t *testing.T) {
	a := shtF32([]int{2, 2}, 1, 2, 3, 4)
	b := shtF32([]int{2, 1}, 5, 6)
	shtRunCases(t, []shtCase{
		{name: "concat axis 1", op: "Concat", attrs: []*Attr{shtInt("axis", 1)}, in: []*Tensor{a, b}, want: []*Tensor{shtF32([]int{2, 3}, 1, 2, 5, 3, 4, 6)}},
		{name: "concat axis -2", op: "Concat", attrs: []*Attr{shtInt("axis", -2)}, in: []*Tensor{a, a}, want: []*Tensor{shtF32([]int{4, 2}, 1, 2, 3, 4, 1, 2, 3, 4)}},
		{name: "concat empty input", op: "Concat", attrs: []*Attr{shtInt("axis", 0)}, in: []*Tensor{shtF32([]int{0, 2}), a}, want: []*Tensor{shtF32([]int{2, 2}, 1, 2, 3, 4)}},
		{name: "concat-1 default axis", op: "Concat", version: 1, in: []*Tensor{a, b}, want: []*Tensor{shtF32([]int{2, 3}, 1, 2, 5, 3, 4, 6)}},
		{name: "concat missing axis", op: "Concat", version: 13, in: []*Tensor{a, b}, err: "missing attribute"},
		{name: "concat mismatch", op: "Concat", attrs: []*Attr{shtInt("axis", 0)}, in: []*Tensor{a, b}, err: "incompatible"},
		{name: "concat type mismatch", op: "Concat", attrs: []*Attr{shtInt("axis", 0)}, in: []*Tensor{a, shtI64([]int{1, 2}, 1, 2)}, err: "has type"},
		{name: "split equal", op: "Split", version: 13, attrs: []*Attr{shtInt("axis", 1)}, in: []*Tensor{shtF32([]int{2, 4}, 1, 2, 3, 4, 5, 6, 7, 8)}, nout: 2,
			want: []*Tensor{shtF32([]int{2, 2}, 1, 2, 5, 6), shtF32([]int{2, 2}, 3, 4, 7, 8)}},
		{name: "split-2 attr", op: "Split", version: 2, attrs: []*Attr{shtInts("split", 1, 3)}, in: []*Tensor{shtF32([]int{4}, 1, 2, 3, 4)},
			want: []*Tensor{shtF32([]int{1}, 1), shtF32([]int{3}, 2, 3, 4)}},
		{name: "split-13 input", op: "Split", version: 13, in: []*Tensor{shtF32([]int{4}, 1, 2, 3, 4), shtVec(3, 0, 1)},
			want: []*Tensor{shtF32([]int{3}, 1, 2, 3), shtF32([]int{0}), shtF32([]int{1}, 4)}},
		{name: "split-18 num_outputs uneven", op: "Split", version: 18, attrs: []*Attr{shtInt("num_outputs", 3)}, in: []*Tensor{shtF32([]int{5}, 1, 2, 3, 4, 5)},
			want: []*Tensor{shtF32([]int{2}, 1, 2), shtF32([]int{2}, 3, 4), shtF32([]int{1}, 5)}},
		{name: "split bad sum", op: "Split", version: 13, in: []*Tensor{shtF32([]int{4}, 1, 2, 3, 4), shtVec(1, 2)}, nout: 2, err: "sums to 3"},
		{name: "split uneven equal", op: "Split", version: 13, in: []*Tensor{shtF32([]int{3}, 1, 2, 3)}, nout: 2, err: "equal parts"},
		{name: "split num_outputs mismatch", op: "Split", version: 18, attrs: []*Attr{shtInt("num_outputs", 3)}, in: []*Tensor{shtF32([]int{3}, 1, 2, 3)}, nout: 2, err: "num_outputs 3"},
	})
}

func TestSlice(t *testing.T) {
	x := shtF32([]int{3, 4}, shtSeq(12)...)
	shtRunCases(t, []shtCase{
		{name: "basic", op: "Slice", in: []*Tensor{x, shtVec(1, 0), shtVec(3, 4), shtVec(0, 1), shtVec(1, 2)},
			want: []*Tensor{shtF32([]int{2, 2}, 4, 6, 8, 10)}},
		{name: "default axes", op: "Slice", in: []*Tensor{x, shtVec(0, 1), shtVec(1, 3)}, want: []*Tensor{shtF32([]int{1, 2}, 1, 2)}},
		{name: "negative step", op: "Slice", in: []*Tensor{x, shtVec(-1), shtVec(-1 << 62), shtVec(1), shtVec(-1)},
			want: []*Tensor{shtF32([]int{3, 4}, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8)}},
		{name: "negative step 2", op: "Slice", in: []*Tensor{x, shtVec(10, 3), shtVec(0, 0), shtVec(0, 1), shtVec(-2, -2)},
			want: []*Tensor{shtF32([]int{1, 2}, 11, 9)}},
		{name: "clamped", op: "Slice", in: []*Tensor{x, shtVec(-100), shtVec(1 << 62), shtVec(-1)}, want: []*Tensor{shtF32([]int{3, 4}, shtSeq(12)...)}},
		{name: "empty", op: "Slice", in: []*Tensor{x, shtVec(3), shtVec(1), shtVec(1)}, want: []*Tensor{shtF32([]int{3, 0})}},
		{name: "int32 inputs", op: "Slice", in: []*Tensor{x, FromSlice(Int32, []int32{2}, 1), FromSlice(Int32, []int32{3}, 1)}, want: []*Tensor{shtF32([]int{1, 4}, 8, 9, 10, 11)}},
		{name: "slice-1 attrs", op: "Slice", version: 1, attrs: []*Attr{shtInts("starts", 1), shtInts("ends", 1000), shtInts("axes", 1)}, in: []*Tensor{x},
			want: []*Tensor{shtF32([]int{3, 3}, 1, 2, 3, 5, 6, 7, 9, 10, 11)}},
		{name: "step 0", op: "Slice", in: []*Tensor{x, shtVec(0), shtVec(1), shtVec(0), shtVec(0)}, err: "step 0"},
		{name: "bad axis", op: "Slice", in: []*Tensor{x, shtVec(0), shtVec(1), shtVec(2)}, err: "out of range"},
		{name: "length mismatch", op: "Slice", in: []*Tensor{x, shtVec(0, 0), shtVec(1)}, err: "starts has 2"},
	})
}

func BenchmarkTransposeBSHD(b *testing.B) {
	// [B,S,H,D] -> [B,H,S,D], the attention head split.
	shape := []int{1, 128, 12, 64}
	x := FromSlice(Float, make([]float32, NumElements(shape)), shape...)
	c := &shtCase{op: "Transpose", attrs: []*Attr{shtInts("perm", 0, 2, 1, 3)}, in: []*Tensor{x}}
	shtBench(b, c)
}

func BenchmarkTranspose2D(b *testing.B) {
	x := FromSlice(Float, make([]float32, 512*768), 512, 768)
	shtBench(b, &shtCase{op: "Transpose", in: []*Tensor{x}})
}

// shtBench runs a case repeatedly on an arena, releasing outputs.
func shtBench(b *testing.B, c *shtCase) {
	n := &Node{OpType: c.op, Domain: DomainONNX, Version: 21, Attrs: NewAttrs(c.attrs...), Inputs: make([]string, len(c.in)), Outputs: []string{"y"}}
	k, err := shtRegistry().Build(n)
	if err != nil {
		b.Fatal(err)
	}
	kern := k.(Kernel)
	ec := NewContext(context.Background(), nil, NewArena())
	out := make([]*Tensor, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := kern.Run(ec, c.in, out); err != nil {
			b.Fatal(err)
		}
		ec.Release(out[0])
	}
}
