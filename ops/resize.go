package ops

import (
	"fmt"
	"math"
	"unsafe"
)

// registerResize registers Resize and the deprecated Upsample.
func registerResize(r *Registry) {
	r.Add("", "Resize", 10, newResize)
	r.Add("", "Upsample", 7, newUpsample)
}

// Interpolation modes.
const (
	resizeNearest = iota
	resizeLinear
	resizeCubic
)

type resizeKernel struct {
	version        int
	mode           int
	ctm            string
	nearestMode    string
	cubicA         float64
	excludeOutside bool
	extrapolation  float64
	antialias      bool
	axes           []int
	keepAspect     string

	upsample   bool      // Upsample: scales only, no roi or sizes
	scalesAttr []float32 // Upsample-7's scales attribute
}

func parseResizeMode(m string) (int, error) {
	switch m {
	case "nearest":
		return resizeNearest, nil
	case "linear", "bilinear", "trilinear":
		return resizeLinear, nil
	case "cubic", "bicubic":
		return resizeCubic, nil
	}
	return 0, fmt.Errorf("unknown mode %q", m)
}

func newResize(n *Node) (any, error) {
	k := &resizeKernel{version: n.Version}
	var err error
	if k.mode, err = parseResizeMode(n.Attrs.String("mode", "nearest")); err != nil {
		return nil, err
	}
	if n.Version < 11 {
		// Resize-10: asymmetric coordinates; nearest rounds down when
		// upsampling and up when downsampling.
		k.ctm = "asymmetric"
		k.nearestMode = "simple"
		if k.mode == resizeCubic {
			return nil, fmt.Errorf("mode cubic requires opset 11")
		}
		return k, nil
	}
	k.ctm = n.Attrs.String("coordinate_transformation_mode", "half_pixel")
	switch k.ctm {
	case "half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_crop_and_resize":
	case "tf_half_pixel_for_nn":
		if n.Version >= 13 {
			return nil, fmt.Errorf("coordinate_transformation_mode %q was removed in opset 13", k.ctm)
		}
	case "half_pixel_symmetric":
		if n.Version < 19 {
			return nil, fmt.Errorf("coordinate_transformation_mode %q requires opset 19", k.ctm)
		}
	default:
		return nil, fmt.Errorf("unknown coordinate_transformation_mode %q", k.ctm)
	}
	k.nearestMode = n.Attrs.String("nearest_mode", "round_prefer_floor")
	switch k.nearestMode {
	case "round_prefer_floor", "round_prefer_ceil", "floor", "ceil":
	default:
		return nil, fmt.Errorf("unknown nearest_mode %q", k.nearestMode)
	}
	k.cubicA = float64(n.Attrs.Float("cubic_coeff_a", -0.75))
	k.excludeOutside = n.Attrs.Int("exclude_outside", 0) != 0
	k.extrapolation = float64(n.Attrs.Float("extrapolation_value", 0))
	if n.Version >= 18 {
		k.antialias = n.Attrs.Int("antialias", 0) != 0
		k.axes, _ = n.Attrs.IntsAsInts("axes")
		k.keepAspect = n.Attrs.String("keep_aspect_ratio_policy", "stretch")
		switch k.keepAspect {
		case "stretch", "not_larger", "not_smaller":
		default:
			return nil, fmt.Errorf("unknown keep_aspect_ratio_policy %q", k.keepAspect)
		}
	}
	return k, nil
}

func newUpsample(n *Node) (any, error) {
	k := &resizeKernel{version: n.Version, upsample: true, ctm: "asymmetric", nearestMode: "floor"}
	var err error
	if k.mode, err = parseResizeMode(n.Attrs.String("mode", "nearest")); err != nil {
		return nil, err
	}
	if k.mode == resizeCubic {
		return nil, fmt.Errorf("Upsample does not support mode cubic")
	}
	if n.Version < 9 {
		s, ok := n.Attrs.Floats("scales")
		if !ok {
			return nil, fmt.Errorf("attribute scales is required")
		}
		for _, v := range s {
			if v < 1 {
				return nil, fmt.Errorf("scales %v must be at least 1", s)
			}
		}
		k.scalesAttr = s
	}
	return k, nil
}

// resizeAxis is the resolved sampling of one axis: for every output index
// the taps (input indices and weights) that produce it, or extrapolation.
type resizeAxis struct {
	in, out  int
	ntaps    int
	idx      []int
	w        []float64
	extrap   []bool
	identity bool
}

