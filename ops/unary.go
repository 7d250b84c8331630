package ops

import (
	"fmt"
	"math"
)

// registerUnary registers the elementwise math functions of ai.onnx.
func registerUnary(r *Registry) {
	for _, u := range []struct {
		op    string
		since int
		f64   func(float64) float64
		ints  ewIntOp
	}{
		{"Abs", 1, math.Abs, ewIntAbs},
		{"Neg", 1, func(x float64) float64 { return -x }, ewIntNeg},
		{"Sign", 9, ewSign, ewIntSign},
		{"Sqrt", 1, math.Sqrt, 0},
		{"Log", 1, math.Log, 0},
		{"Reciprocal", 1, func(x float64) float64 { return 1 / x }, 0},
		{"Ceil", 1, math.Ceil, 0},
		{"Floor", 1, math.Floor, 0},
		{"Round", 11, math.RoundToEven, 0},
		{"Sin", 7, math.Sin, 0},
		{"Cos", 7, math.Cos, 0},
		{"Tan", 7, math.Tan, 0},
		{"Asin", 7, math.Asin, 0},
		{"Acos", 7, math.Acos, 0},
		{"Atan", 7, math.Atan, 0},
		{"Sinh", 9, math.Sinh, 0},
		{"Cosh", 9, math.Cosh, 0},
		{"Asinh", 9, math.Asinh, 0},
		{"Acosh", 9, math.Acosh, 0},
		{"Atanh", 9, math.Atanh, 0},
	} {
		k := &ewFloatKernel{op: u.op, f64: u.f64, ints: u.ints}
		r.AddKernel("", u.op, u.since, k)
	}
	r.AddKernel("", "Exp", 1, &ewFloatKernel{op: "Exp", f64: math.Exp, f32: ewExp32})
	r.AddKernel("", "Erf", 9, &ewFloatKernel{op: "Erf", f64: math.Erf, f32: ewErf32})
	r.AddKernel("", "Tanh", 1, &ewFloatKernel{op: "Tanh", f64: math.Tanh, f32: ewTanh32})
	r.AddKernel("", "IsNaN", 9, ewPredKernel{isNaN: true})
	r.Add("", "IsInf", 10, func(n *Node) (any, error) {
		return ewPredKernel{
			neg: n.Attrs.Int("detect_negative", 1) != 0,
			pos: n.Attrs.Int("detect_positive", 1) != 0,
		}, nil
	})
	r.AddKernel("", "Not", 1, KernelFunc(ewNot))
	r.AddKernel("", "BitwiseNot", 18, &ewFloatKernel{op: "BitwiseNot", ints: ewIntBitNot})
}

func ewSign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return x // ±0 and NaN
}

// Parallel work split for elementwise kernels: tensors below ewParMin
// elements run inline; above it, chunks of at least ewGrain elements.
const (
	ewParMin = 32768
	ewGrain  = 16384
)

// ewIntOp names an integer elementwise function.
type ewIntOp int

const (
	ewIntNone ewIntOp = iota
	ewIntAbs
	ewIntNeg
	ewIntSign
	ewIntRelu
	ewIntBitNot
	ewIntViaFloat // compute through the float64 function and convert back
)

// ewFloatKernel applies a float function elementwise: float32 through f32
// when set (a whole-slice kernel) or f64 per element, float64 through f64,
// the small float types by decoding to float32, and integer types through
// the ints operation when the op supports them.
type ewFloatKernel struct {
	op   string
	f64  func(float64) float64
	f32  func(dst, src []float32)
	ints ewIntOp
}

func (k *ewFloatKernel) Run(ec *Context, in, out []*Tensor) error {
	x := in[0]
	if x == nil {
		return fmt.Errorf("missing input")
	}
	n := x.Len()
	switch {
	case x.DType == Float && k.f64 != nil:
		y := ec.Empty(Float, x.Shape...)
		k.run32(ec, y.Float32s(), x.Float32s())
		out[0] = y
		return nil
	case x.DType == Double && k.f64 != nil:
		y := ec.Empty(Double, x.Shape...)
		dst, src := y.Float64s(), x.Float64s()
		if n < ewParMin {
			ewMap64(dst, src, k.f64)
		} else {
			ec.Parallel(n, ewGrain, func(lo, hi int) { ewMap64(dst[lo:hi], src[lo:hi], k.f64) })
		}
		out[0] = y
		return nil
	case ewSmallFloat(x.DType) && x.DType != Float8E8M0 && k.f64 != nil:
		tmp := ec.Empty(Float, n)
		defer ec.Release(tmp)
		t := tmp.Float32s()
		if err := ewDecodeF32(t, x.Data, x.DType); err != nil {
			return err
		}
		k.run32(ec, t, t)
		y := ec.Empty(x.DType, x.Shape...)
		if err := ewEncodeF32(y.Data, x.DType, t, true, ewRoundUp); err != nil {
			ec.Release(y)
			return err
		}
		out[0] = y
		return nil
	case x.DType.IsInteger() && k.ints != ewIntNone:
		y := ec.Empty(x.DType, x.Shape...)
		if k.ints == ewIntViaFloat {
			ewIntUnaryViaFloat(y.Data, x.Data, k.f64)
		} else {
			ewIntUnaryAny(k.ints, y.Data, x.Data)
		}
		out[0] = y
		return nil
	}
	return fmt.Errorf("%s does not support %s inputs", k.op, x.DType)
}

