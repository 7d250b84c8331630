//go:build ort

package bench

import (
	"context"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/agate-ml/agate/bench/ortrun"
	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/models"
	"github.com/agate-ml/agate/models/textdata"
	"github.com/agate-ml/agate/models/textlinear"
	"github.com/agate-ml/agate/models/toxicity"
	"github.com/agate-ml/agate/ops"
)

// toxicityTexts returns n texts of the French data sets, in file order.
func toxicityTexts(t testing.TB, n int) []string {
	root := shared.Path(t, "data", "toxicity")
	var out []string
	for _, src := range []textdata.Source{
		{Name: "mlma", Path: "data-mlma-french/fr_dataset.csv", Format: "csv", TextColumn: "tweet", Labels: map[string]textdata.LabelRule{"t": {Column: "sentiment", Negative: []string{"normal"}}}},
		{Name: "mhc", Path: "data-mhc-french/hatecheck_cases_final_french.csv", Format: "csv", TextColumn: "test_case", Labels: map[string]textdata.LabelRule{"t": {Column: "label_gold", Positive: []string{"hateful"}}}},
	} {
		rows, err := src.Read(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if len(out) == n {
				return out
			}
			out = append(out, r.Text)
		}
	}
	return out
}

// linearInputs featurizes texts into the graph's three inputs.
func linearInputs(t testing.TB, tc *models.TextClassifier, texts []string) []*ops.Tensor {
	ins := make([]models.TextInput, len(texts))
	width := 1
	for i, s := range texts {
		in, err := tc.Encode(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		ins[i] = in
		width = max(width, in.Features.Len())
	}
	n := len(texts)
	ids, counts, lex := make([]int64, n*width), make([]float32, n*width), make([]float32, n)
	for i := range ins {
		copy(ids[i*width:], ins[i].Features.IDs)
		copy(counts[i*width:], ins[i].Features.Counts)
		lex[i] = ins[i].Features.Lexicon
	}
	return []*ops.Tensor{ops.FromSlice(ops.Int64, ids, n, width), ops.FromSlice(ops.Float, counts, n, width), ops.FromSlice(ops.Float, lex, n, 1)}
}

// TestToxicityModelWithORT runs the embedded toxicity model on 400 French
// texts (in batches of 32) on agate and onnxruntime: the probabilities
// must agree within 1e-5.
func TestToxicityModelWithORT(t *testing.T) {
	m, err := models.LoadFS(toxicity.Default(), "embedded", models.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	onnx, err := fs.ReadFile(toxicity.Default(), "model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, onnx, 0o644); err != nil {
		t.Fatal(err)
	}
	texts := toxicityTexts(t, 400)
	names := []string{textlinear.InputIDs, textlinear.InputCounts, textlinear.InputLexicon}
	worst := 0.0
	for lo := 0; lo < len(texts); lo += 32 {
		batch := texts[lo:min(len(texts), lo+32)]
		preds, err := m.Text.Classify(context.Background(), batch)
		if err != nil {
			t.Fatal(err)
		}
		in := linearInputs(t, m.Text, batch)
		out := ops.NewTensor(ops.Float, len(batch), len(m.Text.Labels()))
		s, err := ortrun.NewSession(path, 1, names, in, []string{textlinear.OutputProbs}, []*ops.Tensor{out})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Run(); err != nil {
			t.Fatal(err)
		}
		want := s.Output(0)
		for i, p := range preds {
			for k, v := range p.Scores {
				d := math.Abs(v - float64(want[i*len(p.Scores)+k]))
				worst = max(worst, d)
				if d > 1e-5 {
					t.Errorf("text %d label %d: agate %v, onnxruntime %v", lo+i, k, v, want[i*len(p.Scores)+k])
				}
			}
		}
		s.Destroy()
	}
	t.Logf("%d texts: largest probability difference %.2g", len(texts), worst)
}

const benchComment = "Franchement ce commentaire est vraiment méchant et insultant, tu devrais avoir honte de parler comme ça aux autres"

// BenchmarkToxicityVsORT featurizes and scores one 20-word comment: agate
// end to end (Encode + ClassifyEncoded), and the model alone on agate and
// onnxruntime (the featurized inputs bound once).
func BenchmarkToxicityVsORT(b *testing.B) {
	m, err := models.LoadFS(toxicity.Default(), "embedded", models.LoadOptions{Pool: ops.NewPool(1)})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	b.Run("agate/featurize+score", func(b *testing.B) {
		for b.Loop() {
			in, err := m.Text.Encode(ctx, benchComment)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := m.Text.ClassifyEncoded(ctx, []models.TextInput{in}); err != nil {
				b.Fatal(err)
			}
		}
	})
	in := linearInputs(b, m.Text, []string{benchComment})
	vals := []ops.Value{in[0], in[1], in[2]}
	outs := make([]ops.Value, 2)
	b.Run("agate/model", func(b *testing.B) {
		for b.Loop() {
			if err := m.Engine().RunList(ctx, vals, outs); err != nil {
				b.Fatal(err)
			}
		}
	})
	onnx, _ := fs.ReadFile(toxicity.Default(), "model.onnx")
	path := filepath.Join(b.TempDir(), "model.onnx")
	if err := os.WriteFile(path, onnx, 0o644); err != nil {
		b.Fatal(err)
	}
	out := ops.NewTensor(ops.Float, 1, len(m.Text.Labels()))
	s, err := ortrun.NewSession(path, 1, []string{textlinear.InputIDs, textlinear.InputCounts, textlinear.InputLexicon}, in,
		[]string{textlinear.OutputProbs}, []*ops.Tensor{out})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Destroy()
	b.Run("onnxruntime/model", func(b *testing.B) {
		for b.Loop() {
			if err := s.Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
