package models

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/models/textfeat"
	"github.com/agate-ml/agate/models/textlinear"
	"github.com/agate-ml/agate/ops"
	"github.com/agate-ml/agate/tokenizer"
)

// Names of the transformer inputs a text classifier may declare.
const (
	inputIDs      = "input_ids"
	attentionMask = "attention_mask"
	tokenTypeIDs  = "token_type_ids"
	positionIDs   = "position_ids"
)

// Prediction is a text classifier's output for one text.
type Prediction struct {
	// Scores holds one probability per model label, in Labels() order.
	Scores []float64
	// Tokens is the number of tokens the model saw (special tokens included).
	Tokens int
	// Truncated reports whether the text was cut to the maximum length.
	Truncated bool
}

// TextInput is one text prepared for a model run (by Encode): a
// transformer's tokens, or a linear model's n-gram features.
type TextInput struct {
	tokenizer.Encoding
	// Features holds a linear model's distinct features and their counts.
	Features textfeat.Features
}

// Len is the width the input takes in a padded batch: tokens for a
// transformer, distinct features for a linear model.
func (in *TextInput) Len() int {
	if in.Features.IDs != nil {
		return in.Features.Len()
	}
	return len(in.IDs)
}

// TextClassifier runs a text classification model, either a
// sequence-classification transformer (a tokenizer and model.onnx) or a
// linear n-gram model (featurizer.json and model.onnx, package
// textlinear). It prepares texts, pads them into one batch, runs the model
// once and turns the logits into probabilities (a sigmoid per label for
// multi-label models, a softmax otherwise). It is safe for concurrent use.
type TextClassifier struct {
	model      *engine.Model
	tok        *tokenizer.Tokenizer
	feat       *textfeat.Featurizer // linear models
	weights    *textlinear.Weights  // linear models, for Explain
	labels     []string
	multiLabel bool
	maxLength  int
	inputs     []string // the model's inputs, in order
	int32In    []bool   // input i is declared int32 (else int64)
	fixedSeq   int      // the inputs' declared sequence length, 0 when dynamic
	fixedBatch int      // the inputs' declared batch size, 0 when dynamic
	output     string
}

// LoadTextClassifier loads dir/model.onnx and the tokenizer files of dir
// (tokenizer.json or vocab.txt, tokenizer_config.json, config.json), or,
// for a linear model, dir/featurizer.json. maxLength, when positive, caps
// the tokens per text below the tokenizer's own maximum.
func LoadTextClassifier(dir string, maxLength int, opts ...engine.Option) (*TextClassifier, error) {
	if _, err := os.Stat(filepath.Join(dir, textfeat.FileName)); err == nil {
		onnx, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
		if err != nil {
			return nil, fmt.Errorf("text classifier %s: %w", dir, err)
		}
		spec, err := textfeat.ReadSpec(filepath.Join(dir, textfeat.FileName))
		if err != nil {
			return nil, fmt.Errorf("text classifier %s: %w", dir, err)
		}
		tc, err := NewLinearTextClassifier(onnx, spec, opts...)
		if err != nil {
			return nil, fmt.Errorf("text classifier %s: %w", dir, err)
		}
		return tc, nil
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("text classifier %s: %w", dir, err)
	}
	m, err := engine.LoadFile(filepath.Join(dir, "model.onnx"), opts...)
	if err != nil {
		return nil, fmt.Errorf("text classifier %s: %w", dir, err)
	}
	tc, err := NewTextClassifier(m, tok, maxLength)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("text classifier %s: %w", dir, err)
	}
	return tc, nil
}

