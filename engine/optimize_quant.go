package engine

import (
	"github.com/agate-ml/agate/ops"
)

// The quantized-MatMul rewrites. Dynamically quantized exports (onnxruntime's
// quantize_dynamic, optimum) spell every linear layer as
//
//	DynamicQuantizeLinear(A) -> A_q, A_scale, A_zp
//	MatMulInteger(A_q, W_q, A_zp, W_zp) -> Cast(to float)
//	Mul(cast, Mul(A_scale, W_scale)) [-> Add(bias)]
//
// which materialises an int32 and a float copy of the product and scales
// it in two more passes. optimizeQuant collapses each chain into one
// com.microsoft kernel producing the scaled (and biased) float output
// directly:
//
//   - DynamicQuantizeMatMul(A, W_q, W_scale, W_zp, bias) when the
//     DynamicQuantizeLinear feeds only this chain, so A is quantized inside
//     the product;
//   - MatMulIntegerToFloat(A_q, W_q, A_scale, W_scale, A_zp, W_zp, bias)
//     when the quantized activation is shared (the Q, K and V projections of
//     one input), so it is still quantized once.
//
// A bias Add after a DynamicQuantizeMatMul or MatMulIntegerToFloat that has
// none is folded into it as well.

// optimizeQuant applies the quantized-MatMul rewrites to g's top level and
// reports how many were made.
func optimizeQuant(g *graph) int {
	o := &optimizer{g: g}
	total := 0
	for _, pass := range []func(*gnode){o.quantMatMul, o.quantBias} {
		o.index()
		for _, n := range g.nodes {
			if !o.dead[n] {
				pass(n)
			}
		}
		total += o.fused
		o.apply()
	}
	return total
}

// quantMatMul matches the chain ending in the output Mul and replaces it.
func (o *optimizer) quantMatMul(mul *gnode) {
	if mul.opType != "Mul" || mul.domain != ops.DomainONNX || len(mul.inputs) != 2 || len(mul.outputs) != 1 {
		return
	}
	for _, castOut := range mul.inputs {
		scalesOut, _ := otherInput(mul, castOut)
		cast := o.single(castOut, "Cast")
		if cast == nil || attrInt(cast, "to", 0) != int64(ops.Float) {
			continue
		}
		mmi := o.single(cast.inputs[0], "MatMulInteger")
		scales := o.single(scalesOut, "Mul")
		if mmi == nil || scales == nil || len(mmi.inputs) < 2 || mmi.inputs[0] == "" {
			continue
		}
		w := o.constTensor(mmi.inputs[1])
		if w == nil || len(w.Shape) != 2 || (w.DType != ops.Int8 && w.DType != ops.Uint8) {
			continue
		}
		n := w.Shape[1]
		aZP, wZP := optInput(mmi, 2), optInput(mmi, 3)
		if wZP != "" && !o.isQuantParam(wZP, w.DType, n) {
			continue
		}
		// scales = A_scale · W_scale with A_scale the scalar the
		// quantized A came with and W_scale a constant scalar or [N].
		var aScale, wScale string
		for _, s := range scales.inputs {
			other, _ := otherInput(scales, s)
			if o.isScaleParam(other, n) && !o.isScaleParam(s, n) {
				aScale, wScale = s, other
				break
			}
		}
		if aScale == "" {
			continue
		}
		dql := o.prod[mmi.inputs[0]]
		if dql == nil || o.dead[dql] || dql.opType != "DynamicQuantizeLinear" || dql.domain != ops.DomainONNX ||
			len(dql.outputs) != 3 || dql.outputs[0] != mmi.inputs[0] || dql.outputs[1] != aScale ||
			aZP != dql.outputs[2] {
			continue // A_q, A_scale and A_zp must come from one quantization
		}
		matched := []*gnode{cast, mmi, scales}
		var f *gnode
		if o.uses[dql.outputs[0]] == 1 && o.uses[dql.outputs[1]] == 1 && o.uses[dql.outputs[2]] == 1 &&
			!o.isOutput(dql.outputs...) {
			f = newFusedNode(mul, ops.DomainMicrosoft, "DynamicQuantizeMatMul", 1,
				[]string{dql.inputs[0], mmi.inputs[1], wScale, wZP})
			matched = append(matched, dql)
		} else {
			f = newFusedNode(mul, ops.DomainMicrosoft, "MatMulIntegerToFloat", 1,
				[]string{mmi.inputs[0], mmi.inputs[1], aScale, wScale, aZP, wZP})
		}
		f.inputs = trimOptional(f.inputs)
		o.replace(mul, f, matched...)
		return
	}
}

// quantBias folds Add(y, bias) into the DynamicQuantizeMatMul or
// MatMulIntegerToFloat producing y when it has no bias yet.
func (o *optimizer) quantBias(add *gnode) {
	if add.opType != "Add" || add.domain != ops.DomainONNX || len(add.inputs) != 2 || len(add.outputs) != 1 {
		return
	}
	for _, y := range add.inputs {
		bias, _ := otherInput(add, y)
		q, ok := o.prod[y]
		if !ok || o.dead[q] || q.domain != ops.DomainMicrosoft || len(q.outputs) != 1 || o.uses[y] != 1 || o.isOutput(y) {
			continue
		}
		biasIdx := 0
		switch q.opType {
		case "DynamicQuantizeMatMul":
			biasIdx = 4
		case "MatMulIntegerToFloat":
			biasIdx = 6
		default:
			continue
		}
		if optInput(q, biasIdx) != "" {
			continue
		}
		w := o.constTensor(q.inputs[1])
		b := o.constTensor(bias)
		if w == nil || len(w.Shape) != 2 || b == nil || b.DType != ops.Float || len(b.Shape) != 1 || b.Shape[0] != w.Shape[1] {
			continue
		}
		inputs := append([]string(nil), q.inputs...)
		for len(inputs) <= biasIdx {
			inputs = append(inputs, "")
		}
		inputs[biasIdx] = bias
		f := newFusedNode(add, q.domain, q.opType, q.version, inputs, q.attrs...)
		o.replace(add, f, q)
		return
	}
}

// optInput returns input i of n, "" when absent.
func optInput(n *gnode, i int) string {
	if i < len(n.inputs) {
		return n.inputs[i]
	}
	return ""
}

// trimOptional drops trailing omitted inputs.
func trimOptional(in []string) []string {
	for len(in) > 0 && in[len(in)-1] == "" {
		in = in[:len(in)-1]
	}
	return in
}

func (o *optimizer) isOutput(names ...string) bool {
	for _, out := range o.g.outputs {
		for _, n := range names {
			if out.Name == n {
				return true
			}
		}
	}
	return false
}

// isScaleParam reports a constant float32 scale that is a scalar or a
// vector of n (per-column) elements.
func (o *optimizer) isScaleParam(name string, n int) bool {
	t := o.constTensor(name)
	return t != nil && t.DType == ops.Float && (t.Len() == 1 && len(t.Shape) <= 1 || len(t.Shape) == 1 && t.Shape[0] == n)
}

// isQuantParam reports a constant zero point of type dt that is a scalar
// or a vector of n elements.
func (o *optimizer) isQuantParam(name string, dt ops.DType, n int) bool {
	t := o.constTensor(name)
	return t != nil && t.DType == dt && (t.Len() == 1 && len(t.Shape) <= 1 || len(t.Shape) == 1 && t.Shape[0] == n)
}
