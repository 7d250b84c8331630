package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agate-ml/agate/internal/shared"
)

// TestCheckTextFolder runs agate check on a transformer fixture (test set,
// tokenizer ids and PyTorch logits), then on a copy whose texts.json lists
// a wrong id: the second must fail and name the text.
func TestCheckTextFolder(t *testing.T) {
	src := shared.Path(t, "models", "transformers", "bert-tiny-6label")
	var out bytes.Buffer
	if code := cmdCheck(context.Background(), []string{src}, &out, &out); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "8 of 8 texts give the listed input_ids") || !strings.Contains(out.String(), "torch_logits max abs error") {
		t.Fatalf("output lacks the text checks:\n%s", out.String())
	}

	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "texts.json" {
			var f map[string]any
			if err := json.Unmarshal(b, &f); err != nil {
				t.Fatal(err)
			}
			ids := f["input_ids"].([]any)
			ids[1].([]any)[1] = 999
			if b, err = json.Marshal(f); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	if code := cmdCheck(context.Background(), []string{dir}, &out, &out); code != 1 {
		t.Fatalf("tampered ids: exit %d, want 1:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "7 of 8 texts") || !strings.Contains(out.String(), "text 1") {
		t.Errorf("the failure does not name the text:\n%s", out.String())
	}
}
