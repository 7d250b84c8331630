package ops

import (
	"cmp"
	"fmt"
	"slices"
)

// registerIndexing registers Trilu, CumSum, CumProd, NonZero, Compress,
// Unique and ReverseSequence.
func registerIndexing(r *Registry) {
	r.Add("", "Trilu", 14, newIxTrilu)
	r.Add("", "CumSum", 11, newIxCum)
	r.Add("", "CumProd", 26, newIxCum)
	r.AddKernel("", "NonZero", 9, KernelFunc(ixNonZero))
	r.Add("", "Compress", 9, newIxCompress)
	r.Add("", "Unique", 11, newIxUnique)
	r.Add("", "ReverseSequence", 10, newIxReverseSequence)
}

// ixTrilu implements Trilu: keeps the upper (or lower) triangle of the last
// two dimensions, offset by the optional k input.
type ixTrilu struct{ upper bool }

func newIxTrilu(n *Node) (any, error) {
	return &ixTrilu{upper: n.Attrs.Int("upper", 1) != 0}, nil
}

func (k *ixTrilu) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "input")
	if err != nil {
		return err
	}
	r := len(x.Shape)
	if r < 2 {
		return fmt.Errorf("input must have rank at least 2, got %s", ShapeString(x.Shape))
	}
	diag := int64(0)
	if t := shOptional(in, 1); t != nil {
		if diag, err = shScalarInt(t, "k"); err != nil {
			return err
		}
	}
	rows, cols := x.Shape[r-2], x.Shape[r-1]
	diag = min(max(diag, -int64(rows)-1), int64(cols)+1)
	y := ec.Empty(x.DType, x.Shape...)
	out[0] = y
	g := ixTriGeom{mats: NumElements(x.Shape[:r-2]), rows: rows, cols: cols, k: int(diag), upper: k.upper}
	switch d := shWords(y.Data).(type) {
	case []uint8:
		ixTriluT(&g, d, shWords(x.Data).([]uint8))
	case []uint16:
		ixTriluT(&g, d, shWords(x.Data).([]uint16))
	case []uint32:
		ixTriluT(&g, d, shWords(x.Data).([]uint32))
	case []uint64:
		ixTriluT(&g, d, shWords(x.Data).([]uint64))
	case []complex64:
		ixTriluT(&g, d, x.Data.([]complex64))
	case []complex128:
		ixTriluT(&g, d, x.Data.([]complex128))
	case []string:
		ixTriluT(&g, d, x.Data.([]string))
	default:
		return fmt.Errorf("unsupported type %s", x.DType)
	}
	return nil
}

type ixTriGeom struct {
	mats, rows, cols, k int
	upper               bool
}

// ixTriluT copies the kept part of every row and zeroes the rest: upper
// keeps j >= i+k, lower keeps j <= i+k.
func ixTriluT[T any](g *ixTriGeom, d, s []T) {
	var zero T
	for m := range g.mats {
		for i := range g.rows {
			o := (m*g.rows + i) * g.cols
			dr, sr := d[o:o+g.cols], s[o:o+g.cols]
			if g.upper {
				c := min(max(i+g.k, 0), g.cols)
				clear(dr[:c])
				copy(dr[c:], sr[c:])
			} else {
				c := min(max(i+g.k+1, 0), g.cols)
				copy(dr[:c], sr[:c])
				for j := c; j < g.cols; j++ {
					dr[j] = zero
				}
			}
		}
	}
}

// ixCum implements CumSum and CumProd.
type ixCum struct {
	prod               bool
	exclusive, reverse bool
}

func newIxCum(n *Node) (any, error) {
	return &ixCum{
		prod:      n.OpType == "CumProd",
		exclusive: n.Attrs.Int("exclusive", 0) != 0,
		reverse:   n.Attrs.Int("reverse", 0) != 0,
	}, nil
}

// ixCumGeom views the input as [outer, dim, inner].
type ixCumGeom struct {
	outer, dim, inner  int
	exclusive, reverse bool
}

