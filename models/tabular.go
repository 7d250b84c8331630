package models

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/ops"
)

// TabularPrediction is a tabular model's output for one row.
type TabularPrediction struct {
	// Value is the regression output (regressors), or the predicted class
	// index when the label is numeric (classifiers).
	Value float64
	// Label is the predicted class (classifiers): an int64 or a string.
	Label any
	// Probabilities holds one probability per class, in Classes order
	// (classifiers that output them).
	Probabilities []float64
}

// Tabular runs a regressor or classifier on rows of numeric features: one
// float tensor input [N, features], and either one float output [N, 1]
// (regressors) or a label output [N] plus probabilities as a [N, classes]
// tensor or a sequence of maps (ZipMap). It is safe for concurrent use.
type Tabular struct {
	model      *engine.Model
	input      string
	inputType  ops.DType
	features   int // 0 when the model does not fix it
	classifier bool
	valueOut   int // output index of the regression value / label
	probOut    int // output index of the probabilities, -1 if none
	classes    []string

	// specs describes the features (names, ranges), nil when unknown.
	specs []FeatureSpec
	// background is the file of rows explanations are measured against
	// ("" when none; see ExplainBackgroundFile).
	background  string
	explainOnce sync.Once
	explainer   *engine.TreeExplainer
	explainErr  error
}

// ExplainBackgroundFile is the name, in a model folder, of the background
// rows (an ONNX TensorProto [rows, features] in the model's input units)
// that TreeSHAP explanations are measured against when the model stores no
// node covers (most converters write none). Without it, the folder's first
// test data set (test_data_set_0/input_0.pb) serves.
const ExplainBackgroundFile = "explain_background.pb"

// ErrNotExplainable is wrapped by explanation errors that come from the
// model, not the request: it has no single tree ensemble, or no covers and
// no background rows.
var ErrNotExplainable = errors.New("model cannot be explained")

// findBackground returns the background file of a model folder, or "".
func findBackground(dir string) string {
	for _, p := range []string{ExplainBackgroundFile, filepath.Join("test_data_set_0", "input_0.pb")} {
		if fi, err := os.Stat(filepath.Join(dir, p)); err == nil && fi.Mode().IsRegular() {
			return filepath.Join(dir, p)
		}
	}
	return ""
}

// Explainer returns the model's TreeSHAP explainer, built on first use:
// with the node covers the model stores, else with background rows from
// the folder (ExplainBackgroundFile, else its first test data set). Errors
// wrap ErrNotExplainable.
func (t *Tabular) Explainer(ctx context.Context) (*engine.TreeExplainer, error) {
	t.explainOnce.Do(func() {
		defer func() {
			if r := recover(); r != nil {
				t.explainer, t.explainErr = nil, fmt.Errorf("%w: internal error while preparing the explainer: %v", ErrNotExplainable, r)
			}
		}()
		e, err := t.model.TreeExplainer(ctx, engine.ExplainOptions{})
		if errors.Is(err, ops.ErrNoCovers) && t.background != "" {
			var bg *ops.Tensor
			b, rerr := os.ReadFile(t.background)
			if rerr == nil {
				bg, rerr = engine.DecodeTensor(b)
			}
			if rerr != nil {
				t.explainErr = fmt.Errorf("%w: background rows %s: %v", ErrNotExplainable, filepath.Base(t.background), rerr)
				return
			}
			e, err = t.model.TreeExplainer(ctx, engine.ExplainOptions{Background: engine.ToDense(bg)})
		}
		switch {
		case errors.Is(err, ops.ErrNoCovers):
			t.explainErr = fmt.Errorf("%w: %v; add background rows as %s in the model folder", ErrNotExplainable, err, ExplainBackgroundFile)
		case err != nil:
			t.explainErr = fmt.Errorf("%w: %v", ErrNotExplainable, err)
		}
		t.explainer = e
	})
	if t.explainer == nil && t.explainErr == nil {
		return nil, fmt.Errorf("%w: no explainer", ErrNotExplainable)
	}
	return t.explainer, t.explainErr
}

