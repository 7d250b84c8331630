package ops

import (
	"fmt"
	"math"
)

// This file implements the com.microsoft (onnxruntime contrib) operators
// that transformer exports use: the GELU variants, the fused skip and
// embedding layer normalizations and the dynamically quantized products.

// registerContrib registers the com.microsoft transformer operators.
func registerContrib(r *Registry) {
	r.AddKernel(DomainMicrosoft, "Gelu", 1, halfKernel{geluKernel{}})
	r.AddKernel(DomainMicrosoft, "BiasGelu", 1, halfKernel{geluKernel{bias: true}})
	r.AddKernel(DomainMicrosoft, "FastGelu", 1, halfKernel{geluKernel{fast: true, bias: true}})
	r.Add(DomainMicrosoft, "SkipLayerNormalization", 1, halfFactory(newSkipLayerNorm(false)))
	r.Add(DomainMicrosoft, "SkipSimplifiedLayerNormalization", 1, halfFactory(newSkipLayerNorm(true)))
	r.Add(DomainMicrosoft, "EmbedLayerNormalization", 1, halfFactory(newEmbedLayerNorm))
	r.Add(DomainMicrosoft, "MatMulIntegerToFloat", 1, newMatMulIntegerToFloat(false))
	r.Add(DomainMicrosoft, "DynamicQuantizeMatMul", 1, newMatMulIntegerToFloat(true))
}

// geluKernel computes GELU, exactly (with erf) or with the tanh
// approximation, optionally adding a bias broadcast along the last axis.
type geluKernel struct {
	fast bool // tanh approximation (FastGelu)
	bias bool // second input is a bias
}

func (k geluKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 1 || in[0] == nil {
		return fmt.Errorf("GELU needs an input")
	}
	x := in[0]
	var b *Tensor
	if k.bias && len(in) > 1 {
		b = in[1]
	}
	if !k.fast && k.bias && b == nil {
		return fmt.Errorf("BiasGelu needs a bias input")
	}
	xs, xt, err := attnFloat(ec, x)
	if err != nil {
		return err
	}
	defer ec.Release(xt)
	var bs []float32
	if b != nil {
		if b.DType != x.DType {
			return fmt.Errorf("bias type %s differs from input type %s", b.DType, x.DType)
		}
		if len(x.Shape) == 0 || b.Len() != x.Shape[len(x.Shape)-1] {
			return fmt.Errorf("bias of shape %s does not match the last dimension of input shape %s", ShapeString(b.Shape), ShapeString(x.Shape))
		}
		var bt *Tensor
		bs, bt, err = attnFloat(ec, b)
		if err != nil {
			return err
		}
		defer ec.Release(bt)
	}
	yt := ec.Empty(Float, x.Shape...)
	ys := yt.Float32s()
	geluJobs.run(ec, len(xs), 8192, geluState{xs: xs, ys: ys, bs: bs, fast: k.fast})
	if x.DType == Float {
		out[0] = yt
		return nil
	}
	y := ec.Empty(x.DType, x.Shape...)
	narrowFloat32s(y.Data, ys)
	ec.Release(yt)
	out[0] = y
	return nil
}

// gelu returns x*Φ(x), or its tanh approximation when fast is set.
// geluState is one Gelu/BiasGelu/FastGelu call over flat data.
type geluState struct {
	xs, ys, bs []float32
	fast       bool
}

var geluJobs = newParJobs(func(s *geluState, lo, hi int) {
	src := s.xs[lo:hi]
	if n := len(s.bs); n > 0 {
		// add the bias by row segments
		for i := lo; i < hi; {
			j := i % n
			seg := min(hi-i, n-j)
			x, y, b := s.xs[i:i+seg], s.ys[i:i+seg], s.bs[j:j+seg]
			for t, v := range x {
				y[t] = v + b[t]
			}
			i += seg
		}
		src = s.ys[lo:hi]
	}
	if s.fast {
		for i, v := range src {
			s.ys[lo+i] = gelu(v, true)
		}
		return
	}
	// the vectorised erf GELU of the fused path (absolute error below
	// 3e-7·|x|)
	vecmath().gelu(s.ys[lo:hi], src)
})

