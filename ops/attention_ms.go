package ops

import (
	"fmt"
	"math"
)

// This file implements the com.microsoft (onnxruntime contrib) Attention and
// QAttention operators that optimized BERT exports carry: the Q, K and V
// projections are one product of the [batch, seq, hidden] input with merged
// weights [hidden, 3·hidden] (8-bit for QAttention), followed by multi-head
// scaled dot-product attention. The projection runs on the MatMul (float)
// or MatMulIntegerToFloat (8-bit) kernels and the attention core on the
// fused selfAttention kernel.

// registerAttentionMS registers com.microsoft Attention and QAttention.
func registerAttentionMS(r *Registry) {
	r.Add(DomainMicrosoft, "Attention", 1, halfFactory(newMSAttention(false)))
	r.Add(DomainMicrosoft, "QAttention", 1, newMSAttention(true))
}

// Input positions of the two operators.
const (
	msAttnMask    = 3 // Attention: input, weights, bias, mask_index, past, attention_bias
	msAttnPast    = 4
	msAttnBias    = 5
	msAttnPastLen = 6
	qAttnMask     = 5 // QAttention: input, weight, bias, input_scale, weight_scale, mask_index, input_zero_point, weight_zero_point, past
	qAttnPast     = 8
)

// msAttention implements Attention and QAttention.
type msAttention struct {
	quant      bool
	heads      int
	causal     bool
	maskFilter float32
	scale      float32
	hidden     [3]int // Q, K, V hidden sizes from qkv_hidden_sizes; 0 when absent
	proj       Kernel // input·weights + bias
}

func newMSAttention(quant bool) Factory {
	return func(n *Node) (any, error) {
		k := &msAttention{
			quant:      quant,
			heads:      int(n.Attrs.Int("num_heads", 0)),
			causal:     n.Attrs.Int("unidirectional", 0) != 0,
			maskFilter: n.Attrs.Float("mask_filter_value", -10000),
			scale:      n.Attrs.Float("scale", 0),
		}
		if k.heads <= 0 {
			return nil, fmt.Errorf("num_heads must be positive, got %d", k.heads)
		}
		if k.scale < 0 {
			return nil, fmt.Errorf("scale must not be negative, got %g", k.scale)
		}
		if n.Attrs.Int("do_rotary", 0) != 0 {
			return nil, fmt.Errorf("do_rotary is not supported")
		}
		if n.Attrs.Int("past_present_share_buffer", 0) != 0 {
			return nil, fmt.Errorf("past_present_share_buffer is not supported")
		}
		if sizes, ok := n.Attrs.IntsAsInts("qkv_hidden_sizes"); ok {
			if len(sizes) != 3 {
				return nil, fmt.Errorf("qkv_hidden_sizes must hold 3 values, got %v", sizes)
			}
			for _, s := range sizes {
				if s <= 0 || s%k.heads != 0 {
					return nil, fmt.Errorf("qkv_hidden_sizes %v must be positive multiples of num_heads %d", sizes, k.heads)
				}
			}
			if sizes[0] != sizes[1] {
				return nil, fmt.Errorf("qkv_hidden_sizes %v: Q and K must have the same hidden size", sizes)
			}
			if sizes[2] != sizes[0] {
				return nil, fmt.Errorf("qkv_hidden_sizes %v: a V hidden size different from Q's is not supported", sizes)
			}
			copy(k.hidden[:], sizes)
		}
		if quant {
			if n.HasInput(qAttnPast) {
				return nil, fmt.Errorf("QAttention with a past state is not supported")
			}
		} else if n.HasInput(msAttnPastLen) {
			return nil, fmt.Errorf("past_sequence_length is only used with past_present_share_buffer, which is not supported")
		}
		proj, err := k.newProjection(n)
		if err != nil {
			return nil, err
		}
		k.proj = proj
		return k, nil
	}
}

// newProjection builds the kernel of the merged QKV product, passing on the
// constant weights (and zero point) so that they are packed once.
func (k *msAttention) newProjection(n *Node) (Kernel, error) {
	konst := func(i int) *Tensor {
		if i < len(n.ConstInputs) {
			return n.ConstInputs[i]
		}
		return nil
	}
	name := func(i int, s string) string {
		if n.HasInput(i) {
			return s
		}
		return ""
	}
	var sub *Node
	var f Factory
	if k.quant {
		// MatMulIntegerToFloat(A, B, a_scale, b_scale, a_zp, b_zp, bias)
		sub = &Node{OpType: "MatMulIntegerToFloat", Domain: DomainMicrosoft, Version: 1,
			Inputs:      []string{"a", "b", "a_scale", "b_scale", name(6, "a_zp"), name(7, "b_zp"), name(2, "bias")},
			Outputs:     []string{"y"},
			ConstInputs: []*Tensor{nil, konst(1), nil, nil, nil, konst(7), nil}}
		f = newMatMulIntegerToFloat(false)
	} else {
		sub = &Node{OpType: "FusedMatMul", Domain: DomainAgate, Version: 1, Attrs: NewAttrs(),
			Inputs:      []string{"a", "b", name(2, "bias")},
			Outputs:     []string{"y"},
			ConstInputs: []*Tensor{nil, konst(1), nil}}
		f = newFusedMatMul
	}
	kern, err := f(sub)
	if err != nil {
		return nil, fmt.Errorf("QKV projection: %w", err)
	}
	kk, ok := kern.(Kernel)
	if !ok {
		return nil, fmt.Errorf("QKV projection kernel is not a tensor kernel")
	}
	return kk, nil
}

