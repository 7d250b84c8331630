package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agate-ml/agate/models"
)

// writeToyData writes a labelled CSV where toxic rows use insults and the
// others friendly words, with noise words in both.
func writeToyData(t *testing.T, dir string) {
	t.Helper()
	r := rand.New(rand.NewPCG(3, 4))
	bad := []string{"idiot", "connard", "abruti", "crétin", "minable"}
	good := []string{"merci", "bravo", "super", "génial", "bonjour"}
	noise := []string{"le", "la", "match", "hier", "film", "voiture", "chat", "pluie", "train", "café"}
	var b strings.Builder
	b.WriteString("text,label\n")
	for i := range 400 {
		words := []string{}
		for range 6 {
			words = append(words, noise[r.IntN(len(noise))])
		}
		label := i % 2
		pool := good
		if label == 1 {
			pool = bad
		}
		words[r.IntN(len(words))] = pool[r.IntN(len(pool))]
		fmt.Fprintf(&b, "%q,%d\n", strings.Join(words, " "), label)
	}
	if err := os.WriteFile(filepath.Join(dir, "toy.csv"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTrainCommand(t *testing.T) {
	dir := t.TempDir()
	writeToyData(t, dir)
	manifest := filepath.Join(dir, "train.yaml")
	os.WriteFile(manifest, []byte("data_dir: .\nsources:\n  - {name: toy, path: toy.csv, licence: CC0-1.0, language: fr, labels: {toxicity: {column: label, positive: [\"1\"]}}}\n"), 0o644)
	out := filepath.Join(dir, "model")
	var stdout, stderr bytes.Buffer
	args := []string{"--train-manifest", manifest, "--out", out, "--lexicon", "", "--categories", "toxicity", "--c", "1,4", "--quiet"}
	if code := cmdTrain(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "validation toy") {
		t.Errorf("no validation line:\n%s", stdout.String())
	}
	m, err := models.Load(out, models.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	preds, err := m.Text.Classify(context.Background(), []string{"quel connard ce type", "merci pour le film"})
	if err != nil {
		t.Fatal(err)
	}
	if preds[0].Scores[0] < 0.7 || preds[1].Scores[0] > 0.3 {
		t.Errorf("toy model scores %v and %v", preds[0].Scores, preds[1].Scores)
	}
	if m.Manifest.Thresholds == nil || fmt.Sprint(m.Manifest.Languages) != "[fr]" {
		t.Errorf("manifest %+v", m.Manifest)
	}

	// a source whose licence does not allow shipping stops the run
	os.WriteFile(manifest, []byte("data_dir: .\nsources:\n  - {name: toy, path: toy.csv, licence: CC-BY-NC-4.0, labels: {toxicity: {column: label, positive: [\"1\"]}}}\n"), 0o644)
	stderr.Reset()
	if code := cmdTrain(context.Background(), args, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "CC-BY-NC-4.0") {
		t.Errorf("unshippable licence: exit %d, %s", code, stderr.String())
	}
	for _, bad := range [][]string{{"--out", out, "--c", "zero"}, {}, {"--out", out, "extra"}, {"--out", out, "--source-weights", "toy"}} {
		if code := cmdTrain(context.Background(), bad, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2", bad, code)
		}
	}
}
