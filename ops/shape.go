package ops

import (
	"fmt"
	"math"
)

// registerShape registers the tensor manipulation operators of ai.onnx:
// views (Reshape, Flatten, Squeeze, Unsqueeze, Identity), shape queries and
// the data-movement ops (Transpose, Concat, Split, Slice, Expand, Tile, Pad,
// DepthToSpace, SpaceToDepth, CenterCropPad, Col2Im).
func registerShape(r *Registry) {
	r.Add("", "Reshape", 1, newShReshape)
	r.Add("", "Reshape", 5, newShReshape)
	r.Add("", "Flatten", 1, newShFlatten)
	r.Add("", "Squeeze", 1, newShSqueeze)
	r.Add("", "Squeeze", 13, newShSqueeze)
	r.Add("", "Unsqueeze", 1, newShUnsqueeze)
	r.Add("", "Unsqueeze", 13, newShUnsqueeze)
	r.Add("", "Identity", 1, newShIdentity)
	r.Add("", "Shape", 1, newShShape)
	r.AddKernel("", "Size", 1, KernelFunc(shSize))
	r.AddKernel("", "Expand", 8, KernelFunc(shExpand))
	r.Add("", "Transpose", 1, newShTranspose)
	r.Add("", "Concat", 1, newShConcat)
	r.Add("", "Split", 1, newShSplit)
	r.Add("", "Slice", 1, newShSlice)
	r.Add("", "Slice", 10, newShSlice)
	r.AddKernel("", "Tile", 1, KernelFunc(shTile))
	r.Add("", "Pad", 1, newShPad)
	r.Add("", "DepthToSpace", 1, newShDepthToSpace)
	r.Add("", "SpaceToDepth", 1, newShSpaceToDepth)
	r.Add("", "CenterCropPad", 18, newShCenterCropPad)
	r.Add("", "Col2Im", 18, newShCol2Im)
}

// shReshape implements Reshape: a view with a new shape. Reshape-1 takes
// the shape as an attribute; later versions as an input.
type shReshape struct {
	attrShape []int64 // Reshape-1
	allowZero bool
}

func newShReshape(n *Node) (any, error) {
	k := &shReshape{allowZero: n.Attrs.Int("allowzero", 0) != 0}
	if n.Version < 5 {
		s, ok := n.Attrs.Ints("shape")
		if !ok {
			return nil, fmt.Errorf("missing attribute \"shape\"")
		}
		k.attrShape = s
	}
	return k, nil
}

func (k *shReshape) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "data")
	if err != nil {
		return err
	}
	spec := k.attrShape
	if spec == nil {
		if spec, err = shInts(shOptional(in, 1), "shape"); err != nil {
			return err
		}
	}
	var buf [maxRank]int
	dims, err := shResolveShape(buf[:0], x.Shape, spec, k.allowZero)
	if err != nil {
		return err
	}
	out[0] = ec.View(x, dims...)
	return nil
}

// shResolveShape applies Reshape's rules (0 copies the input dimension
// unless allowZero, -1 is inferred) and appends the result to dims.
func shResolveShape(dims []int, in []int, spec []int64, allowZero bool) ([]int, error) {
	infer := -1
	known := 1
	hasZero := false
	for i, s := range spec {
		d := int(s)
		switch {
		case s == 0 && !allowZero:
			if i >= len(in) {
				return nil, fmt.Errorf("shape %v: 0 at position %d has no input dimension to copy (input %s)", spec, i, ShapeString(in))
			}
			d = in[i]
		case s == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("shape %v has more than one -1", spec)
			}
			infer = i
			d = 1
		case s < -1:
			return nil, fmt.Errorf("shape %v has invalid dimension %d", spec, s)
		}
		if s == 0 {
			hasZero = true
		}
		if infer != i {
			known *= d
		}
		dims = append(dims, d)
	}
	total := NumElements(in)
	if infer >= 0 {
		if allowZero && hasZero {
			return nil, fmt.Errorf("shape %v has both 0 and -1 with allowzero", spec)
		}
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("cannot reshape %s to %v", ShapeString(in), spec)
		}
		dims[infer] = total / known
	}
	if NumElements(dims) != total {
		return nil, fmt.Errorf("cannot reshape %s (%d elements) to %v", ShapeString(in), total, spec)
	}
	return dims, nil
}

