package ops

import (
	"fmt"
	"math"
)

// This file implements the ai.onnx Attention operator (opsets 23 and 24) and
// RotaryEmbedding (opset 23).

func registerAttention(r *Registry) {
	r.Add("", "Attention", 23, newAttention)
	r.Add("", "RotaryEmbedding", 23, newRotaryEmbedding)
	registerContrib(r)
}

type attentionKernel struct {
	causal    bool
	qHeads    int // 0 when absent
	kvHeads   int
	mode      int // qk_matmul_output_mode
	scale     float32
	hasScale  bool
	softcap   float32
	precision DType
	hasNonpad bool // opset 24 nonpad_kv_seqlen input allowed
}

func newAttention(n *Node) (any, error) {
	k := &attentionKernel{
		causal:   n.Attrs.Int("is_causal", 0) != 0,
		qHeads:   int(n.Attrs.Int("q_num_heads", 0)),
		kvHeads:  int(n.Attrs.Int("kv_num_heads", 0)),
		mode:     int(n.Attrs.Int("qk_matmul_output_mode", 0)),
		scale:    n.Attrs.Float("scale", 0),
		hasScale: n.Attrs.Has("scale"),
		softcap:  n.Attrs.Float("softcap", 0),
	}
	k.precision = DType(n.Attrs.Int("softmax_precision", 0))
	if k.mode < 0 || k.mode > 3 {
		return nil, fmt.Errorf("qk_matmul_output_mode must be 0..3, got %d", k.mode)
	}
	if k.qHeads < 0 || k.kvHeads < 0 {
		return nil, fmt.Errorf("q_num_heads and kv_num_heads must be positive")
	}
	if k.softcap < 0 {
		return nil, fmt.Errorf("softcap must not be negative, got %g", k.softcap)
	}
	k.hasNonpad = n.Version >= 24
	return k, nil
}

// attnLayout describes Q, K or V as [batch, heads, seq, headSize] over a 3-D
// [batch, seq, heads*headSize] or 4-D [batch, heads, seq, headSize] tensor.
type attnLayout struct {
	b, h, s, d int
	threeD     bool
}

func attnLayoutOf(shape []int, heads int, name string) (attnLayout, error) {
	switch len(shape) {
	case 4:
		return attnLayout{b: shape[0], h: shape[1], s: shape[2], d: shape[3]}, nil
	case 3:
		if heads <= 0 {
			return attnLayout{}, fmt.Errorf("3-D %s needs the q_num_heads and kv_num_heads attributes", name)
		}
		if shape[2]%heads != 0 {
			return attnLayout{}, fmt.Errorf("%s hidden size %d is not a multiple of %d heads", name, shape[2], heads)
		}
		return attnLayout{b: shape[0], h: heads, s: shape[1], d: shape[2] / heads, threeD: true}, nil
	}
	return attnLayout{}, fmt.Errorf("%s must be 3-D or 4-D, got shape %s", name, ShapeString(shape))
}

// gather copies src (laid out as l) into dst as contiguous [b, h, s, d],
// multiplied by mul.
func (l attnLayout) gather(dst, src []float32, mul float32) {
	if !l.threeD {
		if mul == 1 {
			copy(dst, src)
			return
		}
		for i, v := range src {
			dst[i] = v * mul
		}
		return
	}
	for b := 0; b < l.b; b++ {
		for h := 0; h < l.h; h++ {
			for s := 0; s < l.s; s++ {
				in := src[((b*l.s+s)*l.h+h)*l.d:][:l.d]
				o := dst[((b*l.h+h)*l.s+s)*l.d:][:l.d]
				for i, v := range in {
					o[i] = v * mul
				}
			}
		}
	}
}

