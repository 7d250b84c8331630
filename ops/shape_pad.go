package ops

import (
	"fmt"
)

// Pad modes.
const (
	shPadConstant = iota
	shPadReflect
	shPadEdge
	shPadWrap
)

// shPad implements Pad: pads from the paddings (Pad-1) or pads (Pad-2)
// attribute, or from inputs (Pad-11 on, with Pad-18's axes).
type shPad struct {
	mode     int
	fromAttr bool
	pads     []int64
	value    float64
}

func newShPad(n *Node) (any, error) {
	k := &shPad{}
	switch m := n.Attrs.String("mode", "constant"); m {
	case "constant":
		k.mode = shPadConstant
	case "reflect":
		k.mode = shPadReflect
	case "edge":
		k.mode = shPadEdge
	case "wrap":
		k.mode = shPadWrap
	default:
		return nil, fmt.Errorf("unsupported mode %q", m)
	}
	if n.Version < 11 {
		k.fromAttr = true
		name := "pads"
		if n.Version < 2 {
			name = "paddings"
		}
		var ok bool
		if k.pads, ok = n.Attrs.Ints(name); !ok {
			return nil, fmt.Errorf("missing attribute %q", name)
		}
		k.value = float64(n.Attrs.Float("value", 0))
	}
	return k, nil
}

func (k *shPad) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "data")
	if err != nil {
		return err
	}
	r := len(x.Shape)
	pads := k.pads
	var value any
	var axes []int64
	if !k.fromAttr {
		if pads, err = shInts(shOptional(in, 1), "pads"); err != nil {
			return err
		}
		if t := shOptional(in, 2); t != nil && t.Len() > 0 {
			if t.DType != x.DType {
				return fmt.Errorf("constant_value has type %s, data %s", t.DType, x.DType)
			}
			value = t.Data
		}
		if t := shOptional(in, 3); t != nil {
			if axes, err = shInts(t, "axes"); err != nil {
				return err
			}
		}
	}
	begin := make([]int, r)
	end := make([]int, r)
	if axes == nil {
		if len(pads) != 2*r {
			return fmt.Errorf("pads has %d values for rank %d", len(pads), r)
		}
		for i := range r {
			begin[i], end[i] = int(pads[i]), int(pads[r+i])
		}
	} else {
		na := len(axes)
		if len(pads) != 2*na {
			return fmt.Errorf("pads has %d values for %d axes", len(pads), na)
		}
		ax, err := shNormAxes(axes, r)
		if err != nil {
			return err
		}
		for i, a := range ax {
			begin[a], end[a] = int(pads[i]), int(pads[na+i])
		}
	}
	shape := make([]int, r)
	for i := range r {
		shape[i] = x.Shape[i] + begin[i] + end[i]
		if shape[i] < 0 {
			return fmt.Errorf("pads %v remove more than axis %d's %d elements", pads, i, x.Shape[i])
		}
	}
	y := ec.Empty(x.DType, shape...)
	out[0] = y
	if y.Len() == 0 {
		return nil
	}
	if k.mode == shPadConstant {
		if value == nil {
			if value, err = shScalarOf(x.DType, k.value); err != nil {
				return err
			}
		}
		shFill(y.Data, value)
		return shCopyInto(ec, y, x, begin)
	}
	maps := make([][]int, r)
	for i := range r {
		n := x.Shape[i]
		if n == 0 {
			return fmt.Errorf("cannot pad empty axis %d in %s mode", i, [...]string{"", "reflect", "edge", "wrap"}[k.mode])
		}
		m := make([]int, shape[i])
		for o := range m {
			m[o] = shPadIndex(k.mode, o-begin[i], n)
		}
		maps[i] = m
	}
	inSt := Strides(x.Shape)
	switch d := shWords(y.Data).(type) {
	case []uint8:
		shPadGather(d, shWords(x.Data).([]uint8), shape, maps, inSt)
	case []uint16:
		shPadGather(d, shWords(x.Data).([]uint16), shape, maps, inSt)
	case []uint32:
		shPadGather(d, shWords(x.Data).([]uint32), shape, maps, inSt)
	case []uint64:
		shPadGather(d, shWords(x.Data).([]uint64), shape, maps, inSt)
	case []complex64:
		shPadGather(d, x.Data.([]complex64), shape, maps, inSt)
	case []complex128:
		shPadGather(d, x.Data.([]complex128), shape, maps, inSt)
	case []string:
		shPadGather(d, x.Data.([]string), shape, maps, inSt)
	}
	return nil
}

