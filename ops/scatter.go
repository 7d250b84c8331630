package ops

import (
	"fmt"
)

// registerScatter registers ScatterElements, Scatter, ScatterND and
// TensorScatter.
func registerScatter(r *Registry) {
	r.Add("", "Scatter", 9, newScElements)
	r.Add("", "ScatterElements", 11, newScElements)
	r.Add("", "ScatterND", 11, newScND)
	r.Add("", "TensorScatter", 24, newScTensorScatter)
}

// Scatter reductions.
const (
	scNone = iota
	scAdd
	scMul
	scMax
	scMin
)

func scParseReduction(n *Node) (int, error) {
	switch s := n.Attrs.String("reduction", "none"); s {
	case "none":
		return scNone, nil
	case "add":
		return scAdd, nil
	case "mul":
		return scMul, nil
	case "max":
		return scMax, nil
	case "min":
		return scMin, nil
	default:
		return 0, fmt.Errorf("unsupported reduction %q", s)
	}
}

// scElements implements ScatterElements and the older Scatter.
type scElements struct {
	axis      int
	reduction int
}

func newScElements(n *Node) (any, error) {
	red, err := scParseReduction(n)
	if err != nil {
		return nil, err
	}
	return &scElements{axis: int(n.Attrs.Int("axis", 0)), reduction: red}, nil
}

func (k *scElements) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "data")
	if err != nil {
		return err
	}
	ind, err := shInput(in, 1, "indices")
	if err != nil {
		return err
	}
	upd, err := shInput(in, 2, "updates")
	if err != nil {
		return err
	}
	if upd.DType != x.DType {
		return fmt.Errorf("updates has type %s, data %s", upd.DType, x.DType)
	}
	if !EqualShapes(ind.Shape, upd.Shape) {
		return fmt.Errorf("indices shape %s differs from updates shape %s", ShapeString(ind.Shape), ShapeString(upd.Shape))
	}
	r := len(x.Shape)
	axis, err := NormalizeAxis(k.axis, r)
	if err != nil || r == 0 {
		return fmt.Errorf("axis %d out of range for rank %d", k.axis, r)
	}
	g, err := gaMakeElemGeom(x.Shape, ind.Shape, axis, "indices")
	if err != nil {
		return err
	}
	idx, err := shInts(ind, "indices")
	if err != nil {
		return err
	}
	targets := make([]int, len(idx))
	var pos [maxRank]int
	base := 0
	for o, v := range idx {
		if v >= int64(g.dim) || v < -int64(g.dim) {
			return gaIndexError(v, o, g.dim)
		}
		if v < 0 {
			v += int64(g.dim)
		}
		targets[o] = base + int(v)*g.axSt
		for d := r - 1; d >= 0; d-- {
			pos[d]++
			base += g.bst[d]
			if pos[d] < g.shape[d] {
				break
			}
			base -= g.bst[d] * g.shape[d]
			pos[d] = 0
		}
	}
	y := ec.Empty(x.DType, x.Shape...)
	out[0] = y
	shCopyTensor(ec, y, x)
	return scApply(y, upd, targets, 1, k.reduction)
}

// scApply combines updates into y: slice consecutive update elements per
// target offset, with the reduction.
func scApply(y, upd *Tensor, targets []int, slice, red int) error {
	if red == scNone {
		switch d := shWords(y.Data).(type) {
		case []uint8:
			scReduce(d, shWords(upd.Data).([]uint8), targets, slice, scSet)
		case []uint16:
			scReduce(d, shWords(upd.Data).([]uint16), targets, slice, scSet)
		case []uint32:
			scReduce(d, shWords(upd.Data).([]uint32), targets, slice, scSet)
		case []uint64:
			scReduce(d, shWords(upd.Data).([]uint64), targets, slice, scSet)
		case []complex64:
			scReduce(d, upd.Data.([]complex64), targets, slice, scSet)
		case []complex128:
			scReduce(d, upd.Data.([]complex128), targets, slice, scSet)
		case []string:
			scReduce(d, upd.Data.([]string), targets, slice, scSet)
		default:
			return fmt.Errorf("unsupported type %s", y.DType)
		}
		return nil
	}
	switch d := y.Data.(type) {
	case []float32:
		scReduceNum(d, upd.Data.([]float32), targets, slice, red)
	case []float64:
		scReduceNum(d, upd.Data.([]float64), targets, slice, red)
	case []int8:
		scReduceNum(d, upd.Data.([]int8), targets, slice, red)
	case []int16:
		scReduceNum(d, upd.Data.([]int16), targets, slice, red)
	case []int32:
		scReduceNum(d, upd.Data.([]int32), targets, slice, red)
	case []int64:
		scReduceNum(d, upd.Data.([]int64), targets, slice, red)
	case []uint8:
		if y.DType != Uint8 {
			return fmt.Errorf("reduction unsupported for type %s", y.DType)
		}
		scReduceNum(d, upd.Data.([]uint8), targets, slice, red)
	case []uint16:
		scReduceNum(d, upd.Data.([]uint16), targets, slice, red)
	case []uint32:
		scReduceNum(d, upd.Data.([]uint32), targets, slice, red)
	case []uint64:
		scReduceNum(d, upd.Data.([]uint64), targets, slice, red)
	case []F16, []BF16:
		yf, uf := halfToFloat32s(d), halfToFloat32s(upd.Data)
		scReduceNum(yf, uf, targets, slice, red)
		narrowFloat32s(d, yf)
	case []bool:
		u := upd.Data.([]bool)
		scReduce(d, u, targets, slice, func(a, b bool) bool {
			if red == scAdd || red == scMax {
				return a || b
			}
			return a && b
		})
	default:
		return fmt.Errorf("reduction unsupported for type %s", y.DType)
	}
	return nil
}