func gelu(x float32, fast bool) float32 {
	v := float64(x)
	if fast {
		const c = 0.7978845608028654 // sqrt(2/pi)
		return float32(0.5 * v * (1 + math.Tanh(c*(v+0.044715*v*v*v))))
	}
	return float32(0.5 * v * (1 + math.Erf(v/math.Sqrt2)))
}

// skipLayerNormKernel implements SkipLayerNormalization (and its RMS
// variant SkipSimplifiedLayerNormalization): s = input + skip + bias, then
// layer normalization over the last axis scaled by gamma and shifted by beta.
type skipLayerNormKernel struct {
	eps        float32
	simplified bool
}

func newSkipLayerNorm(simplified bool) Factory {
	return func(n *Node) (any, error) {
		eps := n.Attrs.Float("epsilon", 1e-12)
		if eps < 0 {
			return nil, fmt.Errorf("epsilon must not be negative, got %g", eps)
		}
		return &skipLayerNormKernel{eps: eps, simplified: simplified}, nil
	}
}

func (k *skipLayerNormKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 3 || in[0] == nil || in[1] == nil || in[2] == nil {
		return fmt.Errorf("SkipLayerNormalization needs input, skip and gamma")
	}
	x, skip, gamma := in[0], in[1], in[2]
	var beta, bias *Tensor
	if k.simplified {
		if len(in) > 3 {
			bias = in[3]
		}
	} else {
		if len(in) > 3 {
			beta = in[3]
		}
		if len(in) > 4 {
			bias = in[4]
		}
	}
	if len(x.Shape) < 1 {
		return fmt.Errorf("input must have at least one dimension")
	}
	h := x.Shape[len(x.Shape)-1]
	rows := x.Len() / max(1, h)
	sl := skip.Len()
	bad := skip.DType != x.DType || len(skip.Shape) == 0 || skip.Shape[len(skip.Shape)-1] != h
	if x.Len() > 0 { // an empty input (a batch of 0) has an empty output
		bad = bad || sl == 0 || sl%h != 0 || x.Len()%sl != 0
	}
	if bad {
		return fmt.Errorf("skip of shape %s does not match input shape %s", ShapeString(skip.Shape), ShapeString(x.Shape))
	}
	for i, t := range [...]*Tensor{gamma, beta, bias} {
		if t != nil && (t.Len() != h || t.DType != x.DType) {
			name := [...]string{"gamma", "beta", "bias"}[i]
			return fmt.Errorf("%s of shape %s must hold %d elements of %s", name, ShapeString(t.Shape), h, x.DType)
		}
	}
	if x.DType == Float && len(out) == 1 {
		out[0] = k.runF32(ec, x, skip, gamma, beta, bias, h, rows)
		return nil
	}
	var temps []*Tensor
	defer func() {
		for _, t := range temps {
			ec.Release(t)
		}
	}()
	load := func(t *Tensor) ([]float32, error) {
		if t == nil {
			return nil, nil
		}
		s, tmp, err := attnFloat(ec, t)
		if tmp != nil {
			temps = append(temps, tmp)
		}
		return s, err
	}
	xs, err := load(x)
	if err != nil {
		return err
	}
	ss, err := load(skip)
	if err != nil {
		return err
	}
	gs, err := load(gamma)
	if err != nil {
		return err
	}
	bes, err := load(beta)
	if err != nil {
		return err
	}
	bis, err := load(bias)
	if err != nil {
		return err
	}
	yt := ec.Empty(Float, x.Shape...)
	temps = append(temps, yt)
	st := ec.Empty(Float, x.Shape...)
	temps = append(temps, st)
	statShape := append(append([]int{}, x.Shape[:len(x.Shape)-1]...), 1)
	meanT, invT := ec.Empty(Float, statShape...), ec.Empty(Float, statShape...)
	temps = append(temps, meanT, invT)
	ys, sum, means, invs := yt.Float32s(), st.Float32s(), meanT.Float32s(), invT.Float32s()
	eps := float64(k.eps)
	ec.Parallel(rows, max(1, 4096/max(1, h)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			s := sum[r*h : (r+1)*h]
			xr := xs[r*h : (r+1)*h]
			sk := ss[(r*h)%len(ss):][:h]
			var mean float64
			for i := range s {
				v := xr[i] + sk[i]
				if bis != nil {
					v += bis[i]
				}
				s[i] = v
				mean += float64(v)
			}
			mean /= float64(h)
			var sq float64
			for _, v := range s {
				d := float64(v)
				if !k.simplified {
					d -= mean
				}
				sq += d * d
			}
			inv := 1 / math.Sqrt(sq/float64(h)+eps)
			if k.simplified {
				mean = 0
			}
			means[r], invs[r] = float32(mean), float32(inv)
			y := ys[r*h : (r+1)*h]
			for i, v := range s {
				o := float32((float64(v)-mean)*inv) * gs[i]
				if bes != nil {
					o += bes[i]
				}
				y[i] = o
			}
		}
	})
	emit := func(i int, src []float32, dt DType, shape []int) {
		if i >= len(out) {
			return
		}
		t := ec.Empty(dt, shape...)
		narrowFloat32s(t.Data, src)
		out[i] = t
	}
	emit(0, ys, x.DType, x.Shape)
	emit(1, means, Float, statShape)
	emit(2, invs, Float, statShape)
	emit(3, sum, x.DType, x.Shape)
	return nil
}

