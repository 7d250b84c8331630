package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/models"
	"github.com/agate-ml/agate/models/demo"
	"github.com/gin-gonic/gin"
)

var demoModelDir string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "agate-server-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	demoModelDir = dir + "/demo-rf"
	if _, err := demo.Write(demoModelDir, demo.DefaultConfig()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	// With the whole suite run, every documented operation must have been
	// exercised and checked against the document at least once.
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && theDoc != nil {
		var missing []string
		for _, p := range theDoc.paths {
			for method := range p.item {
				found := false
				exercised.Range(func(k, _ any) bool {
					found = found || strings.HasPrefix(k.(string), strings.ToUpper(method)+" "+p.template+" ")
					return !found
				})
				if !found {
					missing = append(missing, strings.ToUpper(method)+" "+p.template)
				}
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			fmt.Fprintf(os.Stderr, "FAIL: documented operations never exercised: %v\n", missing)
			code = 1
		}
	}
	os.Exit(code)
}

type testEnv struct {
	t   *testing.T
	s   *Server
	reg *models.Registry
	log *bytes.Buffer
	// logs, when set, is log's lock, for tests that read the log while the
	// server writes it (logText).
	logs *lockedBuffer
}

// logText returns the log so far.
func (e *testEnv) logText() string {
	if e.logs == nil {
		return e.log.String()
	}
	e.logs.mu.Lock()
	defer e.logs.mu.Unlock()
	return e.logs.Buffer.String()
}

// lockedBuffer is a bytes.Buffer safe for the concurrent writes of slog.
type lockedBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

// loadText adds the tiny random BERT from the shared fixtures as a
// toxicity model called "tiny-tox" (English only).
func loadText(t *testing.T, reg *models.Registry) {
	t.Helper()
	dir := shared.Path(t, "models", "transformers", "bert-tiny-6label")
	man := &models.Manifest{Name: "tiny-tox", Version: "test", Task: models.TaskTextClassification,
		Source: models.Source{Kind: models.SourceBuiltin}, Languages: []string{"en"}, MaxLength: 64,
		Thresholds: &models.Thresholds{Medium: 30, High: 60}}
	m, err := models.Load(dir, models.LoadOptions{Manifest: man})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Add(m); err != nil {
		t.Fatal(err)
	}
}

func loadDemo(t *testing.T, reg *models.Registry) {
	t.Helper()
	m, err := models.Load(demoModelDir, models.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Add(m); err != nil {
		t.Fatal(err)
	}
}

// newEnv builds a ready server over the demo model, plus the text model
// when text is set.
func newEnv(t *testing.T, cfg Config, text bool) *testEnv {
	t.Helper()
	reg := models.NewRegistry()
	loadDemo(t, reg)
	if text {
		loadText(t, reg)
		if cfg.AnalyzeModel == "" {
			cfg.AnalyzeModel = "tiny-tox"
		}
	}
	reg.SetMissing("toxic-bert", "run `agate pull toxic-bert`")
	buf := &lockedBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(buf, nil))
	s, err := New(reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.SetReady(true)
	t.Cleanup(func() { s.Close(); reg.Close() })
	return &testEnv{t: t, s: s, reg: reg, log: &buf.Buffer}
}

// do sends a request through the handler, checks the response against the
// OpenAPI document and returns it with its decoded JSON body.
func (e *testEnv) do(method, path string, body any, header ...string) (*httptest.ResponseRecorder, map[string]any) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
		if header[i] == "Content-Length" {
			fmt.Sscan(header[i+1], &req.ContentLength)
		}
	}
	w := httptest.NewRecorder()
	e.s.Handler().ServeHTTP(w, req)
	if w.Header().Get(headerReqID) == "" {
		e.t.Errorf("%s %s: no X-Request-ID header", method, path)
	}
	loadDoc(e.t).checkResponse(e.t, method, path, w.Code, w.Header(), w.Body.Bytes())
	var out map[string]any
	if strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(w.Body.Bytes(), &out)
	}
	return w, out
}

// expectError checks status, the error envelope and (for 422) the field.
func (e *testEnv) expectError(method, path string, body any, status int, field string, header ...string) map[string]any {
	e.t.Helper()
	w, out := e.do(method, path, body, header...)
	if w.Code != status {
		e.t.Fatalf("%s %s %v: status %d, want %d: %s", method, path, body, w.Code, status, w.Body)
	}
	if strings.HasPrefix(path, "/v2") {
		if s, _ := out["error"].(string); s == "" {
			e.t.Errorf("%s %s: want a v2 error body, got %s", method, path, w.Body)
		}
		return out
	}
	detail, _ := out["error"].(map[string]any)
	if detail == nil || detail["request_id"] != w.Header().Get(headerReqID) || detail["message"] == "" {
		e.t.Fatalf("%s %s: bad error body %s", method, path, w.Body)
	}
	if field != "" && detail["field"] != field {
		e.t.Errorf("%s %s %v: field %v, want %q (%s)", method, path, body, detail["field"], field, w.Body)
	}
	return detail
}

