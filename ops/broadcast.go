package ops

import "fmt"

// BroadcastShapes returns the ONNX (numpy) multidirectional broadcast of
// the given shapes.
func BroadcastShapes(shapes ...[]int) ([]int, error) {
	rank := 0
	for _, s := range shapes {
		if len(s) > rank {
			rank = len(s)
		}
	}
	out := make([]int, rank)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			o := out[off+i]
			switch {
			case o == d || d == 1:
			case o == 1:
				out[off+i] = d
			default:
				return nil, fmt.Errorf("shapes %s cannot be broadcast together", shapesString(shapes))
			}
		}
	}
	return out, nil
}

func shapesString(shapes [][]int) string {
	s := ""
	for i, sh := range shapes {
		if i > 0 {
			s += ", "
		}
		s += ShapeString(sh)
	}
	return s
}

// broadcastsTo reports whether in broadcasts (unidirectionally) to out.
func broadcastsTo(in, out []int) bool {
	if len(in) > len(out) {
		return false
	}
	off := len(out) - len(in)
	for i, d := range in {
		if d != 1 && d != out[off+i] {
			return false
		}
	}
	return true
}

// broadcastStridesInto is BroadcastStrides writing into dst (len(out)
// values) instead of a new slice.
func broadcastStridesInto(dst, in, out []int) {
	clear(dst[:len(out)])
	acc := 1
	for i := len(in) - 1; i >= 0; i-- {
		if in[i] != 1 {
			dst[len(out)-len(in)+i] = acc
		}
		acc *= in[i]
	}
}

// BroadcastStrides returns, for each dimension of out, the element stride
// of in (0 where in is broadcast along that dimension). in must be
// broadcastable to out.
func BroadcastStrides(in, out []int) []int {
	st := make([]int, len(out))
	acc := 1
	for i := len(in) - 1; i >= 0; i-- {
		j := len(out) - len(in) + i
		if in[i] != 1 {
			st[j] = acc
		}
		acc *= in[i]
	}
	return st
}

// maxRank bounds the rank handled by the stack-allocated index walkers.
const maxRank = 16

// walker iterates the output of a broadcast in row-major order while
// tracking each input's flat offset, with the innermost dimension handled by
// the caller as a strided run.
type walker struct {
	rank    int
	shape   [maxRank]int
	strides [3][maxRank]int
	idx     [maxRank]int
	off     [3]int
}

// coalesce merges adjacent output dimensions whose inputs are all
// contiguous across them, which turns most broadcasts into one or two loops.
func newWalker(w *walker, out []int, ins ...[]int) error {
	if len(out) > maxRank {
		return fmt.Errorf("rank %d exceeds the supported %d", len(out), maxRank)
	}
	var st [3][maxRank]int
	for k, in := range ins {
		if len(in) > len(out) {
			return fmt.Errorf("shape %s does not broadcast to %s", ShapeString(in), ShapeString(out))
		}
		acc := 1
		for i := len(in) - 1; i >= 0; i-- {
			j := len(out) - len(in) + i
			if in[i] != 1 {
				if in[i] != out[j] {
					return fmt.Errorf("shape %s does not broadcast to %s", ShapeString(in), ShapeString(out))
				}
				st[k][j] = acc
			}
			acc *= in[i]
		}
	}
	// coalesce from the innermost dimension outwards
	r := 0
	for i := 0; i < len(out); i++ {
		if out[i] == 1 {
			continue
		}
		if r > 0 {
			mergeable := true
			for k := range ins {
				if st[k][i]*out[i] != w.strides[k][r-1] && !(st[k][i] == 0 && w.strides[k][r-1] == 0) {
					mergeable = false
					break
				}
			}
			if mergeable {
				w.shape[r-1] *= out[i]
				for k := range ins {
					w.strides[k][r-1] = st[k][i]
				}
				continue
			}
		}
		w.shape[r] = out[i]
		for k := range ins {
			w.strides[k][r] = st[k][i]
		}
		r++
	}
	if r == 0 {
		w.shape[0] = 1
		r = 1
	}
	w.rank = r
	return nil
}