// Explain returns the TreeSHAP contributions of rows (all of the same
// width, in the model's input units).
func (t *Tabular) Explain(ctx context.Context, rows [][]float64) (*engine.Explanation, error) {
	e, err := t.Explainer(ctx)
	if err != nil {
		return nil, err
	}
	x, err := t.inputTensor(rows)
	if err != nil {
		return nil, err
	}
	return e.Explain(ctx, engine.ToDense(x))
}

// NewTabular inspects m's inputs and outputs and wraps it.
func NewTabular(m *engine.Model) (*Tabular, error) {
	ins := m.Inputs()
	var req []engine.IOInfo
	for _, in := range ins {
		if !in.Optional {
			req = append(req, in)
		}
	}
	if len(req) != 1 {
		return nil, fmt.Errorf("a tabular model takes one input, this one takes %d", len(req))
	}
	t := &Tabular{model: m, input: req[0].Name, inputType: ops.Float, probOut: -1}
	if typ := req[0].Type; typ != nil {
		if typ.Kind != ops.KindTensor {
			return nil, fmt.Errorf("input %q is a %s, not a tensor", t.input, typ)
		}
		switch typ.DType {
		case ops.Float, ops.Double:
			t.inputType = typ.DType
		default:
			return nil, fmt.Errorf("input %q has element type %s; tabular models take float or double", t.input, typ.DType)
		}
		if typ.HasShape {
			if len(typ.Shape) != 2 {
				return nil, fmt.Errorf("input %q has rank %d; tabular models take [N, features]", t.input, len(typ.Shape))
			}
			if v := typ.Shape[1].Value; v > 0 && typ.Shape[1].Param == "" {
				t.features = int(v)
			}
		}
	}
	outs := m.Outputs()
	if len(outs) == 0 {
		return nil, errors.New("model has no outputs")
	}
	first := outs[0].Type
	if first != nil && first.Kind == ops.KindTensor && (first.DType == ops.Int64 || first.DType == ops.String || first.DType == ops.Int32) {
		t.classifier = true
		if len(outs) > 1 {
			t.probOut = 1
		}
	}
	if t.classifier && t.probOut >= 0 {
		if pt := outs[t.probOut].Type; pt != nil && pt.Kind == ops.KindTensor && pt.HasShape && len(pt.Shape) == 2 {
			for i := 0; i < int(pt.Shape[1].Value); i++ {
				t.classes = append(t.classes, strconv.Itoa(i))
			}
		}
	}
	return t, nil
}

// Engine returns the underlying model.
func (t *Tabular) Engine() *engine.Model { return t.model }

// Close releases the model.
func (t *Tabular) Close() error { return t.model.Close() }

// Features is the number of features per row (0 when the model leaves it
// open).
func (t *Tabular) Features() int { return t.features }

// Classifier reports whether the model predicts classes.
func (t *Tabular) Classifier() bool { return t.classifier }

// Classes returns the class names, in probability order, when known before
// a run (tensor probabilities: "0", "1"...). ZipMap models report theirs
// through Predict.
func (t *Tabular) Classes() []string { return append([]string(nil), t.classes...) }

// FeatureSpecs returns the features' names and ranges, from the manifest
// or the model's metadata (FeatureRangesKey); nil when neither has them.
func (t *Tabular) FeatureSpecs() []FeatureSpec { return append([]FeatureSpec(nil), t.specs...) }

// ErrFeatures is wrapped by errors about rows of the wrong width.
var ErrFeatures = errors.New("wrong number of features")