func TestProbesAndMetadata(t *testing.T) {
	e := newEnv(t, Config{}, false)
	e.s.SetReady(false)
	if w, out := e.do("GET", "/readyz", nil); w.Code != 503 || out["status"] != "loading" {
		t.Errorf("readyz while loading: %d %v", w.Code, out)
	}
	if w, _ := e.do("GET", "/health", nil); w.Code != 503 {
		t.Errorf("health while loading: %d", w.Code)
	}
	if w, _ := e.do("GET", "/v2/health/ready", nil); w.Code != 503 {
		t.Errorf("v2 ready while loading: %d", w.Code)
	}
	e.s.SetReady(true)
	for _, p := range []string{"/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/v2"} {
		if w, _ := e.do("GET", p, nil); w.Code != 200 {
			t.Errorf("%s: %d", p, w.Code)
		}
	}
	w, out := e.do("GET", "/health", nil)
	if w.Code != 200 || out["status"] != "ok" || len(out["models"].([]any)) != 2 {
		t.Errorf("health: %d %s", w.Code, w.Body)
	}
	if w, _ := e.do("GET", "/openapi.json", nil); w.Code != 200 || !json.Valid(w.Body.Bytes()) {
		t.Errorf("openapi.json: %d", w.Code)
	}
	if w, _ := e.do("GET", "/docs", nil); w.Code != 200 || !strings.Contains(w.Body.String(), "openapi.json") || !strings.Contains(w.Body.String(), "swagger-ui-bundle.js") {
		t.Errorf("docs: %d", w.Code)
	}
	// Swagger UI itself, from the embedded copy, started on our document
	for file, want := range map[string]string{"swagger-ui-bundle.js": "SwaggerUIBundle", "swagger-ui.css": ".swagger-ui",
		"swagger-initializer.js": "/openapi.json", "swagger-ui-standalone-preset.js": "SwaggerUIStandalonePreset"} {
		w, _ := e.do("GET", "/docs/"+file, nil)
		if w.Code != 200 || !strings.Contains(w.Body.String(), want) {
			t.Errorf("/docs/%s: %d, %d bytes", file, w.Code, w.Body.Len())
		}
	}
	e.expectError("GET", "/docs/nope.js", nil, 404, "")
	if w, _ := e.do("GET", "/", nil); w.Code != http.StatusFound {
		t.Errorf("/: %d", w.Code)
	}
	e.do("POST", "/predict", map[string]any{"data": []float64{1, 2, 3, 4, 5}})
	w, _ = e.do("GET", "/metrics", nil)
	for _, name := range []string{"agate_http_requests_total", "agate_http_request_duration_seconds", "agate_batch_size",
		"agate_queue_depth", "agate_inference_duration_seconds", `route="/predict"`, "go_goroutines"} {
		if !strings.Contains(w.Body.String(), name) {
			t.Errorf("metrics lack %s", name)
		}
	}
}

func TestModelsList(t *testing.T) {
	e := newEnv(t, Config{}, true)
	w, out := e.do("GET", "/v1/models", nil)
	if w.Code != 200 || len(out["models"].([]any)) != 3 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	_, out = e.do("GET", "/v1/models/demo-rf", nil)
	if out["features_count"] != 5.0 || out["task"] != models.TaskTabularRegression {
		t.Errorf("demo-rf: %v", out)
	}
	_, out = e.do("GET", "/v1/models/tiny-tox", nil)
	if cats := out["categories"].(map[string]any); cats["identity_attack"] != "hate" {
		t.Errorf("tiny-tox categories: %v", cats)
	}
	if _, out = e.do("GET", "/v1/models/toxic-bert", nil); out["status"] != "missing" || out["hint"] == nil {
		t.Errorf("missing model: %v", out)
	}
	e.expectError("GET", "/v1/models/nope", nil, 404, "")
}

func TestRoutingErrors(t *testing.T) {
	e := newEnv(t, Config{}, false)
	e.expectError("GET", "/nope", nil, 404, "")
	w, _ := e.do("GET", "/analyze", nil)
	if w.Code != 405 || w.Header().Get("Allow") == "" {
		t.Errorf("GET /analyze: %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}
	e.expectError("DELETE", "/v1/models", nil, 405, "")
	// A well-formed request id is reused, a bad one replaced.
	w, _ = e.do("GET", "/healthz", nil, headerReqID, "abc-123")
	if got := w.Header().Get(headerReqID); got != "abc-123" {
		t.Errorf("request id %q", got)
	}
	w, _ = e.do("GET", "/healthz", nil, headerReqID, "bad id with spaces")
	if got := w.Header().Get(headerReqID); got == "bad id with spaces" || len(got) != 24 {
		t.Errorf("request id %q", got)
	}
}

func TestPanicRecovery(t *testing.T) {
	e := newEnv(t, Config{}, false)
	e.s.engine.GET("/boom", func(c *gin.Context) { panic("kaboom") })
	req := httptest.NewRequest("GET", "/boom", nil)
	w := httptest.NewRecorder()
	e.s.Handler().ServeHTTP(w, req)
	var out ErrorBody
	if w.Code != 500 || json.Unmarshal(w.Body.Bytes(), &out) != nil || out.Error.RequestID == "" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), "kaboom") {
		t.Error("the panic value reached the client")
	}
	if !strings.Contains(e.log.String(), "kaboom") || !strings.Contains(e.log.String(), "stack") {
		t.Error("the panic was not logged with its stack")
	}
}

