// Package quantize rewrites float ONNX models into dynamically quantized
// int8 models, the way onnxruntime's quantize_dynamic does for
// transformers: the weights of every MatMul whose second input is a float32
// matrix initializer are stored as 8-bit integers with a scale (and zero
// point), and the activations are quantized to uint8 at run time.
//
// Two graph forms are written. The default is the standard-operator form
// onnxruntime produces:
//
//	DynamicQuantizeLinear(A) -> A_q, A_scale, A_zp
//	MatMulInteger(A_q, W_q, A_zp, W_zp) -> Cast(float) -> Mul(A_scale · W_scale)
//
// with one DynamicQuantizeLinear per distinct activation (shared by the
// Q, K and V projections). With Options.Contrib it writes the com.microsoft
// form optimized exports carry, DynamicQuantizeMatMul(A, W_q, W_scale,
// W_zp, bias), absorbing a following bias Add.
package quantize

import (
	"fmt"
	"math"
	"regexp"

	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/ops"
)

// Options configures Model.
type Options struct {
	// WeightType is ops.Int8 (symmetric, zero point 0: onnxruntime's default
	// QInt8 weights) or ops.Uint8 (asymmetric, with a zero point). The zero
	// value means Int8.
	WeightType ops.DType
	// PerChannel gives every output column of a weight its own scale (and
	// zero point) instead of one for the whole matrix.
	PerChannel bool
	// Contrib writes com.microsoft DynamicQuantizeMatMul nodes (with the
	// bias folded in) instead of the standard-operator chain.
	Contrib bool
	// Exclude skips MatMul nodes whose name matches (nil: none).
	Exclude *regexp.Regexp
	// Keep lists MatMul nodes (by name, or by output when unnamed) to
	// leave in float, as Tune chooses them.
	Keep map[string]bool
	// ReduceRange quantizes int8 weights to 7 bits, [-63, 63] (as
	// onnxruntime's reduce_range does, whose symmetric range is [-64, 64]). CPUs without VNNI multiply uint8 by int8 in pairs
	// summed to int16 (VPMADDUBSW), which only 7-bit weights never
	// saturate: agate then runs its fast kernel instead of its exact
	// widened one (about twice the speed), onnxruntime gives exact results
	// instead of saturated ones, and the weights lose one bit of
	// precision. Int8 weights only.
	ReduceRange bool
}

// Report summarizes a quantization.
type Report struct {
	// Quantized counts the MatMul nodes rewritten.
	Quantized int
	// Skipped counts MatMul nodes left in float, by reason.
	Skipped map[string]int
	// WeightBytes is the size of the float weights replaced and
	// QuantizedBytes that of their 8-bit replacements.
	WeightBytes, QuantizedBytes int
	// Layers lists the quantized MatMul nodes, in graph order.
	Layers []Layer
}

// Layer is one quantized MatMul: its name (its output's when the node has
// none), the activation it reads and the value it writes (which keeps its
// name in the quantized graph).
type Layer struct {
	Name, Input, Output string
}

// Model quantizes a serialized ONNX model and returns the new model.
func Model(b []byte, opt Options) ([]byte, *Report, error) {
	if opt.WeightType == 0 {
		opt.WeightType = ops.Int8
	}
	if opt.WeightType != ops.Int8 && opt.WeightType != ops.Uint8 {
		return nil, nil, fmt.Errorf("weight type must be int8 or uint8, got %s", opt.WeightType)
	}
	if opt.ReduceRange && opt.WeightType != ops.Int8 {
		return nil, nil, fmt.Errorf("reduce range needs int8 weights, got %s", opt.WeightType)
	}
	e, err := onnxbuild.LoadModel(b)
	if err != nil {
		return nil, nil, err
	}
	rep, err := rewrite(e, opt)
	if err != nil {
		return nil, nil, err
	}
	out, err := e.Marshal()
	if err != nil {
		return nil, nil, err
	}
	return out, rep, nil
}

// quantWeight is a weight initializer's quantized form, shared by every
// MatMul reading it.
type quantWeight struct {
	q, scale, zp string // initializer names
	n            int    // columns
}

// quantAct is a DynamicQuantizeLinear output triple, shared by every
// MatMul reading the same activation.
type quantAct struct{ q, scale, zp string }

