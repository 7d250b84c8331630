package engine_test

import (
	"context"
	"testing"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/ops"
)

// TestDropPackedConstants: a weight only MatMul and Gemm read (packed at
// plan time) loses its elements after planning, one that another op also
// reads keeps them, and the results stay those of the unpacked graph.
func TestDropPackedConstants(t *testing.T) {
	w1 := ops.FromSlice(ops.Float, []float32{1, 2, 3, 4, 5, 6}, 3, 2)
	w2 := ops.FromSlice(ops.Float, []float32{0.5, -1, 2, 0, 1, 3}, 3, 2)
	g := onnxbuild.NewGraph("packed").Input("x", onnxbuild.TensorType(ops.Float, 4, 3))
	g.Initializer("w1", w1).Initializer("w2", w2)
	g.Node("MatMul", []string{"x", "w1"}, []string{"a"})
	g.Node("Gemm", []string{"x", "w1"}, []string{"b"})
	g.Node("MatMul", []string{"x", "w2"}, []string{"c"})
	g.Node("Neg", []string{"w2"}, []string{"d"}) // w2 is read as data too
	g.Output("a", nil).Output("b", nil).Output("c", nil).Output("d", nil)
	raw, err := (&onnxbuild.Model{Graph: g, Opsets: map[string]int{"": 13}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.LoadBytes(raw, engine.WithoutConstantFolding())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	held := engine.HeldConstants(m)
	if held["w1"] != 0 || held["w2"] != 6 {
		t.Fatalf("elements kept: w1 %d (want 0: only packing steps read it), w2 %d (want 6)", held["w1"], held["w2"])
	}
	x := ops.FromSlice(ops.Float, []float32{1, 0, -1, 2, 1, 0, 0, 0, 1, 3, -2, 1}, 4, 3)
	mul := func(w []float32) []float32 {
		y := make([]float32, 8)
		for i := 0; i < 4; i++ {
			for j := 0; j < 2; j++ {
				for k := 0; k < 3; k++ {
					y[i*2+j] += x.Float32s()[i*3+k] * w[k*2+j]
				}
			}
		}
		return y
	}
	w1v := []float32{1, 2, 3, 4, 5, 6}
	w2v := []float32{0.5, -1, 2, 0, 1, 3}
	want := [][]float32{mul(w1v), mul(w1v), mul(w2v), {-0.5, 1, -2, 0, -1, -3}}
	for run := 0; run < 2; run++ {
		outs := make([]ops.Value, 4)
		if err := m.RunList(context.Background(), []ops.Value{x}, outs); err != nil {
			t.Fatal(err)
		}
		for i := range outs {
			got := outs[i].(*ops.Tensor).Float32s()
			for j := range want[i] {
				if got[j] != want[i][j] {
					t.Fatalf("run %d output %d element %d = %v, want %v", run, i, j, got[j], want[i][j])
				}
			}
		}
	}
}
