package ops

import (
	"fmt"
	"math"
)

// registerConv registers the convolution operators: Conv, ConvTranspose and
// DeformConv.
func registerConv(r *Registry) {
	r.Add("", "Conv", 1, newConv)
	r.Add("", "ConvTranspose", 1, newConvTranspose)
	r.Add("", "DeformConv", 19, newDeformConv)
	r.Add("", "ConvInteger", 10, newConvInt)
}

// convMaxSpatial is the largest number of spatial dimensions the
// convolution kernels handle (1-D and 2-D inputs are lifted to 3-D).
const convMaxSpatial = 3

// conv3 is a convolution's geometry lifted to three spatial dimensions
// (leading dimensions of size 1 pad 1-D and 2-D cases).
type conv3 struct {
	in, out, k, s, d, pad [3]int
}

func (g *conv3) inSize() int     { return g.in[0] * g.in[1] * g.in[2] }
func (g *conv3) outSize() int    { return g.out[0] * g.out[1] * g.out[2] }
func (g *conv3) kernelSize() int { return g.k[0] * g.k[1] * g.k[2] }

// lift3 builds a conv3 from a resolved window geometry of 1 to 3 spatial
// dimensions.
func lift3(w windowGeom) conv3 {
	var g conv3
	off := 3 - len(w.in)
	for i := 0; i < 3; i++ {
		g.in[i], g.out[i], g.k[i], g.s[i], g.d[i] = 1, 1, 1, 1, 1
	}
	for i := range w.in {
		g.in[off+i] = w.in[i]
		g.out[off+i] = w.out[i]
		g.k[off+i] = w.kernel[i]
		g.s[off+i] = w.stride[i]
		g.d[off+i] = w.dilation[i]
		g.pad[off+i] = w.padBegin[i]
	}
	return g
}

type convKernel struct {
	win   windowAttrs
	group int
}

func newConv(n *Node) (any, error) {
	win, err := readWindowAttrs(n)
	if err != nil {
		return nil, err
	}
	group := n.Attrs.Int("group", 1)
	if group < 1 {
		return nil, fmt.Errorf("group %d must be positive", group)
	}
	return &convKernel{win: win, group: int(group)}, nil
}

// checkConvInputs validates the types and ranks of X, W and the optional
// bias of a convolution.
func checkConvInputs(x, w, b *Tensor) error {
	if x == nil || w == nil {
		return fmt.Errorf("inputs X and W are required")
	}
	switch x.DType {
	case Float, Double, Float16, BFloat16:
	default:
		return fmt.Errorf("unsupported input type %s", x.DType)
	}
	if w.DType != x.DType {
		return fmt.Errorf("W type %s does not match X type %s", w.DType, x.DType)
	}
	if b != nil && b.DType != x.DType {
		return fmt.Errorf("B type %s does not match X type %s", b.DType, x.DType)
	}
	if len(x.Shape) < 3 {
		return fmt.Errorf("X must have rank at least 3, got shape %v", x.Shape)
	}
	if len(w.Shape) != len(x.Shape) {
		return fmt.Errorf("W shape %v does not match the rank of X shape %v", w.Shape, x.Shape)
	}
	if len(x.Shape)-2 > convMaxSpatial {
		return fmt.Errorf("%d spatial dimensions are not supported (at most %d)", len(x.Shape)-2, convMaxSpatial)
	}
	return nil
}

// convKernelShape returns the kernel shape taken from W, checked against the
// kernel_shape attribute when present.
func convKernelShape(win *windowAttrs, w *Tensor) ([]int, error) {
	k := w.Shape[2:]
	if win.kernel != nil && !EqualShapes(win.kernel, k) {
		return nil, fmt.Errorf("kernel_shape %v does not match W shape %v", win.kernel, w.Shape)
	}
	return k, nil
}

