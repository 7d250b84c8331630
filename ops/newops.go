package ops

import (
	"fmt"
	"math"
)

// registerNewOps registers recent ai.onnx operators: SwiGLU and
// LinearAttention.
func registerNewOps(r *Registry) {
	r.Add("", "SwiGLU", 28, newSwiGLU)
	r.Add("", "LinearAttention", 27, newLinearAttention)
}

// nxOutput returns an output tensor of type dt for the float32 result
// buf: buf's own tensor when dt is float, else a converted copy (and buf is
// released).
func nxOutput(ec *Context, buf *Tensor, dt DType) *Tensor {
	if dt == Float {
		return buf
	}
	t := ec.Empty(dt, buf.Shape...)
	narrowFloat32s(t.Data, buf.Float32s())
	ec.Release(buf)
	return t
}

// nxSigmoid is the logistic function, stable for large |x|.
func nxSigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// swiGLU implements SwiGLU: Y = A * Sigmoid(alpha * A) * B.
type swiGLU struct{ alpha float64 }

func newSwiGLU(n *Node) (any, error) {
	return &swiGLU{alpha: float64(n.Attrs.Float("alpha", 1))}, nil
}

func (k *swiGLU) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return fmt.Errorf("inputs A and B are required")
	}
	a, b := in[0], in[1]
	if a.DType != b.DType {
		return fmt.Errorf("A is %s but B is %s", a.DType, b.DType)
	}
	if !EqualShapes(a.Shape, b.Shape) {
		return fmt.Errorf("A has shape %v but B has %v (SwiGLU does not broadcast)", a.Shape, b.Shape)
	}
	y := ec.Empty(a.DType, a.Shape...)
	alpha := k.alpha
	f := func(x, v float64) float64 { return x * nxSigmoid(alpha*x) * v }
	n := a.Len()
	grain := n
	if n > 32768 {
		grain = 8192
	}
	switch ad := a.Data.(type) {
	case []float32:
		bd, yd := b.Data.([]float32), y.Data.([]float32)
		ec.Parallel(n, grain, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				yd[i] = float32(f(float64(ad[i]), float64(bd[i])))
			}
		})
	case []float64:
		bd, yd := b.Data.([]float64), y.Data.([]float64)
		ec.Parallel(n, grain, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				yd[i] = f(ad[i], bd[i])
			}
		})
	case []F16:
		bd, yd := b.Data.([]F16), y.Data.([]F16)
		ec.Parallel(n, grain, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				yd[i] = F16From(float32(f(float64(ad[i].Float32()), float64(bd[i].Float32()))))
			}
		})
	case []BF16:
		bd, yd := b.Data.([]BF16), y.Data.([]BF16)
		ec.Parallel(n, grain, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				yd[i] = BF16From(float32(f(float64(ad[i].Float32()), float64(bd[i].Float32()))))
			}
		})
	default:
		ec.Release(y)
		return fmt.Errorf("inputs must be float16, bfloat16, float or double, got %s", a.DType)
	}
	out[0] = y
	return nil
}

// linRule is LinearAttention's recurrence.
type linRule int

const (
	linLinear linRule = iota
	linGated
	linDelta
	linGatedDelta
)

// linearAttention implements LinearAttention by running the recurrence
// token by token (in float32) for every batch and key/value head.
type linearAttention struct {
	rule        linRule
	qHeads      int
	kvHeads     int
	scale       float32 // 0: 1/sqrt(d_k)
	gated, delt bool
}

