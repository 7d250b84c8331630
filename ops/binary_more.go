package ops

import (
	"fmt"
	"math"
)

// This file holds the integer and modulo operators, Pow, the variadic
// operators (Sum, Max, Min, Mean), Where and Clip.

func registerBinaryMore(r *Registry) {
	for _, op := range []struct {
		name string
		code ewBinOp
		mean bool
	}{{"Sum", ewAdd, false}, {"Mean", ewAdd, true}, {"Max", ewMax, false}, {"Min", ewMin, false}} {
		k := &ewVariadicKernel{op: op.code, mean: op.mean, name: op.name}
		r.AddKernel("", op.name, 1, k)
	}
	r.AddKernel("", "Where", 9, KernelFunc(ewWhere))
	r.Add("", "Clip", 1, func(n *Node) (any, error) {
		return &ewClipKernel{
			attrs: true,
			lo:    n.Attrs.Float("min", float32(math.Inf(-1))),
			hi:    n.Attrs.Float("max", float32(math.Inf(1))),
		}, nil
	})
	r.AddKernel("", "Clip", 11, &ewClipKernel{})
}

// ewIntegerBinary runs Mod and the bitwise operators.
func ewIntegerBinary(ec *Context, op ewBinOp, y *Tensor, shape []int, a, b *Tensor, bShape []int) error {
	switch av := a.Data.(type) {
	case []float32:
		if op == ewMod || op == ewFmod {
			return ewBroadcast2(ec, y.Float32s(), shape, av, a.Shape, b.Data.([]float32), bShape,
				ewApply(func(x, d float32) float32 { return float32(ewFloatMod(float64(x), float64(d), op == ewFmod)) }))
		}
	case []float64:
		if op == ewMod || op == ewFmod {
			return ewBroadcast2(ec, y.Float64s(), shape, av, a.Shape, b.Data.([]float64), bShape,
				ewApply(func(x, d float64) float64 { return ewFloatMod(x, d, op == ewFmod) }))
		}
	case []int8:
		return ewIntBinary(ec, op, y, shape, av, a.Shape, b.Data.([]int8), bShape)
	case []int16:
		return ewIntBinary(ec, op, y, shape, av, a.Shape, b.Data.([]int16), bShape)
	case []int32:
		return ewIntBinary(ec, op, y, shape, av, a.Shape, b.Data.([]int32), bShape)
	case []int64:
		return ewIntBinary(ec, op, y, shape, av, a.Shape, b.Data.([]int64), bShape)
	case []uint8:
		return ewIntBinary(ec, op, y, shape, av, a.Shape, b.Data.([]uint8), bShape)
	case []uint16:
		return ewIntBinary(ec, op, y, shape, av, a.Shape, b.Data.([]uint16), bShape)
	case []uint32:
		return ewIntBinary(ec, op, y, shape, av, a.Shape, b.Data.([]uint32), bShape)
	case []uint64:
		return ewIntBinary(ec, op, y, shape, av, a.Shape, b.Data.([]uint64), bShape)
	}
	return fmt.Errorf("%s does not support %s inputs", op, a.DType)
}

// ewFloatMod is C's fmod when fmod is set, and otherwise the remainder with
// the sign of the divisor (Python's %).
func ewFloatMod(x, d float64, fmod bool) float64 {
	r := math.Mod(x, d)
	if !fmod && r != 0 && (r < 0) != (d < 0) {
		r += d
	}
	return r
}

