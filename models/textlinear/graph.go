// Package textlinear runs agate's linear text classifiers: a featuriser
// (package textfeat, featurizer.json) turns a text into vocabulary ids and
// counts, and model.onnx weighs them (sublinear TF-IDF, L2-normalised) and
// applies one logistic regression per label, with standard ONNX operators
// that any runtime executes. Because the model is linear, each word's
// contribution to a label's logit is exact: Explain returns them.
package textlinear

import (
	"fmt"

	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/ops"
)

// Names of the graph's inputs, outputs and weights.
const (
	InputIDs       = "feature_ids"     // int64 [batch, features]: vocabulary ids, 0 pads
	InputCounts    = "feature_counts"  // float [batch, features]: occurrences, 0 pads
	InputLexicon   = "lexicon_hits"    // float [batch, 1]: lexicon entries found
	OutputLogits   = "logits"          // float [batch, labels]
	OutputProbs    = "probabilities"   // float [batch, labels]: sigmoid of the logits
	InitIDF        = "idf"             // float [vocab]: inverse document frequency, 0 for padding
	InitWeights    = "weights"         // float [vocab, labels]
	InitBias       = "bias"            // float [labels]
	InitLexicon    = "lexicon_weights" // float [1, labels]
	opsetVersion   = 17
	normEpsilon    = 1e-12
	producerName   = "agate"
	MetadataLabels = "agate.labels" // comma-separated labels, in output order
)

// Weights are a trained linear model: IDF per feature id (id 0 is padding
// and has IDF 0), one weight row per feature id, one weight per label for
// log(1 + lexicon hits), and one bias per label.
type Weights struct {
	Labels  []string
	IDF     []float32   // [vocab]
	Weights [][]float32 // [vocab][labels]
	Lexicon []float32   // [labels]
	Bias    []float32   // [labels]
}

// Validate checks the shapes.
func (w *Weights) Validate() error {
	k := len(w.Labels)
	if k == 0 {
		return fmt.Errorf("textlinear: no labels")
	}
	if len(w.IDF) == 0 || len(w.Weights) != len(w.IDF) {
		return fmt.Errorf("textlinear: %d IDF values for %d weight rows", len(w.IDF), len(w.Weights))
	}
	if len(w.Bias) != k || len(w.Lexicon) != k {
		return fmt.Errorf("textlinear: %d biases and %d lexicon weights for %d labels", len(w.Bias), len(w.Lexicon), k)
	}
	for i, row := range w.Weights {
		if len(row) != k {
			return fmt.Errorf("textlinear: weight row %d has %d values for %d labels", i, len(row), k)
		}
	}
	return nil
}

// Graph writes the ONNX model of w:
//
//	tf     = (1 + log(max(counts, 1))) · min(counts, 1)   sublinear, 0 for padding
//	x      = tf · idf[ids],  x /= max(‖x‖₂, ε)             per text
//	logits = Σ_features weights[ids] · x + log(1 + lexicon_hits) · lexicon_weights + bias
//	probabilities = sigmoid(logits)
func Graph(w *Weights, docString string, metadata map[string]string) (*onnxbuild.Model, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	v, k := len(w.IDF), len(w.Labels)
	flat := make([]float32, 0, v*k)
	for _, row := range w.Weights {
		flat = append(flat, row...)
	}
	g := onnxbuild.NewGraph("agate_text_linear")
	g.Input(InputIDs, onnxbuild.TensorType(ops.Int64, "batch", "features"))
	g.Input(InputCounts, onnxbuild.TensorType(ops.Float, "batch", "features"))
	g.Input(InputLexicon, onnxbuild.TensorType(ops.Float, "batch", 1))
	g.Output(OutputLogits, onnxbuild.TensorType(ops.Float, "batch", k))
	g.Output(OutputProbs, onnxbuild.TensorType(ops.Float, "batch", k))
	g.Initializer(InitIDF, ops.FromSlice(ops.Float, append([]float32(nil), w.IDF...), v))
	g.Initializer(InitWeights, ops.FromSlice(ops.Float, flat, v, k))
	g.Initializer(InitBias, ops.FromSlice(ops.Float, append([]float32(nil), w.Bias...), k))
	g.Initializer(InitLexicon, ops.FromSlice(ops.Float, append([]float32(nil), w.Lexicon...), 1, k))
	g.Initializer("one", ops.Scalar(float32(1)))
	g.Initializer("epsilon", ops.Scalar(float32(normEpsilon)))
	g.Initializer("axis_features", ops.FromSlice(ops.Int64, []int64{1}, 1))
	g.Initializer("axis_labels", ops.FromSlice(ops.Int64, []int64{2}, 1))
	g.Node("Max", []string{InputCounts, "one"}, []string{"counts_at_least_1"})
	g.Node("Log", []string{"counts_at_least_1"}, []string{"log_counts"})
	g.Node("Add", []string{"log_counts", "one"}, []string{"sublinear_tf"})
	g.Node("Min", []string{InputCounts, "one"}, []string{"present"})
	g.Node("Mul", []string{"sublinear_tf", "present"}, []string{"tf"})
	g.Node("Gather", []string{InitIDF, InputIDs}, []string{"idf_of_ids"}, onnxbuild.Int("axis", 0))
	g.Node("Mul", []string{"tf", "idf_of_ids"}, []string{"tfidf"})
	g.Node("Mul", []string{"tfidf", "tfidf"}, []string{"tfidf_squared"})
	g.Node("ReduceSum", []string{"tfidf_squared", "axis_features"}, []string{"sum_squares"}, onnxbuild.Int("keepdims", 1))
	g.Node("Sqrt", []string{"sum_squares"}, []string{"norm"})
	g.Node("Max", []string{"norm", "epsilon"}, []string{"safe_norm"})
	g.Node("Div", []string{"tfidf", "safe_norm"}, []string{"x"})
	g.Node("Unsqueeze", []string{"x", "axis_labels"}, []string{"x_column"})
	g.Node("Gather", []string{InitWeights, InputIDs}, []string{"weights_of_ids"}, onnxbuild.Int("axis", 0))
	g.Node("Mul", []string{"weights_of_ids", "x_column"}, []string{"contributions"})
	g.Node("ReduceSum", []string{"contributions", "axis_features"}, []string{"dot"}, onnxbuild.Int("keepdims", 0))
	g.Node("Add", []string{InputLexicon, "one"}, []string{"lexicon_plus_1"})
	g.Node("Log", []string{"lexicon_plus_1"}, []string{"log_lexicon"})
	g.Node("MatMul", []string{"log_lexicon", InitLexicon}, []string{"lexicon_term"})
	g.Node("Add", []string{"dot", "lexicon_term"}, []string{"linear"})
	g.Node("Add", []string{"linear", InitBias}, []string{OutputLogits})
	g.Node("Sigmoid", []string{OutputLogits}, []string{OutputProbs})
	md := map[string]string{MetadataLabels: joinLabels(w.Labels)}
	for key, val := range metadata {
		md[key] = val
	}
	return &onnxbuild.Model{Graph: g, Opsets: map[string]int{"": opsetVersion}, ProducerName: producerName,
		ProducerVersion: "1", DocString: docString, Metadata: md}, nil
}

func joinLabels(labels []string) string {
	s := ""
	for i, l := range labels {
		if i > 0 {
			s += ","
		}
		s += l
	}
	return s
}
