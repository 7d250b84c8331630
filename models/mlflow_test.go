package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// mlmodelONNX is an MLmodel file as mlflow.onnx.log_model writes it
// (MLflow 2.x).
const mlmodelONNX = `artifact_path: model
flavors:
  onnx:
    code: null
    data: model.onnx
    onnx_version: 1.16.1
    providers:
    - CUDAExecutionProvider
    - CPUExecutionProvider
  python_function:
    data: model.onnx
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.onnx
    python_version: 3.11.9
mlflow_version: 2.14.1
model_size_bytes: 10642
model_uuid: 6c2b3e0f0a2a4d1c9a2f0f3a5f1f4e11
run_id: 4f5e6a7b8c9d4e0fa1b2c3d4e5f60718
utc_time_created: '2024-06-20 09:12:44.112233'
`

// mlmodelSklearn is the MLmodel of mlflow.sklearn.log_model.
const mlmodelSklearn = `artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: 3.11.9
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 1.5.0
mlflow_version: 2.14.1
run_id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9
`

// writeMLflowModel writes an MLflow model folder: MLmodel, a demo forest
// as the onnx flavor's data, and the environment files MLflow adds.
func writeMLflowModel(t *testing.T, dir string, seed uint64, mlmodel string) {
	t.Helper()
	writeDemo(t, dir, seed)
	files := map[string]string{MLmodelFile: mlmodel, "conda.yaml": "name: mlflow-env\n", "python_env.yaml": "python: 3.11.9\n",
		"requirements.txt": "mlflow==2.14.1\nonnx==1.16.1\n"}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMLflowFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "model")
	writeMLflowModel(t, dir, 5, mlmodelONNX)
	ml, err := ReadMLmodel(dir)
	if err != nil || ml.ONNXFile != "model.onnx" || ml.RunID == "" || fmt.Sprint(ml.Flavors) != "[onnx python_function]" {
		t.Fatalf("%+v %v", ml, err)
	}
	if !IsModelDir(dir) {
		t.Error("IsModelDir")
	}
	m, err := Load(dir, LoadOptions{Name: "fraud"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Name != "fraud" || m.Task != TaskTabularRegression || m.Tabular.Features() != 5 {
		t.Errorf("%s %s", m.Name, m.Task)
	}
	// The onnx flavor may name another file.
	if err := os.Rename(filepath.Join(dir, "model.onnx"), filepath.Join(dir, "forest.onnx")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, MLmodelFile), []byte(strings.ReplaceAll(mlmodelONNX, "data: model.onnx", "data: forest.onnx")), 0o644); err != nil {
		t.Fatal(err)
	}
	if !IsModelDir(dir) {
		t.Error("IsModelDir with an MLmodel only")
	}
	m2, err := Load(dir, LoadOptions{Name: "fraud"})
	if err != nil {
		t.Fatal(err)
	}
	m2.Close()

	sk := filepath.Join(t.TempDir(), "sk")
	writeMLflowModel(t, sk, 5, mlmodelSklearn)
	_, err = Load(sk, LoadOptions{Name: "sk"})
	if !errors.Is(err, ErrFlavor) || !strings.Contains(err.Error(), "python_function, sklearn") || !strings.Contains(err.Error(), "onnx flavor") {
		t.Errorf("sklearn flavor: %v", err)
	}
	if err := os.WriteFile(filepath.Join(sk, MLmodelFile), []byte("flavors:\n  onnx:\n    data: ../../etc/passwd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMLmodel(sk); err == nil || !strings.Contains(err.Error(), "relative path") {
		t.Errorf("data outside the folder: %v", err)
	}
}

func TestParseModelRef(t *testing.T) {
	for in, want := range map[string]ModelRef{
		"models:/fraud/3":         {Name: "fraud", Version: "3"},
		"models:/fraud@champion":  {Name: "fraud", Alias: "champion"},
		"models:/demo-rf@prod-v2": {Name: "demo-rf", Alias: "prod-v2"},
	} {
		got, err := ParseModelRef(in)
		if err != nil || got != want || got.String() != in {
			t.Errorf("ParseModelRef(%q) = %+v, %v", in, got, err)
		}
	}
	for in, want := range map[string]string{
		"runs:/abc/model":          "not an MLflow model reference",
		"models:/fraud":            "want models:/<name>/<version>",
		"models:/fraud/Production": "stages are deprecated",
		"models:/Fraud Model/1":    "not a valid agate model name",
		"models:/fraud@a/b":        "alias",
	} {
		if _, err := ParseModelRef(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseModelRef(%q): %v, want %q", in, err, want)
		}
	}
}

// fakeMLflow replays the MLflow REST API of a tracking server started with
// artifact serving (mlflow server --serve-artifacts, the default since
// 2.0): the answers are shaped like those recorded from MLflow 2.14, the
// artifacts are served from local folders.
type fakeMLflow struct {
	mu       sync.Mutex
	versions map[string]string // version → artifact root under mlflow-artifacts:/
	store    string            // the artifact store's root folder
	alias    string            // the version "champion" points to
	uri      map[string]string // version → artifact_uri override
	requests []string
	auth     string
}

func (f *fakeMLflow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.URL.Path)
	f.auth = r.Header.Get("Authorization")
	q := r.URL.Query()
	notFound := func(msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": msg})
	}
	version := func(v string) map[string]any {
		return map[string]any{"model_version": map[string]any{
			"name": "fraud", "version": v, "creation_timestamp": 1718874764112, "last_updated_timestamp": 1718874764112,
			"current_stage": "None", "description": "", "source": "mlflow-artifacts:/" + f.versions[v],
			"run_id": path.Base(path.Dir(path.Dir(f.versions[v]))), "status": "READY", "tags": []any{}, "run_link": "",
			"aliases": []string{}}}
	}
	switch p := r.URL.Path; {
	case p == "/api/2.0/mlflow/model-versions/get":
		if _, ok := f.versions[q.Get("version")]; !ok || q.Get("name") != "fraud" {
			notFound(fmt.Sprintf("Model Version (name=%s, version=%s) not found", q.Get("name"), q.Get("version")))
			return
		}
		json.NewEncoder(w).Encode(version(q.Get("version")))
	case p == "/api/2.0/mlflow/registered-models/alias":
		if q.Get("alias") != "champion" || q.Get("name") != "fraud" {
			notFound(fmt.Sprintf("Registered model alias %s not found.", q.Get("alias")))
			return
		}
		json.NewEncoder(w).Encode(version(f.alias))
	case p == "/api/2.0/mlflow/model-versions/get-download-uri":
		uri := "mlflow-artifacts:/" + f.versions[q.Get("version")]
		if u, ok := f.uri[q.Get("version")]; ok {
			uri = u
		}
		json.NewEncoder(w).Encode(map[string]string{"artifact_uri": uri})
	case p == "/api/2.0/mlflow-artifacts/artifacts":
		entries, err := os.ReadDir(filepath.Join(f.store, filepath.FromSlash(q.Get("path"))))
		if err != nil {
			w.Write([]byte("{}"))
			return
		}
		var files []map[string]any
		for _, e := range entries {
			fi, _ := e.Info()
			entry := map[string]any{"path": e.Name(), "is_dir": e.IsDir()}
			if !e.IsDir() {
				entry["file_size"] = fi.Size()
			}
			files = append(files, entry)
		}
		json.NewEncoder(w).Encode(map[string]any{"files": files})
	case strings.HasPrefix(p, "/api/2.0/mlflow-artifacts/artifacts/"):
		http.ServeFile(w, r, filepath.Join(f.store, filepath.FromSlash(strings.TrimPrefix(p, "/api/2.0/mlflow-artifacts/artifacts/"))))
	default:
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error_code": "ENDPOINT_NOT_FOUND", "message": "No API endpoint"}`))
	}
}

