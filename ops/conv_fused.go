package ops

import (
	"fmt"
	"math"
)

// fusedConv is ai.agate FusedConv, which the engine's optimizer makes of a
// Conv followed by a residual Add and/or a Relu or Clip: act(conv(X, W, B)
// + Z), the epilogue applied to each block of output rows right after its
// product, while it is in cache. Inputs: X, W, B (optional, "" when
// absent), Z (optional). Attributes: Conv's, activation (none, relu,
// clip) and clip_min/clip_max.
type fusedConv struct {
	conv   *convKernel
	act    uint8
	lo, hi float64

	// add and activate compute the epilogue as separate kernels for the
	// cases the fused path does not take (half precision, a Z that
	// broadcasts).
	add, activate Kernel
}

func newFusedConv(n *Node) (any, error) {
	c, err := newConv(n)
	if err != nil {
		return nil, err
	}
	k := &fusedConv{conv: c.(*convKernel), lo: math.Inf(-1), hi: math.Inf(1)}
	switch a := n.Attrs.String("activation", ActNone); a {
	case ActNone:
	case ActRelu:
		k.act = convActRelu
		k.activate = &ewFloatKernel{op: "Relu", f64: ewRelu, f32: ewRelu32, ints: ewIntRelu}
	case "clip":
		k.act = convActClip
		lo, hi := n.Attrs.Float("clip_min", float32(math.Inf(-1))), n.Attrs.Float("clip_max", float32(math.Inf(1)))
		k.lo, k.hi = float64(lo), float64(hi)
		k.activate = &ewClipKernel{attrs: true, lo: lo, hi: hi}
	default:
		return nil, fmt.Errorf("unknown activation %q (none, relu or clip)", a)
	}
	add, err := ewBinaryFactory(ewAdd)(&Node{Name: n.Name, OpType: "Add", Domain: DomainONNX, Version: 14, Attrs: NewAttrs()})
	if err != nil {
		return nil, err
	}
	k.add = add.(Kernel)
	return k, nil
}

func (k *fusedConv) Run(ec *Context, in, out []*Tensor) error {
	if len(in) > 2 && in[2] != nil && in[2].Len() == 0 {
		in = append([]*Tensor{in[0], in[1], nil}, in[3:]...)
	}
	return k.conv.run(ec, in, out, k)
}

// epilogue returns the fused epilogue for output y, or false when the
// separate kernels must run it (a type other than float32 and float64, or
// a Z that is not of y's type and shape).
func (k *fusedConv) epilogue(x, y, z *Tensor) (convEpilogue, bool) {
	ep := convEpilogue{act: k.act, lo: k.lo, hi: k.hi}
	if x.DType != Float && x.DType != Double {
		return ep, false
	}
	if z != nil {
		if z.DType != y.DType || !EqualShapes(z.Shape, y.Shape) {
			return ep, false
		}
		ep.z = z.Data
	}
	return ep, true
}

// fallback applies Z and the activation to out[0] with separate kernels.
func (k *fusedConv) fallback(ec *Context, out []*Tensor, z *Tensor) error {
	y := out[0]
	if z != nil {
		tmp := make([]*Tensor, 1)
		if err := k.add.Run(ec, []*Tensor{y, z}, tmp); err != nil {
			return fmt.Errorf("residual input: %w", err)
		}
		ec.Release(y)
		y = tmp[0]
	}
	if k.activate != nil {
		tmp := make([]*Tensor, 1)
		if err := k.activate.Run(ec, []*Tensor{y}, tmp); err != nil {
			return err
		}
		ec.Release(y)
		y = tmp[0]
	}
	out[0] = y
	return nil
}