// NewTextClassifier wraps a loaded model and its tokenizer. The model must
// take input_ids (and optionally attention_mask, token_type_ids and
// position_ids), as int64 or int32 tensors, and return float logits
// [batch, labels] as its first output.
func NewTextClassifier(m *engine.Model, tok *tokenizer.Tokenizer, maxLength int) (*TextClassifier, error) {
	tc := &TextClassifier{model: m, tok: tok, labels: tok.Labels(),
		multiLabel: tok.ProblemType() == "multi_label_classification", maxLength: tok.MaxLength()}
	if maxLength > 0 && (tc.maxLength <= 0 || maxLength < tc.maxLength) {
		tc.maxLength = maxLength
	}
	hasIDs := false
	for _, in := range m.Inputs() {
		switch in.Name {
		case inputIDs:
			hasIDs = true
		case attentionMask, tokenTypeIDs, positionIDs:
		default:
			if !in.Optional {
				return nil, fmt.Errorf("model input %q is not one of input_ids, attention_mask, token_type_ids, position_ids", in.Name)
			}
			// an initializer listed as an input (older exports): left
			// to its default
			tc.inputs = append(tc.inputs, in.Name)
			tc.int32In = append(tc.int32In, false)
			continue
		}
		is32 := false
		if in.Type != nil && in.Type.Kind == ops.KindTensor {
			switch in.Type.DType {
			case ops.Int32:
				is32 = true
			case ops.Int64, ops.Undefined:
			default:
				return nil, fmt.Errorf("model input %q is %s, want int64 or int32 token ids", in.Name, in.Type.DType)
			}
		}
		if in.Name == inputIDs && in.Type != nil && in.Type.HasShape && len(in.Type.Shape) == 2 {
			if b := int(in.Type.Shape[0].Value); b > 0 {
				tc.fixedBatch = b
			}
			if n := int(in.Type.Shape[1].Value); n > 0 {
				// an export with a static sequence length: every text is
				// padded (and truncated) to it
				tc.fixedSeq = n
				if tc.maxLength <= 0 || n < tc.maxLength {
					tc.maxLength = n
				}
			}
		}
		tc.inputs = append(tc.inputs, in.Name)
		tc.int32In = append(tc.int32In, is32)
	}
	if !hasIDs {
		return nil, errors.New("model has no input_ids input")
	}
	outs := m.Outputs()
	if len(outs) == 0 {
		return nil, errors.New("model has no outputs")
	}
	tc.output = outs[0].Name
	if typ := outs[0].Type; typ != nil && typ.HasShape && len(typ.Shape) == 2 {
		if n := typ.Shape[1].Value; n > 0 && len(tc.labels) == 0 {
			for i := 0; i < int(n); i++ {
				tc.labels = append(tc.labels, fmt.Sprintf("LABEL_%d", i))
			}
		} else if n > 0 && int(n) != len(tc.labels) {
			return nil, fmt.Errorf("model has %d outputs per text but config.json names %d labels", n, len(tc.labels))
		}
	}
	if len(tc.labels) == 0 {
		return nil, errors.New("no labels: config.json has no id2label and the output width is unknown")
	}
	return tc, nil
}

// NewLinearTextClassifier loads a linear n-gram model (package textlinear)
// from its model.onnx bytes and featuriser specification.
func NewLinearTextClassifier(onnx []byte, spec *textfeat.Spec, opts ...engine.Option) (*TextClassifier, error) {
	feat, err := textfeat.New(spec)
	if err != nil {
		return nil, err
	}
	w, err := textlinear.ReadWeights(onnx)
	if err != nil {
		return nil, err
	}
	if len(w.IDF) != feat.Size() {
		return nil, fmt.Errorf("model.onnx weighs %d feature ids, featurizer.json has %d (vocabulary + padding)", len(w.IDF), feat.Size())
	}
	m, err := engine.LoadBytes(onnx, opts...)
	if err != nil {
		return nil, err
	}
	tc := &TextClassifier{model: m, feat: feat, weights: w, labels: w.Labels, multiLabel: true}
	for _, in := range m.Inputs() {
		tc.inputs = append(tc.inputs, in.Name)
	}
	if want := []string{textlinear.InputIDs, textlinear.InputCounts, textlinear.InputLexicon}; !slices.Equal(tc.inputs, want) {
		m.Close()
		return nil, fmt.Errorf("linear text model inputs are %v, want %v", tc.inputs, want)
	}
	tc.output = textlinear.OutputLogits
	return tc, nil
}

// Linear reports whether the classifier is a linear n-gram model, whose
// predictions Explain attributes exactly to words.
func (tc *TextClassifier) Linear() bool { return tc.feat != nil }

// Explain attributes a linear model's logits of text to its words (see
// textlinear.Weights.Explain); it fails for other models.
func (tc *TextClassifier) Explain(text string) (textlinear.Explanation, error) {
	if tc.feat == nil {
		return textlinear.Explanation{}, ErrNoAttributions
	}
	return tc.weights.Explain(tc.feat, text), nil
}

// ErrNoAttributions is returned by Explain for models whose predictions
// cannot be attributed exactly to words (transformers).
var ErrNoAttributions = errors.New("the model gives no exact word attributions (only linear text models do)")

// Labels returns the model's labels in output order.
func (tc *TextClassifier) Labels() []string { return append([]string(nil), tc.labels...) }

// MultiLabel reports whether scores are independent sigmoids (true) or a
// softmax over the labels.
func (tc *TextClassifier) MultiLabel() bool { return tc.multiLabel }