// next advances all but the innermost dimension; it reports false at the end.
func (w *walker) next(nin int) bool {
	for d := w.rank - 2; d >= 0; d-- {
		w.idx[d]++
		for k := 0; k < nin; k++ {
			w.off[k] += w.strides[k][d]
		}
		if w.idx[d] < w.shape[d] {
			return true
		}
		for k := 0; k < nin; k++ {
			w.off[k] -= w.strides[k][d] * w.shape[d]
		}
		w.idx[d] = 0
	}
	return false
}

// Binary computes out[i] = f(a[ia], b[ib]) with numpy broadcasting; out must
// have the broadcast shape outShape.
func Binary[A, B, O any](out []O, outShape []int, a []A, aShape []int, b []B, bShape []int, f func(A, B) O) error {
	if len(a) == len(out) && len(b) == len(out) && EqualShapes(aShape, bShape) {
		for i := range out {
			out[i] = f(a[i], b[i])
		}
		return nil
	}
	if len(b) == 1 && len(a) == len(out) {
		y := b[0]
		for i := range out {
			out[i] = f(a[i], y)
		}
		return nil
	}
	if len(a) == 1 && len(b) == len(out) {
		x := a[0]
		for i := range out {
			out[i] = f(x, b[i])
		}
		return nil
	}
	if len(out) == 0 {
		return nil
	}
	var w walker
	if err := newWalker(&w, outShape, aShape, bShape); err != nil {
		return err
	}
	inner := w.shape[w.rank-1]
	sa, sb := w.strides[0][w.rank-1], w.strides[1][w.rank-1]
	o := 0
	for {
		ia, ib := w.off[0], w.off[1]
		for j := 0; j < inner; j++ {
			out[o] = f(a[ia], b[ib])
			o++
			ia += sa
			ib += sb
		}
		if !w.next(2) {
			break
		}
	}
	return nil
}

// Ternary computes out[i] = f(a, b, c) with numpy broadcasting (Where, Clip).
func Ternary[A, B, C, O any](out []O, outShape []int, a []A, aShape []int, b []B, bShape []int, c []C, cShape []int, f func(A, B, C) O) error {
	if len(out) == 0 {
		return nil
	}
	var w walker
	if err := newWalker(&w, outShape, aShape, bShape, cShape); err != nil {
		return err
	}
	inner := w.shape[w.rank-1]
	sa, sb, sc := w.strides[0][w.rank-1], w.strides[1][w.rank-1], w.strides[2][w.rank-1]
	o := 0
	for {
		ia, ib, ic := w.off[0], w.off[1], w.off[2]
		for j := 0; j < inner; j++ {
			out[o] = f(a[ia], b[ib], c[ic])
			o++
			ia += sa
			ib += sb
			ic += sc
		}
		if !w.next(3) {
			break
		}
	}
	return nil
}

// BroadcastTo copies src (of shape srcShape) into dst of shape dstShape,
// repeating along broadcast dimensions (Expand).
func BroadcastTo[T any](dst []T, dstShape []int, src []T, srcShape []int) error {
	if len(dst) == 0 {
		return nil
	}
	var w walker
	if err := newWalker(&w, dstShape, srcShape); err != nil {
		return err
	}
	inner := w.shape[w.rank-1]
	s := w.strides[0][w.rank-1] // 1 (contiguous) or 0 (broadcast)
	o := 0
	for {
		i := w.off[0]
		if s == 1 {
			copy(dst[o:o+inner], src[i:i+inner])
		} else {
			v := src[i]
			for j := o; j < o+inner; j++ {
				dst[j] = v
			}
		}
		o += inner
		if !w.next(1) {
			break
		}
	}
	return nil
}