// runF32 is the float32 path when only the normalized output is wanted
// (the fused transformer graph): it writes straight into the output, with
// no temporaries.
func (k *skipLayerNormKernel) runF32(ec *Context, x, skip, gamma, beta, bias *Tensor, h, rows int) *Tensor {
	y := ec.Empty(Float, x.Shape...)
	ys, xs, ss, gs := y.Float32s(), x.Float32s(), skip.Float32s(), gamma.Float32s()
	var bes, bis []float32
	if beta != nil {
		bes = beta.Float32s()
	}
	if bias != nil {
		bis = bias.Float32s()
	}
	skipLNJobs.run(ec, rows, max(1, 8192/max(1, h)), skipLNState{ys: ys, xs: xs, ss: ss, gs: gs, bes: bes, bis: bis,
		h: h, eps: float64(k.eps), simplified: k.simplified})
	return y
}

// skipLNState is one float32 SkipLayerNormalization over rows of width h.
type skipLNState struct {
	ys, xs, ss, gs, bes, bis []float32
	h                        int
	eps                      float64
	simplified               bool
}

var skipLNJobs = newParJobs(func(s *skipLNState, lo, hi int) {
	vm := vecmath()
	h := float64(s.h)
	for r := lo; r < hi; r++ {
		yr := s.ys[r*s.h : (r+1)*s.h]
		xr := s.xs[r*s.h : (r+1)*s.h]
		sk := s.ss[(r*s.h)%len(s.ss):][:s.h]
		// Statistics in float64 (two passes), as the unfused Add +
		// LayerNormalization computes them.
		sum := vm.addSum(yr, xr, sk, s.bis)
		mean := 0.0
		if !s.simplified {
			mean = sum / h
		}
		inv := 1 / math.Sqrt(vm.sqDev(yr, mean)/h+s.eps)
		vm.normAffine(yr, yr, s.gs, s.bes, mean, inv)
	}
})

// embedLayerNormKernel implements EmbedLayerNormalization: the sum of word,
// position and segment embeddings, layer-normalized, plus the mask index
// (the number of attended tokens of each sequence).
type embedLayerNormKernel struct {
	eps float32
}

func newEmbedLayerNorm(n *Node) (any, error) {
	eps := n.Attrs.Float("epsilon", 1e-12)
	if eps < 0 {
		return nil, fmt.Errorf("epsilon must not be negative, got %g", eps)
	}
	n.Attrs.Int("mask_index_type", 1)
	return &embedLayerNormKernel{eps: eps}, nil
}