// IDLimits returns, for each id input the model takes, one past the
// largest value it accepts (input_ids: the vocabulary; token_type_ids: the
// segment types when config.json gives them; feature_ids: the featuriser's
// vocabulary). Inputs without a known limit are absent.
func (tc *TextClassifier) IDLimits() map[string]int {
	if tc.feat != nil {
		return map[string]int{textlinear.InputIDs: tc.feat.Size()}
	}
	out := map[string]int{inputIDs: tc.tok.IDLimit()}
	if n := tc.tok.TypeVocabSize(); n > 0 {
		out[tokenTypeIDs] = n
	}
	if tc.maxLength > 0 {
		out[positionIDs] = tc.maxLength
	}
	return out
}

// MaxLength is the maximum number of tokens per text.
func (tc *TextClassifier) MaxLength() int { return tc.maxLength }

// Engine returns the underlying model.
func (tc *TextClassifier) Engine() *engine.Model { return tc.model }

// Close releases the model.
func (tc *TextClassifier) Close() error { return tc.model.Close() }

// Encode prepares one text: tokens truncated to MaxLength, or a linear
// model's features.
func (tc *TextClassifier) Encode(ctx context.Context, text string) (TextInput, error) {
	if tc.feat != nil {
		fs := tc.feat.Featurize(text, textfeat.Features{})
		if fs.IDs == nil {
			fs.IDs, fs.Counts = []int64{}, []float32{}
		}
		return TextInput{Features: fs}, nil
	}
	b, err := tc.tok.EncodeBatch(ctx, []string{text}, tokenizer.Options{MaxLength: tc.maxLength})
	if err != nil {
		return TextInput{}, fmt.Errorf("tokenizing: %w", err)
	}
	return TextInput{Encoding: b.Encodings[0]}, nil
}

// Classify prepares texts and classifies them in one model run.
func (tc *TextClassifier) Classify(ctx context.Context, texts []string) ([]Prediction, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	ins := make([]TextInput, len(texts))
	if tc.feat != nil {
		for i, t := range texts {
			in, err := tc.Encode(ctx, t)
			if err != nil {
				return nil, err
			}
			ins[i] = in
		}
		return tc.ClassifyEncoded(ctx, ins)
	}
	b, err := tc.tok.EncodeBatch(ctx, texts, tokenizer.Options{MaxLength: tc.maxLength})
	if err != nil {
		return nil, fmt.Errorf("tokenizing: %w", err)
	}
	for i := range b.Encodings {
		ins[i].Encoding = b.Encodings[i]
	}
	return tc.ClassifyEncoded(ctx, ins)
}

