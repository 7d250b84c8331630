package ops

import (
	"fmt"
	"math"
	"sort"
)

// registerPooling registers the pooling operators: MaxPool, AveragePool,
// LpPool, their global forms, MaxUnpool, RoiAlign and NonMaxSuppression.
func registerPooling(r *Registry) {
	r.Add("", "MaxPool", 1, newMaxPool)
	r.Add("", "AveragePool", 1, newAveragePool)
	r.Add("", "LpPool", 1, newLpPool)
	r.Add("", "GlobalMaxPool", 1, newGlobalPool(globalMax))
	r.Add("", "GlobalAveragePool", 1, newGlobalPool(globalAvg))
	r.Add("", "GlobalLpPool", 1, newGlobalPool(globalLp))
	r.Add("", "MaxUnpool", 9, newMaxUnpool)
	r.Add("", "RoiAlign", 10, newRoiAlign)
	r.Add("", "NonMaxSuppression", 10, newNonMaxSuppression)
}

// poolGeom is a pooling window geometry lifted to three spatial dimensions,
// with the trailing pads needed by count_include_pad.
type poolGeom struct {
	conv3
	padEnd [3]int
	nd     int // number of real spatial dimensions
}

// resolvePool checks X and resolves the pooling geometry for it.
func resolvePool(win *convWindow, x *Tensor, ceil bool) (poolGeom, error) {
	var pg poolGeom
	if len(x.Shape) < 3 {
		return pg, fmt.Errorf("X must have rank at least 3, got shape %v", x.Shape)
	}
	nd := len(x.Shape) - 2
	if nd > convMaxSpatial {
		return pg, fmt.Errorf("%d spatial dimensions are not supported (at most %d)", nd, convMaxSpatial)
	}
	if len(win.kernel) != nd {
		return pg, fmt.Errorf("kernel_shape %v does not match X shape %v", win.kernel, x.Shape)
	}
	g, err := win.resolve(x.Shape[2:], win.kernel, ceil)
	if err != nil {
		return pg, err
	}
	pg.conv3 = convLift3(g)
	pg.nd = nd
	off := 3 - nd
	for i := 0; i < nd; i++ {
		pg.padEnd[off+i] = g.padEnd[i]
	}
	return pg, nil
}

// poolTapRange returns the taps [k0, k1) of a window starting at start (with
// dilation d and kernel size k) that fall inside [lo, hi).
func poolTapRange(start, d, k, lo, hi int) (int, int) {
	k0 := 0
	if start < lo {
		k0 = (lo - start + d - 1) / d
	}
	k1 := k
	if last := start + (k-1)*d; last >= hi {
		k1 = (hi-1-start)/d + 1
		if hi-1-start < 0 {
			k1 = 0
		}
	}
	if k1 < k0 {
		k1 = k0
	}
	return k0, k1
}

func readPoolWindow(n *Node) (convWindow, error) {
	win, err := readConvWindow(n)
	if err != nil {
		return win, err
	}
	if win.kernel == nil {
		return win, fmt.Errorf("attribute kernel_shape is required")
	}
	return win, nil
}

type maxPoolKernel struct {
	win          convWindow
	ceil         bool
	storageOrder int
}

func newMaxPool(n *Node) (any, error) {
	win, err := readPoolWindow(n)
	if err != nil {
		return nil, err
	}
	so := n.Attrs.Int("storage_order", 0)
	if so != 0 && so != 1 {
		return nil, fmt.Errorf("storage_order %d must be 0 or 1", so)
	}
	return &maxPoolKernel{win: win, ceil: n.Attrs.Int("ceil_mode", 0) != 0, storageOrder: int(so)}, nil
}