// shFlatten implements Flatten: a 2-D view split at axis.
type shFlatten struct{ axis int }

func newShFlatten(n *Node) (any, error) {
	return &shFlatten{axis: int(n.Attrs.Int("axis", 1))}, nil
}

func (k *shFlatten) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "input")
	if err != nil {
		return err
	}
	r := len(x.Shape)
	axis := k.axis
	if axis < 0 {
		axis += r
	}
	if axis < 0 || axis > r {
		return fmt.Errorf("axis %d out of range for rank %d", k.axis, r)
	}
	outer := NumElements(x.Shape[:axis])
	out[0] = ec.View(x, outer, NumElements(x.Shape[axis:]))
	return nil
}

// shSqueeze implements Squeeze (axes attribute before opset 13, input from
// 13); with no axes it drops every dimension of size one.
type shSqueeze struct {
	attrAxes []int64
	fromAttr bool
}

func newShSqueeze(n *Node) (any, error) {
	k := &shSqueeze{}
	if n.Version < 13 {
		k.attrAxes, k.fromAttr = n.Attrs.Ints("axes")
	}
	return k, nil
}

func (k *shSqueeze) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "data")
	if err != nil {
		return err
	}
	axes := k.attrAxes
	if !k.fromAttr {
		if t := shOptional(in, 1); t != nil {
			if axes, err = shInts(t, "axes"); err != nil {
				return err
			}
		}
	}
	r := len(x.Shape)
	var drop [maxRank * 2]bool
	if r > len(drop) {
		return fmt.Errorf("rank %d too large", r)
	}
	if len(axes) == 0 { // no (or empty) axes: drop every dimension of size one
		for i, d := range x.Shape {
			drop[i] = d == 1
		}
	}
	for _, a := range axes {
		ax, err := NormalizeAxis(int(a), r)
		if err != nil || r == 0 {
			return fmt.Errorf("axis %d out of range for rank %d", a, r)
		}
		if x.Shape[ax] != 1 {
			return fmt.Errorf("cannot squeeze axis %d of size %d (input %s)", a, x.Shape[ax], ShapeString(x.Shape))
		}
		drop[ax] = true
	}
	var buf [maxRank * 2]int
	dims := buf[:0]
	for i, d := range x.Shape {
		if !drop[i] {
			dims = append(dims, d)
		}
	}
	out[0] = ec.View(x, dims...)
	return nil
}

// shUnsqueeze implements Unsqueeze (axes attribute before opset 13, input
// from 13).
type shUnsqueeze struct {
	attrAxes []int64
	fromAttr bool
}

func newShUnsqueeze(n *Node) (any, error) {
	k := &shUnsqueeze{}
	if n.Version < 13 {
		k.attrAxes, k.fromAttr = n.Attrs.Ints("axes")
		if !k.fromAttr {
			return nil, fmt.Errorf("missing attribute \"axes\"")
		}
	}
	return k, nil
}

func (k *shUnsqueeze) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "data")
	if err != nil {
		return err
	}
	axes := k.attrAxes
	if !k.fromAttr {
		if axes, err = shInts(shOptional(in, 1), "axes"); err != nil {
			return err
		}
	}
	r := len(x.Shape) + len(axes)
	var ins [maxRank * 2]bool
	if r > len(ins) {
		return fmt.Errorf("output rank %d too large", r)
	}
	for _, a := range axes {
		ax, err := NormalizeAxis(int(a), r)
		if err != nil {
			return err
		}
		if ins[ax] {
			return fmt.Errorf("axis %d repeated", a)
		}
		ins[ax] = true
	}
	var buf [maxRank * 2]int
	dims := buf[:r]
	j := 0
	for i := range dims {
		if ins[i] {
			dims[i] = 1
		} else {
			dims[i] = x.Shape[j]
			j++
		}
	}
	out[0] = ec.View(x, dims...)
	return nil
}

// shIdentity implements Identity on tensors as a view.
type shIdentity struct{}

func (shIdentity) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "input")
	if err != nil {
		return err
	}
	out[0] = ec.View(x, x.Shape...)
	return nil
}

// shIdentityValue implements Identity on sequences and optionals (opset 14
// and 16), sharing the elements, which are immutable.
type shIdentityValue struct{}

