package ops

import (
	"fmt"
	"math"
)

// This file holds the codecs of the small floating-point formats (float16,
// bfloat16, the float8 family, float4e2m1 and float8e8m0) used by Cast and by
// the elementwise kernels, which compute on these types in float32.

// ewMiniKind says how a small float format spends its special encodings.
type ewMiniKind int

const (
	ewIEEE  ewMiniKind = iota // infinities and NaNs in the top exponent (float16, bfloat16, e5m2)
	ewFN                      // no infinities; only all-ones is NaN (e4m3fn)
	ewFNUZ                    // no infinities, no negative zero; NaN is the sign bit alone
	ewNoNaN                   // no infinities and no NaN (e2m1); NaN encodes as -0
)

// ewMiniFloat describes one small binary floating-point format.
type ewMiniFloat struct {
	expBits, mantBits int
	bias              int
	kind              ewMiniKind
	max               float64 // largest finite value
	maxBits           uint16  // its encoding (positive)
}

func newMiniFloat(expBits, mantBits, bias int, kind ewMiniKind) *ewMiniFloat {
	f := &ewMiniFloat{expBits: expBits, mantBits: mantBits, bias: bias, kind: kind}
	expAll := 1<<expBits - 1
	mantAll := 1<<mantBits - 1
	e, m := expAll, mantAll
	switch kind {
	case ewIEEE:
		e = expAll - 1
	case ewFN:
		m = mantAll - 1
	}
	f.maxBits = uint16(e<<mantBits | m)
	f.max = math.Ldexp(float64(m|1<<mantBits), e-bias-mantBits)
	return f
}

var (
	ewF16      = newMiniFloat(5, 10, 15, ewIEEE)
	ewBF16     = newMiniFloat(8, 7, 127, ewIEEE)
	ewE4M3FN   = newMiniFloat(4, 3, 7, ewFN)
	ewE4M3FNUZ = newMiniFloat(4, 3, 8, ewFNUZ)
	ewE5M2     = newMiniFloat(5, 2, 15, ewIEEE)
	ewE5M2FNUZ = newMiniFloat(5, 2, 16, ewFNUZ)
	ewE2M1     = newMiniFloat(2, 1, 1, ewNoNaN)
)

func (f *ewMiniFloat) signBit() uint16 { return 1 << (f.expBits + f.mantBits) }

func (f *ewMiniFloat) nan(sign uint16) uint16 {
	switch f.kind {
	case ewIEEE:
		return sign | uint16(1<<f.expBits-1)<<f.mantBits | 1<<(f.mantBits-1)
	case ewFN:
		return sign | uint16(1<<(f.expBits+f.mantBits)-1)
	}
	return f.signBit()
}

func (f *ewMiniFloat) overflow(sign uint16, saturate bool) uint16 {
	if saturate || f.kind == ewNoNaN {
		return sign | f.maxBits
	}
	if f.kind == ewIEEE {
		return sign | uint16(1<<f.expBits-1)<<f.mantBits
	}
	return f.nan(sign)
}

// encode rounds x to the nearest value of the format (ties to even). Values
// beyond the finite range become the largest finite value when saturate is
// set, and infinity (or NaN for formats without infinity) otherwise.
func (f *ewMiniFloat) encode(x float64, saturate bool) uint16 {
	var sign uint16
	if math.Signbit(x) {
		sign = f.signBit()
	}
	if f.kind == ewFNUZ && x == 0 {
		return 0
	}
	switch {
	case x != x:
		return f.nan(sign)
	case math.IsInf(x, 0):
		return f.overflow(sign, saturate)
	case x == 0:
		return sign
	}
	a := math.Abs(x)
	_, e := math.Frexp(a)
	ue := e - 1
	if emin := 1 - f.bias; ue < emin {
		ue = emin
	}
	q := ue - f.mantBits
	m := math.RoundToEven(math.Ldexp(a, -q))
	if m == 0 {
		if f.kind == ewFNUZ {
			return 0
		}
		return sign
	}
	if math.Ldexp(m, q) > f.max {
		return f.overflow(sign, saturate)
	}
	mi := uint16(m)
	one := uint16(1) << f.mantBits
	if mi >= 2*one {
		mi >>= 1
		ue++
	}
	if mi < one {
		return sign | mi // subnormal
	}
	return sign | uint16(ue+f.bias)<<f.mantBits | (mi - one)
}

