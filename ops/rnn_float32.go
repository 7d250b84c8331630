package ops

// This file holds the float32 path of RNN, GRU and LSTM: the input
// projection of every step is one SGEMM with both biases added in its
// write-back, each step's recurrence is one SGEMM against R packed once
// (at plan time when W, R and B are constants), and the gate math runs in
// float32 on the fast sigmoid and tanh of activation_fast.go. Double and
// half-precision inputs keep the float64 path of rnn.go.

// rnnDirWeights are one direction's weights ready for the float32 path.
type rnnDirWeights struct {
	w *packedB // Wᵀ: I × G·H
	r *packedB // Rᵀ: H × G·H (GRU without linear_before_reset: H × 2H)
	// rh is Rᵀ of a GRU's candidate gate (H × H) when linear_before_reset
	// is 0: its product needs r ⊙ h first.
	rh *packedB
	// bias is Wb + Rb per gate value (nil without B). A GRU with
	// linear_before_reset keeps its candidate's Rb apart, in rbh.
	bias, rbh []float32
}

// rnnPlanWeights are the constant weights of a recurrent node packed at
// plan time, with the tensors they were packed from.
type rnnPlanWeights struct {
	w, r, b *Tensor
	dirs    []rnnDirWeights
}

// prepareFloat32 packs the node's W, R and B when they are float32
// constants of consistent shapes (nil otherwise: the run packs them).
func (k *recurrentKernel) prepareFloat32(n *Node) *rnnPlanWeights {
	if len(n.ConstInputs) < 3 {
		return nil
	}
	w, r := n.ConstInputs[1], n.ConstInputs[2]
	var b *Tensor
	if n.HasInput(3) {
		if len(n.ConstInputs) < 4 || n.ConstInputs[3] == nil {
			return nil
		}
		b = n.ConstInputs[3]
	}
	if w == nil || r == nil || w.DType != Float || r.DType != Float || (b != nil && b.DType != Float) {
		return nil
	}
	G, D := k.kind.gates(), k.dirs
	if len(r.Shape) != 3 || r.Shape[0] != D || len(w.Shape) != 3 {
		return nil
	}
	H, I := r.Shape[2], w.Shape[2]
	if H == 0 || I == 0 || r.Shape[1] != G*H || !EqualShapes(w.Shape, []int{D, G * H, I}) ||
		(b != nil && !EqualShapes(b.Shape, []int{D, 2 * G * H})) || (k.hidden != 0 && k.hidden != H) {
		return nil
	}
	pw := &rnnPlanWeights{w: w, r: r, b: b}
	for d := 0; d < D; d++ {
		pw.dirs = append(pw.dirs, k.packDir(nil, w, r, b, d, I, H))
	}
	return pw
}

// packDir packs direction d of W, R and B. With ec set the packed
// matrices live in pooled buffers appended to *bufs, to be returned after
// the run; at plan time (ec nil) they are allocated.
func (k *recurrentKernel) packDir(bufs *[]*[]float32, w, r, b *Tensor, d, I, H int) rnnDirWeights {
	G := k.kind.gates()
	GH := G * H
	pack := func(src []float32, kk, nn int) *packedB {
		var dst []float32
		if bufs == nil {
			dst = make([]float32, packedBLen(kk, nn))
		} else {
			buf := getGemmBuf(packedBLen(kk, nn))
			*bufs = append(*bufs, buf)
			dst = *buf
		}
		pb := packB(dst, true, kk, nn, src, kk)
		return &pb
	}
	wd := w.Float32s()[d*GH*I : (d+1)*GH*I]
	rd := r.Float32s()[d*GH*H : (d+1)*GH*H]
	dw := rnnDirWeights{w: pack(wd, I, GH)}
	gru := k.kind == rnnGRU
	if gru && !k.linearBeforeReset {
		dw.r = pack(rd, H, 2*H)
		dw.rh = pack(rd[2*H*H:], H, H)
	} else {
		dw.r = pack(rd, H, GH)
	}
	if b != nil {
		bd := b.Float32s()[d*2*GH : (d+1)*2*GH]
		dw.bias = make([]float32, GH)
		for j := range dw.bias {
			dw.bias[j] = bd[j] + bd[GH+j]
		}
		if gru && k.linearBeforeReset {
			// The candidate's Rb is added to R·h before the reset gate
			// multiplies it.
			dw.rbh = bd[GH+2*H : 2*GH]
			copy(dw.bias[2*H:], bd[2*H:3*H])
		}
	}
	return dw
}

