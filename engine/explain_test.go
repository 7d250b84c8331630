package engine

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/ops"
)

// TestTreeExplainerFixtures explains every tree-ensemble fixture in
// ../shared (scikit-learn exports, Scaler in front, classifiers with
// LOGISTIC, ZipMap outputs, third-party skl2onnx versions), with the test
// rows as background (the exports carry no covers): expected value plus
// contributions must give the raw prediction within 1e-5, and the raw
// prediction, post-transformed, the model's own output.
func TestTreeExplainerFixtures(t *testing.T) {
	root := shared.Path(t, "models")
	var dirs []string
	for _, group := range []string{"sklearn", "third-party"} {
		entries, err := os.ReadDir(filepath.Join(root, group))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() {
				dirs = append(dirs, filepath.Join(root, group, e.Name()))
			}
		}
	}
	if len(dirs) < 10 {
		t.Fatalf("found %d tree fixtures, expected 10", len(dirs))
	}
	ctx := context.Background()
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m, err := LoadFile(filepath.Join(dir, "model.onnx"))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			b, err := os.ReadFile(filepath.Join(dir, "test_data_set_0", "input_0.pb"))
			if err != nil {
				t.Fatal(err)
			}
			in, err := DecodeTensor(b)
			if err != nil {
				t.Fatal(err)
			}
			x := ToDense(in)
			if _, err := m.TreeExplainer(ctx, ExplainOptions{}); !errors.Is(err, ops.ErrNoCovers) {
				t.Fatalf("without background: err = %v, want ops.ErrNoCovers (the exports write no covers)", err)
			}
			ex, err := m.TreeExplainer(ctx, ExplainOptions{Background: x})
			if err != nil {
				t.Fatal(err)
			}
			// Explain the first 100 rows (deep trees cost ~50 ms a row).
			rows := min(in.Shape[0], 100)
			width := in.Shape[1]
			head := &ops.Tensor{DType: in.DType, Shape: []int{rows, width}, Data: ops.MakeSlice(in.DType, rows*width)}
			ops.CopySlice(head.Data, in.Data)
			exp, err := ex.Explain(ctx, ToDense(head))
			if err != nil {
				t.Fatal(err)
			}
			k := len(exp.Targets)
			nf := exp.Features
			if nf != in.Shape[1] {
				t.Errorf("explains %d features, the input has %d", nf, in.Shape[1])
			}
			contrib := exp.Contributions.Data().([]float64)
			raw := exp.Raw.Data().([]float64)
			for r := 0; r < rows; r++ {
				for j := 0; j < k; j++ {
					s := exp.Expected[j]
					for f := 0; f < nf; f++ {
						s += contrib[(r*k+j)*nf+f]
					}
					if want := raw[r*k+j]; math.Abs(s-want) > 1e-5*math.Max(1, math.Abs(want)) {
						t.Fatalf("row %d target %s: expected + contributions = %.9g, raw prediction %.9g", r, exp.Targets[j], s, want)
					}
				}
			}
			// The raw values, post-transformed, are the model's output.
			out, err := m.RunValues(ctx, map[string]ops.Value{m.Inputs()[0].Name: head})
			if err != nil {
				t.Fatal(err)
			}
			var pred []float32
			for _, o := range m.Outputs() {
				if tt, ok := out[o.Name].(*ops.Tensor); ok && tt.DType == ops.Float {
					pred = tt.Data.([]float32)
				}
			}
			if pred == nil {
				t.Log("no float tensor output to compare (ZipMap): additivity checked only")
				return
			}
			width = len(pred) / rows
			for r := 0; r < rows; r++ {
				for j := 0; j < k; j++ {
					v := raw[r*k+j]
					col := j
					switch exp.PostTransform {
					case "LOGISTIC":
						v = 1 / (1 + math.Exp(-v))
						col = width - 1 // the positive class
					case "NONE":
					default:
						t.Fatalf("post-transform %s not covered by the test", exp.PostTransform)
					}
					// The kernels sum float32 leaf values (onnxruntime too),
					// the explainer float64: 200 trees drift by a few 1e-5.
					if got := float64(pred[r*width+col]); math.Abs(got-v) > 1e-4*math.Max(1, math.Abs(v)) {
						t.Fatalf("row %d target %s: model output %.7g, from the explained raw value %.7g", r, exp.Targets[j], got, v)
					}
				}
			}
			t.Logf("%d rows, %d targets %v, %d features, post %s, expected %.4g", rows, k, exp.Targets, nf, exp.PostTransform, exp.Expected)
		})
	}
}

// TestTreeExplainerRefusesOtherModels: a model without trees cannot be
// explained (explain_chain_test.go covers operators after the trees).
func TestTreeExplainerRefusesOtherModels(t *testing.T) {
	m, err := LoadBytes(marshal(t, model(addGraph())))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.TreeExplainer(context.Background(), ExplainOptions{}); !errors.Is(err, ErrNotExplainable) {
		t.Errorf("a model without trees: err = %v, want ErrNotExplainable", err)
	}
}
