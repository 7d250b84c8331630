package quantize

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/ops"
)

// LayerError is how far a quantized layer's output is from the float
// model's on sample inputs. Errors accumulate through the graph, so Added,
// the output's error less its input's, is what the layer itself adds.
type LayerError struct {
	Layer
	// InputRel and OutputRel are the root-mean-square differences
	// relative to the root mean square of the float values.
	InputRel, OutputRel float64
	// Added is OutputRel − InputRel.
	Added float64
}

// Comparison is the outcome of Compare.
type Comparison struct {
	// Layers holds one entry per quantized layer, in graph order.
	Layers []LayerError
	// OutputMaxAbs is the largest absolute difference over the graph's
	// float outputs (the logits of a classifier).
	OutputMaxAbs float64
}

// Compare runs the float model and its quantization (made with the report
// rep) on inputs and measures every quantized layer's output against the
// float model's, and the graph outputs.
func Compare(ctx context.Context, float, quant []byte, rep *Report, inputs map[string]ops.Value) (*Comparison, error) {
	var watch []string
	seen := map[string]bool{}
	for _, l := range rep.Layers {
		for _, v := range []string{l.Input, l.Output} {
			if !seen[v] {
				seen[v] = true
				watch = append(watch, v)
			}
		}
	}
	run := func(b []byte, what string) (map[string]ops.Value, []string, error) {
		e, err := onnxbuild.LoadModel(b)
		if err != nil {
			return nil, nil, fmt.Errorf("%s model: %w", what, err)
		}
		outs := e.GraphOutputs()
		present := map[string]bool{}
		for _, o := range outs {
			present[o] = true
		}
		for _, v := range watch {
			if !present[v] {
				e.AddOutput(v)
			}
		}
		raw, err := e.Marshal()
		if err != nil {
			return nil, nil, fmt.Errorf("%s model: %w", what, err)
		}
		m, err := engine.LoadBytes(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("%s model: %w", what, err)
		}
		defer m.Close()
		vals, err := m.RunValues(ctx, inputs)
		if err != nil {
			return nil, nil, fmt.Errorf("running the %s model: %w", what, err)
		}
		return vals, outs, nil
	}
	fv, outs, err := run(float, "float")
	if err != nil {
		return nil, err
	}
	qv, _, err := run(quant, "quantized")
	if err != nil {
		return nil, err
	}
	c := &Comparison{}
	for _, l := range rep.Layers {
		in, err := relRMS(fv[l.Input], qv[l.Input])
		if err != nil {
			return nil, fmt.Errorf("layer %s input %q: %w", l.Name, l.Input, err)
		}
		out, err := relRMS(fv[l.Output], qv[l.Output])
		if err != nil {
			return nil, fmt.Errorf("layer %s output %q: %w", l.Name, l.Output, err)
		}
		c.Layers = append(c.Layers, LayerError{Layer: l, InputRel: in, OutputRel: out, Added: out - in})
	}
	for _, o := range outs {
		f, okF := fv[o].(*ops.Tensor)
		q, okQ := qv[o].(*ops.Tensor)
		if !okF || !okQ || f.DType != ops.Float || q.DType != ops.Float || f.Len() != q.Len() {
			continue
		}
		for i, v := range f.Float32s() {
			c.OutputMaxAbs = max(c.OutputMaxAbs, math.Abs(float64(v-q.Float32s()[i])))
		}
	}
	return c, nil
}

// relRMS is the root-mean-square difference of two float32 tensors
// relative to the first's root mean square.
func relRMS(a, b ops.Value) (float64, error) {
	x, ok1 := a.(*ops.Tensor)
	y, ok2 := b.(*ops.Tensor)
	if !ok1 || !ok2 || x.DType != ops.Float || y.DType != ops.Float || x.Len() != y.Len() {
		return 0, fmt.Errorf("not two float32 tensors of one size")
	}
	var d, n float64
	for i, v := range x.Float32s() {
		e := float64(v - y.Float32s()[i])
		d += e * e
		n += float64(v) * float64(v)
	}
	if n == 0 {
		return math.Sqrt(d), nil
	}
	return math.Sqrt(d / n), nil
}

// TuneResult is what Tune chose.
type TuneResult struct {
	Model      []byte
	Report     *Report
	Comparison *Comparison
	// Kept lists the layers left in float, in the order Tune chose them.
	Kept []string
}

// Tune quantizes float with opt, then, while the graph outputs on inputs
// are further than target (absolute) from the float model's, leaves in
// float the quantized layer that adds the most error and quantizes again.
// It stops at the target or when no layer is left to keep.
func Tune(ctx context.Context, float []byte, opt Options, inputs map[string]ops.Value, target float64) (*TuneResult, error) {
	keep := map[string]bool{}
	for k := range opt.Keep {
		keep[k] = true
	}
	res := &TuneResult{}
	for {
		opt.Keep = keep
		q, rep, err := Model(float, opt)
		if err != nil {
			return nil, err
		}
		c, err := Compare(ctx, float, q, rep, inputs)
		if err != nil {
			return nil, err
		}
		res.Model, res.Report, res.Comparison = q, rep, c
		if math.IsNaN(c.OutputMaxAbs) {
			return nil, fmt.Errorf("the outputs are NaN on the sample inputs: nothing to tune against")
		}
		if c.OutputMaxAbs <= target || len(c.Layers) == 0 {
			return res, nil
		}
		worst := append([]LayerError(nil), c.Layers...)
		sort.SliceStable(worst, func(i, j int) bool { return worst[i].Added > worst[j].Added })
		keep[worst[0].Name] = true
		res.Kept = append(res.Kept, worst[0].Name)
	}
}
