package ops

import (
	"fmt"
)

// This file holds the broadcasting machinery of the elementwise binary and
// ternary kernels and the arithmetic operators (Add, Sub, Mul, Div) with
// their fast paths.

// registerBinary registers the broadcasting binary operators.
func registerBinary(r *Registry) {
	for _, op := range []struct {
		name string
		code ewBinOp
	}{{"Add", ewAdd}, {"Sub", ewSub}, {"Mul", ewMul}, {"Div", ewDiv}} {
		r.Add("", op.name, 1, ewBinaryFactory(op.code))
		r.Add("", op.name, 7, ewBinaryFactory(op.code))
	}
	for _, op := range []struct {
		name string
		code ewBinOp
	}{
		{"Equal", ewEqual}, {"Less", ewLess}, {"Greater", ewGreater},
		{"And", ewAnd}, {"Or", ewOr}, {"Xor", ewXor},
	} {
		r.Add("", op.name, 1, ewBinaryFactory(op.code))
		r.Add("", op.name, 7, ewBinaryFactory(op.code))
	}
	r.Add("", "LessOrEqual", 12, ewBinaryFactory(ewLessEq))
	r.Add("", "GreaterOrEqual", 12, ewBinaryFactory(ewGreaterEq))
	r.Add("", "BitwiseAnd", 18, ewBinaryFactory(ewBitAnd))
	r.Add("", "BitwiseOr", 18, ewBinaryFactory(ewBitOr))
	r.Add("", "BitwiseXor", 18, ewBinaryFactory(ewBitXor))
	r.Add("", "BitShift", 11, func(n *Node) (any, error) {
		switch d := n.Attrs.String("direction", ""); d {
		case "LEFT":
			return &ewBinaryKernel{op: ewShl}, nil
		case "RIGHT":
			return &ewBinaryKernel{op: ewShr}, nil
		default:
			return nil, fmt.Errorf("attribute \"direction\": expected LEFT or RIGHT, got %q", d)
		}
	})
	r.Add("", "Mod", 10, func(n *Node) (any, error) {
		fmod := n.Attrs.Int("fmod", 0)
		if fmod != 0 && fmod != 1 {
			return nil, fmt.Errorf("attribute \"fmod\": expected 0 or 1, got %d", fmod)
		}
		if fmod == 1 {
			return &ewBinaryKernel{op: ewFmod}, nil
		}
		return &ewBinaryKernel{op: ewMod}, nil
	})
	r.Add("", "PRelu", 1, ewBinaryFactory(ewPRelu))
	r.Add("", "Pow", 1, ewBinaryFactory(ewPow))
	r.Add("", "Pow", 7, ewBinaryFactory(ewPow))
	registerBinaryMore(r)
}

// ewBinOp names a binary elementwise operator.
type ewBinOp int

const (
	ewAdd ewBinOp = iota
	ewSub
	ewMul
	ewDiv
	ewMax
	ewMin
	ewMod
	ewFmod
	ewPow
	ewPRelu
	ewEqual
	ewLess
	ewGreater
	ewLessEq
	ewGreaterEq
	ewAnd
	ewOr
	ewXor
	ewBitAnd
	ewBitOr
	ewBitXor
	ewShl
	ewShr
)

var ewBinOpNames = [...]string{
	ewAdd: "Add", ewSub: "Sub", ewMul: "Mul", ewDiv: "Div", ewMax: "Max", ewMin: "Min",
	ewMod: "Mod", ewFmod: "Mod", ewPow: "Pow", ewPRelu: "PRelu", ewEqual: "Equal", ewLess: "Less",
	ewGreater: "Greater", ewLessEq: "LessOrEqual", ewGreaterEq: "GreaterOrEqual",
	ewAnd: "And", ewOr: "Or", ewXor: "Xor", ewBitAnd: "BitwiseAnd", ewBitOr: "BitwiseOr",
	ewBitXor: "BitwiseXor", ewShl: "BitShift", ewShr: "BitShift",
}

