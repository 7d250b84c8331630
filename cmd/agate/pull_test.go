package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestPullList checks that 'agate pull --list' prints an aligned table of
// the catalog, extra manifests included.
func TestPullList(t *testing.T) {
	extra := t.TempDir()
	yaml := "name: a-model-with-a-rather-long-name\ntask: tabular-regression\ndescription: extra\n" +
		"source: {kind: url}\nfiles: [{name: model.onnx, url: 'http://example.invalid/m.onnx', sha256: ''}]\n"
	if err := os.WriteFile(filepath.Join(extra, "x.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	cache := t.TempDir()
	if code := cmdPull(context.Background(), []string{"--list", "--cache-dir", cache, "--manifest-dir", extra}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	header := lines[0]
	cols := []string{"TASK", "SOURCE", "STATE", "DESCRIPTION"}
	var rows []string
	for _, l := range lines[1:] {
		if l == "" {
			break
		}
		rows = append(rows, l)
	}
	if len(rows) < 4 {
		t.Fatalf("want at least 4 catalog rows:\n%s", out.String())
	}
	for _, col := range cols {
		at := strings.Index(header, col)
		if at < 0 {
			t.Fatalf("header %q lacks %s", header, col)
		}
		for _, r := range rows {
			// Each column starts after two spaces, at the header's offset.
			if len(r) <= at || r[at] == ' ' || r[at-1] != ' ' || r[at-2] != ' ' {
				t.Errorf("column %s is not aligned in %q (header %q)", col, r, header)
			}
		}
	}
	for _, want := range []string{"toxic-bert", "Xenova/toxic-bert@bc69aac05bfd", "distilbert-multilingual-toxicity",
		"4 unpinned", "a-model-with-a-rather-long-name", "not pulled", "cache: " + cache} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("list lacks %q:\n%s", want, out.String())
		}
	}
}

// TestPullCommand pulls a model from a test hub through the command, then
// shows the refusal of an unpinned catalog model.
func TestPullCommand(t *testing.T) {
	content := []byte("not really onnx, but bytes with a digest")
	sum := sha256.Sum256(content)
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Path != "/org/m/resolve/0123456789abcdef0123456789abcdef01234567/model.onnx" {
			http.NotFound(w, r)
			return
		}
		w.Write(content)
	}))
	defer srv.Close()
	extra := t.TempDir()
	yaml := fmt.Sprintf("name: m\ntask: tabular-regression\nsource: {kind: huggingface, repo: org/m, revision: 0123456789abcdef0123456789abcdef01234567}\n"+
		"files: [{name: model.onnx, sha256: %s, size: %d}]\n", hex.EncodeToString(sum[:]), len(content))
	if err := os.WriteFile(filepath.Join(extra, "m.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	var out, errb bytes.Buffer
	args := []string{"--cache-dir", cache, "--manifest-dir", extra, "--hf-endpoint", srv.URL}
	if code := cmdPull(context.Background(), append(args, "m"), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "m: ready in "+filepath.Join(cache, "m")) {
		t.Errorf("output:\n%s", out.String())
	}

	out.Reset()
	errb.Reset()
	before := requests.Load()
	if code := cmdPull(context.Background(), append(args, "distilbert-multilingual-toxicity"), &out, &errb); code != 1 {
		t.Fatalf("unpinned model: exit %d", code)
	}
	for _, want := range []string{"model.onnx", "sha256 not pinned", "agate pull --allow-unpinned distilbert-multilingual-toxicity"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q: %s", want, errb.String())
		}
	}
	if n := requests.Load() - before; n != 0 {
		t.Errorf("%d requests for an unpinned model", n)
	}
	if _, err := os.Stat(filepath.Join(cache, "distilbert-multilingual-toxicity")); !os.IsNotExist(err) {
		t.Errorf("a refused pull left a folder (%v)", err)
	}
}
