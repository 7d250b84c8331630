package ops

import (
	"fmt"
	"math"
)

// registerReduce registers the Reduce* operators and ArgMax/ArgMin. Their
// factories read the opset version where the semantics changed (axes as an
// input from ReduceSum-13 and the other reductions' version 18).
func registerReduce(r *Registry) {
	for name := range reduceOps {
		r.Add("", name, 1, newReduceKernel)
	}
	r.Add("", "ArgMax", 1, newArgKernel)
	r.Add("", "ArgMin", 1, newArgKernel)
}

// reduceOp identifies a reduction.
type reduceOp int

const (
	reduceSum reduceOp = iota
	reduceMean
	reduceMax
	reduceMin
	reduceProd
	reduceL1
	reduceL2
	reduceLogSum
	reduceLogSumExp
	reduceSumSquare
)

var reduceOps = map[string]reduceOp{
	"ReduceSum": reduceSum, "ReduceMean": reduceMean, "ReduceMax": reduceMax,
	"ReduceMin": reduceMin, "ReduceProd": reduceProd, "ReduceL1": reduceL1,
	"ReduceL2": reduceL2, "ReduceLogSum": reduceLogSum,
	"ReduceLogSumExp": reduceLogSumExp, "ReduceSumSquare": reduceSumSquare,
}

// reduceKernel implements the Reduce* family. Axes come from the axes
// attribute (ReduceSum before opset 13, the others before 18) or from the
// optional second input.
type reduceKernel struct {
	op        reduceOp
	axes      []int64 // attribute axes; nil when absent
	axesInput bool
	keepdims  bool
	noop      bool // noop_with_empty_axes
}

func newReduceKernel(n *Node) (any, error) {
	op, ok := reduceOps[n.OpType]
	if !ok {
		return nil, fmt.Errorf("unknown reduction %q", n.OpType)
	}
	k := &reduceKernel{op: op, keepdims: n.Attrs.Int("keepdims", 1) != 0}
	inputSince := 18
	if op == reduceSum {
		inputSince = 13
	}
	if n.Version >= inputSince {
		k.axesInput = true
		k.noop = n.Attrs.Int("noop_with_empty_axes", 0) != 0
	}
	// The axes attribute belongs to the older opsets; it is accepted later
	// too (as a fallback when the axes input is absent).
	if axes, ok := n.Attrs.Ints("axes"); ok {
		if err := rnCheckUnique(axes); err != nil {
			return nil, err
		}
		k.axes = axes
	}
	return k, nil
}

// rnCheckUnique reports an error when axes holds a duplicate.
func rnCheckUnique(axes []int64) error {
	for i := range axes {
		for j := i + 1; j < len(axes); j++ {
			if axes[i] == axes[j] {
				return fmt.Errorf("axis %d is repeated in axes", axes[i])
			}
		}
	}
	return nil
}

// reducePlan describes a reduction as two sets of coalesced dimensions of
// the input: the kept ones (one output element per index) and the reduced
// ones (walked for each output element).
type reducePlan struct {
	nk, nr         int
	kSize, kStride [maxRank]int
	rSize, rStride [maxRank]int
	nOut, nRed     int
}