func (op ewBinOp) String() string { return ewBinOpNames[op] }

// ewBinaryKernel runs one binary operator with numpy broadcasting. For
// opset < 7 nodes, the legacy broadcast/axis attributes align b to a.
type ewBinaryKernel struct {
	op           ewBinOp
	legacy       bool
	legacyBcast  bool
	legacyAxis   int
	legacyAxisOK bool
}

func ewBinaryFactory(op ewBinOp) Factory {
	return func(n *Node) (any, error) {
		k := &ewBinaryKernel{op: op}
		if n.Version < 7 && op == ewPRelu {
			// PRelu-6 applies a 1-D slope along the channel axis.
			k.legacy, k.legacyBcast, k.legacyAxis, k.legacyAxisOK = true, true, 1, true
		}
		if n.Version < 7 && op != ewPRelu {
			k.legacy = true
			k.legacyBcast = n.Attrs.Int("broadcast", 0) != 0
			if n.Attrs.Has("axis") {
				k.legacyAxis = int(n.Attrs.Int("axis", 0))
				k.legacyAxisOK = true
			}
		}
		return k, nil
	}
}

// ewLegacyShape returns b's shape aligned for the opset < 7 broadcast rule:
// b's dimensions match a's starting at axis (default: the trailing ones).
func (k *ewBinaryKernel) ewLegacyShape(aShape, bShape []int) ([]int, error) {
	if !k.legacy || !k.legacyBcast || len(bShape) >= len(aShape) {
		return bShape, nil
	}
	axis := len(aShape) - len(bShape)
	if k.legacyAxisOK {
		axis = k.legacyAxis
		if axis < 0 {
			axis += len(aShape)
		}
	}
	if axis < 0 || axis+len(bShape) > len(aShape) {
		return nil, fmt.Errorf("broadcast axis %d out of range for shapes %s and %s", k.legacyAxis, ShapeString(aShape), ShapeString(bShape))
	}
	s := make([]int, len(aShape))
	for i := range s {
		s[i] = 1
	}
	copy(s[axis:], bShape)
	return s, nil
}