func (f *fakeMLflow) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

func TestLoadMLflow(t *testing.T) {
	store := t.TempDir()
	f := &fakeMLflow{store: store, alias: "3", uri: map[string]string{},
		versions: map[string]string{"3": "1/4f5e6a7b8c9d4e0fa1b2c3d4e5f60718/artifacts/model", "4": "1/9a8b7c6d5e4f40318293a4b5c6d7e8f9/artifacts/model"}}
	for i, v := range []string{"3", "4"} {
		dir := filepath.Join(store, filepath.FromSlash(f.versions[v]))
		writeMLflowModel(t, dir, uint64(30+i), mlmodelONNX)
		// MLflow 2.x also logs a metadata/ folder with a copy of MLmodel.
		writeMLflowModel(t, filepath.Join(dir, "metadata"), uint64(30+i), mlmodelONNX)
	}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := &MLflowClient{URI: srv.URL + "/", Token: "secret"}
	cache := t.TempDir()
	ctx := context.Background()

	m, err := LoadMLflow(ctx, c, "models:/fraud/3", cache, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Name != "fraud" || m.Version != "3" || m.Ref != "models:/fraud/3" || m.Tabular == nil || !m.Reloadable() {
		t.Fatalf("%s %s %s", m.Name, m.Version, m.Ref)
	}
	if f.auth != "Bearer secret" {
		t.Errorf("Authorization %q", f.auth)
	}
	if _, err := os.Stat(filepath.Join(cache, "mlflow", "fraud", "3", "metadata", MLmodelFile)); err != nil {
		t.Errorf("sub-folders are not downloaded: %v", err)
	}
	downloads := f.count("/api/2.0/mlflow-artifacts/artifacts/")
	// A version's files never change: a second load uses the cache.
	m2, err := LoadMLflow(ctx, c, "models:/fraud/3", cache, LoadOptions{Name: "renamed"})
	if err != nil {
		t.Fatal(err)
	}
	m2.Close()
	if m2.Name != "renamed" || f.count("/api/2.0/mlflow-artifacts/artifacts/") != downloads {
		t.Errorf("second load: name %s, %d downloads then %d", m2.Name, downloads, f.count("/api/2.0/mlflow-artifacts/artifacts/"))
	}

	// An alias, followed again by Reload once it moved.
	a, err := LoadMLflow(ctx, c, "models:/fraud@champion", cache, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Version != "3" || a.Ref != "models:/fraud@champion" {
		t.Errorf("alias: version %s ref %s", a.Version, a.Ref)
	}
	f.mu.Lock()
	f.alias = "4"
	f.mu.Unlock()
	b, err := a.Reload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Version != "4" || b.Dir != filepath.Join(cache, "mlflow", "fraud", "4") {
		t.Errorf("after the alias moved: version %s in %s", b.Version, b.Dir)
	}

	// Errors name what is wrong.
	for ref, want := range map[string]string{
		"models:/fraud/9":       "Model Version (name=fraud, version=9) not found (RESOURCE_DOES_NOT_EXIST)",
		"models:/fraud@nothing": "alias nothing not found",
		"models:/other/1":       "not found",
	} {
		if _, err := LoadMLflow(ctx, c, ref, cache, LoadOptions{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", ref, err, want)
		}
	}
	if _, err := LoadMLflow(ctx, &MLflowClient{}, "models:/fraud/3", cache, LoadOptions{}); err == nil || !strings.Contains(err.Error(), "--mlflow-uri") {
		t.Errorf("no tracking server: %v", err)
	}
	f.mu.Lock()
	f.uri["4"] = "s3://bucket/1/abc/artifacts/model"
	f.uri["3"] = "file://" + filepath.ToSlash(filepath.Join(store, filepath.FromSlash(f.versions["3"])))
	f.mu.Unlock()
	if _, err := LoadMLflow(ctx, c, "models:/fraud/4", t.TempDir(), LoadOptions{}); err == nil || !strings.Contains(err.Error(), "s3://bucket") {
		t.Errorf("s3 artifacts: %v", err)
	}
	local, err := LoadMLflow(ctx, c, "models:/fraud/3", t.TempDir(), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	local.Close()
	if local.Dir != filepath.Join(store, filepath.FromSlash(f.versions["3"])) {
		t.Errorf("file: artifacts are read in place, got %s", local.Dir)
	}
}

func TestMLflowSklearnRefused(t *testing.T) {
	store := t.TempDir()
	f := &fakeMLflow{store: store, alias: "3", uri: map[string]string{}, versions: map[string]string{"3": "2/abc/artifacts/model"}}
	writeMLflowModel(t, filepath.Join(store, "2", "abc", "artifacts", "model"), 1, mlmodelSklearn)
	srv := httptest.NewServer(f)
	defer srv.Close()
	_, err := LoadMLflow(context.Background(), &MLflowClient{URI: srv.URL, Username: "u", Password: "p"}, "models:/fraud/3", t.TempDir(), LoadOptions{})
	if !errors.Is(err, ErrFlavor) || !strings.Contains(err.Error(), "models:/fraud/3") || !strings.Contains(err.Error(), "sklearn") {
		t.Errorf("sklearn model: %v", err)
	}
	if !strings.HasPrefix(f.auth, "Basic ") {
		t.Errorf("Authorization %q", f.auth)
	}
}
