package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/models"
	"github.com/agate-ml/agate/ops"
	"github.com/gin-gonic/gin"
)

// V2ServerMetadata is the Open Inference Protocol server metadata.
type V2ServerMetadata struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Extensions []string `json:"extensions"`
}

// V2ModelMetadata is the Open Inference Protocol model metadata.
type V2ModelMetadata struct {
	Name     string       `json:"name"`
	Versions []string     `json:"versions"`
	Platform string       `json:"platform"`
	Inputs   []TensorInfo `json:"inputs"`
	Outputs  []TensorInfo `json:"outputs"`
}

// V2Ready is a readiness answer.
type V2Ready struct {
	Name  string `json:"name,omitempty"`
	Live  *bool  `json:"live,omitempty"`
	Ready *bool  `json:"ready,omitempty"`
}

// V2InputTensor is one input of an inference request; Data is a flat or
// nested JSON array in row-major order.
type V2InputTensor struct {
	Name       string          `json:"name"`
	Shape      []int64         `json:"shape"`
	Datatype   string          `json:"datatype"`
	Parameters map[string]any  `json:"parameters,omitempty"`
	Data       json.RawMessage `json:"data"`
}

// V2RequestedOutput names an output to return.
type V2RequestedOutput struct {
	Name       string         `json:"name"`
	Parameters map[string]any `json:"parameters,omitempty"`
}

// V2InferRequest is an Open Inference Protocol inference request.
type V2InferRequest struct {
	ID         string              `json:"id,omitempty"`
	Parameters map[string]any      `json:"parameters,omitempty"`
	Inputs     []V2InputTensor     `json:"inputs"`
	Outputs    []V2RequestedOutput `json:"outputs,omitempty"`
}

// V2OutputTensor is one output of an inference response (flat data).
type V2OutputTensor struct {
	Name     string  `json:"name"`
	Shape    []int64 `json:"shape"`
	Datatype string  `json:"datatype"`
	Data     any     `json:"data"`
}

// V2InferResponse is an Open Inference Protocol inference response.
type V2InferResponse struct {
	ModelName    string           `json:"model_name"`
	ModelVersion string           `json:"model_version,omitempty"`
	ID           string           `json:"id,omitempty"`
	Outputs      []V2OutputTensor `json:"outputs"`
}

func (s *Server) v2Server(c *gin.Context) {
	c.JSON(http.StatusOK, V2ServerMetadata{Name: "agate", Version: s.cfg.Version, Extensions: []string{}})
}

func (s *Server) v2Live(c *gin.Context) {
	t := true
	c.JSON(http.StatusOK, V2Ready{Live: &t})
}

func (s *Server) v2Ready(c *gin.Context) {
	r := s.Ready()
	code := http.StatusOK
	if !r {
		code = http.StatusServiceUnavailable
	}
	c.JSON(code, V2Ready{Ready: &r})
}

// v2Lookup resolves :name and the optional :version (none: for an
// inference, the version the traffic split or the default picks; else the
// default). The caller releases the model.
func (s *Server) v2Lookup(c *gin.Context, infer bool) (*runtimeModel, *apiError) {
	return s.hold(c.Param("name"), c.Param("version"), infer)
}

func (s *Server) v2Model(c *gin.Context) {
	rt, aerr := s.v2Lookup(c, false)
	if aerr != nil {
		abort(c, aerr)
		return
	}
	defer s.release(rt)
	em := rt.m.Engine()
	md := V2ModelMetadata{Name: rt.m.Name, Versions: modelVersions(s.reg.Versions(rt.m.Name)), Platform: "onnx",
		Inputs: tensorInfos(em.Inputs()), Outputs: tensorInfos(em.Outputs())}
	if rt.m.Text != nil {
		// Text models also take raw strings (see v2Infer).
		md.Inputs = append(md.Inputs, TensorInfo{Name: "text", Datatype: "BYTES", Shape: []int64{-1}})
		md.Outputs = append(md.Outputs, TensorInfo{Name: "probabilities", Datatype: "FP32", Shape: []int64{-1, int64(len(rt.m.Text.Labels()))}})
	}
	c.JSON(http.StatusOK, md)
}

func (s *Server) v2ModelReady(c *gin.Context) {
	rt, aerr := s.v2Lookup(c, false)
	if aerr != nil {
		abort(c, aerr)
		return
	}
	defer s.release(rt)
	t := true
	c.JSON(http.StatusOK, V2Ready{Name: rt.m.Name, Ready: &t})
}

var v2DTypes = func() map[string]ops.DType {
	m := map[string]ops.DType{}
	for dt, name := range v2Types {
		m[name] = dt
	}
	return m
}()