func (k *attentionKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 3 || in[0] == nil || in[1] == nil || in[2] == nil {
		return fmt.Errorf("Attention needs Q, K and V")
	}
	q, kt, vt := in[0], in[1], in[2]
	opt := func(i int) *Tensor {
		if i < len(in) {
			return in[i]
		}
		return nil
	}
	mask, pastK, pastV, nonpad := opt(3), opt(4), opt(5), opt(6)
	if nonpad != nil && !k.hasNonpad {
		return fmt.Errorf("nonpad_kv_seqlen needs opset 24")
	}
	dt := q.DType
	if dt != Float && dt != Float16 && dt != BFloat16 && dt != Double {
		return fmt.Errorf("Attention does not support %s", dt)
	}
	if kt.DType != dt || vt.DType != dt {
		return fmt.Errorf("Attention Q, K and V types differ")
	}
	if len(q.Shape) != len(kt.Shape) || len(q.Shape) != len(vt.Shape) {
		return fmt.Errorf("Attention Q, K and V must have the same rank")
	}
	ql, err := attnLayoutOf(q.Shape, k.qHeads, "Q")
	if err != nil {
		return err
	}
	kl, err := attnLayoutOf(kt.Shape, k.kvHeads, "K")
	if err != nil {
		return err
	}
	vl, err := attnLayoutOf(vt.Shape, k.kvHeads, "V")
	if err != nil {
		return err
	}
	if kl.b != ql.b || vl.b != ql.b || kl.h != vl.h || kl.s != vl.s || kl.d != ql.d {
		return fmt.Errorf("Attention shapes Q %s, K %s, V %s are inconsistent", ShapeString(q.Shape), ShapeString(kt.Shape), ShapeString(vt.Shape))
	}
	if kl.h == 0 || ql.h%kl.h != 0 {
		return fmt.Errorf("q heads (%d) must be a multiple of kv heads (%d)", ql.h, kl.h)
	}
	B, Hq, Hkv, Sq, D, Dv := ql.b, ql.h, kl.h, ql.s, ql.d, vl.d
	past := 0
	if (pastK == nil) != (pastV == nil) {
		return fmt.Errorf("past_key and past_value must be given together")
	}
	if pastK != nil {
		if nonpad != nil {
			return fmt.Errorf("nonpad_kv_seqlen cannot be combined with past_key")
		}
		ps, vs := pastK.Shape, pastV.Shape
		if len(ps) != 4 || len(vs) != 4 || ps[0] != B || ps[1] != Hkv || ps[3] != D || vs[0] != B || vs[1] != Hkv || vs[3] != Dv || vs[2] != ps[2] {
			return fmt.Errorf("past_key %s / past_value %s do not match K and V", ShapeString(ps), ShapeString(vs))
		}
		if pastK.DType != dt || pastV.DType != dt {
			return fmt.Errorf("past_key and past_value must have the type of Q")
		}
		past = ps[2]
	}
	L := past + kl.s

	// Scaling: Q and K are each multiplied by sqrt(scale).
	scale := k.scale
	if !k.hasScale || scale == 0 {
		scale = float32(1 / math.Sqrt(float64(D)))
	}
	sq := float32(math.Sqrt(float64(scale)))

	// Convert inputs to contiguous float32 [b, h, s, d].
	qf := ec.Empty(Float, B, Hq, Sq, D)
	defer ec.Release(qf)
	kf := ec.Empty(Float, B, Hkv, L, D)
	defer ec.Release(kf)
	vf := ec.Empty(Float, B, Hkv, L, Dv)
	defer ec.Release(vf)
	if err := attnLoad(ec, qf.Float32s(), q, ql, 0, 0, sq); err != nil {
		return err
	}
	if err := attnLoad(ec, kf.Float32s(), kt, kl, past, L, 1); err != nil {
		return err
	}
	if err := attnLoad(ec, vf.Float32s(), vt, vl, past, L, 1); err != nil {
		return err
	}
	if pastK != nil {
		if err := attnLoadPast(ec, kf.Float32s(), pastK, L); err != nil {
			return err
		}
		if err := attnLoadPast(ec, vf.Float32s(), pastV, L); err != nil {
			return err
		}
	}
	// Present key/value outputs (before K is scaled).
	if len(out) > 1 {
		out[1] = attnStore(ec, kf.Float32s(), dt, B, Hkv, L, D)
	}
	if len(out) > 2 {
		out[2] = attnStore(ec, vf.Float32s(), dt, B, Hkv, L, Dv)
	}
	if sq != 1 {
		kd := kf.Float32s()
		for i := range kd {
			kd[i] *= sq
		}
	}

	// Additive bias [B or 1, Hq or 1, Sq, L] from the mask, causality and
	// the non-padded lengths.
	bias, biasB, biasH, err := k.buildBias(ec, mask, nonpad, B, Hq, Sq, L, past)
	if err != nil {
		return err
	}
	defer ec.Release(bias)

	scores := ec.Empty(Float, B, Hq, Sq, L)
	defer ec.Release(scores)
	var qk []float32
	if len(out) > 3 {
		qkT := ec.Empty(Float, B, Hq, Sq, L)
		defer ec.Release(qkT)
		qk = qkT.Float32s()
	}
	yf := ec.Empty(Float, B, Hq, Sq, Dv)
	defer ec.Release(yf)

	qd, kd, vd, sd, yd := qf.Float32s(), kf.Float32s(), vf.Float32s(), scores.Float32s(), yf.Float32s()
	var bd []float32
	if bias != nil {
		bd = bias.Float32s()
	}
	reps := Hq / Hkv
	softcap := k.softcap
	mode := k.mode
	grain := max(1, (1<<16)/max(1, Sq*L*D))
	ec.Parallel(B*Hq, grain, func(lo, hi int) {
		for bh := lo; bh < hi; bh++ {
			b, h := bh/Hq, bh%Hq
			kvh := b*Hkv + h/reps
			s := sd[bh*Sq*L : (bh+1)*Sq*L]
			sgemm(false, true, Sq, L, D, 1, qd[bh*Sq*D:], D, kd[kvh*L*D:], D, 0, s, L, nil)
			if softcap > 0 {
				for i, v := range s {
					s[i] = softcap * float32(math.Tanh(float64(v/softcap)))
				}
			}
			var qko []float32
			if qk != nil {
				qko = qk[bh*Sq*L : (bh+1)*Sq*L]
				if mode <= 1 {
					copy(qko, s)
				}
			}
			for i := 0; i < Sq; i++ {
				row := s[i*L : (i+1)*L]
				var brow []float32
				if bd != nil {
					bb, hh := b, h
					if biasB == 1 {
						bb = 0
					}
					if biasH == 1 {
						hh = 0
					}
					brow = bd[((bb*biasH+hh)*Sq+i)*L:][:L]
					for j := range row {
						row[j] += brow[j]
					}
				}
				if qko != nil && mode == 2 {
					copy(qko[i*L:(i+1)*L], row)
				}
				attnSoftmaxRow(row, brow)
				if qko != nil && mode == 3 {
					copy(qko[i*L:(i+1)*L], row)
				}
			}
			sgemm(false, false, Sq, Dv, L, 1, s, L, vd[kvh*L*Dv:], Dv, 0, yd[bh*Sq*Dv:], Dv, nil)
		}
	})

	// Y in Q's layout.
	var y *Tensor
	if ql.threeD {
		y = ec.Empty(dt, B, Sq, Hq*Dv)
		tmp := ec.Empty(Float, B, Sq, Hq*Dv)
		t := tmp.Float32s()
		for b := 0; b < B; b++ {
			for h := 0; h < Hq; h++ {
				for s := 0; s < Sq; s++ {
					copy(t[((b*Sq+s)*Hq+h)*Dv:][:Dv], yd[((b*Hq+h)*Sq+s)*Dv:][:Dv])
				}
			}
		}
		narrowFloat32s(y.Data, t)
		ec.Release(tmp)
	} else {
		y = ec.Empty(dt, B, Hq, Sq, Dv)
		narrowFloat32s(y.Data, yd)
	}
	out[0] = y
	if len(out) > 3 {
		o := ec.Empty(dt, B, Hq, Sq, L)
		narrowFloat32s(o.Data, qk)
		out[3] = o
	}
	return nil
}