// shCopyInto copies the part of x that lands in y when x's origin is placed
// at offset (per axis, possibly negative) of y.
func shCopyInto(ec *Context, y, x *Tensor, offset []int) error {
	r := len(x.Shape)
	region := make([]int, r)
	dOff, sOff := 0, 0
	ySt, xSt := Strides(y.Shape), Strides(x.Shape)
	for i := range r {
		s0 := max(0, -offset[i])
		d0 := max(0, offset[i])
		n := min(x.Shape[i]-s0, y.Shape[i]-d0)
		if n <= 0 {
			return nil
		}
		region[i] = n
		dOff += d0 * ySt[i]
		sOff += s0 * xSt[i]
	}
	return shCopy(ec, y.Data, dOff, ySt, x.Data, sOff, xSt, region)
}

// shPadIndex maps a position i relative to the start of an axis of size n
// to the source index for the reflect, edge and wrap modes.
func shPadIndex(mode, i, n int) int {
	switch mode {
	case shPadEdge:
		return min(max(i, 0), n-1)
	case shPadWrap:
		return ((i % n) + n) % n
	}
	if n == 1 {
		return 0
	}
	period := 2 * (n - 1)
	m := ((i % period) + period) % period
	if m >= n {
		m = period - m
	}
	return m
}

// shPadGather fills d (of shape shape) with s[sum_k maps[k][idx_k]*st[k]].
func shPadGather[T any](d, s []T, shape []int, maps [][]int, st []int) {
	r := len(shape)
	if r == 0 {
		d[0] = s[0]
		return
	}
	inner := shape[r-1]
	last := maps[r-1]
	lastSt := st[r-1]
	idx := make([]int, r)
	for o := 0; o < len(d); o += inner {
		base := 0
		for k := 0; k < r-1; k++ {
			base += maps[k][idx[k]] * st[k]
		}
		row := d[o : o+inner]
		for j := range row {
			row[j] = s[base+last[j]*lastSt]
		}
		for k := r - 2; k >= 0; k-- {
			idx[k]++
			if idx[k] < shape[k] {
				break
			}
			idx[k] = 0
		}
	}
}

// shDepthToSpace implements DepthToSpace in DCR (default) and CRD modes.
type shDepthToSpace struct {
	block int
	crd   bool
}

func newShDepthToSpace(n *Node) (any, error) {
	b := int(n.Attrs.Int("blocksize", 0))
	if b <= 0 {
		return nil, fmt.Errorf("attribute \"blocksize\" must be positive, got %d", b)
	}
	k := &shDepthToSpace{block: b}
	switch m := n.Attrs.String("mode", "DCR"); m {
	case "DCR":
	case "CRD":
		k.crd = true
	default:
		return nil, fmt.Errorf("unsupported mode %q", m)
	}
	return k, nil
}

func (k *shDepthToSpace) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "input")
	if err != nil {
		return err
	}
	if len(x.Shape) != 4 {
		return fmt.Errorf("input must be 4-D, got %s", ShapeString(x.Shape))
	}
	b := k.block
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	if c%(b*b) != 0 {
		return fmt.Errorf("channels %d not divisible by blocksize² %d", c, b*b)
	}
	cc := c / (b * b)
	hw := h * w
	y := ec.Empty(x.DType, n, cc, h*b, w*b)
	out[0] = y
	shape := []int{n, cc, h, b, w, b}
	var sst []int
	if k.crd {
		sst = []int{c * hw, b * b * hw, w, b * hw, 1, hw}
	} else {
		sst = []int{c * hw, hw, w, b * cc * hw, 1, cc * hw}
	}
	return shCopy(ec, y.Data, 0, Strides(shape), x.Data, 0, sst, shape)
}