func (k *maxPoolKernel) Run(ec *Context, in, out []*Tensor) error {
	x := in[0]
	g, err := resolvePool(&k.win, x, k.ceil)
	if err != nil {
		return err
	}
	shape := poolOutShape(x, &g)
	y := ec.Empty(x.DType, shape...)
	out[0] = y
	var idx []int64
	if len(out) > 1 {
		it := ec.Empty(Int64, shape...)
		out[1] = it
		idx = it.Int64s()
	}
	planes := x.Shape[0] * x.Shape[1]
	colMajor := k.storageOrder == 1
	switch xs := x.Data.(type) {
	case []float32:
		maxPoolRun(ec, xs, y.Float32s(), idx, &g, planes, colMajor)
	case []float64:
		maxPoolRun(ec, xs, y.Float64s(), idx, &g, planes, colMajor)
	case []int8:
		maxPoolRun(ec, xs, y.Data.([]int8), idx, &g, planes, colMajor)
	case []uint8:
		if x.DType != Uint8 {
			return fmt.Errorf("unsupported input type %s", x.DType)
		}
		maxPoolRun(ec, xs, y.Data.([]uint8), idx, &g, planes, colMajor)
	case []F16, []BF16:
		xf, tmp, err := float32Data(ec, x)
		if err != nil {
			return err
		}
		yt := ec.Empty(Float, shape...)
		maxPoolRun(ec, xf, yt.Float32s(), idx, &g, planes, colMajor)
		narrowFloat32s(y.Data, yt.Float32s())
		ec.Release(yt)
		ec.Release(tmp)
	default:
		return fmt.Errorf("unsupported input type %s", x.DType)
	}
	return nil
}

func poolOutShape(x *Tensor, g *poolGeom) []int {
	shape := []int{x.Shape[0], x.Shape[1]}
	for i := 3 - g.nd; i < 3; i++ {
		shape = append(shape, g.out[i])
	}
	return shape
}

// poolGrain returns a Parallel grain for planes of per-plane work w.
func poolGrain(w int) int { return max(1, 32768/max(w, 1)) }

func maxPoolRun[T Number](ec *Context, x, y []T, idx []int64, g *poolGeom, planes int, colMajor bool) {
	inP, outP := g.inSize(), g.outSize()
	work := outP * g.kernelSize()
	low := poolLowest[T]()
	if idx == nil {
		maxPoolValues(ec, x, y, g, planes, low)
		return
	}
	ec.Parallel(planes, poolGrain(work), func(lo, hi int) {
		in1, in2 := g.in[1], g.in[2]
		d0, d1, d2 := g.d[0], g.d[1], g.d[2]
		for pl := lo; pl < hi; pl++ {
			xs := x[pl*inP : (pl+1)*inP]
			ys := y[pl*outP : (pl+1)*outP]
			o := 0
			for oz := 0; oz < g.out[0]; oz++ {
				sz := oz*g.s[0] - g.pad[0]
				z0, z1 := poolTapRange(sz, d0, g.k[0], 0, g.in[0])
				for oy := 0; oy < g.out[1]; oy++ {
					sy := oy*g.s[1] - g.pad[1]
					y0, y1 := poolTapRange(sy, d1, g.k[1], 0, in1)
					for ox := 0; ox < g.out[2]; ox++ {
						sx := ox*g.s[2] - g.pad[2]
						x0, x1 := poolTapRange(sx, d2, g.k[2], 0, in2)
						best := -1
						m := low
						for kz := z0; kz < z1; kz++ {
							iz := sz + kz*d0
							for ky := y0; ky < y1; ky++ {
								base := (iz*in1+sy+ky*d1)*in2 + sx
								for i := base + x0*d2; i < base+x1*d2; i += d2 {
									// The first element always wins so that an
									// all-poolLowest window still reports an index;
									// NaN propagates.
									if v := xs[i]; v > m || best < 0 || v != v {
										m, best = v, i
										if v != v {
											goto done
										}
									}
								}
							}
						}
					done:
						ys[o] = m
						if idx != nil {
							if best < 0 {
								idx[pl*outP+o] = -1
							} else {
								idx[pl*outP+o] = int64(pl*inP + poolIndexOrder(best, g, colMajor))
							}
						}
						o++
					}
				}
			}
		}
	})
}