func (k *ixCum) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "x")
	if err != nil {
		return err
	}
	a, err := shScalarInt(shOptional(in, 1), "axis")
	if err != nil {
		return err
	}
	r := len(x.Shape)
	axis, err := NormalizeAxis(int(a), r)
	if err != nil {
		return err
	}
	y := ec.Empty(x.DType, x.Shape...)
	out[0] = y
	if r == 0 {
		if k.exclusive {
			one := 0.0
			if k.prod {
				one = 1
			}
			v, err := shScalarOf(x.DType, one)
			if err != nil {
				return err
			}
			CopySlice(y.Data, v)
		} else {
			CopySlice(y.Data, x.Data)
		}
		return nil
	}
	g := ixCumGeom{outer: NumElements(x.Shape[:axis]), dim: x.Shape[axis], inner: NumElements(x.Shape[axis+1:]),
		exclusive: k.exclusive, reverse: k.reverse}
	switch d := y.Data.(type) {
	case []float32:
		ixCumT(&g, d, x.Data.([]float32), k.prod)
	case []float64:
		ixCumT(&g, d, x.Data.([]float64), k.prod)
	case []int8:
		ixCumT(&g, d, x.Data.([]int8), k.prod)
	case []int16:
		ixCumT(&g, d, x.Data.([]int16), k.prod)
	case []int32:
		ixCumT(&g, d, x.Data.([]int32), k.prod)
	case []int64:
		ixCumT(&g, d, x.Data.([]int64), k.prod)
	case []uint8:
		if x.DType != Uint8 {
			return fmt.Errorf("unsupported type %s", x.DType)
		}
		ixCumT(&g, d, x.Data.([]uint8), k.prod)
	case []uint16:
		ixCumT(&g, d, x.Data.([]uint16), k.prod)
	case []uint32:
		ixCumT(&g, d, x.Data.([]uint32), k.prod)
	case []uint64:
		ixCumT(&g, d, x.Data.([]uint64), k.prod)
	case []F16, []BF16:
		yf := make([]float32, y.Len())
		ixCumT(&g, yf, halfToFloat32s(x.Data), k.prod)
		narrowFloat32s(d, yf)
	default:
		return fmt.Errorf("unsupported type %s", x.DType)
	}
	return nil
}

// ixCumT accumulates along the middle dimension one inner row at a time.
func ixCumT[T Number](g *ixCumGeom, d, s []T, prod bool) {
	n := g.inner
	for o := range g.outer {
		base := o * g.dim * n
		for step := range g.dim {
			i, prev := step, step-1
			if g.reverse {
				i, prev = g.dim-1-step, g.dim-step
			}
			dr := d[base+i*n : base+(i+1)*n]
			if step == 0 {
				if g.exclusive {
					var id T
					if prod {
						id = 1
					}
					for j := range dr {
						dr[j] = id
					}
				} else {
					copy(dr, s[base+i*n:base+(i+1)*n])
				}
				continue
			}
			pr := d[base+prev*n : base+(prev+1)*n]
			src := i
			if g.exclusive {
				src = prev
			}
			sr := s[base+src*n : base+(src+1)*n]
			if prod {
				for j := range dr {
					dr[j] = pr[j] * sr[j]
				}
			} else {
				for j := range dr {
					dr[j] = pr[j] + sr[j]
				}
			}
		}
	}
}

// ixNonZero implements NonZero: the coordinates of the nonzero elements,
// one row per dimension.
func ixNonZero(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "X")
	if err != nil {
		return err
	}
	nz := make([]bool, x.Len())
	switch d := x.Data.(type) {
	case []float32:
		ixMarkNonZero(nz, d)
	case []float64:
		ixMarkNonZero(nz, d)
	case []F16:
		for i, v := range d {
			nz[i] = v&0x7fff != 0
		}
	case []BF16:
		for i, v := range d {
			nz[i] = v&0x7fff != 0
		}
	case []bool:
		copy(nz, d)
	case []string:
		for i, v := range d {
			nz[i] = v != ""
		}
	case []complex64:
		for i, v := range d {
			nz[i] = v != 0
		}
	case []complex128:
		for i, v := range d {
			nz[i] = v != 0
		}
	default:
		switch w := shWords(d).(type) {
		case []uint8:
			ixMarkNonZero(nz, w)
		case []uint16:
			ixMarkNonZero(nz, w)
		case []uint32:
			ixMarkNonZero(nz, w)
		case []uint64:
			ixMarkNonZero(nz, w)
		default:
			return fmt.Errorf("unsupported type %s", x.DType)
		}
	}
	count := 0
	for _, b := range nz {
		if b {
			count++
		}
	}
	shape := x.Shape
	if len(shape) == 0 {
		shape = []int{1} // a scalar is treated as one element of a vector
	}
	r := len(shape)
	y := ec.Empty(Int64, r, count)
	out[0] = y
	ys := y.Data.([]int64)
	idx := make([]int64, r)
	c := 0
	for _, b := range nz {
		if b {
			for k := range r {
				ys[k*count+c] = idx[k]
			}
			c++
		}
		for k := r - 1; k >= 0; k-- {
			idx[k]++
			if idx[k] < int64(shape[k]) {
				break
			}
			idx[k] = 0
		}
	}
	return nil
}