func (k *convKernel) Run(ec *Context, in, out []*Tensor) error {
	x, w := in[0], in[1]
	var b *Tensor
	if len(in) > 2 {
		b = in[2]
	}
	if err := checkConvInputs(x, w, b); err != nil {
		return err
	}
	N, C, M := x.Shape[0], x.Shape[1], w.Shape[0]
	if C != w.Shape[1]*k.group {
		return fmt.Errorf("X has %d channels but W shape %v with group %d expects %d", C, w.Shape, k.group, w.Shape[1]*k.group)
	}
	if M%k.group != 0 {
		return fmt.Errorf("%d output channels are not divisible by group %d", M, k.group)
	}
	if b != nil && (len(b.Shape) != 1 || b.Shape[0] != M) {
		return fmt.Errorf("B shape %v must be [%d]", b.Shape, M)
	}
	ks, err := convKernelShape(&k.win, w)
	if err != nil {
		return err
	}
	geom, err := k.win.resolve(x.Shape[2:], ks, false)
	if err != nil {
		return err
	}
	y := ec.Empty(x.DType, append([]int{N, M}, geom.out...)...)
	out[0] = y
	p := convParams{n: N, c: C, m: M, group: k.group, g: lift3(geom)}
	if y.Len() == 0 {
		return nil
	}
	switch x.DType {
	case Float:
		convRun(ec, p, x.Float32s(), w.Float32s(), convBias32(b), y.Float32s())
	case Double:
		var bs []float64
		if b != nil {
			bs = b.Float64s()
		}
		convRun(ec, p, x.Float64s(), w.Float64s(), bs, y.Float64s())
	default:
		return convHalf(ec, []*Tensor{x, w, b}, y, func(xs, ws, bs, ys []float32) {
			convRun(ec, p, xs, ws, bs, ys)
		})
	}
	return nil
}

func convBias32(b *Tensor) []float32 {
	if b == nil {
		return nil
	}
	return b.Float32s()
}

// convHalf runs f on float32 copies of half-precision inputs (nil inputs
// stay nil) and converts its result into y.
func convHalf(ec *Context, ins []*Tensor, y *Tensor, f func(a, b, c, y []float32)) error {
	var bufs [3][]float32
	var tmps []*Tensor
	defer func() {
		for _, t := range tmps {
			ec.Release(t)
		}
	}()
	for i, t := range ins {
		if t == nil {
			continue
		}
		d, tmp, err := floatWork32(ec, t)
		if err != nil {
			return err
		}
		if tmp != nil {
			tmps = append(tmps, tmp)
		}
		bufs[i] = d
	}
	yt := ec.Empty(Float, y.Shape...)
	tmps = append(tmps, yt)
	f(bufs[0], bufs[1], bufs[2], yt.Float32s())
	storeFloat32(y, yt.Float32s())
	return nil
}

// convParams describes one Conv execution.
type convParams struct {
	n, c, m, group int
	g              conv3
}

// convTile picks the number of output positions one im2col tile holds for
// a reduction of length k.
func convTile(k, positions int) int {
	t := 32768 / max(k, 1)
	t = max(16, min(512, t))
	return min(t, positions)
}