func (k *ewFloatKernel) run32(ec *Context, dst, src []float32) {
	n := len(src)
	if k.f32 != nil {
		if n < ewParMin {
			k.f32(dst, src)
		} else {
			ec.Parallel(n, ewGrain, func(lo, hi int) { k.f32(dst[lo:hi], src[lo:hi]) })
		}
		return
	}
	if n < ewParMin {
		ewMap32(dst, src, k.f64)
	} else {
		ec.Parallel(n, ewGrain, func(lo, hi int) { ewMap32(dst[lo:hi], src[lo:hi], k.f64) })
	}
}

func ewMap32(dst, src []float32, f func(float64) float64) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = float32(f(float64(v)))
	}
}

func ewMap64(dst, src []float64, f func(float64) float64) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = f(v)
	}
}

// ewInteger covers all integer backing types.
type ewInteger interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

func ewIntUnary[T ewInteger](op ewIntOp, dst, src []T) {
	dst = dst[:len(src)]
	switch op {
	case ewIntAbs:
		for i, v := range src {
			if v < 0 {
				v = -v
			}
			dst[i] = v
		}
	case ewIntNeg:
		for i, v := range src {
			dst[i] = -v
		}
	case ewIntSign:
		var zero, one T = 0, 1
		for i, v := range src {
			switch {
			case v > 0:
				dst[i] = 1
			case v < 0:
				dst[i] = zero - one // only reached for signed types
			default:
				dst[i] = 0
			}
		}
	case ewIntRelu:
		for i, v := range src {
			if v < 0 {
				v = 0
			}
			dst[i] = v
		}
	case ewIntBitNot:
		for i, v := range src {
			dst[i] = ^v
		}
	}
}

func ewIntUnaryAny(op ewIntOp, dst, src any) {
	switch s := src.(type) {
	case []int8:
		ewIntUnary(op, dst.([]int8), s)
	case []int16:
		ewIntUnary(op, dst.([]int16), s)
	case []int32:
		ewIntUnary(op, dst.([]int32), s)
	case []int64:
		ewIntUnary(op, dst.([]int64), s)
	case []uint8:
		ewIntUnary(op, dst.([]uint8), s)
	case []uint16:
		ewIntUnary(op, dst.([]uint16), s)
	case []uint32:
		ewIntUnary(op, dst.([]uint32), s)
	case []uint64:
		ewIntUnary(op, dst.([]uint64), s)
	}
}

func ewViaFloat[T ewInteger](dst, src []T, f func(float64) float64) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = T(f(float64(v)))
	}
}

func ewIntUnaryViaFloat(dst, src any, f func(float64) float64) {
	switch s := src.(type) {
	case []int8:
		ewViaFloat(dst.([]int8), s, f)
	case []int16:
		ewViaFloat(dst.([]int16), s, f)
	case []int32:
		ewViaFloat(dst.([]int32), s, f)
	case []int64:
		ewViaFloat(dst.([]int64), s, f)
	case []uint8:
		ewViaFloat(dst.([]uint8), s, f)
	case []uint16:
		ewViaFloat(dst.([]uint16), s, f)
	case []uint32:
		ewViaFloat(dst.([]uint32), s, f)
	case []uint64:
		ewViaFloat(dst.([]uint64), s, f)
	}
}

// ewPredKernel implements IsNaN and IsInf (float in, bool out).
type ewPredKernel struct {
	isNaN    bool
	neg, pos bool // IsInf's detect_negative / detect_positive
}

func (k ewPredKernel) Run(ec *Context, in, out []*Tensor) error {
	x := in[0]
	if x == nil {
		return fmt.Errorf("missing input")
	}
	if !x.DType.IsFloat() {
		return fmt.Errorf("expected a float input, got %s", x.DType)
	}
	xf, tmp, err := ewToF32(ec, x)
	if err != nil {
		return err
	}
	if tmp {
		defer ec.Release(xf)
	}
	y := ec.Empty(Bool, x.Shape...)
	d := y.Bools()
	switch s := xf.Data.(type) {
	case []float32:
		for i, v := range s {
			d[i] = k.test(float64(v))
		}
	case []float64:
		for i, v := range s {
			d[i] = k.test(v)
		}
	}
	out[0] = y
	return nil
}

func (k ewPredKernel) test(v float64) bool {
	if k.isNaN {
		return v != v
	}
	return k.pos && math.IsInf(v, 1) || k.neg && math.IsInf(v, -1)
}

func ewNot(ec *Context, in, out []*Tensor) error {
	x := in[0]
	if x == nil || x.DType != Bool {
		return fmt.Errorf("Not expects a bool input")
	}
	y := ec.Empty(Bool, x.Shape...)
	d := y.Bools()
	for i, v := range x.Bools() {
		d[i] = !v
	}
	out[0] = y
	return nil
}