// v2Tensor converts a request tensor to an engine tensor.
func v2Tensor(in V2InputTensor, field string) (*ops.Tensor, *apiError) {
	dt, ok := v2DTypes[in.Datatype]
	if !ok || dt == ops.Float16 || dt == ops.BFloat16 {
		return nil, errorf(http.StatusBadRequest, "%s.datatype: unsupported datatype %q", field, in.Datatype)
	}
	shape := make([]int, len(in.Shape))
	n := 1
	for i, d := range in.Shape {
		if d < 0 || d > math.MaxInt32 {
			return nil, errorf(http.StatusBadRequest, "%s.shape: dimension %d is %d", field, i, d)
		}
		shape[i] = int(d)
		n *= int(d)
		if n > 1<<26 {
			return nil, errorf(http.StatusBadRequest, "%s.shape: too many elements", field)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(in.Data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, errorf(http.StatusBadRequest, "%s.data: %v", field, err)
	}
	var flat []any
	var walk func(v any) bool
	walk = func(v any) bool {
		if arr, ok := v.([]any); ok {
			for _, e := range arr {
				if !walk(e) {
					return false
				}
			}
			return true
		}
		if len(flat) >= n {
			return false
		}
		flat = append(flat, v)
		return true
	}
	if !walk(raw) || len(flat) != n {
		return nil, errorf(http.StatusBadRequest, "%s.data: shape %v needs %d elements", field, in.Shape, n)
	}
	data := ops.MakeSlice(dt, n)
	for i, v := range flat {
		if err := setElem(data, i, v); err != nil {
			if errors.Is(err, errOutOfRange) {
				return nil, fieldError(fmt.Sprintf("%s.data[%d]", field, i), "%v", err)
			}
			return nil, errorf(http.StatusBadRequest, "%s.data[%d]: %v", field, i, err)
		}
	}
	return &ops.Tensor{DType: dt, Shape: shape, Data: data}, nil
}

func setElem(data any, i int, v any) error {
	if s, ok := data.([]string); ok {
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("BYTES elements must be strings")
		}
		s[i] = str
		return nil
	}
	if b, ok := data.([]bool); ok {
		bv, ok := v.(bool)
		if !ok {
			return fmt.Errorf("BOOL elements must be true or false")
		}
		b[i] = bv
		return nil
	}
	num, ok := v.(json.Number)
	if !ok {
		return fmt.Errorf("must be a number")
	}
	switch d := data.(type) {
	case []float32:
		f, err := num.Float64()
		if err == nil && math.Abs(f) > math.MaxFloat32 {
			return fmt.Errorf("%s is out of the FP32 range (±3.4028235e38): %w", num, errOutOfRange)
		}
		d[i] = float32(f)
		return err
	case []float64:
		f, err := num.Float64()
		d[i] = f
		return err
	}
	iv, err := strconv.ParseInt(num.String(), 10, 64)
	if err != nil {
		return fmt.Errorf("must be an integer")
	}
	var lo, hi int64
	switch d := data.(type) {
	case []int8:
		lo, hi = math.MinInt8, math.MaxInt8
		d[i] = int8(iv)
	case []int16:
		lo, hi = math.MinInt16, math.MaxInt16
		d[i] = int16(iv)
	case []int32:
		lo, hi = math.MinInt32, math.MaxInt32
		d[i] = int32(iv)
	case []int64:
		lo, hi = math.MinInt64, math.MaxInt64
		d[i] = iv
	case []uint8:
		lo, hi = 0, math.MaxUint8
		d[i] = uint8(iv)
	case []uint16:
		lo, hi = 0, math.MaxUint16
		d[i] = uint16(iv)
	case []uint32:
		lo, hi = 0, math.MaxUint32
		d[i] = uint32(iv)
	case []uint64:
		lo, hi = 0, math.MaxInt64
		d[i] = uint64(iv)
	default:
		return fmt.Errorf("unsupported element type")
	}
	if iv < lo || iv > hi {
		return fmt.Errorf("%d is out of range [%d, %d]: %w", iv, lo, hi, errOutOfRange)
	}
	return nil
}

// errOutOfRange marks a tensor element that does not fit its datatype.
var errOutOfRange = errors.New("value out of range")

// v2Output converts an engine output to a response tensor; a ZipMap
// sequence of maps becomes an FP32 [N, classes] tensor.
func v2Output(name string, v ops.Value) (V2OutputTensor, error) {
	switch t := v.(type) {
	case *ops.Tensor:
		shape := make([]int64, len(t.Shape))
		for i, d := range t.Shape {
			shape[i] = int64(d)
		}
		dt, ok := v2Types[t.DType]
		if !ok || t.DType == ops.Float16 || t.DType == ops.BFloat16 {
			return V2OutputTensor{}, fmt.Errorf("output %q has element type %s, which JSON cannot carry", name, t.DType)
		}
		data := t.Data
		if f, ok := data.([]float32); ok {
			data = jsonFloats32(f)
		} else if f, ok := data.([]float64); ok {
			data = jsonFloats64(f)
		}
		return V2OutputTensor{Name: name, Shape: shape, Datatype: dt, Data: data}, nil
	case *ops.Sequence:
		var flat []float32
		k := 0
		for i, e := range t.Values {
			mp, ok := e.(*ops.Map)
			if !ok || mp.Values == nil {
				return V2OutputTensor{}, fmt.Errorf("output %q: element %d is not a map of numbers", name, i)
			}
			vals, ok := mp.Values.Data.([]float32)
			if !ok {
				return V2OutputTensor{}, fmt.Errorf("output %q: element %d is not a map to float", name, i)
			}
			if i == 0 {
				k = len(vals)
			} else if len(vals) != k {
				return V2OutputTensor{}, fmt.Errorf("output %q: maps of different sizes", name)
			}
			flat = append(flat, vals...)
		}
		return V2OutputTensor{Name: name, Shape: []int64{int64(len(t.Values)), int64(k)}, Datatype: "FP32", Data: jsonFloats32(flat)}, nil
	}
	return V2OutputTensor{}, fmt.Errorf("output %q is a %T, which this protocol cannot carry", name, v)
}

// jsonFloats32 and jsonFloats64 marshal non-finite values as null instead of
// failing the whole response.
type jsonFloats32 []float32

// MarshalJSON writes the values as a JSON array.
func (f jsonFloats32) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+len(f)*10)
	b = append(b, '[')
	for i, v := range f {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, float64(v), 'g', -1, 32)
	}
	return append(b, ']'), nil
}

