package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/agate-ml/agate/ops"
	"gorgonia.org/tensor"
)

// ErrNotExplainable is returned by Model.TreeExplainer for a model whose
// output does not come from exactly one tree ensemble read through
// feature-wise preprocessing.
var ErrNotExplainable = errors.New("model cannot be explained with TreeSHAP")

// featureWise lists the operators that map each input feature to the same
// feature of their output (and so keep the trees' features the caller's):
// explanations are given per input feature through them.
var featureWise = map[string]bool{
	"Identity": true, "Cast": true, "Scaler": true, "Imputer": true, "Binarizer": true,
}

// TreeExplainer computes exact TreeSHAP contributions for a model whose
// prediction comes from one tree ensemble (TreeEnsembleRegressor,
// TreeEnsembleClassifier or TreeEnsemble), possibly behind feature-wise
// preprocessing (Cast, Scaler, Imputer, Binarizer): contributions are per
// input feature, in the units of the model's output before its
// post-transform. Create one with Model.TreeExplainer; it is safe for
// concurrent use.
type TreeExplainer struct {
	m        *Model
	ens      *ops.TreeExplainer
	input    string      // the graph input the trees read
	prefix   []*ops.Node // feature-wise nodes from the input to the trees, in order
	kernels  []ops.Kernel
	features int // width of the input rows
}

// ExplainOptions configure Model.TreeExplainer.
type ExplainOptions struct {
	// Background holds rows of the model's input ([rows, features], in the
	// caller's units) whose routing through the trees gives the node
	// covers, the distribution the expected value and the contributions
	// are measured against. Nil: the covers the model stores are used; a
	// model without them (most converters write none) is an error that
	// wraps ops.ErrNoCovers.
	Background *tensor.Dense
}

// Explanation holds the TreeSHAP contributions of a batch of rows.
type Explanation struct {
	// Targets names the explained outputs: class labels for a classifier
	// (the positive class only, for a two-class model that scores one
	// class), target indices for a regressor.
	Targets []string
	// Features is the number of input features explained.
	Features int
	// Expected is the expected raw value per target over the covers.
	Expected []float64
	// Contributions is float64 [rows, targets, features]: for every row
	// and target, Expected + the sum over features = Raw.
	Contributions *tensor.Dense
	// Raw is float64 [rows, targets]: the model's raw value, before
	// PostTransform.
	Raw *tensor.Dense
	// PostTransform is what the model applies to Raw (NONE, LOGISTIC,
	// SOFTMAX, SOFTMAX_ZERO or PROBIT): the contributions explain the
	// value before it, as the shap library does.
	PostTransform string
	// Covers says where the node covers came from: "model" or
	// "background".
	Covers string
}

