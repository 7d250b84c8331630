package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ob "github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/ops"
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

// TestQDQStep: a graph whose output comes out of DequantizeLinear is
// checked within one quantization step.
func TestQDQStep(t *testing.T) {
	g := ob.NewGraph("g").Input("x", ob.TensorType(ops.Float, 4)).Output("y", ob.TensorType(ops.Float, 4)).
		Initializer("scale", ops.Scalar(float32(0.05))).Initializer("zero", ops.Scalar(uint8(128))).
		Node("QuantizeLinear", []string{"x", "scale", "zero"}, []string{"q"}).
		Node("DequantizeLinear", []string{"q", "scale", "zero"}, []string{"y"})
	b, err := (&ob.Model{Graph: g, Opsets: map[string]int{"": 13}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	os.WriteFile(path, b, 0o644)
	if step := qdqStep(path); math.Abs(step-0.05) > 1e-7 {
		t.Errorf("step %v, want 0.05", step)
	}
	g2 := ob.NewGraph("g").Input("x", ob.TensorType(ops.Float, 4)).Output("y", ob.TensorType(ops.Float, 4)).Node("Relu", []string{"x"}, []string{"y"})
	b, _ = (&ob.Model{Graph: g2, Opsets: map[string]int{"": 13}}).Marshal()
	os.WriteFile(path, b, 0o644)
	if step := qdqStep(path); step != 0 {
		t.Errorf("a float graph: step %v", step)
	}
}