type jsonFloats64 []float64

// MarshalJSON writes the values as a JSON array.
func (f jsonFloats64) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+len(f)*12)
	b = append(b, '[')
	for i, v := range f {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return append(b, ']'), nil
}

func (s *Server) v2Infer(c *gin.Context) {
	var req V2InferRequest
	if aerr := decodeJSON(c, &req); aerr != nil {
		abort(c, aerr)
		return
	}
	rt, aerr := s.v2Lookup(c, true)
	if aerr != nil {
		abort(c, aerr)
		return
	}
	defer s.release(rt)
	if len(req.Inputs) == 0 {
		abort(c, fieldError("inputs", "must hold at least one input tensor"))
		return
	}
	ctx, cancel := s.requestContext(c)
	defer cancel()
	resp := V2InferResponse{ModelName: rt.m.Name, ModelVersion: rt.m.Version, ID: req.ID}
	inputs := map[string]ops.Value{}
	for i, in := range req.Inputs {
		t, aerr := v2Tensor(in, fmt.Sprintf("inputs[%d]", i))
		if aerr != nil {
			abort(c, aerr)
			return
		}
		inputs[in.Name] = t
	}
	var outs map[string]ops.Value
	order := []string{}
	if rt.m.Text != nil && len(req.Inputs) == 1 && req.Inputs[0].Datatype == "BYTES" {
		texts := inputs[req.Inputs[0].Name].(*ops.Tensor).Data.([]string)
		if aerr := s.checkTexts(texts, "inputs[0].data"); aerr != nil {
			abort(c, aerr)
			return
		}
		probs, err := s.classifyRaw(ctx, rt, texts)
		if err != nil {
			abort(c, s.submitError(err))
			return
		}
		outs = map[string]ops.Value{"probabilities": probs}
		order = append(order, "probabilities")
	} else {
		if aerr := s.rawBudget(rt, req.Inputs, inputs); aerr != nil {
			abort(c, aerr)
			return
		}
		if !s.acquireRaw() {
			s.metrics.rejected.WithLabelValues("queue_full").Inc()
			abort(c, &apiError{status: http.StatusTooManyRequests, msg: "too many inference requests in flight: retry later", retryAfter: 1})
			return
		}
		var err error
		outs, err = rt.m.Engine().RunValues(ctx, inputs)
		s.releaseRaw()
		if err != nil {
			if errors.Is(err, engine.ErrInput) || !isContextError(err) && isInputError(err) {
				abort(c, &apiError{status: http.StatusBadRequest, msg: err.Error(), cause: err})
				return
			}
			if errors.Is(err, ops.ErrIndexRange) {
				// an id the request sent is outside what the model embeds
				abort(c, &apiError{status: http.StatusUnprocessableEntity, msg: "an input holds a value outside the range the model accepts: " + err.Error(), cause: err})
				return
			}
			abort(c, inferenceError(err))
			return
		}
		for _, o := range rt.m.Engine().Outputs() {
			order = append(order, o.Name)
		}
	}
	if len(req.Outputs) > 0 {
		order = order[:0]
		for i, o := range req.Outputs {
			if _, ok := outs[o.Name]; !ok {
				abort(c, errorf(http.StatusBadRequest, "outputs[%d]: model %q has no output %q", i, rt.m.Name, o.Name))
				return
			}
			order = append(order, o.Name)
		}
	}
	for _, name := range order {
		ot, err := v2Output(name, outs[name])
		if err != nil {
			abort(c, &apiError{status: http.StatusInternalServerError, msg: err.Error(), cause: err})
			return
		}
		resp.Outputs = append(resp.Outputs, ot)
	}
	c.JSON(http.StatusOK, resp)
}