func (k *msAttention) Run(ec *Context, in, out []*Tensor) error {
	get := func(i int) *Tensor {
		if i < len(in) {
			return in[i]
		}
		return nil
	}
	op := "Attention"
	maskIdx, pastIdx := msAttnMask, msAttnPast
	if k.quant {
		op = "QAttention"
		maskIdx, pastIdx = qAttnMask, qAttnPast
	}
	x, w := get(0), get(1)
	if x == nil || w == nil {
		return fmt.Errorf("%s needs input and weights", op)
	}
	if len(x.Shape) != 3 {
		return fmt.Errorf("input must be [batch, seq, hidden], got shape %s", ShapeString(x.Shape))
	}
	if len(w.Shape) != 2 || w.Shape[0] != x.Shape[2] {
		return fmt.Errorf("weights of shape %s do not match input shape %s", ShapeString(w.Shape), ShapeString(x.Shape))
	}
	if !k.quant && x.DType != Float {
		return fmt.Errorf("Attention supports float32, float16 and bfloat16 input, got %s", x.DType)
	}
	b, s := x.Shape[0], x.Shape[1]
	hq, hk, hv := k.hidden[0], k.hidden[1], k.hidden[2]
	if hq == 0 {
		if w.Shape[1]%3 != 0 {
			return fmt.Errorf("weights have %d columns, not 3 equal parts", w.Shape[1])
		}
		hq = w.Shape[1] / 3
		hk, hv = hq, hq
		if hq%k.heads != 0 {
			return fmt.Errorf("hidden size %d is not a multiple of %d heads", hq, k.heads)
		}
	}
	if w.Shape[1] != hq+hk+hv {
		return fmt.Errorf("weights have %d columns, qkv_hidden_sizes sum to %d", w.Shape[1], hq+hk+hv)
	}
	d := hk / k.heads
	past := get(pastIdx)
	p := 0
	if past != nil {
		if past.DType != Float || len(past.Shape) != 5 || past.Shape[0] != 2 || past.Shape[1] != b ||
			past.Shape[2] != k.heads || past.Shape[4] != d {
			return fmt.Errorf("past must be float32 [2, %d, %d, past_seq, %d], got %s", b, k.heads, d, past)
		}
		p = past.Shape[3]
	}
	t := p + s
	var temps []*Tensor
	defer func() {
		for _, tt := range temps {
			ec.Release(tt)
		}
	}()

	// qkv = input·weights + bias, [b, s, hq+hk+hv].
	var projIn []*Tensor
	if k.quant {
		projIn = []*Tensor{x, w, get(3), get(4), get(6), get(7), get(2)}
		if projIn[2] == nil || projIn[3] == nil || projIn[6] == nil {
			return fmt.Errorf("QAttention needs bias, input_scale and weight_scale")
		}
	} else {
		projIn = []*Tensor{x, w, get(2)}
	}
	po := make([]*Tensor, 1)
	if err := k.proj.Run(ec, projIn, po); err != nil {
		return fmt.Errorf("QKV projection: %w", err)
	}
	qkv := po[0]
	temps = append(temps, qkv)
	if qkv.DType != Float {
		return fmt.Errorf("QKV projection produced %s, want float32", qkv.DType)
	}

	// Split into Q [b, s, hq] and K, V [b, t, h] with the past in front.
	n := hq + hk + hv
	qs := ec.Empty(Float, b, s, hq)
	ks := ec.Empty(Float, b, t, hk)
	vs := ec.Empty(Float, b, t, hv)
	temps = append(temps, qs, ks, vs)
	src, qd, kd, vd := qkv.Float32s(), qs.Float32s(), ks.Float32s(), vs.Float32s()
	for bi := range b {
		for i := range s {
			row := src[(bi*s+i)*n : (bi*s+i+1)*n]
			copy(qd[(bi*s+i)*hq:], row[:hq])
			copy(kd[(bi*t+p+i)*hk:(bi*t+p+i+1)*hk], row[hq:hq+hk])
			copy(vd[(bi*t+p+i)*hv:(bi*t+p+i+1)*hv], row[hq+hk:])
		}
	}
	if past != nil {
		pv := past.Float32s()
		half := b * k.heads * p * d
		for bi := range b {
			for h := range k.heads {
				for j := range p {
					o := ((bi*k.heads+h)*p + j) * d
					copy(kd[(bi*t+j)*hk+h*d:][:d], pv[o:o+d])
					copy(vd[(bi*t+j)*hv+h*d:][:d], pv[half+o:half+o+d])
				}
			}
		}
	}
	if len(out) > 1 {
		present := ec.Empty(Float, 2, b, k.heads, t, d)
		pr := present.Float32s()
		half := b * k.heads * t * d
		for bi := range b {
			for h := range k.heads {
				for j := range t {
					o := ((bi*k.heads+h)*t + j) * d
					copy(pr[o:o+d], kd[(bi*t+j)*hk+h*d:][:d])
					copy(pr[half+o:half+o+d], vd[(bi*t+j)*hv+h*d:][:d])
				}
			}
		}
		out[1] = present
	}

	var attnBias *Tensor
	if !k.quant {
		attnBias = get(msAttnBias)
	}
	mask, err := k.buildMask(ec, get(maskIdx), attnBias, b, s, p, t)
	if err != nil {
		return err
	}
	if mask != nil {
		temps = append(temps, mask)
	}
	sa := selfAttention{heads: k.heads, scale: k.scale}
	return sa.Run(ec, []*Tensor{qs, ks, vs, mask}, out[:1])
}

