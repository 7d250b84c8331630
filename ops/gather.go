package ops

import (
	"errors"
	"fmt"
)

// registerGather registers Gather, GatherElements and GatherND.
func registerGather(r *Registry) {
	r.Add("", "Gather", 1, newGaGather)
	r.Add("", "GatherElements", 11, newGaGatherElements)
	r.Add("", "GatherND", 11, newGaGatherND)
}

// gaIndex is the set of index element types.
type gaIndex interface{ ~int32 | ~int64 }

// ErrIndexRange is wrapped by errors about an index input outside the
// dimension it indexes: data a caller sent, typically (a token id past the
// vocabulary).
var ErrIndexRange = errors.New("index out of range")

// gaIndexError reports an index outside [-dim, dim).
func gaIndexError(v int64, pos, dim int) error {
	return fmt.Errorf("%w: index %d at position %d out of range [-%d, %d)", ErrIndexRange, v, pos, dim, dim)
}

// gaCheckIndices verifies that every index lies in [-dim, dim).
func gaCheckIndices[I gaIndex](idx []I, dim int) error {
	d := int64(dim)
	for i, v := range idx {
		if int64(v) >= d || int64(v) < -d {
			return gaIndexError(int64(v), i, dim)
		}
	}
	return nil
}

// gaGather implements Gather.
type gaGather struct{ axis int }

func newGaGather(n *Node) (any, error) {
	return &gaGather{axis: int(n.Attrs.Int("axis", 0))}, nil
}

func (k *gaGather) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "data")
	if err != nil {
		return err
	}
	ind, err := shInput(in, 1, "indices")
	if err != nil {
		return err
	}
	r := len(x.Shape)
	if r == 0 {
		return fmt.Errorf("data must have rank at least 1")
	}
	axis, err := NormalizeAxis(k.axis, r)
	if err != nil {
		return err
	}
	dim := x.Shape[axis]
	switch iv := ind.Data.(type) {
	case []int64:
		err = gaCheckIndices(iv, dim)
	case []int32:
		err = gaCheckIndices(iv, dim)
	default:
		return fmt.Errorf("indices must be int32 or int64, got %s", ind.DType)
	}
	if err != nil {
		return err
	}
	var shapeBuf [2 * maxRank]int
	shape := append(shapeBuf[:0], x.Shape[:axis]...)
	shape = append(shape, ind.Shape...)
	shape = append(shape, x.Shape[axis+1:]...)
	y := ec.Empty(x.DType, shape...)
	out[0] = y
	g := gaGeom{outer: NumElements(x.Shape[:axis]), dim: dim, inner: NumElements(x.Shape[axis+1:])}
	if y.Len() == 0 {
		return nil
	}
	if iv, ok := ind.Data.([]int64); ok {
		return gaGatherWords(ec, &g, y.Data, x.Data, iv)
	}
	return gaGatherWords(ec, &g, y.Data, x.Data, ind.Data.([]int32))
}

// gaGeom is Gather's view of data as [outer, dim, inner].
type gaGeom struct{ outer, dim, inner int }

func gaGatherWords[I gaIndex](ec *Context, g *gaGeom, dst, src any, idx []I) error {
	switch shKindOf(dst) {
	case shKind8:
		gaGatherT(ec, g, shAs[uint8](dst), shAs[uint8](src), idx)
	case shKind16:
		gaGatherT(ec, g, shAs[uint16](dst), shAs[uint16](src), idx)
	case shKind32:
		gaGatherT(ec, g, shAs[uint32](dst), shAs[uint32](src), idx)
	case shKind64:
		gaGatherT(ec, g, shAs[uint64](dst), shAs[uint64](src), idx)
	case shKindC64:
		gaGatherT(ec, g, dst.([]complex64), src.([]complex64), idx)
	case shKindC128:
		gaGatherT(ec, g, dst.([]complex128), src.([]complex128), idx)
	case shKindString:
		gaGatherT(ec, g, dst.([]string), src.([]string), idx)
	default:
		return fmt.Errorf("unsupported backing %T", dst)
	}
	return nil
}

// gaGatherT copies, for every outer index and every (validated) index, one
// row of inner elements; on axis 0 that is a straight row lookup.
func gaGatherT[T any, I gaIndex](ec *Context, g *gaGeom, d, s []T, idx []I) {
	rows := g.outer * len(idx)
	if rows*g.inner >= shParallelMin && ec.Workers.Workers() > 1 {
		grain := max(1, shParallelMin/2/g.inner)
		gc := *g // only this branch moves the geometry to the heap
		ec.Parallel(rows, grain, func(lo, hi int) { gaGatherRows(&gc, d, s, idx, lo, hi) })
		return
	}
	gaGatherRows(g, d, s, idx, 0, rows)
}