// TreeExplainer prepares TreeSHAP for the model. It fails (wrapping
// ErrNotExplainable) unless exactly one tree ensemble produces the model's
// outputs and reads one graph input through feature-wise operators only.
func (m *Model) TreeExplainer(ctx context.Context, opts ExplainOptions) (*TreeExplainer, error) {
	p := m.plan
	producer := map[int]*step{}
	var trees []*step
	for _, st := range p.steps {
		for _, s := range st.out {
			producer[s] = st
		}
		if st.node.Domain == ops.DomainML {
			switch st.node.OpType {
			case "TreeEnsembleRegressor", "TreeEnsembleClassifier", "TreeEnsemble":
				trees = append(trees, st)
			}
		}
	}
	if len(trees) != 1 {
		return nil, fmt.Errorf("%w: it runs %d tree ensembles, TreeSHAP explains models with exactly one", ErrNotExplainable, len(trees))
	}
	tree := trees[0]
	e := &TreeExplainer{m: m}
	if err := checkTreeOutputs(p, tree); err != nil {
		return nil, err
	}

	// Walk from the trees' input back to a graph input.
	inputSlot := map[int]string{}
	for _, in := range p.inputs {
		inputSlot[in.slot] = in.name
	}
	slot := tree.in[0]
	for {
		if name, ok := inputSlot[slot]; ok {
			e.input = name
			break
		}
		st, ok := producer[slot]
		if !ok {
			return nil, fmt.Errorf("%w: the trees' input %q is not computed from a graph input", ErrNotExplainable, p.names[slot])
		}
		if !featureWise[st.node.OpType] || (st.node.Domain != ops.DomainONNX && st.node.Domain != ops.DomainML) {
			return nil, fmt.Errorf("%w: the trees read their features through %s, which does not keep each feature apart (only %s do)",
				ErrNotExplainable, st.node.Describe(), "Identity, Cast, Scaler, Imputer and Binarizer")
		}
		e.prefix = append([]*ops.Node{st.node}, e.prefix...)
		slot = st.in[0]
	}
	for _, n := range e.prefix {
		k, err := ops.DefaultRegistry().Build(n)
		if err != nil {
			return nil, fmt.Errorf("explain: %w", err)
		}
		kernel, ok := k.(ops.Kernel)
		if !ok {
			return nil, fmt.Errorf("%w: %s does not take tensors", ErrNotExplainable, n.Describe())
		}
		e.kernels = append(e.kernels, kernel)
	}

	var eo ops.TreeExplainerOptions
	if opts.Background != nil {
		bg, err := e.treeInput(ctx, opts.Background)
		if err != nil {
			return nil, fmt.Errorf("explain: background: %w", err)
		}
		eo.Features = bg.Shape[1]
		switch d := bg.Data.(type) {
		case []float32:
			eo.Background = d
		case []float64:
			eo.Background64 = d
		}
	}
	ens, err := ops.NewTreeExplainer(tree.node, eo)
	if err != nil {
		return nil, fmt.Errorf("explain: %w", err)
	}
	e.ens = ens
	e.features = ens.Features()
	for _, in := range m.inputs {
		if typ := in.Type; in.Name == e.input && typ != nil && typ.HasShape && len(typ.Shape) == 2 && typ.Shape[1].Value > 0 {
			e.features = max(e.features, int(typ.Shape[1].Value))
		}
	}
	return e, nil
}

// explainPassThrough lists the operators that may sit between the trees
// and the graph outputs without changing the explained values.
var explainPassThrough = map[string]bool{"Identity": true, "Cast": true, "ZipMap": true}

// checkTreeOutputs verifies that the trees' outputs reach the graph
// outputs unchanged (through Identity, Cast or ZipMap only): operators
// after the trees (a target transform, a second model) would make the
// explained values differ from the predictions.
func checkTreeOutputs(p *plan, tree *step) error {
	consumers := map[int][]*step{}
	for _, st := range p.steps {
		for _, s := range st.in {
			consumers[s] = append(consumers[s], st)
		}
	}
	seen := map[*step]bool{}
	queue := append([]int(nil), tree.out...)
	for len(queue) > 0 {
		slot := queue[0]
		queue = queue[1:]
		for _, st := range consumers[slot] {
			if seen[st] {
				continue
			}
			seen[st] = true
			if !explainPassThrough[st.node.OpType] {
				return fmt.Errorf("%w: %s computes on the trees' output, so explanations of the trees would not add up to the model's output",
					ErrNotExplainable, st.node.Describe())
			}
			queue = append(queue, st.out...)
		}
	}
	return nil
}

// Input returns the name of the graph input the explanations are about.
func (e *TreeExplainer) Input() string { return e.input }

// Features returns the number of input features explained.
func (e *TreeExplainer) Features() int { return e.features }

// Targets returns the names of the explained outputs.
func (e *TreeExplainer) Targets() []string { return e.ens.Targets() }

// ExpectedValues returns the expected raw value per target.
func (e *TreeExplainer) ExpectedValues() []float64 { return e.ens.ExpectedValues() }

// PostTransform names what the model applies after the explained value.
func (e *TreeExplainer) PostTransform() string { return e.ens.PostTransform() }

// Covers says where the node covers came from ("model" or "background").
func (e *TreeExplainer) Covers() string { return e.ens.Covers() }

// FeatureImportance is a tree model's global feature importance.
type FeatureImportance struct {
	// SplitCount is the number of split nodes on each feature.
	SplitCount []int
	// CoverWeighted is the expected number of decisions on each feature
	// per prediction, over the covers (see ops.TreeExplainer).
	CoverWeighted []float64
}

// Importance returns the global feature importance of the trees, one
// entry per input feature.
func (e *TreeExplainer) Importance() FeatureImportance {
	fi := FeatureImportance{SplitCount: make([]int, e.features), CoverWeighted: make([]float64, e.features)}
	copy(fi.SplitCount, e.ens.SplitCounts())
	copy(fi.CoverWeighted, e.ens.CoverWeightedSplits())
	return fi
}