func (k *embedLayerNormKernel) Run(ec *Context, in, out []*Tensor) error {
	get := func(i int) *Tensor {
		if i < len(in) {
			return in[i]
		}
		return nil
	}
	ids, segIDs, word, posEmb, segEmb, gamma, beta, mask, posIDs := get(0), get(1), get(2), get(3), get(4), get(5), get(6), get(7), get(8)
	if ids == nil || word == nil || posEmb == nil || gamma == nil || beta == nil {
		return fmt.Errorf("EmbedLayerNormalization needs input_ids, word_embedding, position_embedding, gamma and beta")
	}
	if len(ids.Shape) != 2 {
		return fmt.Errorf("input_ids must be 2-D, got shape %s", ShapeString(ids.Shape))
	}
	B, S := ids.Shape[0], ids.Shape[1]
	if len(word.Shape) != 2 || len(posEmb.Shape) != 2 || posEmb.Shape[1] != word.Shape[1] {
		return fmt.Errorf("word_embedding %s and position_embedding %s must be 2-D with the same width", ShapeString(word.Shape), ShapeString(posEmb.Shape))
	}
	H := word.Shape[1]
	if (segIDs == nil) != (segEmb == nil) {
		return fmt.Errorf("segment_ids and segment_embedding must be given together")
	}
	if segEmb != nil && (len(segEmb.Shape) != 2 || segEmb.Shape[1] != H) {
		return fmt.Errorf("segment_embedding %s must be 2-D with width %d", ShapeString(segEmb.Shape), H)
	}
	if gamma.Len() != H || beta.Len() != H {
		return fmt.Errorf("gamma and beta must hold %d elements", H)
	}
	idv, err := ids.AsInt64s()
	if err != nil {
		return fmt.Errorf("input_ids: %w", err)
	}
	var segv, posv, maskv []int64
	if segIDs != nil {
		if segv, err = segIDs.AsInt64s(); err != nil || len(segv) != B*S {
			return fmt.Errorf("segment_ids must be an integer tensor of shape [%d %d]", B, S)
		}
	}
	if posIDs != nil {
		if posv, err = posIDs.AsInt64s(); err != nil || (len(posv) != B*S && len(posv) != S) {
			return fmt.Errorf("position_ids must be an integer tensor of shape [%d %d] or [1 %d]", B, S, S)
		}
	}
	if mask != nil {
		if maskv, err = mask.AsInt64s(); err != nil || len(maskv) != B*S {
			return fmt.Errorf("mask must be an integer tensor of shape [%d %d]", B, S)
		}
	}
	var temps []*Tensor
	defer func() {
		for _, t := range temps {
			ec.Release(t)
		}
	}()
	load := func(t *Tensor) []float32 {
		if t == nil {
			return nil
		}
		s, tmp, e := attnFloat(ec, t)
		if tmp != nil {
			temps = append(temps, tmp)
		}
		if e != nil && err == nil {
			err = e
		}
		return s
	}
	ws, ps, ses, gs, bs := load(word), load(posEmb), load(segEmb), load(gamma), load(beta)
	if err != nil {
		return err
	}
	yt := ec.Empty(Float, B, S, H)
	et := ec.Empty(Float, B, S, H)
	temps = append(temps, yt, et)
	ys, es := yt.Float32s(), et.Float32s()
	for t := 0; t < B*S; t++ {
		w := idv[t]
		if w < 0 || int(w) >= word.Shape[0] {
			return fmt.Errorf("%w: input id %d out of range [0, %d)", ErrIndexRange, w, word.Shape[0])
		}
		p := int64(t % S)
		if posv != nil {
			p = posv[t%len(posv)]
		}
		if p < 0 || int(p) >= posEmb.Shape[0] {
			return fmt.Errorf("%w: position %d out of range [0, %d)", ErrIndexRange, p, posEmb.Shape[0])
		}
		e := es[t*H : (t+1)*H]
		wr := ws[int(w)*H:][:H]
		pr := ps[int(p)*H:][:H]
		for i := range e {
			e[i] = wr[i] + pr[i]
		}
		if segv != nil {
			sg := segv[t]
			if sg < 0 || int(sg) >= segEmb.Shape[0] {
				return fmt.Errorf("%w: segment id %d out of range [0, %d)", ErrIndexRange, sg, segEmb.Shape[0])
			}
			sr := ses[int(sg)*H:][:H]
			for i := range e {
				e[i] += sr[i]
			}
		}
		var mean float64
		for _, v := range e {
			mean += float64(v)
		}
		mean /= float64(H)
		var sq float64
		for _, v := range e {
			d := float64(v) - mean
			sq += d * d
		}
		inv := 1 / math.Sqrt(sq/float64(H)+float64(k.eps))
		y := ys[t*H : (t+1)*H]
		for i, v := range e {
			y[i] = float32((float64(v)-mean)*inv)*gs[i] + bs[i]
		}
	}
	y := ec.Empty(word.DType, B, S, H)
	narrowFloat32s(y.Data, ys)
	out[0] = y
	if len(out) > 1 {
		mi := ec.Empty(Int32, B)
		md := mi.Int32s()
		for b := 0; b < B; b++ {
			var c int32
			for s := 0; s < S && maskv != nil; s++ {
				if maskv[b*S+s] == 1 {
					c++
				}
			}
			md[b] = c
		}
		out[1] = mi
	}
	if len(out) > 2 {
		e := ec.Empty(word.DType, B, S, H)
		narrowFloat32s(e.Data, es)
		out[2] = e
	}
	return nil
}

