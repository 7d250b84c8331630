package textlinear

import (
	"math"

	"github.com/agate-ml/agate/models/textfeat"
)

// Vector is a text's normalised TF-IDF vector and log(1 + lexicon hits),
// as the graph computes them (in float64).
type Vector struct {
	IDs     []int64
	Values  []float64
	Lexicon float64
}

// Vectorize weighs features like the graph: sublinear TF times IDF,
// L2-normalised.
func (w *Weights) Vectorize(fs textfeat.Features) Vector {
	v := Vector{IDs: fs.IDs, Values: make([]float64, len(fs.IDs)), Lexicon: math.Log1p(float64(fs.Lexicon))}
	var ss float64
	for j, id := range fs.IDs {
		c := float64(fs.Counts[j])
		if c <= 0 || id < 0 || int(id) >= len(w.IDF) {
			continue
		}
		x := (1 + math.Log(c)) * float64(w.IDF[id])
		v.Values[j] = x
		ss += x * x
	}
	norm := math.Max(math.Sqrt(ss), normEpsilon)
	for j := range v.Values {
		v.Values[j] /= norm
	}
	return v
}

// Logits computes every label's logit of a vector in float64.
func (w *Weights) Logits(v Vector) []float64 {
	out := make([]float64, len(w.Labels))
	for k := range out {
		out[k] = float64(w.Bias[k]) + float64(w.Lexicon[k])*v.Lexicon
	}
	for j, id := range v.IDs {
		if id <= 0 || int(id) >= len(w.Weights) {
			continue
		}
		row := w.Weights[id]
		for k := range out {
			out[k] += float64(row[k]) * v.Values[j]
		}
	}
	return out
}

// WordAttribution is one word's exact contribution to each label's logit.
type WordAttribution struct {
	// Word is the normalised word; Begin and End are code point offsets
	// into the text.
	Word       string
	Begin, End int
	// Logit holds the contribution to each label's logit, in label order.
	Logit []float64
}

// Explanation splits each label's logit into the bias and one term per
// word: Bias[k] + Σ Words[i].Logit[k] = Logits[k].
type Explanation struct {
	Logits []float64
	Bias   []float64
	Words  []WordAttribution
}

// Explain attributes every logit of text to its words. A feature's
// contribution (weight × normalised TF-IDF value) is shared equally among
// its occurrences, and an occurrence spanning several words (a bigram, a
// lexicon phrase) is shared equally among them, so the attributions sum to
// the logit exactly (up to float64 rounding).
func (w *Weights) Explain(f *textfeat.Featurizer, text string) Explanation {
	words, occ := f.Occurrences(text)
	fs := f.Featurize(text, textfeat.Features{})
	v := w.Vectorize(fs)
	k := len(w.Labels)
	ex := Explanation{Logits: w.Logits(v), Bias: make([]float64, k), Words: make([]WordAttribution, len(words))}
	for j := range ex.Bias {
		ex.Bias[j] = float64(w.Bias[j])
	}
	for i, wd := range words {
		ex.Words[i] = WordAttribution{Word: wd.Norm, Begin: wd.Begin, End: wd.End, Logit: make([]float64, k)}
	}
	value := make(map[int64]float64, len(v.IDs))
	count := make(map[int64]int, len(v.IDs))
	for j, id := range v.IDs {
		value[id] = v.Values[j]
	}
	value[textfeat.LexiconID] = v.Lexicon
	for _, o := range occ {
		count[int64(o.ID)]++
	}
	for _, o := range occ {
		id := int64(o.ID)
		if int(id) >= len(w.Weights) {
			continue
		}
		share := value[id] / float64(count[id]) / float64(o.Last-o.First+1)
		row := w.Lexicon
		if id != textfeat.LexiconID {
			row = w.Weights[id]
		}
		for i := o.First; i <= o.Last; i++ {
			for j := range k {
				ex.Words[i].Logit[j] += float64(row[j]) * share
			}
		}
	}
	return ex
}