// convRun computes a grouped convolution with im2col over tiles of output
// positions followed by a blocked product with the filter.
func convRun[T convFloat](ec *Context, p convParams, x, w, bias, y []T) {
	g := p.g
	cg, mg := p.c/p.group, p.m/p.group
	K := cg * g.kernelSize()
	P := g.outSize()
	inP := g.inSize()
	tile := convTile(K, P)
	tiles := (P + tile - 1) / tile
	items := p.n * p.group * tiles
	// Split the output channels too when there are fewer tiles than
	// workers can use.
	mb := 1
	if workers := ec.Workers.Workers(); items < 2*workers && mg >= 8 {
		mb = min((2*workers+items-1)/items, mg/4)
	}
	mBlock := (mg + mb - 1) / mb
	mBlock = (mBlock + 3) &^ 3
	mb = (mg + mBlock - 1) / mBlock
	pointwise := g.kernelSize() == 1 && g.s == [3]int{1, 1, 1} && g.pad == [3]int{} && g.in == g.out
	ec.Parallel(items*mb, 1, func(lo, hi int) {
		col := make([]T, tile*K)
		last := -1
		for it := lo; it < hi; it++ {
			mi := it % mb
			r := it / mb
			t := r % tiles
			r /= tiles
			gi := r % p.group
			b := r / p.group
			j0 := t * tile
			j1 := min(j0+tile, P)
			if it/mb != last {
				xs := x[(b*p.c+gi*cg)*inP : (b*p.c+(gi+1)*cg)*inP]
				if pointwise {
					transposeInto(col, K, xs[j0:], inP, cg, j1-j0)
				} else {
					im2colTile(col, K, xs, &g, cg, j0, j1)
				}
				last = it / mb
			}
			m0 := mi * mBlock
			m1 := min(m0+mBlock, mg)
			if m0 >= m1 {
				continue
			}
			var bs []T
			if bias != nil {
				bs = bias[gi*mg+m0 : gi*mg+m1]
			}
			gemmNT(m1-m0, j1-j0, K, w[(gi*mg+m0)*K:], K, col, K, y[(b*p.m+gi*mg+m0)*P+j0:], P, bs, false)
		}
	})
}

// im2colTile writes, for output positions [j0, j1), the receptive field of
// each position as one row of col (row stride K): cg channels times the
// kernel positions, zero where the window reaches into the padding.
func im2colTile[T convFloat](col []T, K int, x []T, g *conv3, cg, j0, j1 int) {
	inP := g.inSize()
	o12 := g.out[1] * g.out[2]
	k12 := g.k[1] * g.k[2]
	for j := j0; j < j1; j++ {
		oz, oy, ox := j/o12, (j/g.out[2])%g.out[1], j%g.out[2]
		row := col[(j-j0)*K : (j-j0+1)*K]
		iz0 := oz*g.s[0] - g.pad[0]
		iy0 := oy*g.s[1] - g.pad[1]
		ix0 := ox*g.s[2] - g.pad[2]
		q := 0
		for ci := 0; ci < cg; ci++ {
			xc := x[ci*inP : (ci+1)*inP]
			for kz := 0; kz < g.k[0]; kz++ {
				iz := iz0 + kz*g.d[0]
				if iz < 0 || iz >= g.in[0] {
					clear(row[q : q+k12])
					q += k12
					continue
				}
				for ky := 0; ky < g.k[1]; ky++ {
					iy := iy0 + ky*g.d[1]
					if iy < 0 || iy >= g.in[1] {
						clear(row[q : q+g.k[2]])
						q += g.k[2]
						continue
					}
					base := (iz*g.in[1] + iy) * g.in[2]
					ix := ix0
					for kx := 0; kx < g.k[2]; kx++ {
						if ix >= 0 && ix < g.in[2] {
							row[q] = xc[base+ix]
						} else {
							row[q] = 0
						}
						q++
						ix += g.d[2]
					}
				}
			}
		}
	}
}

type convTransposeKernel struct {
	win           windowAttrs
	group         int
	outputPadding []int
	outputShape   []int
}

func newConvTranspose(n *Node) (any, error) {
	win, err := readWindowAttrs(n)
	if err != nil {
		return nil, err
	}
	group := n.Attrs.Int("group", 1)
	if group < 1 {
		return nil, fmt.Errorf("group %d must be positive", group)
	}
	k := &convTransposeKernel{win: win, group: int(group)}
	k.outputPadding, _ = n.Attrs.IntsAsInts("output_padding")
	k.outputShape, _ = n.Attrs.IntsAsInts("output_shape")
	for _, v := range k.outputPadding {
		if v < 0 {
			return nil, fmt.Errorf("output_padding %v must not be negative", k.outputPadding)
		}
	}
	for _, v := range k.outputShape {
		if v < 0 {
			return nil, fmt.Errorf("output_shape %v must not be negative", k.outputShape)
		}
	}
	return k, nil
}