func ixMarkNonZero[T Number](nz []bool, d []T) {
	for i, v := range d {
		nz[i] = v != 0
	}
}

// ixCompress implements Compress.
type ixCompress struct {
	axis    int
	hasAxis bool
}

func newIxCompress(n *Node) (any, error) {
	return &ixCompress{axis: int(n.Attrs.Int("axis", 0)), hasAxis: n.Attrs.Has("axis")}, nil
}

func (k *ixCompress) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "input")
	if err != nil {
		return err
	}
	ct, err := shInput(in, 1, "condition")
	if err != nil {
		return err
	}
	cond := ct.Bools()
	if cond == nil && ct.Len() > 0 {
		return fmt.Errorf("condition must be bool, got %s", ct.DType)
	}
	g := gaGeom{outer: 1, dim: x.Len(), inner: 1}
	axis := 0
	if k.hasAxis {
		r := len(x.Shape)
		if axis, err = NormalizeAxis(k.axis, r); err != nil || r == 0 {
			return fmt.Errorf("axis %d out of range for rank %d", k.axis, r)
		}
		g = gaGeom{outer: NumElements(x.Shape[:axis]), dim: x.Shape[axis], inner: NumElements(x.Shape[axis+1:])}
	}
	var sel []int64
	for i, c := range cond {
		if c {
			if i >= g.dim {
				return fmt.Errorf("condition selects index %d beyond size %d", i, g.dim)
			}
			sel = append(sel, int64(i))
		}
	}
	var shape []int
	if k.hasAxis {
		shape = append([]int(nil), x.Shape...)
		shape[axis] = len(sel)
	} else {
		shape = []int{len(sel)}
	}
	y := ec.Empty(x.DType, shape...)
	out[0] = y
	if y.Len() == 0 {
		return nil
	}
	return gaGatherWords(ec, &g, y.Data, x.Data, sel)
}

// ixUnique implements Unique: the distinct elements (or slices along axis)
// with their first-occurrence indices, inverse indices and counts.
type ixUnique struct {
	sorted  bool
	axis    int
	hasAxis bool
}

func newIxUnique(n *Node) (any, error) {
	return &ixUnique{
		sorted:  n.Attrs.Int("sorted", 1) != 0,
		axis:    int(n.Attrs.Int("axis", 0)),
		hasAxis: n.Attrs.Has("axis"),
	}, nil
}

func (k *ixUnique) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "X")
	if err != nil {
		return err
	}
	// View the input as [outer, dim, inner] and compare the dim items, each
	// of outer*inner elements, after moving them to contiguous rows.
	g := gaGeom{outer: 1, dim: x.Len(), inner: 1}
	axis := 0
	if k.hasAxis {
		r := len(x.Shape)
		if axis, err = NormalizeAxis(k.axis, r); err != nil || r == 0 {
			return fmt.Errorf("axis %d out of range for rank %d", k.axis, r)
		}
		g = gaGeom{outer: NumElements(x.Shape[:axis]), dim: x.Shape[axis], inner: NumElements(x.Shape[axis+1:])}
	}
	m := g.outer * g.inner
	rows := x.Data
	if g.outer > 1 {
		rows = MakeSlice(x.DType, x.Len())
		if err := shCopy(ec, rows, 0, []int{m, g.inner, 1}, x.Data, 0, []int{g.inner, g.dim * g.inner, 1}, []int{g.dim, g.outer, g.inner}); err != nil {
			return err
		}
	}
	compare, err := ixRowCompare(rows, m)
	if err != nil {
		return fmt.Errorf("type %s: %w", x.DType, err)
	}
	order := make([]int, g.dim)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, compare)
	// groups of equal items; the stable sort puts each first occurrence first
	type group struct{ first, count, start int }
	var groups []group
	for i := 0; i < len(order); {
		j := i + 1
		for j < len(order) && compare(order[i], order[j]) == 0 {
			j++
		}
		groups = append(groups, group{first: order[i], count: j - i, start: i})
		i = j
	}
	if !k.sorted {
		slices.SortFunc(groups, func(a, b group) int { return cmp.Compare(a.first, b.first) })
	}
	nu := len(groups)
	first := make([]int64, nu)
	inverse := make([]int64, g.dim)
	for u, gr := range groups {
		first[u] = int64(gr.first)
		for _, i := range order[gr.start : gr.start+gr.count] {
			inverse[i] = int64(u)
		}
	}
	var shape []int
	if k.hasAxis {
		shape = append([]int(nil), x.Shape...)
		shape[axis] = nu
	} else {
		shape = []int{nu}
	}
	y := ec.Empty(x.DType, shape...)
	out[0] = y
	if y.Len() > 0 {
		if err := gaGatherWords(ec, &g, y.Data, x.Data, first); err != nil {
			return err
		}
	}
	ints := [][]int64{first, inverse, nil}
	for i := 1; i < len(out) && i <= 3; i++ {
		v := ints[i-1]
		if i == 3 {
			v = make([]int64, nu)
			for u, gr := range groups {
				v[u] = int64(gr.count)
			}
		}
		t := ec.Empty(Int64, len(v))
		copy(t.Data.([]int64), v)
		out[i] = t
	}
	return nil
}