func ewIntBinary[T ewInteger](ec *Context, op ewBinOp, y *Tensor, shape []int, a []T, aShape []int, b []T, bShape []int) error {
	var f func(x, z T) T
	switch op {
	case ewMod, ewFmod:
		if ewHasZero(b) {
			return fmt.Errorf("integer modulo by zero")
		}
		if op == ewFmod {
			f = func(x, d T) T { return x % d }
		} else {
			f = func(x, d T) T {
				r := x % d
				if r != 0 && (r < 0) != (d < 0) {
					r += d
				}
				return r
			}
		}
	case ewBitAnd:
		f = func(x, z T) T { return x & z }
	case ewBitOr:
		f = func(x, z T) T { return x | z }
	case ewBitXor:
		f = func(x, z T) T { return x ^ z }
	case ewShl, ewShr:
		if y.DType.IsSigned() {
			return fmt.Errorf("BitShift expects unsigned integers, got %s", y.DType)
		}
		if op == ewShl {
			f = func(x, s T) T { return x << s }
		} else {
			f = func(x, s T) T { return x >> s }
		}
	default:
		return fmt.Errorf("%s does not support %s inputs", op, y.DType)
	}
	return ewBroadcast2(ec, y.Data.([]T), shape, a, aShape, b, bShape, ewApply(f))
}

// ewAs returns t converted to dt: t itself when it already has that type,
// otherwise a temporary the caller releases (tmp reports which).
func ewAs(ec *Context, t *Tensor, dt DType) (c *Tensor, tmp bool, err error) {
	if t.DType == dt {
		return t, false, nil
	}
	c = ec.Empty(dt, t.Shape...)
	if err := ewCast(ec, c, t, true, ewRoundUp); err != nil {
		ec.Release(c)
		return nil, false, err
	}
	return c, true, nil
}

// ewPowRun implements Pow, whose exponent may have another type than the
// base; the result has the base's type.
func ewPowRun(ec *Context, a, b *Tensor, bShape []int, out []*Tensor) error {
	var buf [maxRank]int
	shape, err := ewShape2(&buf, a.Shape, bShape)
	if err != nil {
		return err
	}
	if !(a.DType.IsFloat() || a.DType.IsInteger()) || !(b.DType.IsFloat() || b.DType.IsInteger()) {
		return fmt.Errorf("Pow does not support %s and %s inputs", a.DType, b.DType)
	}
	if a.DType == Float && b.DType == Float {
		y := ec.Empty(Float, shape...)
		ewPow32(ec, y.Float32s(), shape, a.Float32s(), a.Shape, b.Float32s(), bShape)
		out[0] = y
		return nil
	}
	compute := Double
	if a.DType.IsInteger() && b.DType.IsInteger() {
		compute = Int64
	}
	a2, ta, err := ewAs(ec, a, compute)
	if err != nil {
		return err
	}
	if ta {
		defer ec.Release(a2)
	}
	b2, tb, err := ewAs(ec, b, compute)
	if err != nil {
		return err
	}
	if tb {
		defer ec.Release(b2)
	}
	r := ec.Empty(compute, shape...)
	if compute == Int64 {
		err = ewBroadcast2(ec, r.Int64s(), shape, a2.Int64s(), a.Shape, b2.Int64s(), bShape, ewApply(ewIntPow))
	} else {
		err = ewBroadcast2(ec, r.Float64s(), shape, a2.Float64s(), a.Shape, b2.Float64s(), bShape, ewApply(math.Pow))
	}
	if err != nil {
		ec.Release(r)
		return err
	}
	if a.DType == compute {
		out[0] = r
		return nil
	}
	defer ec.Release(r)
	y := ec.Empty(a.DType, shape...)
	if err := ewCast(ec, y, r, true, ewRoundUp); err != nil {
		ec.Release(y)
		return err
	}
	out[0] = y
	return nil
}

// ewPow32 is Pow on float32, with plain loops for the common constant
// exponents.
func ewPow32(ec *Context, dst []float32, shape []int, a []float32, aShape []int, b []float32, bShape []int) {
	if len(b) == 1 && len(a) == len(dst) {
		e := b[0]
		switch e {
		case 1:
			copy(dst, a)
			return
		case 2:
			for i, v := range a {
				dst[i] = v * v
			}
			return
		case 3:
			for i, v := range a {
				dst[i] = v * v * v
			}
			return
		case 0.5:
			for i, v := range a {
				dst[i] = float32(math.Sqrt(float64(v)))
			}
			return
		}
	}
	_ = ewBroadcast2(ec, dst, shape, a, aShape, b, bShape, ewApply(func(x, e float32) float32 {
		return float32(math.Pow(float64(x), float64(e)))
	}))
}