// ewShape2 broadcasts two shapes into buf without allocating.
func ewShape2(buf *[maxRank]int, a, b []int) ([]int, error) {
	rank := max(len(a), len(b))
	if rank > maxRank {
		return nil, fmt.Errorf("rank %d exceeds the supported %d", rank, maxRank)
	}
	out := buf[:rank]
	for i := range out {
		da, db := 1, 1
		if j := i - (rank - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (rank - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("shapes %s and %s cannot be broadcast together", ShapeString(a), ShapeString(b))
		}
	}
	return out, nil
}

// ewIsSuffix reports whether small, stripped of leading ones, is a suffix of
// big: then small repeats every NumElements(small) elements of big.
func ewIsSuffix(small, big []int) bool {
	for len(small) > 0 && small[0] == 1 {
		small = small[1:]
	}
	if len(small) > len(big) {
		return false
	}
	return EqualShapes(small, big[len(big)-len(small):])
}

// ewRun2 computes one contiguous run of outputs. a and b start at the
// run's first element; a stride of 0 means the value a[0] (or b[0]) is
// broadcast along the run, otherwise the stride is 1.
type ewRun2[A, B, O any] func(dst []O, a []A, sa int, b []B, sb int)

// ewBroadcast2 evaluates run over the broadcast of a and b into out, whose
// shape is outShape, in parallel for large outputs. Small outputs run
// inline without allocating.
func ewBroadcast2[A, B, O any](ec *Context, out []O, outShape []int, a []A, aShape []int, b []B, bShape []int, run ewRun2[A, B, O]) error {
	n := len(out)
	if n == 0 {
		return nil
	}
	par := n >= ewParMin
	switch {
	case len(a) == n && len(b) == n:
		if !par {
			run(out, a, 1, b, 1)
		} else {
			ec.Parallel(n, ewGrain, func(lo, hi int) { run(out[lo:hi], a[lo:hi], 1, b[lo:hi], 1) })
		}
		return nil
	case len(a) == n && len(b) == 1:
		if !par {
			run(out, a, 1, b, 0)
		} else {
			ec.Parallel(n, ewGrain, func(lo, hi int) { run(out[lo:hi], a[lo:hi], 1, b, 0) })
		}
		return nil
	case len(a) == 1 && len(b) == n:
		if !par {
			run(out, a, 0, b, 1)
		} else {
			ec.Parallel(n, ewGrain, func(lo, hi int) { run(out[lo:hi], a, 0, b[lo:hi], 1) })
		}
		return nil
	case len(a) == n && len(b) > 0 && ewIsSuffix(bShape, outShape):
		m := len(b)
		if !par {
			ewBiasRows(out, a, b, 0, n/m, run)
		} else {
			ewRows(ec, n/m, m, func(lo, hi int) { ewBiasRows(out, a, b, lo, hi, run) })
		}
		return nil
	case len(b) == n && len(a) > 0 && ewIsSuffix(aShape, outShape):
		m := len(a)
		run := func(dst []O, x []B, sx int, y []A, sy int) { run(dst, y, sy, x, sx) }
		if !par {
			ewBiasRows(out, b, a, 0, n/m, run)
		} else {
			ewRows(ec, n/m, m, func(lo, hi int) { ewBiasRows(out, b, a, lo, hi, run) })
		}
		return nil
	}
	var w walker
	if err := newWalker(&w, outShape, aShape, bShape); err != nil {
		return err
	}
	inner := w.shape[w.rank-1]
	rows := n / inner
	if !par || rows < 2 {
		ewWalk2(&w, out, a, b, 0, rows, run)
		return nil
	}
	w0 := w
	ewRows(ec, rows, inner, func(lo, hi int) {
		w := w0 // each chunk walks its own copy
		ewWalk2(&w, out, a, b, lo, hi, run)
	})
	return nil
}

// ewBiasRows computes rows [lo, hi) of a broadcast where the small operand
// s repeats along every row of the full operand f.
func ewBiasRows[F, S, O any](out []O, f []F, s []S, lo, hi int, run ewRun2[F, S, O]) {
	m := len(s)
	for r := lo; r < hi; r++ {
		run(out[r*m:(r+1)*m], f[r*m:(r+1)*m], 1, s, 1)
	}
}

// ewWalk2 computes output rows [lo, hi) (all dimensions but the innermost)
// of a general two-input broadcast.
func ewWalk2[A, B, O any](w *walker, out []O, a []A, b []B, lo, hi int, run ewRun2[A, B, O]) {
	inner := w.shape[w.rank-1]
	ewSeek(w, lo, 2)
	sa, sb := w.strides[0][w.rank-1], w.strides[1][w.rank-1]
	la, lb := inner, inner
	if sa == 0 {
		la = 1
	}
	if sb == 0 {
		lb = 1
	}
	for r := lo; r < hi; r++ {
		ia, ib := w.off[0], w.off[1]
		run(out[r*inner:(r+1)*inner], a[ia:ia+la], sa, b[ib:ib+lb], sb)
		w.next(2)
	}
}

// ewRun3 computes one contiguous run of a ternary operator (see ewRun2).
type ewRun3[A, B, C, O any] func(dst []O, a []A, sa int, b []B, sb int, c []C, sc int)

// ewBroadcast3 is ewBroadcast2 for three inputs (Where).
func ewBroadcast3[A, B, C, O any](ec *Context, out []O, outShape []int, a []A, aShape []int, b []B, bShape []int, c []C, cShape []int, run ewRun3[A, B, C, O]) error {
	n := len(out)
	if n == 0 {
		return nil
	}
	par := n >= ewParMin
	if len(a) == n && len(b) == n && len(c) == n {
		if !par {
			run(out, a, 1, b, 1, c, 1)
		} else {
			ec.Parallel(n, ewGrain, func(lo, hi int) { run(out[lo:hi], a[lo:hi], 1, b[lo:hi], 1, c[lo:hi], 1) })
		}
		return nil
	}
	var w walker
	if err := newWalker(&w, outShape, aShape, bShape, cShape); err != nil {
		return err
	}
	inner := w.shape[w.rank-1]
	rows := n / inner
	if !par || rows < 2 {
		ewWalk3(&w, out, a, b, c, 0, rows, run)
		return nil
	}
	w0 := w
	ewRows(ec, rows, inner, func(lo, hi int) {
		w := w0
		ewWalk3(&w, out, a, b, c, lo, hi, run)
	})
	return nil
}

func ewWalk3[A, B, C, O any](w *walker, out []O, a []A, b []B, c []C, lo, hi int, run ewRun3[A, B, C, O]) {
	inner := w.shape[w.rank-1]
	ewSeek(w, lo, 3)
	sa, sb, sc := w.strides[0][w.rank-1], w.strides[1][w.rank-1], w.strides[2][w.rank-1]
	la, lb, lc := inner, inner, inner
	if sa == 0 {
		la = 1
	}
	if sb == 0 {
		lb = 1
	}
	if sc == 0 {
		lc = 1
	}
	for r := lo; r < hi; r++ {
		ia, ib, ic := w.off[0], w.off[1], w.off[2]
		run(out[r*inner:(r+1)*inner], a[ia:ia+la], sa, b[ib:ib+lb], sb, c[ic:ic+lc], sc)
		w.next(3)
	}
}

// ewSeek positions a fresh walker at outer row (all but the innermost
// dimension) number row.
func ewSeek(w *walker, row, nin int) {
	for k := 0; k < nin; k++ {
		w.off[k] = 0
	}
	for d := w.rank - 2; d >= 0; d-- {
		i := row % w.shape[d]
		row /= w.shape[d]
		w.idx[d] = i
		for k := 0; k < nin; k++ {
			w.off[k] += i * w.strides[k][d]
		}
	}
}

// ewChunks runs fn over [0, n), split across workers when n is large.
func ewChunks(ec *Context, n int, fn func(lo, hi int)) {
	if n < ewParMin {
		fn(0, n)
		return
	}
	ec.Parallel(n, ewGrain, fn)
}

// ewRows runs fn over rows [0, rows) of rowLen elements each, split across
// workers when the total is large.
func ewRows(ec *Context, rows, rowLen int, fn func(lo, hi int)) {
	if rows*rowLen < ewParMin || rows < 2 {
		fn(0, rows)
		return
	}
	grain := (ewGrain + rowLen - 1) / rowLen
	ec.Parallel(rows, grain, fn)
}

// Arithmetic runs. Each handles the four stride combinations with plain
// loops so that the compiler can keep them tight.

func ewAddRun[T Number](dst, a []T, sa int, b []T, sb int) {
	switch {
	case sa == 1 && sb == 1:
		a, b = a[:len(dst)], b[:len(dst)]
		for i := range dst {
			dst[i] = a[i] + b[i]
		}
	case sa == 1:
		a, y := a[:len(dst)], b[0]
		for i := range dst {
			dst[i] = a[i] + y
		}
	case sb == 1:
		x, b := a[0], b[:len(dst)]
		for i := range dst {
			dst[i] = x + b[i]
		}
	default:
		ewFill(dst, a[0]+b[0])
	}
}

func ewSubRun[T Number](dst, a []T, sa int, b []T, sb int) {
	switch {
	case sa == 1 && sb == 1:
		a, b = a[:len(dst)], b[:len(dst)]
		for i := range dst {
			dst[i] = a[i] - b[i]
		}
	case sa == 1:
		a, y := a[:len(dst)], b[0]
		for i := range dst {
			dst[i] = a[i] - y
		}
	case sb == 1:
		x, b := a[0], b[:len(dst)]
		for i := range dst {
			dst[i] = x - b[i]
		}
	default:
		ewFill(dst, a[0]-b[0])
	}
}

func ewMulRun[T Number](dst, a []T, sa int, b []T, sb int) {
	switch {
	case sa == 1 && sb == 1:
		a, b = a[:len(dst)], b[:len(dst)]
		for i := range dst {
			dst[i] = a[i] * b[i]
		}
	case sa == 1:
		a, y := a[:len(dst)], b[0]
		for i := range dst {
			dst[i] = a[i] * y
		}
	case sb == 1:
		x, b := a[0], b[:len(dst)]
		for i := range dst {
			dst[i] = x * b[i]
		}
	default:
		ewFill(dst, a[0]*b[0])
	}
}

// ewDivRun divides; for integer types the caller has checked that b holds
// no zero (Go's integer division truncates toward zero, like C).
func ewDivRun[T Number](dst, a []T, sa int, b []T, sb int) {
	switch {
	case sa == 1 && sb == 1:
		a, b = a[:len(dst)], b[:len(dst)]
		for i := range dst {
			dst[i] = a[i] / b[i]
		}
	case sa == 1:
		a, y := a[:len(dst)], b[0]
		for i := range dst {
			dst[i] = a[i] / y
		}
	case sb == 1:
		x, b := a[0], b[:len(dst)]
		for i := range dst {
			dst[i] = x / b[i]
		}
	default:
		ewFill(dst, a[0]/b[0])
	}
}

// ewMaxRun and ewMinRun propagate NaN as numpy's maximum/minimum do.
func ewMaxRun[T Number](dst, a []T, sa int, b []T, sb int) {
	ia, ib := 0, 0
	for i := range dst {
		x, y := a[ia], b[ib]
		if y > x || y != y {
			x = y
		}
		dst[i] = x
		ia += sa
		ib += sb
	}
}

func ewMinRun[T Number](dst, a []T, sa int, b []T, sb int) {
	ia, ib := 0, 0
	for i := range dst {
		x, y := a[ia], b[ib]
		if y < x || y != y {
			x = y
		}
		dst[i] = x
		ia += sa
		ib += sb
	}
}

func ewFill[T any](dst []T, v T) {
	for i := range dst {
		dst[i] = v
	}
}

// ewApply returns a run that calls f per element (for the operators that
// are not on a hot path).
func ewApply[A, B, O any](f func(A, B) O) ewRun2[A, B, O] {
	return func(dst []O, a []A, sa int, b []B, sb int) {
		ia, ib := 0, 0
		for i := range dst {
			dst[i] = f(a[ia], b[ib])
			ia += sa
			ib += sb
		}
	}
}

func (k *ewBinaryKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return fmt.Errorf("%s expects 2 inputs", k.op)
	}
	a, b := in[0], in[1]
	bShape, err := k.ewLegacyShape(a.Shape, b.Shape)
	if err != nil {
		return err
	}
	if k.op == ewPow {
		return ewPowRun(ec, a, b, bShape, out)
	}
	if a.DType != b.DType {
		return fmt.Errorf("%s: input types differ (%s and %s)", k.op, a.DType, b.DType)
	}
	var buf [maxRank]int
	shape, err := ewShape2(&buf, a.Shape, bShape)
	if err != nil {
		return err
	}
	if k.op == ewPRelu && !EqualShapes(shape, a.Shape) {
		return fmt.Errorf("slope shape %s does not broadcast to input shape %s", ShapeString(b.Shape), ShapeString(a.Shape))
	}
	outType := a.DType
	switch k.op {
	case ewEqual, ewLess, ewGreater, ewLessEq, ewGreaterEq:
		outType = Bool
	}
	if ewSmallFloat(a.DType) {
		return ewViaF32(ec, a, b, bShape, shape, outType, out, func(y, a32, b32 *Tensor) error {
			return ewBinaryTyped(ec, k.op, y, shape, a32, b32, bShape)
		})
	}
	y := ec.Empty(outType, shape...)
	if err := ewBinaryTyped(ec, k.op, y, shape, a, b, bShape); err != nil {
		ec.Release(y)
		return err
	}
	out[0] = y
	return nil
}