// attnSoftmaxRow applies softmax in place. A row whose bias is entirely
// -inf (no attendable key) becomes all zeros, as does a row of scores that
// are all -inf.
func attnSoftmaxRow(row, bias []float32) {
	if bias != nil {
		masked := true
		for _, v := range bias {
			if !math.IsInf(float64(v), -1) {
				masked = false
				break
			}
		}
		if masked {
			clear(row)
			return
		}
	}
	mx := float32(math.Inf(-1))
	for _, v := range row {
		if v > mx {
			mx = v
		}
	}
	if math.IsInf(float64(mx), -1) {
		clear(row)
		return
	}
	var sum float32
	for j, v := range row {
		e := float32(math.Exp(float64(v - mx)))
		row[j] = e
		sum += e
	}
	if sum == 0 {
		return
	}
	inv := 1 / sum
	for j := range row {
		row[j] *= inv
	}
}

// attnLoad converts Q, K or V into contiguous float32 [b, h, seqTotal, d],
// writing positions [off, off+s) of each head (seqTotal = 0 means s).
func attnLoad(ec *Context, dst []float32, t *Tensor, l attnLayout, off, seqTotal int, mul float32) error {
	src, tmp, err := attnFloat(ec, t)
	if err != nil {
		return err
	}
	defer ec.Release(tmp)
	if seqTotal == 0 || (off == 0 && seqTotal == l.s) {
		l.gather(dst, src, mul)
		return nil
	}
	for b := 0; b < l.b; b++ {
		for h := 0; h < l.h; h++ {
			for s := 0; s < l.s; s++ {
				var in []float32
				if l.threeD {
					in = src[((b*l.s+s)*l.h+h)*l.d:][:l.d]
				} else {
					in = src[((b*l.h+h)*l.s+s)*l.d:][:l.d]
				}
				o := dst[((b*l.h+h)*seqTotal+off+s)*l.d:][:l.d]
				for i, v := range in {
					o[i] = v * mul
				}
			}
		}
	}
	return nil
}