// resizePlan resolves output sizes and per-axis scales from the inputs.
func (k *resizeKernel) plan(in []*Tensor, x *Tensor) (outShape []int, scales []float64, roi []float64, err error) {
	r := len(x.Shape)
	var scaleT, sizeT, roiT *Tensor
	switch {
	case k.upsample && k.version < 9:
	case k.upsample || k.version < 11:
		if len(in) < 2 || in[1] == nil {
			return nil, nil, nil, fmt.Errorf("input scales is required")
		}
		scaleT = in[1]
	default:
		if len(in) > 1 {
			roiT = in[1]
		}
		if len(in) > 2 {
			scaleT = in[2]
		}
		if len(in) > 3 {
			sizeT = in[3]
		}
	}
	if scaleT != nil && scaleT.Len() == 0 {
		scaleT = nil
	}
	if sizeT != nil && sizeT.Len() == 0 {
		sizeT = nil
	}
	if roiT != nil && roiT.Len() == 0 {
		roiT = nil
	}
	axes := make([]int, 0, r)
	if k.axes != nil {
		seen := make([]bool, r)
		for _, a := range k.axes {
			na, err := NormalizeAxis(a, r)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("axes: %w", err)
			}
			if seen[na] {
				return nil, nil, nil, fmt.Errorf("axes %v repeat axis %d", k.axes, a)
			}
			seen[na] = true
			axes = append(axes, na)
		}
	} else {
		for i := 0; i < r; i++ {
			axes = append(axes, i)
		}
	}
	scales = make([]float64, r)
	outShape = append([]int(nil), x.Shape...)
	for i := range scales {
		scales[i] = 1
	}
	switch {
	case k.scalesAttr != nil || scaleT != nil:
		if sizeT != nil {
			return nil, nil, nil, fmt.Errorf("only one of scales and sizes may be given")
		}
		var s []float64
		if k.scalesAttr != nil {
			for _, v := range k.scalesAttr {
				s = append(s, float64(v))
			}
		} else {
			if scaleT.DType != Float && scaleT.DType != Double && scaleT.DType != Float16 {
				return nil, nil, nil, fmt.Errorf("scales must be a float tensor, got %s", scaleT.DType)
			}
			if s, err = scaleT.AsFloat64s(); err != nil {
				return nil, nil, nil, fmt.Errorf("scales: %w", err)
			}
		}
		if len(s) != len(axes) {
			return nil, nil, nil, fmt.Errorf("%d scales for %d axes", len(s), len(axes))
		}
		for i, a := range axes {
			if !(s[i] > 0) || math.IsInf(s[i], 0) {
				return nil, nil, nil, fmt.Errorf("scales %v must be positive", s)
			}
			scales[a] = s[i]
			outShape[a] = int(s[i] * float64(x.Shape[a]))
		}
	case sizeT != nil:
		sz, err := sizeT.AsInt64s()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("sizes: %w", err)
		}
		if len(sz) != len(axes) {
			return nil, nil, nil, fmt.Errorf("%d sizes for %d axes", len(sz), len(axes))
		}
		for i, a := range axes {
			if sz[i] < 0 {
				return nil, nil, nil, fmt.Errorf("sizes %v must not be negative", sz)
			}
			if x.Shape[a] == 0 {
				return nil, nil, nil, fmt.Errorf("cannot resize an empty axis %d to %d", a, sz[i])
			}
			scales[a] = float64(sz[i]) / float64(x.Shape[a])
			outShape[a] = int(sz[i])
		}
		if k.keepAspect == "not_larger" || k.keepAspect == "not_smaller" {
			s := scales[axes[0]]
			for _, a := range axes[1:] {
				if k.keepAspect == "not_larger" {
					s = min(s, scales[a])
				} else {
					s = max(s, scales[a])
				}
			}
			for _, a := range axes {
				scales[a] = s
				outShape[a] = int(s*float64(x.Shape[a]) + 0.5)
			}
		}
	default:
		return nil, nil, nil, fmt.Errorf("one of scales and sizes is required")
	}
	roi = make([]float64, 2*r)
	for i := 0; i < r; i++ {
		roi[i], roi[r+i] = 0, 1
	}
	if roiT != nil && k.ctm == "tf_crop_and_resize" {
		rv, err := roiT.AsFloat64s()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("roi: %w", err)
		}
		if len(rv) != 2*len(axes) {
			return nil, nil, nil, fmt.Errorf("roi has %d values for %d axes", len(rv), len(axes))
		}
		for i, a := range axes {
			roi[a], roi[r+a] = rv[i], rv[len(axes)+i]
		}
	}
	return outShape, scales, roi, nil
}