// ewViaF32 runs f on float32 copies of the small-float inputs a and b and
// encodes the result (unless it is bool) to a's type.
func ewViaF32(ec *Context, a, b *Tensor, bShape, shape []int, outType DType, out []*Tensor, f func(y, a32, b32 *Tensor) error) error {
	a32, ta, err := ewToF32(ec, a)
	if err != nil {
		return err
	}
	if ta {
		defer ec.Release(a32)
	}
	b32, tb, err := ewToF32(ec, b)
	if err != nil {
		return err
	}
	if tb {
		defer ec.Release(b32)
	}
	b32 = &Tensor{DType: b32.DType, Shape: bShape, Data: b32.Data}
	if outType == Bool {
		y := ec.Empty(Bool, shape...)
		if err := f(y, a32, b32); err != nil {
			ec.Release(y)
			return err
		}
		out[0] = y
		return nil
	}
	t := ec.Empty(Float, shape...)
	defer ec.Release(t)
	if err := f(t, a32, b32); err != nil {
		return err
	}
	y := ec.Empty(outType, shape...)
	if err := ewEncodeF32(y.Data, outType, t.Float32s(), true, ewRoundUp); err != nil {
		ec.Release(y)
		return err
	}
	out[0] = y
	return nil
}

// ewBinaryTyped dispatches on the (native) element type of a and b.
func ewBinaryTyped(ec *Context, op ewBinOp, y *Tensor, shape []int, a, b *Tensor, bShape []int) error {
	switch op {
	case ewMod, ewFmod, ewBitAnd, ewBitOr, ewBitXor, ewShl, ewShr:
		return ewIntegerBinary(ec, op, y, shape, a, b, bShape)
	}
	switch av := a.Data.(type) {
	case []float32:
		return ewNumeric(ec, op, y, shape, av, a.Shape, b.Data.([]float32), bShape, ewRunsF32)
	case []float64:
		return ewNumeric(ec, op, y, shape, av, a.Shape, b.Data.([]float64), bShape, ewRunsF64)
	case []int8:
		return ewNumeric(ec, op, y, shape, av, a.Shape, b.Data.([]int8), bShape, ewRunsI8)
	case []int16:
		return ewNumeric(ec, op, y, shape, av, a.Shape, b.Data.([]int16), bShape, ewRunsI16)
	case []int32:
		return ewNumeric(ec, op, y, shape, av, a.Shape, b.Data.([]int32), bShape, ewRunsI32)
	case []int64:
		return ewNumeric(ec, op, y, shape, av, a.Shape, b.Data.([]int64), bShape, ewRunsI64)
	case []uint8:
		return ewNumeric(ec, op, y, shape, av, a.Shape, b.Data.([]uint8), bShape, ewRunsU8)
	case []uint16:
		return ewNumeric(ec, op, y, shape, av, a.Shape, b.Data.([]uint16), bShape, ewRunsU16)
	case []uint32:
		return ewNumeric(ec, op, y, shape, av, a.Shape, b.Data.([]uint32), bShape, ewRunsU32)
	case []uint64:
		return ewNumeric(ec, op, y, shape, av, a.Shape, b.Data.([]uint64), bShape, ewRunsU64)
	case []bool:
		return ewBoolBinary(ec, op, y, shape, av, a.Shape, b.Data.([]bool), bShape)
	case []string:
		if op != ewEqual {
			break
		}
		return ewBroadcast2(ec, y.Bools(), shape, av, a.Shape, b.Data.([]string), bShape,
			ewApply(func(x, y string) bool { return x == y }))
	}
	return fmt.Errorf("%s does not support %s inputs", op, a.DType)
}