// matmulIntToFloatKernel implements MatMulIntegerToFloat (8-bit A and B
// with scales and zero points, float output) and DynamicQuantizeMatMul
// (float A quantized to uint8 on the fly). The product of the zero-point
// corrected integers is exact in float32 for the usual sizes, so it runs
// through sgemm; a constant B is converted and packed at plan time.
type matmulIntToFloatKernel struct {
	dynamic bool
	constB  *Tensor
	constZP *Tensor
	packed  *packedB
	qconstB *Tensor   // the constant B of qpacked
	qpacked *qpackedB // B packed for the 8-bit kernels
}

func newMatMulIntegerToFloat(dynamic bool) Factory {
	return func(n *Node) (any, error) {
		k := &matmulIntToFloatKernel{dynamic: dynamic}
		if len(n.ConstInputs) > 1 {
			if k.qpacked = constQpacked(n.ConstInputs[1]); k.qpacked != nil {
				// The 8-bit kernels take every constant (2-D) B.
				k.qconstB = n.ConstInputs[1]
				return k, nil
			}
		}
		bzpIdx := 5
		if dynamic {
			bzpIdx = 3
		}
		if len(n.ConstInputs) > 1 && n.ConstInputs[1] != nil && len(n.ConstInputs[1].Shape) == 2 {
			b := n.ConstInputs[1]
			var zp *Tensor
			if n.HasInput(bzpIdx) {
				if len(n.ConstInputs) <= bzpIdx || n.ConstInputs[bzpIdx] == nil {
					return k, nil
				}
				zp = n.ConstInputs[bzpIdx]
			}
			bf, err := int8MinusZP(b, zp)
			if err != nil {
				return nil, fmt.Errorf("B: %w", err)
			}
			kk, nn := b.Shape[0], b.Shape[1]
			pb := packB(make([]float32, packedBLen(kk, nn)), false, kk, nn, bf, nn)
			k.constB, k.constZP, k.packed = b, zp, &pb
		}
		return k, nil
	}
}

// int8MinusZP returns the 2-D 8-bit matrix b minus its per-tensor or
// per-column zero point, as float32 (heap-allocated; plan time only).
func int8MinusZP(b, zp *Tensor) ([]float32, error) {
	n := b.Shape[len(b.Shape)-1]
	out := make([]float32, b.Len())
	var z []float32
	if zp != nil {
		if zp.DType != b.DType || (zp.Len() != 1 && zp.Len() != n) {
			return nil, fmt.Errorf("zero point %s of shape %s does not match %s of shape %s", zp.DType, ShapeString(zp.Shape), b.DType, ShapeString(b.Shape))
		}
		z = make([]float32, zp.Len())
		int8ToF32(z, zp)
	}
	if err := int8ToF32(out, b); err != nil {
		return nil, err
	}
	if z != nil {
		for i := range out {
			out[i] -= z[(i%n)%len(z)]
		}
	}
	return out, nil
}

func int8ToF32(dst []float32, t *Tensor) error {
	switch s := t.Data.(type) {
	case []uint8:
		if t.DType != Uint8 {
			break
		}
		for i, v := range s {
			dst[i] = float32(v)
		}
		return nil
	case []int8:
		if t.DType != Int8 {
			break
		}
		for i, v := range s {
			dst[i] = float32(v)
		}
		return nil
	}
	return fmt.Errorf("expected uint8 or int8, got %s", t.DType)
}

