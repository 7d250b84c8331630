package server

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestContentTypes: only JSON bodies are read, so that a web page cannot
// make a browser post a "simple" (text/plain or form) request to agate.
func TestContentTypes(t *testing.T) {
	e := newEnv(t, Config{}, false)
	body := `{"data": [0.5, 1.2, -0.3, 0.8, 2.0]}`
	for ct, want := range map[string]int{
		"application/json":                  200,
		"application/json; charset=utf-8":   200,
		"application/vnd.api+json":          200,
		"text/plain":                        415,
		"text/plain;charset=UTF-8":          415,
		"application/x-www-form-urlencoded": 415,
		"multipart/form-data; boundary=x":   415,
		"not a media type":                  415,
		"":                                  415, // a browser can post a Blob without a type
	} {
		w, out := e.do("POST", "/predict", body, "Content-Type", ct)
		if w.Code != want {
			t.Errorf("%s: status %d, want %d: %s", ct, w.Code, want, w.Body)
		}
		if want == 415 {
			if msg, _ := out["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "application/json") {
				t.Errorf("%s: message %q does not name the accepted type", ct, msg)
			}
		}
	}
}

// TestClientGone: a request whose client went away is logged at INFO as
// 499, not as a server failure.
func TestClientGone(t *testing.T) {
	e := newEnv(t, Config{Batching: true}, false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("POST", "/predict", strings.NewReader(`{"data": [0.5, 1.2, -0.3, 0.8, 2.0]}`)).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	e.s.Handler().ServeHTTP(w, req)
	if w.Code != StatusClientClosedRequest {
		t.Fatalf("status %d, want 499: %s", w.Code, w.Body)
	}
	logs := e.log.String()
	if !strings.Contains(logs, `"status":499`) || strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("log: %s", logs)
	}
}

// TestSpansBudget: sentences count against the queue; a request that can
// never fit gets 413 naming the limit, one that fits is scored on an idle
// server (never 429, which a client would retry forever).
func TestSpansBudget(t *testing.T) {
	e := newDefaultEnv(t)
	text := func(n int) string { return strings.Repeat("Tu es nul. ", n) }
	w, out := e.do("POST", "/analyze", map[string]any{"text": text(300), "spans": true})
	if w.Code != 200 || len(out["spans"].([]any)) != 300 {
		t.Fatalf("300 sentences: %d", w.Code)
	}
	d := e.expectError("POST", "/analyze", map[string]any{"text": text(700), "spans": true}, 413, "")
	if msg := d["message"].(string); !strings.Contains(msg, "701") || !strings.Contains(msg, "512") {
		t.Errorf("message %q does not give the count and the limit", msg)
	}
	if w, _ := e.do("POST", "/analyze", map[string]any{"text": text(700)}); w.Code != 200 {
		t.Errorf("700 sentences without spans: %d", w.Code)
	}
}

// TestV2RawBudget: raw tensor requests are charged before any work.
func TestV2RawBudget(t *testing.T) {
	e := newEnv(t, Config{MaxRows: 10}, true)
	ids := func(b, s int) map[string]any {
		data := make([]int, b*s)
		for i := range data {
			data[i] = 1
		}
		var inputs []any
		for _, name := range []string{"input_ids", "attention_mask", "token_type_ids"} {
			inputs = append(inputs, map[string]any{"name": name, "shape": []int{b, s}, "datatype": "INT64", "data": data})
		}
		return map[string]any{"inputs": inputs}
	}
	inf := "/v2/models/tiny-tox/infer"
	d := e.expectError("POST", inf, ids(200, 512), 413, "")
	if msg := d["error"].(string); !strings.Contains(msg, "102400") || !strings.Contains(msg, "16384") {
		t.Errorf("message %q does not give the size and the limit", msg)
	}
	e.expectError("POST", inf, ids(1, 100), 422, "") // longer than the model's 64 positions
	e.expectError("POST", inf, ids(0, 8), 422, "")   // an empty batch
	oov := ids(1, 8)
	oov["inputs"].([]any)[0].(map[string]any)["data"] = []int{1, 2, 3, 1 << 20, 5, 6, 7, 8} // past the vocabulary
	d = e.expectError("POST", inf, oov, 422, "")
	if msg := d["error"].(string); !strings.Contains(msg, "input_ids") || !strings.Contains(msg, "[0, 30522)") {
		t.Errorf("out-of-vocabulary id: %q", msg)
	}
	// token_type_ids past the model's two segment types (config.json does
	// not say how many there are: the model's lookup refuses it)
	types := ids(1, 8)
	types["inputs"].([]any)[2].(map[string]any)["data"] = []int{0, 0, 0, 2, 0, 0, 0, 0}
	d = e.expectError("POST", inf, types, 422, "")
	if msg := d["error"].(string); !strings.Contains(msg, "out of range") {
		t.Errorf("token type 2: %q", msg)
	}
	if w, _ := e.do("POST", inf, ids(2, 8)); w.Code != 200 {
		t.Errorf("a small request: %d %s", w.Code, w.Body)
	}
	rows := func(n int) map[string]any {
		return map[string]any{"inputs": []any{map[string]any{"name": "X", "shape": []int{n, 5}, "datatype": "FP32", "data": make([]float64, n*5)}}}
	}
	e.expectError("POST", "/v2/models/demo-rf/infer", rows(11), 413, "")
	if w, _ := e.do("POST", "/v2/models/demo-rf/infer", rows(10)); w.Code != 200 {
		t.Errorf("10 rows: %d %s", w.Code, w.Body)
	}
}

