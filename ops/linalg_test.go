package ops

import (
	"context"
	"math"
	"strings"
	"testing"
)

// laNode describes one kernel invocation in the linear algebra tests.
type laNode struct {
	domain  string
	op      string
	version int
	attrs   []*Attr
	nOut    int
	consts  map[int]bool // inputs also handed to the factory as constants
}

func (n laNode) run(in ...*Tensor) ([]*Tensor, error) {
	node := &Node{OpType: n.op, Domain: CanonicalDomain(n.domain), Version: n.version, Attrs: NewAttrs(n.attrs...)}
	node.ConstInputs = make([]*Tensor, len(in))
	for i, t := range in {
		name := ""
		if t != nil {
			name = "x" + string(rune('0'+i))
		}
		node.Inputs = append(node.Inputs, name)
		if n.consts[i] {
			node.ConstInputs[i] = t
		}
	}
	nOut := max(1, n.nOut)
	for i := 0; i < nOut; i++ {
		node.Outputs = append(node.Outputs, "y"+string(rune('0'+i)))
	}
	k, err := DefaultRegistry().Build(node)
	if err != nil {
		return nil, err
	}
	pool := NewPool(2)
	defer pool.Close()
	ec := NewContext(context.Background(), pool, nil)
	out := make([]*Tensor, nOut)
	if err := k.(Kernel).Run(ec, in, out); err != nil {
		return nil, err
	}
	return out, nil
}

func laF32(shape []int, v ...float32) *Tensor { return FromSlice(Float, v, shape...) }

func laAttrI(name string, v int64) *Attr { return &Attr{Name: name, Type: AttrInt, I: v} }

func laAttrF(name string, v float32) *Attr { return &Attr{Name: name, Type: AttrFloat, F: v} }

func laAttrS(name, v string) *Attr { return &Attr{Name: name, Type: AttrString, S: v} }

func laCheck(t *testing.T, name string, got *Tensor, shape []int, want []float64, tol float64) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil output", name)
	}
	if !EqualShapes(got.Shape, shape) {
		t.Fatalf("%s: shape %v, want %v", name, got.Shape, shape)
	}
	vals, err := got.AsFloat64s()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(vals) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(vals), len(want))
	}
	for i := range want {
		if d := math.Abs(vals[i] - want[i]); d > tol*(1+math.Abs(want[i])) || math.IsNaN(vals[i]) != math.IsNaN(want[i]) {
			t.Fatalf("%s: value %d = %v, want %v (all: %v)", name, i, vals[i], want[i], vals)
		}
	}
}

func laWantErr(t *testing.T, name string, err error, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: expected an error containing %q", name, substr)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("%s: error %q does not contain %q", name, err, substr)
	}
}

