package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"github.com/agate-ml/agate/engine/onnxbuild"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/models/demo"
)

func TestBuiltinCatalog(t *testing.T) {
	c, err := BuiltinCatalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"demo-rf", "toxic-bert"} {
		if c[name] == nil {
			t.Fatalf("builtin catalog lacks %s: %v", name, c.Names())
		}
	}
	tb := c["toxic-bert"]
	for label, want := range map[string]string{"toxic": "toxicity", "identity_hate": "hate", "obscene": "obscene"} {
		if got := tb.Category(label); got != want {
			t.Errorf("Category(%q) = %q, want %q", label, got, want)
		}
	}
	// The pinned tokenizer digests are those of the shared copies of the
	// files (the shared folder holds no model.onnx).
	dir := shared.Path(t, "models", "tokenizers", "toxic-bert")
	for _, f := range tb.Files {
		if f.SHA256 == "" || f.Name == "model.onnx" {
			continue
		}
		sum, err := FileSHA256(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if sum != f.SHA256 {
			t.Errorf("%s: sha256 %s, manifest says %s", f.Name, sum, f.SHA256)
		}
	}
}

func TestManifestValidation(t *testing.T) {
	bad := []string{
		"name: X\ntask: text-classification\nsource: {kind: builtin}\n",
		"name: a\ntask: nope\nsource: {kind: builtin}\n",
		"name: a\ntask: text-classification\nsource: {kind: huggingface}\nfiles: [{name: m, sha256: ''}]\n",
		"name: a\ntask: text-classification\nsource: {kind: ftp}\n",
		"name: a\ntask: text-classification\nsource: {kind: url}\nfiles: [{name: m}]\n",
		"name: a\ntask: text-classification\nsource: {kind: url}\n",
		"name: a\ntask: text-classification\nsource: {kind: url}\nfiles: [{name: ../m, url: 'http://x'}]\n",
		"name: a\ntask: text-classification\nsource: {kind: url}\nfiles: [{name: m, url: 'http://x', sha256: xyz}]\n",
		"name: a\ntask: text-classification\nsource: {kind: builtin}\nthresholds: {medium: 90, high: 10}\n",
		"name: a\ntask: text-classification\nsource: {kind: builtin}\nlabels: {toxic: rude}\n",
		"name: a\ntask: text-classification\nsource: {kind: builtin}\nunknown_field: 1\n",
		"{",
	}
	for _, y := range bad {
		if _, err := ParseManifest([]byte(y)); err == nil {
			t.Errorf("ParseManifest(%q): want an error", y)
		}
	}
	m, err := ParseManifest([]byte("name: a\ntask: tabular-regression\nsource: {kind: builtin}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if th := m.EffectiveThresholds(); th != DefaultThresholds() {
		t.Errorf("thresholds %v", th)
	}
	th := Thresholds{Medium: 40, High: 70}
	for score, want := range map[float64]string{0: "low", 39.9: "low", 40: "medium", 69: "medium", 70: "high", 100: "high"} {
		if got := th.Level(score); got != want {
			t.Errorf("Level(%v) = %s, want %s", score, got, want)
		}
	}
	if DefaultCategory("Identity-Hate") != "hate" || DefaultCategory("nope") != "" {
		t.Error("DefaultCategory")
	}
	if len(Categories()) != 6 {
		t.Error("Categories")
	}
}

func TestReadCatalog(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("name: a\ntask: tabular-regression\nsource: {kind: builtin}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	c, err := ReadCatalog(dir)
	if err != nil || len(c) != 1 {
		t.Fatalf("ReadCatalog: %v %v", c, err)
	}
	b, _ := BuiltinCatalog()
	if got := b.Merge(c).Names(); len(got) != len(b)+1 {
		t.Errorf("merged names %v", got)
	}
	os.WriteFile(filepath.Join(dir, "b.yml"), []byte("name: a\ntask: tabular-regression\nsource: {kind: builtin}\n"), 0o644)
	if _, err := ReadCatalog(dir); err == nil {
		t.Error("duplicate name: want an error")
	}
	if _, err := ReadCatalog(filepath.Join(dir, "none")); err == nil {
		t.Error("missing dir: want an error")
	}
	if _, err := ReadManifest(filepath.Join(dir, "none.yaml")); err == nil {
		t.Error("missing file: want an error")
	}
}

func TestTextClassifier(t *testing.T) {
	dir := shared.Path(t, "models", "transformers", "bert-tiny-6label")
	m, err := Load(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Task != TaskTextClassification || m.Name != "bert-tiny-6label" || m.Text == nil {
		t.Fatalf("loaded %+v", m)
	}
	tc := m.Text
	if want := []string{"toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"}; strings.Join(tc.Labels(), ",") != strings.Join(want, ",") {
		t.Fatalf("labels %v", tc.Labels())
	}
	if !tc.MultiLabel() {
		t.Error("want multi-label")
	}
	texts := []string{"hello", "a much longer sentence that has quite a few more tokens in it", ""}
	batch, err := tc.Classify(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(batch) != 3 {
		t.Fatalf("%d predictions", len(batch))
	}
	// Padding must not change a text's scores: classify each alone.
	for i, text := range texts {
		one, err := tc.Classify(context.Background(), []string{text})
		if err != nil {
			t.Fatal(err)
		}
		for j, p := range one[0].Scores {
			if p < 0 || p > 1 {
				t.Fatalf("probability %v", p)
			}
			if math.Abs(p-batch[i].Scores[j]) > 1e-4 {
				t.Errorf("text %d label %d: alone %v, in batch %v", i, j, p, batch[i].Scores[j])
			}
		}
	}
	if batch[0].Tokens != 3 {
		t.Errorf("tokens of %q = %d", texts[0], batch[0].Tokens)
	}
	if p, err := tc.Classify(context.Background(), nil); err != nil || p != nil {
		t.Error("empty batch")
	}
	enc, err := tc.Encode(context.Background(), strings.Repeat("word ", 1000))
	if err != nil || !enc.Truncated || enc.Len() != tc.MaxLength() {
		t.Errorf("long text: %d tokens (max %d), truncated %v, %v", enc.Len(), tc.MaxLength(), enc.Truncated, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tc.Classify(ctx, texts); err == nil {
		t.Error("cancelled context: want an error")
	}
}

func TestSoftmax(t *testing.T) {
	v := []float64{1, 2, 3}
	softmax(v)
	if s := v[0] + v[1] + v[2]; math.Abs(s-1) > 1e-12 || v[2] < v[1] {
		t.Errorf("softmax %v", v)
	}
}

func TestTabularRegressor(t *testing.T) {
	dir := shared.Path(t, "models", "sklearn", "rf_regressor_5f")
	m, err := Load(dir, LoadOptions{Name: "rf"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Task != TaskTabularRegression || m.Tabular.Features() != 5 || m.Tabular.Classifier() {
		t.Fatalf("task %s features %d", m.Task, m.Tabular.Features())
	}
	preds, _, err := m.Tabular.Predict(context.Background(), [][]float64{{1, 2, 3, 4, 5}, {0, 0, 0, 0, 0}})
	if err != nil || len(preds) != 2 {
		t.Fatal(preds, err)
	}
	if _, _, err := m.Tabular.Predict(context.Background(), [][]float64{{1, 2}}); !errors.Is(err, ErrFeatures) {
		t.Errorf("wrong width: %v", err)
	}
	if p, _, err := m.Tabular.Predict(context.Background(), nil); err != nil || p != nil {
		t.Error("empty")
	}
}

func TestTabularClassifiers(t *testing.T) {
	for _, name := range []string{"rf_classifier_3class", "rf_classifier_3class_zipmap"} {
		t.Run(name, func(t *testing.T) {
			dir := shared.Path(t, "models", "sklearn", name)
			m, err := Load(dir, LoadOptions{Name: strings.ReplaceAll(name, "_", "-")})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Task != TaskTabularClassifier {
				t.Fatalf("task %s", m.Task)
			}
			row := make([]float64, 20)
			rows := [][]float64{row, row}
			preds, classes, err := m.Tabular.Predict(context.Background(), rows)
			if err != nil {
				t.Fatal(err)
			}
			if len(classes) != 3 || len(preds[0].Probabilities) != 3 {
				t.Fatalf("classes %v probs %v", classes, preds[0].Probabilities)
			}
			var s float64
			for _, p := range preds[0].Probabilities {
				s += p
			}
			if math.Abs(s-1) > 1e-4 {
				t.Errorf("probabilities sum to %v", s)
			}
			if _, ok := preds[0].Label.(int64); !ok {
				t.Errorf("label %T", preds[0].Label)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(t.TempDir(), LoadOptions{Name: "x"}); err == nil {
		t.Error("no model.onnx: want an error")
	}
	if _, err := Load(t.TempDir(), LoadOptions{Name: "Bad Name"}); err == nil {
		t.Error("bad name: want an error")
	}
	r := NewRegistry()
	r.SetMissing("a", "pull it")
	if h, ok := r.Missing("a"); !ok || h != "pull it" {
		t.Error("Missing")
	}
	if got := r.MissingNames(); len(got) != 1 {
		t.Error("MissingNames")
	}
	if _, ok := r.FirstOfTask(TaskTabularRegression); ok {
		t.Error("FirstOfTask on empty registry")
	}
	if err := r.Close(); err != nil {
		t.Error(err)
	}
}

func TestPullBuiltinAndRegistry(t *testing.T) {
	cache := t.TempDir()
	c, _ := BuiltinCatalog()
	var lines []string
	dir, err := Pull(context.Background(), c["demo-rf"], cache, PullOptions{Progress: func(s string) { lines = append(lines, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if !Present(cache, "demo-rf") || len(lines) == 0 {
		t.Fatal("demo model not built")
	}
	if _, err := Pull(context.Background(), c["demo-rf"], cache, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := Load(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "demo-rf" || m.Version != demo.Version || m.Task != TaskTabularRegression || m.Tabular.Features() != 5 {
		t.Fatalf("%+v", m)
	}
	r := NewRegistry()
	if err := r.Add(m); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(m); err == nil {
		t.Error("duplicate add: want an error")
	}
	r.SetMissing("demo-rf", "ignored: loaded")
	if _, ok := r.Missing("demo-rf"); ok {
		t.Error("loaded model reported missing")
	}
	if got, ok := r.FirstOfTask(TaskTabularRegression); !ok || got != m {
		t.Error("FirstOfTask")
	}
	if g, ok := r.Get("demo-rf"); !ok || g.Engine() == nil || len(r.List()) != 1 {
		t.Error("Get/List")
	}
	if err := r.Close(); err != nil {
		t.Error(err)
	}
	other := &Manifest{Name: "other", Task: TaskTabularRegression, Source: Source{Kind: SourceBuiltin}}
	if _, err := Pull(context.Background(), other, cache, PullOptions{}); err == nil {
		t.Error("unknown builtin: want an error")
	}
}

func TestPullHTTP(t *testing.T) {
	files := map[string]string{"/org/m/resolve/abc123/onnx/model.onnx": "MODEL", "/org/m/resolve/abc123/config.json": "{}"}
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(body))
	}))
	defer srv.Close()
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	man := &Manifest{Name: "m", Task: TaskTextClassification, Source: Source{Kind: SourceHuggingFace, Repo: "org/m", Revision: "abc123"},
		Files: []File{{Name: "model.onnx", Path: "onnx/model.onnx", SHA256: sum("MODEL"), Size: 5}, {Name: "config.json", SHA256: sum("{}")}}}
	cache := t.TempDir()
	dir, err := Pull(context.Background(), man, cache, PullOptions{HFEndpoint: srv.URL, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "model.onnx")); string(b) != "MODEL" || auth != "Bearer tok" {
		t.Fatalf("content %q auth %q", b, auth)
	}
	if _, err := ReadManifest(filepath.Join(dir, ManifestFile)); err != nil {
		t.Fatal(err)
	}
	// Second pull: verified copies are kept.
	if _, err := Pull(context.Background(), man, cache, PullOptions{HFEndpoint: srv.URL}); err != nil {
		t.Fatal(err)
	}
	// A wrong digest is refused and the good copy stays.
	bad := *man
	bad.Files = []File{{Name: "model.onnx", Path: "onnx/model.onnx", SHA256: sum("OTHER")}}
	if _, err := Pull(context.Background(), &bad, cache, PullOptions{HFEndpoint: srv.URL}); !errors.Is(err, ErrChecksum) {
		t.Errorf("bad digest: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "model.onnx")); string(b) != "MODEL" {
		t.Error("a failed pull replaced the verified file")
	}
	size := *man
	size.Files = []File{{Name: "model.onnx", Path: "onnx/model.onnx", SHA256: sum("MODEL"), Size: 9}}
	if _, err := Pull(context.Background(), &size, t.TempDir(), PullOptions{HFEndpoint: srv.URL}); !errors.Is(err, ErrChecksum) {
		t.Errorf("bad size: %v", err)
	}
	unpinned := *man
	unpinned.Files = []File{{Name: "model.onnx", Path: "onnx/model.onnx"}}
	if _, err := Pull(context.Background(), &unpinned, t.TempDir(), PullOptions{HFEndpoint: srv.URL}); !errors.Is(err, ErrUnpinned) {
		t.Errorf("unpinned: %v", err)
	}
	var msgs []string
	if _, err := Pull(context.Background(), &unpinned, t.TempDir(), PullOptions{HFEndpoint: srv.URL, AllowUnpinned: true, Progress: func(s string) { msgs = append(msgs, s) }}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(msgs, "\n"), sum("MODEL")) {
		t.Errorf("unpinned pull did not report the digest: %v", msgs)
	}
	missing := *man
	missing.Files = []File{{Name: "x.bin", SHA256: sum("X")}}
	if _, err := Pull(context.Background(), &missing, t.TempDir(), PullOptions{HFEndpoint: srv.URL}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing file: %v", err)
	}
	byURL := &Manifest{Name: "u", Task: TaskTabularRegression, Source: Source{Kind: SourceURL},
		Files: []File{{Name: "model.onnx", URL: srv.URL + "/org/m/resolve/abc123/onnx/model.onnx", SHA256: sum("MODEL")}}}
	if _, err := Pull(context.Background(), byURL, t.TempDir(), PullOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Pull(ctx, man, t.TempDir(), PullOptions{HFEndpoint: srv.URL}); err == nil {
		t.Error("cancelled: want an error")
	}
}

// TestTextClassifierInputForms classifies with encoders whose ids are int32
// inputs, whose positions are an input, or that take no token types: each
// must give the scores of the plain int64 model with the same weights.
func TestTextClassifierInputForms(t *testing.T) {
	src := shared.Path(t, "models", "transformers", "bert-tiny-6label")
	base := onnxbuild.EncoderConfig{Layers: 1, Hidden: 32, Heads: 2, FFN: 64, Vocab: 30522,
		MaxPositions: 512, TypeVocab: 2, Labels: 6, Seed: 9}
	texts := []string{"Ce commentaire est vraiment méchant et insultant", "ok", "a somewhat longer English sentence, for padding"}
	classify := func(cfg onnxbuild.EncoderConfig) []Prediction {
		t.Helper()
		dir := t.TempDir()
		for _, f := range []string{"tokenizer.json", "config.json"} {
			b, err := os.ReadFile(filepath.Join(src, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		m, err := onnxbuild.EncoderClassifier(cfg)
		if err != nil {
			t.Fatal(err)
		}
		data, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "model.onnx"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		tc, err := LoadTextClassifier(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		p, err := tc.Classify(context.Background(), texts)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	want := classify(base)
	for name, f := range map[string]func(*onnxbuild.EncoderConfig){
		"int32":    func(c *onnxbuild.EncoderConfig) { c.Int32Inputs = true },
		"position": func(c *onnxbuild.EncoderConfig) { c.PositionInput = true },
		"both":     func(c *onnxbuild.EncoderConfig) { c.Int32Inputs, c.PositionInput = true, true },
	} {
		cfg := base
		f(&cfg)
		got := classify(cfg)
		for i := range want {
			for j, w := range want[i].Scores {
				if math.Abs(got[i].Scores[j]-w) > 1e-6 {
					t.Fatalf("%s: text %d label %d: %v, want %v", name, i, j, got[i].Scores[j], w)
				}
			}
		}
	}
	// Static shapes: the texts are padded to the declared length (padding
	// does not change scores) and run in groups of the declared batch.
	for name, f := range map[string]func(*onnxbuild.EncoderConfig){
		"static-seq":   func(c *onnxbuild.EncoderConfig) { c.StaticSeq = 40 },
		"static-batch": func(c *onnxbuild.EncoderConfig) { c.StaticBatch = 1 },
		"static-both":  func(c *onnxbuild.EncoderConfig) { c.StaticBatch, c.StaticSeq = 2, 40 },
	} {
		cfg := base
		f(&cfg)
		got := classify(cfg)
		for i := range want {
			for j, w := range want[i].Scores {
				if math.Abs(got[i].Scores[j]-w) > 1e-5 {
					t.Fatalf("%s: text %d label %d: %v, want %v", name, i, j, got[i].Scores[j], w)
				}
			}
		}
	}
	// A model without token_type_ids runs too (its scores differ: no
	// type embedding).
	noTypes := base
	noTypes.TypeVocab = 0
	if p := classify(noTypes); len(p) != len(texts) {
		t.Fatalf("%d predictions", len(p))
	}
}