func newLinearAttention(n *Node) (any, error) {
	k := &linearAttention{
		qHeads:  int(n.Attrs.Int("q_num_heads", 0)),
		kvHeads: int(n.Attrs.Int("kv_num_heads", 0)),
		scale:   n.Attrs.Float("scale", 0),
	}
	_ = n.Attrs.Int("chunk_size", 64)
	if !n.Attrs.Has("q_num_heads") || !n.Attrs.Has("kv_num_heads") {
		return nil, fmt.Errorf("attributes q_num_heads and kv_num_heads are required")
	}
	if k.qHeads <= 0 || k.kvHeads <= 0 || k.qHeads%k.kvHeads != 0 {
		return nil, fmt.Errorf("q_num_heads (%d) must be a positive multiple of kv_num_heads (%d)", k.qHeads, k.kvHeads)
	}
	switch r := n.Attrs.String("update_rule", "gated_delta"); r {
	case "linear":
		k.rule = linLinear
	case "gated":
		k.rule, k.gated = linGated, true
	case "delta":
		k.rule, k.delt = linDelta, true
	case "gated_delta":
		k.rule, k.gated, k.delt = linGatedDelta, true, true
	default:
		return nil, fmt.Errorf("attribute \"update_rule\": expected linear, gated, delta or gated_delta, got %q", r)
	}
	rule := n.Attrs.String("update_rule", "gated_delta")
	if k.gated != n.HasInput(4) {
		if k.gated {
			return nil, fmt.Errorf("update_rule %q requires the decay input", rule)
		}
		return nil, fmt.Errorf("update_rule %q takes no decay input", rule)
	}
	if k.delt != n.HasInput(5) {
		if k.delt {
			return nil, fmt.Errorf("update_rule %q requires the beta input", rule)
		}
		return nil, fmt.Errorf("update_rule %q takes no beta input", rule)
	}
	return k, nil
}

