package ops

import (
	"context"
	"math"
	"math/rand"
	"strings"
	"testing"
)

// Test helpers of the reduce, softmax, norm, loss and topk families.

func rtAttrI(name string, v int64) *Attr   { return &Attr{Name: name, Type: AttrInt, I: v} }
func rtAttrF(name string, v float32) *Attr { return &Attr{Name: name, Type: AttrFloat, F: v} }
func rtAttrS(name, v string) *Attr         { return &Attr{Name: name, Type: AttrString, S: v} }
func rtAttrInts(name string, v ...int64) *Attr {
	return &Attr{Name: name, Type: AttrInts, Ints: v}
}

// rtF32 builds a float32 tensor of the given shape.
func rtF32(shape []int, v ...float32) *Tensor { return FromSlice(Float, v, shape...) }

// rtI64 builds a 1-D int64 tensor.
func rtI64(v ...int64) *Tensor { return FromSlice(Int64, v, len(v)) }

// rtRunCtx builds op and runs it once in ec. Nil inputs are omitted ones.
func rtRunCtx(ec *Context, op string, version int, attrs []*Attr, nout int, in ...*Tensor) ([]*Tensor, error) {
	n := &Node{OpType: op, Domain: DomainONNX, Version: version, Attrs: NewAttrs(attrs...)}
	for i, t := range in {
		name := ""
		if t != nil {
			name = "in" + string(rune('0'+i))
		}
		n.Inputs = append(n.Inputs, name)
	}
	for i := 0; i < nout; i++ {
		n.Outputs = append(n.Outputs, "out"+string(rune('0'+i)))
	}
	k, err := DefaultRegistry().Build(n)
	if err != nil {
		return nil, err
	}
	out := make([]*Tensor, nout)
	if err := k.(Kernel).Run(ec, in, out); err != nil {
		return nil, err
	}
	for i, o := range out {
		if o == nil {
			return nil, rtErr("output " + string(rune('0'+i)) + " not set")
		}
	}
	return out, nil
}

type rtErr string

func (e rtErr) Error() string { return string(e) }

// rtRun runs op in a fresh heap context.
func rtRun(t testing.TB, op string, version int, attrs []*Attr, nout int, in ...*Tensor) ([]*Tensor, error) {
	t.Helper()
	return rtRunCtx(NewContext(context.Background(), nil, nil), op, version, attrs, nout, in...)
}