// attnLoadPast copies a past cache [b, h, p, d] into the first p positions
// of each head of dst [b, h, seqTotal, d].
func attnLoadPast(ec *Context, dst []float32, t *Tensor, seqTotal int) error {
	src, tmp, err := attnFloat(ec, t)
	if err != nil {
		return err
	}
	defer ec.Release(tmp)
	b, h, p, d := t.Shape[0], t.Shape[1], t.Shape[2], t.Shape[3]
	for i := 0; i < b*h; i++ {
		copy(dst[i*seqTotal*d:][:p*d], src[i*p*d:][:p*d])
	}
	return nil
}

// attnFloat returns t's data as float32 (converting into a temporary).
func attnFloat(ec *Context, t *Tensor) ([]float32, *Tensor, error) {
	if s, ok := t.Data.([]float32); ok {
		return s, nil, nil
	}
	if !t.DType.IsFloat() {
		return nil, nil, fmt.Errorf("expected a float tensor, got %s", t.DType)
	}
	tmp := ec.Empty(Float, t.Shape...)
	widenFloat32s(tmp.Float32s(), t.Data)
	return tmp.Float32s(), tmp, nil
}

// attnStore returns a new tensor of type dt holding src.
func attnStore(ec *Context, src []float32, dt DType, shape ...int) *Tensor {
	t := ec.Empty(dt, shape...)
	narrowFloat32s(t.Data, src)
	return t
}