func gaGatherRows[T any, I gaIndex](g *gaGeom, d, s []T, idx []I, lo, hi int) {
	n := len(idx)
	o, i := lo/n, lo%n
	inner, dim := g.inner, g.dim
	if inner == 1 {
		for r := lo; r < hi; r++ {
			j := int(idx[i])
			if j < 0 {
				j += dim
			}
			d[r] = s[o*dim+j]
			if i++; i == n {
				i = 0
				o++
			}
		}
		return
	}
	for r := lo; r < hi; r++ {
		j := int(idx[i])
		if j < 0 {
			j += dim
		}
		src := (o*dim + j) * inner
		copy(d[r*inner:(r+1)*inner], s[src:src+inner])
		if i++; i == n {
			i = 0
			o++
		}
	}
}

// gaGatherElements implements GatherElements.
type gaGatherElements struct{ axis int }

func newGaGatherElements(n *Node) (any, error) {
	return &gaGatherElements{axis: int(n.Attrs.Int("axis", 0))}, nil
}

// gaElemGeom describes an element-wise indexed walk: positions follow the
// index tensor's shape; the data offset is the position's own offset on
// every axis but axis, where the index value is used.
type gaElemGeom struct {
	shape []int // index shape
	bst   []int // data strides, 0 on axis
	axSt  int   // data stride of axis
	dim   int   // data size along axis
}

func gaMakeElemGeom(data, index []int, axis int, what string) (*gaElemGeom, error) {
	if len(index) != len(data) {
		return nil, fmt.Errorf("%s rank %d differs from data rank %d", what, len(index), len(data))
	}
	st := Strides(data)
	g := &gaElemGeom{shape: index, bst: make([]int, len(data)), axSt: st[axis], dim: data[axis]}
	for i := range data {
		if i != axis {
			if index[i] > data[i] {
				return nil, fmt.Errorf("%s shape %s exceeds data shape %s on axis %d", what, ShapeString(index), ShapeString(data), i)
			}
			g.bst[i] = st[i]
		}
	}
	return g, nil
}

func (k *gaGatherElements) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "data")
	if err != nil {
		return err
	}
	ind, err := shInput(in, 1, "indices")
	if err != nil {
		return err
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
	switch iv := ind.Data.(type) {
	case []int64:
		err = gaCheckIndices(iv, g.dim)
	case []int32:
		err = gaCheckIndices(iv, g.dim)
	default:
		return fmt.Errorf("indices must be int32 or int64, got %s", ind.DType)
	}
	if err != nil {
		return err
	}
	y := ec.Empty(x.DType, ind.Shape...)
	out[0] = y
	if y.Len() == 0 {
		return nil
	}
	if iv, ok := ind.Data.([]int64); ok {
		return gaElementsWords(g, y.Data, x.Data, iv)
	}
	return gaElementsWords(g, y.Data, x.Data, ind.Data.([]int32))
}

func gaElementsWords[I gaIndex](g *gaElemGeom, dst, src any, idx []I) error {
	switch d := shWords(dst).(type) {
	case []uint8:
		gaElementsT(g, d, shWords(src).([]uint8), idx)
	case []uint16:
		gaElementsT(g, d, shWords(src).([]uint16), idx)
	case []uint32:
		gaElementsT(g, d, shWords(src).([]uint32), idx)
	case []uint64:
		gaElementsT(g, d, shWords(src).([]uint64), idx)
	case []complex64:
		gaElementsT(g, d, src.([]complex64), idx)
	case []complex128:
		gaElementsT(g, d, src.([]complex128), idx)
	case []string:
		gaElementsT(g, d, src.([]string), idx)
	default:
		return fmt.Errorf("unsupported backing %T", dst)
	}
	return nil
}

// gaElementsT walks the index tensor in row-major order; idx values were
// validated.
func gaElementsT[T any, I gaIndex](g *gaElemGeom, d, s []T, idx []I) {
	r := len(g.shape)
	var pos [maxRank]int
	base := 0
	dim, axSt := g.dim, g.axSt
	for o, v := range idx {
		j := int(v)
		if j < 0 {
			j += dim
		}
		d[o] = s[base+j*axSt]
		for k := r - 1; k >= 0; k-- {
			pos[k]++
			base += g.bst[k]
			if pos[k] < g.shape[k] {
				break
			}
			base -= g.bst[k] * g.shape[k]
			pos[k] = 0
		}
	}
}

// gaGatherND implements GatherND (batch_dims from opset 12).
type gaGatherND struct{ batchDims int }