// rawBudget refuses a raw tensor request larger than one model run may
// be, before any work: more elements than Config.MaxTensorElements, more
// padded tokens than the text batch budget (--batch-max-tokens), longer
// sequences than the model's positions, more rows than --max-rows; and an
// empty tensor, which has nothing to infer.
func (s *Server) rawBudget(rt *runtimeModel, req []V2InputTensor, inputs map[string]ops.Value) *apiError {
	total := 0
	for i, in := range req {
		t, ok := inputs[in.Name].(*ops.Tensor)
		if !ok {
			continue
		}
		field := fmt.Sprintf("inputs[%d]", i)
		for _, d := range t.Shape {
			if d == 0 {
				return fieldError(field+".shape", "shape %v has a zero dimension: nothing to infer", t.Shape)
			}
		}
		n := t.Len()
		total += n
		switch {
		case rt.m.Text != nil && len(t.Shape) == 2 && t.DType != ops.Float && t.DType != ops.Double:
			if n > s.cfg.Batch.MaxTokens {
				return errorf(http.StatusRequestEntityTooLarge, "%s holds %d tokens (%d × %d); one request may hold at most %d (--batch-max-tokens)",
					field, n, t.Shape[0], t.Shape[1], s.cfg.Batch.MaxTokens)
			}
			if ml := rt.m.Text.MaxLength(); ml > 0 && t.Shape[1] > ml {
				return fieldError(field+".shape", "sequences of %d tokens are longer than the model's %d positions", t.Shape[1], ml)
			}
			if limit, ok := rt.m.Text.IDLimits()[in.Name]; ok {
				if j, v, bad := outOfRange(t, int64(limit)); bad {
					return fieldError(fmt.Sprintf("%s.data[%d]", field, j), "%s value %d is outside [0, %d)", in.Name, v, limit)
				}
			}
		case rt.m.Tabular != nil && len(t.Shape) >= 1 && t.Shape[0] > s.cfg.MaxRows:
			return errorf(http.StatusRequestEntityTooLarge, "%s holds %d rows; one request may hold at most %d (--max-rows)", field, t.Shape[0], s.cfg.MaxRows)
		}
	}
	if total > s.cfg.MaxTensorElements {
		return errorf(http.StatusRequestEntityTooLarge, "the inputs hold %d elements; one request may hold at most %d", total, s.cfg.MaxTensorElements)
	}
	return nil
}

// outOfRange finds the first integer element of t outside [0, limit).
func outOfRange(t *ops.Tensor, limit int64) (int, int64, bool) {
	switch d := t.Data.(type) {
	case []int64:
		for j, v := range d {
			if v < 0 || v >= limit {
				return j, v, true
			}
		}
	case []int32:
		for j, v := range d {
			if v < 0 || int64(v) >= limit {
				return j, int64(v), true
			}
		}
	}
	return 0, 0, false
}

func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// isInputError recognizes engine errors about the request's inputs (names,
// shapes, types) that do not wrap engine.ErrInput.
func isInputError(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "missing input") || strings.Contains(msg, "unknown input")
}

// classifyRaw classifies texts through the batcher and returns FP32
// probabilities [N, labels].
func (s *Server) classifyRaw(ctx context.Context, rt *runtimeModel, texts []string) (*ops.Tensor, error) {
	tc := rt.m.Text
	k := len(tc.Labels())
	out := make([]float32, 0, len(texts)*k)
	for i := 0; i < len(texts); i += s.maxItems {
		batch := texts[i:min(len(texts), i+s.maxItems)]
		encs := make([]models.TextInput, len(batch))
		width := 0
		for j, t := range batch {
			e, err := tc.Encode(ctx, t)
			if err != nil {
				return nil, err
			}
			encs[j], width = e, max(width, e.Len())
		}
		preds, err := rt.text.Submit(ctx, encs, width)
		if err != nil {
			return nil, err
		}
		for _, p := range preds {
			for _, v := range p.Scores {
				out = append(out, float32(v))
			}
		}
	}
	return ops.FromSlice(ops.Float, out, len(texts), k), nil
}