// coord maps output index x of an axis to the input coordinate; ok is
// false when tf_crop_and_resize falls outside the input.
func (k *resizeKernel) coord(x float64, scale float64, in, out int, roiStart, roiEnd float64) (float64, bool) {
	// The output length the scale implies, which differs from the integer
	// length when scales were given.
	outW := scale * float64(in)
	switch k.ctm {
	case "align_corners":
		if outW == 1 {
			return 0, true
		}
		return x * float64(in-1) / (outW - 1), true
	case "asymmetric":
		return x / scale, true
	case "tf_crop_and_resize":
		var xo float64
		if out == 1 {
			xo = (roiEnd - roiStart) * float64(in-1) / 2
		} else {
			xo = x * (roiEnd - roiStart) * float64(in-1) / (outW - 1)
		}
		xo += roiStart * float64(in-1)
		return xo, xo >= 0 && xo <= float64(in-1)
	case "pytorch_half_pixel":
		if out == 1 {
			return 0, true
		}
		return (x+0.5)/scale - 0.5, true
	case "half_pixel_symmetric":
		adj := float64(out) / outW
		center := float64(in) / 2
		return center*(1-adj) + (x+0.5)/scale - 0.5, true
	case "tf_half_pixel_for_nn":
		return (x + 0.5) / scale, true
	}
	return (x+0.5)/scale - 0.5, true // half_pixel
}

// axisPlan builds the taps of one axis.
func (k *resizeKernel) axisPlan(in, out int, scale, roiStart, roiEnd float64) resizeAxis {
	ax := resizeAxis{in: in, out: out, extrap: make([]bool, out)}
	if k.mode == resizeNearest {
		ax.ntaps = 1
		ax.idx = make([]int, out)
		ax.w = make([]float64, out)
		ax.identity = in == out
		for o := 0; o < out; o++ {
			xo, ok := k.coord(float64(o), scale, in, out, roiStart, roiEnd)
			if !ok {
				ax.extrap[o] = true
				ax.identity = false
				ax.idx[o] = -1
				continue
			}
			var i int
			f := math.Floor(xo)
			mode := k.nearestMode
			if mode == "simple" {
				mode = "floor"
				if scale < 1 {
					mode = "ceil"
				}
			}
			switch mode {
			case "floor":
				i = int(f)
			case "ceil":
				i = int(math.Ceil(xo))
			case "round_prefer_ceil":
				if xo-f >= 0.5 {
					i = int(f) + 1
				} else {
					i = int(f)
				}
			default:
				if xo-f > 0.5 {
					i = int(f) + 1
				} else {
					i = int(f)
				}
			}
			i = min(max(i, 0), in-1)
			ax.idx[o], ax.w[o] = i, 1
			if i != o {
				ax.identity = false
			}
		}
		return ax
	}
	// Linear and cubic filters, stretched by 1/scale when antialiasing a
	// downsample.
	fs := 1.0
	if k.antialias && scale < 1 {
		fs = scale
	}
	support := 1.0
	if k.mode == resizeCubic {
		support = 2
	}
	start := int(math.Floor(-support/fs)) + 1
	n := 2 - 2*start
	ax.ntaps = n
	ax.idx = make([]int, out*n)
	ax.w = make([]float64, out*n)
	ax.identity = in == out
	for o := 0; o < out; o++ {
		idx, w := ax.idx[o*n:(o+1)*n], ax.w[o*n:(o+1)*n]
		xo, ok := k.coord(float64(o), scale, in, out, roiStart, roiEnd)
		if !ok {
			ax.extrap[o] = true
			ax.identity = false
			continue
		}
		base := math.Floor(xo)
		ratio := xo - base
		var sum float64
		for t := 0; t < n; t++ {
			d := (float64(start+t) - ratio) * fs
			var c float64
			if k.mode == resizeCubic {
				c = resizeCubicWeight(d, k.cubicA)
			} else {
				c = max(0, 1-math.Abs(d))
			}
			w[t] = c
			sum += c
			idx[t] = int(base) + start + t
		}
		if sum != 0 && sum != 1 {
			for t := range w {
				w[t] /= sum
			}
		}
		if k.excludeOutside {
			sum = 0
			for t := range w {
				if idx[t] < 0 || idx[t] >= in {
					w[t] = 0
				}
				sum += w[t]
			}
			if sum != 0 {
				for t := range w {
					w[t] /= sum
				}
			}
		}
		for t := range idx {
			idx[t] = min(max(idx[t], 0), in-1)
			if w[t] != 0 && (idx[t] != o || w[t] != 1) {
				ax.identity = false
			}
		}
	}
	return ax
}

