package textlinear

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/models/textfeat"
	"github.com/agate-ml/agate/ops"
)

// testModel builds a featuriser over the n-grams of texts and random
// weights for two labels.
func testModel(t *testing.T, texts []string) (*textfeat.Featurizer, *Weights, []byte) {
	t.Helper()
	spec := &textfeat.Spec{Format: textfeat.Format, WordNgrams: [2]int{1, 2}, MinWordRunes: 2, CharNgrams: [2]int{2, 4},
		Normalization: textfeat.Normalization{NFKC: true, Lowercase: true, StripAccents: true, CollapseRepeats: 2}}
	spec.Lexicon = spec.NormalizeLexicon([]string{"idiot", "sale type"})
	all, err := textfeat.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tx := range texts {
		all.VisitKeys(tx, func(o textfeat.Occurrence) {
			k := string(o.AppendKey(nil))
			if k != textfeat.LexiconKey && !seen[k] && len(seen)%5 != 3 { // leave some keys out of the vocabulary
				spec.Vocabulary = append(spec.Vocabulary, k)
			}
			seen[k] = true
		})
	}
	f, err := textfeat.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	w := &Weights{Labels: []string{"toxicity", "hate"}, IDF: make([]float32, f.Size()), Weights: make([][]float32, f.Size()),
		Lexicon: []float32{1.5, -0.25}, Bias: []float32{-0.7, 0.3}}
	for i := range w.IDF {
		w.Weights[i] = make([]float32, 2)
		if i == 0 {
			continue // padding
		}
		w.IDF[i] = float32(1 + 4*r.Float64())
		w.Weights[i][0], w.Weights[i][1] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	m, err := Graph(w, "test", map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return f, w, b
}

var texts = []string{
	"Ce commentaire est vraiment méchant et insultant",
	"Quel idiot, sale type, vraiment vraiment idiot",
	"Bonne journée à tous !",
	"😀",
	"", // no features at all
	"a a a a a a a a a a a a a a a a",
}

func TestGraphMatchesGo(t *testing.T) {
	f, w, b := testModel(t, texts)
	m, err := engine.LoadBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// one batch, padded to the widest text
	width := 1
	fss := make([]textfeat.Features, len(texts))
	for i, tx := range texts {
		fss[i] = f.Featurize(tx, textfeat.Features{})
		width = max(width, fss[i].Len())
	}
	n := len(texts)
	ids, counts, lex := make([]int64, n*width), make([]float32, n*width), make([]float32, n)
	for i, fs := range fss {
		copy(ids[i*width:], fs.IDs)
		copy(counts[i*width:], fs.Counts)
		lex[i] = fs.Lexicon
	}
	outs, err := m.RunValues(context.Background(), map[string]ops.Value{
		InputIDs: ops.FromSlice(ops.Int64, ids, n, width), InputCounts: ops.FromSlice(ops.Float, counts, n, width),
		InputLexicon: ops.FromSlice(ops.Float, lex, n, 1)})
	if err != nil {
		t.Fatal(err)
	}
	logits := outs[OutputLogits].(*ops.Tensor).Data.([]float32)
	probs := outs[OutputProbs].(*ops.Tensor).Data.([]float32)
	for i, fs := range fss {
		want := w.Logits(w.Vectorize(fs))
		for k := range want {
			got := float64(logits[i*2+k])
			if math.Abs(got-want[k]) > 1e-5 {
				t.Errorf("text %d label %d: graph logit %v, Go %v", i, k, got, want[k])
			}
			if p := 1 / (1 + math.Exp(-want[k])); math.Abs(float64(probs[i*2+k])-p) > 1e-6 {
				t.Errorf("text %d label %d: probability %v, want %v", i, k, probs[i*2+k], p)
			}
		}
	}
	if logits[4*2] != w.Bias[0] || logits[4*2+1] != w.Bias[1] {
		t.Errorf("a text without features scores %v, want the bias %v", logits[8:10], w.Bias)
	}
}

func TestExplainSumsToLogit(t *testing.T) {
	f, w, _ := testModel(t, texts)
	for _, tx := range texts {
		ex := w.Explain(f, tx)
		words := f.Words(tx)
		if len(ex.Words) != len(words) {
			t.Fatalf("%q: %d attributions for %d words", tx, len(ex.Words), len(words))
		}
		for k := range w.Labels {
			sum := ex.Bias[k]
			for _, a := range ex.Words {
				sum += a.Logit[k]
			}
			if math.Abs(sum-ex.Logits[k]) > 1e-9 {
				t.Errorf("%q label %d: bias + words = %v, logit %v", tx, k, sum, ex.Logits[k])
			}
		}
	}
	// the lexicon term of a phrase goes in equal halves to its two words:
	// without the lexicon weights each word loses exactly that half
	ex := w.Explain(f, "sale type")
	noLex := *w
	noLex.Lexicon = []float32{0, 0}
	ex0 := noLex.Explain(f, "sale type")
	half := float64(w.Lexicon[0]) * math.Log1p(1) / 2
	for i := range ex.Words {
		if d := ex.Words[i].Logit[0] - ex0.Words[i].Logit[0]; math.Abs(d-half) > 1e-9 {
			t.Errorf("word %q: lexicon share %v, want %v", ex.Words[i].Word, d, half)
		}
	}
}

func TestReadWeights(t *testing.T) {
	_, w, b := testModel(t, texts[:2])
	got, err := ReadWeights(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.IDF) != len(w.IDF) || got.Labels[1] != "hate" || got.Lexicon[0] != w.Lexicon[0] || got.Bias[1] != w.Bias[1] {
		t.Fatalf("read %+v", got)
	}
	for i := range w.Weights {
		if got.Weights[i][0] != w.Weights[i][0] || got.Weights[i][1] != w.Weights[i][1] {
			t.Fatalf("weight row %d: %v, want %v", i, got.Weights[i], w.Weights[i])
		}
	}
	if _, err := ReadWeights([]byte("not onnx")); err == nil {
		t.Error("ReadWeights accepted garbage")
	}
}

func TestWeightsValidate(t *testing.T) {
	w := &Weights{Labels: []string{"a"}, IDF: []float32{0, 1}, Weights: [][]float32{{0}, {1, 2}}, Lexicon: []float32{0}, Bias: []float32{0}}
	if err := w.Validate(); err == nil {
		t.Error("a weight row of the wrong width was accepted")
	}
	if _, err := Graph(&Weights{}, "", nil); err == nil {
		t.Error("Graph accepted weights without labels")
	}
}