// ewIntPow raises x to the integer power e with wrapping arithmetic; a
// negative power truncates 1/x^|e| toward zero.
func ewIntPow(x, e int64) int64 {
	if e < 0 {
		switch x {
		case 1:
			return 1
		case -1:
			if e&1 != 0 {
				return -1
			}
			return 1
		}
		return 0
	}
	r := int64(1)
	for e > 0 {
		if e&1 != 0 {
			r *= x
		}
		x *= x
		e >>= 1
	}
	return r
}

// ewVariadicKernel implements Sum, Mean, Max and Min over any number of
// broadcast inputs.
type ewVariadicKernel struct {
	op   ewBinOp
	mean bool
	name string
}

func (k *ewVariadicKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) == 0 {
		return fmt.Errorf("%s expects at least one input", k.name)
	}
	var buf, buf2 [maxRank]int
	shape := buf[:0]
	dt := Undefined
	for i, t := range in {
		if t == nil {
			return fmt.Errorf("%s: input %d is missing", k.name, i)
		}
		if i == 0 {
			dt = t.DType
			shape = append(shape, t.Shape...)
			if len(shape) > maxRank {
				return fmt.Errorf("rank %d exceeds the supported %d", len(shape), maxRank)
			}
			continue
		}
		if t.DType != dt {
			return fmt.Errorf("%s: input types differ (%s and %s)", k.name, dt, t.DType)
		}
		s, err := ewShape2(&buf2, shape, t.Shape)
		if err != nil {
			return err
		}
		shape = append(buf[:0], s...)
	}
	if !ewSmallFloat(dt) {
		y := ec.Empty(dt, shape...)
		if err := k.compute(ec, y, shape, in); err != nil {
			ec.Release(y)
			return err
		}
		out[0] = y
		return nil
	}
	var ins [8]*Tensor
	f32 := ins[:0]
	defer func() {
		for i, t := range f32 {
			if t != in[i] {
				ec.Release(t)
			}
		}
	}()
	for _, t := range in {
		c, _, err := ewToF32(ec, t)
		if err != nil {
			return err
		}
		f32 = append(f32, c)
	}
	t := ec.Empty(Float, shape...)
	defer ec.Release(t)
	if err := k.compute(ec, t, shape, f32); err != nil {
		return err
	}
	y := ec.Empty(dt, shape...)
	if err := ewEncodeF32(y.Data, dt, t.Float32s(), true, ewRoundUp); err != nil {
		ec.Release(y)
		return err
	}
	out[0] = y
	return nil
}

func (k *ewVariadicKernel) compute(ec *Context, y *Tensor, shape []int, in []*Tensor) error {
	switch d := y.Data.(type) {
	case []float32:
		return ewVariadic(ec, k, d, shape, in, ewRunsF32)
	case []float64:
		return ewVariadic(ec, k, d, shape, in, ewRunsF64)
	case []int8:
		return ewVariadic(ec, k, d, shape, in, ewRunsI8)
	case []int16:
		return ewVariadic(ec, k, d, shape, in, ewRunsI16)
	case []int32:
		return ewVariadic(ec, k, d, shape, in, ewRunsI32)
	case []int64:
		return ewVariadic(ec, k, d, shape, in, ewRunsI64)
	case []uint8:
		return ewVariadic(ec, k, d, shape, in, ewRunsU8)
	case []uint16:
		return ewVariadic(ec, k, d, shape, in, ewRunsU16)
	case []uint32:
		return ewVariadic(ec, k, d, shape, in, ewRunsU32)
	case []uint64:
		return ewVariadic(ec, k, d, shape, in, ewRunsU64)
	}
	return fmt.Errorf("%s does not support %s inputs", k.name, y.DType)
}