// ClassifyEncoded pads encodings (from Encode) to the longest and runs the
// model once on the batch.
func (tc *TextClassifier) ClassifyEncoded(ctx context.Context, encs []TextInput) ([]Prediction, error) {
	if len(encs) == 0 {
		return nil, nil
	}
	rows, err := tc.LogitsEncoded(ctx, encs)
	if err != nil {
		return nil, err
	}
	preds := make([]Prediction, len(encs))
	for i, row := range rows {
		if tc.multiLabel {
			for j := range row {
				row[j] = sigmoid(row[j])
			}
		} else {
			softmax(row)
		}
		preds[i] = Prediction{Scores: row, Tokens: encs[i].Len(), Truncated: encs[i].Truncated}
	}
	return preds, nil
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func softmax(v []float64) {
	m := math.Inf(-1)
	for _, x := range v {
		m = max(m, x)
	}
	var s float64
	for i, x := range v {
		v[i] = math.Exp(x - m)
		s += v[i]
	}
	for i := range v {
		v[i] /= s
	}
}

// toFloat64s converts a float tensor's data to float64.
func toFloat64s(t *ops.Tensor) ([]float64, error) {
	switch d := t.Data.(type) {
	case []float32:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out, nil
	case []float64:
		return append([]float64(nil), d...), nil
	}
	return nil, fmt.Errorf("element type %s is not float or double", t.DType)
}

// isTextModelDir reports whether dir holds a tokenizer next to model.onnx.
func isTextModelDir(dir string) bool {
	for _, f := range []string{"tokenizer.json", "vocab.txt", textfeat.FileName} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// LogitsEncoded runs the model on encodings (from Encode) and returns its
// raw output rows, one per encoding, before the sigmoid or softmax.
func (tc *TextClassifier) LogitsEncoded(ctx context.Context, encs []TextInput) ([][]float64, error) {
	rows := make([][]float64, 0, len(encs))
	for lo := 0; lo < len(encs); {
		hi := len(encs)
		if tc.fixedBatch > 0 {
			hi = min(hi, lo+tc.fixedBatch)
		}
		group := encs[lo:hi]
		for len(group) < tc.fixedBatch {
			group = append(group[:len(group):len(group)], encs[lo])
		}
		vals, err := tc.logits(ctx, group)
		if err != nil {
			return nil, err
		}
		k := len(tc.labels)
		for i := 0; i < hi-lo; i++ {
			rows = append(rows, vals[i*k:(i+1)*k:(i+1)*k])
		}
		lo = hi
	}
	return rows, nil
}

// logits runs one batch (of the model's static batch size, if it has
// one) and returns the flat [len(encs), labels] output.
func (tc *TextClassifier) logits(ctx context.Context, encs []TextInput) ([]float64, error) {
	n := len(encs)
	if tc.feat != nil {
		return tc.linearLogits(ctx, encs)
	}
	seq := 1
	for i := range encs {
		seq = max(seq, len(encs[i].IDs))
	}
	if tc.fixedSeq > 0 {
		if seq > tc.fixedSeq {
			return nil, fmt.Errorf("an encoding has %d tokens, the model takes exactly %d", seq, tc.fixedSeq)
		}
		seq = tc.fixedSeq
	}
	ids := make([]int64, n*seq)
	mask := make([]int64, n*seq)
	types := make([]int64, n*seq)
	pos := make([]int64, n*seq)
	padID := int64(tc.tok.PadID())
	left := tc.tok.PaddingSide() == "left"
	for i := range encs {
		e := &encs[i]
		row := i * seq
		off := 0
		if left {
			off = seq - len(e.IDs)
		}
		for j := 0; j < seq; j++ {
			ids[row+j] = padID
		}
		for j, id := range e.IDs {
			ids[row+off+j] = int64(id)
			mask[row+off+j] = 1
			pos[row+off+j] = int64(j)
			if j < len(e.TypeIDs) {
				types[row+off+j] = int64(e.TypeIDs[j])
			}
		}
	}
	in := make([]ops.Value, len(tc.inputs))
	for i, name := range tc.inputs {
		var v []int64
		switch name {
		case inputIDs:
			v = ids
		case attentionMask:
			v = mask
		case tokenTypeIDs:
			v = types
		case positionIDs:
			v = pos
		default:
			continue // an optional input left to its default
		}
		if tc.int32In[i] {
			v32 := make([]int32, len(v))
			for j, x := range v {
				v32[j] = int32(x)
			}
			in[i] = ops.FromSlice(ops.Int32, v32, n, seq)
			continue
		}
		in[i] = ops.FromSlice(ops.Int64, v, n, seq)
	}
	return tc.run(ctx, in, n)
}

// linearLogits runs a linear model on features padded to the batch's
// widest text (padding: id 0, count 0).
func (tc *TextClassifier) linearLogits(ctx context.Context, encs []TextInput) ([]float64, error) {
	n, width := len(encs), 1
	for i := range encs {
		width = max(width, encs[i].Features.Len())
	}
	ids := make([]int64, n*width)
	counts := make([]float32, n*width)
	lex := make([]float32, n)
	for i := range encs {
		copy(ids[i*width:], encs[i].Features.IDs)
		copy(counts[i*width:], encs[i].Features.Counts)
		lex[i] = encs[i].Features.Lexicon
	}
	in := []ops.Value{ops.FromSlice(ops.Int64, ids, n, width), ops.FromSlice(ops.Float, counts, n, width), ops.FromSlice(ops.Float, lex, n, 1)}
	return tc.run(ctx, in, n)
}

// run runs the model and returns its first output as float64 [n, labels].
func (tc *TextClassifier) run(ctx context.Context, in []ops.Value, n int) ([]float64, error) {
	outs := make([]ops.Value, len(tc.model.Outputs()))
	if err := tc.model.RunList(ctx, in, outs); err != nil {
		return nil, fmt.Errorf("running the model: %w", err)
	}
	logits, ok := outs[0].(*ops.Tensor)
	if !ok || len(logits.Shape) != 2 || logits.Shape[0] != n || logits.Shape[1] != len(tc.labels) {
		return nil, fmt.Errorf("model output %q is %v, want float logits [%d, %d]", tc.output, outs[0], n, len(tc.labels))
	}
	vals, err := toFloat64s(logits)
	if err != nil {
		return nil, fmt.Errorf("model output %q: %w", tc.output, err)
	}
	return vals, nil
}