// geometry resolves the output size and the (possibly negative) leading
// pads of a transposed convolution.
func (k *convTransposeKernel) geometry(in, kernel []int) (conv3, error) {
	r := len(in)
	var g conv3
	for i := 0; i < 3; i++ {
		g.in[i], g.out[i], g.k[i], g.s[i], g.d[i] = 1, 1, 1, 1, 1
	}
	w := &k.win
	if w.strides != nil && len(w.strides) != r || w.dilations != nil && len(w.dilations) != r || w.pads != nil && len(w.pads) != 2*r {
		return g, fmt.Errorf("strides %v, dilations %v or pads %v do not match %d spatial dimensions", w.strides, w.dilations, w.pads, r)
	}
	if k.outputPadding != nil && len(k.outputPadding) != r {
		return g, fmt.Errorf("output_padding %v does not match %d spatial dimensions", k.outputPadding, r)
	}
	var outShape []int
	if k.outputShape != nil {
		if len(k.outputShape) < r {
			return g, fmt.Errorf("output_shape %v has fewer than %d spatial dimensions", k.outputShape, r)
		}
		outShape = k.outputShape[len(k.outputShape)-r:]
	}
	off := 3 - r
	for i := 0; i < r; i++ {
		s, d := 1, 1
		if w.strides != nil {
			s = w.strides[i]
		}
		if w.dilations != nil {
			d = w.dilations[i]
		}
		op := 0
		if k.outputPadding != nil {
			op = k.outputPadding[i]
		}
		eff := (kernel[i]-1)*d + 1
		natural := s*(in[i]-1) + op + eff
		var out, padBegin int
		switch {
		case outShape != nil || w.autoPad == "SAME_UPPER" || w.autoPad == "SAME_LOWER":
			if outShape != nil {
				out = outShape[i]
			} else {
				out = in[i] * s
			}
			// Halve with floor division so that a negative total (an
			// output larger than the natural size) extends the end.
			total := natural - out
			half := total >> 1
			if w.autoPad == "SAME_UPPER" {
				padBegin = half
			} else {
				padBegin = total - half
			}
		case w.autoPad == "VALID":
			out = natural
		default:
			if w.pads != nil {
				padBegin = w.pads[i]
				out = natural - w.pads[i] - w.pads[r+i]
			} else {
				out = natural
			}
		}
		if out < 0 {
			return g, fmt.Errorf("negative output size %d on spatial axis %d", out, i)
		}
		g.in[off+i], g.out[off+i], g.k[off+i], g.s[off+i], g.d[off+i], g.pad[off+i] = in[i], out, kernel[i], s, d, padBegin
	}
	return g, nil
}

func (k *convTransposeKernel) Run(ec *Context, in, out []*Tensor) error {
	x, w := in[0], in[1]
	var b *Tensor
	if len(in) > 2 {
		b = in[2]
	}
	if err := checkConvInputs(x, w, b); err != nil {
		return err
	}
	N, C := x.Shape[0], x.Shape[1]
	if w.Shape[0] != C {
		return fmt.Errorf("W shape %v does not match %d input channels", w.Shape, C)
	}
	if C%k.group != 0 {
		return fmt.Errorf("%d input channels are not divisible by group %d", C, k.group)
	}
	M := w.Shape[1] * k.group
	if b != nil && (len(b.Shape) != 1 || b.Shape[0] != M) {
		return fmt.Errorf("B shape %v must be [%d]", b.Shape, M)
	}
	ks, err := convKernelShape(&k.win, w)
	if err != nil {
		return err
	}
	g, err := k.geometry(x.Shape[2:], ks)
	if err != nil {
		return err
	}
	shape := []int{N, M}
	for i := 3 - (len(x.Shape) - 2); i < 3; i++ {
		shape = append(shape, g.out[i])
	}
	y := ec.Empty(x.DType, shape...)
	out[0] = y
	if y.Len() == 0 {
		return nil
	}
	p := convParams{n: N, c: C, m: M, group: k.group, g: g}
	switch x.DType {
	case Float:
		convTransposeRun(ec, p, x.Float32s(), w.Float32s(), convBias32(b), y.Float32s())
	case Double:
		var bs []float64
		if b != nil {
			bs = b.Float64s()
		}
		convTransposeRun(ec, p, x.Float64s(), w.Float64s(), bs, y.Float64s())
	default:
		return convHalf(ec, []*Tensor{x, w, b}, y, func(xs, ws, bs, ys []float32) {
			convTransposeRun(ec, p, xs, ws, bs, ys)
		})
	}
	return nil
}

