package train

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/models/textdata"
)

// frenchManifest is the French part of the default model's data, small
// enough to train in seconds.
func frenchManifest(t *testing.T) *textdata.Manifest {
	t.Helper()
	root := shared.Path(t, "data", "toxicity")
	m, err := textdata.ReadManifest("../toxicity/train.yaml", map[string]string{"SHARED": filepath.Dir(filepath.Dir(root))})
	if err != nil {
		t.Fatal(err)
	}
	var keep []textdata.Source
	for _, s := range m.Sources {
		if s.Name == "mlma-fr" || s.Name == "ftr-fr" || s.Name == "superset-fr" {
			keep = append(keep, s)
		}
	}
	m.Sources = keep
	return m
}

func smallConfig(m *textdata.Manifest) Config {
	return Config{Manifest: m, MaxFeatures: 30000, Cs: []float64{1, 4}, Categories: []string{"toxicity", "hate"},
		Lexicon: []string{"connard", "salope", "bougnoule"}}
}

func trainFolder(t *testing.T, c Config) (string, *Result) {
	t.Helper()
	res, err := Train(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Write(dir, c, res, ModelInfo{Name: "test", Version: "1", License: "MIT"}); err != nil {
		t.Fatal(err)
	}
	return dir, res
}

func TestTrainDeterministic(t *testing.T) {
	m := frenchManifest(t)
	c := smallConfig(m)
	dirA, res := trainFolder(t, c)
	c.Workers = 1 // the split of the gradient work must not matter
	dirB, _ := trainFolder(t, c)
	for _, name := range []string{"model.onnx", "featurizer.json", "manifest.yaml", "training.json"} {
		a, err := os.ReadFile(filepath.Join(dirA, name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dirB, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs on the same data and seed", name)
		}
	}
	// a model that learned nothing would sit near 0.5
	for _, cr := range res.Categories {
		floor := map[string]float64{"toxicity": 0.75, "hate": 0.75}[cr.Category]
		if auc := cr.ValidationAUC[cr.C]; !(auc >= floor) {
			t.Errorf("%s: validation ROC-AUC %.3f, want at least %.2f", cr.Category, auc, floor)
		}
	}
	for _, s := range res.Sources {
		if s.Source == "superset-fr" {
			t.Errorf("an eval-only source was trained on: %+v", s)
		}
	}
	if res.TrainTexts == 0 || res.ValidationTexts == 0 || res.ValidationTexts > res.TrainTexts {
		t.Errorf("split: %d train, %d validation", res.TrainTexts, res.ValidationTexts)
	}
	// another seed moves the split, so the model changes
	c.Seed = 2
	dirC, _ := trainFolder(t, c)
	a, _ := os.ReadFile(filepath.Join(dirA, "model.onnx"))
	b, _ := os.ReadFile(filepath.Join(dirC, "model.onnx"))
	if bytes.Equal(a, b) {
		t.Error("seeds 1 and 2 gave the same model")
	}
}

func TestTrainRefusesUnshippableLicence(t *testing.T) {
	m := frenchManifest(t)
	for i := range m.Sources {
		if m.Sources[i].Name == "superset-fr" {
			m.Sources[i].Use = textdata.UseTrain // research-only data marked for training
		}
	}
	_, err := Train(context.Background(), smallConfig(m))
	if !errors.Is(err, textdata.ErrLicence) || !strings.Contains(err.Error(), "superset-fr") {
		t.Fatalf("error %v, want ErrLicence naming superset-fr", err)
	}
}

func TestTrainCancelled(t *testing.T) {
	m := frenchManifest(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Train(ctx, smallConfig(m)); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}
