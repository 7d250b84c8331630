package textlinear

import (
	"fmt"
	"strings"

	"github.com/agate-ml/agate/engine/onnxbuild"
)

// ReadWeights reads the weights of a model written by Graph from its
// model.onnx bytes.
func ReadWeights(onnx []byte) (*Weights, error) {
	e, err := onnxbuild.LoadModel(onnx)
	if err != nil {
		return nil, fmt.Errorf("textlinear: %w", err)
	}
	labels := e.Metadata()[MetadataLabels]
	if labels == "" {
		return nil, fmt.Errorf("textlinear: model.onnx has no %q metadata: not a linear text model written by agate", MetadataLabels)
	}
	w := &Weights{Labels: strings.Split(labels, ",")}
	k := len(w.Labels)
	idf, err := e.Initializer(InitIDF)
	if err != nil {
		return nil, fmt.Errorf("textlinear: %w", err)
	}
	weights, err := e.Initializer(InitWeights)
	if err != nil {
		return nil, fmt.Errorf("textlinear: %w", err)
	}
	bias, err := e.Initializer(InitBias)
	if err != nil {
		return nil, fmt.Errorf("textlinear: %w", err)
	}
	lex, err := e.Initializer(InitLexicon)
	if err != nil {
		return nil, fmt.Errorf("textlinear: %w", err)
	}
	if idf == nil || weights == nil || bias == nil || lex == nil {
		return nil, fmt.Errorf("textlinear: model.onnx lacks one of the initializers %s, %s, %s, %s", InitIDF, InitWeights, InitBias, InitLexicon)
	}
	idfs, ok1 := idf.Data.([]float32)
	flat, ok2 := weights.Data.([]float32)
	b, ok3 := bias.Data.([]float32)
	lx, ok4 := lex.Data.([]float32)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return nil, fmt.Errorf("textlinear: %s, %s, %s and %s must be float tensors", InitIDF, InitWeights, InitBias, InitLexicon)
	}
	w.Lexicon = lx
	if len(weights.Shape) != 2 || weights.Shape[1] != k || weights.Shape[0] != len(idfs) {
		return nil, fmt.Errorf("textlinear: %s is %v, want [%d, %d]", InitWeights, weights.Shape, len(idfs), k)
	}
	w.IDF, w.Bias = idfs, b
	w.Weights = make([][]float32, len(idfs))
	for i := range w.Weights {
		w.Weights[i] = flat[i*k : (i+1)*k : (i+1)*k]
	}
	return w, w.Validate()
}