// maxPoolValues is maxPoolRun without indices: a running max (the builtin
// propagates NaN), no branch on the data.
func maxPoolValues[T Number](ec *Context, x, y []T, g *poolGeom, planes int, low T) {
	inP, outP := g.inSize(), g.outSize()
	ec.Parallel(planes, poolGrain(outP*g.kernelSize()), func(lo, hi int) {
		in1, in2 := g.in[1], g.in[2]
		d0, d1, d2 := g.d[0], g.d[1], g.d[2]
		for pl := lo; pl < hi; pl++ {
			xs := x[pl*inP : (pl+1)*inP]
			ys := y[pl*outP : (pl+1)*outP]
			o := 0
			for oz := 0; oz < g.out[0]; oz++ {
				sz := oz*g.s[0] - g.pad[0]
				z0, z1 := poolTapRange(sz, d0, g.k[0], 0, g.in[0])
				for oy := 0; oy < g.out[1]; oy++ {
					sy := oy*g.s[1] - g.pad[1]
					y0, y1 := poolTapRange(sy, d1, g.k[1], 0, in1)
					for ox := 0; ox < g.out[2]; ox++ {
						sx := ox*g.s[2] - g.pad[2]
						x0, x1 := poolTapRange(sx, d2, g.k[2], 0, in2)
						m := low
						for kz := z0; kz < z1; kz++ {
							iz := sz + kz*d0
							for ky := y0; ky < y1; ky++ {
								base := (iz*in1+sy+ky*d1)*in2 + sx
								for i := base + x0*d2; i < base+x1*d2; i += d2 {
									m = max(m, xs[i])
								}
							}
						}
						ys[o] = m
						o++
					}
				}
			}
		}
	})
}

// poolIndexOrder maps a row-major offset within one plane to the index
// storage order asks for (column-major over the spatial dimensions when
// colMajor).
func poolIndexOrder(i int, g *poolGeom, colMajor bool) int {
	if !colMajor {
		return i
	}
	z, yy, xx := i/(g.in[1]*g.in[2]), (i/g.in[2])%g.in[1], i%g.in[2]
	return z + yy*g.in[0] + xx*g.in[0]*g.in[1]
}

// poolLowest returns the smallest value of T (negative infinity for floats).
func poolLowest[T Number]() T {
	var z T
	switch p := any(&z).(type) {
	case *float32:
		*p = float32(math.Inf(-1))
	case *float64:
		*p = math.Inf(-1)
	case *int8:
		*p = math.MinInt8
	case *int16:
		*p = math.MinInt16
	case *int32:
		*p = math.MinInt32
	case *int64:
		*p = math.MinInt64
	}
	return z
}

type avgPoolKernel struct {
	win              convWindow
	ceil             bool
	countIncludePads bool
	lp               float64 // > 0 for LpPool
}

func newAveragePool(n *Node) (any, error) {
	win, err := readPoolWindow(n)
	if err != nil {
		return nil, err
	}
	return &avgPoolKernel{
		win:              win,
		ceil:             n.Attrs.Int("ceil_mode", 0) != 0,
		countIncludePads: n.Attrs.Int("count_include_pad", 0) != 0,
	}, nil
}

func newLpPool(n *Node) (any, error) {
	win, err := readPoolWindow(n)
	if err != nil {
		return nil, err
	}
	p := n.Attrs.Int("p", 2)
	if n.Attrs.Has("p") && n.Attrs.Get("p").Type == AttrFloat {
		// LpPool-1 declared p as a float.
		p = int64(n.Attrs.Float("p", 2))
	}
	if p <= 0 {
		return nil, fmt.Errorf("p %d must be positive", p)
	}
	return &avgPoolKernel{win: win, ceil: n.Attrs.Int("ceil_mode", 0) != 0, lp: float64(p)}, nil
}

func (k *avgPoolKernel) Run(ec *Context, in, out []*Tensor) error {
	x := in[0]
	g, err := resolvePool(&k.win, x, k.ceil)
	if err != nil {
		return err
	}
	shape := poolOutShape(x, &g)
	y := ec.Empty(x.DType, shape...)
	out[0] = y
	planes := x.Shape[0] * x.Shape[1]
	switch x.DType {
	case Float:
		avgPoolRun(ec, x.Float32s(), y.Float32s(), &g, planes, k.countIncludePads, k.lp)
	case Double:
		avgPoolRun(ec, x.Float64s(), y.Float64s(), &g, planes, k.countIncludePads, k.lp)
	case Float16, BFloat16:
		xf, tmp, err := float32Data(ec, x)
		if err != nil {
			return err
		}
		yt := ec.Empty(Float, shape...)
		avgPoolRun(ec, xf, yt.Float32s(), &g, planes, k.countIncludePads, k.lp)
		narrowFloat32s(y.Data, yt.Float32s())
		ec.Release(yt)
		ec.Release(tmp)
	default:
		return fmt.Errorf("unsupported input type %s", x.DType)
	}
	return nil
}

