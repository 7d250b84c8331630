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
	r.Add("", "QLinearConv", 10, newConvQLinear)
	r.Add("", "CausalConvWithState", 27, newCausalConv)
	r.Add(DomainAgate, "FusedConv", 1, newFusedConv)
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

// convLift3 builds a conv3 from a resolved window geometry of 1 to 3 spatial
// dimensions.
func convLift3(w convWindowGeom) conv3 {
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
	win   convWindow
	group int
}

func newConv(n *Node) (any, error) {
	win, err := readConvWindow(n)
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
func convKernelShape(win *convWindow, w *Tensor) ([]int, error) {
	k := w.Shape[2:]
	if win.kernel != nil && !EqualShapes(win.kernel, k) {
		return nil, fmt.Errorf("kernel_shape %v does not match W shape %v", win.kernel, w.Shape)
	}
	return k, nil
}

func (k *convKernel) Run(ec *Context, in, out []*Tensor) error {
	return k.run(ec, in, out, nil)
}

// run computes the convolution; fc, when set, is the FusedConv whose
// epilogue applies (in[3], when present, is its residual input).
func (k *convKernel) run(ec *Context, in, out []*Tensor, fc *fusedConv) error {
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
	p := convParams{n: N, c: C, m: M, group: k.group, g: convLift3(geom)}
	if y.Len() == 0 {
		return nil
	}
	if fc != nil {
		var z *Tensor
		if len(in) > 3 {
			z = in[3]
		}
		ep, fused := fc.epilogue(x, y, z)
		if !fused {
			if err := k.run(ec, in[:min(len(in), 3)], out, nil); err != nil {
				return err
			}
			ec.Release(y)
			return fc.fallback(ec, out, z)
		}
		p.ep = ep
	}
	switch x.DType {
	case Float:
		convRun(ec, p, x.Float32s(), w.Float32s(), convBias[float32](b), y.Float32s())
	case Double:
		convRun(ec, p, x.Float64s(), w.Float64s(), convBias[float64](b), y.Float64s())
	default:
		return convHalf(ec, []*Tensor{x, w, b}, y, func(xs, ws, bs, ys []float32) {
			convRun(ec, p, xs, ws, bs, ys)
		})
	}
	return nil
}

// convBias returns the elements of the optional bias b as T (nil when b is
// absent or holds another type).
func convBias[T convFloat](b *Tensor) []T {
	if b == nil {
		return nil
	}
	s, _ := b.Data.([]T)
	return s
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
		d, tmp, err := float32Data(ec, t)
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
	narrowFloat32s(y.Data, yt.Float32s())
	return nil
}

// convParams describes one Conv execution.
type convParams struct {
	n, c, m, group int
	g              conv3
	// ep is applied to each block of output rows while it is in cache
	// (FusedConv): a residual added, then an activation.
	ep convEpilogue
}

// convEpilogue is what a FusedConv applies after the bias: y += z (when z
// is set: a tensor of y's type and shape), then the activation.
type convEpilogue struct {
	z      any // []float32 or []float64, y's layout
	act    uint8
	lo, hi float64 // clip bounds
}

// Epilogue activations.
const (
	convActNone uint8 = iota
	convActRelu
	convActClip
)

func (e *convEpilogue) active() bool { return e.z != nil || e.act != convActNone }

// convApply runs the epilogue on y[off : off+n] of every row [r0, r1) of
// stride ld (row r of y starts at r*ld).
func convApply[T convFloat](e *convEpilogue, y []T, r0, r1, ld, off, n int) {
	var z []T
	if e.z != nil {
		z = e.z.([]T)
	}
	lo, hi := T(e.lo), T(e.hi)
	if e.act == convActRelu {
		lo, hi = 0, T(math.Inf(1))
	}
	vm := vecmath()
	for r := r0; r < r1; r++ {
		row := y[r*ld+off : r*ld+off+n]
		if z != nil {
			for i, v := range z[r*ld+off : r*ld+off+n] {
				row[i] += v
			}
		}
		if e.act == convActNone {
			continue
		}
		if rf, ok := any(row).([]float32); ok {
			vm.clamp(rf, float32(lo), float32(hi))
			continue
		}
		for i, v := range row {
			row[i] = min(max(v, lo), hi)
		}
	}
}

// convSplit divides a convolution into work items: tiles of tile output
// positions per image and group, and, when there are fewer tiles than
// workers can use, blocks of mBlock output channels (mb of them).
type convSplit struct {
	tile, tiles, positions int
	mb, mBlock, groups     int
	items                  int // the number of work items
}

func newConvSplit(ec *Context, p convParams, tile int) convSplit {
	mg := p.m / p.group
	s := convSplit{tile: tile, positions: p.g.outSize(), groups: p.group, mb: 1}
	s.tiles = (s.positions + tile - 1) / tile
	tileItems := p.n * p.group * s.tiles
	if workers := ec.Workers.Workers(); tileItems < 2*workers && mg >= 8 {
		s.mb = min((2*workers+tileItems-1)/tileItems, mg/4)
	}
	s.mBlock = (mg + s.mb - 1) / s.mb
	s.mBlock = (s.mBlock + 3) &^ 3
	s.mb = (mg + s.mBlock - 1) / s.mBlock
	s.items = tileItems * s.mb
	return s
}

// at decodes work item it: the image b, the group gi, the output positions
// [j0, j1), the channel block mi; tileID identifies the (b, gi, tile) whose
// im2col the item reads.
func (s *convSplit) at(it int) (b, gi, j0, j1, mi, tileID int) {
	mi = it % s.mb
	tileID = it / s.mb
	r := tileID
	t := r % s.tiles
	r /= s.tiles
	gi = r % s.groups
	b = r / s.groups
	j0 = t * s.tile
	j1 = min(j0+s.tile, s.positions)
	return b, gi, j0, j1, mi, tileID
}

// isPointwise reports a 1×1 convolution of stride 1 without padding: its
// input is already the im2col matrix.
func (g *conv3) isPointwise() bool {
	return g.kernelSize() == 1 && g.s == [3]int{1, 1, 1} && g.pad == [3]int{} && g.in == g.out
}

// convTile picks the number of output positions one im2col tile holds for
// a reduction of length k.
func convTile(k, positions int) int {
	t := 262144 / max(k, 1)
	t = max(64, min(1024, t))
	return min(t, positions)
}

// convRun computes a grouped convolution with im2col over tiles of output
// positions followed by a blocked product with the filter.
func convRun[T convFloat](ec *Context, p convParams, x, w, bias, y []T) {
	g := p.g
	cg, mg := p.c/p.group, p.m/p.group
	if cg == 1 && p.group > 1 {
		convDepthwise(ec, p, x, w, bias, y)
		return
	}
	if xf, ok := any(x).([]float32); ok {
		convRunF32(ec, p, xf, any(w).([]float32), any(bias).([]float32), any(y).([]float32))
		return
	}
	K := cg * g.kernelSize()
	P := g.outSize()
	inP := g.inSize()
	tile := convTile(K, P)
	sp := newConvSplit(ec, p, tile)
	mBlock := sp.mBlock
	pointwise := g.isPointwise()
	ec.Parallel(sp.items, 1, func(lo, hi int) {
		buf := convGetScratch[T](tile * K)
		defer convPutScratch(buf)
		col := *buf
		last := -1
		for it := lo; it < hi; it++ {
			b, gi, j0, j1, mi, tileID := sp.at(it)
			if tileID != last {
				xs := x[(b*p.c+gi*cg)*inP : (b*p.c+(gi+1)*cg)*inP]
				if pointwise {
					convTransposeMat(col, K, xs[j0:], inP, cg, j1-j0)
				} else {
					im2colTile(col, K, xs, &g, cg, j0, j1)
				}
				last = tileID
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
			convGemmNT(m1-m0, j1-j0, K, w[(gi*mg+m0)*K:], K, col, K, y[(b*p.m+gi*mg+m0)*P+j0:], P, bs, false)
			if p.ep.active() {
				r0 := b*p.m + gi*mg + m0
				convApply(&p.ep, y, r0, r0+m1-m0, P, j0, j1-j0)
			}
		}
	})
}

// convOutRange returns the output indices [lo, hi) whose input index
// o*s + off lies in [0, in).
func convOutRange(off, s, in, out int) (int, int) {
	lo := 0
	if off < 0 {
		lo = (-off + s - 1) / s
	}
	hi := 0
	if in-1-off >= 0 {
		hi = (in-1-off)/s + 1
	}
	return lo, max(lo, min(hi, out))
}

// convDepthwise computes a convolution whose groups have one input channel
// each (depthwise, possibly with a channel multiplier) directly: every
// kernel tap adds a scaled, shifted input row to the output row.
func convDepthwise[T convFloat](ec *Context, p convParams, x, w, bias, y []T) {
	g := p.g
	if g.k == [3]int{1, 3, 3} && g.d == [3]int{1, 1, 1} && g.in[0] == 1 && g.out[0] == 1 && g.pad[0] == 0 {
		if x32, ok := any(x).([]float32); ok {
			b32, _ := any(bias).([]float32)
			convDepthwise3x3F32(ec, p, x32, any(w).([]float32), b32, any(y).([]float32))
			return
		}
		convDepthwise3x3(ec, p, x, w, bias, y)
		return
	}
	mg := p.m / p.group
	kp := g.kernelSize()
	inP, outP := g.inSize(), g.outSize()
	ec.Parallel(p.n*p.m, max(1, 16384/max(outP*kp, 1)), func(lo, hi int) {
		for it := lo; it < hi; it++ {
			b, m := it/p.m, it%p.m
			c := m / mg
			xs := x[(b*p.c+c)*inP : (b*p.c+c+1)*inP]
			ys := y[it*outP : (it+1)*outP]
			ws := w[m*kp : (m+1)*kp]
			var z T
			if bias != nil {
				z = bias[m]
			}
			for i := range ys {
				ys[i] = z
			}
			q := 0
			for kz := 0; kz < g.k[0]; kz++ {
				z0, z1 := convOutRange(kz*g.d[0]-g.pad[0], g.s[0], g.in[0], g.out[0])
				for ky := 0; ky < g.k[1]; ky++ {
					y0, y1 := convOutRange(ky*g.d[1]-g.pad[1], g.s[1], g.in[1], g.out[1])
					for kx := 0; kx < g.k[2]; kx++ {
						wv := ws[q]
						q++
						offX := kx*g.d[2] - g.pad[2]
						x0, x1 := convOutRange(offX, g.s[2], g.in[2], g.out[2])
						if wv == 0 || x0 >= x1 {
							continue
						}
						for oz := z0; oz < z1; oz++ {
							iz := oz*g.s[0] + kz*g.d[0] - g.pad[0]
							for oy := y0; oy < y1; oy++ {
								iy := oy*g.s[1] + ky*g.d[1] - g.pad[1]
								yr := ys[(oz*g.out[1]+oy)*g.out[2]:][x0:x1]
								xr := xs[(iz*g.in[1]+iy)*g.in[2]:]
								ix := x0*g.s[2] + offX
								if g.s[2] == 1 {
									xr = xr[ix : ix+len(yr)]
									for i := range yr {
										yr[i] += wv * xr[i]
									}
									continue
								}
								for i := range yr {
									yr[i] += wv * xr[ix]
									ix += g.s[2]
								}
							}
						}
					}
				}
			}
			if p.ep.active() {
				convApply(&p.ep, y, it, it+1, outP, 0, outP)
			}
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
	win           convWindow
	group         int
	outputPadding []int
	outputShape   []int
}

func newConvTranspose(n *Node) (any, error) {
	win, err := readConvWindow(n)
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
		convTransposeRun(ec, p, x.Float32s(), w.Float32s(), convBias[float32](b), y.Float32s())
	case Double:
		convTransposeRun(ec, p, x.Float64s(), w.Float64s(), convBias[float64](b), y.Float64s())
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
		convTransposeMat(wt[gi*Q*cg:], cg, w[gi*cg*Q:], Q, cg, Q)
	}
	// xt[b, g] is inP×cg.
	xtT := ec.Empty(DTypeOf[T](), p.n*p.c*inP)
	defer ec.Release(xtT)
	xt := xtT.Data.([]T)
	for b := 0; b < p.n; b++ {
		for gi := 0; gi < p.group; gi++ {
			off := (b*p.c + gi*cg) * inP
			convTransposeMat(xt[off:], cg, x[off:], inP, cg, inP)
		}
	}
	items := p.n * p.group * mg
	ec.Parallel(items, max(1, items/(4*ec.Workers.Workers())), func(lo, hi int) {
		jt := max(1, min(inP, 65536/max(kp, 1)))
		buf := convGetScratch[T](kp * jt)
		defer convPutScratch(buf)
		col := *buf
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
				convGemmNT(kp, j1-j0, cg, ws, cg, xs[j0*cg:], cg, col, j1-j0, nil, false)
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
	win         convWindow
	group       int
	offsetGroup int
}

func newDeformConv(n *Node) (any, error) {
	win, err := readConvWindow(n)
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
	p := deformParams{convParams: convParams{n: N, c: C, m: M, group: k.group, g: convLift3(geom)}, offsetGroup: k.offsetGroup}
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
		d, tmp, err := float32Data(ec, t)
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
	narrowFloat32s(y.Data, ys)
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
		buf := convGetScratch[T](tile * K)
		defer convPutScratch(buf)
		col := *buf
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
							v := deformBilinear(xc, H, W, py, px)
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
			convGemmNT(mg, j1-j0, K, w[gi*mg*K:], K, col, K, y[(b*p.m+gi*mg)*P+j0:], P, bs, false)
		}
	})
}

// deformBilinear samples the H×W plane x at (py, px) with bilinear
// interpolation, treating points outside the plane as zero.
func deformBilinear[T convFloat](x []T, H, W int, py, px float64) float64 {
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
	opt := func(i int) *Tensor {
		if i < len(in) {
			return in[i]
		}
		return nil
	}
	acc, shape, err := k.conv.integerConv(ec, in[0], in[1], opt(2), opt(3))
	if err != nil {
		return err
	}
	defer ec.Release(acc)
	y := ec.Empty(Int32, shape...)
	StoreFloat64s(y, acc.Float64s())
	out[0] = y
	return nil
}

// integerConv convolves 8-bit x and w after removing their zero points.
// It returns the exact sums as a float64 temporary (released by the
// caller) and the output shape.
func (k *convKernel) integerConv(ec *Context, x, w, xzT, wzT *Tensor) (*Tensor, []int, error) {
	for _, t := range []*Tensor{x, w} {
		if t.DType != Uint8 && t.DType != Int8 {
			return nil, nil, fmt.Errorf("unsupported input type %s", t.DType)
		}
	}
	if len(x.Shape) < 3 || len(w.Shape) != len(x.Shape) || len(x.Shape)-2 > convMaxSpatial {
		return nil, nil, fmt.Errorf("x shape %v and w shape %v are not a supported convolution", x.Shape, w.Shape)
	}
	M := w.Shape[0]
	xz, err := convIntZeroPoints(xzT, x.DType, 0, "x_zero_point")
	if err != nil {
		return nil, nil, err
	}
	wz, err := convIntZeroPoints(wzT, w.DType, M, "w_zero_point")
	if err != nil {
		return nil, nil, err
	}
	N, C := x.Shape[0], x.Shape[1]
	g := k.group
	if C != w.Shape[1]*g || M%g != 0 {
		return nil, nil, fmt.Errorf("x shape %v and w shape %v do not agree with group %d", x.Shape, w.Shape, g)
	}
	ks, err := convKernelShape(&k.win, w)
	if err != nil {
		return nil, nil, err
	}
	geom, err := k.win.resolve(x.Shape[2:], ks, false)
	if err != nil {
		return nil, nil, err
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
	shape := append([]int{N, M}, geom.out...)
	acc := ec.Empty(Double, shape...)
	if acc.Len() > 0 {
		convRun(ec, convParams{n: N, c: C, m: M, group: g, g: convLift3(geom)}, xs, ws, nil, acc.Float64s())
	}
	return acc, shape, nil
}

type qlinearConvKernel struct {
	conv convKernel
}

func newConvQLinear(n *Node) (any, error) {
	k, err := newConv(n)
	if err != nil {
		return nil, err
	}
	return &qlinearConvKernel{conv: *k.(*convKernel)}, nil
}

// Run computes QLinearConv: the integer convolution of the de-zeroed
// inputs, plus the int32 bias, rescaled by x_scale·w_scale/y_scale and
// requantized (round half to even, saturating) around y_zero_point.
func (k *qlinearConvKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 8 {
		return fmt.Errorf("8 or 9 inputs are required, got %d", len(in))
	}
	for i, name := range []string{"x", "x_scale", "x_zero_point", "w", "w_scale", "w_zero_point", "y_scale"} {
		if in[i] == nil {
			return fmt.Errorf("input %s is required", name)
		}
	}
	x, w := in[0], in[3]
	M := 0
	if len(w.Shape) > 0 {
		M = w.Shape[0]
	}
	xScale, err := in[1].AsFloat64s()
	if err != nil || len(xScale) != 1 {
		return fmt.Errorf("x_scale must be a float scalar")
	}
	wScale, err := in[4].AsFloat64s()
	if err != nil || (len(wScale) != 1 && len(wScale) != M) {
		return fmt.Errorf("w_scale must be a float scalar or have %d values", M)
	}
	yScale, err := in[6].AsFloat64s()
	if err != nil || len(yScale) != 1 || yScale[0] == 0 {
		return fmt.Errorf("y_scale must be a non-zero float scalar")
	}
	outType := x.DType
	yz := []float64{0}
	if in[7] != nil {
		outType = in[7].DType
		if yz, err = in[7].AsFloat64s(); err != nil || len(yz) != 1 {
			return fmt.Errorf("y_zero_point must be a scalar")
		}
	}
	if outType != Uint8 && outType != Int8 {
		return fmt.Errorf("unsupported output type %s", outType)
	}
	var bias []float64
	if len(in) > 8 && in[8] != nil {
		if in[8].DType != Int32 || !EqualShapes(in[8].Shape, []int{M}) {
			return fmt.Errorf("B must be int32[%d], got %s", M, in[8])
		}
		bias, _ = in[8].AsFloat64s()
	}
	acc, shape, err := k.conv.integerConv(ec, x, w, in[2], in[5])
	if err != nil {
		return err
	}
	defer ec.Release(acc)
	a := acc.Float64s()
	plane := NumElements(shape[2:])
	for i := range a {
		m := (i / plane) % M
		v := a[i]
		if bias != nil {
			v += bias[m]
		}
		ws := wScale[0]
		if len(wScale) > 1 {
			ws = wScale[m]
		}
		a[i] = math.RoundToEven(v*xScale[0]*ws/yScale[0]) + yz[0]
	}
	y := ec.Empty(outType, shape...)
	StoreFloat64s(y, a)
	out[0] = y
	return nil
}

type causalConvKernel struct {
	silu bool
}

func newCausalConv(n *Node) (any, error) {
	switch a := n.Attrs.String("activation", "none"); a {
	case "none":
		return &causalConvKernel{}, nil
	case "silu", "swish":
		return &causalConvKernel{silu: true}, nil
	default:
		return nil, fmt.Errorf("unknown activation %q", a)
	}
}

// Run computes a stateful causal depthwise 1-D convolution: each channel's
// input, prefixed with its carried state (or zeros), is convolved with its
// own kernel, and the last k-1 samples become the new state.
func (k *causalConvKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return fmt.Errorf("inputs input and weight are required")
	}
	x, w := in[0], in[1]
	var b, past *Tensor
	if len(in) > 2 {
		b = in[2]
	}
	if len(in) > 3 {
		past = in[3]
	}
	switch x.DType {
	case Float, Double, Float16, BFloat16:
	default:
		return fmt.Errorf("unsupported input type %s", x.DType)
	}
	if len(x.Shape) != 3 {
		return fmt.Errorf("input must be 3-D (batch, channels, length), got shape %v", x.Shape)
	}
	B, C, L := x.Shape[0], x.Shape[1], x.Shape[2]
	if w.DType != x.DType || len(w.Shape) != 3 || w.Shape[0] != C || w.Shape[1] != 1 || w.Shape[2] < 1 {
		return fmt.Errorf("weight must be %s[%d 1 k], got %s", x.DType, C, w)
	}
	K := w.Shape[2]
	if b != nil && (b.DType != x.DType || !EqualShapes(b.Shape, []int{C})) {
		return fmt.Errorf("bias must be %s[%d], got %s", x.DType, C, b)
	}
	if past != nil && (past.DType != x.DType || !EqualShapes(past.Shape, []int{B, C, K - 1})) {
		return fmt.Errorf("past_state must be %s[%d %d %d], got %s", x.DType, B, C, K-1, past)
	}
	var tmps []*Tensor
	defer func() {
		for _, t := range tmps {
			ec.Release(t)
		}
	}()
	load := func(t *Tensor) ([]float64, error) {
		if t == nil {
			return nil, nil
		}
		d, tmp, err := WorkFloat64s(ec, t)
		if tmp != nil {
			tmps = append(tmps, tmp)
		}
		return d, err
	}
	xs, err := load(x)
	if err != nil {
		return err
	}
	ws, _ := load(w)
	bs, _ := load(b)
	ps, _ := load(past)
	yt := ec.Empty(Double, B, C, L)
	st := ec.Empty(Double, B, C, K-1)
	tmps = append(tmps, yt, st)
	ys, ss := yt.Float64s(), st.Float64s()
	ec.Parallel(B*C, max(1, 4096/max(L*K, 1)), func(lo, hi int) {
		for bc := lo; bc < hi; bc++ {
			c := bc % C
			xr := xs[bc*L : (bc+1)*L]
			wr := ws[c*K : (c+1)*K]
			var pr []float64
			if ps != nil {
				pr = ps[bc*(K-1) : (bc+1)*(K-1)]
			}
			// seq(j) is the j-th sample of the state-prefixed sequence.
			seq := func(j int) float64 {
				if j >= K-1 {
					return xr[j-(K-1)]
				}
				if pr != nil {
					return pr[j]
				}
				return 0
			}
			yr := ys[bc*L : (bc+1)*L]
			for t := 0; t < L; t++ {
				var v float64
				if bs != nil {
					v = bs[c]
				}
				for j, wv := range wr {
					v += wv * seq(t+j)
				}
				if k.silu {
					v = v / (1 + math.Exp(-v))
				}
				yr[t] = v
			}
			sr := ss[bc*(K-1) : (bc+1)*(K-1)]
			for j := range sr {
				sr[j] = seq(L + j)
			}
		}
	})
	y := ec.Empty(x.DType, B, C, L)
	StoreFloat64s(y, ys)
	out[0] = y
	if len(out) > 1 {
		ps := ec.Empty(x.DType, B, C, K-1)
		StoreFloat64s(ps, ss)
		out[1] = ps
	}
	return nil
}