// buildBias materializes the additive attention bias, or returns nil when
// nothing is masked. Its shape is [bB, bH, Sq, L] with bB in {1, B} and bH
// in {1, Hq}.
func (k *attentionKernel) buildBias(ec *Context, mask, nonpad *Tensor, B, Hq, Sq, L, past int) (*Tensor, int, int, error) {
	if mask == nil && !k.causal && nonpad == nil {
		return nil, 0, 0, nil
	}
	var lens []int64
	if nonpad != nil {
		var err error
		lens, err = nonpad.AsInt64s()
		if err != nil {
			return nil, 0, 0, fmt.Errorf("nonpad_kv_seqlen: %w", err)
		}
		if len(lens) != B {
			return nil, 0, 0, fmt.Errorf("nonpad_kv_seqlen has %d elements for batch %d", len(lens), B)
		}
	}
	bB, bH := 1, 1
	var mvals []float32
	var mshape []int
	if mask != nil {
		mshape = mask.Shape
		r := len(mshape)
		if r < 2 || r > 4 {
			return nil, 0, 0, fmt.Errorf("attn_mask must be 2-D to 4-D, got shape %s", ShapeString(mshape))
		}
		if mshape[r-2] != Sq && mshape[r-2] != 1 {
			return nil, 0, 0, fmt.Errorf("attn_mask shape %s does not match q sequence length %d", ShapeString(mshape), Sq)
		}
		if mshape[r-1] > L {
			return nil, 0, 0, fmt.Errorf("attn_mask shape %s is longer than the kv sequence %d", ShapeString(mshape), L)
		}
		if r == 4 {
			if mshape[0] != 1 && mshape[0] != B || mshape[1] != 1 && mshape[1] != Hq {
				return nil, 0, 0, fmt.Errorf("attn_mask shape %s does not broadcast to [%d %d %d %d]", ShapeString(mshape), B, Hq, Sq, L)
			}
			bB, bH = mshape[0], mshape[1]
		}
		if r == 3 {
			if mshape[0] != 1 && mshape[0] != Hq {
				return nil, 0, 0, fmt.Errorf("attn_mask shape %s does not broadcast to [%d %d %d %d]", ShapeString(mshape), B, Hq, Sq, L)
			}
			bH = mshape[0]
		}
		switch mask.DType {
		case Bool:
			bv := mask.Bools()
			mt := ec.Empty(Float, mask.Shape...)
			defer ec.Release(mt)
			mvals = mt.Float32s()
			ninf := float32(math.Inf(-1))
			for i, v := range bv {
				mvals[i] = 0
				if !v {
					mvals[i] = ninf
				}
			}
		default:
			if !mask.DType.IsFloat() {
				return nil, 0, 0, fmt.Errorf("attn_mask must be bool or float, got %s", mask.DType)
			}
			var tmp *Tensor
			var err error
			mvals, tmp, err = attnFloat(ec, mask)
			if err != nil {
				return nil, 0, 0, err
			}
			defer ec.Release(tmp)
		}
	}
	if lens != nil {
		bB = B
	}
	bias := ec.Empty(Float, bB, bH, Sq, L)
	bd := bias.Float32s()
	ninf := float32(math.Inf(-1))
	for b := 0; b < bB; b++ {
		for h := 0; h < bH; h++ {
			for i := 0; i < Sq; i++ {
				row := bd[((b*bH+h)*Sq+i)*L:][:L]
				// mask
				if mvals != nil {
					r := len(mshape)
					mq, ml := mshape[r-2], mshape[r-1]
					mi := i
					if mq == 1 {
						mi = 0
					}
					off := 0
					switch r {
					case 4:
						mb, mh := b, h
						if mshape[0] == 1 {
							mb = 0
						}
						if mshape[1] == 1 {
							mh = 0
						}
						off = ((mb*mshape[1]+mh)*mq + mi) * ml
					case 3:
						mh := h
						if mshape[0] == 1 {
							mh = 0
						}
						off = (mh*mq + mi) * ml
					default:
						off = mi * ml
					}
					copy(row, mvals[off:off+ml])
					for j := ml; j < L; j++ {
						row[j] = ninf
					}
				} else {
					clear(row)
				}
				if k.causal {
					offset := past
					if lens != nil {
						offset = int(lens[b]) - Sq
					}
					for j := range row {
						if j > i+offset {
							row[j] += ninf
						}
					}
				}
				if lens != nil {
					for j := int(max(0, lens[b])); j < L; j++ {
						row[j] += ninf
					}
				}
			}
		}
	}
	return bias, bB, bH, nil
}
