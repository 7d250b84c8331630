package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/agate-ml/agate/models"
	"github.com/gin-gonic/gin"
)

// PredictRequest is the body of the predict routes: one row as data, or
// several as instances. For a text model, instances are strings.
type PredictRequest struct {
	Data      json.RawMessage `json:"data"`
	Instances json.RawMessage `json:"instances"`
	// Explain adds the TreeSHAP explanation of each row (tree models).
	Explain bool `json:"explain"`
}

// PredictResponse holds one prediction per row: the regression value, or
// the class label with class probabilities for classifiers. Prediction is
// set for the single-row (data) form.
type PredictResponse struct {
	Model         ModelRef    `json:"model"`
	ModelFormat   string      `json:"model_format"`
	FeaturesCount int         `json:"features_count"`
	Prediction    any         `json:"prediction,omitempty"`
	Predictions   []any       `json:"predictions"`
	Probabilities [][]float64 `json:"probabilities,omitempty"`
	Classes       []string    `json:"classes,omitempty"`
	// OutOfRange lists the feature values outside the model's range, when
	// its out-of-range policy is flag.
	OutOfRange []models.OutOfRangeValue `json:"out_of_range,omitempty"`
	// Explanation is set when the request asked for one.
	Explanation *Explanation `json:"explanation,omitempty"`
	LatencyMS   float64      `json:"latency_ms"`
}

// parseRow reads a JSON array of numbers.
func parseRow(raw json.RawMessage, field string) ([]float64, *apiError) {
	var vals []any
	if err := json.Unmarshal(raw, &vals); err != nil || vals == nil {
		return nil, fieldError(field, "must be an array of numbers")
	}
	row := make([]float64, len(vals))
	for i, v := range vals {
		f, ok := v.(float64)
		if !ok {
			return nil, fieldError(fmt.Sprintf("%s[%d]", field, i), "must be a number, got %s", jsonTypeName(v))
		}
		row[i] = f
	}
	return row, nil
}

func jsonTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "a number"
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

func (s *Server) predict(c *gin.Context) {
	start := time.Now()
	name := c.Param("name")
	if name == "" {
		name = s.cfg.PredictModel
	}
	var req PredictRequest
	if aerr := decodeJSON(c, &req); aerr != nil {
		abort(c, aerr)
		return
	}
	rt, aerr := s.acquire(name, c.Param("version"))
	if aerr != nil {
		abort(c, aerr)
		return
	}
	defer s.release(rt)
	if rt.m.Text != nil {
		if req.Explain || c.GetBool(explainKey) {
			_, aerr := explainRows(c.Request.Context(), rt.m, nil, false)
			abort(c, aerr)
			return
		}
		s.predictText(c, rt, req, start)
		return
	}
	var rows [][]float64
	single := false
	switch {
	case !isNull(req.Data) && !isNull(req.Instances):
		abort(c, fieldError("instances", "give either data or instances, not both"))
		return
	case !isNull(req.Data):
		row, aerr := parseRow(req.Data, "data")
		if aerr != nil {
			abort(c, aerr)
			return
		}
		rows, single = [][]float64{row}, true
	case !isNull(req.Instances):
		var raws []json.RawMessage
		if err := json.Unmarshal(req.Instances, &raws); err != nil {
			abort(c, fieldError("instances", "must be an array of rows (arrays of numbers)"))
			return
		}
		if len(raws) == 0 {
			abort(c, fieldError("instances", "must hold at least one row"))
			return
		}
		if len(raws) > s.cfg.MaxRows {
			abort(c, fieldError("instances", "at most %d rows per request, got %d", s.cfg.MaxRows, len(raws)))
			return
		}
		for i, raw := range raws {
			row, aerr := parseRow(raw, fmt.Sprintf("instances[%d]", i))
			if aerr != nil {
				abort(c, aerr)
				return
			}
			rows = append(rows, row)
		}
	default:
		abort(c, fieldError("data", "one of data or instances is required"))
		return
	}
	tab := rt.m.Tabular
	want := tab.Features()
	for i, row := range rows {
		field := "data"
		if !single {
			field = fmt.Sprintf("instances[%d]", i)
		}
		if want > 0 && len(row) != want {
			abort(c, fieldError(field, "model %q takes %d features, got %d", rt.m.Name, want, len(row)))
			return
		}
		if len(row) == 0 || len(row) != len(rows[0]) {
			abort(c, fieldError(field, "every row must have the same, non-zero number of features"))
			return
		}
	}
	policy := rt.m.Manifest.OutOfRange
	if policy == "" {
		policy = s.cfg.OutOfRange
	}
	var outOfRange []models.OutOfRangeValue
	if policy != models.OutOfRangeIgnore {
		if outOfRange = models.OutOfRange(tab.FeatureSpecs(), rows); len(outOfRange) > 0 && policy == models.OutOfRangeReject {
			o := outOfRange[0]
			field := fmt.Sprintf("data[%d]", o.Feature)
			if !single {
				field = fmt.Sprintf("instances[%d][%d]", o.Row, o.Feature)
			}
			spec := tab.FeatureSpecs()[o.Feature]
			name := spec.Name
			if name == "" {
				name = fmt.Sprintf("feature %d", o.Feature)
			}
			abort(c, fieldError(field, "%s = %g is outside the range model %q was trained on, %s (%d value(s) out of range; this model rejects them)",
				name, o.Value, rt.m.Name, spec.RangeString(), len(outOfRange)))
			return
		}
	}
	ctx, cancel := s.requestContext(c)
	defer cancel()
	out, err := rt.rows.Submit(ctx, rows, 0)
	if err != nil {
		abort(c, s.submitError(err))
		return
	}
	resp := PredictResponse{Model: ModelRef{Name: rt.m.Name, Version: rt.m.Version}, ModelFormat: "onnx",
		FeaturesCount: len(rows[0]), Predictions: make([]any, len(out)), OutOfRange: outOfRange}
	for i, r := range out {
		if tab.Classifier() {
			resp.Predictions[i] = r.pred.Label
			if r.pred.Probabilities != nil {
				resp.Probabilities = append(resp.Probabilities, r.pred.Probabilities)
				resp.Classes = r.classes
			}
		} else {
			resp.Predictions[i] = r.pred.Value
		}
	}
	if single {
		resp.Prediction = resp.Predictions[0]
	}
	if req.Explain || c.GetBool(explainKey) {
		ex, aerr := explainRows(ctx, rt.m, rows, single)
		if aerr != nil {
			abort(c, aerr)
			return
		}
		resp.Explanation = ex
	}
	resp.LatencyMS = ms(time.Since(start))
	c.JSON(http.StatusOK, resp)
}