// avgPoolRun computes AveragePool, or LpPool when lp > 0.
func avgPoolRun[T convFloat](ec *Context, x, y []T, g *poolGeom, planes int, includePad bool, lp float64) {
	inP, outP := g.inSize(), g.outSize()
	work := outP * g.kernelSize()
	ec.Parallel(planes, poolGrain(work), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			xs := x[pl*inP : (pl+1)*inP]
			ys := y[pl*outP : (pl+1)*outP]
			o := 0
			for oz := 0; oz < g.out[0]; oz++ {
				sz := oz*g.s[0] - g.pad[0]
				z0, z1 := poolTapRange(sz, g.d[0], g.k[0], 0, g.in[0])
				pz0, pz1 := poolTapRange(sz, g.d[0], g.k[0], -g.pad[0], g.in[0]+g.padEnd[0])
				for oy := 0; oy < g.out[1]; oy++ {
					sy := oy*g.s[1] - g.pad[1]
					y0, y1 := poolTapRange(sy, g.d[1], g.k[1], 0, g.in[1])
					py0, py1 := poolTapRange(sy, g.d[1], g.k[1], -g.pad[1], g.in[1]+g.padEnd[1])
					for ox := 0; ox < g.out[2]; ox++ {
						sx := ox*g.s[2] - g.pad[2]
						x0, x1 := poolTapRange(sx, g.d[2], g.k[2], 0, g.in[2])
						var sum float64
						for kz := z0; kz < z1; kz++ {
							iz := sz + kz*g.d[0]
							for ky := y0; ky < y1; ky++ {
								base := (iz*g.in[1] + sy + ky*g.d[1]) * g.in[2]
								for kx := x0; kx < x1; kx++ {
									v := float64(xs[base+sx+kx*g.d[2]])
									switch lp {
									case 0:
										sum += v
									case 1:
										sum += math.Abs(v)
									case 2:
										sum += v * v
									default:
										sum += math.Pow(math.Abs(v), lp)
									}
								}
							}
						}
						switch {
						case lp > 0:
							if lp == 2 {
								sum = math.Sqrt(sum)
							} else if lp != 1 {
								sum = math.Pow(sum, 1/lp)
							}
						case includePad:
							px0, px1 := poolTapRange(sx, g.d[2], g.k[2], -g.pad[2], g.in[2]+g.padEnd[2])
							sum /= float64((pz1 - pz0) * (py1 - py0) * (px1 - px0))
						default:
							n := (z1 - z0) * (y1 - y0) * (x1 - x0)
							if n == 0 {
								sum = math.NaN()
							} else {
								sum /= float64(n)
							}
						}
						ys[o] = T(sum)
						o++
					}
				}
			}
		}
	})
}

type globalPoolMode int

const (
	globalMax globalPoolMode = iota
	globalAvg
	globalLp
)

type globalPoolKernel struct {
	mode globalPoolMode
	p    float64
}

func newGlobalPool(mode globalPoolMode) Factory {
	return func(n *Node) (any, error) {
		k := &globalPoolKernel{mode: mode, p: 2}
		if mode == globalLp {
			if at := n.Attrs.Get("p"); at != nil && at.Type == AttrFloat {
				k.p = float64(at.F)
			} else {
				k.p = float64(n.Attrs.Int("p", 2))
			}
			if k.p <= 0 {
				return nil, fmt.Errorf("p %v must be positive", k.p)
			}
		}
		return k, nil
	}
}