func (k *matmulIntToFloatKernel) Run(ec *Context, in, out []*Tensor) error {
	get := func(i int) *Tensor {
		if i < len(in) {
			return in[i]
		}
		return nil
	}
	var a, b, as, bs, azp, bzp, bias *Tensor
	if k.dynamic {
		a, b, bs, bzp, bias = get(0), get(1), get(2), get(3), get(4)
		if a == nil || b == nil || bs == nil {
			return fmt.Errorf("DynamicQuantizeMatMul needs A, B and b_scale")
		}
		if a.DType != Float {
			return fmt.Errorf("DynamicQuantizeMatMul needs a float32 A, got %s", a.DType)
		}
	} else {
		a, b, as, bs, azp, bzp, bias = get(0), get(1), get(2), get(3), get(4), get(5), get(6)
		if a == nil || b == nil || as == nil || bs == nil {
			return fmt.Errorf("MatMulIntegerToFloat needs A, B, a_scale and b_scale")
		}
	}
	var dims matmulDims
	d := &dims
	if err := matmulShape(d, a.Shape, b.Shape); err != nil {
		return err
	}
	var temps []*Tensor
	defer func() {
		for _, t := range temps {
			ec.Release(t)
		}
	}()
	bsv, tmp, err := attnFloat(ec, bs)
	if err != nil {
		return err
	}
	if tmp != nil {
		temps = append(temps, tmp)
	}
	if len(bsv) != 1 && len(bsv) != d.n {
		return fmt.Errorf("b_scale must be a scalar or hold %d elements, got shape %s", d.n, ShapeString(bs.Shape))
	}
	var biasv []float32
	if bias != nil {
		if bias.Len() != d.n {
			return fmt.Errorf("bias must hold %d elements, got shape %s", d.n, ShapeString(bias.Shape))
		}
		var bt *Tensor
		biasv, bt, err = attnFloat(ec, bias)
		if err != nil {
			return err
		}
		if bt != nil {
			temps = append(temps, bt)
		}
	}
	outType := Float
	if as != nil && as.DType != Float && as.DType.IsFloat() {
		outType = as.DType
	}
	if ok, err := k.runQgemm(ec, d, a, b, as, azp, bzp, bsv, biasv, outType, out); ok || err != nil {
		return err
	}
	// A as zero-point corrected float32, and its scale.
	at := ec.Empty(Float, a.Shape...)
	temps = append(temps, at)
	af := at.Float32s()
	var aScale float32
	if k.dynamic {
		xs := a.Float32s()
		scale, zp := dynQuantParams(xs)
		for i, v := range xs {
			q := math.RoundToEven(float64(v/scale)) + float64(zp)
			af[i] = float32(max(0, min(255, q))) - zp
		}
		aScale = scale
	} else {
		if err := int8ToF32(af, a); err != nil {
			return fmt.Errorf("A: %w", err)
		}
		asv, tmp, err := attnFloat(ec, as)
		if err != nil {
			return err
		}
		if tmp != nil {
			temps = append(temps, tmp)
		}
		if len(asv) != 1 {
			return fmt.Errorf("a_scale must be a scalar, got shape %s", ShapeString(as.Shape))
		}
		aScale = asv[0]
		if azp != nil {
			if azp.Len() != 1 || azp.DType != a.DType {
				return fmt.Errorf("a_zero_point must be a scalar of A's type")
			}
			z := make([]float32, 1)
			int8ToF32(z, azp)
			for i := range af {
				af[i] -= z[0]
			}
		}
	}
	yt := ec.Empty(Float, d.outShape()...)
	temps = append(temps, yt)
	yf := yt.Float32s()
	if k.packed != nil && sameInt8(b, k.constB) && sameInt8(bzp, k.constZP) {
		sgemmPacked(false, d.nBatches*d.m, 1, af, d.k, k.packed, 0, yf, d.n, ec.Parallel)
	} else {
		bt := ec.Empty(Float, b.Shape...)
		temps = append(temps, bt)
		bf := bt.Float32s()
		if err := int8ToF32(bf, b); err != nil {
			return fmt.Errorf("B: %w", err)
		}
		if bzp != nil {
			if bzp.DType != b.DType || (bzp.Len() != 1 && bzp.Len() != d.n) {
				return fmt.Errorf("b_zero_point must be a scalar or hold %d elements of B's type", d.n)
			}
			z := make([]float32, bzp.Len())
			int8ToF32(z, bzp)
			for i := range bf {
				bf[i] -= z[(i%d.n)%len(z)]
			}
		}
		matmulF32(ec, d, af, bf, yf, nil)
	}
	n := d.n
	for i := range yf {
		j := i % n
		v := yf[i] * (aScale * bsv[j%len(bsv)])
		if biasv != nil {
			v += biasv[j]
		}
		yf[i] = v
	}
	y := ec.Empty(outType, d.outShape()...)
	narrowFloat32s(y.Data, yf)
	out[0] = y
	return nil
}

