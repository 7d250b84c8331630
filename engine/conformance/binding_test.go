package conformance

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/agate-ml/agate/engine"
	ob "github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/ops"
)

// TestInputBinding: a graph whose input list starts with an
// initializer-backed weight (older exporters) gets the test data on its
// data input, whether the file names the input or not.
func TestInputBinding(t *testing.T) {
	g := ob.NewGraph("g").
		Input("w", ob.TensorType(ops.Float, 3)).
		Input("x", ob.TensorType(ops.Float, 2, 3)).
		Output("y", ob.TensorType(ops.Float, 2, 3)).
		Initializer("w", ops.FromSlice(ops.Float, []float32{10, 20, 30}, 3)).
		Node("Add", []string{"x", "w"}, []string{"y"})
	b, err := (&ob.Model{Graph: g, Opsets: map[string]int{"": 13}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	x := ops.FromSlice(ops.Float, []float32{1, 2, 3, 4, 5, 6}, 2, 3)
	y := ops.FromSlice(ops.Float, []float32{11, 22, 33, 14, 25, 36}, 2, 3)
	for _, name := range []string{"", "x"} {
		dir := t.TempDir()
		set := filepath.Join(dir, "test_data_set_0")
		os.MkdirAll(set, 0o755)
		os.WriteFile(filepath.Join(dir, "model.onnx"), b, 0o644)
		in, _ := engine.EncodeTensor(name, x)
		out, _ := engine.EncodeTensor("y", y)
		os.WriteFile(filepath.Join(set, "input_0.pb"), in, 0o644)
		os.WriteFile(filepath.Join(set, "output_0.pb"), out, 0o644)
		res := RunCase(context.Background(), dir, Options{Tolerance: DefaultTolerance})
		if res.Status != Passed {
			t.Errorf("input file named %q: %s: %s", name, res.Status, res.Message)
		}
	}
}
