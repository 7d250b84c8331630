package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agate-ml/agate/models/demo"
	"github.com/agate-ml/agate/models/forest"
	flag "github.com/spf13/pflag"
)

func writeForest(t *testing.T, dir string, seed uint64) {
	t.Helper()
	if _, err := demo.Write(dir, demo.Config{Samples: 200, Seed: seed, Forest: forest.Config{Trees: 3, MaxDepth: 3, Seed: seed}}); err != nil {
		t.Fatal(err)
	}
}

// mlflowReplay answers like an MLflow 2.x tracking server with artifact
// serving for one registered model, fraud version 1, whose files are in
// store/1/run1/artifacts/model.
func mlflowReplay(store string) http.Handler {
	const root = "1/run1/artifacts/model"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch p := r.URL.Path; {
		case p == "/api/2.0/mlflow/model-versions/get" && q.Get("name") == "fraud" && q.Get("version") == "1",
			p == "/api/2.0/mlflow/registered-models/alias" && q.Get("name") == "fraud" && q.Get("alias") == "champion":
			io.WriteString(w, `{"model_version": {"name": "fraud", "version": "1", "creation_timestamp": 1718874764112,
				"current_stage": "None", "source": "mlflow-artifacts:/`+root+`", "run_id": "run1", "status": "READY", "aliases": ["champion"]}}`)
		case p == "/api/2.0/mlflow/model-versions/get-download-uri":
			io.WriteString(w, `{"artifact_uri": "mlflow-artifacts:/`+root+`"}`)
		case p == "/api/2.0/mlflow-artifacts/artifacts" && q.Get("path") == root:
			io.WriteString(w, `{"files": [{"path": "MLmodel", "is_dir": false, "file_size": 120}, {"path": "model.onnx", "is_dir": false, "file_size": 9000}]}`)
		case strings.HasPrefix(p, "/api/2.0/mlflow-artifacts/artifacts/"+root+"/"):
			http.ServeFile(w, r, filepath.Join(store, filepath.FromSlash(strings.TrimPrefix(p, "/api/2.0/mlflow-artifacts/artifacts/"))))
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "not found"}`)
		}
	})
}

// TestServeVersionsAndMLflow runs agate serve over two versions of
// demo-rf (<dir>/demo-rf/{1,2}) and an MLflow registry model, and calls
// them over HTTP.
func TestServeVersionsAndMLflow(t *testing.T) {
	root := t.TempDir()
	writeForest(t, filepath.Join(root, "demo-rf", "1"), 1)
	writeForest(t, filepath.Join(root, "demo-rf", "2"), 2)
	store := t.TempDir()
	mdir := filepath.Join(store, "1", "run1", "artifacts", "model")
	writeForest(t, mdir, 3)
	if err := os.WriteFile(filepath.Join(mdir, "MLmodel"), []byte("flavors:\n  onnx:\n    data: model.onnx\n    onnx_version: 1.16.1\nrun_id: run1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mlflow := httptest.NewServer(mlflowReplay(store))
	defer mlflow.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan int)
	go func() {
		done <- runFlags("serve", []string{"--addr", addr, "--cache-dir", t.TempDir(), "--models", "", "--log-level", "warn",
			"--model-dir", root + ",models:/fraud@champion", "--mlflow-uri", mlflow.URL, "--reload-interval", "1s"},
			func(fs *flag.FlagSet) func([]string) int { return serveCommand(ctx, fs, io.Discard, &stderr) })
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited with %d: %s", code, stderr.String())
		}
	}()
	base := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	call := func(method, path, body string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, out)
		}
		return out
	}
	row := `{"data": [0.5, 1.2, -0.3, 0.8, 2.0]}`
	p1 := call("POST", "/v1/models/demo-rf/versions/1/predict", row)
	p2 := call("POST", "/v1/models/demo-rf/versions/2/predict", row)
	if p1["model"].(map[string]any)["version"] != "1" || p2["model"].(map[string]any)["version"] != "2" || p1["prediction"] == p2["prediction"] {
		t.Errorf("two versions side by side: %v / %v", p1, p2)
	}
	if info := call("GET", "/v1/models/demo-rf", ""); info["version"] != "2" {
		t.Errorf("default version: %v", info)
	}
	info := call("GET", "/v1/models/fraud", "")
	if info["version"] != "1" || info["source"] != "models:/fraud@champion" {
		t.Errorf("MLflow model: %v", info)
	}
	call("POST", "/v1/models/fraud/predict", row)
	if r := call("POST", "/v1/models/demo-rf/reload", ""); r["reloaded"] != true {
		t.Errorf("reload: %v", r)
	}
}
