package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agate-ml/agate/models"
	"github.com/agate-ml/agate/models/demo"
	"github.com/agate-ml/agate/models/forest"
	"github.com/agate-ml/agate/models/toxicity"
)

// writeForest writes a small demo forest trained with seed into dir.
func writeForest(t testing.TB, dir string, seed uint64) {
	t.Helper()
	cfg := demo.Config{Samples: 300, Seed: seed, Forest: forest.Config{Trees: 4, MaxDepth: 4, Seed: seed}}
	if _, err := demo.Write(dir, cfg); err != nil {
		t.Fatal(err)
	}
}

// versionsEnv serves demo-rf versions 1 and 2 from root/demo-rf/{1,2}
// (different forests), with manifest, when set, in version 2's folder.
func versionsEnv(t *testing.T, cfg Config, manifest string) (*testEnv, string) {
	t.Helper()
	root := t.TempDir()
	for i, v := range []string{"1", "2"} {
		writeForest(t, filepath.Join(root, "demo-rf", v), uint64(10+i))
	}
	if manifest != "" {
		if err := os.WriteFile(filepath.Join(root, "demo-rf", "2", models.ManifestFile), []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	found, err := models.Discover(root)
	if err != nil || len(found) != 2 {
		t.Fatalf("Discover: %v %v", found, err)
	}
	reg := models.NewRegistry()
	for _, f := range found {
		m, err := models.Load(f.Dir, models.LoadOptions{Name: f.Name, Version: f.Version})
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	buf := &lockedBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(buf, nil))
	s, err := New(reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.SetReady(true)
	t.Cleanup(func() { s.Close(); reg.Close() })
	return &testEnv{t: t, s: s, reg: reg, log: &buf.Buffer, logs: buf}, filepath.Join(root, "demo-rf")
}

const row = `{"data": [0.5, 1.2, -0.3, 0.8, 2.0]}`

// predictVersion posts row to path and returns the answering version and
// the prediction.
func (e *testEnv) predictVersion(path string) (string, float64) {
	e.t.Helper()
	w, out := e.do("POST", path, row)
	if w.Code != 200 {
		e.t.Fatalf("POST %s: %d %s", path, w.Code, w.Body)
	}
	return out["model"].(map[string]any)["version"].(string), out["prediction"].(float64)
}

func TestVersionsSideBySide(t *testing.T) {
	e, _ := versionsEnv(t, Config{}, "")
	v1, p1 := e.predictVersion("/v1/models/demo-rf/versions/1/predict")
	v2, p2 := e.predictVersion("/v1/models/demo-rf/versions/2/predict")
	if v1 != "1" || v2 != "2" || p1 == p2 {
		t.Fatalf("versions 1 and 2 answer %s %g and %s %g", v1, p1, v2, p2)
	}
	// No version: the highest.
	if v, p := e.predictVersion("/v1/models/demo-rf/predict"); v != "2" || p != p2 {
		t.Errorf("unversioned: version %s %g, want 2 %g", v, p, p2)
	}
	if v, _ := e.predictVersion("/predict"); v != "2" {
		t.Errorf("/predict: version %s", v)
	}
	d := e.expectError("POST", "/v1/models/demo-rf/versions/3/predict", row, 404, "")
	if msg := d["message"].(string); !strings.Contains(msg, `"3"`) || !strings.Contains(msg, "1, 2") {
		t.Errorf("unknown version: %s", msg)
	}
	e.expectError("POST", "/v1/models/nope/versions/1/predict", row, 404, "")
	w, out := e.do("POST", "/v1/models/demo-rf/versions/1/explain", row)
	if w.Code != 200 || out["explanation"] == nil || out["model"].(map[string]any)["version"] != "1" {
		t.Errorf("explain version 1: %d %s", w.Code, w.Body)
	}
	w, out = e.do("GET", "/v1/models/demo-rf/versions/1", nil)
	if w.Code != 200 || out["version"] != "1" || fmt.Sprint(out["versions"]) != "[1 2]" {
		t.Errorf("GET version 1: %d %s", w.Code, w.Body)
	}
	e.expectError("GET", "/v1/models/demo-rf/versions/7", nil, 404, "")
	w, out = e.do("GET", "/v1/models/demo-rf", nil)
	if w.Code != 200 || out["version"] != "2" || fmt.Sprint(out["versions"]) != "[1 2]" {
		t.Errorf("GET model: %d %s", w.Code, w.Body)
	}
	// KServe v2.
	infer := `{"inputs": [{"name": "X", "shape": [1, 5], "datatype": "FP32", "data": [0.5, 1.2, -0.3, 0.8, 2.0]}]}`
	for _, v := range []string{"1", "2"} {
		w, out = e.do("POST", "/v2/models/demo-rf/versions/"+v+"/infer", infer)
		if w.Code != 200 || out["model_version"] != v {
			t.Errorf("v2 infer version %s: %d %s", v, w.Code, w.Body)
		}
	}
	w, out = e.do("POST", "/v2/models/demo-rf/infer", infer)
	if w.Code != 200 || out["model_version"] != "2" {
		t.Errorf("v2 infer: %d %s", w.Code, w.Body)
	}
	e.expectError("POST", "/v2/models/demo-rf/versions/3/infer", infer, 404, "")
	w, out = e.do("GET", "/v2/models/demo-rf/versions/1", nil)
	if w.Code != 200 || fmt.Sprint(out["versions"]) != "[1 2]" {
		t.Errorf("v2 metadata: %d %s", w.Code, w.Body)
	}
	w, _ = e.do("GET", "/v2/models/demo-rf/versions/1/ready", nil)
	if w.Code != 200 {
		t.Errorf("v2 ready version 1: %d", w.Code)
	}
}

func TestDefaultVersionAndTrafficSplit(t *testing.T) {
	man := "name: demo-rf\nversion: \"2\"\ntask: tabular-regression\nsource: {kind: builtin}\ndefault_version: \"1\"\n"
	e, _ := versionsEnv(t, Config{}, man)
	if v, _ := e.predictVersion("/v1/models/demo-rf/predict"); v != "1" {
		t.Errorf("default_version 1: got %s", v)
	}

	man = "name: demo-rf\nversion: \"2\"\ntask: tabular-regression\nsource: {kind: builtin}\ntraffic: {\"1\": 90, \"2\": 10}\n"
	e, _ = versionsEnv(t, Config{}, man)
	counts := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				req := httptest.NewRequest("POST", "/v1/models/demo-rf/predict", strings.NewReader(row))
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				e.s.Handler().ServeHTTP(w, req)
				v := "error"
				if w.Code == 200 {
					v = strings.Split(strings.Split(w.Body.String(), `"version":"`)[1], `"`)[0]
				}
				mu.Lock()
				counts[v]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// Smooth weighted round robin: exactly 9 of every 10.
	if counts["1"] != 180 || counts["2"] != 20 {
		t.Errorf("90/10 split over 200 requests: %v", counts)
	}
	// Versioned requests bypass the split.
	if v, _ := e.predictVersion("/v1/models/demo-rf/versions/2/predict"); v != "2" {
		t.Errorf("versioned: %s", v)
	}
	w, out := e.do("GET", "/v1/models/demo-rf", nil)
	if tr, _ := out["traffic"].(map[string]any); w.Code != 200 || tr["1"] != 90.0 || tr["2"] != 10.0 {
		t.Errorf("traffic in GET /v1/models/demo-rf: %s", w.Body)
	}
	w, _ = e.do("GET", "/metrics", nil)
	for _, want := range []string{`agate_model_requests_total{model="demo-rf",version="1"} 180`,
		`agate_model_requests_total{model="demo-rf",version="2"} 21`, `agate_batch_size_count{model="demo-rf",version="1"}`} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestReload(t *testing.T) {
	e, dir := versionsEnv(t, Config{}, "")
	_, before := e.predictVersion("/v1/models/demo-rf/versions/2/predict")
	_, p1 := e.predictVersion("/v1/models/demo-rf/versions/1/predict")
	writeForest(t, filepath.Join(dir, "2"), 99)
	w, out := e.do("POST", "/v1/models/demo-rf/reload", "{}")
	if w.Code != 200 || fmt.Sprint(out["versions"]) != "[1 2]" || out["reloaded"] != true {
		t.Fatalf("reload: %d %s", w.Code, w.Body)
	}
	if _, after := e.predictVersion("/v1/models/demo-rf/versions/2/predict"); after == before {
		t.Errorf("version 2 still predicts %g after its reload", after)
	}
	if _, p := e.predictVersion("/v1/models/demo-rf/versions/1/predict"); p != p1 {
		t.Errorf("version 1 changed: %g, was %g", p, p1)
	}
	// A broken file: 422, and the loaded model keeps serving.
	_, good := e.predictVersion("/v1/models/demo-rf/versions/2/predict")
	if err := os.WriteFile(filepath.Join(dir, "2", "model.onnx"), []byte("not onnx"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := e.expectError("POST", "/v1/models/demo-rf/reload", nil, 422, "")
	if msg := d["message"].(string); !strings.Contains(msg, "demo-rf") || !strings.Contains(msg, `"2"`) || !strings.Contains(msg, "keeps serving") {
		t.Errorf("failed reload: %s", msg)
	}
	if !strings.Contains(e.logText(), "reload failed") {
		t.Error("a failed reload is not logged")
	}
	if _, p := e.predictVersion("/v1/models/demo-rf/versions/2/predict"); p != good {
		t.Errorf("after a failed reload: %g, want the old model's %g", p, good)
	}
	e.expectError("POST", "/v1/models/nope/reload", nil, 404, "")
	e.reg.SetMissing("toxic-bert", "run `agate pull toxic-bert`")
	e.expectError("POST", "/v1/models/toxic-bert/reload", nil, 503, "")
	// The embedded model has no folder to read again.
	m, err := models.LoadFS(toxicity.Default(), "embedded", models.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Add(m); err != nil {
		t.Fatal(err)
	}
	e.expectError("POST", "/v1/models/"+m.Name+"/reload", nil, 409, "")
}

// TestReloadInFlight: a request in flight when the model is swapped
// finishes on the old model, which is closed only afterwards.
func TestReloadInFlight(t *testing.T) {
	e, _ := versionsEnv(t, Config{}, "")
	old, _ := e.reg.Version("demo-rf", "2")
	started, finish := make(chan struct{}), make(chan struct{})
	e.s.mu.Lock()
	oldRT := &runtimeModel{m: old, rows: newBatcher(BatchConfig{MaxSize: 1, QueueSize: 4, Workers: 1},
		func(ctx context.Context, rows [][]float64) ([]rowResult, error) {
			close(started)
			<-finish
			return make([]rowResult, len(rows)), nil
		}, nil, nil)}
	e.s.runtimes[old] = oldRT
	e.s.mu.Unlock()
	done := make(chan *httptest.ResponseRecorder)
	go func() {
		req := httptest.NewRequest("POST", "/v1/models/demo-rf/versions/2/predict", strings.NewReader(row))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		e.s.Handler().ServeHTTP(w, req)
		done <- w
	}()
	<-started
	if _, err := e.s.Reload(context.Background(), "demo-rf"); err != nil {
		t.Fatal(err)
	}
	// New requests get the new model while the old one is busy.
	if v, _ := e.predictVersion("/v1/models/demo-rf/versions/2/predict"); v != "2" {
		t.Fatal(v)
	}
	e.s.mu.Lock()
	refs, retired := oldRT.refs, oldRT.retired
	e.s.mu.Unlock()
	oldRT.rows.mu.RLock()
	closed := oldRT.rows.closed
	oldRT.rows.mu.RUnlock()
	if refs != 1 || !retired || closed {
		t.Errorf("old runtime while in flight: refs %d retired %v closed %v", refs, retired, closed)
	}
	close(finish)
	if w := <-done; w.Code != 200 || !strings.Contains(w.Body.String(), `"version":"2"`) {
		t.Errorf("the request in flight: %d %s", w.Code, w.Body)
	}
	oldRT.rows.mu.RLock()
	closed = oldRT.rows.closed
	oldRT.rows.mu.RUnlock()
	if !closed {
		t.Error("the old model's batcher is still open after its last request")
	}
	if cur, _ := e.reg.Version("demo-rf", "2"); cur == old {
		t.Error("the registry still holds the old model")
	}
}

// TestReloadUnderLoad reloads while clients predict on every route; run
// with -race. Every request must succeed.
func TestReloadUnderLoad(t *testing.T) {
	e, dir := versionsEnv(t, Config{Batching: true}, "name: demo-rf\nversion: \"2\"\ntask: tabular-regression\nsource: {kind: builtin}\ntraffic: {\"1\": 50, \"2\": 50}\n")
	ctx, cancel := context.WithCancel(context.Background())
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	paths := []string{"/v1/models/demo-rf/predict", "/v1/models/demo-rf/versions/1/predict", "/v1/models/demo-rf/explain", "/v2/models/demo-rf/infer"}
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				p := paths[i%len(paths)]
				body := row
				if strings.HasPrefix(p, "/v2") {
					body = `{"inputs": [{"name": "X", "shape": [1, 5], "datatype": "FP32", "data": [0.5, 1.2, -0.3, 0.8, 2.0]}]}`
				}
				req := httptest.NewRequest("POST", p, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				e.s.Handler().ServeHTTP(w, req)
				if w.Code == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
					t.Errorf("%s: %d %s", p, w.Code, w.Body)
				}
			}
		}()
	}
	reloads := 0
	for i := range 6 {
		writeForest(t, filepath.Join(dir, "1"), uint64(20+i))
		if _, err := e.s.Reload(ctx, "demo-rf"); err != nil {
			t.Fatal(err)
		}
		reloads++
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if ok.Load() == 0 || failed.Load() > 0 {
		t.Errorf("%d requests answered, %d failed", ok.Load(), failed.Load())
	}
	e.s.mu.Lock()
	n := len(e.s.runtimes)
	e.s.mu.Unlock()
	if n > 2 {
		t.Errorf("%d runtimes left after %d reloads of 2 versions: replaced models leak", n, reloads)
	}
	t.Logf("%d requests during %d reloads", ok.Load(), reloads)
}

func TestWatchModels(t *testing.T) {
	e, dir := versionsEnv(t, Config{}, "")
	_, before := e.predictVersion("/v1/models/demo-rf/versions/1/predict")
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { e.s.WatchModels(ctx, 10*time.Millisecond); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	time.Sleep(30 * time.Millisecond) // the first look records the files
	writeForest(t, filepath.Join(dir, "1"), 77)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, p := e.predictVersion("/v1/models/demo-rf/versions/1/predict")
		if p != before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("version 1 not reloaded after its file changed; log: %s", e.logText())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(e.logText(), `"trigger":"files"`) {
		t.Errorf("no reload log line: %s", e.logText())
	}
	// A broken file is logged and the model keeps serving.
	_, good := e.predictVersion("/v1/models/demo-rf/versions/1/predict")
	if err := os.WriteFile(filepath.Join(dir, "1", "model.onnx"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(e.logText(), "reload failed") {
		if time.Now().After(deadline) {
			t.Fatal("a broken file was not reported")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, p := e.predictVersion("/v1/models/demo-rf/versions/1/predict"); p != good {
		t.Errorf("after a failed reload: %g, want %g", p, good)
	}
}

// TestServeWatches checks that Serve starts the watcher with
// Config.ReloadInterval.
func TestServeWatches(t *testing.T) {
	e, dir := versionsEnv(t, Config{Addr: "127.0.0.1:0", ReloadInterval: 10 * time.Millisecond}, "")
	ln, err := netListenConfig{}.listen(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.s.Serve(ctx, ln) }()
	defer func() { cancel(); <-served }()
	time.Sleep(30 * time.Millisecond)
	writeForest(t, filepath.Join(dir, "2"), 55)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(e.logText(), `"trigger":"files"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no reload: %s", e.logText())
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Post("http://"+ln.Addr().String()+"/v1/models/demo-rf/predict", "application/json", strings.NewReader(row))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
}