func ewBoolBinary(ec *Context, op ewBinOp, y *Tensor, shape []int, a []bool, aShape []int, b []bool, bShape []int) error {
	var f func(x, y bool) bool
	switch op {
	case ewAnd:
		f = func(x, y bool) bool { return x && y }
	case ewOr:
		f = func(x, y bool) bool { return x || y }
	case ewXor:
		f = func(x, y bool) bool { return x != y }
	case ewGreater: // true > false
		f = func(x, y bool) bool { return x && !y }
	case ewEqual:
		f = func(x, y bool) bool { return x == y }
	case ewLess:
		f = func(x, y bool) bool { return !x && y }
	case ewLessEq:
		f = func(x, y bool) bool { return !x || y }
	case ewGreaterEq:
		f = func(x, y bool) bool { return x || !y }
	default:
		return fmt.Errorf("%s does not support bool inputs", op)
	}
	return ewBroadcast2(ec, y.Bools(), shape, a, aShape, b, bShape, ewApply(f))
}

// ewRuns holds the runs of the numeric operators for one element type,
// built once so that kernels pass them around without allocating.
type ewRuns[T Number] struct {
	isFloat                      bool
	add, sub, mul, div, max, min ewRun2[T, T, T]
	prelu                        ewRun2[T, T, T]
	eq, lt, gt, le, ge           ewRun2[T, T, bool]
}

