package ops

import "fmt"

// argKernel implements ArgMax and ArgMin: the int64 index of the largest
// (smallest) element along axis, the first one unless select_last_index is
// set. NaN counts as the extreme value, as in numpy.
type argKernel struct {
	max      bool
	axis     int
	keepdims bool
	last     bool
}

func newArgKernel(n *Node) (any, error) {
	return &argKernel{
		max:      n.OpType == "ArgMax",
		axis:     int(n.Attrs.Int("axis", 0)),
		keepdims: n.Attrs.Int("keepdims", 1) != 0,
		last:     n.Attrs.Int("select_last_index", 0) != 0,
	}, nil
}

func (k *argKernel) Run(ec *Context, in, out []*Tensor) error {
	x, err := rnInput(in, 0, "data")
	if err != nil {
		return err
	}
	if x.Rank() == 0 {
		return fmt.Errorf("input must have rank >= 1")
	}
	axis, err := NormalizeAxis(k.axis, x.Rank())
	if err != nil {
		return err
	}
	outer, n, inner := rnSplit3(x.Shape, axis)
	if n == 0 {
		return fmt.Errorf("cannot take %s over an empty axis %d", map[bool]string{true: "ArgMax", false: "ArgMin"}[k.max], axis)
	}
	shape := make([]int, 0, x.Rank())
	for i, d := range x.Shape {
		if i != axis {
			shape = append(shape, d)
		} else if k.keepdims {
			shape = append(shape, 1)
		}
	}
	y := ec.Empty(Int64, shape...)
	ys := y.Int64s()
	switch xs := x.Data.(type) {
	case []float32:
		argRun(ec, xs, ys, outer, n, inner, k.max, k.last)
	case []float64:
		argRun(ec, xs, ys, outer, n, inner, k.max, k.last)
	case []F16, []BF16:
		xw, xtmp, err := float32Data(ec, x)
		if err != nil {
			ec.Release(y)
			return err
		}
		argRun(ec, xw, ys, outer, n, inner, k.max, k.last)
		ec.Release(xtmp)
	case []int8:
		argRun(ec, xs, ys, outer, n, inner, k.max, k.last)
	case []int16:
		argRun(ec, xs, ys, outer, n, inner, k.max, k.last)
	case []int32:
		argRun(ec, xs, ys, outer, n, inner, k.max, k.last)
	case []int64:
		argRun(ec, xs, ys, outer, n, inner, k.max, k.last)
	case []uint8:
		argRun(ec, xs, ys, outer, n, inner, k.max, k.last)
	case []uint16:
		argRun(ec, xs, ys, outer, n, inner, k.max, k.last)
	case []uint32:
		argRun(ec, xs, ys, outer, n, inner, k.max, k.last)
	case []uint64:
		argRun(ec, xs, ys, outer, n, inner, k.max, k.last)
	default:
		ec.Release(y)
		return fmt.Errorf("unsupported element type %s", x.DType)
	}
	out[0] = y
	return nil
}

// argRun writes the arg-extreme index of each (outer, inner) lane.
func argRun[T Number](ec *Context, x []T, y []int64, outer, n, inner int, max, last bool) {
	rnRows(ec, outer, n*inner, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			base := o * n * inner
			for i := 0; i < inner; i++ {
				off := base + i
				best, bi := x[off], 0
				for j := 1; j < n; j++ {
					off += inner
					v := x[off]
					if best != best && !last { // NaN found: it stays
						break
					}
					var better bool
					if max {
						better = v > best
					} else {
						better = v < best
					}
					if better || v != v && best == best || last && (v == best || v != v && best != best) {
						best, bi = v, j
					}
				}
				y[o*inner+i] = int64(bi)
			}
		}
	})
}