func (k *globalPoolKernel) Run(ec *Context, in, out []*Tensor) error {
	x := in[0]
	if len(x.Shape) < 2 {
		return fmt.Errorf("X must have rank at least 2, got shape %v", x.Shape)
	}
	shape := make([]int, len(x.Shape))
	shape[0], shape[1] = x.Shape[0], x.Shape[1]
	for i := 2; i < len(shape); i++ {
		shape[i] = 1
	}
	y := ec.Empty(x.DType, shape...)
	out[0] = y
	planes := x.Shape[0] * x.Shape[1]
	size := NumElements(x.Shape[2:])
	switch x.DType {
	case Float:
		globalPoolRun(ec, x.Float32s(), y.Float32s(), planes, size, k.mode, k.p)
	case Double:
		globalPoolRun(ec, x.Float64s(), y.Float64s(), planes, size, k.mode, k.p)
	case Float16, BFloat16:
		xf, tmp, err := float32Data(ec, x)
		if err != nil {
			return err
		}
		yt := ec.Empty(Float, shape...)
		globalPoolRun(ec, xf, yt.Float32s(), planes, size, k.mode, k.p)
		narrowFloat32s(y.Data, yt.Float32s())
		ec.Release(yt)
		ec.Release(tmp)
	default:
		return fmt.Errorf("unsupported input type %s", x.DType)
	}
	return nil
}

func globalPoolRun[T convFloat](ec *Context, x, y []T, planes, size int, mode globalPoolMode, p float64) {
	ec.Parallel(planes, poolGrain(size), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			xs := x[pl*size : (pl+1)*size]
			switch mode {
			case globalMax:
				m := T(math.Inf(-1))
				for _, v := range xs {
					if v > m || v != v {
						m = v
					}
				}
				y[pl] = m
			case globalAvg:
				var s float64
				for _, v := range xs {
					s += float64(v)
				}
				y[pl] = T(s / float64(size))
			default:
				var s float64
				for _, v := range xs {
					s += math.Pow(math.Abs(float64(v)), p)
				}
				y[pl] = T(math.Pow(s, 1/p))
			}
		}
	})
}

type maxUnpoolKernel struct {
	win convWindow
}

func newMaxUnpool(n *Node) (any, error) {
	win, err := readPoolWindow(n)
	if err != nil {
		return nil, err
	}
	return &maxUnpoolKernel{win: win}, nil
}

func (k *maxUnpoolKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 2 || in[1] == nil {
		return fmt.Errorf("inputs X and I are required")
	}
	x, ind := in[0], in[1]
	if len(x.Shape) < 3 || len(x.Shape)-2 != len(k.win.kernel) {
		return fmt.Errorf("X shape %v does not match kernel_shape %v", x.Shape, k.win.kernel)
	}
	if !EqualShapes(x.Shape, ind.Shape) {
		return fmt.Errorf("I shape %v differs from X shape %v", ind.Shape, x.Shape)
	}
	indices, err := ind.AsInt64s()
	if err != nil {
		return fmt.Errorf("I: %w", err)
	}
	nd := len(k.win.kernel)
	// The indices address the output of the inferred shape (the input of
	// the MaxPool that produced them); an explicit output_shape only
	// enlarges the tensor they are placed in.
	inferred := []int{x.Shape[0], x.Shape[1]}
	for i := 0; i < nd; i++ {
		s := 1
		if k.win.strides != nil {
			s = k.win.strides[i]
		}
		o := (x.Shape[2+i]-1)*s + k.win.kernel[i]
		if k.win.pads != nil {
			o -= k.win.pads[i] + k.win.pads[nd+i]
		}
		if o < 0 {
			return fmt.Errorf("negative output size %d on spatial axis %d", o, i)
		}
		inferred = append(inferred, o)
	}
	shape := inferred
	if len(in) > 2 && in[2] != nil {
		os, err := in[2].AsInt64s()
		if err != nil {
			return fmt.Errorf("output_shape: %w", err)
		}
		if len(os) != len(x.Shape) {
			return fmt.Errorf("output_shape %v must have rank %d", os, len(x.Shape))
		}
		shape = make([]int, len(os))
		for i, v := range os {
			if v < 0 || i < 2 && int(v) != x.Shape[i] {
				return fmt.Errorf("output_shape %v does not match X shape %v", os, x.Shape)
			}
			shape[i] = int(v)
			if i >= 2 && shape[i] < inferred[i] {
				return fmt.Errorf("output_shape %v is smaller than the inferred %v", os, inferred)
			}
		}
	}
	y := ec.New(x.DType, shape...)
	out[0] = y
	total := int64(NumElements(inferred))
	for _, v := range indices {
		if v < 0 || v >= total {
			return fmt.Errorf("index %d out of range for shape %v", v, inferred)
		}
	}
	if !EqualShapes(shape, inferred) {
		// Re-linearise every index into the larger output.
		remapped := make([]int64, len(indices))
		for i, v := range indices {
			var o int64
			rem := v
			div := total
			for d := range inferred {
				div /= int64(inferred[d])
				c := rem / div
				rem %= div
				o = o*int64(shape[d]) + c
			}
			remapped[i] = o
		}
		indices = remapped
	}
	switch xs := x.Data.(type) {
	case []float32:
		unpoolScatter(y.Float32s(), xs, indices)
	case []float64:
		unpoolScatter(y.Float64s(), xs, indices)
	case []F16:
		unpoolScatter(y.Data.([]F16), xs, indices)
	case []BF16:
		unpoolScatter(y.Data.([]BF16), xs, indices)
	default:
		return fmt.Errorf("unsupported input type %s", x.DType)
	}
	return nil
}