// shSpaceToDepth implements SpaceToDepth.
type shSpaceToDepth struct{ block int }

func newShSpaceToDepth(n *Node) (any, error) {
	b := int(n.Attrs.Int("blocksize", 0))
	if b <= 0 {
		return nil, fmt.Errorf("attribute \"blocksize\" must be positive, got %d", b)
	}
	return &shSpaceToDepth{block: b}, nil
}

func (k *shSpaceToDepth) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "input")
	if err != nil {
		return err
	}
	if len(x.Shape) != 4 {
		return fmt.Errorf("input must be 4-D, got %s", ShapeString(x.Shape))
	}
	b := k.block
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	if h%b != 0 || w%b != 0 {
		return fmt.Errorf("spatial size %dx%d not divisible by blocksize %d", h, w, b)
	}
	y := ec.Empty(x.DType, n, c*b*b, h/b, w/b)
	out[0] = y
	shape := []int{n, b, b, c, h / b, w / b}
	sst := []int{c * h * w, w, 1, h * w, b * w, b}
	return shCopy(ec, y.Data, 0, Strides(shape), x.Data, 0, sst, shape)
}

// shCenterCropPad implements CenterCropPad.
type shCenterCropPad struct{ axes []int64 }

func newShCenterCropPad(n *Node) (any, error) {
	axes, _ := n.Attrs.Ints("axes")
	return &shCenterCropPad{axes: axes}, nil
}

func (k *shCenterCropPad) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "input_data")
	if err != nil {
		return err
	}
	target, err := shInts(shOptional(in, 1), "shape")
	if err != nil {
		return err
	}
	r := len(x.Shape)
	var axes []int
	if k.axes == nil {
		axes = make([]int, r)
		for i := range axes {
			axes[i] = i
		}
	} else if axes, err = shNormAxes(k.axes, r); err != nil {
		return err
	}
	if len(target) != len(axes) {
		return fmt.Errorf("shape has %d values for %d axes", len(target), len(axes))
	}
	shape := append([]int(nil), x.Shape...)
	offset := make([]int, r)
	for i, a := range axes {
		t := int(target[i])
		if t < 0 {
			return fmt.Errorf("negative target size %d", t)
		}
		shape[a] = t
		// Cropping rounds the start down; padding puts the odd pixel last.
		if d := x.Shape[a]; d >= t {
			offset[a] = -((d - t) / 2)
		} else {
			offset[a] = (t - d) / 2
		}
	}
	y := ec.New(x.DType, shape...)
	out[0] = y
	return shCopyInto(ec, y, x, offset)
}

// shCol2Im implements Col2Im: the sum of column blocks back into an image.
type shCol2Im struct {
	dilations, pads, strides []int
}

func newShCol2Im(n *Node) (any, error) {
	k := &shCol2Im{}
	k.dilations, _ = n.Attrs.IntsAsInts("dilations")
	k.pads, _ = n.Attrs.IntsAsInts("pads")
	k.strides, _ = n.Attrs.IntsAsInts("strides")
	for _, v := range append(append([]int(nil), k.dilations...), k.strides...) {
		if v <= 0 {
			return nil, fmt.Errorf("dilations and strides must be positive")
		}
	}
	for _, v := range k.pads {
		if v < 0 {
			return nil, fmt.Errorf("pads must not be negative")
		}
	}
	return k, nil
}

// shCol2ImGeom is Col2Im's resolved geometry.
type shCol2ImGeom struct {
	img, block, nb, dil, padB, st []int
	c, kSize, l                   int
}