// resizeCubicWeight is the Keys cubic convolution kernel with parameter a.
func resizeCubicWeight(x, a float64) float64 {
	x = math.Abs(x)
	switch {
	case x <= 1:
		return ((a+2)*x-(a+3))*x*x + 1
	case x < 2:
		return ((a*x-5*a)*x+8*a)*x - 4*a
	}
	return 0
}

func (k *resizeKernel) Run(ec *Context, in, out []*Tensor) error {
	x := in[0]
	if x == nil {
		return fmt.Errorf("input X is required")
	}
	outShape, scales, roi, err := k.plan(in, x)
	if err != nil {
		return err
	}
	r := len(x.Shape)
	if r == 0 {
		y := ec.Empty(x.DType)
		CopySlice(y.Data, x.Data)
		out[0] = y
		return nil
	}
	axes := make([]resizeAxis, r)
	for a := 0; a < r; a++ {
		if outShape[a] > 0 && x.Shape[a] == 0 {
			return fmt.Errorf("cannot resize empty axis %d to %d", a, outShape[a])
		}
		axes[a] = k.axisPlan(x.Shape[a], outShape[a], scales[a], roi[a], roi[r+a])
	}
	y := ec.Empty(x.DType, outShape...)
	out[0] = y
	if y.Len() == 0 {
		return nil
	}
	if k.mode == resizeNearest {
		if xs, ok := x.Data.([]float32); ok && resizeNearest32(ec, y.Float32s(), xs, x.Shape, y.Shape, axes) {
			return nil
		}
		return resizeGather(x, y, axes, k.extrapolation)
	}
	return resizeSeparable(ec, x, y, axes, k.extrapolation)
}

// resizeGather copies, for every output element, the input element the
// per-axis nearest indices select.
func resizeGather(x, y *Tensor, axes []resizeAxis, extrap float64) error {
	idx := make([][]int, len(axes))
	for i := range axes {
		idx[i] = axes[i].idx
	}
	switch xs := x.Data.(type) {
	case []float32:
		resizeGatherNearest(y.Data.([]float32), xs, x.Shape, y.Shape, idx, float32(extrap))
	case []float64:
		resizeGatherNearest(y.Data.([]float64), xs, x.Shape, y.Shape, idx, extrap)
	case []F16:
		resizeGatherNearest(y.Data.([]F16), xs, x.Shape, y.Shape, idx, F16From(float32(extrap)))
	case []BF16:
		resizeGatherNearest(y.Data.([]BF16), xs, x.Shape, y.Shape, idx, BF16From(float32(extrap)))
	case []int8:
		resizeGatherNearest(y.Data.([]int8), xs, x.Shape, y.Shape, idx, int8(extrap))
	case []uint8:
		resizeGatherNearest(y.Data.([]uint8), xs, x.Shape, y.Shape, idx, uint8(extrap))
	case []int16:
		resizeGatherNearest(y.Data.([]int16), xs, x.Shape, y.Shape, idx, int16(extrap))
	case []uint16:
		resizeGatherNearest(y.Data.([]uint16), xs, x.Shape, y.Shape, idx, uint16(extrap))
	case []int32:
		resizeGatherNearest(y.Data.([]int32), xs, x.Shape, y.Shape, idx, int32(extrap))
	case []uint32:
		resizeGatherNearest(y.Data.([]uint32), xs, x.Shape, y.Shape, idx, uint32(extrap))
	case []int64:
		resizeGatherNearest(y.Data.([]int64), xs, x.Shape, y.Shape, idx, int64(extrap))
	case []uint64:
		resizeGatherNearest(y.Data.([]uint64), xs, x.Shape, y.Shape, idx, uint64(extrap))
	case []bool:
		resizeGatherNearest(y.Data.([]bool), xs, x.Shape, y.Shape, idx, extrap != 0)
	default:
		return fmt.Errorf("unsupported input type %s", x.DType)
	}
	return nil
}

