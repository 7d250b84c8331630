package server

import (
	"math"
	"testing"

	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/models"
)

// sumExplained returns expected_value + Σ contributions of a row.
func sumExplained(ex map[string]any, row map[string]any) float64 {
	s := ex["expected_value"].(float64)
	for _, c := range row["contributions"].([]any) {
		s += c.(float64)
	}
	return s
}

// TestExplain: the demo forest, whose export carries its training covers,
// is explained through its Scaler: one contribution per input feature,
// adding up with the expected value to the prediction.
func TestExplain(t *testing.T) {
	e := newEnv(t, Config{Batching: true}, true)
	row := []float64{0.5, -1.2, 0.3, 2, 0}
	w, out := e.do("POST", "/v1/models/demo-rf/explain", map[string]any{"data": row})
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	ex := out["explanation"].(map[string]any)
	if ex["covers"] != "model" || ex["output"] != "raw" || ex["method"] != "tree_shap_path_dependent" {
		t.Errorf("explanation header %v", ex)
	}
	contrib := ex["contributions"].([]any)
	if len(contrib) != 5 {
		t.Fatalf("%d contributions, want one per feature (5)", len(contrib))
	}
	pred := out["prediction"].(float64)
	rows := ex["rows"].([]any)
	if got := sumExplained(ex, rows[0].(map[string]any)); math.Abs(got-pred) > 1e-5*math.Max(1, math.Abs(pred)) {
		t.Errorf("expected_value + contributions = %v, prediction %v", got, pred)
	}
	// y = 3x0 - 2x1 + ...: x0 = 0.5 and x1 = -1.2 push the value up.
	if contrib[0].(float64) <= 0 || contrib[1].(float64) <= 0 {
		t.Errorf("contributions %v: x0 and x1 should both raise the prediction", contrib)
	}

	// explain: true on the predict routes, batch form
	batch := [][]float64{{1, 2, 3, 4, 5}, {0, 0, 0, 0, 0}, {-1, 1, -1, 1, -1}}
	for _, path := range []string{"/api/v1/predict", "/v1/models/demo-rf/predict"} {
		w, out = e.do("POST", path, map[string]any{"instances": batch, "explain": true})
		if w.Code != 200 {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		ex = out["explanation"].(map[string]any)
		rows = ex["rows"].([]any)
		if len(rows) != 3 || ex["contributions"] != nil {
			t.Fatalf("%s: %d rows, single-row contributions %v", path, len(rows), ex["contributions"])
		}
		for i, r := range rows {
			pred := out["predictions"].([]any)[i].(float64)
			if got := sumExplained(ex, r.(map[string]any)); math.Abs(got-pred) > 1e-5*math.Max(1, math.Abs(pred)) {
				t.Errorf("%s row %d: expected_value + contributions = %v, prediction %v", path, i, got, pred)
			}
		}
	}
	// without explain, no explanation
	if w, out = e.do("POST", "/v1/models/demo-rf/predict", map[string]any{"data": row}); w.Code != 200 || out["explanation"] != nil {
		t.Errorf("plain predict: %d, explanation %v", w.Code, out["explanation"])
	}

	// Global importance in the model's description.
	w, out = e.do("GET", "/v1/models/demo-rf", nil)
	fi, ok := out["feature_importance"].(map[string]any)
	if w.Code != 200 || !ok || len(fi["split_count"].([]any)) != 5 {
		t.Fatalf("feature importance: %d %s", w.Code, w.Body)
	}
	cw := fi["cover_weighted"].([]any)
	if cw[0].(float64) <= cw[4].(float64) {
		t.Errorf("cover-weighted importance %v: x0 (weight 3) should be used more than x4 (sin)", cw)
	}

	// Errors: text models, bad rows, unknown models.
	p := "/v1/models/demo-rf/explain"
	e.expectError("POST", "/v1/models/tiny-tox/explain", `{"data": "hello"}`, 422, "")
	e.expectError("POST", p, `{"data": [1,2,3]}`, 422, "data")
	e.expectError("POST", p, `{}`, 422, "data")
	e.expectError("POST", "/v1/models/nope/explain", `{"data": [1]}`, 404, "")
}

// TestExplainClassifier: a scikit-learn forest exported without covers is
// explained against the rows of its folder's test data; each class has its
// contributions, adding up to the class probability.
func TestExplainClassifier(t *testing.T) {
	e := newEnv(t, Config{Batching: true}, false)
	dir := shared.Path(t, "models", "third-party", "iris_rf_skl2onnx_1.16")
	m, err := models.Load(dir, models.LoadOptions{Name: "iris"})
	if err != nil {
		t.Fatal(err)
	}
	e.reg.Add(m)
	row := []float64{5.1, 3.5, 1.4, 0.2}
	w, out := e.do("POST", "/v1/models/iris/explain", map[string]any{"data": row})
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	ex := out["explanation"].(map[string]any)
	if ex["covers"] != "background" || len(ex["targets"].([]any)) != 3 {
		t.Fatalf("explanation %v", ex)
	}
	r := ex["rows"].([]any)[0].(map[string]any)
	probs := out["probabilities"].([]any)[0].([]any)
	for j, target := range ex["targets"].([]any) {
		s := ex["expected_values"].(map[string]any)[target.(string)].(float64)
		for _, c := range r["contributions_by_target"].(map[string]any)[target.(string)].([]any) {
			s += c.(float64)
		}
		if p := probs[j].(float64); math.Abs(s-p) > 1e-5 {
			t.Errorf("class %v: expected + contributions = %v, probability %v", target, s, p)
		}
	}
}