func rewrite(e *onnxbuild.Editor, opt Options) (*Report, error) {
	rep := &Report{Skipped: map[string]int{}}
	if v := e.Opset(""); v < 11 && !opt.Contrib {
		return nil, fmt.Errorf("the model imports ai.onnx opset %d; DynamicQuantizeLinear needs 11 or later", v)
	}
	uses := e.Uses()
	consumers := map[string][]*onnxbuild.Node{}
	for _, n := range e.Nodes {
		for _, in := range n.Inputs {
			consumers[in] = append(consumers[in], n)
		}
	}
	outputs := map[string]bool{}
	for _, o := range e.GraphOutputs() {
		outputs[o] = true
	}
	weights := map[string]*quantWeight{}
	acts := map[string]*quantAct{}
	removed := map[*onnxbuild.Node]bool{}
	var nodes []*onnxbuild.Node
	for _, n := range e.Nodes {
		if removed[n] {
			continue
		}
		if n.OpType != "MatMul" || ops.CanonicalDomain(n.Domain) != ops.DomainONNX {
			nodes = append(nodes, n)
			continue
		}
		reason, w, err := quantizableWeight(e, n, opt, weights)
		if err != nil {
			return nil, err
		}
		if reason == "" && opt.Keep[layerName(n)] {
			reason = "kept in float"
		}
		if reason != "" {
			rep.Skipped[reason]++
			nodes = append(nodes, n)
			continue
		}
		if w == nil {
			if w, err = quantizeInitializer(e, n.Inputs[1], opt, rep); err != nil {
				return nil, err
			}
			weights[n.Inputs[1]] = w
		}
		rep.Quantized++
		rep.Layers = append(rep.Layers, Layer{Name: layerName(n), Input: n.Inputs[0], Output: n.Outputs[0]})
		a, y := n.Inputs[0], n.Outputs[0]
		base := n.Name
		if base == "" {
			base = y
		}
		if opt.Contrib {
			inputs := []string{a, w.q, w.scale, w.zp}
			if add, bias := biasAdd(e, y, w.n, uses, consumers, outputs); add != nil {
				inputs = append(inputs, bias)
				y = add.Outputs[0]
				removed[add] = true
			}
			nodes = append(nodes, onnxbuild.NewNode("com.microsoft", "DynamicQuantizeMatMul", e.UniqueName(base+"_quant"), inputs, []string{y}))
			continue
		}
		qa, ok := acts[a]
		if !ok {
			qa = &quantAct{q: e.UniqueName(a + "_quantized"), scale: e.UniqueName(a + "_scale"), zp: e.UniqueName(a + "_zero_point")}
			acts[a] = qa
			nodes = append(nodes, onnxbuild.NewNode("", "DynamicQuantizeLinear", e.UniqueName(a+"_QuantizeLinear"),
				[]string{a}, []string{qa.q, qa.scale, qa.zp}))
		}
		mmOut := e.UniqueName(y + "_output_quantized")
		castOut := e.UniqueName(y + "_output_quantized_cast_output")
		scales := e.UniqueName(base + "_quant_scales_mul:0")
		nodes = append(nodes,
			onnxbuild.NewNode("", "MatMulInteger", e.UniqueName(base+"_quant"), []string{qa.q, w.q, qa.zp, w.zp}, []string{mmOut}),
			onnxbuild.NewNode("", "Cast", e.UniqueName(base+"_quant_output_cast"), []string{mmOut}, []string{castOut},
				onnxbuild.Int("to", int64(ops.Float))),
			onnxbuild.NewNode("", "Mul", e.UniqueName(base+"_quant_scales_mul"), []string{qa.scale, w.scale}, []string{scales}),
			onnxbuild.NewNode("", "Mul", e.UniqueName(base+"_quant_output_scale_mul"), []string{castOut, scales}, []string{y}),
		)
	}
	e.Nodes = nodes
	if opt.Contrib && rep.Quantized > 0 && e.Opset("com.microsoft") == 0 {
		e.SetOpset("com.microsoft", 1)
	}
	e.PruneInitializers()
	return rep, nil
}

// layerName names a MatMul node in reports and in Options.Keep.
func layerName(n *onnxbuild.Node) string {
	if n.Name != "" {
		return n.Name
	}
	return n.Outputs[0]
}

// quantizableWeight reports why the MatMul n cannot be quantized ("" when
// it can), and the already quantized weight it reads, if any.
func quantizableWeight(e *onnxbuild.Editor, n *onnxbuild.Node, opt Options, done map[string]*quantWeight) (string, *quantWeight, error) {
	if opt.Exclude != nil && opt.Exclude.MatchString(n.Name) {
		return "excluded", nil, nil
	}
	if len(n.Inputs) != 2 || len(n.Outputs) != 1 {
		return "malformed", nil, nil
	}
	b := n.Inputs[1]
	if w, ok := done[b]; ok {
		return "", w, nil
	}
	if !e.HasInitializer(b) || e.IsGraphInput(b) {
		return "B is not a constant", nil, nil
	}
	t, err := e.Initializer(b)
	if err != nil {
		return "", nil, err
	}
	if t.DType != ops.Float {
		return "B is not float32", nil, nil
	}
	if len(t.Shape) != 2 || t.Shape[0] == 0 || t.Shape[1] == 0 {
		return "B is not a matrix", nil, nil
	}
	return "", nil, nil
}