// convTransposeRun computes a transposed convolution: for each image and
// group, the product of the transposed filter with the input gives every
// input position's contribution to each output channel and kernel tap,
// which is then scattered (col2im) into the output.
func convTransposeRun[T convFloat](ec *Context, p convParams, x, w, bias, y []T) {
	g := p.g
	cg, mg := p.c/p.group, p.m/p.group
	kp := g.kernelSize()
	inP, outP := g.inSize(), g.outSize()
	Q := mg * kp // rows of one group's transposed filter
	// wt[g] is Q×cg: the transpose of W's [cg, Q] block for group g.
	wtT := ec.Empty(DTypeOf[T](), p.group*Q*cg)
	defer ec.Release(wtT)
	wt := wtT.Data.([]T)
	for gi := 0; gi < p.group; gi++ {
		transposeInto(wt[gi*Q*cg:], cg, w[gi*cg*Q:], Q, cg, Q)
	}
	// xt[b, g] is inP×cg.
	xtT := ec.Empty(DTypeOf[T](), p.n*p.c*inP)
	defer ec.Release(xtT)
	xt := xtT.Data.([]T)
	for b := 0; b < p.n; b++ {
		for gi := 0; gi < p.group; gi++ {
			off := (b*p.c + gi*cg) * inP
			transposeInto(xt[off:], cg, x[off:], inP, cg, inP)
		}
	}
	items := p.n * p.group * mg
	ec.Parallel(items, max(1, items/(4*ec.Workers.Workers())), func(lo, hi int) {
		jt := max(1, min(inP, 65536/max(kp, 1)))
		col := make([]T, kp*jt)
		for it := lo; it < hi; it++ {
			m := it % mg
			gi := (it / mg) % p.group
			b := it / (mg * p.group)
			ys := y[(b*p.m+gi*mg+m)*outP : (b*p.m+gi*mg+m+1)*outP]
			var z T
			if bias != nil {
				z = bias[gi*mg+m]
			}
			for i := range ys {
				ys[i] = z
			}
			xs := xt[(b*p.c+gi*cg)*inP:]
			ws := wt[(gi*Q+m*kp)*cg:]
			for j0 := 0; j0 < inP; j0 += jt {
				j1 := min(j0+jt, inP)
				gemmNT(kp, j1-j0, cg, ws, cg, xs[j0*cg:], cg, col, j1-j0, nil, false)
				col2imTile(ys, col, j1-j0, &g, j0, j1)
			}
		}
	})
}