func resizeGatherNearest[T any](dst, src []T, inShape, outShape []int, idx [][]int, extrap T) {
	r := len(outShape)
	strides := Strides(inShape)
	last := idx[r-1]
	inner := outShape[r-1]
	var pos [maxRank]int
	o := 0
	prevBase := -1 // source offset of the previous output row, -1 if none
	for {
		base, bad := 0, false
		for d := 0; d < r-1; d++ {
			i := idx[d][pos[d]]
			if i < 0 {
				bad = true
				break
			}
			base += i * strides[d]
		}
		row := dst[o : o+inner]
		switch {
		case bad:
			for j := range row {
				row[j] = extrap
			}
			prevBase = -1
		case base == prevBase:
			// upsampling repeats source rows: copy the row just written
			copy(row, dst[o-inner:o])
		default:
			prevBase = base
			for j := range row {
				if i := last[j]; i >= 0 {
					row[j] = src[base+i]
				} else {
					row[j] = extrap
				}
			}
		}
		o += inner
		d := r - 2
		for ; d >= 0; d-- {
			pos[d]++
			if pos[d] < outShape[d] {
				break
			}
			pos[d] = 0
		}
		if d < 0 {
			return
		}
	}
}

// resizeNearest32 is resizeGatherNearest for float32 when every index is
// in range (no extrapolation), spread over the workers by output rows
// (all axes but the last): a row that repeats the previous row's source
// is copied, and an integer upsampling of the last axis (index j/f)
// writes each source value f times instead of gathering. It reports false,
// writing nothing, when some index is out of range.
func resizeNearest32(ec *Context, dst, src []float32, inShape, outShape []int, axes []resizeAxis) bool {
	r := len(outShape)
	for a := range axes {
		for _, i := range axes[a].idx {
			if i < 0 {
				return false
			}
		}
	}
	inner := outShape[r-1]
	last := axes[r-1].idx
	rep := 0 // f when last[j] == j/f for every j
	if n := inShape[r-1]; n > 0 && inner%n == 0 {
		rep = inner / n
		for j, i := range last {
			if i != j/rep {
				rep = 0
				break
			}
		}
	}
	strides := Strides(inShape)
	rows := len(dst) / inner
	vm := vecmath()
	fill := func(lo, hi int) {
		var pos [maxRank]int
		for d, rem := r-2, lo; d >= 0; d-- {
			pos[d] = rem % outShape[d]
			rem /= outShape[d]
		}
		prevBase := -1
		for o := lo; o < hi; o++ {
			base := 0
			for d := 0; d < r-1; d++ {
				base += axes[d].idx[pos[d]] * strides[d]
			}
			row := dst[o*inner : (o+1)*inner]
			switch {
			case base == prevBase:
				copy(row, dst[(o-1)*inner:o*inner])
			case rep == 1:
				copy(row, src[base:base+inner])
			case rep == 2:
				vm.dup2(row, src[base:base+inner/2])
			case rep > 2:
				s := src[base : base+inner/rep]
				for i, v := range s {
					seg := row[i*rep : (i+1)*rep]
					for j := range seg {
						seg[j] = v
					}
				}
			default:
				s := src[base:]
				for j, i := range last {
					row[j] = s[i]
				}
			}
			prevBase = base
			for d := r - 2; d >= 0; d-- {
				pos[d]++
				if pos[d] < outShape[d] {
					break
				}
				pos[d] = 0
			}
		}
	}
	if len(dst) < 1<<16 {
		fill(0, rows)
	} else {
		ec.Parallel(rows, max(1, (1<<14)/inner), fill)
	}
	return true
}

// dup2Go is vecMath.dup2 in Go: one 64-bit store per pair when d is
// 8-byte aligned.
func dup2Go(d, s []float32) {
	d = d[:2*len(s)]
	if len(s) > 0 && uintptr(unsafe.Pointer(&d[0]))%8 == 0 {
		d64 := unsafe.Slice((*uint64)(unsafe.Pointer(&d[0])), len(s))
		for i, v := range s {
			b := uint64(math.Float32bits(v))
			d64[i] = b | b<<32
		}
		return
	}
	for i, v := range s {
		d[2*i] = v
		d[2*i+1] = v
	}
}

