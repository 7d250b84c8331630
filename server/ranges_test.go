package server

import (
	"strings"
	"testing"

	"github.com/agate-ml/agate/models"
)

// TestFeatureRanges: the demo forest carries its training data's ranges; a
// value outside is listed (flag, the default), refused with 422 naming the
// feature (reject, by flag or manifest), or let through (ignore).
func TestFeatureRanges(t *testing.T) {
	in := []float64{0.5, -1.2, 0.3, 2, 0}
	out := []float64{9.5, -1.2, 0.3, 2, -7}

	e := newEnv(t, Config{Batching: true}, false)
	w, body := e.do("GET", "/v1/models/demo-rf", nil)
	feats, _ := body["features"].([]any)
	if w.Code != 200 || len(feats) != 5 || body["out_of_range"] != models.OutOfRangeFlag {
		t.Fatalf("model info: %d %s", w.Code, w.Body)
	}
	if w, body = e.do("POST", "/predict", map[string]any{"data": in}); w.Code != 200 || body["out_of_range"] != nil {
		t.Fatalf("in range: %d %s", w.Code, w.Body)
	}
	w, body = e.do("POST", "/api/v1/predict", map[string]any{"data": out})
	flagged, _ := body["out_of_range"].([]any)
	if w.Code != 200 || len(flagged) != 2 || body["prediction"] == nil {
		t.Fatalf("flag: %d %s", w.Code, w.Body)
	}
	first := flagged[0].(map[string]any)
	if first["name"] != "x0" || first["value"] != 9.5 || first["feature"] != 0.0 || first["max"].(float64) >= 9.5 {
		t.Errorf("flagged value %v", first)
	}
	if flagged[1].(map[string]any)["feature"] != 4.0 {
		t.Errorf("second flagged value %v, want feature 4", flagged[1])
	}

	// reject, by the server's configuration
	e = newEnv(t, Config{Batching: true, OutOfRange: models.OutOfRangeReject}, false)
	detail := e.expectError("POST", "/predict", map[string]any{"data": out}, 422, "data[0]")
	if msg := detail["message"].(string); !strings.Contains(msg, "x0 = 9.5") || !strings.Contains(msg, "2 value(s)") {
		t.Errorf("reject message %q should name the feature, its value and the count", msg)
	}
	e.expectError("POST", "/v1/models/demo-rf/predict", map[string]any{"instances": [][]float64{in, out}}, 422, "instances[1][0]")
	if w, _ := e.do("POST", "/predict", map[string]any{"data": in}); w.Code != 200 {
		t.Errorf("reject, in range: %d %s", w.Code, w.Body)
	}
	// a manifest's policy wins over the server's
	m, _ := e.reg.Get("demo-rf")
	m.Manifest.OutOfRange = models.OutOfRangeIgnore
	if w, body := e.do("POST", "/predict", map[string]any{"data": out}); w.Code != 200 || body["out_of_range"] != nil {
		t.Errorf("manifest ignore: %d %s", w.Code, w.Body)
	}
	if _, err := New(models.NewRegistry(), Config{OutOfRange: "drop"}); err == nil {
		t.Error("an unknown out-of-range policy was accepted")
	}
}
