package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/models"
	"github.com/gin-gonic/gin"
)

// Explanation is the TreeSHAP explanation of a predict request's rows:
// for every row and target, expected_value + Σ contributions = raw, the
// model's value before its post-transform (a classifier's margin before
// LOGISTIC or SOFTMAX, as the shap library explains it).
type Explanation struct {
	// Method is "tree_shap_path_dependent": exact Shapley values with the
	// node covers as the conditional distribution.
	Method string `json:"method"`
	// Output is "raw" when the model has no post-transform (the
	// contributions add up to the prediction itself), else
	// "raw_before_<post_transform>".
	Output        string `json:"output"`
	PostTransform string `json:"post_transform"`
	// Covers says where the covers came from: "model" (the export's
	// hitrates) or "background" (rows in the model folder).
	Covers string `json:"covers"`
	// Targets names the explained outputs.
	Targets []string `json:"targets"`
	// FeatureNames names the features the contributions are in the order
	// of, when the model's manifest or metadata names them.
	FeatureNames []string `json:"feature_names,omitempty"`
	// ExpectedValue is the first (usually only) target's expected value;
	// ExpectedValues has every target's.
	ExpectedValue  float64            `json:"expected_value"`
	ExpectedValues map[string]float64 `json:"expected_values"`
	// Contributions is the single row's contributions of the first target,
	// for the data (one-row) form.
	Contributions []float64 `json:"contributions,omitempty"`
	// Rows has one explanation per row.
	Rows []RowExplanation `json:"rows"`
}

// RowExplanation explains one row.
type RowExplanation struct {
	// Raw is the first target's raw value; RawByTarget has every one's
	// when there are several.
	Raw         float64            `json:"raw"`
	RawByTarget map[string]float64 `json:"raw_by_target,omitempty"`
	// Contributions holds one value per input feature (first target);
	// ContributionsByTarget has every target's when there are several.
	Contributions         []float64            `json:"contributions"`
	ContributionsByTarget map[string][]float64 `json:"contributions_by_target,omitempty"`
}

// explainPredict answers POST /v1/models/{name}/explain: a prediction with
// its explanation.
func (s *Server) explainPredict(c *gin.Context) {
	c.Set(explainKey, true)
	s.predict(c)
}

const explainKey = "agate.explain"

// explainRows explains rows with m's tree explainer.
func explainRows(ctx context.Context, m *models.Model, rows [][]float64, single bool) (*Explanation, *apiError) {
	if m.Tabular == nil {
		return nil, errorf(http.StatusUnprocessableEntity, "model %q is a text model: explanations here are for tree ensembles; POST /analyze with \"explain\": true explains the toxicity model", m.Name)
	}
	ex, err := m.Tabular.Explain(ctx, rows)
	if err != nil {
		if errors.Is(err, models.ErrNotExplainable) || errors.Is(err, engine.ErrInput) || errors.Is(err, models.ErrFeatures) {
			return nil, errorf(http.StatusUnprocessableEntity, "model %q: %v", m.Name, err)
		}
		return nil, inferenceError(err)
	}
	out := toExplanation(ex, single)
	for _, f := range m.Tabular.FeatureSpecs() {
		out.FeatureNames = append(out.FeatureNames, f.Name)
	}
	return out, nil
}

func toExplanation(ex *engine.Explanation, single bool) *Explanation {
	out := &Explanation{Method: "tree_shap_path_dependent", Output: "raw", PostTransform: ex.PostTransform, Covers: ex.Covers,
		Targets: ex.Targets, ExpectedValues: map[string]float64{}}
	if ex.PostTransform != "NONE" {
		out.Output = "raw_before_" + ex.PostTransform
	}
	for j, t := range ex.Targets {
		out.ExpectedValues[t] = ex.Expected[j]
	}
	if len(ex.Expected) > 0 {
		out.ExpectedValue = ex.Expected[0]
	}
	contrib := ex.Contributions.Data().([]float64)
	raw := ex.Raw.Data().([]float64)
	k, nf := len(ex.Targets), ex.Features
	rows := 0
	if k > 0 {
		rows = len(raw) / k
	}
	out.Rows = make([]RowExplanation, rows)
	for r := range out.Rows {
		re := &out.Rows[r]
		for j, t := range ex.Targets {
			c := contrib[(r*k+j)*nf : (r*k+j+1)*nf : (r*k+j+1)*nf]
			if j == 0 {
				re.Raw, re.Contributions = raw[r*k], c
			}
			if k > 1 {
				if re.RawByTarget == nil {
					re.RawByTarget, re.ContributionsByTarget = map[string]float64{}, map[string][]float64{}
				}
				re.RawByTarget[t], re.ContributionsByTarget[t] = raw[r*k+j], c
			}
		}
	}
	if single && rows == 1 {
		out.Contributions = out.Rows[0].Contributions
	}
	return out
}

// FeatureImportance is a tree model's global feature importance, in
// /v1/models: split counts and the expected decisions per prediction on
// each feature over the covers (ONNX exports keep no split gains).
type FeatureImportance struct {
	SplitCount    []int     `json:"split_count"`
	CoverWeighted []float64 `json:"cover_weighted"`
	Covers        string    `json:"covers"`
}

// featureImportance returns m's importance, or nil when it cannot be
// explained.
func featureImportance(ctx context.Context, m *models.Model) *FeatureImportance {
	if m.Tabular == nil {
		return nil
	}
	e, err := m.Tabular.Explainer(ctx)
	if err != nil {
		return nil
	}
	fi := e.Importance()
	return &FeatureImportance{SplitCount: fi.SplitCount, CoverWeighted: fi.CoverWeighted, Covers: e.Covers()}
}