// predictText serves {"instances": ["text", ...]} for a text model: the top
// label per text and the label probabilities.
func (s *Server) predictText(c *gin.Context, rt *runtimeModel, req PredictRequest, start time.Time) {
	var texts []string
	single := false
	switch {
	case !isNull(req.Instances):
		if err := json.Unmarshal(req.Instances, &texts); err != nil || len(texts) == 0 {
			abort(c, fieldError("instances", "must be a non-empty array of strings for text model %q", rt.m.Name))
			return
		}
		if aerr := s.checkTexts(texts, "texts"); aerr != nil {
			aerr.field = "instances"
			abort(c, aerr)
			return
		}
	case !isNull(req.Data):
		var t string
		if err := json.Unmarshal(req.Data, &t); err != nil {
			abort(c, fieldError("data", "must be a string for text model %q", rt.m.Name))
			return
		}
		texts, single = []string{t}, true
		if aerr := s.checkTexts(texts, "data"); aerr != nil {
			abort(c, aerr)
			return
		}
	default:
		abort(c, fieldError("instances", "one of data or instances is required"))
		return
	}
	ctx, cancel := s.requestContext(c)
	defer cancel()
	encs := make([]models.Prediction, 0, len(texts))
	tc := rt.m.Text
	for i := 0; i < len(texts); i += s.maxItems {
		batch := texts[i:min(len(texts), i+s.maxItems)]
		var width int
		es := make([]models.TextInput, len(batch))
		for k, t := range batch {
			e, err := tc.Encode(ctx, t)
			if err != nil {
				abort(c, inferenceError(err))
				return
			}
			es[k], width = e, max(width, e.Len())
		}
		out, err := rt.text.Submit(ctx, es, width)
		if err != nil {
			abort(c, s.submitError(err))
			return
		}
		encs = append(encs, out...)
	}
	labels := tc.Labels()
	resp := PredictResponse{Model: ModelRef{Name: rt.m.Name, Version: rt.m.Version}, ModelFormat: "onnx",
		Predictions: make([]any, len(encs)), Classes: labels}
	for i, p := range encs {
		best := 0
		probs := make([]float64, len(p.Scores))
		for j, v := range p.Scores {
			probs[j] = round(v, 6)
			if v > p.Scores[best] {
				best = j
			}
		}
		resp.Predictions[i] = labels[best]
		resp.Probabilities = append(resp.Probabilities, probs)
	}
	if single {
		resp.Prediction = resp.Predictions[0]
	}
	resp.LatencyMS = ms(time.Since(start))
	c.JSON(http.StatusOK, resp)
}

// PredictHealth is the body of GET /api/v1/predict/health: whether the
// tabular model behind /predict (and /api/v1/predict) is loaded.
type PredictHealth struct {
	Status        string   `json:"status"` // healthy or unavailable
	ModelLoaded   bool     `json:"model_loaded"`
	Model         ModelRef `json:"model"`
	ModelFormat   string   `json:"model_format,omitempty"`
	FeaturesCount int      `json:"features_count,omitempty"`
	Hint          string   `json:"hint,omitempty"`
}

// predictHealth answers GET /api/v1/predict/health, the seed's health
// route of its predict API: 200 when the model is loaded, 503 otherwise.
func (s *Server) predictHealth(c *gin.Context) {
	name := s.cfg.PredictModel
	m, ok := s.reg.Get(name)
	if !ok || m.Tabular == nil || !s.Ready() {
		h := PredictHealth{Status: "unavailable", Model: ModelRef{Name: name}}
		if hint, missing := s.reg.Missing(name); missing {
			h.Hint = hint
		}
		c.JSON(http.StatusServiceUnavailable, h)
		return
	}
	c.JSON(http.StatusOK, PredictHealth{Status: "healthy", ModelLoaded: true, Model: ModelRef{Name: m.Name, Version: m.Version},
		ModelFormat: "onnx", FeaturesCount: m.Tabular.Features()})
}