// inputTensor packs rows (of equal width) into the model's input tensor.
func (t *Tabular) inputTensor(rows [][]float64) (*ops.Tensor, error) {
	n := len(rows)
	if n == 0 {
		return nil, fmt.Errorf("%w: no rows", ErrFeatures)
	}
	w := len(rows[0])
	if t.features > 0 && w != t.features {
		return nil, fmt.Errorf("%w: the model takes %d features, got %d", ErrFeatures, t.features, w)
	}
	if w == 0 {
		return nil, fmt.Errorf("%w: rows are empty", ErrFeatures)
	}
	var x *ops.Tensor
	if t.inputType == ops.Double {
		flat := make([]float64, 0, n*w)
		for i, r := range rows {
			if len(r) != w {
				return nil, fmt.Errorf("%w: row %d has %d features, row 0 has %d", ErrFeatures, i, len(r), w)
			}
			flat = append(flat, r...)
		}
		x = ops.FromSlice(ops.Double, flat, n, w)
	} else {
		flat := make([]float32, 0, n*w)
		for i, r := range rows {
			if len(r) != w {
				return nil, fmt.Errorf("%w: row %d has %d features, row 0 has %d", ErrFeatures, i, len(r), w)
			}
			for _, v := range r {
				flat = append(flat, float32(v))
			}
		}
		x = ops.FromSlice(ops.Float, flat, n, w)
	}
	return x, nil
}

// Predict runs the model on rows (all of the same width) and returns one
// prediction per row and, for classifiers, the class names.
func (t *Tabular) Predict(ctx context.Context, rows [][]float64) ([]TabularPrediction, []string, error) {
	n := len(rows)
	if n == 0 {
		return nil, t.Classes(), nil
	}
	x, err := t.inputTensor(rows)
	if err != nil {
		return nil, nil, err
	}
	ins := make([]ops.Value, len(t.model.Inputs()))
	for i, in := range t.model.Inputs() {
		if in.Name == t.input {
			ins[i] = x
		}
	}
	outs := make([]ops.Value, len(t.model.Outputs()))
	if err := t.model.RunList(ctx, ins, outs); err != nil {
		return nil, nil, fmt.Errorf("running the model: %w", err)
	}
	preds := make([]TabularPrediction, n)
	first, ok := outs[t.valueOut].(*ops.Tensor)
	if !ok || first.Len() < n {
		return nil, nil, fmt.Errorf("model output 0 is %v, want a tensor with %d rows", outs[t.valueOut], n)
	}
	if !t.classifier {
		vals, err := toFloat64s(first)
		if err != nil {
			return nil, nil, err
		}
		per := len(vals) / n
		for i := range preds {
			preds[i].Value = vals[i*per]
		}
		return preds, nil, nil
	}
	for i := range preds {
		switch d := first.Data.(type) {
		case []int64:
			preds[i].Label, preds[i].Value = d[i], float64(d[i])
		case []int32:
			preds[i].Label, preds[i].Value = int64(d[i]), float64(d[i])
		case []string:
			preds[i].Label = d[i]
		}
	}
	if t.probOut < 0 {
		return preds, nil, nil
	}
	classes := t.Classes()
	switch p := outs[t.probOut].(type) {
	case *ops.Tensor:
		vals, err := toFloat64s(p)
		if err != nil {
			return nil, nil, fmt.Errorf("probabilities: %w", err)
		}
		k := len(vals) / n
		if len(classes) != k {
			classes = classes[:0]
			for j := 0; j < k; j++ {
				classes = append(classes, strconv.Itoa(j))
			}
		}
		for i := range preds {
			preds[i].Probabilities = vals[i*k : (i+1)*k : (i+1)*k]
		}
	case *ops.Sequence:
		if len(p.Values) != n {
			return nil, nil, fmt.Errorf("probabilities: %d maps for %d rows", len(p.Values), n)
		}
		classes = nil
		for i, v := range p.Values {
			mp, ok := v.(*ops.Map)
			if !ok {
				return nil, nil, fmt.Errorf("probabilities: element %d is a %T, not a map", i, v)
			}
			vals, err := toFloat64s(mp.Values)
			if err != nil {
				return nil, nil, fmt.Errorf("probabilities: %w", err)
			}
			preds[i].Probabilities = vals
			if i == 0 {
				for j := 0; j < mp.Len(); j++ {
					if mp.KeyType == ops.String {
						classes = append(classes, mp.StrKeys[j])
					} else {
						classes = append(classes, strconv.FormatInt(mp.Int64Keys[j], 10))
					}
				}
			}
		}
	default:
		return nil, nil, fmt.Errorf("probabilities output is a %T", p)
	}
	return preds, classes, nil
}
