package engine

import (
	"math"

	"github.com/agate-ml/agate/ops"
)

// Convolution fusions: a Conv whose output feeds only a Relu or a Clip with
// constant bounds, a residual Add, or an Add then a Relu or Clip (ResNet's
// and MobileNet's blocks), becomes ai.agate FusedConv, which applies the
// residual and the activation to each block of output rows while it is in
// cache instead of in separate passes over the whole tensor.

// convActivation fuses Conv (+ Add) + Relu/Clip, anchored on the
// activation.
func (o *optimizer) convActivation(act *gnode) {
	if act.domain != ops.DomainONNX || len(act.inputs) == 0 || len(act.outputs) != 1 {
		return
	}
	var attrs []*ops.Attr
	switch act.opType {
	case "Relu":
		attrs = []*ops.Attr{stringAttr("activation", ops.ActRelu)}
	case "Clip":
		lo, hi, ok := o.clipBounds(act)
		if !ok {
			return
		}
		attrs = []*ops.Attr{stringAttr("activation", "clip"), floatAttr("clip_min", lo), floatAttr("clip_max", hi)}
	default:
		return
	}
	x := act.inputs[0]
	if conv := o.single(x, "Conv"); conv != nil {
		o.replace(act, o.fusedConv(act, conv, "", attrs), conv)
		return
	}
	add := o.single(x, "Add")
	if add == nil || len(add.inputs) != 2 {
		return
	}
	for i, in := range add.inputs {
		if conv := o.single(in, "Conv"); conv != nil && add.inputs[1-i] != in {
			o.replace(act, o.fusedConv(act, conv, add.inputs[1-i], attrs), conv, add)
			return
		}
	}
}

// convAdd fuses Conv + a residual Add, anchored on the Add.
func (o *optimizer) convAdd(add *gnode) {
	if add.opType != "Add" || add.domain != ops.DomainONNX || len(add.inputs) != 2 {
		return
	}
	for i, in := range add.inputs {
		if conv := o.single(in, "Conv"); conv != nil && add.inputs[1-i] != in {
			o.replace(add, o.fusedConv(add, conv, add.inputs[1-i], []*ops.Attr{stringAttr("activation", ops.ActNone)}), conv)
			return
		}
	}
}

// fusedConv builds the FusedConv taking anchor's place: conv's inputs, the
// residual z ("" for none), conv's attributes and the epilogue's.
func (o *optimizer) fusedConv(anchor, conv *gnode, z string, epilogue []*ops.Attr) *gnode {
	inputs := append([]string(nil), conv.inputs...)
	if z != "" {
		for len(inputs) < 3 {
			inputs = append(inputs, "")
		}
		inputs = append(inputs, z)
	}
	attrs := append(append([]*ops.Attr(nil), conv.attrs...), epilogue...)
	return newFusedNode(anchor, ops.DomainAgate, "FusedConv", 1, inputs, attrs...)
}

// clipBounds reads a Clip's constant bounds (attributes before opset 11,
// optional scalar inputs after).
func (o *optimizer) clipBounds(clip *gnode) (lo, hi float32, ok bool) {
	lo, hi = float32(math.Inf(-1)), float32(math.Inf(1))
	if clip.version < 11 {
		return attrFloat(clip, "min", lo), attrFloat(clip, "max", hi), true
	}
	for i, dst := range []*float32{&lo, &hi} {
		if len(clip.inputs) <= i+1 || clip.inputs[i+1] == "" {
			continue
		}
		v, isConst := o.constScalar(clip.inputs[i+1])
		// The fused kernel holds float32 bounds: a double bound that
		// float32 would round stays with its own Clip.
		if !isConst || float64(float32(v)) != v {
			return 0, 0, false
		}
		*dst = float32(v)
	}
	return lo, hi, true
}