func newGaGatherND(n *Node) (any, error) {
	b := int(n.Attrs.Int("batch_dims", 0))
	if b < 0 {
		return nil, fmt.Errorf("batch_dims %d must not be negative", b)
	}
	return &gaGatherND{batchDims: b}, nil
}

// gaNDGeom is the resolved geometry shared by GatherND and ScatterND.
type gaNDGeom struct {
	batch     int   // product of the batch dimensions
	tuples    int   // index tuples per batch
	depth     int   // length of one index tuple
	slice     int   // elements addressed by one tuple
	batchSize int   // data elements per batch
	dims      []int // data dimensions addressed by a tuple
	st        []int // data strides of those dimensions
}

// gaResolveND checks the index tensor shape against data for GatherND and
// ScatterND with batch dimensions b.
func gaResolveND(data, index []int, b int) (*gaNDGeom, error) {
	r, q := len(data), len(index)
	if q < 1 || r < 1 {
		return nil, fmt.Errorf("data and indices must have rank at least 1")
	}
	if b >= q || b >= r {
		return nil, fmt.Errorf("batch_dims %d must be less than the ranks of data (%d) and indices (%d)", b, r, q)
	}
	depth := index[q-1]
	if b+depth > r {
		return nil, fmt.Errorf("index tuples of length %d address more than data's %d dimensions (batch_dims %d)", depth, r, b)
	}
	for i := range b {
		if data[i] != index[i] {
			return nil, fmt.Errorf("batch dimension %d differs: data %s, indices %s", i, ShapeString(data), ShapeString(index))
		}
	}
	st := Strides(data)
	g := &gaNDGeom{
		batch:  NumElements(data[:b]),
		tuples: NumElements(index[b : q-1]),
		depth:  depth,
		slice:  NumElements(data[b+depth:]),
		dims:   data[b : b+depth],
		st:     st[b : b+depth],
	}
	g.batchSize = NumElements(data[b:])
	return g, nil
}

// offsets converts the index tuples to data offsets (relative to the start
// of the data), validating each index.
func (g *gaNDGeom) offsets(idx []int64) ([]int, error) {
	offs := make([]int, g.batch*g.tuples)
	for t := range offs {
		tup := idx[t*g.depth : (t+1)*g.depth]
		off := (t / max(g.tuples, 1)) * g.batchSize
		for j, v := range tup {
			dim := g.dims[j]
			if v >= int64(dim) || v < -int64(dim) {
				return nil, gaIndexError(v, t*g.depth+j, dim)
			}
			if v < 0 {
				v += int64(dim)
			}
			off += int(v) * g.st[j]
		}
		offs[t] = off
	}
	return offs, nil
}

func (k *gaGatherND) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "data")
	if err != nil {
		return err
	}
	ind, err := shInput(in, 1, "indices")
	if err != nil {
		return err
	}
	idx, err := shInts(ind, "indices")
	if err != nil {
		return err
	}
	g, err := gaResolveND(x.Shape, ind.Shape, k.batchDims)
	if err != nil {
		return err
	}
	offs, err := g.offsets(idx)
	if err != nil {
		return err
	}
	q := len(ind.Shape)
	shape := append(append([]int(nil), ind.Shape[:q-1]...), x.Shape[k.batchDims+g.depth:]...)
	y := ec.Empty(x.DType, shape...)
	out[0] = y
	if y.Len() == 0 {
		return nil
	}
	// Each tuple selects one contiguous slice of data.
	switch d := shWords(y.Data).(type) {
	case []uint8:
		gaBlocks(d, shWords(x.Data).([]uint8), offs, g.slice)
	case []uint16:
		gaBlocks(d, shWords(x.Data).([]uint16), offs, g.slice)
	case []uint32:
		gaBlocks(d, shWords(x.Data).([]uint32), offs, g.slice)
	case []uint64:
		gaBlocks(d, shWords(x.Data).([]uint64), offs, g.slice)
	case []complex64:
		gaBlocks(d, x.Data.([]complex64), offs, g.slice)
	case []complex128:
		gaBlocks(d, x.Data.([]complex128), offs, g.slice)
	case []string:
		gaBlocks(d, x.Data.([]string), offs, g.slice)
	default:
		return fmt.Errorf("unsupported type %s", x.DType)
	}
	return nil
}

// gaBlocks copies d[i*n:(i+1)*n] = s[offs[i]:offs[i]+n] for every i.
func gaBlocks[T any](d, s []T, offs []int, n int) {
	for i, o := range offs {
		copy(d[i*n:(i+1)*n], s[o:o+n])
	}
}