// col2imTile adds col (kernel taps × input positions [j0, j1), row stride
// ld) into the output plane y of one channel.
func col2imTile[T convFloat](y, col []T, ld int, g *conv3, j0, j1 int) {
	i12 := g.in[1] * g.in[2]
	q := 0
	for kz := 0; kz < g.k[0]; kz++ {
		for ky := 0; ky < g.k[1]; ky++ {
			for kx := 0; kx < g.k[2]; kx++ {
				row := col[q*ld : q*ld+(j1-j0)]
				q++
				for j := j0; j < j1; j++ {
					iz, iy, ix := j/i12, (j/g.in[2])%g.in[1], j%g.in[2]
					oz := iz*g.s[0] - g.pad[0] + kz*g.d[0]
					oy := iy*g.s[1] - g.pad[1] + ky*g.d[1]
					ox := ix*g.s[2] - g.pad[2] + kx*g.d[2]
					if oz < 0 || oz >= g.out[0] || oy < 0 || oy >= g.out[1] || ox < 0 || ox >= g.out[2] {
						continue
					}
					y[(oz*g.out[1]+oy)*g.out[2]+ox] += row[j-j0]
				}
			}
		}
	}
}

type deformConvKernel struct {
	win         windowAttrs
	group       int
	offsetGroup int
}

func newDeformConv(n *Node) (any, error) {
	win, err := readWindowAttrs(n)
	if err != nil {
		return nil, err
	}
	group := n.Attrs.Int("group", 1)
	og := n.Attrs.Int("offset_group", 1)
	if group < 1 || og < 1 {
		return nil, fmt.Errorf("group %d and offset_group %d must be positive", group, og)
	}
	return &deformConvKernel{win: win, group: int(group), offsetGroup: int(og)}, nil
}

func (k *deformConvKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 3 || in[2] == nil {
		return fmt.Errorf("inputs X, W and offset are required")
	}
	x, w, offset := in[0], in[1], in[2]
	var b, mask *Tensor
	if len(in) > 3 {
		b = in[3]
	}
	if len(in) > 4 {
		mask = in[4]
	}
	if err := checkConvInputs(x, w, b); err != nil {
		return err
	}
	if len(x.Shape) != 4 {
		return fmt.Errorf("only 2-D deformable convolution is supported, got X shape %v", x.Shape)
	}
	N, C, M := x.Shape[0], x.Shape[1], w.Shape[0]
	if C != w.Shape[1]*k.group || M%k.group != 0 {
		return fmt.Errorf("X shape %v and W shape %v do not agree with group %d", x.Shape, w.Shape, k.group)
	}
	if C%k.offsetGroup != 0 {
		return fmt.Errorf("%d channels are not divisible by offset_group %d", C, k.offsetGroup)
	}
	if b != nil && (len(b.Shape) != 1 || b.Shape[0] != M) {
		return fmt.Errorf("B shape %v must be [%d]", b.Shape, M)
	}
	ks, err := convKernelShape(&k.win, w)
	if err != nil {
		return err
	}
	win := k.win
	win.autoPad = "NOTSET"
	geom, err := win.resolve(x.Shape[2:], ks, false)
	if err != nil {
		return err
	}
	kp := ks[0] * ks[1]
	oh, ow := geom.out[0], geom.out[1]
	wantOff := []int{N, k.offsetGroup * kp * 2, oh, ow}
	if offset.DType != x.DType || !EqualShapes(offset.Shape, wantOff) {
		return fmt.Errorf("offset must be %s%v, got %s", x.DType, wantOff, offset)
	}
	if mask != nil {
		wantMask := []int{N, k.offsetGroup * kp, oh, ow}
		if mask.DType != x.DType || !EqualShapes(mask.Shape, wantMask) {
			return fmt.Errorf("mask must be %s%v, got %s", x.DType, wantMask, mask)
		}
	}
	y := ec.Empty(x.DType, N, M, oh, ow)
	out[0] = y
	if y.Len() == 0 {
		return nil
	}
	p := deformParams{convParams: convParams{n: N, c: C, m: M, group: k.group, g: lift3(geom)}, offsetGroup: k.offsetGroup}
	var tmps []*Tensor
	defer func() {
		for _, t := range tmps {
			ec.Release(t)
		}
	}()
	if x.DType == Double {
		var bs, ms []float64
		if b != nil {
			bs = b.Float64s()
		}
		if mask != nil {
			ms = mask.Float64s()
		}
		deformConvRun(ec, p, x.Float64s(), w.Float64s(), offset.Float64s(), ms, bs, y.Float64s())
		return nil
	}
	var bufs [5][]float32
	for i, t := range []*Tensor{x, w, offset, mask, b} {
		if t == nil {
			continue
		}
		d, tmp, err := floatWork32(ec, t)
		if err != nil {
			return err
		}
		if tmp != nil {
			tmps = append(tmps, tmp)
		}
		bufs[i] = d
	}
	ys := y.Float32s()
	if ys == nil {
		yt := ec.Empty(Float, y.Shape...)
		tmps = append(tmps, yt)
		ys = yt.Float32s()
	}
	deformConvRun(ec, p, bufs[0], bufs[1], bufs[2], bufs[3], bufs[4], ys)
	storeFloat32(y, ys)
	return nil
}