func ewVariadic[T Number](ec *Context, k *ewVariadicKernel, y []T, shape []int, in []*Tensor, runs *ewRuns[T]) error {
	run := runs.min
	switch k.op {
	case ewAdd:
		run = runs.add
	case ewMax:
		run = runs.max
	}
	if err := BroadcastTo(y, shape, in[0].Data.([]T), in[0].Shape); err != nil {
		return err
	}
	for _, t := range in[1:] {
		b, ok := t.Data.([]T)
		if !ok {
			return fmt.Errorf("%s: input types differ (%s and %s)", k.name, in[0].DType, t.DType)
		}
		if err := ewBroadcast2(ec, y, shape, y, shape, b, t.Shape, run); err != nil {
			return err
		}
	}
	if k.mean && len(in) > 1 {
		c := T(len(in))
		for i := range y {
			y[i] /= c
		}
	}
	return nil
}

// ewWhere implements Where(condition, X, Y).
func ewWhere(ec *Context, in, out []*Tensor) error {
	if len(in) != 3 || in[0] == nil || in[1] == nil || in[2] == nil {
		return fmt.Errorf("Where expects 3 inputs")
	}
	c, x, y := in[0], in[1], in[2]
	if c.DType != Bool {
		return fmt.Errorf("condition must be bool, got %s", c.DType)
	}
	if x.DType != y.DType {
		return fmt.Errorf("X and Y types differ (%s and %s)", x.DType, y.DType)
	}
	var buf, buf2 [maxRank]int
	s, err := ewShape2(&buf, c.Shape, x.Shape)
	if err != nil {
		return err
	}
	shape, err := ewShape2(&buf2, s, y.Shape)
	if err != nil {
		return err
	}
	o := ec.Empty(x.DType, shape...)
	cs := c.Bools()
	switch xv := x.Data.(type) {
	case []float32:
		err = ewBroadcast3(ec, o.Data.([]float32), shape, cs, c.Shape, xv, x.Shape, y.Data.([]float32), y.Shape, ewWhereRun[float32])
	case []float64:
		err = ewBroadcast3(ec, o.Data.([]float64), shape, cs, c.Shape, xv, x.Shape, y.Data.([]float64), y.Shape, ewWhereRun[float64])
	case []F16:
		err = ewBroadcast3(ec, o.Data.([]F16), shape, cs, c.Shape, xv, x.Shape, y.Data.([]F16), y.Shape, ewWhereRun[F16])
	case []BF16:
		err = ewBroadcast3(ec, o.Data.([]BF16), shape, cs, c.Shape, xv, x.Shape, y.Data.([]BF16), y.Shape, ewWhereRun[BF16])
	case []int8:
		err = ewBroadcast3(ec, o.Data.([]int8), shape, cs, c.Shape, xv, x.Shape, y.Data.([]int8), y.Shape, ewWhereRun[int8])
	case []int16:
		err = ewBroadcast3(ec, o.Data.([]int16), shape, cs, c.Shape, xv, x.Shape, y.Data.([]int16), y.Shape, ewWhereRun[int16])
	case []int32:
		err = ewBroadcast3(ec, o.Data.([]int32), shape, cs, c.Shape, xv, x.Shape, y.Data.([]int32), y.Shape, ewWhereRun[int32])
	case []int64:
		err = ewBroadcast3(ec, o.Data.([]int64), shape, cs, c.Shape, xv, x.Shape, y.Data.([]int64), y.Shape, ewWhereRun[int64])
	case []uint8:
		err = ewBroadcast3(ec, o.Data.([]uint8), shape, cs, c.Shape, xv, x.Shape, y.Data.([]uint8), y.Shape, ewWhereRun[uint8])
	case []uint16:
		err = ewBroadcast3(ec, o.Data.([]uint16), shape, cs, c.Shape, xv, x.Shape, y.Data.([]uint16), y.Shape, ewWhereRun[uint16])
	case []uint32:
		err = ewBroadcast3(ec, o.Data.([]uint32), shape, cs, c.Shape, xv, x.Shape, y.Data.([]uint32), y.Shape, ewWhereRun[uint32])
	case []uint64:
		err = ewBroadcast3(ec, o.Data.([]uint64), shape, cs, c.Shape, xv, x.Shape, y.Data.([]uint64), y.Shape, ewWhereRun[uint64])
	case []bool:
		err = ewBroadcast3(ec, o.Data.([]bool), shape, cs, c.Shape, xv, x.Shape, y.Data.([]bool), y.Shape, ewWhereRun[bool])
	case []string:
		err = ewBroadcast3(ec, o.Data.([]string), shape, cs, c.Shape, xv, x.Shape, y.Data.([]string), y.Shape, ewWhereRun[string])
	case []complex64:
		err = ewBroadcast3(ec, o.Data.([]complex64), shape, cs, c.Shape, xv, x.Shape, y.Data.([]complex64), y.Shape, ewWhereRun[complex64])
	case []complex128:
		err = ewBroadcast3(ec, o.Data.([]complex128), shape, cs, c.Shape, xv, x.Shape, y.Data.([]complex128), y.Shape, ewWhereRun[complex128])
	default:
		err = fmt.Errorf("Where does not support %s inputs", x.DType)
	}
	if err != nil {
		ec.Release(o)
		return err
	}
	out[0] = o
	return nil
}