func unpoolScatter[T any](y, x []T, idx []int64) {
	for i, v := range x {
		y[idx[i]] = v
	}
}

type roiAlignKernel struct {
	halfPixel     bool
	max           bool
	outH, outW    int
	samplingRatio int
	spatialScale  float64
}

func newRoiAlign(n *Node) (any, error) {
	k := &roiAlignKernel{
		outH:          int(n.Attrs.Int("output_height", 1)),
		outW:          int(n.Attrs.Int("output_width", 1)),
		samplingRatio: int(n.Attrs.Int("sampling_ratio", 0)),
		spatialScale:  float64(n.Attrs.Float("spatial_scale", 1)),
	}
	defMode := "half_pixel"
	if n.Version < 16 {
		defMode = "output_half_pixel"
	}
	switch ctm := n.Attrs.String("coordinate_transformation_mode", defMode); ctm {
	case "half_pixel":
		k.halfPixel = true
	case "output_half_pixel":
	default:
		return nil, fmt.Errorf("unknown coordinate_transformation_mode %q", ctm)
	}
	switch mode := n.Attrs.String("mode", "avg"); mode {
	case "avg":
	case "max":
		k.max = true
	default:
		return nil, fmt.Errorf("unknown mode %q", mode)
	}
	if k.outH <= 0 || k.outW <= 0 {
		return nil, fmt.Errorf("output_height %d and output_width %d must be positive", k.outH, k.outW)
	}
	if k.samplingRatio < 0 {
		return nil, fmt.Errorf("sampling_ratio %d must not be negative", k.samplingRatio)
	}
	return k, nil
}

// roiSample is one bilinear sample point: four plane offsets and weights.
type roiSample struct {
	pos [4]int
	w   [4]float64
}