type deformParams struct {
	convParams
	offsetGroup int
}

// deformConvRun computes a 2-D deformable convolution: im2col samples the
// input bilinearly at the offset kernel positions (scaled by the mask),
// then the columns are multiplied by the filter.
func deformConvRun[T convFloat](ec *Context, p deformParams, x, w, offset, mask, bias, y []T) {
	g := p.g
	cg, mg := p.c/p.group, p.m/p.group
	kp := g.kernelSize()
	K := cg * kp
	P := g.outSize()
	tile := convTile(K, P)
	tiles := (P + tile - 1) / tile
	items := p.n * p.group * tiles
	cPerOG := p.c / p.offsetGroup
	H, W := g.in[1], g.in[2]
	ec.Parallel(items, 1, func(lo, hi int) {
		col := make([]T, tile*K)
		for it := lo; it < hi; it++ {
			t := it % tiles
			gi := (it / tiles) % p.group
			b := it / (tiles * p.group)
			j0 := t * tile
			j1 := min(j0+tile, P)
			for j := j0; j < j1; j++ {
				oy, ox := j/g.out[2], j%g.out[2]
				row := col[(j-j0)*K : (j-j0+1)*K]
				for ci := 0; ci < cg; ci++ {
					c := gi*cg + ci
					og := c / cPerOG
					xc := x[(b*p.c+c)*H*W : (b*p.c+c+1)*H*W]
					for ky := 0; ky < g.k[1]; ky++ {
						for kx := 0; kx < g.k[2]; kx++ {
							kk := ky*g.k[2] + kx
							offC := (b*p.offsetGroup+og)*kp*2 + 2*kk
							dy := offset[offC*P+j]
							dx := offset[(offC+1)*P+j]
							py := float64(oy*g.s[1]-g.pad[1]+ky*g.d[1]) + float64(dy)
							px := float64(ox*g.s[2]-g.pad[2]+kx*g.d[2]) + float64(dx)
							v := bilinearZero(xc, H, W, py, px)
							if mask != nil {
								v *= float64(mask[((b*p.offsetGroup+og)*kp+kk)*P+j])
							}
							row[ci*kp+kk] = T(v)
						}
					}
				}
			}
			var bs []T
			if bias != nil {
				bs = bias[gi*mg : (gi+1)*mg]
			}
			gemmNT(mg, j1-j0, K, w[gi*mg*K:], K, col, K, y[(b*p.m+gi*mg)*P+j0:], P, bs, false)
		}
	})
}

// bilinearZero samples the H×W plane x at (py, px) with bilinear
// interpolation, treating points outside the plane as zero.
func bilinearZero[T convFloat](x []T, H, W int, py, px float64) float64 {
	if py <= -1 || py >= float64(H) || px <= -1 || px >= float64(W) {
		return 0
	}
	y0f, x0f := math.Floor(py), math.Floor(px)
	y0, x0 := int(y0f), int(x0f)
	ly, lx := py-y0f, px-x0f
	hy, hx := 1-ly, 1-lx
	at := func(yy, xx int) float64 {
		if yy < 0 || yy >= H || xx < 0 || xx >= W {
			return 0
		}
		return float64(x[yy*W+xx])
	}
	return hy*hx*at(y0, x0) + hy*lx*at(y0, x0+1) + ly*hx*at(y0+1, x0) + ly*lx*at(y0+1, x0+1)
}