func (k *shCol2Im) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "input")
	if err != nil {
		return err
	}
	img, err := shInts(shOptional(in, 1), "image_shape")
	if err != nil {
		return err
	}
	blk, err := shInts(shOptional(in, 2), "block_shape")
	if err != nil {
		return err
	}
	nd := len(img)
	if len(blk) != nd || nd == 0 {
		return fmt.Errorf("image_shape %v and block_shape %v must have one equal, nonzero length", img, blk)
	}
	if len(x.Shape) != 3 {
		return fmt.Errorf("input must be 3-D, got %s", ShapeString(x.Shape))
	}
	g := shCol2ImGeom{img: make([]int, nd), block: make([]int, nd), nb: make([]int, nd),
		dil: make([]int, nd), padB: make([]int, nd), st: make([]int, nd), kSize: 1, l: 1}
	for _, p := range [][]int{k.dilations, k.strides} {
		if p != nil && len(p) != nd {
			return fmt.Errorf("dilations and strides need %d values", nd)
		}
	}
	if k.pads != nil && len(k.pads) != 2*nd {
		return fmt.Errorf("pads needs %d values", 2*nd)
	}
	for i := range nd {
		g.img[i], g.block[i] = int(img[i]), int(blk[i])
		if g.img[i] <= 0 || g.block[i] <= 0 {
			return fmt.Errorf("image_shape %v and block_shape %v must be positive", img, blk)
		}
		g.dil[i], g.st[i] = 1, 1
		if k.dilations != nil {
			g.dil[i] = k.dilations[i]
		}
		if k.strides != nil {
			g.st[i] = k.strides[i]
		}
		padE := 0
		if k.pads != nil {
			g.padB[i], padE = k.pads[i], k.pads[nd+i]
		}
		span := g.dil[i]*(g.block[i]-1) + 1
		g.nb[i] = (g.img[i]+g.padB[i]+padE-span)/g.st[i] + 1
		if g.nb[i] <= 0 {
			return fmt.Errorf("block %v does not fit image %v", blk, img)
		}
		g.kSize *= g.block[i]
		g.l *= g.nb[i]
	}
	if x.Shape[1]%g.kSize != 0 {
		return fmt.Errorf("input dimension 1 (%d) is not a multiple of the block size %d", x.Shape[1], g.kSize)
	}
	if x.Shape[2] != g.l {
		return fmt.Errorf("input has %d blocks, the geometry gives %d", x.Shape[2], g.l)
	}
	g.c = x.Shape[1] / g.kSize
	shape := append([]int{x.Shape[0], g.c}, g.img...)
	y := ec.New(x.DType, shape...)
	out[0] = y
	switch xs := x.Data.(type) {
	case []float32:
		shCol2ImT(&g, y.Data.([]float32), xs, x.Shape[0])
	case []float64:
		shCol2ImT(&g, y.Data.([]float64), xs, x.Shape[0])
	case []int32:
		shCol2ImT(&g, y.Data.([]int32), xs, x.Shape[0])
	case []int64:
		shCol2ImT(&g, y.Data.([]int64), xs, x.Shape[0])
	case []F16, []BF16:
		yf := make([]float32, y.Len())
		shCol2ImT(&g, yf, halfToFloat32s(xs), x.Shape[0])
		narrowFloat32s(y.Data, yf)
	default:
		return fmt.Errorf("unsupported type %s", x.DType)
	}
	return nil
}

func shCol2ImT[T Number](g *shCol2ImGeom, y, x []T, batch int) {
	nd := len(g.img)
	imgSize := 1
	for _, d := range g.img {
		imgSize *= d
	}
	imgSt := Strides(g.img)
	kk := make([]int, nd)
	lb := make([]int, nd)
	for n := range batch {
		for c := range g.c {
			yc := y[(n*g.c+c)*imgSize:]
			for ki := range g.kSize {
				// kernel offset multi-index
				rem := ki
				for d := nd - 1; d >= 0; d-- {
					kk[d] = rem % g.block[d]
					rem /= g.block[d]
				}
				row := x[((n*g.c+c)*g.kSize+ki)*g.l:]
				clear(lb)
				for li := range g.l {
					pos, ok := 0, true
					for d := range nd {
						p := lb[d]*g.st[d] - g.padB[d] + kk[d]*g.dil[d]
						if p < 0 || p >= g.img[d] {
							ok = false
							break
						}
						pos += p * imgSt[d]
					}
					if ok {
						yc[pos] += row[li]
					}
					for d := nd - 1; d >= 0; d-- {
						lb[d]++
						if lb[d] < g.nb[d] {
							break
						}
						lb[d] = 0
					}
				}
			}
		}
	}
}
