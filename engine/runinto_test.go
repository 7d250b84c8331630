package engine_test

import (
	"context"
	"slices"
	"testing"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/ops"
)

// TestRunIntoInPlace binds outputs that kernels compute in place (a
// graph output a later step reads, the same output twice, an output that
// is the input, an output bound over the input's storage, a scratch of the
// output's shape) and checks every value against RunList.
func TestRunIntoInPlace(t *testing.T) {
	g := onnxbuild.NewGraph("bind").Input("x", onnxbuild.TensorType(ops.Float, 2, 3))
	g.Node("Relu", []string{"x"}, []string{"r"})
	g.Node("Neg", []string{"r"}, []string{"n"})      // reads the output r
	g.Node("Add", []string{"r", "n"}, []string{"z"}) // r + (-r) = 0
	g.Node("Softmax", []string{"x"}, []string{"s"})  // allocates a scratch of its output's shape? either way
	g.Node("Identity", []string{"x"}, []string{"i"})
	g.Output("r", nil).Output("n", nil).Output("z", nil).Output("s", nil).Output("i", nil).Output("r", nil)
	raw, err := (&onnxbuild.Model{Graph: g, Opsets: map[string]int{"": 13}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.LoadBytes(raw, engine.WithoutConstantFolding())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x := ops.FromSlice(ops.Float, []float32{-1, 2, -3, 4, 0.5, -6}, 2, 3)
	want := make([]ops.Value, 6)
	if err := m.RunList(context.Background(), []ops.Value{x}, want); err != nil {
		t.Fatal(err)
	}
	check := func(name string, outs []ops.Value) {
		t.Helper()
		for i := range want {
			w, g := want[i].(*ops.Tensor).Float32s(), outs[i].(*ops.Tensor).Float32s()
			for j := range w {
				if g[j] != w[j] {
					t.Fatalf("%s: output %d element %d = %v, want %v", name, i, j, g[j], w[j])
				}
			}
		}
	}
	for run := 0; run < 3; run++ {
		outs := make([]ops.Value, 6)
		for i := range outs {
			outs[i] = ops.NewTensor(ops.Float, 2, 3)
		}
		bound := append([]ops.Value(nil), outs...)
		if err := m.RunInto(context.Background(), []ops.Value{x}, outs); err != nil {
			t.Fatal(err)
		}
		for i := range outs {
			if outs[i] != bound[i] {
				t.Errorf("output %d replaced", i)
			}
		}
		check("fresh tensors", outs)
		// The same tensors again, with garbage in them: New must clear.
		for _, o := range outs {
			for j := range o.(*ops.Tensor).Float32s() {
				o.(*ops.Tensor).Float32s()[j] = 99
			}
		}
		if err := m.RunInto(context.Background(), []ops.Value{x}, outs); err != nil {
			t.Fatal(err)
		}
		check("reused tensors", outs)
	}
	// An output bound over the input's storage must not be written before
	// the steps reading the input are done.
	xin := ops.FromSlice(ops.Float, []float32{-1, 2, -3, 4, 0.5, -6}, 2, 3)
	alias := &ops.Tensor{DType: ops.Float, Shape: []int{2, 3}, Data: xin.Data}
	outs := []ops.Value{alias, nil, nil, nil, nil, nil}
	if err := m.RunInto(context.Background(), []ops.Value{xin}, outs); err != nil {
		t.Fatal(err)
	}
	check("output over the input", outs)
}

// TestRunIntoMultiOutputStep: binding only the second output of a Split
// must not hand the caller's tensor to the first (found in review).
func TestRunIntoMultiOutputStep(t *testing.T) {
	g := onnxbuild.NewGraph("bind").Input("x", onnxbuild.TensorType(ops.Float, 2, 4))
	g.Node("Split", []string{"x"}, []string{"a", "b"}, onnxbuild.Int("axis", 1))
	g.Output("b", nil).Output("a", nil)
	raw, err := (&onnxbuild.Model{Graph: g, Opsets: map[string]int{"": 13}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.LoadBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x := ops.FromSlice(ops.Float, []float32{1, 2, 3, 4, 5, 6, 7, 8}, 2, 4)
	for _, bindA := range []bool{false, true} {
		outs := []ops.Value{ops.NewTensor(ops.Float, 2, 2), nil}
		if bindA {
			outs[1] = ops.NewTensor(ops.Float, 2, 2)
		}
		if err := m.RunInto(context.Background(), []ops.Value{x}, outs); err != nil {
			t.Fatal(err)
		}
		b, a := outs[0].(*ops.Tensor).Float32s(), outs[1].(*ops.Tensor).Float32s()
		if !slices.Equal(b, []float32{3, 4, 7, 8}) || !slices.Equal(a, []float32{1, 2, 5, 6}) {
			t.Fatalf("bind a=%v: b = %v, a = %v; want [3 4 7 8] and [1 2 5 6]", bindA, b, a)
		}
	}
}
