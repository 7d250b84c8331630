package ops

import (
	"fmt"
	"math"
)

// DType is an ONNX tensor element type. Its values are those of the ONNX
// TensorProto.DataType enumeration, so a DType can be read straight from a
// model file.
type DType int32

// The ONNX element types.
const (
	Undefined      DType = 0
	Float          DType = 1
	Uint8          DType = 2
	Int8           DType = 3
	Uint16         DType = 4
	Int16          DType = 5
	Int32          DType = 6
	Int64          DType = 7
	String         DType = 8
	Bool           DType = 9
	Float16        DType = 10
	Double         DType = 11
	Uint32         DType = 12
	Uint64         DType = 13
	Complex64      DType = 14
	Complex128     DType = 15
	BFloat16       DType = 16
	Float8E4M3FN   DType = 17
	Float8E4M3FNUZ DType = 18
	Float8E5M2     DType = 19
	Float8E5M2FNUZ DType = 20
	Uint4          DType = 21
	Int4           DType = 22
	Float4E2M1     DType = 23
	Float8E8M0     DType = 24
	Uint2          DType = 25
	Int2           DType = 26
)

var dtypeNames = [...]string{
	"undefined", "float32", "uint8", "int8", "uint16", "int16", "int32", "int64",
	"string", "bool", "float16", "float64", "uint32", "uint64", "complex64",
	"complex128", "bfloat16", "float8e4m3fn", "float8e4m3fnuz", "float8e5m2",
	"float8e5m2fnuz", "uint4", "int4", "float4e2m1", "float8e8m0", "uint2", "int2",
}

// String returns the lower-case name of the type, as numpy would spell it.
func (d DType) String() string {
	if d >= 0 && int(d) < len(dtypeNames) {
		return dtypeNames[d]
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// Valid reports whether d is a known element type other than Undefined.
func (d DType) Valid() bool { return d > 0 && int(d) < len(dtypeNames) }

// IsFloat reports whether d is a floating-point type (including the 16- and
// 8-bit formats).
func (d DType) IsFloat() bool {
	switch d {
	case Float, Double, Float16, BFloat16, Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ, Float4E2M1, Float8E8M0:
		return true
	}
	return false
}

// IsInteger reports whether d is a signed or unsigned integer type.
func (d DType) IsInteger() bool {
	switch d {
	case Uint8, Int8, Uint16, Int16, Int32, Int64, Uint32, Uint64, Uint4, Int4, Uint2, Int2:
		return true
	}
	return false
}

// IsSigned reports whether d is a signed integer type.
func (d DType) IsSigned() bool {
	switch d {
	case Int8, Int16, Int32, Int64, Int4, Int2:
		return true
	}
	return false
}

// Size returns the size in bytes of one element in memory (strings count as
// 16, sub-byte types as 1 since agate stores them unpacked).
func (d DType) Size() int {
	switch d {
	case Float, Int32, Uint32:
		return 4
	case Double, Int64, Uint64, Complex64:
		return 8
	case Complex128, String:
		return 16
	case Uint16, Int16, Float16, BFloat16:
		return 2
	}
	return 1
}

// F16 is an IEEE 754 half-precision number stored as its bit pattern.
type F16 uint16

// BF16 is a brain floating-point number (the upper half of a float32)
// stored as its bit pattern.
type BF16 uint16

// Float32 converts h to float32 exactly.
func (h F16) Float32() float32 {
	bits := uint32(h)
	sign := (bits & 0x8000) << 16
	exp := (bits >> 10) & 0x1f
	mant := bits & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// subnormal: normalise
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// F16From converts f to the nearest half-precision value (round to
// nearest even), saturating to infinity on overflow.
func F16From(f float32) F16 {
	bits := math.Float32bits(f)
	sign := uint16((bits >> 16) & 0x8000)
	exp := int32((bits >> 23) & 0xff)
	mant := bits & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return F16(sign | 0x7e00)
		}
		return F16(sign | 0x7c00)
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return F16(sign | 0x7c00)
	}
	if e <= 0 {
		if e < -10 {
			return F16(sign)
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		rem := mant & ((1 << shift) - 1)
		m := mant >> shift
		if rem > half || (rem == half && m&1 == 1) {
			m++
		}
		return F16(sign | uint16(m))
	}
	m := mant >> 13
	rem := mant & 0x1fff
	out := uint32(sign) | uint32(e)<<10 | m
	if rem > 0x1000 || (rem == 0x1000 && m&1 == 1) {
		out++ // may carry into the exponent, which is the correct rounding
	}
	return F16(out)
}

// Float32 converts b to float32 exactly.
func (b BF16) Float32() float32 { return math.Float32frombits(uint32(b) << 16) }

// BF16From converts f to bfloat16 with round to nearest even.
func BF16From(f float32) BF16 {
	bits := math.Float32bits(f)
	if f != f {
		return BF16(bits>>16 | 0x40)
	}
	rounding := uint32(0x7fff) + (bits>>16)&1
	return BF16((bits + rounding) >> 16)
}