func (shIdentityValue) RunValues(ec *Context, in, out []Value) error {
	if len(in) == 0 || in[0] == nil {
		return fmt.Errorf("missing input")
	}
	switch v := in[0].(type) {
	case *Tensor:
		out[0] = ec.View(v, v.Shape...)
	case *Sequence:
		out[0] = &Sequence{ElemType: v.ElemType, Values: append([]Value(nil), v.Values...)}
	case *Optional:
		out[0] = &Optional{ElemType: v.ElemType, Elem: v.Elem}
	case *Map:
		c := *v
		out[0] = &c
	default:
		return fmt.Errorf("unsupported input %T", in[0])
	}
	return nil
}

// shIdentityAny serves tensors through Run (a view) and every other value
// through RunValues; the engine picks per run by the input's kind, so the
// kernel needs no declared input type.
type shIdentityAny struct {
	shIdentity
	shIdentityValue
}

func newShIdentity(n *Node) (any, error) {
	if len(n.InputTypes) > 0 && n.InputTypes[0] != nil && n.InputTypes[0].Kind != KindTensor {
		return shIdentityValue{}, nil
	}
	return shIdentityAny{}, nil
}

// shShape implements Shape, with Shape-15's start and end.
type shShape struct {
	start, end int
	hasEnd     bool
}

func newShShape(n *Node) (any, error) {
	return &shShape{
		start:  int(n.Attrs.Int("start", 0)),
		end:    int(n.Attrs.Int("end", 0)),
		hasEnd: n.Attrs.Has("end"),
	}, nil
}

func (k *shShape) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "data")
	if err != nil {
		return err
	}
	r := len(x.Shape)
	start, end := k.start, r
	if k.hasEnd {
		end = k.end
	}
	start = shClampAxis(start, r)
	end = shClampAxis(end, r)
	n := max(end-start, 0)
	y := ec.Empty(Int64, n)
	ys := y.Data.([]int64)
	for i := range ys {
		ys[i] = int64(x.Shape[start+i])
	}
	out[0] = y
	return nil
}

// shClampAxis resolves a negative position and clamps it into [0, r].
func shClampAxis(a, r int) int {
	if a < 0 {
		a += r
	}
	return min(max(a, 0), r)
}

func shSize(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "data")
	if err != nil {
		return err
	}
	y := ec.Empty(Int64)
	y.Data.([]int64)[0] = int64(x.Len())
	out[0] = y
	return nil
}

// shExpand implements Expand: numpy broadcasting of the input to a shape.
func shExpand(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "input")
	if err != nil {
		return err
	}
	spec, err := shInts(shOptional(in, 1), "shape")
	if err != nil {
		return err
	}
	target := make([]int, len(spec))
	for i, s := range spec {
		if s < 0 {
			return fmt.Errorf("shape %v has a negative dimension", spec)
		}
		target[i] = int(s)
	}
	// Dimensions of 1 in the requested shape keep the input's size.
	shape, err := BroadcastShapes(x.Shape, target)
	if err != nil {
		return err
	}
	y := ec.Empty(x.DType, shape...)
	out[0] = y
	return shBroadcastCopy(ec, y, x)
}

// shBroadcastCopy fills y with x broadcast to y's shape.
func shBroadcastCopy(ec *Context, y, x *Tensor) error {
	sst := BroadcastStrides(x.Shape, y.Shape)
	return shCopy(ec, y.Data, 0, Strides(y.Shape), x.Data, 0, sst, y.Shape)
}

// shTranspose implements Transpose.
type shTranspose struct{ perm []int }

func newShTranspose(n *Node) (any, error) {
	perm, ok := n.Attrs.IntsAsInts("perm")
	if ok {
		seen := make([]bool, len(perm))
		for _, p := range perm {
			if p < 0 || p >= len(perm) || seen[p] {
				return nil, fmt.Errorf("perm %v is not a permutation", perm)
			}
			seen[p] = true
		}
	}
	return &shTranspose{perm: perm}, nil
}