func scSet[T any](_, b T) T { return b }

func scReduce[T any](y, u []T, targets []int, slice int, f func(a, b T) T) {
	for i, t := range targets {
		ys := y[t : t+slice]
		us := u[i*slice : (i+1)*slice]
		for j := range ys {
			ys[j] = f(ys[j], us[j])
		}
	}
}

func scReduceNum[T Number](y, u []T, targets []int, slice, red int) {
	for i, t := range targets {
		ys := y[t : t+slice]
		us := u[i*slice : (i+1)*slice]
		switch red {
		case scAdd:
			for j := range ys {
				ys[j] += us[j]
			}
		case scMul:
			for j := range ys {
				ys[j] *= us[j]
			}
		case scMax:
			for j := range ys {
				ys[j] = max(ys[j], us[j])
			}
		case scMin:
			for j := range ys {
				ys[j] = min(ys[j], us[j])
			}
		}
	}
}

// scND implements ScatterND.
type scND struct{ reduction int }

func newScND(n *Node) (any, error) {
	red, err := scParseReduction(n)
	if err != nil {
		return nil, err
	}
	return &scND{reduction: red}, nil
}

func (k *scND) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "data")
	if err != nil {
		return err
	}
	ind, err := shInput(in, 1, "indices")
	if err != nil {
		return err
	}
	upd, err := shInput(in, 2, "updates")
	if err != nil {
		return err
	}
	if upd.DType != x.DType {
		return fmt.Errorf("updates has type %s, data %s", upd.DType, x.DType)
	}
	g, err := gaResolveND(x.Shape, ind.Shape, 0)
	if err != nil {
		return err
	}
	q := len(ind.Shape)
	want := append(append([]int(nil), ind.Shape[:q-1]...), x.Shape[g.depth:]...)
	if !EqualShapes(want, upd.Shape) {
		return fmt.Errorf("updates shape %s, expected %s", ShapeString(upd.Shape), ShapeString(want))
	}
	idx, err := shInts(ind, "indices")
	if err != nil {
		return err
	}
	targets, err := g.offsets(idx)
	if err != nil {
		return err
	}
	y := ec.Empty(x.DType, x.Shape...)
	out[0] = y
	shCopyTensor(ec, y, x)
	return scApply(y, upd, targets, g.slice, k.reduction)
}

// scTensorScatter implements TensorScatter (opset 24), the KV-cache update.
type scTensorScatter struct {
	axis     int
	circular bool
}

func newScTensorScatter(n *Node) (any, error) {
	k := &scTensorScatter{axis: int(n.Attrs.Int("axis", -2))}
	switch m := n.Attrs.String("mode", "linear"); m {
	case "linear":
	case "circular":
		k.circular = true
	default:
		return nil, fmt.Errorf("unsupported mode %q", m)
	}
	return k, nil
}

func (k *scTensorScatter) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "past_cache")
	if err != nil {
		return err
	}
	upd, err := shInput(in, 1, "update")
	if err != nil {
		return err
	}
	if upd.DType != x.DType {
		return fmt.Errorf("update has type %s, past_cache %s", upd.DType, x.DType)
	}
	r := len(x.Shape)
	axis, err := NormalizeAxis(k.axis, r)
	if err != nil || r < 2 {
		return fmt.Errorf("axis %d out of range for rank %d", k.axis, r)
	}
	if axis == 0 {
		return fmt.Errorf("axis cannot be the batch dimension")
	}
	if len(upd.Shape) != r {
		return fmt.Errorf("update shape %s incompatible with past_cache %s", ShapeString(upd.Shape), ShapeString(x.Shape))
	}
	for i := range r {
		if (i != axis && upd.Shape[i] != x.Shape[i]) || (i == axis && upd.Shape[i] > x.Shape[i]) {
			return fmt.Errorf("update shape %s incompatible with past_cache %s", ShapeString(upd.Shape), ShapeString(x.Shape))
		}
	}
	batch := x.Shape[0]
	var wi []int64
	if t := shOptional(in, 2); t != nil {
		if wi, err = shInts(t, "write_indices"); err != nil {
			return err
		}
		if len(wi) != batch {
			return fmt.Errorf("write_indices has %d values for batch %d", len(wi), batch)
		}
	}
	maxSeq, seq := x.Shape[axis], upd.Shape[axis]
	inner := NumElements(x.Shape[axis+1:])
	prefix := NumElements(x.Shape[:axis])
	perBatch := NumElements(x.Shape[1:axis])
	y := ec.Empty(x.DType, x.Shape...)
	out[0] = y
	shCopyTensor(ec, y, x)
	for p := range prefix {
		w := 0
		if wi != nil {
			w = int(wi[p/perBatch])
		}
		if w < 0 || (!k.circular && w+seq > maxSeq) {
			return fmt.Errorf("write index %d with %d updates exceeds the cache length %d", w, seq, maxSeq)
		}
		if k.circular {
			w %= maxSeq
		}
		first := min(seq, maxSeq-w)
		one := []int{1}
		if err := shCopy(ec, y.Data, (p*maxSeq+w)*inner, one, upd.Data, p*seq*inner, one, []int{first * inner}); err != nil {
			return err
		}
		if rest := seq - first; rest > 0 { // circular wrap-around
			if err := shCopy(ec, y.Data, p*maxSeq*inner, one, upd.Data, (p*seq+first)*inner, one, []int{rest * inner}); err != nil {
				return err
			}
		}
	}
	return nil
}
