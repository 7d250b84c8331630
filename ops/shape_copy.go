package ops

import (
	"fmt"
	"unsafe"
)

// This file holds the data-movement core shared by the shape, gather,
// scatter, indexing and construct families: a view of any backing slice as
// same-sized machine words (so one generic instantiation moves every element
// type of that size) and a strided N-D copy that Transpose, Slice, Concat,
// Split, Expand, Tile, Pad and the space/depth ops reduce to.

// shParallelMin is the element count above which data movement is split
// across the worker pool.
const shParallelMin = 1 << 15

// shWords reinterprets a backing slice as a slice of same-sized words:
// []uint8, []uint16, []uint32, []uint64, []complex64, []complex128 or
// []string. Element types of one size share a word type, which lets the
// movement kernels instantiate once per size rather than once per type.
func shWords(data any) any {
	switch d := data.(type) {
	case []uint8:
		return d
	case []int8:
		return shReinterpret[int8, uint8](d)
	case []bool:
		return shReinterpret[bool, uint8](d)
	case []uint16:
		return d
	case []int16:
		return shReinterpret[int16, uint16](d)
	case []F16:
		return shReinterpret[F16, uint16](d)
	case []BF16:
		return shReinterpret[BF16, uint16](d)
	case []uint32:
		return d
	case []int32:
		return shReinterpret[int32, uint32](d)
	case []float32:
		return shReinterpret[float32, uint32](d)
	case []uint64:
		return d
	case []int64:
		return shReinterpret[int64, uint64](d)
	case []float64:
		return shReinterpret[float64, uint64](d)
	case []complex64, []complex128, []string:
		return d
	}
	return nil
}

