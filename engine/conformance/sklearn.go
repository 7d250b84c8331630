package conformance

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/agate-ml/agate/ops"
)

// sklearnReference is the sklearn.json written next to scikit-learn exports:
// scikit-learn's own float64 predictions for test_data_set_0.
type sklearnReference struct {
	Label   []json.RawMessage `json:"sklearn_label"`
	Proba   [][]float64       `json:"sklearn_proba"`
	Predict []float64         `json:"sklearn_predict"`
}

// sklearnTolerance: ONNX stores thresholds as float32, so probabilities
// agree with scikit-learn's float64 to about 1e-6 and regressions to 3e-4.
var sklearnTolerance = struct{ proba, predict float64 }{1e-5, 5e-4}

func loadSklearn(dir string) (*sklearnReference, error) {
	b, err := os.ReadFile(filepath.Join(dir, "sklearn.json"))
	if err != nil {
		return nil, err
	}
	var ref sklearnReference
	if err := json.Unmarshal(b, &ref); err != nil {
		return nil, fmt.Errorf("sklearn.json: %w", err)
	}
	return &ref, nil
}

// compareSklearn checks a classifier's (label, probabilities) or a
// regressor's prediction against scikit-learn's. Probabilities may be a
// tensor [N, classes] or a ZipMap sequence of maps.
func compareSklearn(ref *sklearnReference, got []ops.Value, errs []OutputError) error {
	if len(ref.Predict) > 0 {
		t, ok := got[0].(*ops.Tensor)
		if !ok {
			return fmt.Errorf("output 0 is %T, want a tensor", got[0])
		}
		vals, err := t.AsFloat64s()
		if err != nil || len(vals) != len(ref.Predict) {
			return fmt.Errorf("output 0 has %d values, scikit-learn %d", len(vals), len(ref.Predict))
		}
		for i, want := range ref.Predict {
			d := math.Abs(vals[i] - want)
			errs[0].MaxAbs = math.Max(errs[0].MaxAbs, d)
			if d > sklearnTolerance.predict {
				return fmt.Errorf("row %d: %v, scikit-learn %v", i, vals[i], want)
			}
		}
		return nil
	}
	if len(ref.Label) == 0 || len(got) < 2 {
		return errors.New("sklearn.json has neither sklearn_predict nor sklearn_label, or the model lacks outputs")
	}
	labels, ok := got[0].(*ops.Tensor)
	if !ok || labels.Len() != len(ref.Label) {
		return fmt.Errorf("label output does not hold %d labels", len(ref.Label))
	}
	for i, raw := range ref.Label {
		var want any
		if err := json.Unmarshal(raw, &want); err != nil {
			return err
		}
		var gotLabel any
		switch d := labels.Data.(type) {
		case []int64:
			gotLabel = float64(d[i])
		case []string:
			gotLabel = d[i]
		default:
			return fmt.Errorf("labels of type %s", labels.DType)
		}
		if gotLabel != want {
			return fmt.Errorf("row %d: label %v, scikit-learn %v", i, gotLabel, want)
		}
	}
	rows, err := probabilityRows(got[1], len(ref.Proba))
	if err != nil {
		return err
	}
	for i, want := range ref.Proba {
		if len(rows[i]) != len(want) {
			return fmt.Errorf("row %d: %d probabilities, scikit-learn %d", i, len(rows[i]), len(want))
		}
		for j := range want {
			d := math.Abs(rows[i][j] - want[j])
			errs[1].MaxAbs = math.Max(errs[1].MaxAbs, d)
			if d > sklearnTolerance.proba {
				return fmt.Errorf("row %d class %d: probability %v, scikit-learn %v", i, j, rows[i][j], want[j])
			}
		}
	}
	return nil
}

func probabilityRows(v ops.Value, n int) ([][]float64, error) {
	switch p := v.(type) {
	case *ops.Tensor:
		vals, err := p.AsFloat64s()
		if err != nil || len(p.Shape) != 2 || p.Shape[0] != n {
			return nil, fmt.Errorf("probabilities %v, want [%d, classes]", p, n)
		}
		rows := make([][]float64, n)
		for i := range rows {
			rows[i] = vals[i*p.Shape[1] : (i+1)*p.Shape[1]]
		}
		return rows, nil
	case *ops.Sequence:
		if len(p.Values) != n {
			return nil, fmt.Errorf("ZipMap output has %d rows, want %d", len(p.Values), n)
		}
		rows := make([][]float64, n)
		for i, e := range p.Values {
			m, ok := e.(*ops.Map)
			if !ok {
				return nil, fmt.Errorf("ZipMap row %d is %T", i, e)
			}
			vals, err := m.Values.AsFloat64s()
			if err != nil {
				return nil, err
			}
			rows[i] = vals
		}
		return rows, nil
	}
	return nil, fmt.Errorf("probabilities output is %T", v)
}