func (k *shTranspose) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "data")
	if err != nil {
		return err
	}
	r := len(x.Shape)
	if r > maxRank {
		return fmt.Errorf("rank %d exceeds the supported %d", r, maxRank)
	}
	var permBuf, shapeBuf, sstBuf, inStBuf [maxRank]int
	perm := permBuf[:r]
	if k.perm == nil {
		for i := range perm {
			perm[i] = r - 1 - i
		}
	} else {
		if len(k.perm) != r {
			return fmt.Errorf("perm %v does not match input rank %d", k.perm, r)
		}
		copy(perm, k.perm)
	}
	inSt := inStBuf[:r]
	acc := 1
	for i := r - 1; i >= 0; i-- {
		inSt[i] = acc
		acc *= x.Shape[i]
	}
	shape, sst := shapeBuf[:r], sstBuf[:r]
	for i, p := range perm {
		shape[i] = x.Shape[p]
		sst[i] = inSt[p]
	}
	y := ec.Empty(x.DType, shape...)
	out[0] = y
	var dstBuf [maxRank]int
	dst := dstBuf[:r]
	acc = 1
	for i := r - 1; i >= 0; i-- {
		dst[i] = acc
		acc *= shape[i]
	}
	return shCopy(ec, y.Data, 0, dst, x.Data, 0, sst, shape)
}

// shConcat implements Concat.
type shConcat struct{ axis int }

func newShConcat(n *Node) (any, error) {
	def := int64(1) // Concat-1 defaulted to 1; later versions require it
	if n.Version >= 4 && !n.Attrs.Has("axis") {
		return nil, fmt.Errorf("missing attribute \"axis\"")
	}
	return &shConcat{axis: int(n.Attrs.Int("axis", def))}, nil
}

func (k *shConcat) Run(ec *Context, in, out []*Tensor) error {
	var first *Tensor
	for _, t := range in {
		if t != nil {
			first = t
			break
		}
	}
	if first == nil {
		return fmt.Errorf("no inputs")
	}
	r := len(first.Shape)
	axis, err := NormalizeAxis(k.axis, r)
	if err != nil || r == 0 {
		return fmt.Errorf("axis %d out of range for rank %d", k.axis, r)
	}
	total := 0
	for i, t := range in {
		if t == nil {
			continue
		}
		if t.DType != first.DType {
			return fmt.Errorf("input %d has type %s, input 0 has %s", i, t.DType, first.DType)
		}
		if len(t.Shape) != r {
			return fmt.Errorf("input %d has shape %s, incompatible with %s", i, ShapeString(t.Shape), ShapeString(first.Shape))
		}
		for d := range r {
			if d != axis && t.Shape[d] != first.Shape[d] {
				return fmt.Errorf("input %d has shape %s, incompatible with %s on axis %d", i, ShapeString(t.Shape), ShapeString(first.Shape), d)
			}
		}
		total += t.Shape[axis]
	}
	var shapeBuf [maxRank]int
	shape := append(shapeBuf[:0], first.Shape...)
	shape[axis] = total
	y := ec.Empty(first.DType, shape...)
	out[0] = y
	outer := NumElements(shape[:axis])
	inner := NumElements(shape[axis+1:])
	rowOut := total * inner
	off := 0
	for _, t := range in {
		if t == nil {
			continue
		}
		row := t.Shape[axis] * inner
		if err := shCopy(ec, y.Data, off, []int{rowOut, 1}, t.Data, 0, []int{row, 1}, []int{outer, row}); err != nil {
			return err
		}
		off += row
	}
	return nil
}

// shSplit implements Split across its versions: sizes from the split
// attribute (1, 2, 11), the split input (1, 13, 18), num_outputs (18) or
// equal parts.
type shSplit struct {
	axis       int
	attrSplit  []int64
	numOutputs int
	splitInput bool
}

func newShSplit(n *Node) (any, error) {
	k := &shSplit{axis: int(n.Attrs.Int("axis", 0))}
	if n.Version < 13 {
		k.attrSplit, _ = n.Attrs.Ints("split")
	}
	k.splitInput = n.Version == 1 || n.Version >= 13
	if n.Version >= 18 && n.Attrs.Has("num_outputs") {
		k.numOutputs = int(n.Attrs.Int("num_outputs", 0))
		if k.numOutputs < 1 {
			return nil, fmt.Errorf("num_outputs %d must be positive", k.numOutputs)
		}
		if k.numOutputs != len(n.Outputs) {
			return nil, fmt.Errorf("num_outputs %d but the node has %d outputs", k.numOutputs, len(n.Outputs))
		}
		if n.HasInput(1) {
			return nil, fmt.Errorf("both num_outputs and the split input are given")
		}
	}
	for _, s := range k.attrSplit {
		if s < 0 {
			return nil, fmt.Errorf("split %v has a negative size", k.attrSplit)
		}
	}
	return k, nil
}