// decode returns the exact value of the encoding b.
func (f *ewMiniFloat) decode(b uint16) float64 {
	sb := f.signBit()
	expAll := 1<<f.expBits - 1
	mantAll := uint16(1<<f.mantBits - 1)
	exp := int(b>>f.mantBits) & expAll
	mant := b & mantAll
	switch f.kind {
	case ewFNUZ:
		if b&(2*sb-1) == sb {
			return math.NaN()
		}
	case ewFN:
		if exp == expAll && mant == mantAll {
			return math.NaN()
		}
	case ewIEEE:
		if exp == expAll {
			if mant != 0 {
				return math.NaN()
			}
			if b&sb != 0 {
				return math.Inf(-1)
			}
			return math.Inf(1)
		}
	}
	var v float64
	if exp == 0 {
		v = math.Ldexp(float64(mant), 1-f.bias-f.mantBits)
	} else {
		v = math.Ldexp(float64(mant|1<<f.mantBits), exp-f.bias-f.mantBits)
	}
	if b&sb != 0 {
		v = -v
	}
	return v
}

// ewTable8 returns a 256-entry decode table of an 8-bit (or 4-bit) format.
func ewTable8(f *ewMiniFloat) *[256]float32 {
	t := new([256]float32)
	n := 1 << (1 + f.expBits + f.mantBits)
	for i := 0; i < 256; i++ {
		t[i] = float32(f.decode(uint16(i % n)))
	}
	return t
}

var (
	ewTabE4M3FN   = ewTable8(ewE4M3FN)
	ewTabE4M3FNUZ = ewTable8(ewE4M3FNUZ)
	ewTabE5M2     = ewTable8(ewE5M2)
	ewTabE5M2FNUZ = ewTable8(ewE5M2FNUZ)
	ewTabE2M1     = ewTable8(ewE2M1)
	ewTabE8M0     = ewTableE8M0()
)

func ewTableE8M0() *[256]float32 {
	t := new([256]float32)
	for i := 0; i < 255; i++ {
		t[i] = float32(math.Ldexp(1, i-127))
	}
	t[255] = float32(math.NaN())
	return t
}

// ewSmallFloat reports whether dt is a float type that agate stores in a
// non-native encoding (float16, bfloat16, float8, float4): elementwise
// kernels decode such tensors to float32, compute, and encode back.
func ewSmallFloat(dt DType) bool {
	switch dt {
	case Float16, BFloat16, Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ, Float4E2M1, Float8E8M0:
		return true
	}
	return false
}

// ewFormat8 returns the format of a byte-stored small float type.
func ewFormat8(dt DType) (*ewMiniFloat, *[256]float32) {
	switch dt {
	case Float8E4M3FN:
		return ewE4M3FN, ewTabE4M3FN
	case Float8E4M3FNUZ:
		return ewE4M3FNUZ, ewTabE4M3FNUZ
	case Float8E5M2:
		return ewE5M2, ewTabE5M2
	case Float8E5M2FNUZ:
		return ewE5M2FNUZ, ewTabE5M2FNUZ
	case Float4E2M1:
		return ewE2M1, ewTabE2M1
	case Float8E8M0:
		return nil, ewTabE8M0
	}
	return nil, nil
}

// ewDecodeF32 decodes a small-float tensor's data into dst.
func ewDecodeF32(dst []float32, data any, dt DType) error {
	switch dt {
	case Float16, BFloat16:
		if !widenFloat32s(dst, data) {
			return fmt.Errorf("cannot decode %s as a float type", dt)
		}
		return nil
	}
	_, tab := ewFormat8(dt)
	src, ok := data.([]uint8)
	if tab == nil || !ok {
		return fmt.Errorf("cannot decode %s as a float type", dt)
	}
	for i, v := range src {
		dst[i] = tab[v]
	}
	return nil
}