func TestPredict(t *testing.T) {
	e := newEnv(t, Config{Batching: true}, true)
	m, _ := demo.Train(demo.DefaultConfig())
	row := []float32{0.5, -1.2, 0.3, 2, 0}
	w, out := e.do("POST", "/v1/models/demo-rf/predict", map[string]any{"data": row})
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	want := float64(m.Predict(row))
	if got := out["prediction"].(float64); got-want > 1e-5 || want-got > 1e-5 {
		t.Errorf("prediction %v, trainer says %v", got, want)
	}
	if out["model_format"] != "onnx" || out["features_count"] != 5.0 || out["latency_ms"] == nil {
		t.Errorf("response %v", out)
	}
	w, out = e.do("POST", "/predict", map[string]any{"instances": [][]float64{{1, 2, 3, 4, 5}, {0, 0, 0, 0, 0}, {-1, 1, -1, 1, -1}}})
	if w.Code != 200 || len(out["predictions"].([]any)) != 3 || out["prediction"] != nil {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	// Text models take strings.
	w, out = e.do("POST", "/v1/models/tiny-tox/predict", map[string]any{"instances": []string{"hello", "you idiot"}})
	if w.Code != 200 || len(out["probabilities"].([]any)) != 2 || len(out["classes"].([]any)) != 6 {
		t.Fatalf("text predict: %d %s", w.Code, w.Body)
	}
	if w, out = e.do("POST", "/v1/models/tiny-tox/predict", map[string]any{"data": "hello"}); w.Code != 200 || out["prediction"] == nil {
		t.Fatalf("text predict data: %d %s", w.Code, w.Body)
	}
	p := "/v1/models/demo-rf/predict"
	e.expectError("POST", p, `{"data": [1,2,3,4,5], "instances": [[1,2,3,4,5]]}`, 422, "instances")
	e.expectError("POST", p, `{}`, 422, "data")
	e.expectError("POST", p, `{"data": [1,2,3]}`, 422, "data")
	e.expectError("POST", p, `{"data": [1,2,"x",4,5]}`, 422, "data[2]")
	e.expectError("POST", p, `{"data": [1,2,null,4,5]}`, 422, "data[2]")
	e.expectError("POST", p, `{"data": "abc"}`, 422, "data")
	e.expectError("POST", p, `{"instances": []}`, 422, "instances")
	e.expectError("POST", p, `{"instances": {"a": 1}}`, 422, "instances")
	e.expectError("POST", p, `{"instances": [[1,2,3,4,5],[1,2,3,4,true]]}`, 422, "instances[1][4]")
	e.expectError("POST", p, `{"instances": [[1,2,3,4,5],[1,2]]}`, 422, "instances[1]")
	e.expectError("POST", p, `{"data": [1,2,3,4,5]`, 400, "")
	e.expectError("POST", p, `{"data": [1,2,3,4,5]} {"x": 1}`, 400, "")
	e.expectError("POST", p, ``, 400, "")
	e.expectError("POST", p, `{"data": [1,2,3,4,5]}`, 415, "", "Content-Type", "application/xml")
	e.expectError("POST", "/v1/models/nope/predict", `{"data": [1]}`, 404, "")
	e.expectError("POST", "/v1/models/toxic-bert/predict", `{"data": [1]}`, 503, "")
	e.expectError("POST", "/v1/models/tiny-tox/predict", `{"instances": [1, 2]}`, 422, "instances")
	e.expectError("POST", "/v1/models/tiny-tox/predict", `{"instances": ["ok", ""]}`, 422, "instances")
	e.expectError("POST", "/v1/models/tiny-tox/predict", `{"data": 5}`, 422, "data")
	e.expectError("POST", "/v1/models/tiny-tox/predict", `{"data": " "}`, 422, "data")
	e.expectError("POST", "/v1/models/tiny-tox/predict", `{}`, 422, "instances")
	many := make([][]float64, 1025)
	for i := range many {
		many[i] = []float64{1, 2, 3, 4, 5}
	}
	e.expectError("POST", p, map[string]any{"instances": many}, 422, "instances")
}

func TestPredictClassifier(t *testing.T) {
	e := newEnv(t, Config{Batching: true}, false)
	for _, name := range []string{"rf_classifier_3class_zipmap", "rf_classifier_3class"} {
		dir := shared.Path(t, "models", "sklearn", name)
		m, err := models.Load(dir, models.LoadOptions{Name: strings.ReplaceAll(name, "_", "-")})
		if err != nil {
			t.Fatal(err)
		}
		e.reg.Add(m)
		row := make([]float64, 20)
		w, out := e.do("POST", "/v1/models/"+m.Name+"/predict", map[string]any{"instances": [][]float64{row, row}})
		if w.Code != 200 || len(out["classes"].([]any)) != 3 || len(out["probabilities"].([]any)) != 2 {
			t.Fatalf("%s: %d %s", name, w.Code, w.Body)
		}
		// ZipMap outputs come back from v2 as FP32 [N, classes].
		w, out = e.do("POST", "/v2/models/"+m.Name+"/infer", map[string]any{"inputs": []map[string]any{{"name": "X", "shape": []int{1, 20}, "datatype": "FP32", "data": row}}})
		if w.Code != 200 || len(out["outputs"].([]any)) != 2 {
			t.Fatalf("%s v2: %d %s", name, w.Code, w.Body)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, Config{MaxBodyBytes: 100}, true)
	big := `{"text": "` + strings.Repeat("a", 200) + `"}`
	e.expectError("POST", "/analyze", big, 413, "")
	// A chunked body without Content-Length fails while decoding.
	req := httptest.NewRequest("POST", "/analyze", io.MultiReader(strings.NewReader(big)))
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = -1
	w := httptest.NewRecorder()
	e.s.Handler().ServeHTTP(w, req)
	if w.Code != 413 {
		t.Errorf("chunked: %d %s", w.Code, w.Body)
	}
	req = httptest.NewRequest("POST", "/analyze", io.MultiReader(strings.NewReader(`{"text":"ok"}`+strings.Repeat(" ", 200))))
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = -1
	w = httptest.NewRecorder()
	e.s.Handler().ServeHTTP(w, req)
	if w.Code != 413 {
		t.Errorf("trailing spaces past the limit: %d %s", w.Code, w.Body)
	}
}

func TestAnalyze(t *testing.T) {
	e := newEnv(t, Config{Batching: true}, true)
	w, out := e.do("POST", "/analyze", map[string]any{"text": "You are an idiot. Have a nice day!", "spans": true, "language": "en-US"})
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	cats := out["categories"].(map[string]any)
	if len(cats) != 6 || cats["hate"] == nil {
		t.Errorf("categories %v", cats)
	}
	best := 0.0
	for _, v := range cats {
		best = max(best, v.(float64))
	}
	if score := out["score"].(float64); score < 100*best-0.01 || score > 100*best+0.01 {
		t.Errorf("score %v, max category %v", score, best)
	}
	spans := out["spans"].([]any)
	if len(spans) != 2 || spans[0].(map[string]any)["end"] != 17.0 || spans[1].(map[string]any)["begin"] != 18.0 {
		t.Errorf("spans %v", spans)
	}
	if out["language_supported"] != true {
		t.Errorf("language_supported %v for en-US on an English model", out["language_supported"])
	}
	if m := out["model"].(map[string]any); m["name"] != "tiny-tox" || m["version"] != "test" || fmt.Sprint(m["languages"]) != "[en]" {
		t.Errorf("model %v", m)
	}
	// Batch form, category filter, thresholds that force each level.
	body := map[string]any{"texts": []string{"hello", "hi there. bye!"}, "categories": []string{"toxicity", "insult", "toxicity"}, "spans": true}
	w, out = e.do("POST", "/analyze", body)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	results := out["results"].([]any)
	if len(results) != 2 || len(results[0].(map[string]any)["categories"].(map[string]any)) != 2 {
		t.Fatalf("results %v", results)
	}
	if sp := results[0].(map[string]any)["spans"].([]any); len(sp) != 1 || sp[0].(map[string]any)["end"] != 5.0 {
		t.Errorf("one-sentence spans %v", sp)
	}
	for th, level := range map[[2]float64]string{{0, 0}: "high", {0, 100}: "medium", {100, 100}: "low"} {
		_, out = e.do("POST", "/analyze", map[string]any{"text": "hello", "thresholds": map[string]float64{"medium": th[0], "high": th[1]}})
		if out["toxicity_level"] != level {
			t.Errorf("thresholds %v: level %v, want %s", th, out["toxicity_level"], level)
		}
	}
	// The same text scores the same alone and in a batch.
	_, one := e.do("POST", "/analyze", map[string]any{"text": "hello", "categories": []string{"insult", "toxicity"}})
	if one["score"] != results[0].(map[string]any)["score"] {
		t.Errorf("alone %v, in a batch %v", one["score"], results[0].(map[string]any)["score"])
	}
	e.expectError("POST", "/analyze", `{}`, 422, "text")
	e.expectError("POST", "/analyze", `{"text": "a", "texts": ["b"]}`, 422, "texts")
	e.expectError("POST", "/analyze", `{"texts": []}`, 422, "texts")
	e.expectError("POST", "/analyze", `{"texts": ["ok", "  "]}`, 422, "texts[1]")
	e.expectError("POST", "/analyze", `{"text": ""}`, 422, "text")
	e.expectError("POST", "/analyze", `{"text": 5}`, 422, "text")
	e.expectError("POST", "/analyze", `{"texts": "abc"}`, 422, "texts")
	e.expectError("POST", "/analyze", `{"texts": ["a", 3]}`, 422, "texts")
	e.expectError("POST", "/analyze", `{"text": "ok", "spans": "yes"}`, 422, "spans")
	e.expectError("POST", "/analyze", map[string]any{"text": strings.Repeat("a", 20001)}, 422, "text")
	e.expectError("POST", "/analyze", map[string]any{"texts": make([]string, 65)}, 422, "texts")
	e.expectError("POST", "/analyze", `{"text": "ok", "categories": ["toxicity", "rudeness"]}`, 422, "categories[1]")
	e.expectError("POST", "/analyze", `{"text": "ok", "categories": []}`, 422, "categories")
	e.expectError("POST", "/analyze", `{"text": "ok", "thresholds": {"medium": -1}}`, 422, "thresholds.medium")
	e.expectError("POST", "/analyze", `{"text": "ok", "thresholds": {"medium": 50, "high": 20}}`, 422, "thresholds.high")
	// any language is scored; the response says whether the model knows it
	w, out = e.do("POST", "/analyze", `{"text": "ok", "language": "fr"}`)
	if w.Code != 200 || out["language_supported"] != false {
		t.Errorf("language fr on an English model: %d %s", w.Code, w.Body)
	}
	e.expectError("POST", "/analyze", `{"text": "ok", "explain": true}`, 422, "explain")
	e.expectError("POST", "/analyze", `{"text": "ok"`, 400, "")
	e.expectError("POST", "/analyze", `[1, 2]`, 422, "body")
}

func TestAnalyzeModelMissing(t *testing.T) {
	e := newEnv(t, Config{AnalyzeModel: "toxic-bert"}, false) // toxic-bert is missing
	d := e.expectError("POST", "/analyze", `{"text": "hello"}`, 503, "")
	if !strings.Contains(d["hint"].(string), "agate pull toxic-bert") {
		t.Errorf("hint %v", d["hint"])
	}
	d = e.expectError("POST", "/v1alpha1/comments:analyze", `{"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {}}}`, 503, "")
	if !strings.Contains(d["hint"].(string), "agate pull") {
		t.Errorf("hint %v", d["hint"])
	}
	e2 := newEnv(t, Config{AnalyzeModel: "unheard-of"}, false)
	d = e2.expectError("POST", "/analyze", `{"text": "hello"}`, 503, "")
	if !strings.Contains(d["hint"].(string), "agate pull unheard-of") {
		t.Errorf("hint %v", d["hint"])
	}
	e3 := newEnv(t, Config{AnalyzeModel: "demo-rf"}, false)
	e3.expectError("POST", "/analyze", `{"text": "hello"}`, 500, "")
}

func TestPerspective(t *testing.T) {
	e := newEnv(t, Config{Batching: true}, true)
	p := "/v1alpha1/comments:analyze"
	req := map[string]any{
		"comment":             map[string]any{"text": "You are a fool. Nice weather!", "type": "PLAIN_TEXT"},
		"requestedAttributes": map[string]any{"TOXICITY": map[string]any{}, "IDENTITY_ATTACK": map[string]any{"scoreType": "PROBABILITY"}, "PROFANITY": nil},
		"spanAnnotations":     true, "clientToken": "tok-1", "doNotStore": true, "languages": []string{"en"},
	}
	w, out := e.do("POST", p, req)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	scores := out["attributeScores"].(map[string]any)
	if len(scores) != 3 || out["clientToken"] != "tok-1" {
		t.Fatalf("%s", w.Body)
	}
	tox := scores["TOXICITY"].(map[string]any)
	if len(tox["spanScores"].([]any)) != 2 || tox["summaryScore"].(map[string]any)["type"] != "PROBABILITY" {
		t.Errorf("TOXICITY %v", tox)
	}
	// Attributes under their scoreThreshold are left out; with no language
	// given none is claimed as detected.
	req["requestedAttributes"] = map[string]any{"TOXICITY": map[string]any{"scoreThreshold": 1}, "INSULT": map[string]any{"scoreThreshold": 0}}
	delete(req, "languages")
	_, out = e.do("POST", p, req)
	if scores := out["attributeScores"].(map[string]any); len(scores) != 1 || scores["INSULT"] == nil || out["detectedLanguages"] != nil {
		t.Errorf("thresholded: %v", out)
	}
	e.expectError("POST", p, `{"requestedAttributes": {"TOXICITY": {}}}`, 422, "comment.text")
	e.expectError("POST", p, `{"comment": {"text": "hi", "type": "HTML"}, "requestedAttributes": {"TOXICITY": {}}}`, 422, "comment.type")
	e.expectError("POST", p, `{"comment": {"text": ""}, "requestedAttributes": {"TOXICITY": {}}}`, 422, "comment.text")
	e.expectError("POST", p, `{"comment": {"text": "hi"}}`, 422, "requestedAttributes")
	e.expectError("POST", p, `{"comment": {"text": "hi"}, "requestedAttributes": {"FLIRTATION": {}}}`, 422, "requestedAttributes.FLIRTATION")
	e.expectError("POST", p, `{"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {"scoreType": "STD_DEV_SCORE"}}}`, 422, "requestedAttributes.TOXICITY.scoreType")
	e.expectError("POST", p, `{"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {"scoreThreshold": 2}}}`, 422, "requestedAttributes.TOXICITY.scoreThreshold")
	e.expectError("POST", p, `{"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {}}, "languages": ["de"]}`, 422, "languages[0]")
	e.expectError("POST", p, `{"comment": "hi"}`, 422, "comment")
}

func TestV2(t *testing.T) {
	e := newEnv(t, Config{Batching: true}, true)
	w, out := e.do("GET", "/v2/models/demo-rf", nil)
	if w.Code != 200 || out["platform"] != "onnx" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if w, _ := e.do("GET", "/v2/models/demo-rf/versions/"+demo.Version, nil); w.Code != 200 {
		t.Errorf("versioned metadata: %d", w.Code)
	}
	e.expectError("GET", "/v2/models/demo-rf/versions/9", nil, 404, "")
	if w, out := e.do("GET", "/v2/models/tiny-tox", nil); w.Code != 200 || len(out["inputs"].([]any)) != 4 {
		t.Errorf("text metadata: %d %s", w.Code, w.Body)
	}
	if w, out := e.do("GET", "/v2/models/demo-rf/ready", nil); w.Code != 200 || out["ready"] != true {
		t.Errorf("ready: %d %v", w.Code, out)
	}
	if w, _ := e.do("GET", "/v2/models/demo-rf/versions/"+demo.Version+"/ready", nil); w.Code != 200 {
		t.Errorf("versioned ready: %d", w.Code)
	}
	e.expectError("GET", "/v2/models/nope/ready", nil, 404, "")
	e.expectError("GET", "/v2/models/nope", nil, 404, "")
	e.expectError("GET", "/v2/models/toxic-bert", nil, 503, "")
	e.expectError("GET", "/v2/models/toxic-bert/ready", nil, 503, "")
	in := func(name, dt string, shape []int, data any) map[string]any {
		return map[string]any{"id": "r1", "inputs": []map[string]any{{"name": name, "shape": shape, "datatype": dt, "data": data}}}
	}
	w, out = e.do("POST", "/v2/models/demo-rf/infer", in("X", "FP32", []int{2, 5}, [][]float64{{1, 2, 3, 4, 5}, {0, 0, 0, 0, 0}}))
	if w.Code != 200 || out["id"] != "r1" || out["model_name"] != "demo-rf" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	o := out["outputs"].([]any)[0].(map[string]any)
	if o["name"] != "variable" || len(o["data"].([]any)) != 2 || o["datatype"] != "FP32" {
		t.Errorf("output %v", o)
	}
	req := in("X", "FP32", []int{1, 5}, []float64{1, 2, 3, 4, 5})
	req["outputs"] = []map[string]any{{"name": "variable"}}
	if w, _ := e.do("POST", "/v2/models/demo-rf/versions/"+demo.Version+"/infer", req); w.Code != 200 {
		t.Errorf("versioned infer with outputs: %d %s", w.Code, w.Body)
	}
	req["outputs"] = []map[string]any{{"name": "nope"}}
	e.expectError("POST", "/v2/models/demo-rf/infer", req, 400, "")
	w, out = e.do("POST", "/v2/models/tiny-tox/infer", in("text", "BYTES", []int{2}, []string{"hello", "you fool"}))
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if o := out["outputs"].([]any)[0].(map[string]any); o["name"] != "probabilities" || len(o["data"].([]any)) != 12 {
		t.Errorf("text output %v", o)
	}
	// Raw transformer inputs work too.
	ids := map[string]any{"inputs": []map[string]any{
		{"name": "input_ids", "shape": []int{1, 3}, "datatype": "INT64", "data": []int{101, 7592, 102}},
		{"name": "attention_mask", "shape": []int{1, 3}, "datatype": "INT64", "data": []int{1, 1, 1}},
		{"name": "token_type_ids", "shape": []int{1, 3}, "datatype": "INT64", "data": []int{0, 0, 0}}}}
	if w, _ := e.do("POST", "/v2/models/tiny-tox/infer", ids); w.Code != 200 {
		t.Errorf("raw text model: %d %s", w.Code, w.Body)
	}
	inf := "/v2/models/demo-rf/infer"
	e.expectError("POST", inf, in("X", "FP16", []int{1, 5}, []float64{1, 2, 3, 4, 5}), 400, "")
	e.expectError("POST", inf, in("X", "COMPLEX", []int{1, 5}, []float64{1, 2, 3, 4, 5}), 400, "")
	e.expectError("POST", inf, in("X", "FP32", []int{1, 5}, []float64{1, 2, 3}), 400, "")
	e.expectError("POST", inf, in("X", "FP32", []int{1, 2}, []float64{1, 2, 3}), 400, "")
	e.expectError("POST", inf, in("X", "FP32", []int{-1, 5}, []float64{1, 2, 3, 4, 5}), 400, "")
	e.expectError("POST", inf, in("X", "FP32", []int{1, 5}, []any{1, 2, "x", 4, 5}), 400, "")
	e.expectError("POST", inf, in("X", "INT64", []int{1, 5}, []int{1, 2, 3, 4, 5}), 400, "")
	e.expectError("POST", inf, in("Y", "FP32", []int{1, 5}, []float64{1, 2, 3, 4, 5}), 400, "")
	e.expectError("POST", inf, in("X", "FP32", []int{1, 4}, []float64{1, 2, 3, 4}), 400, "")
	e.expectError("POST", inf, `{"inputs": [{"name": "X", "shape": [1], "datatype": "FP32", "data": [1}]}`, 400, "")
	e.expectError("POST", inf, `{"inputs": []}`, 422, "")
	e.expectError("POST", inf, `{"inputs": [{"name": "X", "shape": [1, 5], "datatype": "FP32", "data": [1, 2, 3, 4, 3.5e38]}]}`, 422, "")
	e.expectError("POST", inf, `{"inputs": 3}`, 422, "")
	e.expectError("POST", "/v2/models/nope/infer", `{"inputs": []}`, 404, "")
	e.expectError("POST", "/v2/models/tiny-tox/infer", in("text", "BYTES", []int{1}, []string{""}), 422, "")
	e.expectError("POST", inf, in("X", "FP32", []int{1, 5}, []float64{1, 2, 3, 4, 5}), 413, "", "Content-Length", "99999999")
}

func TestV2TensorTypes(t *testing.T) {
	for _, c := range []struct {
		dt   string
		data string
		ok   bool
	}{
		{"BOOL", `[true, false]`, true}, {"BOOL", `[1, 0]`, false},
		{"UINT8", `[0, 255]`, true}, {"UINT8", `[0, 256]`, false}, {"UINT16", `[1, 2]`, true}, {"UINT32", `[1, 2]`, true},
		{"UINT64", `[1, 2]`, true}, {"INT8", `[-128, 127]`, true}, {"INT8", `[-129, 0]`, false}, {"INT16", `[1, 2]`, true},
		{"INT32", `[1, 2]`, true}, {"INT64", `[1, 9007199254740993]`, true}, {"INT64", `[1.5, 2]`, false},
		{"FP64", `[1.5, 2]`, true}, {"FP32", `[[1], [2]]`, true}, {"BYTES", `["a", "b"]`, true}, {"BYTES", `[1, 2]`, false},
		{"FP32", `[true, 1]`, false},
	} {
		_, aerr := v2Tensor(V2InputTensor{Name: "x", Shape: []int64{2}, Datatype: c.dt, Data: json.RawMessage(c.data)}, "inputs[0]")
		if (aerr == nil) != c.ok {
			t.Errorf("%s %s: error %v, want ok=%v", c.dt, c.data, aerr, c.ok)
		}
	}
	if _, aerr := v2Tensor(V2InputTensor{Shape: []int64{1 << 20, 1 << 20}, Datatype: "FP32", Data: json.RawMessage(`[]`)}, "x"); aerr == nil {
		t.Error("huge shape accepted")
	}
	b, _ := json.Marshal(jsonFloats32{1, float32(nan()), 2})
	if string(b) != "[1,null,2]" {
		t.Errorf("jsonFloats32 %s", b)
	}
	b, _ = json.Marshal(jsonFloats64{1.5, nan()})
	if string(b) != "[1.5,null]" {
		t.Errorf("jsonFloats64 %s", b)
	}
}

func nan() float64 { var z float64; return z / z }

func TestRateLimit(t *testing.T) {
	e := newEnv(t, Config{RateLimit: 1, RateBurst: 2}, false)
	body := map[string]any{"data": []float64{1, 2, 3, 4, 5}}
	for i := 0; i < 2; i++ {
		if w, _ := e.do("POST", "/predict", body); w.Code != 200 {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	w, _ := e.do("POST", "/predict", body)
	if w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("third request: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	// Probes are never limited.
	if w, _ := e.do("GET", "/healthz", nil); w.Code != 200 {
		t.Errorf("healthz limited: %d", w.Code)
	}
	// Another client has its own bucket.
	req := httptest.NewRequest("POST", "/predict", strings.NewReader(`{"data":[1,2,3,4,5]}`))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = "10.0.0.9:1234"
	rec := httptest.NewRecorder()
	e.s.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("other client: %d", rec.Code)
	}
}

func TestClientLimiterBounded(t *testing.T) {
	l := newClientLimiter(10, 0, 4)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for i := 0; i < 20; i++ {
		now = now.Add(time.Second)
		if ok, _ := l.allow(fmt.Sprint("c", i)); !ok {
			t.Fatalf("client %d refused", i)
		}
		if len(l.clients) > 4 {
			t.Fatalf("%d clients tracked, limit 4", len(l.clients))
		}
	}
	now = now.Add(time.Hour)
	l.allow("late")
	if len(l.clients) != 1 {
		t.Errorf("idle clients not swept: %d", len(l.clients))
	}
}

// blockingRows installs a batcher for demo-rf whose model call is run,
// so tests can simulate slow, failing and saturated models.
func (e *testEnv) blockingRows(cfg BatchConfig, run func(ctx context.Context, rows [][]float64) ([]rowResult, error)) {
	m, _ := e.reg.Get("demo-rf")
	e.s.mu.Lock()
	e.s.runtimes[m] = &runtimeModel{m: m, rows: newBatcher(cfg, run, nil, nil)}
	e.s.mu.Unlock()
}

func TestInferenceFailures(t *testing.T) {
	e := newEnv(t, Config{RequestTimeout: 50 * time.Millisecond}, false)
	body := `{"data": [1,2,3,4,5]}`
	e.blockingRows(BatchConfig{MaxSize: 1, QueueSize: 1, Workers: 1}, func(ctx context.Context, rows [][]float64) ([]rowResult, error) {
		return nil, errors.New("engine exploded")
	})
	d := e.expectError("POST", "/predict", body, 500, "")
	if strings.Contains(d["message"].(string), "exploded") || !strings.Contains(e.log.String(), "exploded") {
		t.Errorf("engine error: message %v; the cause must be logged, not sent", d["message"])
	}
	// Timeout: the model takes longer than the request may.
	release := make(chan struct{})
	e.blockingRows(BatchConfig{MaxSize: 1, QueueSize: 1, Workers: 1}, func(ctx context.Context, rows [][]float64) ([]rowResult, error) {
		<-release
		return make([]rowResult, len(rows)), nil
	})
	e.expectError("POST", "/predict", body, 504, "")
	// The worker is still stuck on the first request and the queue holds
	// one row: the next request is refused at once with 429.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		req := httptest.NewRequest("POST", "/predict", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		e.s.Handler().ServeHTTP(httptest.NewRecorder(), req)
	}()
	deadline := time.Now().Add(2 * time.Second)
	for {
		rt, _ := e.s.peek("demo-rf", "")
		queued := rt.rows.queued.Load()
		e.s.release(rt)
		if queued == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	w, _ := e.do("POST", "/predict", body)
	if w.Code != 429 || w.Header().Get("Retry-After") != "1" {
		t.Errorf("full queue: %d %s", w.Code, w.Body)
	}
	close(release)
	wg.Wait()
	// After Close, requests get 503.
	e.s.Close()
	e.expectError("POST", "/predict", body, 503, "")
}

func TestServeGracefulShutdown(t *testing.T) {
	e := newEnv(t, Config{Addr: "127.0.0.1:0", ShutdownTimeout: 5 * time.Second, ShutdownDelay: 10 * time.Millisecond}, false)
	started := make(chan struct{})
	e.blockingRows(BatchConfig{MaxSize: 1, QueueSize: 4, Workers: 1}, func(ctx context.Context, rows [][]float64) ([]rowResult, error) {
		close(started)
		time.Sleep(200 * time.Millisecond)
		return make([]rowResult, len(rows)), nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := (&netListenConfig{}).listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.s.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String()
	resc := make(chan int, 1)
	go func() {
		resp, err := http.Post(url+"/predict", "application/json", strings.NewReader(`{"data":[1,2,3,4,5]}`))
		if err != nil {
			resc <- -1
			return
		}
		resp.Body.Close()
		resc <- resp.StatusCode
	}()
	<-started
	cancel()
	if code := <-resc; code != 200 {
		t.Errorf("in-flight request during shutdown: %d", code)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if e.s.Ready() {
		t.Error("still ready after shutdown")
	}
	// A port in use makes ListenAndServe fail.
	ln2, _ := (&netListenConfig{}).listen(context.Background())
	defer ln2.Close()
	e2 := newEnv(t, Config{Addr: ln2.Addr().String()}, false)
	if err := e2.s.ListenAndServe(context.Background()); err == nil {
		t.Error("ListenAndServe on a used port: want an error")
	}
	if _, err := New(nil, Config{}); err == nil {
		t.Error("New(nil): want an error")
	}
	if _, err := New(models.NewRegistry(), Config{TrustedProxies: []string{"not an ip"}}); err == nil {
		t.Error("bad trusted proxy: want an error")
	}
}

func TestServeListenerClosed(t *testing.T) {
	e := newEnv(t, Config{}, false)
	ln, err := (&netListenConfig{}).listen(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := e.s.Serve(context.Background(), ln); err == nil {
		t.Error("Serve on a closed listener: want an error")
	}
}

func TestSplitSentences(t *testing.T) {
	for text, want := range map[string][][2]int{
		"Hello there. How are you?":      {{0, 12}, {13, 25}},
		"One!! Two...  Three":            {{0, 5}, {6, 12}, {14, 19}},
		"line one\nline two\r\n":         {{0, 8}, {9, 17}},
		"3.14 is pi.":                    {{0, 11}},
		"Émile est là. « Oui. »":         {{0, 13}, {14, 22}},
		"":                               nil,
		"  ":                             nil,
		"He said \"stop.\" Then he left": {{0, 15}, {16, 28}},
	} {
		got := splitSentences(text)
		if len(got) != len(want) {
			t.Errorf("%q: %d sentences %v, want %v", text, len(got), got, want)
			continue
		}
		runes := []rune(text)
		for i, s := range got {
			if s.begin != want[i][0] || s.end != want[i][1] || string(runes[s.begin:s.end]) != s.text {
				t.Errorf("%q: sentence %d = %+v, want %v", text, i, s, want[i])
			}
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{Batch: BatchConfig{MaxDelay: -1}}.withDefaults()
	if c.Addr != ":8080" || c.Batch.MaxSize != 1 || c.Batch.MaxDelay != 0 || c.RequestTimeout != 10*time.Second || c.MaxBodyBytes != 1<<20 {
		t.Errorf("defaults %+v", c)
	}
	c = Config{Batching: true}.withDefaults()
	if c.Batch.MaxSize != 32 || c.Batch.Workers < 1 {
		t.Errorf("batching defaults %+v", c.Batch)
	}
	if got := inferenceError(context.Canceled); got.status != StatusClientClosedRequest {
		t.Errorf("canceled: %d", got.status)
	}
	if got := inferenceError(ErrClosed); got.status != 503 {
		t.Errorf("closed: %d", got.status)
	}
	if jsonKind("map") != "an object" || jsonKind("bool") != "a boolean" || jsonKind("ptr") != "a value" || jsonKind("float64") != "a number" {
		t.Error("jsonKind")
	}
	if jsonTypeName(map[string]any{}) != "an object" || jsonTypeName([]any{}) != "an array" {
		t.Error("jsonTypeName")
	}
}

type netListenConfig struct{}

func (netListenConfig) listen(ctx context.Context) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(ctx, "tcp", "127.0.0.1:0")
}