func TestMatMul(t *testing.T) {
	mm := laNode{op: "MatMul", version: 13}
	tests := []struct {
		name  string
		a, b  *Tensor
		shape []int
		want  []float64
	}{
		{"2d", laF32([]int{2, 3}, 1, 2, 3, 4, 5, 6), laF32([]int{3, 2}, 1, 0, 0, 1, 1, 1), []int{2, 2}, []float64{4, 5, 10, 11}},
		{"1d x 1d", laF32([]int{3}, 1, 2, 3), laF32([]int{3}, 4, 5, 6), []int{}, []float64{32}},
		{"1d x 2d", laF32([]int{2}, 1, 2), laF32([]int{2, 3}, 1, 2, 3, 4, 5, 6), []int{3}, []float64{9, 12, 15}},
		{"2d x 1d", laF32([]int{2, 2}, 1, 2, 3, 4), laF32([]int{2}, 1, 1), []int{2}, []float64{3, 7}},
		{"batch broadcast", laF32([]int{2, 1, 2}, 1, 2, 3, 4), laF32([]int{1, 2, 2}, 1, 0, 0, 2), []int{2, 1, 2}, []float64{1, 4, 3, 8}},
		{"3d x 2d", laF32([]int{2, 1, 2}, 1, 2, 3, 4), laF32([]int{2, 1}, 10, 1), []int{2, 1, 1}, []float64{12, 34}},
		{"int64", FromSlice(Int64, []int64{1, 2, 3, 4}, 2, 2), FromSlice(Int64, []int64{5, 6, 7, 8}, 2, 2), []int{2, 2}, []float64{19, 22, 43, 50}},
		{"float16", FromSlice(Float16, []F16{F16From(1), F16From(2)}, 1, 2), FromSlice(Float16, []F16{F16From(3), F16From(4)}, 2, 1), []int{1, 1}, []float64{11}},
	}
	for _, tc := range tests {
		out, err := mm.run(tc.a, tc.b)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		laCheck(t, tc.name, out[0], tc.shape, tc.want, 1e-6)
	}
	// Constant (prepacked) weights, large enough for the packed path.
	const m, k, n = 9, 20, 13
	a := make([]float32, m*k)
	b := make([]float32, k*n)
	for i := range a {
		a[i] = float32(i%7) - 3
	}
	for i := range b {
		b[i] = float32(i%5) - 2
	}
	want := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			for p := 0; p < k; p++ {
				want[i*n+j] += float64(a[i*k+p]) * float64(b[p*n+j])
			}
		}
	}
	bt := laF32([]int{k, n}, b...)
	cm := laNode{op: "MatMul", version: 13, consts: map[int]bool{1: true}}
	out, err := cm.run(laF32([]int{m, k}, a...), bt)
	if err != nil {
		t.Fatal(err)
	}
	laCheck(t, "prepacked", out[0], []int{m, n}, want, 1e-6)

	_, err = mm.run(laF32([]int{2, 3}, 1, 2, 3, 4, 5, 6), laF32([]int{2, 2}, 1, 2, 3, 4))
	laWantErr(t, "inner mismatch", err, "inner dimensions")
	_, err = mm.run(laF32([]int{2, 2, 2}, make([]float32, 8)...), laF32([]int{3, 2, 2}, make([]float32, 12)...))
	laWantErr(t, "batch mismatch", err, "broadcast")
	_, err = mm.run(laF32([]int{2}, 1, 2), FromSlice(Int64, []int64{1, 2}, 2))
	laWantErr(t, "types", err, "types differ")
	_, err = mm.run(FromSlice(Bool, []bool{true}, 1, 1), FromSlice(Bool, []bool{true}, 1, 1))
	laWantErr(t, "bool", err, "does not support")
}

