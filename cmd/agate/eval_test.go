package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agate-ml/agate/models"
	"github.com/agate-ml/agate/models/eval"
	"github.com/agate-ml/agate/models/textdata"
	"github.com/agate-ml/agate/models/toxicity"
	"github.com/agate-ml/agate/server"
)

// evalTexts are labelled French comments: 1 toxic, 0 not.
var evalTexts = []struct {
	text  string
	label int
}{
	{"espèce de connard, ferme ta gueule", 1},
	{"t'es qu'une pauvre conne, dégage", 1},
	{"bande d'abrutis, vous êtes des merdes", 1},
	{"sale enculé je vais te défoncer", 1},
	{"quel gros débile, va crever", 1},
	{"ta gueule pauvre con", 1},
	{"merci beaucoup pour votre aide, bonne journée", 0},
	{"la réunion est déplacée à jeudi matin", 0},
	{"j'ai beaucoup aimé ce livre, je le recommande", 0},
	{"le train arrive à 18 heures à la gare de Lyon", 0},
	{"bravo pour ce beau travail, continuez ainsi", 0},
	{"pouvez-vous m'envoyer le document, s'il vous plaît ?", 0},
	{"il fait beau aujourd'hui, allons nous promener", 0},
}

// writeEvalCSV writes evalTexts as a CSV with the columns comment and
// toxic ("yes"/"no") and returns its path.
func writeEvalCSV(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("comment,toxic,lang\n")
	for _, e := range evalTexts {
		v := "no"
		if e.label == 1 {
			v = "yes"
		}
		fmt.Fprintf(&b, "%q,%s,fr\n", e.text, v)
	}
	path := filepath.Join(t.TempDir(), "comments.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runEvalCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cmdEval(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func readReport(t *testing.T, path string) *eval.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r eval.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func TestEvalCSVEmbedded(t *testing.T) {
	csvPath := writeEvalCSV(t)
	jsonPath := filepath.Join(t.TempDir(), "eval.json")
	code, out, errs := runEvalCmd(t, "--text-column", "comment", "--label-column", "toxic", "--positive", "yes",
		"--language-column", "lang", "--json", jsonPath, csvPath)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, want := range []string{"ROC-AUC", "95% CI", "comments.csv", "agate-toxicity", "thresholds.medium"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	r := readReport(t, jsonPath)
	if r.Overall.Rows != len(evalTexts) || r.Overall.Positives != 6 {
		t.Fatalf("overall %d rows, %d positives; want %d and 6", r.Overall.Rows, r.Overall.Positives, len(evalTexts))
	}

	// The same numbers computed here from the model directly.
	m, err := models.LoadFS(toxicity.Default(), "embedded", models.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	texts := make([]string, len(evalTexts))
	labels := make([]int8, len(evalTexts))
	for i, e := range evalTexts {
		texts[i], labels[i] = e.text, int8(e.label)
	}
	preds, err := m.Text.Classify(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	k := -1
	for i, l := range m.Text.Labels() {
		if m.Manifest.Category(l) == "toxicity" {
			k = i
		}
	}
	scores := make([]float64, len(texts))
	for i, p := range preds {
		scores[i] = p.Scores[k]
	}
	auc, _ := eval.ROCAUC(scores, labels)
	if r.Overall.ROCAUC == nil || *r.Overall.ROCAUC != auc {
		t.Errorf("ROC-AUC %v, computed directly %v", r.Overall.ROCAUC, auc)
	}
	if auc < 0.9 {
		t.Errorf("ROC-AUC %v on obvious insults against pleasantries", auc)
	}
	medium := m.Manifest.EffectiveThresholds().Medium
	if r.Threshold != medium {
		t.Errorf("threshold %v, the manifest's medium is %v", r.Threshold, medium)
	}
	var pct []float64
	for _, s := range scores {
		pct = append(pct, eval.Percent(s))
	}
	c := eval.ConfusionAt(pct, labels, medium)
	if r.Overall.TP != c.TP || r.Overall.FP != c.FP || r.Overall.FN != c.FN || r.Overall.TN != c.TN {
		t.Errorf("confusion %d/%d/%d/%d, want %+v", r.Overall.TP, r.Overall.FP, r.Overall.TN, r.Overall.FN, c)
	}
	if len(r.Languages) != 1 || r.Languages[0].Name != "fr" || r.Split != nil {
		t.Errorf("languages %+v, split %+v; want fr only and no validation split", r.Languages, r.Split)
	}

	// Deterministic: a second run writes the same JSON.
	json2 := filepath.Join(t.TempDir(), "eval.json")
	if code, out, errs := runEvalCmd(t, "--text-column", "comment", "--label-column", "toxic", "--positive", "yes",
		"--language-column", "lang", "--json", json2, csvPath); code != 0 {
		t.Fatalf("second run: exit %d\n%s%s", code, out, errs)
	}
	a, _ := os.ReadFile(jsonPath)
	b, _ := os.ReadFile(json2)
	if !bytes.Equal(a, b) {
		t.Error("two runs wrote different reports")
	}
}

// startServer serves the embedded model on loopback, failing the first
// throttled requests with 429 and Retry-After.
func startServer(t *testing.T, throttled int32) (url string, requests *atomic.Int32) {
	t.Helper()
	reg := models.NewRegistry()
	m, err := models.LoadFS(toxicity.Default(), "embedded", models.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Add(m); err != nil {
		t.Fatal(err)
	}
	s, err := server.New(reg, server.Config{Batching: true})
	if err != nil {
		t.Fatal(err)
	}
	s.SetReady(true)
	var n atomic.Int32
	h := s.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k := n.Add(1); k <= throttled {
			w.Header().Set("Retry-After", "0")
			http.Error(w, `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"slow down"}}`, http.StatusTooManyRequests)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { ts.Close(); s.Close(); reg.Close() })
	return ts.URL, &n
}

func TestEvalServerMatchesInProcess(t *testing.T) {
	csvPath := writeEvalCSV(t)
	url, requests := startServer(t, 2)
	dir := t.TempDir()
	common := []string{"--text-column", "comment", "--label-column", "toxic", "--positive", "yes", "--language", "fr", "--resamples", "300"}
	srvJSON, localJSON := filepath.Join(dir, "server.json"), filepath.Join(dir, "local.json")
	code, out, errs := runEvalCmd(t, append(common, "--server", url, "--batch", "4", "--json", srvJSON, csvPath)...)
	if code != 0 {
		t.Fatalf("--server: exit %d\n%s\n%s", code, out, errs)
	}
	// 2 throttled, 1 probe, ceil(13/4) = 4 batches
	if got := requests.Load(); got != 7 {
		t.Errorf("%d requests, want 7 (2 answered 429 and retried, a probe, 4 batches)", got)
	}
	if !strings.Contains(out, "ROC-AUC") || !strings.Contains(out, url) {
		t.Errorf("output:\n%s", out)
	}
	if code, out, errs := runEvalCmd(t, append(common, "--json", localJSON, csvPath)...); code != 0 {
		t.Fatalf("in process: exit %d\n%s\n%s", code, out, errs)
	}
	srv, local := readReport(t, srvJSON), readReport(t, localJSON)
	if srv.Model.Name != local.Model.Name || srv.Model.Version != local.Model.Version {
		t.Errorf("models %+v and %+v", srv.Model, local.Model)
	}
	// /analyze rounds probabilities to 6 decimals: on these few texts the
	// rounding creates no tie, so every measure is the same.
	compare := func(what string, a, b eval.Metrics) {
		t.Helper()
		if a.Rows != b.Rows || a.Positives != b.Positives || a.TP != b.TP || a.FP != b.FP || a.TN != b.TN || a.FN != b.FN {
			t.Errorf("%s: server %+v, in process %+v", what, a, b)
		}
		for _, p := range [][2]*float64{{a.ROCAUC, b.ROCAUC}, {a.ROCAUCLow, b.ROCAUCLow}, {a.ROCAUCHigh, b.ROCAUCHigh}, {a.PRAUC, b.PRAUC}} {
			if (p[0] == nil) != (p[1] == nil) || (p[0] != nil && math.Abs(*p[0]-*p[1]) > 1e-9) {
				t.Errorf("%s: server %+v, in process %+v", what, a, b)
				return
			}
		}
		if a.ROCAUC == nil {
			t.Errorf("%s: no ROC-AUC", what)
		}
	}
	compare("overall", srv.Overall, local.Overall)
	compare("source", srv.Sources[0].Metrics, local.Sources[0].Metrics)
	if !strings.Contains(srv.ThresholdSource, "server") {
		t.Errorf("threshold source %q does not say it is the server's", srv.ThresholdSource)
	}
	if srv.Threshold < local.Threshold {
		t.Errorf("server threshold bound %v below the model's %v", srv.Threshold, local.Threshold)
	}
}

func TestEvalServerErrors(t *testing.T) {
	url, _ := startServer(t, 0)
	csvPath := writeEvalCSV(t)
	base := []string{"--text-column", "comment", "--label-column", "toxic", "--positive", "yes"}
	// A category the server's model lacks: the server's 422 is reported.
	code, _, errs := runEvalCmd(t, append(base, "--server", url, "--category", "threat", csvPath)...)
	if code != 1 || !strings.Contains(errs, "threat") {
		t.Errorf("unknown category: exit %d, %s", code, errs)
	}
}

func TestEvalBadInput(t *testing.T) {
	csvPath := writeEvalCSV(t)
	dir := t.TempDir()
	manifest := filepath.Join("..", "..", "models", "toxicity", "train.yaml")
	empty := filepath.Join(dir, "empty.csv")
	if err := os.WriteFile(empty, []byte("comment,toxic\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unknown flag", []string{"--bogus"}, 2, "bogus"},
		{"model and server", []string{"--model-dir", dir, "--server", "http://127.0.0.1:1"}, 2, "not both"},
		{"files and manifest", []string{"--data-manifest", manifest, csvPath}, 2, "not both"},
		{"fraction", []string{"--validation-fraction", "1.5"}, 2, "between 0 and 1"},
		{"resamples", []string{"--resamples", "-5"}, 2, "negative"},
		{"server URL", []string{"--server", "localhost:8080"}, 2, "not an http"},
		{"card from a server", []string{"--server", "http://127.0.0.1:1", "--card", "x.md"}, 2, "--card"},
		{"missing column", []string{"--text-column", "body", csvPath}, 2, `no column "body"`},
		{"missing label column", []string{"--text-column", "comment", csvPath}, 2, `no column "label"`},
		{"unknown category", []string{"--text-column", "comment", "--label-column", "toxic", "--category", "sarcasm", csvPath}, 2, `no category "sarcasm"`},
		{"unknown source", []string{"--data-manifest", manifest, "--sources", "nope"}, 2, `no source "nope"`},
		{"missing file", []string{filepath.Join(dir, "absent.csv")}, 1, "absent.csv"},
		{"missing manifest", []string{"--data-manifest", filepath.Join(dir, "absent.yaml")}, 1, "absent.yaml"},
		{"missing model", []string{"--model-dir", dir, "--text-column", "comment", "--label-column", "toxic", csvPath}, 1, "loading the model"},
		{"no rows", []string{"--text-column", "comment", "--label-column", "toxic", empty}, 1, "no labelled rows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runEvalCmd(t, tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.msg) {
				t.Errorf("exit %d, want %d; stderr %q should contain %q\nstdout: %s", code, tc.code, errs, tc.msg, out)
			}
		})
	}
}

// writeManifest writes a small data manifest: a training source of 300
// rows, an eval source and a functional source with groups.
func writeManifest(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var train strings.Builder
	train.WriteString("text,label\n")
	for i := range 300 {
		e := evalTexts[i%len(evalTexts)]
		fmt.Fprintf(&train, "%q,%d\n", fmt.Sprintf("%s (%d)", e.text, i), e.label)
	}
	files := map[string]string{
		"train.csv": train.String(),
		"eval.csv":  "text,label\nva te faire foutre connard,1\nbonne soirée à tous,0\nquelle bande de crétins,1\nle musée ouvre à dix heures,0\n",
		"func.csv": "case,gold,functionality\nje déteste les femmes,hateful,derog_neg_emote_h\nles immigrés sont des rats,hateful,derog_dehum_h\n" +
			"j'aime les femmes,non-hateful,ident_pos_nh\ndire que les immigrés sont des rats est honteux,non-hateful,counter_ref_nh\n",
		"data.yaml": `data_dir: .
sources:
  - name: tr
    path: train.csv
    licence: MIT
    origin: a test
    language: fr
    labels: {toxicity: {column: label, positive: ["1"]}}
  - name: ev
    use: eval
    path: eval.csv
    licence: research-only
    language: fr
    labels: {toxicity: {column: label, positive: ["1"]}}
  - name: fn
    use: functional
    path: func.csv
    licence: CC-BY-4.0
    language: fr
    text_column: case
    group_column: functionality
    labels: {toxicity: {column: gold, positive: [hateful]}}
`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "data.yaml")
}

// validationRows counts the rows of the test manifest's training source
// in the validation split of seed and fraction.
func validationRows(t *testing.T, manifest string, seed int64, frac float64) int {
	t.Helper()
	m, err := textdata.ReadManifest(manifest, nil)
	if err != nil {
		t.Fatal(err)
	}
	exs, err := m.Sources[0].Read(m.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ex := range exs {
		if textdata.InValidation(ex.Text, seed, frac) {
			n++
		}
	}
	return n
}

func TestEvalManifestValidationSplit(t *testing.T) {
	manifest := writeManifest(t)
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "eval.json")
	code, out, errs := runEvalCmd(t, "--data-manifest", manifest, "--json", jsonPath, "--seed", "7")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	r := readReport(t, jsonPath)
	// The embedded model's training.json names the split; --seed is unused.
	want := validationRows(t, manifest, 1, 0.2)
	if r.Split == nil || r.Split.Seed != 1 || r.Split.Fraction != 0.2 || !strings.Contains(r.Split.From, "training.json") {
		t.Fatalf("split %+v, want seed 1, fraction 0.2 from training.json", r.Split)
	}
	if r.Sources[0].Name != "tr" || r.Sources[0].Rows != want || r.Sources[0].Split != eval.SplitValidation {
		t.Errorf("training source %+v, want %d validation rows", r.Sources[0], want)
	}
	if r.Sources[1].Rows != 4 || r.Sources[2].Rows != 4 || len(r.Groups) != 4 {
		t.Errorf("eval %d rows, functional %d rows, %d groups; want 4, 4, 4", r.Sources[1].Rows, r.Sources[2].Rows, len(r.Groups))
	}
	if !strings.Contains(out, "counter_ref_nh") || !strings.Contains(out, "validation") {
		t.Errorf("output:\n%s", out)
	}

	// A model folder without training.json: the flags choose the split.
	modelDir := filepath.Join(dir, "model")
	if err := os.Mkdir(modelDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"model.onnx", "featurizer.json", "manifest.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "models", "toxicity", "default", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(modelDir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errs = runEvalCmd(t, "--data-manifest", manifest, "--model-dir", modelDir, "--json", jsonPath,
		"--seed", "7", "--validation-fraction", "0.5", "--resamples", "0")
	if code != 0 {
		t.Fatalf("--model-dir: exit %d\n%s\n%s", code, out, errs)
	}
	r = readReport(t, jsonPath)
	want7 := validationRows(t, manifest, 7, 0.5)
	if r.Split == nil || r.Split.Seed != 7 || r.Sources[0].Rows != want7 || want7 == want {
		t.Errorf("split %+v, %d rows; want seed 7 and %d rows (seed 1 gives %d)", r.Split, r.Sources[0].Rows, want7, want)
	}
	if r.Overall.ROCAUCLow != nil {
		t.Error("--resamples 0 still gave an interval")
	}
}

func TestEvalCard(t *testing.T) {
	manifest := writeManifest(t)
	dir := t.TempDir()
	card := filepath.Join(dir, "card.md")
	code, out, errs := runEvalCmd(t, "--data-manifest", manifest, "--card", card, "--resamples", "100")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	b, err := os.ReadFile(card)
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	for _, want := range []string{"# Model card: agate-toxicity", "## Training data", "| mlma-fr |", "200,000 n-gram features",
		"## Validation results", "| tr |", "## Evaluation-only data", "| ev | research-only |", "## Functional tests",
		"| fn | counter_ref_nh | 1 | 0 |", "## Intended use", "## Known limits", "English-heavy", "Code-switching", "Sarcasm",
		"ev is research-licensed", "## How to reproduce", "go run ./cmd/agate train --out models/toxicity/default",
		"go run ./cmd/agate eval ", "--data-manifest " + manifest} {
		if !strings.Contains(md, want) {
			t.Errorf("card lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("card:\n%s", md)
	}
	// The same run writes the same card.
	card2 := filepath.Join(dir, "card2.md")
	if code, _, errs := runEvalCmd(t, "--data-manifest", manifest, "--card", card2, "--resamples", "100"); code != 0 {
		t.Fatal(errs)
	}
	b2, _ := os.ReadFile(card2)
	if !bytes.Equal(b, bytes.ReplaceAll(b2, []byte("card2.md"), []byte("card.md"))) {
		t.Error("two runs wrote different cards")
	}
}

func TestEvalRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{"0", 0, true},
		{"-1", 0, false},
		{"junk", 0, false},
		{"600", time.Minute, true},
		{time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0, true},
	} {
		if got, ok := retryAfter(tc.v); got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tc.v, got, ok, tc.want, tc.ok)
		}
	}
	future := time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat)
	if got, ok := retryAfter(future); !ok || got < 8*time.Second || got > 10*time.Second {
		t.Errorf("retryAfter(%q) = %v, want about 10s", future, got)
	}
}
