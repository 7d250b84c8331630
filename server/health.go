package server

import (
	"net/http"
	"time"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/models"
	"github.com/agate-ml/agate/ops"
	"github.com/gin-gonic/gin"
)

// HealthResponse is the body of GET /health.
type HealthResponse struct {
	Status  string        `json:"status"`
	Ready   bool          `json:"ready"`
	Version string        `json:"version"`
	Uptime  float64       `json:"uptime_s"`
	Models  []ModelStatus `json:"models"`
}

// ModelStatus is one model's state in /health.
type ModelStatus struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Hint   string `json:"hint,omitempty"`
}

func (s *Server) health(c *gin.Context) {
	h := HealthResponse{Status: "ok", Ready: s.Ready(), Version: s.cfg.Version,
		Uptime: time.Since(s.started).Round(time.Millisecond).Seconds(), Models: []ModelStatus{}}
	for _, m := range s.reg.List() {
		h.Models = append(h.Models, ModelStatus{Name: m.Name, Status: "ready"})
	}
	for _, name := range s.reg.MissingNames() {
		hint, _ := s.reg.Missing(name)
		h.Models = append(h.Models, ModelStatus{Name: name, Status: "missing", Hint: hint})
	}
	code := http.StatusOK
	if !h.Ready {
		h.Status, code = "loading", http.StatusServiceUnavailable
	}
	c.JSON(code, h)
}

// ProbeResponse is the body of the liveness and readiness probes.
type ProbeResponse struct {
	Status string `json:"status"`
}

func (s *Server) healthz(c *gin.Context) { c.JSON(http.StatusOK, ProbeResponse{Status: "ok"}) }

func (s *Server) readyz(c *gin.Context) {
	if !s.Ready() {
		c.JSON(http.StatusServiceUnavailable, ProbeResponse{Status: "loading"})
		return
	}
	c.JSON(http.StatusOK, ProbeResponse{Status: "ready"})
}

// TensorInfo describes a model input or output in Open Inference Protocol
// terms: a datatype name and a shape with -1 for a variable dimension.
type TensorInfo struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// ModelInfo describes one model in /v1/models.
type ModelInfo struct {
	Name          string            `json:"name"`
	Version       string            `json:"version,omitempty"`
	Status        string            `json:"status"`
	Task          string            `json:"task,omitempty"`
	Description   string            `json:"description,omitempty"`
	ModelFormat   string            `json:"model_format,omitempty"`
	FeaturesCount int               `json:"features_count,omitempty"`
	Labels        []string          `json:"labels,omitempty"`
	Categories    map[string]string `json:"categories,omitempty"`
	Languages     []string          `json:"languages,omitempty"`
	Inputs        []TensorInfo      `json:"inputs,omitempty"`
	Outputs       []TensorInfo      `json:"outputs,omitempty"`
	// Precision is the arithmetic of the model's matrix products: fp32,
	// or bf16 when served with --precision bf16 on a CPU that has it.
	Precision string `json:"precision,omitempty"`
	// Features names a tabular model's features with the ranges it was
	// trained on, when known; OutOfRange is its policy for values outside.
	Features   []models.FeatureSpec `json:"features,omitempty"`
	OutOfRange string               `json:"out_of_range,omitempty"`
	// Versions lists the loaded versions, ascending; Version is the
	// default one (or, under /versions/{version}, that one).
	Versions []string `json:"versions,omitempty"`
	// Traffic is the split of the requests naming no version, by version.
	Traffic map[string]int `json:"traffic,omitempty"`
	// Source is the MLflow reference the model was resolved from.
	Source string `json:"source,omitempty"`
	// FeatureImportance is set for tree models that can be explained
	// (GET /v1/models/{name} only).
	FeatureImportance *FeatureImportance `json:"feature_importance,omitempty"`
	Hint              string             `json:"hint,omitempty"`
}

// ModelList is the body of GET /v1/models.
type ModelList struct {
	Models []ModelInfo `json:"models"`
}