// runQgemm computes the product on the 8-bit GEMM kernels, writing the
// scales and bias in their write-back. It reports false (having done
// nothing) when the operands need the general float path: B with batch
// dimensions, or zero points other than a scalar for A and a scalar or one
// per column for B.
func (k *matmulIntToFloatKernel) runQgemm(ec *Context, d *matmulDims, a, b, as, azp, bzp *Tensor, bsv, biasv []float32, outType DType, out []*Tensor) (bool, error) {
	bb, bSigned, okB := int8Bytes(b)
	if !okB || !d.bIs2D() || NumElements(d.aBatch()) != d.nBatches {
		return false, nil
	}
	var ab []byte
	aSigned := false
	aType := Uint8
	if !k.dynamic {
		var okA bool
		if ab, aSigned, okA = int8Bytes(a); !okA {
			return false, nil
		}
		aType = a.DType
	} else if azp != nil {
		return false, nil
	}
	za, zb, ok := qgemmZeroPoints(azp, bzp, aType, b.DType, d.n)
	if !ok {
		return false, nil
	}
	defer qgemmIntPool.Put(zb)
	var aScale float32
	if k.dynamic {
		xs := a.Float32s()
		scale, zp := dynQuantParams(xs)
		qa := ec.Empty(Uint8, a.Shape...)
		defer ec.Release(qa)
		ab = qa.Data.([]uint8)
		quantizeU8(ab, xs, scale, zp)
		aScale, za = scale, int32(zp)
	} else {
		asv, tmp, err := attnFloat(ec, as)
		if err != nil {
			return false, err
		}
		if tmp != nil {
			defer ec.Release(tmp)
		}
		if len(asv) != 1 {
			return false, fmt.Errorf("a_scale must be a scalar, got shape %s", ShapeString(as.Shape))
		}
		aScale = asv[0]
	}
	st := ec.Empty(Float, len(bsv))
	defer ec.Release(st)
	scale := st.Float32s()
	for j, v := range bsv {
		scale[j] = aScale * v
	}
	pb := k.qpacked
	if pb == nil || !sameInt8(b, k.qconstB) {
		p, release := qpackRuntime(bb, bSigned, d.k, d.n)
		defer release()
		pb = &p
	}
	y := ec.Empty(outType, d.outShape()...)
	yt := y
	if outType != Float {
		yt = ec.Empty(Float, d.outShape()...)
		defer ec.Release(yt)
	}
	qgemm(ab, aSigned, d.nBatches*d.m, d.k, za, pb, *zb, qgemmOut{cf: yt.Float32s(), scale: scale, bias: biasv, ldc: d.n}, ec.Parallel)
	if yt != y {
		narrowFloat32s(y.Data, yt.Float32s())
	}
	out[0] = y
	return true, nil
}

// sameInt8 reports whether two optional 8-bit tensors are the same data.
func sameInt8(a, b *Tensor) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.DType != b.DType || !EqualShapes(a.Shape, b.Shape) {
		return false
	}
	switch x := a.Data.(type) {
	case []uint8:
		y, ok := b.Data.([]uint8)
		return ok && len(x) == len(y) && (len(x) == 0 || &x[0] == &y[0])
	case []int8:
		y, ok := b.Data.([]int8)
		return ok && len(x) == len(y) && (len(x) == 0 || &x[0] == &y[0])
	}
	return false
}