func ewMakeRuns[T Number](isFloat bool) *ewRuns[T] {
	return &ewRuns[T]{
		isFloat: isFloat,
		add:     ewAddRun[T], sub: ewSubRun[T], mul: ewMulRun[T], div: ewDivRun[T],
		max: ewMaxRun[T], min: ewMinRun[T],
		prelu: ewApply(func(x, s T) T {
			if x < 0 {
				return x * s
			}
			return x
		}),
		eq: ewApply(func(x, y T) bool { return x == y }),
		lt: ewApply(func(x, y T) bool { return x < y }),
		gt: ewApply(func(x, y T) bool { return x > y }),
		le: ewApply(func(x, y T) bool { return x <= y }),
		ge: ewApply(func(x, y T) bool { return x >= y }),
	}
}

var (
	ewRunsF32 = ewMakeRuns[float32](true)
	ewRunsF64 = ewMakeRuns[float64](true)
	ewRunsI8  = ewMakeRuns[int8](false)
	ewRunsI16 = ewMakeRuns[int16](false)
	ewRunsI32 = ewMakeRuns[int32](false)
	ewRunsI64 = ewMakeRuns[int64](false)
	ewRunsU8  = ewMakeRuns[uint8](false)
	ewRunsU16 = ewMakeRuns[uint16](false)
	ewRunsU32 = ewMakeRuns[uint32](false)
	ewRunsU64 = ewMakeRuns[uint64](false)
)

