package ops

import "math"

// Fast float32 kernels for the transcendental functions of transformer
// models (Exp, Sigmoid, Tanh, Erf, Gelu, Swish). They evaluate in float64
// with polynomial approximations whose relative error (below 1e-8) stays
// under half a float32 ulp, so results are the correctly rounded float32
// value or its neighbour, at a fraction of the cost of the math package.

const (
	ewLog2E = 1.4426950408889634074 // 1/ln 2
	ewLn2   = 0.6931471805599453094
)

// ewExp2Tab[j] = 2^(j/32).
var ewExp2Tab = func() (t [32]float64) {
	for j := range t {
		t[j] = math.Exp2(float64(j) / 32)
	}
	return t
}()

// ewExpFast returns e^x with a relative error below 1e-9 (NaN for NaN).
func ewExpFast(x float64) float64 {
	if x > 700 {
		x = 700
	} else if x < -700 {
		x = -700
	}
	// x = (32m + j)·ln2/32 + r with |r| <= ln2/64: e^x = 2^m · 2^(j/32) · e^r,
	// e^r by its Taylor series to degree 3. Adding 1.5·2^52 rounds to an
	// integer, which the low bits of the sum then hold.
	const magic = 6755399441055744.0
	k := x*(32*ewLog2E) + magic
	n := int64(int32(math.Float64bits(k)))
	r := x - (k-magic)*(ewLn2/32)
	p := 1 + r + r*r*(0.5+r*(1.0/6))
	scale := math.Float64frombits(math.Float64bits(ewExp2Tab[n&31]) + uint64(n>>5)<<52)
	return scale * p
}

// ewExpm1Fast returns e^x - 1 for x >= 0 keeping its relative accuracy
// near zero.
func ewExpm1Fast(x float64) float64 {
	if x < 0.35 {
		x2 := x * x
		x4 := x2 * x2
		// Taylor series to degree 8, evaluated by Estrin's scheme.
		return x*(1+x*(1.0/2)) + x2*(x*(1.0/6)+x2*(1.0/24)) +
			x4*(x*(1.0/120+x*(1.0/720))+x2*x*(1.0/5040+x*(1.0/40320)))
	}
	return ewExpFast(x) - 1
}

// Coefficients of erf(t)/t as a polynomial in t² on [0, 1] (least squares
// on Chebyshev nodes, relative error 3.4e-11).
const (
	ewErf0 = 1.1283791670571
	ewErf1 = -0.3761263842595662
	ewErf2 = 0.11283781839090029
	ewErf3 = -0.026865392124125767
	ewErf4 = 0.005220923214647268
	ewErf5 = -0.0008482507715494109
	ewErf6 = 0.00011254640559170766
	ewErf7 = -9.634990584962083e-06
)

// ewErfSmall returns erf(t) for |t| <= 1.
func ewErfSmall(t float64) float64 {
	u := t * t
	u2 := u * u
	u4 := u2 * u2
	return t * ((ewErf0 + u*ewErf1) + u2*(ewErf2+u*ewErf3) +
		u4*((ewErf4+u*ewErf5)+u2*(ewErf6+u*ewErf7)))
}

// ewErfcLarge returns erfc(t) for t >= 1: e^{-t²}/t times a polynomial in
// 1/t fitted to t·e^{t²}·erfc(t) on [1, 10.5] (relative error 1.8e-9).
// Beyond 10.5 erfc underflows float32, and 0 is returned.
func ewErfcLarge(t float64) float64 {
	if t > 10.5 {
		return 0
	}
	s := 1 / t
	s2 := s * s
	s4 := s2 * s2
	s8 := s4 * s4
	// Estrin's scheme over the coefficients c0..c12.
	p := ((0.5641899649078674 + s*-5.264677715882452e-06) +
		s2*(-0.28226331717623826+s*0.005468817368870935)) +
		s4*((0.35339212642539214+s*0.5136841410451678)+
			s2*(-3.460973541258277+s*7.199013017060608)) +
		s8*((-8.852806532000196+s*7.069175005000479)+
			s2*(-3.625714934945731+s*1.0915480254687357)+
			s4*-0.14712393176158137)
	return ewExpFast(-t*t) * p * s
}

// The slice kernels call helpers that take and return float32. Go compiles
// float64(v) to CVTSS2SD, which writes only the low half of its destination
// register and so waits for that register's previous value; when that is
// the previous element's result, the loop runs serially. The helpers where
// this was measured to happen (Tanh, Erf) widen with ewWiden instead.

// ewWiden converts v to float64 exactly, through integer operations for
// normal numbers.
func ewWiden(v float32) float64 {
	b := math.Float32bits(v)
	if (b>>23&0xff)-1 < 254 { // normal: rebias the exponent
		return math.Float64frombits(uint64(b&0x80000000)<<32 | (uint64(b&0x7fffffff)<<29 + (1023-127)<<52))
	}
	return float64(v) // zero, subnormal, infinity or NaN
}

func ewExpF(v float32) float32 { return float32(ewExpFast(float64(v))) }

func ewSigmoidF(v float32) float32 { return float32(1 / (1 + ewExpFast(float64(-v)))) }

func ewTanhF(v float32) float32 {
	x := ewWiden(v)
	a := math.Abs(x)
	if a > 20 {
		return float32(math.Copysign(1, x))
	}
	u := ewExpm1Fast(2 * a)
	return float32(math.Copysign(u/(u+2), x))
}

func ewErfF(v float32) float32 {
	x := ewWiden(v)
	a := math.Abs(x)
	if a <= 1 {
		return float32(ewErfSmall(x))
	}
	if a != a {
		return v
	}
	return float32(math.Copysign(1-ewErfcLarge(a), x))
}

func ewGeluF(v float32) float32 {
	x := float64(v)
	t := math.Abs(x) * ewSqrt2Inv
	if t <= 1 {
		return float32(0.5 * x * (1 + ewErfSmall(x*ewSqrt2Inv)))
	}
	if x > 0 {
		return float32(x * (1 - 0.5*ewErfcLarge(t)))
	}
	return float32(0.5 * x * ewErfcLarge(t))
}

// ewGeluTanhF computes x/2·(1+tanh(y)) as x/(1+e^{-2y}), which is the same
// value without the cancellation of 1+tanh(y) for negative y.
func ewGeluTanhF(v float32) float32 {
	x := float64(v)
	y := ewSqrt2OverPi * (x + 0.044715*x*x*x)
	return float32(x / (1 + ewExpFast(-2*y)))
}

func ewSwishF(v float32, alpha float64) float32 {
	x := float64(v)
	return float32(x / (1 + ewExpFast(0-alpha*x)))
}

func ewExp32(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = ewExpF(v)
	}
}

func ewSigmoid32(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = ewSigmoidF(v)
	}
}

func ewTanh32(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = ewTanhF(v)
	}
}

func ewErf32(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = ewErfF(v)
	}
}

func ewGelu32(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = ewGeluF(v)
	}
}

func ewGeluTanh32(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = ewGeluTanhF(v)
	}
}

// ewSwish32 returns the float32 kernel of x·sigmoid(alpha·x).
func ewSwish32(alpha float64) func(dst, src []float32) {
	return func(dst, src []float32) {
		dst = dst[:len(src)]
		for i, v := range src {
			dst[i] = ewSwishF(v, alpha)
		}
	}
}
