package server

import (
	"log/slog"
	"math"
	"strings"
	"testing"

	"github.com/agate-ml/agate/models"
	"github.com/agate-ml/agate/models/toxicity"
)

// newDefaultEnv serves the embedded toxicity model with the default
// configuration, as 'agate serve' does on a fresh machine.
func newDefaultEnv(t *testing.T) *testEnv {
	t.Helper()
	e := newDefaultEnvTB(t)
	e.t = t
	return e
}

func newDefaultEnvTB(t testing.TB) *testEnv {
	t.Helper()
	reg := models.NewRegistry()
	m, err := models.LoadFS(toxicity.Default(), "embedded", models.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Add(m); err != nil {
		t.Fatal(err)
	}
	buf := &lockedBuffer{}
	s, err := New(reg, Config{Batching: true, Logger: slog.New(slog.NewJSONHandler(buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.SetReady(true)
	t.Cleanup(func() { s.Close(); reg.Close() })
	return &testEnv{s: s, reg: reg, log: &buf.Buffer}
}

func TestAnalyzeEmbeddedModel(t *testing.T) {
	e := newDefaultEnv(t)
	texts := []string{
		"Ce commentaire est vraiment méchant et insultant, espèce de connard",
		"Merci beaucoup pour votre aide, bonne journée à vous",
	}
	w, out := e.do("POST", "/analyze", map[string]any{"texts": texts, "explain": true, "language": "fr-FR"})
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	m := out["model"].(map[string]any)
	if m["name"] != toxicity.Name {
		t.Errorf("model %v, want the embedded %s", m, toxicity.Name)
	}
	if langs, _ := m["languages"].([]any); len(langs) == 0 || langs[0] != "fr" {
		t.Errorf("model languages %v, want French first", m["languages"])
	}
	results := out["results"].([]any)
	toxic, kind := results[0].(map[string]any), results[1].(map[string]any)
	if toxic["score"].(float64) < 50 || kind["score"].(float64) > 50 || toxic["toxicity_level"] == "low" {
		t.Errorf("scores: insult %v (%v), thanks %v (%v)", toxic["score"], toxic["toxicity_level"], kind["score"], kind["toxicity_level"])
	}
	if toxic["language_supported"] != true {
		t.Errorf("language_supported %v for French", toxic["language_supported"])
	}
	for i, r := range results {
		res := r.(map[string]any)
		a := res["attributions"].(map[string]any)
		cats := res["categories"].(map[string]any)
		for cat, p := range cats {
			logit := a["logit"].(map[string]any)[cat].(float64)
			sum := a["bias"].(map[string]any)[cat].(float64)
			for _, wd := range a["words"].([]any) {
				sum += wd.(map[string]any)["logit"].(map[string]any)[cat].(float64)
			}
			if math.Abs(sum-logit) > 1e-4 {
				t.Errorf("text %d %s: bias + words = %v, logit %v", i, cat, sum, logit)
			}
			if sig := 1 / (1 + math.Exp(-logit)); math.Abs(sig-p.(float64)) > 1e-5 {
				t.Errorf("text %d %s: sigmoid(logit) = %v, probability %v", i, cat, sig, p)
			}
		}
	}
	// the insult pushes toward toxic, the neutral words do not
	attr := map[string]float64{}
	for _, wd := range toxic["attributions"].(map[string]any)["words"].([]any) {
		wm := wd.(map[string]any)
		attr[wm["word"].(string)] = wm["logit"].(map[string]any)["toxicity"].(float64)
	}
	if attr["connard"] < 0.3 || attr["connard"] <= attr["commentaire"] || attr["connard"] <= attr["est"] {
		t.Errorf("attributions %v: want connard clearly toxic, above commentaire and est", attr)
	}
	// a long text lists its 64 strongest words; the rest are summed in other
	long := strings.Repeat("bonjour à tous et merci ", 40) + "espèce de connard"
	w, out = e.do("POST", "/analyze", map[string]any{"text": long, "explain": true})
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	a := out["attributions"].(map[string]any)
	listed := a["words"].([]any)
	if len(listed) != 64 || a["other"] == nil {
		t.Fatalf("%d words listed, other %v", len(listed), a["other"])
	}
	sum := a["bias"].(map[string]any)["toxicity"].(float64) + a["other"].(map[string]any)["toxicity"].(float64)
	seen := false
	for _, wd := range listed {
		wm := wd.(map[string]any)
		sum += wm["logit"].(map[string]any)["toxicity"].(float64)
		seen = seen || wm["word"] == "connard"
	}
	if logit := a["logit"].(map[string]any)["toxicity"].(float64); math.Abs(sum-logit) > 1e-4 || !seen {
		t.Errorf("bias + words + other = %v, logit %v; connard listed: %v", sum, logit, seen)
	}
	// a language the model was not trained on is still scored
	w, out = e.do("POST", "/analyze", map[string]any{"text": "これはテストです", "language": "ja"})
	if w.Code != 200 || out["language_supported"] != false {
		t.Errorf("Japanese: %d %s", w.Code, w.Body)
	}
	// spans and the Perspective route run on the same model
	w, out = e.do("POST", "/analyze", map[string]any{"text": "Bonjour à tous. Espèce de connard !", "spans": true})
	if sp, _ := out["spans"].([]any); w.Code != 200 || len(sp) != 2 ||
		sp[1].(map[string]any)["score"].(float64) <= sp[0].(map[string]any)["score"].(float64) {
		t.Errorf("spans: %d %s", w.Code, w.Body)
	}
	w, out = e.do("POST", "/v1alpha1/comments:analyze", map[string]any{"comment": map[string]any{"text": texts[0]},
		"requestedAttributes": map[string]any{"TOXICITY": map[string]any{}, "IDENTITY_ATTACK": map[string]any{}}, "languages": []string{"fr"}})
	if w.Code != 200 {
		t.Fatalf("perspective: %d %s", w.Code, w.Body)
	}
	v := out["attributeScores"].(map[string]any)["TOXICITY"].(map[string]any)["summaryScore"].(map[string]any)["value"].(float64)
	if want := toxic["categories"].(map[string]any)["toxicity"].(float64); math.Abs(v-want) > 1e-6 {
		t.Errorf("perspective TOXICITY %v, /analyze %v", v, want)
	}
	// KServe v2 with raw strings
	w, out = e.do("POST", "/v2/models/"+toxicity.Name+"/infer", map[string]any{"inputs": []any{
		map[string]any{"name": "text", "shape": []int{2}, "datatype": "BYTES", "data": texts}}})
	if w.Code != 200 {
		t.Fatalf("v2: %d %s", w.Code, w.Body)
	}
	data := out["outputs"].([]any)[0].(map[string]any)["data"].([]any)
	if want := toxic["categories"].(map[string]any)["toxicity"].(float64); len(data) != 4 || math.Abs(data[0].(float64)-want) > 1e-6 {
		t.Errorf("v2 probabilities %v, /analyze toxicity %v", data, want)
	}
}

func TestModerations(t *testing.T) {
	e := newDefaultEnv(t)
	w, out := e.do("POST", "/v1/moderations", map[string]any{"input": []string{"Merci pour ton aide !", "Ta gueule connard"}, "model": "omni-moderation-latest"})
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	results := out["results"].([]any)
	kind, rude := results[0].(map[string]any), results[1].(map[string]any)
	if kind["flagged"] != false || rude["flagged"] != true || rude["categories"].(map[string]any)["harassment"] != true {
		t.Errorf("results %v", results)
	}
	if _, ok := rude["category_scores"].(map[string]any)["hate"]; !ok || out["model"] != "agate-toxicity" {
		t.Errorf("response %v", out)
	}
	w, out = e.do("POST", "/v1/moderations", map[string]any{"input": "Ta gueule connard"})
	if w.Code != 200 || len(out["results"].([]any)) != 1 {
		t.Errorf("one string: %d %s", w.Code, w.Body)
	}
	e.expectError("POST", "/v1/moderations", `{}`, 422, "input")
	e.expectError("POST", "/v1/moderations", `{"input": 3}`, 422, "input")
	e.expectError("POST", "/v1/moderations", `{"input": []}`, 422, "input")
	e.expectError("POST", "/v1/moderations", `{"input": [""]}`, 422, "input")
}