// ewE8M0Round is the rounding of a conversion to float8e8m0.
type ewE8M0Round int

const (
	ewRoundUp ewE8M0Round = iota
	ewRoundDown
	ewRoundNearest
)

func ewParseE8M0Round(s string) (ewE8M0Round, error) {
	switch s {
	case "up":
		return ewRoundUp, nil
	case "down":
		return ewRoundDown, nil
	case "nearest":
		return ewRoundNearest, nil
	}
	return 0, fmt.Errorf("round_mode %q: expected up, down or nearest", s)
}

// ewEncodeE8M0 converts x to a float8e8m0 (a power of two, given by its
// biased exponent). The sign is ignored; NaN and infinities map to NaN.
func ewEncodeE8M0(x float32, saturate bool, mode ewE8M0Round) uint8 {
	bits := math.Float32bits(x)
	exp := (bits >> 23) & 0xff
	if exp == 0xff {
		return 0xff
	}
	up := false
	switch mode {
	case ewRoundUp:
		up = bits&0x7fffff != 0
	case ewRoundNearest:
		guard := bits&0x400000 != 0
		rest := bits&0x3fffff != 0
		up = guard && (rest || exp > 0)
	}
	if up {
		if exp == 0xfe && saturate {
			return 0xfe
		}
		exp++
	}
	return uint8(exp)
}

// ewEncodeF32 encodes src into the small-float tensor data dst of type dt.
func ewEncodeF32(dst any, dt DType, src []float32, saturate bool, mode ewE8M0Round) error {
	switch dt {
	case Float16:
		d := dst.([]F16)
		for i, v := range src {
			d[i] = F16From(v)
		}
		return nil
	case BFloat16:
		d := dst.([]BF16)
		for i, v := range src {
			d[i] = BF16From(v)
		}
		return nil
	case Float8E8M0:
		d := dst.([]uint8)
		for i, v := range src {
			d[i] = ewEncodeE8M0(v, saturate, mode)
		}
		return nil
	}
	f, _ := ewFormat8(dt)
	d, ok := dst.([]uint8)
	if f == nil || !ok {
		return fmt.Errorf("cannot encode %s as a float type", dt)
	}
	for i, v := range src {
		d[i] = uint8(f.encode(float64(v), saturate))
	}
	return nil
}

// ewEncodeF64 encodes src into the small-float tensor data dst of type dt,
// rounding once from float64.
func ewEncodeF64(dst any, dt DType, src []float64, saturate bool, mode ewE8M0Round) error {
	switch dt {
	case Float16:
		d := dst.([]F16)
		for i, v := range src {
			d[i] = F16(ewF16.encode(v, false))
		}
		return nil
	case BFloat16:
		d := dst.([]BF16)
		for i, v := range src {
			d[i] = BF16(ewBF16.encode(v, false))
		}
		return nil
	case Float8E8M0:
		d := dst.([]uint8)
		for i, v := range src {
			d[i] = ewEncodeE8M0(float32(v), saturate, mode)
		}
		return nil
	}
	f, _ := ewFormat8(dt)
	d, ok := dst.([]uint8)
	if f == nil || !ok {
		return fmt.Errorf("cannot encode %s as a float type", dt)
	}
	for i, v := range src {
		d[i] = uint8(f.encode(v, saturate))
	}
	return nil
}

// ewToF32 returns x as a float32 tensor when x holds a small float type
// (decoding into a temporary the caller must release when tmp is true), and
// x itself otherwise.
func ewToF32(ec *Context, x *Tensor) (t *Tensor, tmp bool, err error) {
	if x == nil || !ewSmallFloat(x.DType) {
		return x, false, nil
	}
	t = ec.Empty(Float, x.Shape...)
	if err := ewDecodeF32(t.Float32s(), x.Data, x.DType); err != nil {
		ec.Release(t)
		return nil, false, err
	}
	return t, true, nil
}
