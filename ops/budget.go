package ops

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// ErrTensorBudget is wrapped by BudgetError.
var ErrTensorBudget = errors.New("tensor larger than the memory budget")

// BudgetError reports a tensor a kernel asked for that is larger than the
// context's MaxTensorBytes (a hostile or mistaken shape), refused before
// any memory is allocated.
type BudgetError struct {
	DType DType
	Shape []int
	Bytes int64 // math.MaxInt64 when the size overflows
	Limit int64
}

func (e *BudgetError) Error() string {
	size := fmt.Sprintf("%d bytes", e.Bytes)
	if e.Bytes == math.MaxInt64 {
		size = "more bytes than an int64 holds"
	}
	return fmt.Sprintf("a %s tensor of shape %v needs %s, over the budget of %d bytes for one tensor", e.DType, e.Shape, size, e.Limit)
}

// Unwrap returns ErrTensorBudget.
func (e *BudgetError) Unwrap() error { return ErrTensorBudget }

// TensorBytes returns the bytes a tensor of the type and shape holds, or
// math.MaxInt64 when that overflows (negative dimensions count as 0).
func TensorBytes(dt DType, shape []int) int64 {
	n := uint64(max(dt.Size(), 1))
	for _, d := range shape {
		if d <= 0 {
			return 0
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return math.MaxInt64
		}
		n = lo
	}
	return int64(n)
}

// checkBudget panics with a *BudgetError when the tensor would exceed the
// context's budget; the engine turns the panic into the step's error.
func (c *Context) checkBudget(dt DType, shape []int) {
	if c.MaxTensorBytes <= 0 {
		return
	}
	if b := TensorBytes(dt, shape); b > c.MaxTensorBytes {
		panic(&BudgetError{DType: dt, Shape: append([]int(nil), shape...), Bytes: b, Limit: c.MaxTensorBytes})
	}
}

// RecoverBudget turns a *BudgetError panic raised by Context.New or Empty
// into *err; other panics continue. Use it deferred around a kernel call.
func RecoverBudget(err *error) {
	if r := recover(); r != nil {
		be, ok := r.(*BudgetError)
		if !ok {
			panic(r)
		}
		*err = be
	}
}
