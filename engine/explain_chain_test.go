package engine_test

import (
	"context"
	"errors"
	"testing"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/ops"
	"gorgonia.org/tensor"
)

// stumpModel is a one-split regressor with covers (hitrates 10, 3, 7),
// followed by the node after ("" for none).
func stumpModel(t *testing.T, after string) *engine.Model {
	t.Helper()
	g := onnxbuild.NewGraph("stump").Input("X", onnxbuild.TensorType(ops.Float, "N", 2))
	out := "y"
	in := "X"
	if after == "Normalizer" { // before the trees: it mixes the features
		g.DomainNode("ai.onnx.ml", "Normalizer", []string{"X"}, []string{"xn"}, onnxbuild.String("norm", "L2"))
		in, after = "xn", ""
	}
	g.DomainNode("ai.onnx.ml", "TreeEnsembleRegressor", []string{in}, []string{"t"},
		onnxbuild.Int("n_targets", 1),
		onnxbuild.Ints("nodes_treeids", 0, 0, 0), onnxbuild.Ints("nodes_nodeids", 0, 1, 2),
		onnxbuild.Ints("nodes_featureids", 1, 0, 0), onnxbuild.Strings("nodes_modes", "BRANCH_LEQ", "LEAF", "LEAF"),
		onnxbuild.Floats("nodes_values", 0.5, 0, 0), onnxbuild.Ints("nodes_truenodeids", 1, 0, 0),
		onnxbuild.Ints("nodes_falsenodeids", 2, 0, 0), onnxbuild.Floats("nodes_hitrates", 10, 3, 7),
		onnxbuild.Ints("target_treeids", 0, 0), onnxbuild.Ints("target_nodeids", 1, 2),
		onnxbuild.Ints("target_ids", 0, 0), onnxbuild.Floats("target_weights", 1, 5))
	switch after {
	case "":
		out = "t"
	case "Mul":
		g.Initializer("two", ops.FromSlice(ops.Float, []float32{2}, 1))
		g.Node("Mul", []string{"t", "two"}, []string{out})
	default:
		g.Node(after, []string{"t"}, []string{out})
	}
	g.Output(out, nil)
	raw, err := (&onnxbuild.Model{Graph: g, Opsets: map[string]int{"": 17, "ai.onnx.ml": 3}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.LoadBytes(raw, engine.WithoutConstantFolding())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestTreeExplainerOutputChain: operators after the trees that change
// their values, or before them that mix the features (Normalizer), make
// the model unexplainable; pass-through ones do not.
func TestTreeExplainerOutputChain(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		after string
		ok    bool
	}{{"", true}, {"Identity", true}, {"Mul", false}, {"Neg", false}, {"Normalizer", false}} {
		m := stumpModel(t, c.after)
		e, err := m.TreeExplainer(ctx, engine.ExplainOptions{})
		if c.ok != (err == nil) || (!c.ok && !errors.Is(err, engine.ErrNotExplainable)) {
			t.Errorf("after %q: err = %v", c.after, err)
		}
		if err == nil {
			x := tensor.New(tensor.WithShape(1, 2), tensor.WithBacking([]float32{0, 1}))
			ex, err := e.Explain(ctx, x)
			if err != nil {
				t.Fatal(err)
			}
			// Expected 0.3·1 + 0.7·5 = 3.8; the row goes right (5): +1.2 on feature 1.
			phi := ex.Contributions.Data().([]float64)
			if ex.Expected[0] < 3.8-1e-9 || ex.Expected[0] > 3.8+1e-9 || phi[0] != 0 || phi[1] < 1.2-1e-9 || phi[1] > 1.2+1e-9 {
				t.Errorf("after %q: expected %v, contributions %v", c.after, ex.Expected, phi)
			}
		}
		m.Close()
	}
}