func ewWhereRun[T any](dst []T, c []bool, sc int, x []T, sx int, y []T, sy int) {
	if sc == 1 && sx == 1 && sy == 1 {
		c, x, y = c[:len(dst)], x[:len(dst)], y[:len(dst)]
		for i := range dst {
			if c[i] {
				dst[i] = x[i]
			} else {
				dst[i] = y[i]
			}
		}
		return
	}
	ic, ix, iy := 0, 0, 0
	for i := range dst {
		if c[ic] {
			dst[i] = x[ix]
		} else {
			dst[i] = y[iy]
		}
		ic += sc
		ix += sx
		iy += sy
	}
}

// ewClipKernel implements Clip: bounds are attributes before opset 11 and
// optional scalar inputs from opset 11 on.
type ewClipKernel struct {
	attrs  bool
	lo, hi float32
}

func (k *ewClipKernel) Run(ec *Context, in, out []*Tensor) error {
	x := in[0]
	if x == nil {
		return fmt.Errorf("missing input")
	}
	var bounds [2]*Tensor
	if !k.attrs {
		for i := 1; i < 3 && i < len(in); i++ {
			if t := in[i]; t != nil {
				if t.DType != x.DType {
					return fmt.Errorf("bound type %s differs from input type %s", t.DType, x.DType)
				}
				if t.Len() != 1 {
					return fmt.Errorf("bound must be a scalar, got shape %s", ShapeString(t.Shape))
				}
				bounds[i-1] = t
			}
		}
	} else if !x.DType.IsFloat() {
		return fmt.Errorf("Clip does not support %s inputs", x.DType)
	}
	if !ewSmallFloat(x.DType) {
		y := ec.Empty(x.DType, x.Shape...)
		if err := k.clip(ec, y, x, bounds); err != nil {
			ec.Release(y)
			return err
		}
		out[0] = y
		return nil
	}
	var tmps [3]*Tensor
	defer func() {
		for _, t := range tmps {
			if t != nil {
				ec.Release(t)
			}
		}
	}()
	x32, _, err := ewToF32(ec, x)
	if err != nil {
		return err
	}
	tmps[0] = x32
	for i, b := range bounds {
		if b != nil {
			if bounds[i], _, err = ewToF32(ec, b); err != nil {
				return err
			}
			tmps[i+1] = bounds[i]
		}
	}
	t := ec.Empty(Float, x.Shape...)
	defer ec.Release(t)
	if err := k.clip(ec, t, x32, bounds); err != nil {
		return err
	}
	y := ec.Empty(x.DType, x.Shape...)
	if err := ewEncodeF32(y.Data, x.DType, t.Float32s(), true, ewRoundUp); err != nil {
		ec.Release(y)
		return err
	}
	out[0] = y
	return nil
}