func (k *roiAlignKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 3 || in[1] == nil || in[2] == nil {
		return fmt.Errorf("inputs X, rois and batch_indices are required")
	}
	x, rois, bi := in[0], in[1], in[2]
	if len(x.Shape) != 4 {
		return fmt.Errorf("X must be 4-D, got shape %v", x.Shape)
	}
	if len(rois.Shape) != 2 || rois.Shape[1] != 4 {
		return fmt.Errorf("rois must have shape [num_rois, 4], got %v", rois.Shape)
	}
	R := rois.Shape[0]
	if len(bi.Shape) != 1 || bi.Shape[0] != R {
		return fmt.Errorf("batch_indices shape %v must be [%d]", bi.Shape, R)
	}
	batch, err := bi.AsInt64s()
	if err != nil {
		return fmt.Errorf("batch_indices: %w", err)
	}
	N, C, H, W := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	for _, b := range batch {
		if b < 0 || b >= int64(N) {
			return fmt.Errorf("batch index %d out of range [0, %d)", b, N)
		}
	}
	xd, xt, err := WorkFloat64s(ec, x)
	if err != nil {
		return err
	}
	defer ec.Release(xt)
	rd, rt, err := WorkFloat64s(ec, rois)
	if err != nil {
		return err
	}
	defer ec.Release(rt)
	y := ec.Empty(x.DType, R, C, k.outH, k.outW)
	out[0] = y
	yt := ec.Empty(Double, y.Shape...)
	defer ec.Release(yt)
	ys := yt.Float64s()
	ec.Parallel(R, 1, func(lo, hi int) {
		var samples []roiSample
		for r := lo; r < hi; r++ {
			off := 0.0
			if k.halfPixel {
				off = 0.5
			}
			x0 := rd[r*4]*k.spatialScale - off
			y0 := rd[r*4+1]*k.spatialScale - off
			x1 := rd[r*4+2]*k.spatialScale - off
			y1 := rd[r*4+3]*k.spatialScale - off
			rw, rh := x1-x0, y1-y0
			if !k.halfPixel {
				rw, rh = max(rw, 1), max(rh, 1)
			}
			bh, bw := rh/float64(k.outH), rw/float64(k.outW)
			gh, gw := k.samplingRatio, k.samplingRatio
			if gh == 0 {
				gh = int(math.Ceil(rh / float64(k.outH)))
				gw = int(math.Ceil(rw / float64(k.outW)))
			}
			gh, gw = max(gh, 0), max(gw, 0)
			count := max(gh*gw, 1)
			samples = samples[:0]
			for ph := 0; ph < k.outH; ph++ {
				for pw := 0; pw < k.outW; pw++ {
					for iy := 0; iy < gh; iy++ {
						yy := y0 + float64(ph)*bh + (float64(iy)+0.5)*bh/float64(gh)
						for ix := 0; ix < gw; ix++ {
							xx := x0 + float64(pw)*bw + (float64(ix)+0.5)*bw/float64(gw)
							samples = append(samples, roiBilinear(H, W, yy, xx))
						}
					}
				}
			}
			per := gh * gw
			for c := 0; c < C; c++ {
				plane := xd[(int(batch[r])*C+c)*H*W : (int(batch[r])*C+c+1)*H*W]
				dst := ys[(r*C+c)*k.outH*k.outW:]
				for b := 0; b < k.outH*k.outW; b++ {
					var v float64
					for si, s := range samples[b*per : (b+1)*per] {
						if k.max {
							m := max(s.w[0]*plane[s.pos[0]], s.w[1]*plane[s.pos[1]], s.w[2]*plane[s.pos[2]], s.w[3]*plane[s.pos[3]])
							if si == 0 || m > v {
								v = m
							}
						} else {
							v += s.w[0]*plane[s.pos[0]] + s.w[1]*plane[s.pos[1]] + s.w[2]*plane[s.pos[2]] + s.w[3]*plane[s.pos[3]]
						}
					}
					if !k.max {
						v /= float64(count)
					}
					dst[b] = v
				}
			}
		}
	})
	StoreFloat64s(y, ys)
	return nil
}

// roiBilinear computes the corner offsets and weights of a bilinear sample
// at (y, x) in an H×W plane, zero outside the extended boundary.
func roiBilinear(H, W int, y, x float64) roiSample {
	var s roiSample
	if !(y >= -1 && y <= float64(H) && x >= -1 && x <= float64(W)) { // also NaN
		return s
	}
	y, x = max(y, 0), max(x, 0)
	yl, xl := int(y), int(x)
	var yh, xh int
	if yl >= H-1 {
		yl, yh = H-1, H-1
		y = float64(yl)
	} else {
		yh = yl + 1
	}
	if xl >= W-1 {
		xl, xh = W-1, W-1
		x = float64(xl)
	} else {
		xh = xl + 1
	}
	ly, lx := y-float64(yl), x-float64(xl)
	hy, hx := 1-ly, 1-lx
	s.pos = [4]int{yl*W + xl, yl*W + xh, yh*W + xl, yh*W + xh}
	s.w = [4]float64{hy * hx, hy * lx, ly * hx, ly * lx}
	return s
}

type nmsKernel struct {
	centerPoint bool
}

func newNonMaxSuppression(n *Node) (any, error) {
	cpb := n.Attrs.Int("center_point_box", 0)
	if cpb != 0 && cpb != 1 {
		return nil, fmt.Errorf("center_point_box %d must be 0 or 1", cpb)
	}
	return &nmsKernel{centerPoint: cpb == 1}, nil
}