// act32 applies activation a to v in float32 (the fast float32 sigmoid
// and tanh; other activations through the float64 definition).
func (a *rnnAct) act32(v float32) float32 {
	switch a.code {
	case rnnActSigmoid:
		return ewSigmoidF(v)
	case rnnActTanh:
		return ewTanhF(v)
	case rnnActRelu:
		return max(v, 0)
	}
	return float32(a.apply(float64(v)))
}

// clip32 limits v to [-clip, clip] when the node has a clip.
func (k *recurrentKernel) clip32(v float32) float32 {
	if k.clip > 0 {
		c := float32(k.clip)
		return min(max(v, -c), c)
	}
	return v
}

// runFloat32 is Run for float32 inputs, after Run has checked the shapes.
// lens holds each batch entry's sequence length.
func (k *recurrentKernel) runFloat32(ec *Context, x, w, r, b, h0T, c0T, pT *Tensor, lens []int, S, B, I, H int, stateShape []int, out []*Tensor) error {
	G, D := k.kind.gates(), k.dirs
	GH := G * H
	var tmps []*Tensor
	var bufs []*[]float32
	defer func() {
		for _, t := range tmps {
			ec.Release(t)
		}
		for _, b := range bufs {
			gemmBufPool.Put(b)
		}
	}()
	tmp := func(shape ...int) []float32 {
		t := ec.Empty(Float, shape...)
		tmps = append(tmps, t)
		return t.Float32s()
	}

	// X as [S, B, I].
	xs := x.Float32s()
	if k.layout == 1 {
		xt := tmp(S, B, I)
		for bb := 0; bb < B; bb++ {
			for s := 0; s < S; s++ {
				copy(xt[(s*B+bb)*I:(s*B+bb+1)*I], xs[(bb*S+s)*I:(bb*S+s+1)*I])
			}
		}
		xs = xt
	}
	// stateAt returns direction d's initial state rows from a [D, B, H]
	// (layout 0) or [B, D, H] (layout 1) tensor into dst.
	stateAt := func(dst []float32, t *Tensor, d int) {
		if t == nil {
			clear(dst)
			return
		}
		src := t.Float32s()
		if k.layout == 0 {
			copy(dst, src[d*B*H:(d+1)*B*H])
			return
		}
		for bb := 0; bb < B; bb++ {
			copy(dst[bb*H:(bb+1)*H], src[(bb*D+d)*H:(bb*D+d+1)*H])
		}
	}

	var weights []rnnDirWeights
	if pw := k.planned; pw != nil && sameData(w, pw.w) && sameData(r, pw.r) && (b == nil) == (pw.b == nil) && (b == nil || sameData(b, pw.b)) {
		weights = pw.dirs
	} else {
		for d := 0; d < D; d++ {
			weights = append(weights, k.packDir(&bufs, w, r, b, d, I, H))
		}
	}
	var ps []float32
	if pT != nil {
		ps = pT.Float32s()
	}

	// Y as [S, D, B, H], zero where a sequence has ended.
	var y *Tensor
	var ys []float32
	if len(out) > 0 {
		if k.layout == 0 {
			y = ec.New(Float, S, D, B, H)
			ys = y.Float32s()
		} else {
			ys = tmp(S, D, B, H)
			clear(ys)
		}
	}
	xw := tmp(S*B, GH)
	hr := tmp(B, GH)
	hs := tmp(D, B, H) // final hidden state per direction, [D, B, H]
	cs := tmp(D, B, H) // final cell state
	scratch := tmp(B, H)
	for d := 0; d < D; d++ {
		dw := &weights[d]
		reverse := k.reverse || d == 1
		acts := k.acts[d*k.kind.numActs() : (d+1)*k.kind.numActs()]
		var pd []float32
		if ps != nil {
			pd = ps[d*3*H : (d+1)*3*H]
		}
		sgemmPackedBias(false, S*B, 1, xs, I, dw.w, dw.bias, 0, xw, GH, ec.Parallel)
		h := hs[d*B*H : (d+1)*B*H]
		c := cs[d*B*H : (d+1)*B*H]
		stateAt(h, h0T, d)
		stateAt(c, c0T, d)
		for s := 0; s < S; s++ {
			if err := ec.Err(); err != nil {
				return err
			}
			sgemmPacked(false, B, 1, h, H, dw.r, 0, hr, GH, ec.Parallel)
			if dw.rh != nil {
				// GRU: the candidate's recurrence reads r ⊙ h.
				for bb := 0; bb < B; bb++ {
					t := rnnStep(s, lens[bb], reverse)
					if t < 0 {
						continue
					}
					xg := xw[(t*B+bb)*GH : (t*B+bb+1)*GH]
					hg := hr[bb*GH : (bb+1)*GH]
					hp := h[bb*H : (bb+1)*H]
					sc := scratch[bb*H : (bb+1)*H]
					for j := range sc {
						sc[j] = acts[0].act32(k.clip32(xg[H+j]+hg[H+j])) * hp[j]
					}
				}
				sgemmPacked(false, B, 1, scratch, H, dw.rh, 0, hr[2*H:], GH, ec.Parallel)
			}
			for bb := 0; bb < B; bb++ {
				t := rnnStep(s, lens[bb], reverse)
				if t < 0 {
					continue
				}
				xg := xw[(t*B+bb)*GH : (t*B+bb+1)*GH]
				hg := hr[bb*GH : (bb+1)*GH]
				hp := h[bb*H : (bb+1)*H]
				switch k.kind {
				case rnnSimple:
					for j := range hp {
						hp[j] = acts[0].act32(k.clip32(xg[j] + hg[j]))
					}
				case rnnGRU:
					k.gruGates(acts, xg, hg, hp, dw.rbh, H)
				default:
					k.lstmGates(acts, xg, hg, hp, c[bb*H:(bb+1)*H], pd, H)
				}
				if ys != nil {
					copy(ys[((t*D+d)*B+bb)*H:((t*D+d)*B+bb+1)*H], hp)
				}
			}
		}
	}

	if len(out) > 0 {
		if k.layout == 1 {
			y = ec.Empty(Float, B, S, D, H)
			rnnBatchMajorY(y.Float32s(), ys, S, D, B, H)
		}
		out[0] = y
	}
	for i, st := range [][]float32{hs, cs} {
		if len(out) <= i+1 {
			break
		}
		t := ec.Empty(Float, stateShape...)
		td := t.Float32s()
		if k.layout == 0 {
			copy(td, st)
		} else {
			rnnBatchMajorState(td, st, D, B, H)
		}
		out[i+1] = t
	}
	return nil
}