func (k *ewClipKernel) clip(ec *Context, y, x *Tensor, bounds [2]*Tensor) error {
	switch d := y.Data.(type) {
	case []float32:
		if k.attrs {
			ewClipT(ec, d, x.Float32s(), k.lo, k.hi)
			return nil
		}
		return ewClipBounds(ec, d, x.Float32s(), bounds)
	case []float64:
		if k.attrs {
			ewClipT(ec, d, x.Float64s(), float64(k.lo), float64(k.hi))
			return nil
		}
		return ewClipBounds(ec, d, x.Float64s(), bounds)
	case []int8:
		return ewClipBounds(ec, d, x.Data.([]int8), bounds)
	case []int16:
		return ewClipBounds(ec, d, x.Data.([]int16), bounds)
	case []int32:
		return ewClipBounds(ec, d, x.Data.([]int32), bounds)
	case []int64:
		return ewClipBounds(ec, d, x.Data.([]int64), bounds)
	case []uint8:
		return ewClipBounds(ec, d, x.Data.([]uint8), bounds)
	case []uint16:
		return ewClipBounds(ec, d, x.Data.([]uint16), bounds)
	case []uint32:
		return ewClipBounds(ec, d, x.Data.([]uint32), bounds)
	case []uint64:
		return ewClipBounds(ec, d, x.Data.([]uint64), bounds)
	}
	return fmt.Errorf("Clip does not support %s inputs", x.DType)
}

func ewClipBounds[T Number](ec *Context, dst, src []T, bounds [2]*Tensor) error {
	lo, hi := ewLimits[T]()
	if b := bounds[0]; b != nil {
		v, ok := b.Data.([]T)
		if !ok {
			return fmt.Errorf("min has type %s", b.DType)
		}
		lo = v[0]
	}
	if b := bounds[1]; b != nil {
		v, ok := b.Data.([]T)
		if !ok {
			return fmt.Errorf("max has type %s", b.DType)
		}
		hi = v[0]
	}
	ewClipT(ec, dst, src, lo, hi)
	return nil
}

// ewClipT clamps to [lo, hi] (hi wins when lo > hi; NaN stays NaN).
func ewClipT[T Number](ec *Context, dst, src []T, lo, hi T) {
	ewChunks(ec, len(src), func(a, b int) {
		d, s := dst[a:b], src[a:b]
		d = d[:len(s)]
		// min and max compile without branches, which random
		// activations would mispredict half the time; both keep NaN.
		for i, v := range s {
			d[i] = min(max(v, lo), hi)
		}
	})
}

// ewLimits returns the lowest and highest values of T (±Inf for floats).
func ewLimits[T Number]() (lo, hi T) {
	var i64lo, i64hi int64
	switch any(lo).(type) {
	case float32, float64:
		inf := math.Inf(1)
		return T(-inf), T(inf)
	case int8:
		i64lo, i64hi = math.MinInt8, math.MaxInt8
	case int16:
		i64lo, i64hi = math.MinInt16, math.MaxInt16
	case int32:
		i64lo, i64hi = math.MinInt32, math.MaxInt32
	case int64:
		i64lo, i64hi = math.MinInt64, math.MaxInt64
	case uint8:
		i64hi = math.MaxUint8
	case uint16:
		i64hi = math.MaxUint16
	case uint32:
		i64hi = math.MaxUint32
	case uint64:
		var u uint64 = math.MaxUint64
		return 0, T(u)
	}
	return T(i64lo), T(i64hi)
}
