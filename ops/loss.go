package ops

import (
	"fmt"
	"math"
)

// registerLoss registers NegativeLogLikelihoodLoss and
// SoftmaxCrossEntropyLoss.
func registerLoss(r *Registry) {
	r.Add("", "NegativeLogLikelihoodLoss", 12, newLossKernel)
	r.Add("", "SoftmaxCrossEntropyLoss", 12, newLossKernel)
}

// lossReduction is the reduction attribute of the loss operators.
type lossReduction int

const (
	lossNone lossReduction = iota
	lossSum
	lossMean
)

// lossKernel implements NegativeLogLikelihoodLoss and (with sce set)
// SoftmaxCrossEntropyLoss, which applies a log-softmax over the class
// dimension first and may also output those log-probabilities. Inputs are
// [N, C, d1, ...] scores and [N, d1, ...] integer targets, with optional
// per-class weights [C]. Computation is in float64.
type lossKernel struct {
	sce       bool
	reduction lossReduction
	ignore    int64
	hasIgnore bool
}

func newLossKernel(n *Node) (any, error) {
	k := &lossKernel{sce: n.OpType == "SoftmaxCrossEntropyLoss"}
	switch r := n.Attrs.String("reduction", "mean"); r {
	case "none":
		k.reduction = lossNone
	case "sum":
		k.reduction = lossSum
	case "mean":
		k.reduction = lossMean
	default:
		return nil, fmt.Errorf("reduction %q is not one of none, sum, mean", r)
	}
	if n.Attrs.Has("ignore_index") {
		k.hasIgnore = true
		k.ignore = n.Attrs.Int("ignore_index", 0)
	}
	return k, nil
}

func (k *lossKernel) Run(ec *Context, in, out []*Tensor) error {
	x, err := rnInput(in, 0, "input")
	if err != nil {
		return err
	}
	target, err := rnInput(in, 1, "target")
	if err != nil {
		return err
	}
	weight := rnOptional(in, 2)
	if !rnIsFloat(x.DType) {
		return fmt.Errorf("unsupported element type %s", x.DType)
	}
	if x.Rank() < 2 {
		return fmt.Errorf("input must have rank >= 2 (N x C x ...), got shape %s", ShapeString(x.Shape))
	}
	n, c := x.Shape[0], x.Shape[1]
	d := NumElements(x.Shape[2:])
	tshape := append([]int{n}, x.Shape[2:]...)
	if !EqualShapes(target.Shape, tshape) {
		return fmt.Errorf("target shape %s does not match input shape %s (want %s)", ShapeString(target.Shape), ShapeString(x.Shape), ShapeString(tshape))
	}
	if target.DType != Int32 && target.DType != Int64 {
		return fmt.Errorf("target must be int32 or int64, got %s", target.DType)
	}
	tg, err := target.AsInt64s()
	if err != nil {
		return err
	}
	tmp := rnTemps{ec: ec}
	defer tmp.release()
	var w []float64
	if weight != nil {
		if weight.Len() != c || weight.Rank() != 1 {
			return fmt.Errorf("weight must have shape [%d], got %s", c, ShapeString(weight.Shape))
		}
		if w, err = rnFloats[float64](&tmp, weight); err != nil {
			return fmt.Errorf("weight: %w", err)
		}
	}
	xs, err := rnFloats[float64](&tmp, x)
	if err != nil {
		return err
	}
	logp := xs
	if k.sce {
		lp := tmp.empty(Double, x.Shape...).Float64s()
		softmaxLanes(ec, xs, lp, n, c, d, softmaxLog)
		logp = lp
		if len(out) > 1 {
			t := ec.Empty(x.DType, x.Shape...)
			narrowFloat64s(t.Data, lp)
			out[1] = t
		}
	}
	losses := tmp.empty(Double, tshape...).Float64s()
	var total, wsum float64
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			t := tg[i*d+j]
			if k.hasIgnore && t == k.ignore {
				losses[i*d+j] = 0
				continue
			}
			if t < 0 || t >= int64(c) {
				if len(out) > 1 && out[1] != nil {
					ec.Release(out[1])
					out[1] = nil
				}
				return fmt.Errorf("target value %d is out of range [0, %d)", t, c)
			}
			wt := 1.0
			if w != nil {
				wt = w[t]
			}
			l := -logp[(i*c+int(t))*d+j] * wt
			losses[i*d+j] = l
			total += l
			wsum += wt
		}
	}
	var y *Tensor
	switch k.reduction {
	case lossNone:
		y = ec.Empty(x.DType, tshape...)
		narrowFloat64s(y.Data, losses)
	case lossSum:
		y = ec.Empty(x.DType)
		narrowFloat64s(y.Data, []float64{total})
	case lossMean:
		y = ec.Empty(x.DType)
		v := math.NaN()
		if wsum != 0 {
			v = total / wsum
		}
		narrowFloat64s(y.Data, []float64{v})
	}
	out[0] = y
	return nil
}