func (k *nmsKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 2 || in[1] == nil {
		return fmt.Errorf("inputs boxes and scores are required")
	}
	boxes, scores := in[0], in[1]
	if len(boxes.Shape) != 3 || boxes.Shape[2] != 4 {
		return fmt.Errorf("boxes must have shape [batch, spatial, 4], got %v", boxes.Shape)
	}
	if len(scores.Shape) != 3 || scores.Shape[0] != boxes.Shape[0] || scores.Shape[2] != boxes.Shape[1] {
		return fmt.Errorf("scores shape %v does not match boxes shape %v", scores.Shape, boxes.Shape)
	}
	var maxOut int64
	iouThr, scoreThr := 0.0, math.Inf(-1)
	if len(in) > 2 && in[2] != nil && in[2].Len() > 0 {
		v, err := in[2].AsInt64s()
		if err != nil {
			return fmt.Errorf("max_output_boxes_per_class: %w", err)
		}
		maxOut = v[0]
	}
	if len(in) > 3 && in[3] != nil && in[3].Len() > 0 {
		v, err := in[3].AsFloat64s()
		if err != nil {
			return fmt.Errorf("iou_threshold: %w", err)
		}
		iouThr = v[0]
		if iouThr < 0 || iouThr > 1 {
			return fmt.Errorf("iou_threshold %v must be in [0, 1]", iouThr)
		}
	}
	if len(in) > 4 && in[4] != nil && in[4].Len() > 0 {
		v, err := in[4].AsFloat64s()
		if err != nil {
			return fmt.Errorf("score_threshold: %w", err)
		}
		scoreThr = v[0]
	}
	bd, bt, err := WorkFloat64s(ec, boxes)
	if err != nil {
		return err
	}
	defer ec.Release(bt)
	sd, st, err := WorkFloat64s(ec, scores)
	if err != nil {
		return err
	}
	defer ec.Release(st)
	B, S, Cn := boxes.Shape[0], boxes.Shape[1], scores.Shape[1]
	// Normalise boxes to (y1, x1, y2, x2) with y1 <= y2 and x1 <= x2.
	norm := make([][4]float64, S)
	var selected []int64
	order := make([]int, 0, S)
	var kept []int
	for b := 0; b < B; b++ {
		for i := 0; i < S; i++ {
			v := bd[(b*S+i)*4 : (b*S+i)*4+4]
			if k.centerPoint {
				xc, yc, w, h := v[0], v[1], v[2], v[3]
				norm[i] = [4]float64{yc - h/2, xc - w/2, yc + h/2, xc + w/2}
			} else {
				norm[i] = [4]float64{min(v[0], v[2]), min(v[1], v[3]), max(v[0], v[2]), max(v[1], v[3])}
			}
		}
		for c := 0; c < Cn; c++ {
			sc := sd[(b*Cn+c)*S : (b*Cn+c+1)*S]
			order = order[:0]
			for i, s := range sc {
				if s > scoreThr {
					order = append(order, i)
				}
			}
			sort.SliceStable(order, func(i, j int) bool { return sc[order[i]] > sc[order[j]] })
			kept = kept[:0]
			for _, i := range order {
				if int64(len(kept)) >= maxOut {
					break
				}
				ok := true
				for _, j := range kept {
					if nmsIoU(norm[i], norm[j]) > iouThr {
						ok = false
						break
					}
				}
				if ok {
					kept = append(kept, i)
					selected = append(selected, int64(b), int64(c), int64(i))
				}
			}
		}
	}
	y := ec.Empty(Int64, len(selected)/3, 3)
	copy(y.Int64s(), selected)
	out[0] = y
	return nil
}

// nmsIoU returns the intersection over union of two (y1, x1, y2, x2) boxes.
func nmsIoU(a, b [4]float64) float64 {
	areaA := (a[2] - a[0]) * (a[3] - a[1])
	areaB := (b[2] - b[0]) * (b[3] - b[1])
	if areaA <= 0 || areaB <= 0 {
		return 0
	}
	ih := min(a[2], b[2]) - max(a[0], b[0])
	iw := min(a[3], b[3]) - max(a[1], b[1])
	if ih <= 0 || iw <= 0 {
		return 0
	}
	inter := ih * iw
	return inter / (areaA + areaB - inter)
}
