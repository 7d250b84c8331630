package ops

import (
	"fmt"
	"math"
)

// Helpers shared by the reduction, softmax, normalization and loss kernels.
// Their names start with rn to keep them apart from other families'.

// rnParallelGrain is the amount of element work below which the kernels of
// these families run inline rather than on the worker pool.
const rnParallelGrain = 32 << 10

// rnRows runs fn over [0, rows) where each row costs about perRow elements of
// work, in parallel when the total is large.
func rnRows(ec *Context, rows, perRow int, fn func(lo, hi int)) {
	if rows <= 0 {
		return
	}
	if perRow < 1 {
		perRow = 1
	}
	if rows*perRow < rnParallelGrain || rows == 1 {
		fn(0, rows)
		return
	}
	grain := rnParallelGrain / perRow
	if grain < 1 {
		grain = 1
	}
	ec.Parallel(rows, grain, fn)
}

// rnIsFloat reports whether dt is one of the four float types the
// floating-point kernels of these families accept.
func rnIsFloat(dt DType) bool {
	return dt == Float || dt == Double || dt == Float16 || dt == BFloat16
}

// rnSplitAt returns the products of shape's dimensions before and from axis.
func rnSplitAt(shape []int, axis int) (outer, inner int) {
	return NumElements(shape[:axis]), NumElements(shape[axis:])
}

// rnSplit3 returns the products of shape's dimensions before axis, the axis
// dimension and the dimensions after it.
func rnSplit3(shape []int, axis int) (outer, n, inner int) {
	return NumElements(shape[:axis]), shape[axis], NumElements(shape[axis+1:])
}

// rnInput returns in[i], or an error naming the input when it is missing.
func rnInput(in []*Tensor, i int, name string) (*Tensor, error) {
	if i >= len(in) || in[i] == nil {
		return nil, fmt.Errorf("missing required input %d (%s)", i, name)
	}
	return in[i], nil
}

// rnOptional returns in[i], or nil when it is absent.
func rnOptional(in []*Tensor, i int) *Tensor {
	if i >= len(in) {
		return nil
	}
	return in[i]
}

// Constants of rnExpf: ln 2, log2 e, and the shifter that rounds a float64
// to an integer held in its low mantissa bits.
const (
	rnLn2     = 0.6931471805599453
	rnLog2e   = 1.4426950408889634
	rnShifter = 0x1.8p52
)

// rnExpf returns e**x for float32 x with an error below one float32 ulp (the
// polynomial part is accurate to about 1e-8 relative). It reduces x to
// k*ln2 + r with |r| <= ln2/2 and evaluates a degree-7 polynomial in
// float64, avoiding the special-case handling of math.Exp. Arguments are
// clamped to [-104, 89], whose ends round to 0 and +Inf in float32; NaN
// propagates through the arithmetic.
func rnExpf(x float32) float32 {
	if x < -104 {
		x = -104
	} else if x > 89 {
		x = 89
	}
	xd := float64(x)
	t := xd*rnLog2e + rnShifter
	k := t - rnShifter
	r := xd - k*rnLn2
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	return float32(p * math.Float64frombits(uint64(int64(int32(uint32(math.Float64bits(t))))+1023)<<52))
}

// rnExpSubSum sets y[i] = e**(x[i]-m) (as rnExpf computes it) and returns
// the float64 sum of the y[i]. It is the inner loop of the float32 softmax.
func rnExpSubSum(x, y []float32, m float32) float64 {
	y = y[:len(x)]
	var sum float64
	for i, v := range x {
		v -= m
		if v < -104 {
			v = -104
		} else if v > 89 {
			v = 89
		}
		xd := float64(v)
		t := xd*rnLog2e + rnShifter
		k := t - rnShifter
		r := xd - k*rnLn2
		p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
		e := float32(p * math.Float64frombits(uint64(int64(int32(uint32(math.Float64bits(t))))+1023)<<52))
		y[i] = e
		sum += float64(e)
	}
	return sum
}

// rnTemps tracks the temporary tensors of one kernel run so that they can
// all be given back at the end.
type rnTemps struct {
	ec   *Context
	list []*Tensor
}

// add records t for release.
func (t *rnTemps) add(x *Tensor) { t.list = append(t.list, x) }

// empty allocates a tracked temporary.
func (t *rnTemps) empty(dt DType, shape ...int) *Tensor {
	x := t.ec.Empty(dt, shape...)
	t.add(x)
	return x
}

// release gives back every tracked temporary.
func (t *rnTemps) release() {
	for _, x := range t.list {
		t.ec.Release(x)
	}
	t.list = t.list[:0]
}

// rnFloats returns the values of the float tensor t as []F: t's own slice
// when its type is F, else a tracked converted copy. A float32 result
// accepts float32, float16 and bfloat16 tensors; a float64 result accepts
// all four float types.
func rnFloats[F float32 | float64](tmp *rnTemps, t *Tensor) ([]F, error) {
	if s, ok := t.Data.([]F); ok {
		return s, nil
	}
	var z F
	if _, ok := any(z).(float32); ok {
		vals, temp, err := float32Data(tmp.ec, t)
		if err != nil {
			return nil, err
		}
		if temp != nil {
			tmp.add(temp)
		}
		return any(vals).([]F), nil
	}
	vals, temp, err := float64Data(tmp.ec, t)
	if err != nil {
		return nil, err
	}
	if temp != nil {
		tmp.add(temp)
	}
	return any(vals).([]F), nil
}

// rnOutput returns the slice a kernel computing in F writes y's values to:
// y's own backing when its type is F, else a tracked temporary that
// rnFinish later converts into y.
func rnOutput[F float32 | float64](tmp *rnTemps, y *Tensor) []F {
	if s, ok := y.Data.([]F); ok {
		return s
	}
	w := tmp.empty(DTypeOf[F](), y.Shape...)
	return w.Data.([]F)
}

// rnFinish converts buf, obtained from rnOutput, into y when they differ.
func rnFinish[F float32 | float64](y *Tensor, buf []F) {
	if _, ok := y.Data.([]F); ok {
		return
	}
	switch b := any(buf).(type) {
	case []float32:
		narrowFloat32s(y.Data, b)
	case []float64:
		narrowFloat64s(y.Data, b)
	}
}