// ewNumeric runs a numeric binary operator on native slices.
func ewNumeric[T Number](ec *Context, op ewBinOp, y *Tensor, shape []int, a []T, aShape []int, b []T, bShape []int, runs *ewRuns[T]) error {
	var run ewRun2[T, T, T]
	var cmp ewRun2[T, T, bool]
	switch op {
	case ewAdd:
		run = runs.add
	case ewSub:
		run = runs.sub
	case ewMul:
		run = runs.mul
	case ewDiv:
		if !runs.isFloat && ewHasZero(b) {
			return fmt.Errorf("integer division by zero")
		}
		run = runs.div
	case ewMax:
		run = runs.max
	case ewMin:
		run = runs.min
	case ewPRelu:
		run = runs.prelu
	case ewEqual:
		cmp = runs.eq
	case ewLess:
		cmp = runs.lt
	case ewGreater:
		cmp = runs.gt
	case ewLessEq:
		cmp = runs.le
	case ewGreaterEq:
		cmp = runs.ge
	default:
		return fmt.Errorf("%s does not support %s inputs", op, y.DType)
	}
	if cmp != nil {
		return ewBroadcast2(ec, y.Bools(), shape, a, aShape, b, bShape, cmp)
	}
	return ewBroadcast2(ec, y.Data.([]T), shape, a, aShape, b, bShape, run)
}

func ewHasZero[T Number](b []T) bool {
	for _, v := range b {
		if v == 0 {
			return true
		}
	}
	return false
}