// TestAdmission: past MaxInFlight, with no line, inference requests get
// 429 at once, before their body is read; probes still answer.
func TestAdmission(t *testing.T) {
	e := newEnv(t, Config{MaxInFlight: 1, MaxQueued: -1}, false)
	release := make(chan struct{})
	e.blockingRows(BatchConfig{MaxSize: 1, QueueSize: 8, Workers: 1}, func(ctx context.Context, rows [][]float64) ([]rowResult, error) {
		<-release
		return make([]rowResult, len(rows)), nil
	})
	body := `{"data": [0.5, 1.2, -0.3, 0.8, 2.0]}`
	done := make(chan int, 1)
	go func() {
		req := httptest.NewRequest("POST", "/predict", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		e.s.Handler().ServeHTTP(w, req)
		done <- w.Code
	}()
	deadline := time.Now().Add(2 * time.Second)
	for e.s.admission.inFlight() != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	// the body is never read: even a malformed one gets 429
	w, _ := e.do("POST", "/predict", `{not json`)
	if w.Code != 429 || w.Header().Get("Retry-After") != "1" {
		t.Errorf("second request: %d %s", w.Code, w.Body)
	}
	if w, _ := e.do("GET", "/healthz", nil); w.Code != 200 {
		t.Errorf("healthz during overload: %d", w.Code)
	}
	close(release)
	if code := <-done; code != 200 {
		t.Errorf("the admitted request: %d", code)
	}
	if w, _ := e.do("POST", "/predict", body); w.Code != 200 {
		t.Errorf("after the first finished: %d %s", w.Code, w.Body)
	}
}

func TestCORS(t *testing.T) {
	off := newEnv(t, Config{}, false)
	w, _ := off.do("POST", "/predict", `{"data": [0.5, 1.2, -0.3, 0.8, 2.0]}`, "Origin", "https://example.org")
	if w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS is on by default: %v", w.Header())
	}
	on := newEnv(t, Config{CORSOrigins: []string{"https://app.example.org"}}, false)
	req := httptest.NewRequest("OPTIONS", "/predict", nil)
	req.Header.Set("Origin", "https://app.example.org")
	req.Header.Set("Access-Control-Request-Method", "POST")
	rec := httptest.NewRecorder()
	on.s.Handler().ServeHTTP(rec, req)
	if rec.Code != 204 || rec.Header().Get("Access-Control-Allow-Origin") != "https://app.example.org" || !strings.Contains(rec.Header().Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Errorf("preflight: %d %v", rec.Code, rec.Header())
	}
	w, _ = on.do("POST", "/predict", `{"data": [0.5, 1.2, -0.3, 0.8, 2.0]}`, "Origin", "https://evil.example.com")
	if w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("an unlisted origin was allowed: %v", w.Header())
	}
}

// TestMissingModelWarnsOnce: a 503 for a missing model is logged as one
// warning, not an error per request.
func TestMissingModelWarnsOnce(t *testing.T) {
	e := newEnv(t, Config{AnalyzeModel: "toxic-bert"}, false)
	for range 3 {
		e.expectError("POST", "/analyze", `{"text": "hello"}`, 503, "")
	}
	logs := e.log.String()
	if n := strings.Count(logs, `"level":"WARN"`); n != 1 || strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("%d warnings (want 1), log:\n%s", n, logs)
	}
}

// TestSeedPredictAPI: the seed's routes answer as /predict does.
func TestSeedPredictAPI(t *testing.T) {
	e := newEnv(t, Config{}, false)
	w, out := e.do("POST", "/api/v1/predict", `{"data": [0.5, 1.2, -0.3, 0.8, 2.0]}`)
	if w.Code != 200 || out["prediction"] == nil || out["latency_ms"] == nil || out["model_format"] != "onnx" || out["features_count"] != 5.0 {
		t.Errorf("POST /api/v1/predict: %d %s", w.Code, w.Body)
	}
	w, out = e.do("GET", "/api/v1/predict/health", nil)
	if w.Code != 200 || out["status"] != "healthy" || out["model_loaded"] != true {
		t.Errorf("GET /api/v1/predict/health: %d %s", w.Code, w.Body)
	}
	e2 := newEnv(t, Config{PredictModel: "absent"}, false)
	if w, out := e2.do("GET", "/api/v1/predict/health", nil); w.Code != 503 || out["status"] != "unavailable" {
		t.Errorf("missing model: %d %s", w.Code, w.Body)
	}
}
