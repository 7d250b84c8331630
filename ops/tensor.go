package ops

import (
	"fmt"
	"reflect"
	"strings"
)

// Tensor is the engine's working representation of a dense tensor: an
// element type, a shape and a flat, row-major backing slice whose Go type
// follows the element type:
//
//	Float []float32, Double []float64, Float16 []F16, BFloat16 []BF16,
//	Int8 []int8, Int16 []int16, Int32 []int32, Int64 []int64,
//	Uint8 []uint8, Uint16 []uint16, Uint32 []uint32, Uint64 []uint64,
//	Bool []bool, String []string, Complex64 []complex64, Complex128 []complex128,
//	Int4 and Int2 []int8 (one element per byte), Uint4, Uint2, the float8
//	types and Float4E2M1 []uint8 (the raw bit pattern, one element per byte).
//
// Kernels work on the backing slice directly. The engine converts to and from
// gorgonia.org/tensor Dense values at its API boundary.
type Tensor struct {
	DType DType
	Shape []int
	Data  any

	buf    *buffer // arena bookkeeping; nil for tensors the arena does not own
	pooled bool    // the header itself came from an arena (views of foreign data too)
}

func (*Tensor) isValue() {}

// SharesData reports whether t and u hold the same elements in the same
// storage (same type, length and first element).
func (t *Tensor) SharesData(u *Tensor) bool {
	if t == nil || u == nil || t.DType != u.DType || t.Len() != u.Len() || t.Len() == 0 {
		return false
	}
	return reflect.ValueOf(t.Data).UnsafePointer() == reflect.ValueOf(u.Data).UnsafePointer()
}

// NewTensor allocates a zeroed tensor of the given type and shape on the Go
// heap (outside any arena).
func NewTensor(dt DType, shape ...int) *Tensor {
	return &Tensor{DType: dt, Shape: append([]int(nil), shape...), Data: MakeSlice(dt, NumElements(shape))}
}

// FromSlice wraps data (whose Go type must match dt) as a tensor of the given
// shape. It panics if the lengths disagree; use it with literal data.
func FromSlice(dt DType, data any, shape ...int) *Tensor {
	t := &Tensor{DType: dt, Shape: append([]int(nil), shape...), Data: data}
	if n := SliceLen(data); n != NumElements(shape) {
		panic(fmt.Sprintf("ops.FromSlice: %d elements for shape %v", n, shape))
	}
	return t
}

// Scalar returns a rank-0 tensor holding v, whose type picks the element type.
func Scalar[T Element](v T) *Tensor {
	dt := DTypeOf[T]()
	return &Tensor{DType: dt, Shape: []int{}, Data: []T{v}}
}

// Len returns the number of elements.
func (t *Tensor) Len() int { return NumElements(t.Shape) }

// Rank returns the number of dimensions.
func (t *Tensor) Rank() int { return len(t.Shape) }

// Clone returns a deep copy on the Go heap.
func (t *Tensor) Clone() *Tensor {
	var c *Tensor
	if len(t.Shape) <= 4 {
		// The header and its shape in one allocation (small outputs are
		// cloned on every run).
		b := &struct {
			t     Tensor
			shape [4]int
		}{}
		c = &b.t
		c.Shape = b.shape[:copy(b.shape[:], t.Shape):len(t.Shape)]
	} else {
		c = &Tensor{Shape: append([]int{}, t.Shape...)}
	}
	c.DType, c.Data = t.DType, MakeSlice(t.DType, t.Len())
	CopySlice(c.Data, t.Data)
	return c
}

// String formats the tensor's type and shape (not its data).
func (t *Tensor) String() string {
	return fmt.Sprintf("tensor(%s)%s", t.DType, ShapeString(t.Shape))
}

// Float32s returns the backing slice of a float32 tensor (nil otherwise).
func (t *Tensor) Float32s() []float32 { s, _ := t.Data.([]float32); return s }

// Float64s returns the backing slice of a float64 tensor (nil otherwise).
func (t *Tensor) Float64s() []float64 { s, _ := t.Data.([]float64); return s }

// Int64s returns the backing slice of an int64 tensor (nil otherwise).
func (t *Tensor) Int64s() []int64 { s, _ := t.Data.([]int64); return s }

// Int32s returns the backing slice of an int32 tensor (nil otherwise).
func (t *Tensor) Int32s() []int32 { s, _ := t.Data.([]int32); return s }

// Bools returns the backing slice of a bool tensor (nil otherwise).
func (t *Tensor) Bools() []bool { s, _ := t.Data.([]bool); return s }

// Strings returns the backing slice of a string tensor (nil otherwise).
func (t *Tensor) Strings() []string { s, _ := t.Data.([]string); return s }

// AsInt64s converts any integer (or bool) tensor's elements to int64, as
// shape-like inputs (Reshape's shape, Slice's starts) require. It allocates
// only when the tensor is not already int64.
func (t *Tensor) AsInt64s() ([]int64, error) {
	switch d := t.Data.(type) {
	case []int64:
		return d, nil
	case []int32:
		return convertSlice[int32, int64](d), nil
	case []int16:
		return convertSlice[int16, int64](d), nil
	case []int8:
		return convertSlice[int8, int64](d), nil
	case []uint8:
		return convertSlice[uint8, int64](d), nil
	case []uint16:
		return convertSlice[uint16, int64](d), nil
	case []uint32:
		return convertSlice[uint32, int64](d), nil
	case []uint64:
		return convertSlice[uint64, int64](d), nil
	}
	return nil, fmt.Errorf("expected an integer tensor, got %s", t.DType)
}

// AsFloat64s converts any numeric tensor's elements to float64 (allocating).
func (t *Tensor) AsFloat64s() ([]float64, error) {
	switch d := t.Data.(type) {
	case []float64:
		return append([]float64(nil), d...), nil
	case []float32:
		return convertSlice[float32, float64](d), nil
	case []F16:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v.Float32())
		}
		return out, nil
	case []BF16:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v.Float32())
		}
		return out, nil
	case []int64:
		return convertSlice[int64, float64](d), nil
	case []int32:
		return convertSlice[int32, float64](d), nil
	case []int16:
		return convertSlice[int16, float64](d), nil
	case []int8:
		return convertSlice[int8, float64](d), nil
	case []uint8:
		return convertSlice[uint8, float64](d), nil
	case []uint16:
		return convertSlice[uint16, float64](d), nil
	case []uint32:
		return convertSlice[uint32, float64](d), nil
	case []uint64:
		return convertSlice[uint64, float64](d), nil
	case []bool:
		out := make([]float64, len(d))
		for i, v := range d {
			if v {
				out[i] = 1
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("expected a numeric tensor, got %s", t.DType)
}

func convertSlice[S, D Number](s []S) []D {
	out := make([]D, len(s))
	for i, v := range s {
		out[i] = D(v)
	}
	return out
}

// NumElements returns the product of the dimensions (1 for a scalar).
func NumElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// ShapeString formats a shape as [2 3 4].
func ShapeString(shape []int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range shape {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, d)
	}
	b.WriteByte(']')
	return b.String()
}

// EqualShapes reports whether a and b have the same dimensions.
func EqualShapes(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Strides returns the row-major element strides of shape.
func Strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// NormalizeAxis maps a possibly negative axis into [0, rank) and reports an
// error naming the axis when it is out of range.
func NormalizeAxis(axis, rank int) (int, error) {
	if axis < -rank || axis >= rank {
		if rank == 0 && (axis == 0 || axis == -1) {
			return 0, nil
		}
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += rank
	}
	return axis, nil
}
