package server

import (
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"
)

// moderationCategories maps the product's categories to OpenAI moderation
// categories; a moderation category fed by several takes the largest.
var moderationCategories = map[string][]string{
	"toxicity":        {"harassment"},
	"severe_toxicity": {"harassment"},
	"insult":          {"harassment"},
	"hate":            {"hate"},
	"threat":          {"harassment/threatening", "violence"},
	"obscene":         {"sexual"},
}

// ModerationRequest is an OpenAI moderation request: input is a string or
// an array of strings; model is accepted and ignored (the analysis model
// answers).
type ModerationRequest struct {
	Input json.RawMessage `json:"input"`
	Model string          `json:"model"`
}

// ModerationResult is one input's moderation.
type ModerationResult struct {
	Flagged        bool               `json:"flagged"`
	Categories     map[string]bool    `json:"categories"`
	CategoryScores map[string]float64 `json:"category_scores"`
}

// ModerationResponse is an OpenAI moderation response.
type ModerationResponse struct {
	ID      string             `json:"id"`
	Model   string             `json:"model"`
	Results []ModerationResult `json:"results"`
}

// moderations answers POST /v1/moderations, OpenAI's moderation API: a
// category is flagged at the model's medium threshold.
func (s *Server) moderations(c *gin.Context) {
	var req ModerationRequest
	if aerr := decodeJSON(c, &req); aerr != nil {
		abort(c, aerr)
		return
	}
	var texts []string
	var one string
	switch {
	case len(req.Input) == 0 || string(req.Input) == "null":
		abort(c, fieldError("input", "is required: a string or an array of strings"))
		return
	case json.Unmarshal(req.Input, &one) == nil:
		texts = []string{one}
	case json.Unmarshal(req.Input, &texts) == nil:
		if len(texts) == 0 {
			abort(c, fieldError("input", "must hold at least one text"))
			return
		}
	default:
		abort(c, fieldError("input", "must be a string or an array of strings"))
		return
	}
	if aerr := s.checkTexts(texts, "input"); aerr != nil {
		abort(c, aerr)
		return
	}
	rt, aerr := s.textModel()
	if aerr != nil {
		abort(c, aerr)
		return
	}
	defer s.release(rt)
	ctx, cancel := s.requestContext(c)
	defer cancel()
	scores, err := s.scoreTexts(ctx, rt, texts, false)
	if err != nil {
		abort(c, s.submitError(err))
		return
	}
	threshold := rt.m.Manifest.EffectiveThresholds().Medium / 100
	resp := ModerationResponse{ID: "modr-" + requestID(c), Model: rt.m.Name, Results: make([]ModerationResult, len(scores))}
	for i, sc := range scores {
		r := ModerationResult{Categories: map[string]bool{}, CategoryScores: map[string]float64{}}
		for cat, p := range sc.cats {
			for _, mc := range moderationCategories[cat] {
				if old, ok := r.CategoryScores[mc]; !ok || p > old {
					r.CategoryScores[mc] = round(p, 6)
				}
			}
		}
		for mc, p := range r.CategoryScores {
			r.Categories[mc] = p >= threshold
			r.Flagged = r.Flagged || p >= threshold
		}
		resp.Results[i] = r
	}
	c.JSON(http.StatusOK, resp)
}
