package ops

import "fmt"

// Number is the set of Go types that back numeric tensors.
type Number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// Element is the set of Go types a tensor's backing slice may hold.
type Element interface {
	Number | ~bool | ~string | ~complex64 | ~complex128
}

// DTypeOf returns the element type backed by Go type T (Float16 and
// BFloat16 map to their own types; other uint16 to Uint16).
func DTypeOf[T Element]() DType {
	var z T
	switch any(z).(type) {
	case float32:
		return Float
	case float64:
		return Double
	case F16:
		return Float16
	case BF16:
		return BFloat16
	case int8:
		return Int8
	case int16:
		return Int16
	case int32:
		return Int32
	case int64:
		return Int64
	case uint8:
		return Uint8
	case uint16:
		return Uint16
	case uint32:
		return Uint32
	case uint64:
		return Uint64
	case bool:
		return Bool
	case string:
		return String
	case complex64:
		return Complex64
	case complex128:
		return Complex128
	}
	return Undefined
}

// MakeSlice allocates a zeroed backing slice of n elements for dt.
func MakeSlice(dt DType, n int) any {
	switch dt {
	case Float:
		return make([]float32, n)
	case Double:
		return make([]float64, n)
	case Float16:
		return make([]F16, n)
	case BFloat16:
		return make([]BF16, n)
	case Int8, Int4, Int2:
		return make([]int8, n)
	case Int16:
		return make([]int16, n)
	case Int32:
		return make([]int32, n)
	case Int64:
		return make([]int64, n)
	case Uint8, Uint4, Uint2, Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ, Float4E2M1, Float8E8M0:
		return make([]uint8, n)
	case Uint16:
		return make([]uint16, n)
	case Uint32:
		return make([]uint32, n)
	case Uint64:
		return make([]uint64, n)
	case Bool:
		return make([]bool, n)
	case String:
		return make([]string, n)
	case Complex64:
		return make([]complex64, n)
	case Complex128:
		return make([]complex128, n)
	}
	panic(fmt.Sprintf("ops.MakeSlice: unsupported dtype %v", dt))
}

// SliceLen returns the length of a backing slice.
func SliceLen(data any) int {
	switch d := data.(type) {
	case []float32:
		return len(d)
	case []float64:
		return len(d)
	case []F16:
		return len(d)
	case []BF16:
		return len(d)
	case []int8:
		return len(d)
	case []int16:
		return len(d)
	case []int32:
		return len(d)
	case []int64:
		return len(d)
	case []uint8:
		return len(d)
	case []uint16:
		return len(d)
	case []uint32:
		return len(d)
	case []uint64:
		return len(d)
	case []bool:
		return len(d)
	case []string:
		return len(d)
	case []complex64:
		return len(d)
	case []complex128:
		return len(d)
	case nil:
		return 0
	}
	panic(fmt.Sprintf("ops.SliceLen: unsupported backing %T", data))
}

// CopySlice copies src into dst (same Go type) and returns the count copied.
func CopySlice(dst, src any) int {
	switch d := dst.(type) {
	case []float32:
		return copy(d, src.([]float32))
	case []float64:
		return copy(d, src.([]float64))
	case []F16:
		return copy(d, src.([]F16))
	case []BF16:
		return copy(d, src.([]BF16))
	case []int8:
		return copy(d, src.([]int8))
	case []int16:
		return copy(d, src.([]int16))
	case []int32:
		return copy(d, src.([]int32))
	case []int64:
		return copy(d, src.([]int64))
	case []uint8:
		return copy(d, src.([]uint8))
	case []uint16:
		return copy(d, src.([]uint16))
	case []uint32:
		return copy(d, src.([]uint32))
	case []uint64:
		return copy(d, src.([]uint64))
	case []bool:
		return copy(d, src.([]bool))
	case []string:
		return copy(d, src.([]string))
	case []complex64:
		return copy(d, src.([]complex64))
	case []complex128:
		return copy(d, src.([]complex128))
	}
	panic(fmt.Sprintf("ops.CopySlice: unsupported backing %T", dst))
}

// Subslice returns data[lo:hi] for any backing slice.
func Subslice(data any, lo, hi int) any {
	switch d := data.(type) {
	case []float32:
		return d[lo:hi]
	case []float64:
		return d[lo:hi]
	case []F16:
		return d[lo:hi]
	case []BF16:
		return d[lo:hi]
	case []int8:
		return d[lo:hi]
	case []int16:
		return d[lo:hi]
	case []int32:
		return d[lo:hi]
	case []int64:
		return d[lo:hi]
	case []uint8:
		return d[lo:hi]
	case []uint16:
		return d[lo:hi]
	case []uint32:
		return d[lo:hi]
	case []uint64:
		return d[lo:hi]
	case []bool:
		return d[lo:hi]
	case []string:
		return d[lo:hi]
	case []complex64:
		return d[lo:hi]
	case []complex128:
		return d[lo:hi]
	}
	panic(fmt.Sprintf("ops.Subslice: unsupported backing %T", data))
}

// ClearSlice sets every element of a backing slice to its zero value.
func ClearSlice(data any) {
	switch d := data.(type) {
	case []float32:
		clear(d)
	case []float64:
		clear(d)
	case []F16:
		clear(d)
	case []BF16:
		clear(d)
	case []int8:
		clear(d)
	case []int16:
		clear(d)
	case []int32:
		clear(d)
	case []int64:
		clear(d)
	case []uint8:
		clear(d)
	case []uint16:
		clear(d)
	case []uint32:
		clear(d)
	case []uint64:
		clear(d)
	case []bool:
		clear(d)
	case []string:
		clear(d)
	case []complex64:
		clear(d)
	case []complex128:
		clear(d)
	default:
		panic(fmt.Sprintf("ops.ClearSlice: unsupported backing %T", data))
	}
}
