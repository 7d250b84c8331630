package engine

import (
	"context"
	"fmt"
	"reflect"

	"github.com/agate-ml/agate/ops"
	"gorgonia.org/tensor"
)

// dtypeOfGo maps a Go element type to its ONNX element type.
var dtypeOfGo = map[reflect.Type]ops.DType{
	reflect.TypeOf(float32(0)):    ops.Float,
	reflect.TypeOf(float64(0)):    ops.Double,
	reflect.TypeOf(ops.F16(0)):    ops.Float16,
	reflect.TypeOf(ops.BF16(0)):   ops.BFloat16,
	reflect.TypeOf(int8(0)):       ops.Int8,
	reflect.TypeOf(int16(0)):      ops.Int16,
	reflect.TypeOf(int32(0)):      ops.Int32,
	reflect.TypeOf(int64(0)):      ops.Int64,
	reflect.TypeOf(uint8(0)):      ops.Uint8,
	reflect.TypeOf(uint16(0)):     ops.Uint16,
	reflect.TypeOf(uint32(0)):     ops.Uint32,
	reflect.TypeOf(uint64(0)):     ops.Uint64,
	reflect.TypeOf(false):         ops.Bool,
	reflect.TypeOf(""):            ops.String,
	reflect.TypeOf(complex64(0)):  ops.Complex64,
	reflect.TypeOf(complex128(0)): ops.Complex128,
}

// FromDense converts a gorgonia Dense tensor to the engine's tensor type,
// sharing its backing slice when the tensor is contiguous. float16 and
// bfloat16 tensors use ops.F16 and ops.BF16 elements; int tensors (Go int)
// are converted to int64.
func FromDense(d *tensor.Dense) (*ops.Tensor, error) {
	if d == nil {
		return nil, fmt.Errorf("nil tensor")
	}
	if d.IsView() || !d.IsNativelyAccessible() {
		d = d.Materialize().(*tensor.Dense)
	}
	shape := make([]int, len(d.Shape()))
	copy(shape, d.Shape())
	elem := d.Dtype().Type
	if elem == reflect.TypeOf(int(0)) {
		// Go int has no ONNX type: widen to int64.
		vals := make([]int64, d.Size())
		if d.Size() > 0 {
			if d.Shape().IsScalar() {
				vals[0] = int64(d.Data().(int))
			} else {
				for i, v := range d.Data().([]int) {
					vals[i] = int64(v)
				}
			}
		}
		return &ops.Tensor{DType: ops.Int64, Shape: shape, Data: vals}, nil
	}
	dt, ok := dtypeOfGo[elem]
	if !ok {
		return nil, fmt.Errorf("tensors of %s have no ONNX element type", d.Dtype())
	}
	n := d.Size()
	if d.Shape().IsScalar() {
		shape = shape[:0]
		s := reflect.MakeSlice(reflect.SliceOf(elem), 1, 1)
		s.Index(0).Set(reflect.ValueOf(d.Data()))
		return &ops.Tensor{DType: dt, Shape: shape, Data: s.Interface()}, nil
	}
	if n == 0 {
		return &ops.Tensor{DType: dt, Shape: shape, Data: ops.MakeSlice(dt, 0)}, nil
	}
	return &ops.Tensor{DType: dt, Shape: shape, Data: d.Data()}, nil
}

// ToDense wraps an engine tensor as a gorgonia Dense tensor sharing its data.
// Rank-0 tensors become gorgonia scalars.
func ToDense(t *ops.Tensor) *tensor.Dense {
	if len(t.Shape) == 0 {
		return tensor.New(tensor.WithShape(), tensor.WithBacking(t.Data))
	}
	return tensor.New(tensor.WithShape(t.Shape...), tensor.WithBacking(t.Data))
}

// Run runs the model on gorgonia Dense inputs keyed by input name and
// returns the tensor outputs keyed by name. It fails if an output is not a
// tensor (a sequence or map: use RunValues). The outputs belong to the caller.
func (m *Model) Run(ctx context.Context, inputs map[string]*tensor.Dense) (map[string]*tensor.Dense, error) {
	vals := make(map[string]ops.Value, len(inputs))
	for name, d := range inputs {
		t, err := FromDense(d)
		if err != nil {
			return nil, fmt.Errorf("%w: input %q: %v", ErrInput, name, err)
		}
		vals[name] = t
	}
	out, err := m.RunValues(ctx, vals)
	if err != nil {
		return nil, err
	}
	res := make(map[string]*tensor.Dense, len(out))
	for name, v := range out {
		t, ok := v.(*ops.Tensor)
		if !ok {
			return nil, fmt.Errorf("output %q is a %T, not a tensor: use RunValues", name, v)
		}
		res[name] = ToDense(t)
	}
	return res, nil
}
