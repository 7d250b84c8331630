// Package training implements the optimizer operators of the ONNX
// training-preview domain (ai.onnx.preview.training): Adagrad, Adam and
// Momentum, one update step of float or double tensors per node.
//
// agate runs inference; these operators are here for the completeness of the
// ONNX operator set (its conformance tests), so they live outside package
// ops, which holds the engine's kernels. engine's default registry includes
// them; a registry built from ops.DefaultRegistry does not until Register
// adds them.
package training

import (
	"fmt"
	"math"

	"github.com/agate-ml/agate/ops"
)

// Domain is the domain of the ONNX training-preview operators this package
// implements.
const Domain = "ai.onnx.preview.training"

// Register adds the optimizer operators of the ai.onnx.preview.training
// domain to r: Adagrad, Adam and Momentum (from opset 1).
func Register(r *ops.Registry) {
	r.Add(Domain, "Adagrad", 1, newAdagrad)
	r.Add(Domain, "Adam", 1, newAdam)
	r.Add(Domain, "Momentum", 1, newMomentum)
}

// trainFloat is the element type of optimized tensors.
type trainFloat interface{ ~float32 | ~float64 }

// trainScalars reads the learning rate R and the update count T.
func trainScalars(in []*ops.Tensor) (r float64, t int64, err error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return 0, 0, fmt.Errorf("inputs R and T are required")
	}
	if in[0].Len() != 1 {
		return 0, 0, fmt.Errorf("learning rate R must be a scalar, got shape %v", in[0].Shape)
	}
	switch d := in[0].Data.(type) {
	case []float32:
		r = float64(d[0])
	case []float64:
		r = d[0]
	default:
		return 0, 0, fmt.Errorf("learning rate R must be float or double, got %s", in[0].DType)
	}
	if in[1].Len() != 1 {
		return 0, 0, fmt.Errorf("update count T must be a scalar, got shape %v", in[1].Shape)
	}
	ts, err := in[1].AsInt64s()
	if err != nil {
		return 0, 0, fmt.Errorf("update count T: %w", err)
	}
	return r, ts[0], nil
}

// trainGroups checks that the variadic inputs after R and T split into
// groups of n same-shaped, same-typed tensors per optimized variable and
// returns the number of variables.
func trainGroups(in, out []*ops.Tensor, groups, outGroups int) (int, error) {
	rest := len(in) - 2
	if rest <= 0 || rest%groups != 0 {
		return 0, fmt.Errorf("expected R, T and a multiple of %d tensors, got %d inputs", groups, len(in))
	}
	nv := rest / groups
	if len(out) > nv*outGroups {
		return 0, fmt.Errorf("%d outputs for %d optimized tensors (at most %d)", len(out), nv, nv*outGroups)
	}
	for v := 0; v < nv; v++ {
		x := in[2+v]
		if x == nil {
			return 0, fmt.Errorf("input %d (optimized tensor %d) is missing", 2+v, v)
		}
		if x.DType != ops.Float && x.DType != ops.Double {
			return 0, fmt.Errorf("optimized tensor %d must be float or double, got %s", v, x.DType)
		}
		for g := 1; g < groups; g++ {
			t := in[2+g*nv+v]
			if t == nil {
				return 0, fmt.Errorf("input %d is missing", 2+g*nv+v)
			}
			if t.DType != x.DType || !ops.EqualShapes(t.Shape, x.Shape) {
				return 0, fmt.Errorf("input %d is %v, optimized tensor %d is %v", 2+g*nv+v, t, v, x)
			}
		}
	}
	return nv, nil
}

// trainRun allocates the outputs of every optimized variable (outGroups
// tensors each, shaped like the variable) and calls step with the inputs
// and outputs of one variable at a time. Outputs beyond len(out) are
// computed into temporaries and released.
func trainRun(ec *ops.Context, in, out []*ops.Tensor, groups, outGroups int, step func(ins, outs []*ops.Tensor)) error {
	nv, err := trainGroups(in, out, groups, outGroups)
	if err != nil {
		return err
	}
	ins := make([]*ops.Tensor, groups)
	outs := make([]*ops.Tensor, outGroups)
	for v := 0; v < nv; v++ {
		x := in[2+v]
		for g := range ins {
			ins[g] = in[2+g*nv+v]
		}
		for g := range outs {
			outs[g] = ec.Empty(x.DType, x.Shape...)
		}
		step(ins, outs)
		for g, t := range outs {
			if i := g*nv + v; i < len(out) {
				out[i] = t
			} else {
				ec.Release(t)
			}
		}
	}
	return nil
}

// trainAdagrad holds Adagrad's attributes.
type trainAdagrad struct{ decay, eps, norm float64 }

func newAdagrad(n *ops.Node) (any, error) {
	return &trainAdagrad{
		decay: float64(n.Attrs.Float("decay_factor", 0)),
		eps:   float64(n.Attrs.Float("epsilon", 0)),
		norm:  float64(n.Attrs.Float("norm_coefficient", 0)),
	}, nil
}