func (k *linearAttention) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 3 || in[0] == nil || in[1] == nil || in[2] == nil {
		return fmt.Errorf("inputs query, key and value are required")
	}
	get := func(i int) *Tensor {
		if i < len(in) {
			return in[i]
		}
		return nil
	}
	q, kt, v, past, decay, beta := in[0], in[1], in[2], get(3), get(4), get(5)
	for i, t := range []*Tensor{q, kt, v} {
		if len(t.Shape) != 3 {
			return fmt.Errorf("%s must have rank 3 (B, T, H*D), got %v", [...]string{"query", "key", "value"}[i], t.Shape)
		}
	}
	B, T := q.Shape[0], q.Shape[1]
	Hq, Hkv := k.qHeads, k.kvHeads
	if q.Shape[2]%Hq != 0 || v.Shape[2]%Hkv != 0 {
		return fmt.Errorf("query's last dimension %d must divide by q_num_heads %d and value's %d by kv_num_heads %d", q.Shape[2], Hq, v.Shape[2], Hkv)
	}
	dk, dv := q.Shape[2]/Hq, v.Shape[2]/Hkv
	if !EqualShapes(kt.Shape, []int{B, T, Hkv * dk}) {
		return fmt.Errorf("key must have shape (%d, %d, %d), got %v", B, T, Hkv*dk, kt.Shape)
	}
	if v.Shape[0] != B || v.Shape[1] != T {
		return fmt.Errorf("value must have shape (%d, %d, %d), got %v", B, T, Hkv*dv, v.Shape)
	}
	if (k.gated && decay == nil) || (k.delt && beta == nil) {
		return fmt.Errorf("missing decay or beta input for the update rule")
	}
	decayPerDim := false
	if decay != nil {
		switch {
		case len(decay.Shape) == 3 && decay.Shape[0] == B && decay.Shape[1] == T && decay.Shape[2] == Hkv:
		case len(decay.Shape) == 3 && decay.Shape[0] == B && decay.Shape[1] == T && decay.Shape[2] == Hkv*dk:
			decayPerDim = true
		default:
			return fmt.Errorf("decay must have shape (%d, %d, %d) or (%d, %d, %d), got %v", B, T, Hkv, B, T, Hkv*dk, decay.Shape)
		}
	}
	betaPerHead := false
	if beta != nil {
		switch {
		case len(beta.Shape) == 3 && beta.Shape[0] == B && beta.Shape[1] == T && beta.Shape[2] == 1:
		case len(beta.Shape) == 3 && beta.Shape[0] == B && beta.Shape[1] == T && beta.Shape[2] == Hkv:
			betaPerHead = true
		default:
			return fmt.Errorf("beta must have shape (%d, %d, %d) or (%d, %d, 1), got %v", B, T, Hkv, B, T, beta.Shape)
		}
	}
	stateType := q.DType
	if past != nil {
		if !EqualShapes(past.Shape, []int{B, Hkv, dk, dv}) {
			return fmt.Errorf("past_state must have shape (%d, %d, %d, %d), got %v", B, Hkv, dk, dv, past.Shape)
		}
		stateType = past.DType
	}

	var tmps []*Tensor
	defer func() {
		for _, t := range tmps {
			ec.Release(t)
		}
	}()
	names := [...]string{"query", "key", "value", "past_state", "decay", "beta"}
	var data [6][]float32
	for i, t := range []*Tensor{q, kt, v, past, decay, beta} {
		if t == nil {
			continue
		}
		d, tmp, err := float32Data(ec, t)
		if err != nil {
			return fmt.Errorf("%s must be float, float16 or bfloat16, got %s", names[i], t.DType)
		}
		if tmp != nil {
			tmps = append(tmps, tmp)
		}
		data[i] = d
	}
	qd, kd, vd, pd, gd, bd := data[0], data[1], data[2], data[3], data[4], data[5]

	scale := k.scale
	if scale == 0 {
		scale = float32(1 / math.Sqrt(float64(dk)))
	}
	group := Hq / Hkv
	yBuf := ec.Empty(Float, B, T, Hq*dv)
	sBuf := ec.Empty(Float, B, Hkv, dk, dv)
	scratch := ec.Empty(Float, B*Hkv, dv)
	tmps = append(tmps, scratch)
	yd, sd, scr := yBuf.Data.([]float32), sBuf.Data.([]float32), scratch.Data.([]float32)
	if pd != nil {
		copy(sd, pd)
	} else {
		clear(sd)
	}
	work := B * Hkv
	grain := work
	if T*dk*dv*(3+group) >= 8192 {
		grain = 1
	}
	ec.Parallel(work, grain, func(lo, hi int) {
		for bh := lo; bh < hi; bh++ {
			b, h := bh/Hkv, bh%Hkv
			S := sd[bh*dk*dv : (bh+1)*dk*dv]
			vt := scr[bh*dv : (bh+1)*dv]
			for t := 0; t < T; t++ {
				tok := b*T + t
				kv := kd[(tok*Hkv+h)*dk:][:dk]
				copy(vt, vd[(tok*Hkv+h)*dv:][:dv])
				if k.gated {
					if decayPerDim {
						g := gd[(tok*Hkv+h)*dk:][:dk]
						for d := 0; d < dk; d++ {
							e := float32(math.Exp(float64(g[d])))
							row := S[d*dv : (d+1)*dv]
							for m := range row {
								row[m] *= e
							}
						}
					} else {
						e := float32(math.Exp(float64(gd[tok*Hkv+h])))
						for i := range S {
							S[i] *= e
						}
					}
				}
				if k.delt {
					bt := bd[tok]
					if betaPerHead {
						bt = bd[tok*Hkv+h]
					}
					for m := 0; m < dv; m++ {
						var r float32
						for d := 0; d < dk; d++ {
							r += S[d*dv+m] * kv[d]
						}
						vt[m] = bt * (vt[m] - r)
					}
				}
				for d := 0; d < dk; d++ {
					kval := kv[d]
					row := S[d*dv : (d+1)*dv]
					for m, x := range vt {
						row[m] += kval * x
					}
				}
				for j := 0; j < group; j++ {
					hq := h*group + j
					qv := qd[(tok*Hq+hq)*dk:][:dk]
					o := yd[(tok*Hq+hq)*dv:][:dv]
					clear(o)
					for d := 0; d < dk; d++ {
						qs := qv[d] * scale
						row := S[d*dv : (d+1)*dv]
						for m, x := range row {
							o[m] += qs * x
						}
					}
				}
			}
		}
	})
	out[0] = nxOutput(ec, yBuf, q.DType)
	if len(out) > 1 {
		out[1] = nxOutput(ec, sBuf, stateType)
	} else {
		ec.Release(sBuf)
	}
	return nil
}