// newReducePlan builds the plan for reducing shape over the dimensions
// marked in mask.
func newReducePlan(p *reducePlan, shape []int, mask []bool) error {
	if len(shape) > maxRank {
		return fmt.Errorf("rank %d exceeds the supported %d", len(shape), maxRank)
	}
	*p = reducePlan{nOut: 1, nRed: 1}
	stride := 1
	// Walk from the innermost dimension outwards, merging a dimension into
	// the previous one of its group when they are contiguous.
	var ks, kst, rs, rst [maxRank]int
	nk, nr := 0, 0
	for i := len(shape) - 1; i >= 0; i-- {
		d := shape[i]
		if mask[i] {
			p.nRed *= d
		} else {
			p.nOut *= d
		}
		if d == 1 {
			stride *= d
			continue
		}
		if mask[i] {
			if nr > 0 && rst[nr-1]*rs[nr-1] == stride {
				rs[nr-1] *= d
			} else {
				rs[nr], rst[nr] = d, stride
				nr++
			}
		} else {
			if nk > 0 && kst[nk-1]*ks[nk-1] == stride {
				ks[nk-1] *= d
			} else {
				ks[nk], kst[nk] = d, stride
				nk++
			}
		}
		stride *= d
	}
	// Reverse into outermost-first order.
	for i := 0; i < nk; i++ {
		p.kSize[i], p.kStride[i] = ks[nk-1-i], kst[nk-1-i]
	}
	for i := 0; i < nr; i++ {
		p.rSize[i], p.rStride[i] = rs[nr-1-i], rst[nr-1-i]
	}
	p.nk, p.nr = nk, nr
	return nil
}

// reduceDrive computes y[o] = fin(fold of run over the reduced elements of
// output o, count) for every output element. run folds a strided run of n
// elements starting at off into the accumulator.
func reduceDrive[T, A any](ec *Context, p *reducePlan, x, y []T, init A,
	run func(acc A, x []T, off, n, stride int) A, fin func(acc A, n int) T) {
	body := func(lo, hi int) {
		var idx [maxRank]int
		base, rem := 0, lo
		for d := p.nk - 1; d >= 0; d-- {
			idx[d] = rem % p.kSize[d]
			rem /= p.kSize[d]
			base += idx[d] * p.kStride[d]
		}
		for o := lo; o < hi; o++ {
			acc := init
			switch {
			case p.nRed == 0:
			case p.nr == 0:
				acc = run(acc, x, base, 1, 1)
			case p.nr == 1:
				acc = run(acc, x, base, p.rSize[0], p.rStride[0])
			default:
				acc = reduceWalk(p, x, base, acc, run)
			}
			y[o] = fin(acc, p.nRed)
			for d := p.nk - 1; d >= 0; d-- {
				idx[d]++
				base += p.kStride[d]
				if idx[d] < p.kSize[d] {
					break
				}
				base -= p.kStride[d] * p.kSize[d]
				idx[d] = 0
			}
		}
	}
	rnRows(ec, p.nOut, p.nRed, body)
}

// reduceWalk folds all reduced elements of the output element at base when
// there are two or more reduced dimension groups.
func reduceWalk[T, A any](p *reducePlan, x []T, base int, acc A,
	run func(acc A, x []T, off, n, stride int) A) A {
	var idx [maxRank]int
	last := p.nr - 1
	off := base
	for {
		acc = run(acc, x, off, p.rSize[last], p.rStride[last])
		d := last - 1
		for ; d >= 0; d-- {
			idx[d]++
			off += p.rStride[d]
			if idx[d] < p.rSize[d] {
				break
			}
			off -= p.rStride[d] * p.rSize[d]
			idx[d] = 0
		}
		if d < 0 {
			return acc
		}
	}
}

func (k *reduceKernel) Run(ec *Context, in, out []*Tensor) error {
	x, err := rnInput(in, 0, "data")
	if err != nil {
		return err
	}
	axes := k.axes
	if k.axesInput && len(in) > 1 && in[1] != nil {
		if in[1].Rank() > 1 {
			return fmt.Errorf("axes must be a 1-D tensor, got shape %s", ShapeString(in[1].Shape))
		}
		if axes, err = in[1].AsInt64s(); err != nil {
			return fmt.Errorf("axes: %w", err)
		}
		if err := rnCheckUnique(axes); err != nil {
			return err
		}
	}
	rank := x.Rank()
	if len(axes) == 0 && k.noop {
		out[0] = ec.View(x, x.Shape...)
		return nil
	}
	var mask [maxRank]bool
	if rank > maxRank {
		return fmt.Errorf("rank %d exceeds the supported %d", rank, maxRank)
	}
	if len(axes) == 0 {
		for i := 0; i < rank; i++ {
			mask[i] = true
		}
	}
	for _, a := range axes {
		if a < -int64(rank) || a >= int64(rank) {
			return fmt.Errorf("axis %d out of range for rank %d", a, rank)
		}
		if a < 0 {
			a += int64(rank)
		}
		if mask[a] {
			return fmt.Errorf("axis %d is repeated in axes", a)
		}
		mask[a] = true
	}
	outShape := make([]int, 0, rank)
	for i, d := range x.Shape {
		switch {
		case !mask[i]:
			outShape = append(outShape, d)
		case k.keepdims:
			outShape = append(outShape, 1)
		}
	}
	var p reducePlan
	if err := newReducePlan(&p, x.Shape, mask[:rank]); err != nil {
		return err
	}
	y := ec.Empty(x.DType, outShape...)
	if err := k.dispatch(ec, &p, x, y); err != nil {
		ec.Release(y)
		return err
	}
	out[0] = y
	return nil
}

