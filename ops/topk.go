package ops

import (
	"fmt"
	"slices"
)

// registerTopK registers TopK; the factory reads the opset version (k is an
// attribute before 10, largest and sorted exist from 11).
func registerTopK(r *Registry) {
	r.Add("", "TopK", 1, newTopKKernel)
}

// topkKernel implements TopK: the k largest (or smallest) elements along
// axis with their int64 indices. Equal values keep index order (the smaller
// index first), and NaN ranks above every number. The output is always
// sorted, which also satisfies sorted=0.
type topkKernel struct {
	k       int64 // opset 1 attribute; -1 when K is an input
	axis    int
	largest bool
}

func newTopKKernel(n *Node) (any, error) {
	k := &topkKernel{k: -1, axis: int(n.Attrs.Int("axis", -1)), largest: true}
	if n.Version < 10 {
		at := n.Attrs.Get("k")
		if at == nil {
			return nil, fmt.Errorf("missing required attribute k")
		}
		k.k = n.Attrs.Int("k", 0)
		if k.k < 0 {
			return nil, fmt.Errorf("attribute k must be non-negative, got %d", k.k)
		}
	}
	if n.Version >= 11 {
		k.largest = n.Attrs.Int("largest", 1) != 0
	}
	return k, nil
}

func (k *topkKernel) Run(ec *Context, in, out []*Tensor) error {
	x, err := rnInput(in, 0, "X")
	if err != nil {
		return err
	}
	kk := k.k
	if kk < 0 {
		kt, err := rnInput(in, 1, "K")
		if err != nil {
			return err
		}
		ks, err := kt.AsInt64s()
		if err != nil {
			return fmt.Errorf("K: %w", err)
		}
		if len(ks) != 1 {
			return fmt.Errorf("K must hold exactly one value, got shape %s", ShapeString(kt.Shape))
		}
		kk = ks[0]
	}
	if x.Rank() == 0 {
		return fmt.Errorf("input must have rank >= 1")
	}
	axis, err := NormalizeAxis(k.axis, x.Rank())
	if err != nil {
		return err
	}
	outer, n, inner := rnSplit3(x.Shape, axis)
	if kk < 0 || kk > int64(n) {
		return fmt.Errorf("K = %d is out of range for axis %d of size %d", kk, axis, n)
	}
	K := int(kk)
	shape := append([]int(nil), x.Shape...)
	shape[axis] = K
	vals := ec.Empty(x.DType, shape...)
	idx := ec.Empty(Int64, shape...)
	is := idx.Int64s()
	switch xs := x.Data.(type) {
	case []float32:
		topkRun(ec, xs, vals.Float32s(), is, outer, n, inner, K, k.largest)
	case []float64:
		topkRun(ec, xs, vals.Float64s(), is, outer, n, inner, K, k.largest)
	case []F16, []BF16:
		xw, xtmp, err := float32Data(ec, x)
		if err != nil {
			ec.Release(vals)
			ec.Release(idx)
			return err
		}
		vw := ec.Empty(Float, shape...)
		topkRun(ec, xw, vw.Float32s(), is, outer, n, inner, K, k.largest)
		narrowFloat32s(vals.Data, vw.Float32s())
		ec.Release(vw)
		ec.Release(xtmp)
	case []int8:
		topkRun(ec, xs, vals.Data.([]int8), is, outer, n, inner, K, k.largest)
	case []int16:
		topkRun(ec, xs, vals.Data.([]int16), is, outer, n, inner, K, k.largest)
	case []int32:
		topkRun(ec, xs, vals.Int32s(), is, outer, n, inner, K, k.largest)
	case []int64:
		topkRun(ec, xs, vals.Int64s(), is, outer, n, inner, K, k.largest)
	case []uint8:
		topkRun(ec, xs, vals.Data.([]uint8), is, outer, n, inner, K, k.largest)
	case []uint16:
		topkRun(ec, xs, vals.Data.([]uint16), is, outer, n, inner, K, k.largest)
	case []uint32:
		topkRun(ec, xs, vals.Data.([]uint32), is, outer, n, inner, K, k.largest)
	case []uint64:
		topkRun(ec, xs, vals.Data.([]uint64), is, outer, n, inner, K, k.largest)
	default:
		ec.Release(vals)
		ec.Release(idx)
		return fmt.Errorf("unsupported element type %s", x.DType)
	}
	out[0] = vals
	if len(out) > 1 {
		out[1] = idx
	} else {
		ec.Release(idx)
	}
	return nil
}

// topkItem is a candidate element: its value and index along the axis.
type topkItem[T Number] struct {
	v T
	i int
}

// topkBefore reports whether a ranks before b: by value (NaN counting as
// the largest), then by smaller index.
func topkBefore[T Number](a, b topkItem[T], largest bool) bool {
	if a.v != b.v {
		an, bn := a.v != a.v, b.v != b.v
		switch {
		case an && bn:
		case an || bn:
			return an == largest
		default:
			return (a.v > b.v) == largest
		}
	}
	return a.i < b.i
}

// topkRun selects the K best elements of every lane. Lanes with K much
// smaller than n use a bounded heap, others a full sort.
func topkRun[T Number](ec *Context, x, vals []T, idx []int64, outer, n, inner, K int, largest bool) {
	if K == 0 {
		return
	}
	useHeap := K*8 <= n
	cmp := func(a, b topkItem[T]) int {
		if topkBefore(a, b, largest) {
			return -1
		}
		return 1
	}
	rnRows(ec, outer, n*inner, func(lo, hi int) {
		var items []topkItem[T]
		if useHeap {
			items = make([]topkItem[T], 0, K)
		} else {
			items = make([]topkItem[T], n)
		}
		for o := lo; o < hi; o++ {
			for i := 0; i < inner; i++ {
				base := o*n*inner + i
				if useHeap {
					items = topkHeapSelect(items[:0], x, base, n, inner, K, largest)
				} else {
					for j := range items {
						items[j] = topkItem[T]{x[base+j*inner], j}
					}
				}
				slices.SortFunc(items, cmp)
				ob := o*K*inner + i
				for j := 0; j < K; j++ {
					vals[ob+j*inner] = items[j].v
					idx[ob+j*inner] = int64(items[j].i)
				}
			}
		}
	})
}

// topkHeapSelect returns the K best elements of one lane in heap order. The
// heap's root is the worst element kept, so a new element enters only when
// it ranks before the root.
func topkHeapSelect[T Number](h []topkItem[T], x []T, off, n, stride, K int, largest bool) []topkItem[T] {
	// after reports whether heap entry a should sit above b (a is worse).
	after := func(a, b topkItem[T]) bool { return topkBefore(b, a, largest) }
	for j := 0; j < n; j++ {
		c := topkItem[T]{x[off+j*stride], j}
		if len(h) < K {
			h = append(h, c)
			for p := len(h) - 1; p > 0; {
				q := (p - 1) / 2
				if !after(h[p], h[q]) {
					break
				}
				h[p], h[q] = h[q], h[p]
				p = q
			}
			continue
		}
		if !topkBefore(c, h[0], largest) {
			continue
		}
		h[0] = c
		for p := 0; ; {
			l := 2*p + 1
			if l >= K {
				break
			}
			w := l
			if r := l + 1; r < K && after(h[r], h[l]) {
				w = r
			}
			if !after(h[w], h[p]) {
				break
			}
			h[p], h[w] = h[w], h[p]
			p = w
		}
	}
	return h
}
