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

// ewExpFast returns e^x with a relative error below 1e-8 (NaN for NaN).
func ewExpFast(x float64) float64 {
	if x > 700 {
		x = 700
	} else if x < -700 {
		x = -700
	}
	// x = n ln2 + r with |r| <= ln2/2; e^r by its Taylor series to degree 7.
	n := math.Floor(x*ewLog2E + 0.5)
	r := x - n*ewLn2
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	return p * math.Float64frombits(uint64(int64(n)+1023)<<52)
}

// ewExpm1Fast returns e^x - 1 for x >= 0 keeping its relative accuracy
// near zero.
func ewExpm1Fast(x float64) float64 {
	if x < 0.35 {
		return x * (1 + x*(1.0/2+x*(1.0/6+x*(1.0/24+x*(1.0/120+x*(1.0/720+x*(1.0/5040+x*(1.0/40320))))))))
	}
	return ewExpFast(x) - 1
}

// ewTanhFast returns tanh(x).
func ewTanhFast(x float64) float64 {
	a := math.Abs(x)
	if a > 20 {
		return math.Copysign(1, x)
	}
	u := ewExpm1Fast(2 * a)
	return math.Copysign(u/(u+2), x)
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
	return t * (ewErf0 + u*(ewErf1+u*(ewErf2+u*(ewErf3+u*(ewErf4+u*(ewErf5+u*(ewErf6+u*ewErf7)))))))
}

// ewErfcLarge returns erfc(t) for t >= 1: e^{-t²}/t times a polynomial in
// 1/t fitted to t·e^{t²}·erfc(t) on [1, 10.5] (relative error 1.8e-9).
// Beyond 10.5 erfc underflows float32, and 0 is returned.
func ewErfcLarge(t float64) float64 {
	if t > 10.5 {
		return 0
	}
	s := 1 / t
	p := 0.5641899649078674 + s*(-5.264677715882452e-06+s*(-0.28226331717623826+
		s*(0.005468817368870935+s*(0.35339212642539214+s*(0.5136841410451678+
			s*(-3.460973541258277+s*(7.199013017060608+s*(-8.852806532000196+
				s*(7.069175005000479+s*(-3.625714934945731+s*(1.0915480254687357+
					s*-0.14712393176158137)))))))))))
	return ewExpFast(-t*t) * p * s
}

// ewErfFast returns erf(x).
func ewErfFast(x float64) float64 {
	a := math.Abs(x)
	if a <= 1 {
		return ewErfSmall(x)
	}
	if a != a {
		return a
	}
	return math.Copysign(1-ewErfcLarge(a), x)
}

// ewGeluFast returns x·Φ(x) = x/2·(1+erf(x/√2)), through erfc for
// negative x so that the tail keeps its relative accuracy.
func ewGeluFast(x float64) float64 {
	t := math.Abs(x) * ewSqrt2Inv
	if t <= 1 {
		return 0.5 * x * (1 + ewErfSmall(x*ewSqrt2Inv))
	}
	if x > 0 {
		return x * (1 - 0.5*ewErfcLarge(t))
	}
	return 0.5 * x * ewErfcLarge(t)
}

func ewExp32(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = float32(ewExpFast(float64(v)))
	}
}

func ewSigmoid32(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = float32(1 / (1 + ewExpFast(-float64(v))))
	}
}

func ewTanh32(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = float32(ewTanhFast(float64(v)))
	}
}

func ewErf32(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = float32(ewErfFast(float64(v)))
	}
}

func ewGelu32(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = float32(ewGeluFast(float64(v)))
	}
}

// ewGeluTanh32 computes x/2·(1+tanh(y)) as x/(1+e^{-2y}), which is the same
// value without the cancellation of 1+tanh(y) for negative y.
func ewGeluTanh32(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		x := float64(v)
		y := ewSqrt2OverPi * (x + 0.044715*x*x*x)
		dst[i] = float32(x / (1 + ewExpFast(-2*y)))
	}
}

// ewSwish32 returns the float32 kernel of x·sigmoid(alpha·x).
func ewSwish32(alpha float64) func(dst, src []float32) {
	return func(dst, src []float32) {
		dst = dst[:len(src)]
		for i, v := range src {
			x := float64(v)
			dst[i] = float32(x / (1 + ewExpFast(-alpha*x)))
		}
	}
}