func (k *reduceKernel) dispatch(ec *Context, p *reducePlan, x, y *Tensor) error {
	op := k.op
	switch xs := x.Data.(type) {
	case []float32:
		reduceFloat(ec, p, op, xs, y.Data.([]float32))
	case []float64:
		reduceFloat(ec, p, op, xs, y.Data.([]float64))
	case []F16, []BF16:
		xw, xtmp, err := float32Data(ec, x)
		if err != nil {
			return err
		}
		yw := ec.Empty(Float, y.Shape...)
		reduceFloat(ec, p, op, xw, yw.Float32s())
		narrowFloat32s(y.Data, yw.Float32s())
		ec.Release(yw)
		ec.Release(xtmp)
	case []int8:
		if x.DType != Int8 {
			return fmt.Errorf("unsupported element type %s", x.DType)
		}
		reduceSigned(ec, p, op, xs, y.Data.([]int8))
	case []int16:
		reduceSigned(ec, p, op, xs, y.Data.([]int16))
	case []int32:
		reduceSigned(ec, p, op, xs, y.Data.([]int32))
	case []int64:
		reduceSigned(ec, p, op, xs, y.Data.([]int64))
	case []uint8:
		if x.DType != Uint8 {
			return fmt.Errorf("unsupported element type %s", x.DType)
		}
		reduceUnsigned(ec, p, op, xs, y.Data.([]uint8))
	case []uint16:
		reduceUnsigned(ec, p, op, xs, y.Data.([]uint16))
	case []uint32:
		reduceUnsigned(ec, p, op, xs, y.Data.([]uint32))
	case []uint64:
		reduceUnsigned(ec, p, op, xs, y.Data.([]uint64))
	case []bool:
		ys := y.Data.([]bool)
		switch op {
		case reduceMax:
			reduceDrive(ec, p, xs, ys, false, rdRunAny, rdFinBool)
		case reduceMin:
			reduceDrive(ec, p, xs, ys, true, rdRunAll, rdFinBool)
		default:
			return fmt.Errorf("unsupported element type %s", x.DType)
		}
	default:
		return fmt.Errorf("unsupported element type %s", x.DType)
	}
	return nil
}

// reduceFloat reduces float32 or float64 data, accumulating in float64.
func reduceFloat[T float32 | float64](ec *Context, p *reducePlan, op reduceOp, x, y []T) {
	switch op {
	case reduceMax:
		reduceDrive(ec, p, x, y, T(math.Inf(-1)), rdRunMaxF[T], rdFinSame[T])
	case reduceMin:
		reduceDrive(ec, p, x, y, T(math.Inf(1)), rdRunMinF[T], rdFinSame[T])
	case reduceLogSumExp:
		reduceDrive(ec, p, x, y, rdLSE{m: math.Inf(-1)}, rdRunLSE[T], rdFinLSE[T])
	default:
		reduceAccum[T, float64](ec, p, op, x, y, true)
	}
}