// ixRowCompare returns a comparison of rows a and b (of m elements each)
// of a backing slice.
func ixRowCompare(data any, m int) (func(a, b int) int, error) {
	switch d := data.(type) {
	case []float32:
		return ixRowCmp(d, m), nil
	case []float64:
		return ixRowCmp(d, m), nil
	case []int8:
		return ixRowCmp(d, m), nil
	case []int16:
		return ixRowCmp(d, m), nil
	case []int32:
		return ixRowCmp(d, m), nil
	case []int64:
		return ixRowCmp(d, m), nil
	case []uint8:
		return ixRowCmp(d, m), nil
	case []uint16:
		return ixRowCmp(d, m), nil
	case []uint32:
		return ixRowCmp(d, m), nil
	case []uint64:
		return ixRowCmp(d, m), nil
	case []string:
		return ixRowCmp(d, m), nil
	case []F16, []BF16:
		return ixRowCmp(halfToFloat32s(d), m), nil
	case []bool:
		return ixRowCmp(shReinterpret[bool, uint8](d), m), nil
	}
	return nil, fmt.Errorf("unsupported")
}

func ixRowCmp[T cmp.Ordered](d []T, m int) func(a, b int) int {
	return func(a, b int) int {
		ra, rb := d[a*m:(a+1)*m], d[b*m:(b+1)*m]
		for j := range ra {
			if c := cmp.Compare(ra[j], rb[j]); c != 0 {
				return c
			}
		}
		return 0
	}
}

// ixReverseSequence implements ReverseSequence.
type ixReverseSequence struct{ batchAxis, timeAxis int }

func newIxReverseSequence(n *Node) (any, error) {
	k := &ixReverseSequence{batchAxis: int(n.Attrs.Int("batch_axis", 1)), timeAxis: int(n.Attrs.Int("time_axis", 0))}
	if k.batchAxis < 0 || k.batchAxis > 1 || k.timeAxis < 0 || k.timeAxis > 1 || k.batchAxis == k.timeAxis {
		return nil, fmt.Errorf("batch_axis %d and time_axis %d must be 0 and 1 in some order", k.batchAxis, k.timeAxis)
	}
	return k, nil
}

func (k *ixReverseSequence) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "input")
	if err != nil {
		return err
	}
	lens, err := shInts(shOptional(in, 1), "sequence_lens")
	if err != nil {
		return err
	}
	if len(x.Shape) < 2 {
		return fmt.Errorf("input must have rank at least 2, got %s", ShapeString(x.Shape))
	}
	batch, steps := x.Shape[k.batchAxis], x.Shape[k.timeAxis]
	if len(lens) != batch {
		return fmt.Errorf("sequence_lens has %d values for batch %d", len(lens), batch)
	}
	st := Strides(x.Shape)
	inner := st[1]
	bst, tst := st[k.batchAxis], st[k.timeAxis]
	y := ec.Empty(x.DType, x.Shape...)
	out[0] = y
	shCopyTensor(ec, y, x)
	for b, l := range lens {
		if l < 0 || l > int64(steps) {
			return fmt.Errorf("sequence length %d at batch %d out of range [0, %d]", l, b, steps)
		}
		if l < 2 {
			continue
		}
		n := int(l)
		if err := shCopy(ec, y.Data, b*bst, []int{tst, 1}, x.Data, b*bst+(n-1)*tst, []int{-tst, 1}, []int{n, inner}); err != nil {
			return err
		}
	}
	return nil
}