func TestGemm(t *testing.T) {
	a := laF32([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	b := laF32([]int{3, 2}, 1, 2, 3, 4, 5, 6)
	// A@B = [[22 28] [49 64]]
	tests := []struct {
		name  string
		attrs []*Attr
		a, b  *Tensor
		c     *Tensor
		want  []float64
	}{
		{"plain", nil, a, b, nil, []float64{22, 28, 49, 64}},
		{"alpha beta scalar C", []*Attr{laAttrF("alpha", 2), laAttrF("beta", 0.5)}, a, b, laF32([]int{}, 4), []float64{46, 58, 100, 130}},
		{"row C", nil, a, b, laF32([]int{2}, 1, 2), []float64{23, 30, 50, 66}},
		{"column C", nil, a, b, laF32([]int{2, 1}, 1, 2), []float64{23, 29, 51, 66}},
		{"transA transB", []*Attr{laAttrI("transA", 1), laAttrI("transB", 1)}, laF32([]int{3, 2}, 1, 4, 2, 5, 3, 6), laF32([]int{2, 3}, 1, 3, 5, 2, 4, 6), nil, []float64{22, 28, 49, 64}},
	}
	for _, tc := range tests {
		for _, constB := range []bool{false, true} {
			g := laNode{op: "Gemm", version: 13, attrs: tc.attrs, consts: map[int]bool{1: constB}}
			in := []*Tensor{tc.a, tc.b}
			if tc.c != nil {
				in = append(in, tc.c)
			}
			out, err := g.run(in...)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			laCheck(t, tc.name, out[0], []int{2, 2}, tc.want, 1e-6)
		}
	}
	g := laNode{op: "Gemm", version: 13}
	out, err := g.run(FromSlice(Double, []float64{1, 2}, 1, 2), FromSlice(Double, []float64{3, 4}, 2, 1), FromSlice(Double, []float64{1}, 1))
	if err != nil {
		t.Fatal(err)
	}
	laCheck(t, "double", out[0], []int{1, 1}, []float64{12}, 0)
	_, err = g.run(a, a)
	laWantErr(t, "inner", err, "inner dimensions")
	_, err = g.run(a, b, laF32([]int{3}, 1, 2, 3))
	laWantErr(t, "bad C", err, "does not broadcast")
	_, err = g.run(laF32([]int{6}, 1, 2, 3, 4, 5, 6), b)
	laWantErr(t, "rank", err, "2-D")
}

func TestDet(t *testing.T) {
	d := laNode{op: "Det", version: 11}
	out, err := d.run(laF32([]int{2, 2, 2}, 1, 2, 3, 4, 2, 0, 0, 3))
	if err != nil {
		t.Fatal(err)
	}
	laCheck(t, "batch", out[0], []int{2}, []float64{-2, 6}, 1e-6)
	out, err = d.run(FromSlice(Double, []float64{0, 1, 0, 1, 0, 0, 0, 0, 5}, 3, 3))
	if err != nil {
		t.Fatal(err)
	}
	laCheck(t, "pivot", out[0], []int{}, []float64{-5}, 1e-12)
	_, err = d.run(laF32([]int{2, 3}, 1, 2, 3, 4, 5, 6))
	laWantErr(t, "non-square", err, "square")
}

func TestEinsum(t *testing.T) {
	x := laF32([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	y := laF32([]int{3, 2}, 1, 0, 0, 1, 1, 1)
	sq := laF32([]int{2, 2}, 1, 2, 3, 4)
	tests := []struct {
		eq    string
		in    []*Tensor
		shape []int
		want  []float64
	}{
		{"ij,jk->ik", []*Tensor{x, y}, []int{2, 2}, []float64{4, 5, 10, 11}},
		{"ij,jk", []*Tensor{x, y}, []int{2, 2}, []float64{4, 5, 10, 11}},
		{"ij->ji", []*Tensor{x}, []int{3, 2}, []float64{1, 4, 2, 5, 3, 6}},
		{"ij->", []*Tensor{x}, []int{}, []float64{21}},
		{"ij->i", []*Tensor{x}, []int{2}, []float64{6, 15}},
		{"ii->i", []*Tensor{sq}, []int{2}, []float64{1, 4}},
		{"ii", []*Tensor{sq}, []int{}, []float64{5}},
		{"i,i", []*Tensor{laF32([]int{3}, 1, 2, 3), laF32([]int{3}, 4, 5, 6)}, []int{}, []float64{32}},
		{"i,j->ij", []*Tensor{laF32([]int{2}, 1, 2), laF32([]int{3}, 1, 2, 3)}, []int{2, 3}, []float64{1, 2, 3, 2, 4, 6}},
		{"...ij,...jk->...ik", []*Tensor{laF32([]int{2, 1, 2}, 1, 2, 3, 4), laF32([]int{2, 1}, 10, 1)}, []int{2, 1, 1}, []float64{12, 34}},
		{"bij,bjk->bik", []*Tensor{laF32([]int{2, 1, 2}, 1, 2, 3, 4), laF32([]int{2, 2, 1}, 1, 1, 2, 0)}, []int{2, 1, 1}, []float64{3, 6}},
		{"ij,jk,kl->il", []*Tensor{sq, sq, laF32([]int{2, 1}, 1, 1)}, []int{2, 1}, []float64{17, 37}},
		{"...ii->...i", []*Tensor{laF32([]int{2, 2, 2}, 1, 2, 3, 4, 5, 6, 7, 8)}, []int{2, 2}, []float64{1, 4, 5, 8}},
	}
	for _, tc := range tests {
		e := laNode{op: "Einsum", version: 12, attrs: []*Attr{laAttrS("equation", tc.eq)}}
		out, err := e.run(tc.in...)
		if err != nil {
			t.Fatalf("%s: %v", tc.eq, err)
		}
		laCheck(t, tc.eq, out[0], tc.shape, tc.want, 1e-6)
	}
	e := laNode{op: "Einsum", version: 12, attrs: []*Attr{laAttrS("equation", "ij,jk->ik")}}
	_, err := e.run(x, x)
	laWantErr(t, "size mismatch", err, "sizes")
	e = laNode{op: "Einsum", version: 12, attrs: []*Attr{laAttrS("equation", "ij->k")}}
	_, err = e.run(x)
	laWantErr(t, "bad output", err, "does not appear")
	e = laNode{op: "Einsum", version: 12, attrs: []*Attr{laAttrS("equation", "ijk->i")}}
	_, err = e.run(x)
	laWantErr(t, "rank", err, "rank")
	e = laNode{op: "Einsum", version: 12, attrs: []*Attr{laAttrS("equation", "i1->i")}}
	_, err = e.run(x)
	laWantErr(t, "char", err, "invalid character")
}