// reduceSigned reduces signed integer data, accumulating in int64.
func reduceSigned[T int8 | int16 | int32 | int64](ec *Context, p *reducePlan, op reduceOp, x, y []T) {
	switch op {
	case reduceMax:
		reduceDrive(ec, p, x, y, rdLowest[T](), rdRunMaxI[T], rdFinSame[T])
	case reduceMin:
		reduceDrive(ec, p, x, y, rdHighest[T](), rdRunMinI[T], rdFinSame[T])
	case reduceLogSumExp:
		reduceDrive(ec, p, x, y, rdLSE{m: math.Inf(-1)}, rdRunLSE[T], rdFinLSE[T])
	case reduceL2, reduceLogSum:
		reduceAccum[T, float64](ec, p, op, x, y, false)
	default:
		reduceAccum[T, int64](ec, p, op, x, y, false)
	}
}

// reduceUnsigned reduces unsigned integer data, accumulating in uint64.
func reduceUnsigned[T uint8 | uint16 | uint32 | uint64](ec *Context, p *reducePlan, op reduceOp, x, y []T) {
	switch op {
	case reduceMax:
		reduceDrive(ec, p, x, y, 0, rdRunMaxI[T], rdFinSame[T])
	case reduceMin:
		reduceDrive(ec, p, x, y, ^T(0), rdRunMinI[T], rdFinSame[T])
	case reduceLogSumExp:
		reduceDrive(ec, p, x, y, rdLSE{m: math.Inf(-1)}, rdRunLSE[T], rdFinLSE[T])
	case reduceL2, reduceLogSum:
		reduceAccum[T, float64](ec, p, op, x, y, false)
	default:
		reduceAccum[T, uint64](ec, p, op, x, y, false)
	}
}

// reduceAccum runs the additive and multiplicative reductions with
// accumulator type A.
func reduceAccum[T, A Number](ec *Context, p *reducePlan, op reduceOp, x, y []T, float bool) {
	switch op {
	case reduceSum:
		reduceDrive(ec, p, x, y, 0, rdRunSum[T, A], rdFinConv[A, T])
	case reduceMean:
		fin := func(a A, n int) T {
			if n == 0 {
				if float {
					return T(math.NaN())
				}
				return 0
			}
			return T(a / A(n))
		}
		reduceDrive(ec, p, x, y, 0, rdRunSum[T, A], fin)
	case reduceProd:
		reduceDrive(ec, p, x, y, 1, rdRunProd[T, A], rdFinConv[A, T])
	case reduceL1:
		reduceDrive(ec, p, x, y, 0, rdRunAbs[T, A], rdFinConv[A, T])
	case reduceSumSquare:
		reduceDrive(ec, p, x, y, 0, rdRunSq[T, A], rdFinConv[A, T])
	case reduceL2:
		fin := func(a A, _ int) T { return T(math.Sqrt(float64(a))) }
		reduceDrive(ec, p, x, y, 0, rdRunSq[T, A], fin)
	case reduceLogSum:
		fin := func(a A, _ int) T { return T(math.Log(float64(a))) }
		reduceDrive(ec, p, x, y, 0, rdRunSum[T, A], fin)
	}
}

func rdRunSum[T, A Number](acc A, x []T, off, n, stride int) A {
	if stride == 1 {
		// Four independent partial sums hide the addition latency.
		s := x[off : off+n]
		var a1, a2, a3 A
		i := 0
		for ; i+4 <= len(s); i += 4 {
			acc += A(s[i])
			a1 += A(s[i+1])
			a2 += A(s[i+2])
			a3 += A(s[i+3])
		}
		for ; i < len(s); i++ {
			acc += A(s[i])
		}
		return acc + (a1 + a2 + a3)
	}
	for ; n > 0; n-- {
		acc += A(x[off])
		off += stride
	}
	return acc
}

func rdRunProd[T, A Number](acc A, x []T, off, n, stride int) A {
	for ; n > 0; n-- {
		acc *= A(x[off])
		off += stride
	}
	return acc
}