// quantizeInitializer stores the 8-bit form of the float matrix initializer
// name, with its scale and zero point, as new initializers.
func quantizeInitializer(e *onnxbuild.Editor, name string, opt Options, rep *Report) (*quantWeight, error) {
	t, err := e.Initializer(name)
	if err != nil {
		return nil, err
	}
	k, n := t.Shape[0], t.Shape[1]
	levels := 127
	if opt.ReduceRange {
		levels = 63
	}
	qw, scale, zp := weights(t.Float32s(), k, n, opt.WeightType, opt.PerChannel, levels)
	w := &quantWeight{q: e.UniqueName(name + "_quantized"), scale: e.UniqueName(name + "_scale"),
		zp: e.UniqueName(name + "_zero_point"), n: n}
	var st, zt *ops.Tensor
	if opt.PerChannel {
		st = ops.FromSlice(ops.Float, scale, n)
		zt = ops.FromSlice(opt.WeightType, zp, n)
	} else {
		st = ops.FromSlice(ops.Float, scale)
		zt = ops.FromSlice(opt.WeightType, zp)
	}
	for _, kv := range []struct {
		name string
		t    *ops.Tensor
	}{{w.q, ops.FromSlice(opt.WeightType, qw, k, n)}, {w.scale, st}, {w.zp, zt}} {
		if err := e.SetInitializer(kv.name, kv.t); err != nil {
			return nil, err
		}
	}
	rep.WeightBytes += 4 * k * n
	rep.QuantizedBytes += k * n
	return w, nil
}

// biasAdd returns the Add that adds a constant [n] vector to y when y has no
// other use, with that vector's name.
func biasAdd(e *onnxbuild.Editor, y string, n int, uses map[string]int, consumers map[string][]*onnxbuild.Node, outputs map[string]bool) (*onnxbuild.Node, string) {
	if uses[y] != 1 || outputs[y] || len(consumers[y]) != 1 {
		return nil, ""
	}
	add := consumers[y][0]
	if add.OpType != "Add" || ops.CanonicalDomain(add.Domain) != ops.DomainONNX || len(add.Inputs) != 2 || len(add.Outputs) != 1 {
		return nil, ""
	}
	bias := add.Inputs[0]
	if bias == y {
		bias = add.Inputs[1]
	}
	if bias == y || !e.HasInitializer(bias) || e.IsGraphInput(bias) {
		return nil, ""
	}
	t, err := e.Initializer(bias)
	if err != nil || t.DType != ops.Float || len(t.Shape) != 1 || t.Shape[0] != n {
		return nil, ""
	}
	return add, bias
}

// Weights quantizes the row-major k×n float matrix w to 8 bits. Int8 is
// symmetric over [-127, 127] with zero point 0; Uint8 is asymmetric over
// [0, 255] with the range widened to include 0. Per channel, every column
// gets its own scale and zero point. It returns the quantized values
// ([]int8 or []uint8), the scales and the zero points (same type as the
// values, one per scale).
func Weights(w []float32, k, n int, dt ops.DType, perChannel bool) (q any, scale []float32, zp any) {
	return weights(w, k, n, dt, perChannel, 127)
}

// weights is Weights with int8 values over [-levels, levels].
func weights(w []float32, k, n int, dt ops.DType, perChannel bool, levels int) (q any, scale []float32, zp any) {
	groups := 1
	if perChannel {
		groups = n
	}
	lo := make([]float32, groups)
	hi := make([]float32, groups)
	for i, v := range w {
		g := 0
		if perChannel {
			g = i % n
		}
		lo[g], hi[g] = min(lo[g], v), max(hi[g], v)
	}
	scale = make([]float32, groups)
	zps := make([]float32, groups)
	for g := range groups {
		scale[g], zps[g] = params(lo[g], hi[g], dt, float32(levels))
	}
	col := func(j int) int {
		if perChannel {
			return j
		}
		return 0
	}
	switch dt {
	case ops.Uint8:
		qs := make([]uint8, k*n)
		for i, v := range w {
			g := col(i % n)
			qs[i] = uint8(clamp(roundEven(v/scale[g])+zps[g], 0, 255))
		}
		z := make([]uint8, groups)
		for g, v := range zps {
			z[g] = uint8(v)
		}
		return qs, scale, z
	default:
		qs := make([]int8, k*n)
		for i, v := range w {
			g := col(i % n)
			qs[i] = int8(clamp(roundEven(v/scale[g]), -float32(levels), float32(levels)))
		}
		return qs, scale, make([]int8, groups)
	}
}

// params returns the scale and zero point for values in [lo, hi] (lo <= 0
// <= hi), computed in float32; int8 values span [-levels, levels].
func params(lo, hi float32, dt ops.DType, levels float32) (scale, zp float32) {
	if dt == ops.Uint8 {
		scale = (hi - lo) / 255
		if scale == 0 {
			return 1, 0
		}
		return scale, clamp(roundEven(-lo/scale), 0, 255)
	}
	m := max(-lo, hi)
	scale = (m + m) / (2 * levels)
	if scale == 0 {
		return 1, 0
	}
	return scale, 0
}

func roundEven(v float32) float32 { return float32(math.RoundToEven(float64(v))) }

func clamp(v, lo, hi float32) float32 { return max(lo, min(hi, v)) }