type convIntKernel struct {
	conv convKernel
}

func newConvInt(n *Node) (any, error) {
	k, err := newConv(n)
	if err != nil {
		return nil, err
	}
	return &convIntKernel{conv: *k.(*convKernel)}, nil
}

// convIntZeroPoints reads an optional zero point of an 8-bit tensor: a
// scalar, or one value per entry of dimension perLen when perLen > 0.
func convIntZeroPoints(t *Tensor, dt DType, perLen int, what string) ([]float64, error) {
	if t == nil {
		return []float64{0}, nil
	}
	if t.DType != dt {
		return nil, fmt.Errorf("%s type %s does not match %s", what, t.DType, dt)
	}
	v, err := t.AsFloat64s()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(v) != 1 && (perLen == 0 || len(v) != perLen) {
		return nil, fmt.Errorf("%s has %d values", what, len(v))
	}
	return v, nil
}

func (k *convIntKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return fmt.Errorf("inputs x and w are required")
	}
	x, w := in[0], in[1]
	for _, t := range []*Tensor{x, w} {
		if t.DType != Uint8 && t.DType != Int8 {
			return fmt.Errorf("unsupported input type %s", t.DType)
		}
	}
	if len(x.Shape) < 3 || len(w.Shape) != len(x.Shape) || len(x.Shape)-2 > convMaxSpatial {
		return fmt.Errorf("x shape %v and w shape %v are not a supported convolution", x.Shape, w.Shape)
	}
	var xzT, wzT *Tensor
	if len(in) > 2 {
		xzT = in[2]
	}
	if len(in) > 3 {
		wzT = in[3]
	}
	M := w.Shape[0]
	xz, err := convIntZeroPoints(xzT, x.DType, 0, "x_zero_point")
	if err != nil {
		return err
	}
	wz, err := convIntZeroPoints(wzT, w.DType, M, "w_zero_point")
	if err != nil {
		return err
	}
	N, C := x.Shape[0], x.Shape[1]
	g := k.conv.group
	if C != w.Shape[1]*g || M%g != 0 {
		return fmt.Errorf("x shape %v and w shape %v do not agree with group %d", x.Shape, w.Shape, g)
	}
	ks, err := convKernelShape(&k.conv.win, w)
	if err != nil {
		return err
	}
	geom, err := k.conv.win.resolve(x.Shape[2:], ks, false)
	if err != nil {
		return err
	}
	// Work on zero-point-free float64 copies: every product and sum of
	// 8-bit values is exact there.
	xt, wt := ec.Empty(Double, x.Shape...), ec.Empty(Double, w.Shape...)
	defer ec.Release(xt)
	defer ec.Release(wt)
	xs, ws := xt.Float64s(), wt.Float64s()
	xv, _ := x.AsFloat64s()
	wv, _ := w.AsFloat64s()
	for i, v := range xv {
		xs[i] = v - xz[0]
	}
	per := len(ws) / max(M, 1)
	for i, v := range wv {
		z := wz[0]
		if len(wz) > 1 {
			z = wz[i/per]
		}
		ws[i] = v - z
	}
	y := ec.Empty(Int32, append([]int{N, M}, geom.out...)...)
	out[0] = y
	if y.Len() == 0 {
		return nil
	}
	yt := ec.Empty(Double, y.Shape...)
	defer ec.Release(yt)
	convRun(ec, convParams{n: N, c: C, m: M, group: g, g: lift3(geom)}, xs, ws, nil, yt.Float64s())
	storeFloat64(y, yt.Float64s())
	return nil
}