func rdRunAbs[T, A Number](acc A, x []T, off, n, stride int) A {
	for ; n > 0; n-- {
		v := A(x[off])
		if x[off] < 0 {
			v = -v
		}
		acc += v
		off += stride
	}
	return acc
}

func rdRunSq[T, A Number](acc A, x []T, off, n, stride int) A {
	if stride == 1 {
		s := x[off : off+n]
		var a1, a2, a3 A
		i := 0
		for ; i+4 <= len(s); i += 4 {
			v0, v1, v2, v3 := A(s[i]), A(s[i+1]), A(s[i+2]), A(s[i+3])
			acc += v0 * v0
			a1 += v1 * v1
			a2 += v2 * v2
			a3 += v3 * v3
		}
		for ; i < len(s); i++ {
			v := A(s[i])
			acc += v * v
		}
		return acc + (a1 + a2 + a3)
	}
	for ; n > 0; n-- {
		v := A(x[off])
		acc += v * v
		off += stride
	}
	return acc
}

// rdRunMaxF and rdRunMinF propagate NaN, as numpy's maximum does.
func rdRunMaxF[T float32 | float64](acc T, x []T, off, n, stride int) T {
	for ; n > 0; n-- {
		if v := x[off]; v > acc || v != v {
			acc = v
		}
		off += stride
	}
	return acc
}

func rdRunMinF[T float32 | float64](acc T, x []T, off, n, stride int) T {
	for ; n > 0; n-- {
		if v := x[off]; v < acc || v != v {
			acc = v
		}
		off += stride
	}
	return acc
}

func rdRunMaxI[T Number](acc T, x []T, off, n, stride int) T {
	for ; n > 0; n-- {
		if v := x[off]; v > acc {
			acc = v
		}
		off += stride
	}
	return acc
}

func rdRunMinI[T Number](acc T, x []T, off, n, stride int) T {
	for ; n > 0; n-- {
		if v := x[off]; v < acc {
			acc = v
		}
		off += stride
	}
	return acc
}

func rdRunAny(acc bool, x []bool, off, n, stride int) bool {
	for ; n > 0 && !acc; n-- {
		acc = x[off]
		off += stride
	}
	return acc
}

func rdRunAll(acc bool, x []bool, off, n, stride int) bool {
	for ; n > 0 && acc; n-- {
		acc = x[off]
		off += stride
	}
	return acc
}

func rdFinBool(acc bool, _ int) bool { return acc }

func rdFinSame[T any](acc T, _ int) T { return acc }

func rdFinConv[A, T Number](acc A, _ int) T { return T(acc) }

// rdLSE is the running state of a log-sum-exp: the largest value seen and
// the sum of exp(v - m) over the values.
type rdLSE struct{ m, s float64 }

func rdRunLSE[T Number](acc rdLSE, x []T, off, n, stride int) rdLSE {
	for ; n > 0; n-- {
		v := float64(x[off])
		switch {
		case v > acc.m:
			acc.s = acc.s*math.Exp(acc.m-v) + 1
			acc.m = v
		case v == acc.m:
			acc.s++
		default:
			acc.s += math.Exp(v - acc.m)
		}
		off += stride
	}
	return acc
}

func rdFinLSE[T Number](acc rdLSE, _ int) T {
	if acc.s == 0 {
		return T(math.Inf(-1))
	}
	return T(acc.m + math.Log(acc.s))
}

// rdLowest and rdHighest return the smallest and largest values of a signed
// integer type.
func rdLowest[T int8 | int16 | int32 | int64]() T {
	bits := 8 * rdSizeOf[T]()
	v := int64(-1) << (bits - 1)
	return T(v)
}

func rdHighest[T int8 | int16 | int32 | int64]() T {
	bits := 8 * rdSizeOf[T]()
	v := int64(uint64(1)<<(bits-1) - 1)
	return T(v)
}

func rdSizeOf[T int8 | int16 | int32 | int64]() int {
	var z T
	switch any(z).(type) {
	case int8:
		return 1
	case int16:
		return 2
	case int32:
		return 4
	}
	return 8
}