// rtFloats returns a float tensor's values as float64.
func rtFloats(t *testing.T, x *Tensor) []float64 {
	t.Helper()
	v, err := x.AsFloat64s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// rtClose reports whether got matches want within a relative tolerance
// (NaN matches NaN, infinities must match exactly).
func rtClose(got, want, tol float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	if math.IsInf(want, 0) {
		return got == want
	}
	return math.Abs(got-want) <= tol*(1+math.Abs(want))
}

// rtCheck compares a tensor's shape and values.
func rtCheck(t *testing.T, name string, got *Tensor, shape []int, want []float64, tol float64) {
	t.Helper()
	if !EqualShapes(got.Shape, shape) {
		t.Errorf("%s: shape %v, want %v", name, got.Shape, shape)
		return
	}
	g := rtFloats(t, got)
	if len(g) != len(want) {
		t.Errorf("%s: %d values, want %d", name, len(g), len(want))
		return
	}
	for i := range g {
		if !rtClose(g[i], want[i], tol) {
			t.Errorf("%s: value %d = %v, want %v (all %v)", name, i, g[i], want[i], g)
			return
		}
	}
}

func rtRandF32(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func TestReduce(t *testing.T) {
	x23 := rtF32([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	inf := math.Inf(1)
	tests := []struct {
		name    string
		op      string
		version int
		attrs   []*Attr
		x       *Tensor
		axes    *Tensor
		shape   []int
		want    []float64
	}{
		{"sum axis1", "ReduceSum", 13, nil, x23, rtI64(1), []int{2, 1}, []float64{6, 15}},
		{"sum attr axes no keepdims", "ReduceSum", 11, []*Attr{rtAttrInts("axes", 0), rtAttrI("keepdims", 0)}, x23, nil, []int{3}, []float64{5, 7, 9}},
		{"sum all", "ReduceSum", 13, []*Attr{rtAttrI("keepdims", 0)}, x23, nil, []int{}, []float64{21}},
		{"sum empty axes noop", "ReduceSum", 13, []*Attr{rtAttrI("noop_with_empty_axes", 1)}, x23, rtI64(), []int{2, 3}, []float64{1, 2, 3, 4, 5, 6}},
		{"sum empty axes reduces all", "ReduceSum", 13, nil, x23, rtI64(), []int{1, 1}, []float64{21}},
		{"mean all", "ReduceMean", 18, nil, x23, nil, []int{1, 1}, []float64{3.5}},
		{"mean legacy", "ReduceMean", 13, []*Attr{rtAttrInts("axes", -1)}, x23, nil, []int{2, 1}, []float64{2, 5}},
		{"max last", "ReduceMax", 18, []*Attr{rtAttrI("keepdims", 0)}, x23, rtI64(-1), []int{2}, []float64{3, 6}},
		{"min both", "ReduceMin", 18, nil, x23, rtI64(0, 1), []int{1, 1}, []float64{1}},
		{"prod", "ReduceProd", 18, nil, x23, rtI64(1), []int{2, 1}, []float64{6, 120}},
		{"l1", "ReduceL1", 18, nil, rtF32([]int{2, 2}, -1, 2, -3, 4), rtI64(1), []int{2, 1}, []float64{3, 7}},
		{"l2", "ReduceL2", 18, nil, rtF32([]int{2}, 3, -4), nil, []int{1}, []float64{5}},
		{"logsum", "ReduceLogSum", 18, nil, x23, rtI64(1), []int{2, 1}, []float64{math.Log(6), math.Log(15)}},
		{"logsumexp", "ReduceLogSumExp", 18, nil, rtF32([]int{2, 2}, 0, 0, 1000, 1000), rtI64(1), []int{2, 1}, []float64{math.Ln2, 1000 + math.Ln2}},
		{"logsumexp -inf", "ReduceLogSumExp", 18, nil, rtF32([]int{2}, float32(math.Inf(-1)), 0), nil, []int{1}, []float64{0}},
		{"sumsquare", "ReduceSumSquare", 18, nil, x23, rtI64(0), []int{1, 3}, []float64{17, 29, 45}},
		{"sumsquare int32", "ReduceSumSquare", 18, nil, FromSlice(Int32, []int32{1, 2, 3}, 3), nil, []int{1}, []float64{14}},
		{"sum int64", "ReduceSum", 13, nil, FromSlice(Int64, []int64{1 << 60, 1, 2, 3}, 2, 2), rtI64(0), []int{1, 2}, []float64{1<<60 + 2, 4}},
		{"mean int32 truncates", "ReduceMean", 18, nil, FromSlice(Int32, []int32{1, 2, 4, -7}, 2, 2), rtI64(1), []int{2, 1}, []float64{1, -1}},
		{"max int8", "ReduceMax", 18, nil, FromSlice(Int8, []int8{-5, -3, -128, 7}, 4), nil, []int{1}, []float64{7}},
		{"min uint8", "ReduceMin", 18, nil, FromSlice(Uint8, []uint8{200, 3, 255}, 3), nil, []int{1}, []float64{3}},
		{"l1 int32", "ReduceL1", 18, nil, FromSlice(Int32, []int32{-2, 3}, 2), nil, []int{1}, []float64{5}},
		{"l2 uint32", "ReduceL2", 18, nil, FromSlice(Uint32, []uint32{3, 4}, 2), nil, []int{1}, []float64{5}},
		{"middle axes", "ReduceSum", 13, []*Attr{rtAttrI("keepdims", 0)}, rtF32([]int{2, 2, 2}, 1, 2, 3, 4, 5, 6, 7, 8), rtI64(0, 2), []int{2}, []float64{1 + 2 + 5 + 6, 3 + 4 + 7 + 8}},
		{"max nan", "ReduceMax", 18, nil, rtF32([]int{3}, 1, float32(math.NaN()), 3), nil, []int{1}, []float64{math.NaN()}},
		{"mean float64", "ReduceMean", 18, nil, FromSlice(Double, []float64{1, 2}, 2), nil, []int{1}, []float64{1.5}},
		{"mean float16", "ReduceMean", 18, nil, FromSlice(Float16, []F16{F16From(1), F16From(2), F16From(4), F16From(8)}, 2, 2), rtI64(1), []int{2, 1}, []float64{1.5, 6}},
		{"empty sum", "ReduceSum", 13, nil, rtF32([]int{2, 0, 2}), rtI64(1), []int{2, 1, 2}, []float64{0, 0, 0, 0}},
		{"empty prod", "ReduceProd", 18, nil, rtF32([]int{1, 0}), rtI64(1), []int{1, 1}, []float64{1}},
		{"empty max", "ReduceMax", 20, nil, rtF32([]int{0, 2}), rtI64(0), []int{1, 2}, []float64{-inf, -inf}},
		{"empty min", "ReduceMin", 20, nil, rtF32([]int{0}), nil, []int{1}, []float64{inf}},
		{"empty min int32", "ReduceMin", 20, nil, FromSlice(Int32, []int32{}, 0), nil, []int{1}, []float64{math.MaxInt32}},
		{"empty max int16", "ReduceMax", 20, nil, FromSlice(Int16, []int16{}, 0), nil, []int{1}, []float64{math.MinInt16}},
		{"empty logsum", "ReduceLogSum", 18, nil, rtF32([]int{0}), nil, []int{1}, []float64{-inf}},
		{"empty logsumexp", "ReduceLogSumExp", 18, nil, rtF32([]int{0}), nil, []int{1}, []float64{-inf}},
		{"empty kept axis", "ReduceSum", 13, nil, rtF32([]int{0, 3}), rtI64(1), []int{0, 1}, []float64{}},
	}
	for _, tc := range tests {
		in := []*Tensor{tc.x}
		if tc.axes != nil {
			in = append(in, tc.axes)
		}
		out, err := rtRun(t, tc.op, tc.version, tc.attrs, 1, in...)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		rtCheck(t, tc.name, out[0], tc.shape, tc.want, 1e-6)
	}
}

func TestReduceBool(t *testing.T) {
	x := FromSlice(Bool, []bool{true, false, false, false, true, true}, 3, 2)
	for _, tc := range []struct {
		op   string
		want []bool
	}{
		{"ReduceMax", []bool{true, false, true}},
		{"ReduceMin", []bool{false, false, true}},
	} {
		out, err := rtRun(t, tc.op, 20, nil, 1, x, rtI64(1))
		if err != nil {
			t.Fatal(err)
		}
		got := out[0].Bools()
		for i := range tc.want {
			if got[i] != tc.want[i] {
				t.Errorf("%s: got %v, want %v", tc.op, got, tc.want)
				break
			}
		}
	}
	if _, err := rtRun(t, "ReduceSum", 13, nil, 1, x, rtI64(1)); err == nil {
		t.Error("ReduceSum of bool: expected an error")
	}
}

func TestReduceErrors(t *testing.T) {
	x := rtF32([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	for _, tc := range []struct {
		name    string
		op      string
		version int
		attrs   []*Attr
		in      []*Tensor
		want    string
	}{
		{"axis out of range", "ReduceSum", 13, nil, []*Tensor{x, rtI64(2)}, "out of range"},
		{"repeated axis", "ReduceMean", 18, nil, []*Tensor{x, rtI64(1, -1)}, "repeated"},
		{"repeated attr axis", "ReduceMean", 13, []*Attr{rtAttrInts("axes", 0, 0)}, []*Tensor{x}, "repeated"},
		{"string input", "ReduceMax", 18, nil, []*Tensor{FromSlice(String, []string{"a"}, 1)}, "unsupported"},
		{"float axes", "ReduceSum", 13, nil, []*Tensor{x, rtF32([]int{1}, 0)}, "axes"},
		{"missing input", "ReduceSum", 13, nil, []*Tensor{nil}, "missing"},
	} {
		_, err := rtRun(t, tc.op, tc.version, tc.attrs, 1, tc.in...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// TestReduceParallel compares large reductions over every axis subset with
// a naive reference, on a worker pool and with an arena.
func TestReduceParallel(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	shape := []int{16, 70, 3, 41}
	xv := rtRandF32(r, NumElements(shape))
	x := rtF32(shape, xv...)
	pool := NewPool(4)
	defer pool.Close()
	ec := NewContext(context.Background(), pool, NewArena())
	strides := Strides(shape)
	for m := 1; m < 1<<len(shape); m++ {
		var axes []int64
		for i := range shape {
			if m&(1<<i) != 0 {
				axes = append(axes, int64(i))
			}
		}
		for _, op := range []string{"ReduceSum", "ReduceMax", "ReduceLogSumExp"} {
			version := 18
			if op == "ReduceSum" {
				version = 13
			}
			out, err := rtRunCtx(ec, op, version, nil, 1, x, rtI64(axes...))
			if err != nil {
				t.Fatal(err)
			}
			// naive reference
			outShape := append([]int(nil), shape...)
			for _, a := range axes {
				outShape[a] = 1
			}
			ost := Strides(outShape)
			acc := make([]float64, NumElements(outShape))
			for i := range acc {
				switch op {
				case "ReduceMax":
					acc[i] = math.Inf(-1)
				}
			}
			lse := make([]float64, len(acc))
			for i, v := range xv {
				o := 0
				for d := range shape {
					idx := i / strides[d] % shape[d]
					if outShape[d] != 1 {
						o += idx * ost[d]
					}
				}
				switch op {
				case "ReduceSum":
					acc[o] += float64(v)
				case "ReduceMax":
					acc[o] = math.Max(acc[o], float64(v))
				case "ReduceLogSumExp":
					lse[o] += math.Exp(float64(v))
				}
			}
			if op == "ReduceLogSumExp" {
				for i := range acc {
					acc[i] = math.Log(lse[i])
				}
			}
			rtCheck(t, op+" "+ShapeString(outShape), out[0], outShape, acc, 1e-5)
			ec.Release(out[0])
		}
	}
}

func TestArgMaxMin(t *testing.T) {
	x := rtF32([]int{2, 3}, 1, 5, 5, 7, 2, 7)
	tests := []struct {
		name  string
		op    string
		attrs []*Attr
		x     *Tensor
		shape []int
		want  []float64
	}{
		{"argmax axis0", "ArgMax", nil, x, []int{1, 3}, []float64{1, 0, 1}},
		{"argmax axis1", "ArgMax", []*Attr{rtAttrI("axis", 1)}, x, []int{2, 1}, []float64{1, 0}},
		{"argmax last index", "ArgMax", []*Attr{rtAttrI("axis", -1), rtAttrI("select_last_index", 1), rtAttrI("keepdims", 0)}, x, []int{2}, []float64{2, 2}},
		{"argmin axis1", "ArgMin", []*Attr{rtAttrI("axis", 1), rtAttrI("keepdims", 0)}, x, []int{2}, []float64{0, 1}},
		{"argmin int64", "ArgMin", nil, FromSlice(Int64, []int64{3, -1, -1}, 3), []int{1}, []float64{1}},
		{"argmin int64 last", "ArgMin", []*Attr{rtAttrI("select_last_index", 1)}, FromSlice(Int64, []int64{3, -1, -1}, 3), []int{1}, []float64{2}},
		{"argmax nan", "ArgMax", nil, rtF32([]int{3}, 1, float32(math.NaN()), 3), []int{1}, []float64{1}},
		{"argmax float16", "ArgMax", nil, FromSlice(Float16, []F16{F16From(1), F16From(3), F16From(2)}, 3), []int{1}, []float64{1}},
	}
	for _, tc := range tests {
		out, err := rtRun(t, tc.op, 13, tc.attrs, 1, tc.x)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if out[0].DType != Int64 {
			t.Errorf("%s: type %s, want int64", tc.name, out[0].DType)
		}
		rtCheck(t, tc.name, out[0], tc.shape, tc.want, 0)
	}
	if _, err := rtRun(t, "ArgMax", 13, []*Attr{rtAttrI("axis", 2)}, 1, x); err == nil {
		t.Error("axis out of range: expected an error")
	}
	if _, err := rtRun(t, "ArgMax", 13, nil, 1, rtF32([]int{0, 2})); err == nil {
		t.Error("empty axis: expected an error")
	}
}

func BenchmarkReduceMeanLastAxis(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	x := rtF32([]int{512, 768}, rtRandF32(r, 512*768)...)
	rtBench(b, "ReduceMean", 18, nil, x, rtI64(-1))
}

func BenchmarkReduceSumMiddleAxis(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	x := rtF32([]int{8, 512, 64}, rtRandF32(r, 8*512*64)...)
	rtBench(b, "ReduceSum", 13, nil, x, rtI64(1))
}

// rtBench times one kernel on a 2-worker pool with an arena, releasing
// the outputs after each run.
func rtBench(b *testing.B, op string, version int, attrs []*Attr, in ...*Tensor) {
	b.Helper()
	n := &Node{OpType: op, Domain: DomainONNX, Version: version, Attrs: NewAttrs(attrs...), Outputs: []string{"y"}}
	for range in {
		n.Inputs = append(n.Inputs, "x")
	}
	k, err := DefaultRegistry().Build(n)
	if err != nil {
		b.Fatal(err)
	}
	pool := NewPool(0)
	defer pool.Close()
	ec := NewContext(context.Background(), pool, NewArena())
	out := make([]*Tensor, 1)
	b.ReportAllocs()
	for b.Loop() {
		if err := k.(Kernel).Run(ec, in, out); err != nil {
			b.Fatal(err)
		}
		ec.Release(out[0])
	}
}