// buildMask returns the additive mask [b, 1 or heads, s, t] combining
// mask_index, unidirectional and attention_bias, or nil when there is none.
// A key excluded by mask_index gets mask_filter_value (whatever the form:
// lengths, start and end positions, raw 0/1 masks); one in the future of a
// unidirectional query gets -MaxFloat32, so it is out even where
// mask_index excludes every other key.
func (k *msAttention) buildMask(ec *Context, mi, bias *Tensor, b, s, p, t int) (*Tensor, error) {
	if mi == nil && bias == nil && !k.causal {
		return nil, nil
	}
	var idx []int64
	if mi != nil {
		if mi.DType != Int32 && mi.DType != Int64 {
			return nil, fmt.Errorf("mask_index must be int32, got %s", mi.DType)
		}
		idx, _ = mi.AsInt64s()
		ok := false
		switch len(mi.Shape) {
		case 1:
			ok = mi.Shape[0] == b || mi.Shape[0] == 2*b
		case 2:
			ok = mi.Shape[0] == b && mi.Shape[1] == t
		case 3:
			ok = mi.Shape[0] == b && mi.Shape[1] == s && mi.Shape[2] == t
		case 4:
			ok = mi.Shape[0] == b && mi.Shape[1] == 1 && mi.Shape[2] >= t && mi.Shape[3] >= t && mi.Shape[2] == mi.Shape[3]
		}
		if !ok {
			return nil, fmt.Errorf("mask_index of shape %s fits none of [%d], [%d], [%d, %d], [%d, %d, %d], [%d, 1, max, max]",
				ShapeString(mi.Shape), b, 2*b, b, t, b, s, t, b)
		}
	}
	hm := 1
	var bv []float32
	var bst [4]int
	if bias != nil {
		if bias.DType != Float || len(bias.Shape) != 4 || (bias.Shape[0] != 1 && bias.Shape[0] != b) ||
			(bias.Shape[1] != 1 && bias.Shape[1] != k.heads) || bias.Shape[2] != s || bias.Shape[3] != t {
			return nil, fmt.Errorf("attention_bias must be float32 [%d or 1, %d or 1, %d, %d], got %s", b, k.heads, s, t, bias)
		}
		if bias.Shape[1] != 1 {
			hm = k.heads
		}
		copy(bst[:], BroadcastStrides(bias.Shape, []int{b, hm, s, t}))
		bv = bias.Float32s()
	}
	m := ec.Empty(Float, b, hm, s, t)
	md := m.Float32s()
	for bi := range b {
		for h := range hm {
			for i := range s {
				row := md[((bi*hm+h)*s+i)*t:][:t]
				for j := range t {
					masked := false
					if idx != nil {
						switch len(mi.Shape) {
						case 1:
							masked = int64(j) >= idx[bi] || (len(idx) == 2*b && int64(j) < idx[b+bi])
						case 2:
							masked = idx[bi*t+j] == 0
						case 3:
							masked = idx[(bi*s+i)*t+j] == 0
						case 4:
							mx := mi.Shape[2]
							masked = idx[(bi*mx+p+i)*mx+j] == 0
						}
					}
					v := float32(0)
					if masked {
						v = k.maskFilter
					}
					// Future keys are excluded outright (as onnxruntime
					// does), not by mask_filter_value.
					if k.causal && j > p+i {
						v = -math.MaxFloat32
					}
					if bv != nil {
						v += bv[bi*bst[0]+h*bst[1]+i*bst[2]+j*bst[3]]
					}
					row[j] = v
				}
			}
		}
	}
	return m, nil
}