func (s *Server) listModels(c *gin.Context) {
	out := ModelList{Models: []ModelInfo{}}
	for _, m := range s.reg.List() {
		out.Models = append(out.Models, s.modelInfo(m))
	}
	for _, name := range s.reg.MissingNames() {
		hint, _ := s.reg.Missing(name)
		out.Models = append(out.Models, ModelInfo{Name: name, Status: "missing", Hint: hint})
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) getModel(c *gin.Context) {
	name := c.Param("name")
	if hint, missing := s.reg.Missing(name); missing && c.Param("version") == "" {
		c.JSON(http.StatusOK, ModelInfo{Name: name, Status: "missing", Hint: hint})
		return
	}
	rt, aerr := s.peek(name, c.Param("version"))
	if aerr != nil {
		abort(c, aerr)
		return
	}
	defer s.release(rt)
	m := rt.m
	info := s.modelInfo(m)
	info.FeatureImportance = featureImportance(c.Request.Context(), m)
	if m.Tabular != nil && len(info.Features) > 0 {
		info.OutOfRange = m.Manifest.OutOfRange
		if info.OutOfRange == "" {
			info.OutOfRange = s.cfg.OutOfRange
		}
	}
	c.JSON(http.StatusOK, info)
}

func (s *Server) modelInfo(m *models.Model) ModelInfo {
	info := ModelInfo{Name: m.Name, Version: m.Version, Status: "ready", Task: m.Task, ModelFormat: "onnx",
		Description: m.Manifest.Description, Versions: modelVersions(s.reg.Versions(m.Name)), Traffic: s.reg.Traffic(m.Name), Source: m.Ref}
	em := m.Engine()
	info.Inputs, info.Outputs = tensorInfos(em.Inputs()), tensorInfos(em.Outputs())
	info.Precision = em.Precision().String()
	if m.Tabular != nil {
		info.FeaturesCount = m.Tabular.Features()
		info.Features = m.Tabular.FeatureSpecs()
	}
	if m.Text != nil {
		info.Labels = m.Text.Labels()
		info.Languages = m.Manifest.Languages
		info.Categories = map[string]string{}
		for _, l := range info.Labels {
			if cat := m.Manifest.Category(l); cat != "" {
				info.Categories[l] = cat
			}
		}
	}
	return info
}

func tensorInfos(ios []engine.IOInfo) []TensorInfo {
	out := make([]TensorInfo, 0, len(ios))
	for _, io := range ios {
		ti := TensorInfo{Name: io.Name, Datatype: "FP32", Shape: []int64{-1}}
		if t := io.Type; t != nil {
			switch t.Kind {
			case ops.KindTensor:
				ti.Datatype = v2Datatype(t.DType)
				if t.HasShape {
					ti.Shape = make([]int64, len(t.Shape))
					for i, d := range t.Shape {
						ti.Shape[i] = -1
						if d.Param == "" && d.Value >= 0 {
							ti.Shape[i] = d.Value
						}
					}
				}
			case ops.KindSequence:
				// A ZipMap output: served as a [N, classes] FP32 tensor.
				ti.Shape = []int64{-1, -1}
			}
		}
		out = append(out, ti)
	}
	return out
}

var v2Types = map[ops.DType]string{
	ops.Bool: "BOOL", ops.Uint8: "UINT8", ops.Uint16: "UINT16", ops.Uint32: "UINT32", ops.Uint64: "UINT64",
	ops.Int8: "INT8", ops.Int16: "INT16", ops.Int32: "INT32", ops.Int64: "INT64",
	ops.Float16: "FP16", ops.Float: "FP32", ops.Double: "FP64", ops.String: "BYTES", ops.BFloat16: "BF16",
}

func v2Datatype(dt ops.DType) string {
	if s, ok := v2Types[dt]; ok {
		return s
	}
	return dt.String()
}

// modelVersions lists the versions of vs.
func modelVersions(vs []*models.Model) []string {
	out := make([]string, len(vs))
	for i, m := range vs {
		out[i] = m.Version
	}
	return out
}