func (k *shSplit) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "input")
	if err != nil {
		return err
	}
	r := len(x.Shape)
	axis, err := NormalizeAxis(k.axis, r)
	if err != nil || r == 0 {
		return fmt.Errorf("axis %d out of range for rank %d", k.axis, r)
	}
	dim := x.Shape[axis]
	nout := len(out)
	sizes := make([]int, nout)
	split := k.attrSplit
	if k.splitInput && split == nil {
		if t := shOptional(in, 1); t != nil {
			if split, err = shInts(t, "split"); err != nil {
				return err
			}
		}
	}
	switch {
	case len(split) > 0 || (split != nil && nout == 0):
		if len(split) != nout {
			return fmt.Errorf("split %v has %d sizes for %d outputs", split, len(split), nout)
		}
		sum := 0
		for i, s := range split {
			if s < 0 {
				return fmt.Errorf("split %v has a negative size", split)
			}
			sizes[i] = int(s)
			sum += int(s)
		}
		if sum != dim {
			return fmt.Errorf("split %v sums to %d, axis %d has %d", split, sum, axis, dim)
		}
	case k.numOutputs > 0:
		chunk := (dim + nout - 1) / nout
		left := dim
		for i := range sizes {
			sizes[i] = min(chunk, left)
			left -= sizes[i]
		}
	default:
		if dim%nout != 0 {
			return fmt.Errorf("axis %d of size %d does not split into %d equal parts", axis, dim, nout)
		}
		for i := range sizes {
			sizes[i] = dim / nout
		}
	}
	outer := NumElements(x.Shape[:axis])
	inner := NumElements(x.Shape[axis+1:])
	rowIn := dim * inner
	off := 0
	var shapeBuf [maxRank]int
	for i, s := range sizes {
		shape := append(shapeBuf[:0], x.Shape...)
		shape[axis] = s
		y := ec.Empty(x.DType, shape...)
		row := s * inner
		if err := shCopy(ec, y.Data, 0, []int{row, 1}, x.Data, off, []int{rowIn, 1}, []int{outer, row}); err != nil {
			return err
		}
		off += row
		if i < len(out) {
			out[i] = y
		}
	}
	return nil
}

// shSlice implements Slice: attributes starts, ends and axes before opset
// 10, inputs starts, ends, axes and steps from 10.
type shSlice struct {
	fromAttr           bool
	starts, ends, axes []int64
}

func newShSlice(n *Node) (any, error) {
	k := &shSlice{}
	if n.Version < 10 {
		k.fromAttr = true
		var ok1, ok2 bool
		k.starts, ok1 = n.Attrs.Ints("starts")
		k.ends, ok2 = n.Attrs.Ints("ends")
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("missing attribute \"starts\" or \"ends\"")
		}
		k.axes, _ = n.Attrs.Ints("axes")
	}
	return k, nil
}