// treeInput runs the feature-wise preprocessing on rows x ([rows,
// features]) and returns what the trees read.
func (e *TreeExplainer) treeInput(ctx context.Context, x *tensor.Dense) (*ops.Tensor, error) {
	t, err := FromDense(x)
	if err != nil {
		return nil, fmt.Errorf("%w: input %q: %v", ErrInput, e.input, err)
	}
	if len(t.Shape) != 2 {
		return nil, fmt.Errorf("%w: input %q must be [rows, features], got shape %v", ErrInput, e.input, t.Shape)
	}
	ec := ops.NewContext(ctx, nil, nil)
	ec.MaxTensorBytes = e.m.budget
	for i, k := range e.kernels {
		out := make([]*ops.Tensor, 1)
		if err := k.Run(ec, []*ops.Tensor{t}, out); err != nil {
			return nil, fmt.Errorf("%s: %w", e.prefix[i].Describe(), err)
		}
		t = out[0]
	}
	switch t.DType {
	case ops.Float, ops.Double:
	default:
		// integer features: the kernels compare them as float32
		v, err := t.AsFloat64s()
		if err != nil {
			return nil, fmt.Errorf("%w: the trees' input: %v", ErrInput, err)
		}
		f := make([]float32, len(v))
		for i, x := range v {
			f[i] = float32(x)
		}
		t = &ops.Tensor{DType: ops.Float, Shape: t.Shape, Data: f}
	}
	if e.ens != nil && t.Shape[1] < e.ens.Features() {
		return nil, fmt.Errorf("%w: input %q has %d features, the trees read %d", ErrInput, e.input, t.Shape[1], e.ens.Features())
	}
	return t, nil
}

// Explain computes the contributions of every row of x, the model's input
// ([rows, features], as given to Run).
func (e *TreeExplainer) Explain(ctx context.Context, x *tensor.Dense) (*Explanation, error) {
	t, err := e.treeInput(ctx, x)
	if err != nil {
		return nil, err
	}
	rows, width := t.Shape[0], t.Shape[1]
	targets := e.ens.Targets()
	k, nf := len(targets), e.ens.Features()
	out := e.features
	if need := int64(rows) * int64(k) * int64(out) * 8; e.m.budget > 0 && need > e.m.budget {
		return nil, fmt.Errorf("%w: explaining %d rows × %d targets × %d features needs %d bytes, past the model's tensor budget of %d",
			ErrInput, rows, k, out, need, e.m.budget)
	}
	contrib := make([]float64, rows*k*out)
	raw := make([]float64, rows*k)
	phi := make([]float64, k*nf)
	for r := 0; r < rows; r++ {
		if err := ctx.Err(); err != nil { // a row of deep trees takes milliseconds
			return nil, err
		}
		switch d := t.Data.(type) {
		case []float32:
			if e.ens.Double() {
				row := make([]float64, width)
				for i, v := range d[r*width : (r+1)*width] {
					row[i] = float64(v)
				}
				err = e.ens.Explain64(row, phi, raw[r*k:(r+1)*k])
			} else {
				err = e.ens.Explain(d[r*width:(r+1)*width], phi, raw[r*k:(r+1)*k])
			}
		case []float64:
			if e.ens.Double() {
				err = e.ens.Explain64(d[r*width:(r+1)*width], phi, raw[r*k:(r+1)*k])
			} else {
				row := make([]float32, width)
				for i, v := range d[r*width : (r+1)*width] {
					row[i] = float32(v)
				}
				err = e.ens.Explain(row, phi, raw[r*k:(r+1)*k])
			}
		}
		if err != nil {
			return nil, fmt.Errorf("explain row %d: %w", r, err)
		}
		for j := 0; j < k; j++ {
			copy(contrib[(r*k+j)*out:(r*k+j)*out+nf], phi[j*nf:(j+1)*nf])
		}
	}
	return &Explanation{
		Targets:       targets,
		Features:      out,
		Expected:      e.ens.ExpectedValues(),
		Contributions: tensor.New(tensor.WithShape(rows, k, out), tensor.WithBacking(contrib)),
		Raw:           tensor.New(tensor.WithShape(rows, k), tensor.WithBacking(raw)),
		PostTransform: e.ens.PostTransform(),
		Covers:        e.ens.Covers(),
	}, nil
}