// shReinterpret views s as a slice of D, which must have the size and
// alignment of S.
func shReinterpret[S, D any](s []S) []D {
	var zs S
	var zd D
	if unsafe.Sizeof(zs) != unsafe.Sizeof(zd) {
		return nil
	}
	return unsafe.Slice((*D)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// Word kinds of backing slices, as shKindOf reports them.
const (
	shKindNone = iota
	shKind8
	shKind16
	shKind32
	shKind64
	shKindC64
	shKindC128
	shKindString
)

// shKindOf classifies a backing slice by its element size.
func shKindOf(data any) int {
	switch data.(type) {
	case []uint8, []int8, []bool:
		return shKind8
	case []uint16, []int16, []F16, []BF16:
		return shKind16
	case []uint32, []int32, []float32:
		return shKind32
	case []uint64, []int64, []float64:
		return shKind64
	case []complex64:
		return shKindC64
	case []complex128:
		return shKindC128
	case []string:
		return shKindString
	}
	return shKindNone
}

// shAs views a backing slice whose kind matches W (uint8, uint16, uint32 or
// uint64) as []W without boxing it again, so hot kernels do not allocate.
func shAs[W uint8 | uint16 | uint32 | uint64](data any) []W {
	switch d := data.(type) {
	case []uint8:
		return shReinterpret[uint8, W](d)
	case []int8:
		return shReinterpret[int8, W](d)
	case []bool:
		return shReinterpret[bool, W](d)
	case []uint16:
		return shReinterpret[uint16, W](d)
	case []int16:
		return shReinterpret[int16, W](d)
	case []F16:
		return shReinterpret[F16, W](d)
	case []BF16:
		return shReinterpret[BF16, W](d)
	case []uint32:
		return shReinterpret[uint32, W](d)
	case []int32:
		return shReinterpret[int32, W](d)
	case []float32:
		return shReinterpret[float32, W](d)
	case []uint64:
		return shReinterpret[uint64, W](d)
	case []int64:
		return shReinterpret[int64, W](d)
	case []float64:
		return shReinterpret[float64, W](d)
	}
	return nil
}

// shCopyPlan is a strided copy of an N-D block after dimensions of size one
// were dropped and contiguous neighbours merged.
type shCopyPlan struct {
	rank   int
	shape  [maxRank]int
	ds, ss [maxRank]int // destination and source strides
	n      int          // total elements
}

// shMakeCopyPlan coalesces a copy of a block of the given shape, read from
// the source with strides sst and written with strides dst.
func shMakeCopyPlan(p *shCopyPlan, shape, dst, sst []int) error {
	p.rank, p.n = 0, 1
	for _, d := range shape {
		p.n *= d
	}
	if p.n == 0 {
		return nil
	}
	r := 0
	for i, d := range shape {
		if d == 1 {
			continue
		}
		if r > 0 && p.ds[r-1] == dst[i]*d && p.ss[r-1] == sst[i]*d {
			p.shape[r-1] *= d
			p.ds[r-1], p.ss[r-1] = dst[i], sst[i]
			continue
		}
		if r == maxRank {
			return fmt.Errorf("copy of rank %d exceeds the supported %d", len(shape), maxRank)
		}
		p.shape[r], p.ds[r], p.ss[r] = d, dst[i], sst[i]
		r++
	}
	if r == 0 {
		p.shape[0], p.ds[0], p.ss[0] = 1, 1, 1
		r = 1
	}
	p.rank = r
	return nil
}

// shCopy copies a block of the given shape from src (starting at element
// sOff, strides sst) into dst (starting at dOff, strides dstr). dst and src
// are backing slices of one element type; strides may be zero (broadcast) or
// negative (reversal).
func shCopy(ec *Context, dst any, dOff int, dstr []int, src any, sOff int, sst []int, shape []int) error {
	var p shCopyPlan
	if err := shMakeCopyPlan(&p, shape, dstr, sst); err != nil {
		return err
	}
	if p.n == 0 {
		return nil
	}
	switch shKindOf(dst) {
	case shKind8:
		shCopyRun(ec, &p, shAs[uint8](dst), dOff, shAs[uint8](src), sOff)
	case shKind16:
		shCopyRun(ec, &p, shAs[uint16](dst), dOff, shAs[uint16](src), sOff)
	case shKind32:
		shCopyRun(ec, &p, shAs[uint32](dst), dOff, shAs[uint32](src), sOff)
	case shKind64:
		shCopyRun(ec, &p, shAs[uint64](dst), dOff, shAs[uint64](src), sOff)
	case shKindC64:
		shCopyRun(ec, &p, dst.([]complex64), dOff, src.([]complex64), sOff)
	case shKindC128:
		shCopyRun(ec, &p, dst.([]complex128), dOff, src.([]complex128), sOff)
	case shKindString:
		shCopyRun(ec, &p, dst.([]string), dOff, src.([]string), sOff)
	default:
		return fmt.Errorf("unsupported backing %T", dst)
	}
	return nil
}

// shCopyRun executes a plan, splitting the outer iterations across the pool
// when the copy is large.
func shCopyRun[T any](ec *Context, p *shCopyPlan, d []T, dOff int, s []T, sOff int) {
	r := p.rank
	// A transpose of the two innermost dimensions (the source is contiguous
	// along the next-to-last one) is done in cache-sized tiles.
	tiled := r >= 2 && p.ds[r-1] == 1 && p.ss[r-1] > 1 && p.ss[r-2] == 1 && p.ds[r-2] > 0 && p.shape[r-1] >= 8 && p.shape[r-2] >= 8
	outerRank := r - 1
	if tiled {
		outerRank = r - 2
	}
	outer := 1
	for k := 0; k < outerRank; k++ {
		outer *= p.shape[k]
	}
	if p.n >= shParallelMin && ec != nil && ec.Workers.Workers() > 1 {
		per := p.n / outer
		grain := max(1, shParallelMin/2/max(per, 1))
		if outer >= 2 {
			pc := *p // only this branch moves the plan to the heap
			ec.Parallel(outer, grain, func(lo, hi int) {
				shCopyRange(&pc, d, dOff, s, sOff, outerRank, tiled, lo, hi)
			})
			return
		}
		if tiled { // one large 2-D transpose: split its rows
			rows, cols, dRow, sCol := p.shape[r-2], p.shape[r-1], p.ds[r-2], p.ss[r-1]
			ec.Parallel(rows, max(32, shParallelMin/2/cols), func(lo, hi int) {
				shTranspose2D(d[dOff+lo*dRow:], dRow, s[sOff+lo:], sCol, hi-lo, cols)
			})
			return
		}
	}
	shCopyRange(p, d, dOff, s, sOff, outerRank, tiled, 0, outer)
}

// shCopyRange copies outer iterations [lo, hi) of a plan.
func shCopyRange[T any](p *shCopyPlan, d []T, dOff int, s []T, sOff int, outerRank int, tiled bool, lo, hi int) {
	var idx [maxRank]int
	do, so := dOff, sOff
	rem := lo
	for k := outerRank - 1; k >= 0; k-- {
		idx[k] = rem % p.shape[k]
		rem /= p.shape[k]
		do += idx[k] * p.ds[k]
		so += idx[k] * p.ss[k]
	}
	r := p.rank
	inner, di, si := p.shape[r-1], p.ds[r-1], p.ss[r-1]
	for o := lo; o < hi; o++ {
		switch {
		case tiled:
			shTranspose2D(d[do:], p.ds[r-2], s[so:], si, p.shape[r-2], inner)
		case di == 1 && si == 1:
			copy(d[do:do+inner], s[so:so+inner])
		case di == 1 && si == 0:
			v := s[so]
			dd := d[do : do+inner]
			for j := range dd {
				dd[j] = v
			}
		default:
			x, y := do, so
			for j := 0; j < inner; j++ {
				d[x] = s[y]
				x += di
				y += si
			}
		}
		for k := outerRank - 1; k >= 0; k-- {
			idx[k]++
			do += p.ds[k]
			so += p.ss[k]
			if idx[k] < p.shape[k] {
				break
			}
			do -= p.ds[k] * p.shape[k]
			so -= p.ss[k] * p.shape[k]
			idx[k] = 0
		}
	}
}

// shTranspose2D writes d[i*dRow+j] = s[i+j*sCol] for i < rows, j < cols, in
// square tiles so that both sides stay in cache.
func shTranspose2D[T any](d []T, dRow int, s []T, sCol int, rows, cols int) {
	const tile = 32
	for i0 := 0; i0 < rows; i0 += tile {
		i1 := min(i0+tile, rows)
		for j0 := 0; j0 < cols; j0 += tile {
			j1 := min(j0+tile, cols)
			for i := i0; i < i1; i++ {
				row := d[i*dRow:]
				y := i + j0*sCol
				for j := j0; j < j1; j++ {
					row[j] = s[y]
					y += sCol
				}
			}
		}
	}
}

// shFill sets every element of a backing slice to the first element of
// value, a backing slice of the same element type.
func shFill(dst, value any) {
	switch d := shWords(dst).(type) {
	case []uint8:
		shFillT(d, shWords(value).([]uint8)[0])
	case []uint16:
		shFillT(d, shWords(value).([]uint16)[0])
	case []uint32:
		shFillT(d, shWords(value).([]uint32)[0])
	case []uint64:
		shFillT(d, shWords(value).([]uint64)[0])
	case []complex64:
		shFillT(d, value.([]complex64)[0])
	case []complex128:
		shFillT(d, value.([]complex128)[0])
	case []string:
		shFillT(d, value.([]string)[0])
	}
}

func shFillT[T any](d []T, v T) {
	for i := range d {
		d[i] = v
	}
}

// shScalarOf returns a one-element backing slice of dt holding v converted
// to that type (attribute values such as Pad-2's value, EyeLike's one).
func shScalarOf(dt DType, v float64) (any, error) {
	if v == 0 && dt.Valid() {
		return MakeSlice(dt, 1), nil // zero bits are zero in every type
	}
	switch dt {
	case Float:
		return []float32{float32(v)}, nil
	case Double:
		return []float64{v}, nil
	case Float16:
		return []F16{F16From(float32(v))}, nil
	case BFloat16:
		return []BF16{BF16From(float32(v))}, nil
	case Int8:
		return []int8{int8(v)}, nil
	case Int16:
		return []int16{int16(v)}, nil
	case Int32:
		return []int32{int32(v)}, nil
	case Int64:
		return []int64{int64(v)}, nil
	case Uint8:
		return []uint8{uint8(v)}, nil
	case Uint16:
		return []uint16{uint16(v)}, nil
	case Uint32:
		return []uint32{uint32(v)}, nil
	case Uint64:
		return []uint64{uint64(v)}, nil
	case Bool:
		return []bool{v != 0}, nil
	case Complex64:
		return []complex64{complex(float32(v), 0)}, nil
	case Complex128:
		return []complex128{complex(v, 0)}, nil
	}
	return nil, fmt.Errorf("cannot make a %s value from %v", dt, v)
}

// shInts reads a shape-like integer tensor as int64s. The result may alias
// the tensor's data and must not be modified.
func shInts(t *Tensor, what string) ([]int64, error) {
	if t == nil {
		return nil, fmt.Errorf("missing %s input", what)
	}
	v, err := t.AsInt64s()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

// shScalarInt reads a one-element integer tensor.
func shScalarInt(t *Tensor, what string) (int64, error) {
	v, err := shInts(t, what)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("%s must hold one value, got shape %s", what, ShapeString(t.Shape))
	}
	return v[0], nil
}

// shInput returns in[i] or an error naming the missing input.
func shInput(in []*Tensor, i int, what string) (*Tensor, error) {
	if i >= len(in) || in[i] == nil {
		return nil, fmt.Errorf("missing %s input", what)
	}
	return in[i], nil
}

// shOptional returns in[i], or nil when it is absent.
func shOptional(in []*Tensor, i int) *Tensor {
	if i >= len(in) {
		return nil
	}
	return in[i]
}

// shNormAxes normalizes a list of axes for rank, rejecting duplicates.
func shNormAxes(axes []int64, rank int) ([]int, error) {
	out := make([]int, len(axes))
	for i, a := range axes {
		ax, err := NormalizeAxis(int(a), rank)
		if err != nil {
			return nil, err
		}
		for _, b := range out[:i] {
			if b == ax {
				return nil, fmt.Errorf("axis %d repeated", a)
			}
		}
		out[i] = ax
	}
	return out, nil
}

// shCopyTensor copies src's elements into dst (same type and size).
func shCopyTensor(ec *Context, dst, src *Tensor) {
	n := src.Len()
	if n >= 4*shParallelMin && ec.Workers.Workers() > 1 {
		ec.Parallel(n, shParallelMin, func(lo, hi int) {
			CopySlice(Subslice(dst.Data, lo, hi), Subslice(src.Data, lo, hi))
		})
		return
	}
	CopySlice(dst.Data, src.Data)
}