func (k *trainAdagrad) Run(ec *ops.Context, in, out []*ops.Tensor) error {
	rate, t, err := trainScalars(in)
	if err != nil {
		return err
	}
	r := rate / (1 + float64(t)*k.decay)
	return trainRun(ec, in, out, 3, 2, func(ins, outs []*ops.Tensor) {
		switch ins[0].DType {
		case ops.Float:
			adagradStep(trainF32(ins[0]), trainF32(ins[1]), trainF32(ins[2]), trainF32(outs[0]), trainF32(outs[1]), r, k.norm, k.eps)
		default:
			adagradStep(trainF64(ins[0]), trainF64(ins[1]), trainF64(ins[2]), trainF64(outs[0]), trainF64(outs[1]), r, k.norm, k.eps)
		}
	})
}

func adagradStep[T trainFloat](x, g, h, xNew, hNew []T, r, norm, eps float64) {
	for i := range x {
		xi := float64(x[i])
		gr := norm*xi + float64(g[i])
		hn := float64(h[i]) + gr*gr
		hNew[i] = T(hn)
		xNew[i] = T(xi - r*gr/(math.Sqrt(hn)+eps))
	}
}

// trainAdam holds Adam's attributes.
type trainAdam struct{ alpha, beta, eps, norm, normPost float64 }

func newAdam(n *ops.Node) (any, error) {
	return &trainAdam{
		alpha:    float64(n.Attrs.Float("alpha", 0.9)),
		beta:     float64(n.Attrs.Float("beta", 0.999)),
		eps:      float64(n.Attrs.Float("epsilon", 0)),
		norm:     float64(n.Attrs.Float("norm_coefficient", 0)),
		normPost: float64(n.Attrs.Float("norm_coefficient_post", 0)),
	}, nil
}

func (k *trainAdam) Run(ec *ops.Context, in, out []*ops.Tensor) error {
	rate, t, err := trainScalars(in)
	if err != nil {
		return err
	}
	r := rate
	if t > 0 {
		r = rate * math.Sqrt(1-math.Pow(k.beta, float64(t))) / (1 - math.Pow(k.alpha, float64(t)))
	}
	return trainRun(ec, in, out, 4, 3, func(ins, outs []*ops.Tensor) {
		switch ins[0].DType {
		case ops.Float:
			adamStep(k, r, trainF32(ins[0]), trainF32(ins[1]), trainF32(ins[2]), trainF32(ins[3]), trainF32(outs[0]), trainF32(outs[1]), trainF32(outs[2]))
		default:
			adamStep(k, r, trainF64(ins[0]), trainF64(ins[1]), trainF64(ins[2]), trainF64(ins[3]), trainF64(outs[0]), trainF64(outs[1]), trainF64(outs[2]))
		}
	})
}

func adamStep[T trainFloat](k *trainAdam, r float64, x, g, v, h, xNew, vNew, hNew []T) {
	for i := range x {
		xi := float64(x[i])
		gr := k.norm*xi + float64(g[i])
		vn := k.alpha*float64(v[i]) + (1-k.alpha)*gr
		hn := k.beta*float64(h[i]) + (1-k.beta)*gr*gr
		xn := xi - r*vn/(math.Sqrt(hn)+k.eps)
		xNew[i] = T((1 - k.normPost) * xn)
		vNew[i] = T(vn)
		hNew[i] = T(hn)
	}
}

// trainMomentum holds Momentum's attributes.
type trainMomentum struct {
	alpha, beta, norm float64
	nesterov          bool
}

func newMomentum(n *ops.Node) (any, error) {
	for _, name := range []string{"alpha", "beta", "mode", "norm_coefficient"} {
		if !n.Attrs.Has(name) {
			return nil, fmt.Errorf("attribute %q is required", name)
		}
	}
	k := &trainMomentum{
		alpha: float64(n.Attrs.Float("alpha", 0)),
		beta:  float64(n.Attrs.Float("beta", 0)),
		norm:  float64(n.Attrs.Float("norm_coefficient", 0)),
	}
	switch m := n.Attrs.String("mode", ""); m {
	case "standard":
	case "nesterov":
		k.nesterov = true
	default:
		return nil, fmt.Errorf("attribute \"mode\": expected standard or nesterov, got %q", m)
	}
	return k, nil
}

func (k *trainMomentum) Run(ec *ops.Context, in, out []*ops.Tensor) error {
	rate, t, err := trainScalars(in)
	if err != nil {
		return err
	}
	beta := k.beta
	if t <= 0 {
		beta = 1
	}
	return trainRun(ec, in, out, 3, 2, func(ins, outs []*ops.Tensor) {
		switch ins[0].DType {
		case ops.Float:
			momentumStep(k, rate, beta, trainF32(ins[0]), trainF32(ins[1]), trainF32(ins[2]), trainF32(outs[0]), trainF32(outs[1]))
		default:
			momentumStep(k, rate, beta, trainF64(ins[0]), trainF64(ins[1]), trainF64(ins[2]), trainF64(outs[0]), trainF64(outs[1]))
		}
	})
}

func momentumStep[T trainFloat](k *trainMomentum, r, beta float64, x, g, v, xNew, vNew []T) {
	for i := range x {
		xi := float64(x[i])
		gr := k.norm*xi + float64(g[i])
		vn := k.alpha*float64(v[i]) + beta*gr
		if k.nesterov {
			xNew[i] = T(xi - r*(gr+k.alpha*vn))
		} else {
			xNew[i] = T(xi - r*vn)
		}
		vNew[i] = T(vn)
	}
}

func trainF32(t *ops.Tensor) []float32 { return t.Data.([]float32) }
func trainF64(t *ops.Tensor) []float64 { return t.Data.([]float64) }