func (k *shSlice) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "data")
	if err != nil {
		return err
	}
	starts, ends, axes := k.starts, k.ends, k.axes
	var steps []int64
	if !k.fromAttr {
		if starts, err = shInts(shOptional(in, 1), "starts"); err != nil {
			return err
		}
		if ends, err = shInts(shOptional(in, 2), "ends"); err != nil {
			return err
		}
		if t := shOptional(in, 3); t != nil {
			if axes, err = shInts(t, "axes"); err != nil {
				return err
			}
		}
		if t := shOptional(in, 4); t != nil {
			if steps, err = shInts(t, "steps"); err != nil {
				return err
			}
		}
	}
	if len(starts) != len(ends) {
		return fmt.Errorf("starts has %d values, ends %d", len(starts), len(ends))
	}
	if axes != nil && len(axes) != len(starts) {
		return fmt.Errorf("axes has %d values, starts %d", len(axes), len(starts))
	}
	if steps != nil && len(steps) != len(starts) {
		return fmt.Errorf("steps has %d values, starts %d", len(steps), len(starts))
	}
	r := len(x.Shape)
	if r > maxRank {
		return fmt.Errorf("rank %d exceeds the supported %d", r, maxRank)
	}
	var shapeBuf, sstBuf, dstBuf, stBuf [maxRank]int
	var seen [maxRank]bool
	shape, sst := shapeBuf[:r], sstBuf[:r]
	copy(shape, x.Shape)
	inSt := stBuf[:r]
	acc := 1
	for i := r - 1; i >= 0; i-- {
		inSt[i] = acc
		sst[i] = acc
		acc *= x.Shape[i]
	}
	off := 0
	for i := range starts {
		ax := i
		if axes != nil {
			ax = int(axes[i])
			if ax < 0 {
				ax += r
			}
			if ax < 0 || ax >= r {
				return fmt.Errorf("axis %d out of range for rank %d", axes[i], r)
			}
		} else if ax >= r {
			return fmt.Errorf("%d starts for rank %d", len(starts), r)
		}
		if seen[ax] {
			return fmt.Errorf("axis %d repeated", ax)
		}
		seen[ax] = true
		step := int64(1)
		if steps != nil {
			step = steps[i]
		}
		if step == 0 {
			return fmt.Errorf("step 0 on axis %d", ax)
		}
		start, n := shSliceRange(starts[i], ends[i], step, int64(x.Shape[ax]))
		shape[ax] = int(n)
		off += int(start) * inSt[ax]
		sst[ax] = inSt[ax] * int(step)
	}
	y := ec.Empty(x.DType, shape...)
	out[0] = y
	if y.Len() == 0 {
		return nil
	}
	dst := dstBuf[:r]
	acc = 1
	for i := r - 1; i >= 0; i-- {
		dst[i] = acc
		acc *= shape[i]
	}
	return shCopy(ec, y.Data, 0, dst, x.Data, off, sst, shape)
}

// shSliceRange clamps a slice of one axis of size dim and returns its first
// index and element count.
func shSliceRange(start, end, step, dim int64) (first, count int64) {
	if start < 0 {
		start += dim
	}
	if end < 0 {
		end += dim
	}
	if step > 0 {
		start = min(max(start, 0), dim)
		end = min(max(end, 0), dim)
		if end <= start {
			return 0, 0
		}
		return start, (end-start-1)/step + 1
	}
	start = min(max(start, 0), dim-1)
	end = min(max(end, -1), dim-1)
	if end >= start {
		return 0, 0
	}
	ns := -step
	if ns < 0 { // step was math.MinInt64
		ns = math.MaxInt64
	}
	return start, (start-end-1)/ns + 1
}

// shTile implements Tile: Tile-6's repeats input, or Tile-1's tiles and
// axis inputs.
func shTile(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "input")
	if err != nil {
		return err
	}
	r := len(x.Shape)
	reps, err := shInts(shOptional(in, 1), "repeats")
	if err != nil {
		return err
	}
	if t := shOptional(in, 2); t != nil { // Tile-1: tiles along one axis
		axis, err := shScalarInt(t, "axis")
		if err != nil {
			return err
		}
		ax, err := NormalizeAxis(int(axis), r)
		if err != nil {
			return err
		}
		if len(reps) != 1 {
			return fmt.Errorf("tiles must hold one value")
		}
		full := make([]int64, r)
		for i := range full {
			full[i] = 1
		}
		full[ax] = reps[0]
		reps = full
	}
	if len(reps) != r {
		return fmt.Errorf("repeats has %d values for rank %d", len(reps), r)
	}
	shape := make([]int, r)
	big := make([]int, 2*r)
	sst := make([]int, 2*r)
	st := Strides(x.Shape)
	for i, rp := range reps {
		if rp < 0 {
			return fmt.Errorf("repeats %v has a negative value", reps)
		}
		shape[i] = x.Shape[i] * int(rp)
		big[2*i], big[2*i+1] = int(rp), x.Shape[i]
		sst[2*i], sst[2*i+1] = 0, st[i]
	}
	y := ec.Empty(x.DType, shape...)
	out[0] = y
	return shCopy(ec, y.Data, 0, Strides(big), x.Data, 0, sst, big)
}
