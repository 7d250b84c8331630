package engine_test

import (
	"context"
	"testing"

	"github.com/agate-ml/agate/engine"
	ob "github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/ops"
)

func load(t *testing.T, g *ob.Graph) *engine.Model {
	t.Helper()
	b, err := (&ob.Model{Graph: g, Opsets: map[string]int{"": 17}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.LoadBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestIfCapturesOuterValues: both branches read x and w from the enclosing
// graph, and the chosen branch decides the result.
func TestIfCapturesOuterValues(t *testing.T) {
	f32 := ob.TensorType(ops.Float, 3)
	then := ob.NewGraph("then").Output("r", f32).Node("Add", []string{"x", "w"}, []string{"r"})
	els := ob.NewGraph("else").Output("r", f32).Node("Sub", []string{"x", "w"}, []string{"r"})
	g := ob.NewGraph("main").
		Input("c", ob.TensorType(ops.Bool)).
		Input("x", f32).
		Output("y", f32).
		Initializer("w", ops.FromSlice(ops.Float, []float32{10, 20, 30}, 3)).
		Node("If", []string{"c"}, []string{"y"}, ob.GraphAttr("then_branch", then), ob.GraphAttr("else_branch", els))
	m := load(t, g)
	x := ops.FromSlice(ops.Float, []float32{1, 2, 3}, 3)
	for _, c := range []struct {
		cond bool
		want float32
	}{{true, 11}, {false, -9}} {
		out, err := m.RunValues(context.Background(), map[string]ops.Value{"c": ops.Scalar(c.cond), "x": x})
		if err != nil {
			t.Fatal(err)
		}
		if got := out["y"].(*ops.Tensor).Float32s()[0]; got != c.want {
			t.Fatalf("cond %v: y[0] = %v, want %v", c.cond, got, c.want)
		}
	}
}

// TestLoopAccumulates sums x into a carried value M times and stacks the
// partial sums as a scan output.
func TestLoopAccumulates(t *testing.T) {
	f32 := ob.TensorType(ops.Float, 2)
	body := ob.NewGraph("body").
		Input("i", ob.TensorType(ops.Int64)).
		Input("cond_in", ob.TensorType(ops.Bool)).
		Input("acc_in", f32).
		Output("cond_out", ob.TensorType(ops.Bool)).
		Output("acc_out", f32).
		Output("scan", f32).
		Node("Identity", []string{"cond_in"}, []string{"cond_out"}).
		Node("Add", []string{"acc_in", "x"}, []string{"acc_out"}).
		Node("Identity", []string{"acc_out"}, []string{"scan"})
	g := ob.NewGraph("main").
		Input("m", ob.TensorType(ops.Int64)).
		Input("x", f32).
		Output("acc", f32).
		Output("partials", ob.TensorType(ops.Float, "n", 2)).
		Initializer("cond", ops.Scalar(true)).
		Initializer("zero", ops.FromSlice(ops.Float, []float32{0, 0}, 2)).
		Node("Loop", []string{"m", "cond", "zero"}, []string{"acc", "partials"}, ob.GraphAttr("body", body))
	m := load(t, g)
	for run := 0; run < 3; run++ { // repeated runs reuse the arena
		out, err := m.RunValues(context.Background(), map[string]ops.Value{
			"m": ops.Scalar(int64(4)), "x": ops.FromSlice(ops.Float, []float32{1, 2}, 2)})
		if err != nil {
			t.Fatal(err)
		}
		acc := out["acc"].(*ops.Tensor).Float32s()
		if acc[0] != 4 || acc[1] != 8 {
			t.Fatalf("acc = %v", acc)
		}
		p := out["partials"].(*ops.Tensor)
		if !ops.EqualShapes(p.Shape, []int{4, 2}) || p.Float32s()[6] != 4 || p.Float32s()[1] != 2 {
			t.Fatalf("partials = %v %v", p.Shape, p.Data)
		}
	}
	// Zero iterations: the initial value comes back, the scan output is empty.
	out, err := m.RunValues(context.Background(), map[string]ops.Value{
		"m": ops.Scalar(int64(0)), "x": ops.FromSlice(ops.Float, []float32{1, 2}, 2)})
	if err != nil {
		t.Fatal(err)
	}
	if acc := out["acc"].(*ops.Tensor).Float32s(); acc[0] != 0 {
		t.Fatalf("acc = %v", acc)
	}
	if p := out["partials"].(*ops.Tensor); p.Shape[0] != 0 {
		t.Fatalf("partials shape %v", p.Shape)
	}
}
