package toxicity_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/models"
	"github.com/agate-ml/agate/models/eval"
	"github.com/agate-ml/agate/models/textdata"
	"github.com/agate-ml/agate/models/toxicity"
	"github.com/agate-ml/agate/ops"
)

func load(t testing.TB) *models.Model {
	t.Helper()
	m, err := models.LoadFS(toxicity.Default(), "embedded", models.LoadOptions{Pool: ops.NewPool(1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestEmbeddedModel(t *testing.T) {
	m := load(t)
	if m.Name != toxicity.Name || m.Task != models.TaskTextClassification || !m.Text.Linear() {
		t.Fatalf("embedded model %s (%s), linear %v", m.Name, m.Task, m.Text.Linear())
	}
	if labels := m.Text.Labels(); len(labels) < 1 || labels[0] != "toxicity" {
		t.Errorf("labels %v, want toxicity first", labels)
	}
	size := 0
	fs.WalkDir(toxicity.Default(), ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			info, _ := d.Info()
			size += int(info.Size())
		}
		return nil
	})
	if size > 8<<20 {
		t.Errorf("the embedded model takes %d bytes, the budget is 8 MiB", size)
	}
}

// TestValidationAUCFloors scores the validation split of every training
// source (the rows the model never trained on, chosen by the seed and
// fraction in training.json) and of the eval-only sets, and requires the
// ROC-AUC floors below: a model that learned nothing sits near 0.5.
func TestValidationAUCFloors(t *testing.T) {
	root := shared.Path(t, "data", "toxicity")
	m := load(t)
	var report struct {
		Seed               int64   `json:"seed"`
		ValidationFraction float64 `json:"validation_fraction"`
	}
	b, err := fs.ReadFile(toxicity.Default(), "training.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &report); err != nil {
		t.Fatal(err)
	}
	man, err := textdata.ReadManifest("train.yaml", map[string]string{"SHARED": filepath.Dir(filepath.Dir(root))})
	if err != nil {
		t.Fatal(err)
	}
	floors := map[string]float64{ // toxicity ROC-AUC, a little under what the model measures
		"mlma-fr": 0.64, "ftr-fr": 0.78, "toxifrench-agreement-fr": 0.78, "jigsaw2018-fr-translated": 0.85,
		"rtp-lx": 0.85, "jigsaw-multilingual-validation": 0.80, "davidson-en": 0.95, "hatexplain-en": 0.80,
		"superset-fr": 0.68, "jigsaw2018-sample-en": 0.80,
	}
	ctx := context.Background()
	for _, src := range man.Sources {
		floor, ok := floors[src.Name]
		if !ok {
			continue
		}
		rows, err := src.Read(man.DataDir)
		if err != nil {
			t.Fatal(err)
		}
		var texts []string
		var y []int8
		for _, r := range rows {
			l, ok := r.Label("toxicity")
			if !ok || src.Use == textdata.UseTrain && !textdata.InValidation(r.Text, report.Seed, report.ValidationFraction) {
				continue
			}
			texts, y = append(texts, r.Text), append(y, l)
		}
		preds, err := m.Text.Classify(ctx, texts)
		if err != nil {
			t.Fatal(err)
		}
		scores := make([]float64, len(preds))
		for i, p := range preds {
			scores[i] = p.Scores[0]
		}
		auc, err := eval.ROCAUC(scores, y)
		if err != nil {
			t.Fatalf("%s: %v", src.Name, err)
		}
		t.Logf("%-32s %-5s %5d texts  ROC-AUC %.4f (floor %.2f)", src.Name, src.Use, len(texts), auc, floor)
		if auc < floor {
			t.Errorf("%s: ROC-AUC %.4f under the floor %.2f", src.Name, auc, floor)
		}
	}
}

const comment20 = "Franchement ce commentaire est vraiment méchant et insultant, tu devrais avoir honte de parler comme ça aux autres"

// BenchmarkScoreComment featurizes and scores one 20-word French comment
// on one thread, as /analyze does for a single text.
func BenchmarkScoreComment(b *testing.B) {
	m := load(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		in, err := m.Text.Encode(ctx, comment20)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Text.ClassifyEncoded(ctx, []models.TextInput{in}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExplainComment computes the word attributions of one comment.
func BenchmarkExplainComment(b *testing.B) {
	m := load(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Text.Explain(comment20); err != nil {
			b.Fatal(err)
		}
	}
}