// resizeSeparable applies the linear or cubic filter one axis at a time.
func resizeSeparable(ec *Context, x, y *Tensor, axes []resizeAxis, extrap float64) error {
	if len(x.Shape) > maxRank {
		return fmt.Errorf("rank %d exceeds the supported %d", len(x.Shape), maxRank)
	}
	switch x.DType {
	case Float, Float16, BFloat16:
		xs, tmp, err := float32Data(ec, x)
		if err != nil {
			return err
		}
		defer ec.Release(tmp)
		var final []float32
		if y.DType == Float {
			final = y.Float32s() // the last pass writes the output itself
		}
		res, rt := resizePasses(ec, xs, x.Shape, axes, float32(extrap), Float, final)
		narrowFloat32s(y.Data, res)
		if rt != nil {
			ec.Release(rt)
		}
	default:
		xs, tmp, err := WorkFloat64s(ec, x)
		if err != nil {
			return err
		}
		defer ec.Release(tmp)
		res, rt := resizePasses(ec, xs, x.Shape, axes, extrap, Double, nil)
		StoreFloat64s(y, res)
		if rt != nil {
			ec.Release(rt)
		}
	}
	return nil
}

// resizePasses filters src along every non-identity axis and returns the
// result and the temporary holding it: nil when the last pass wrote final
// (the output, when not nil) or src itself is returned.
func resizePasses[T convFloat](ec *Context, src []T, shape []int, axes []resizeAxis, extrap T, dt DType, final []T) ([]T, *Tensor) {
	cur := src
	var curT *Tensor
	shape = append([]int(nil), shape...)
	last := -1
	for a := range axes {
		if !axes[a].identity {
			last = a
		}
	}
	for a := range axes {
		ax := &axes[a]
		if ax.identity {
			continue
		}
		outer := NumElements(shape[:a])
		inner := NumElements(shape[a+1:])
		shape[a] = ax.out
		var nt *Tensor
		var dst []T
		if a == last && final != nil {
			dst = final
		} else {
			nt = ec.Empty(dt, shape...)
			dst = nt.Data.([]T)
		}
		resizeAxisPass(ec, dst, cur, outer, inner, ax, extrap)
		if curT != nil {
			ec.Release(curT)
		}
		cur, curT = dst, nt
	}
	if last >= 0 && final != nil {
		return cur, nil
	}
	if curT == nil {
		nt := ec.Empty(dt, shape...)
		copy(nt.Data.([]T), cur)
		cur, curT = nt.Data.([]T), nt
	}
	return cur, curT
}

func resizeAxisPass[T convFloat](ec *Context, dst, src []T, outer, inner int, ax *resizeAxis, extrap T) {
	n := ax.ntaps
	work := ax.out * inner * n
	// The weights in T once, not per element.
	w := make([]T, len(ax.w))
	for i, v := range ax.w {
		w[i] = T(v)
	}
	ec.Parallel(outer, max(1, 32768/max(work, 1)), func(lo, hi int) {
		for b := lo; b < hi; b++ {
			s := src[b*ax.in*inner : (b+1)*ax.in*inner]
			d := dst[b*ax.out*inner : (b+1)*ax.out*inner]
			if inner == 1 {
				resizeInnermost(d, s, ax, w, extrap)
				continue
			}
			for o := 0; o < ax.out; o++ {
				row := d[o*inner : (o+1)*inner]
				if ax.extrap[o] {
					for j := range row {
						row[j] = extrap
					}
					continue
				}
				idx, wo := ax.idx[o*n:(o+1)*n], w[o*n:(o+1)*n]
				if n == 2 {
					// linear: one pass over the output row
					s0, s1 := s[idx[0]*inner:][:inner], s[idx[1]*inner:][:inner]
					w0, w1 := wo[0], wo[1]
					row = row[:inner]
					for j := range row {
						row[j] = w0*s0[j] + w1*s1[j]
					}
					continue
				}
				clear(row)
				for t, i := range idx {
					wt := wo[t]
					if wt == 0 {
						continue
					}
					sr := s[i*inner : (i+1)*inner]
					for j := range row {
						row[j] += wt * sr[j]
					}
				}
			}
		}
	})
}

// resizeInnermost filters along the last axis: each output is a weighted
// sum of a few neighbouring inputs.
func resizeInnermost[T convFloat](d, s []T, ax *resizeAxis, w []T, extrap T) {
	n := ax.ntaps
	if n == 2 {
		idx := ax.idx[:2*ax.out]
		w = w[:2*ax.out]
		for o := range d[:ax.out] {
			if ax.extrap[o] {
				d[o] = extrap
				continue
			}
			d[o] = w[2*o]*s[idx[2*o]] + w[2*o+1]*s[idx[2*o+1]]
		}
		return
	}
	for o := 0; o < ax.out; o++ {
		if ax.extrap[o] {
			d[o] = extrap
			continue
		}
		var acc T
		for t, i := range ax.idx[o*n : (o+1)*n] {
			acc += w[o*n+t] * s[i]
		}
		d[o] = acc
	}
}
