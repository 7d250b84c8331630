package engine_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/ops"
)

// TestConvFusion builds the blocks CNN exporters write (Conv+Relu,
// Conv+Clip as ReLU6 in both opset forms, Conv+Add+Relu with an identity
// shortcut, Conv+Add, a broadcast residual, a depthwise Conv+Clip, a Conv
// whose output is also read elsewhere) and checks that the fused model
// gives the unfused one's outputs and which convolutions were fused.
func TestConvFusion(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	rnd := func(shape ...int) *ops.Tensor {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return ops.FromSlice(ops.Float, v, shape...)
	}
	conv := func(g *onnxbuild.Graph, x, y string, cin, cout, group int) {
		w, b := y+"_w", y+"_b"
		g.Initializer(w, rnd(cout, cin/group, 3, 3)).Initializer(b, rnd(cout))
		g.Node("Conv", []string{x, w, b}, []string{y}, onnxbuild.Ints("pads", 1, 1, 1, 1), onnxbuild.Int("group", int64(group)))
	}
	g := onnxbuild.NewGraph("blocks").Input("x", onnxbuild.TensorType(ops.Float, 2, 8, 9, 7))
	g.Initializer("zero", ops.FromSlice(ops.Float, []float32{0}, 1)).Initializer("six", ops.FromSlice(ops.Float, []float32{6}, 1))
	g.Initializer("rowbias", rnd(1, 8, 1, 7))
	conv(g, "x", "c1", 8, 8, 1)
	g.Node("Relu", []string{"c1"}, []string{"r1"}) // Conv+Relu
	conv(g, "r1", "c2", 8, 8, 1)
	g.Node("Add", []string{"c2", "x"}, []string{"a2"})
	g.Node("Relu", []string{"a2"}, []string{"r2"}) // Conv+Add+Relu
	conv(g, "r2", "c3", 8, 8, 8)
	g.Node("Clip", []string{"c3", "zero", "six"}, []string{"k3"}) // depthwise Conv+ReLU6
	conv(g, "k3", "c4", 8, 8, 1)
	g.Node("Add", []string{"r2", "c4"}, []string{"a4"}) // Conv+Add, residual first
	conv(g, "a4", "c5", 8, 8, 1)
	g.Node("Add", []string{"c5", "rowbias"}, []string{"a5"}) // a residual that broadcasts
	g.Node("Relu", []string{"a5"}, []string{"r5"})
	conv(g, "r5", "c6", 8, 8, 1)
	g.Node("Relu", []string{"c6"}, []string{"r6"}) // c6 is also an output: not fused
	g.Output("r6", nil).Output("c6", nil)
	raw, err := (&onnxbuild.Model{Graph: g, Opsets: map[string]int{"": 13}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	fused, err := engine.LoadBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer fused.Close()
	plain, err := engine.LoadBytes(raw, engine.WithoutFusion())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if got := fused.OpCounts()["ai.agate:FusedConv"]; got != 5 {
		t.Errorf("%d FusedConv, want 5 (%v)", got, fused.OpCounts())
	}
	if got := fused.OpCounts()["ai.onnx:Conv"]; got != 1 {
		t.Errorf("%d Conv left, want 1 (the one also read as an output): %v", got, fused.OpCounts())
	}
	x := rnd(2, 8, 9, 7)
	ctx := context.Background()
	a, err := fused.RunValues(ctx, map[string]ops.Value{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	b, err := plain.RunValues(ctx, map[string]ops.Value{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"r6", "c6"} {
		got, want := a[name].(*ops.Tensor).Float32s(), b[name].(*ops.Tensor).Float32s()
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > 1e-4*math.Max(1, math.Abs(float64(want[i]))) {
				t.Fatalf("%s[%d]: fused %v, unfused %v", name, i, got[i], want[i])
			}
		}
	}
}