// rnnStep returns the time index a batch entry of length n handles at
// step s (reversed for a backward direction), or -1 once it has ended.
func rnnStep(s, n int, reverse bool) int {
	if s >= n {
		return -1
	}
	if reverse {
		return n - 1 - s
	}
	return s
}

// lstmGates updates one batch entry's hidden state hp and cell state cp
// from the gates' input and recurrence products xg and hg (i, o, f, c
// blocks of H, biases included), with peepholes pd (nil: none).
func (k *recurrentKernel) lstmGates(acts []rnnAct, xg, hg, hp, cp, pd []float32, H int) {
	xg, hg = xg[:4*H], hg[:4*H]
	hp, cp = hp[:H], cp[:H]
	plain := pd == nil && k.clip == 0 && !k.inputForget &&
		acts[0].code == rnnActSigmoid && acts[1].code == rnnActTanh && acts[2].code == rnnActTanh
	if plain {
		vecmath().lstmCell(xg, hg, cp, hp)
		return
	}
	for j := range hp {
		vi, vo, vf, vc := xg[j]+hg[j], xg[H+j]+hg[H+j], xg[2*H+j]+hg[2*H+j], xg[3*H+j]+hg[3*H+j]
		if pd != nil {
			vi += pd[j] * cp[j]
			vf += pd[2*H+j] * cp[j]
		}
		ig := acts[0].act32(k.clip32(vi))
		fg := acts[0].act32(k.clip32(vf))
		if k.inputForget {
			fg = 1 - ig
		}
		cg := acts[1].act32(k.clip32(vc))
		c := fg*cp[j] + ig*cg
		if pd != nil {
			vo += pd[H+j] * c
		}
		og := acts[0].act32(k.clip32(vo))
		cp[j] = c
		hp[j] = og * acts[2].act32(c)
	}
}

// gruGates updates one batch entry's hidden state hp from the z, r, h
// gate products (biases included except, with linear_before_reset, the
// candidate's Rb in rbh).
func (k *recurrentKernel) gruGates(acts []rnnAct, xg, hg, hp, rbh []float32, H int) {
	for j := range hp[:H] {
		z := acts[0].act32(k.clip32(xg[j] + hg[j]))
		var hc float32
		if k.linearBeforeReset {
			rg := acts[0].act32(k.clip32(xg[H+j] + hg[H+j]))
			lin := hg[2*H+j]
			if rbh != nil {
				lin += rbh[j]
			}
			hc = acts[1].act32(k.clip32(xg[2*H+j] + rg*lin))
		} else {
			hc = acts[1].act32(k.clip32(xg[2*H+j] + hg[2*H+j]))
		}
		hp[j] = (1-z)*hc + z*hp[j]
	}
}
