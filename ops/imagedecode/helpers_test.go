package imagedecode

import (
	"reflect"
	"testing"

	"github.com/agate-ml/agate/ops"
	"github.com/agate-ml/agate/ops/internal/kerneltest"
)

// Test helpers over package kerneltest; kernels are built from a registry
// holding this package's operators only.

// miscBuild builds the kernel for op in domain at version with the given
// inputs (names; "" omitted), number of outputs and attributes
// (name, value pairs).
func miscBuild(domain, op string, version int, inputs []string, nout int, attrs ...any) (any, error) {
	return kerneltest.Build(Register, domain, op, version, inputs, nout, kerneltest.Attrs(attrs...))
}

// miscRun builds and runs a kernel, returning its outputs.
func miscRun(t *testing.T, domain, op string, version int, in []*ops.Tensor, nout int, attrs ...any) ([]*ops.Tensor, error) {
	t.Helper()
	return kerneltest.Run(Register, domain, op, version, kerneltest.Attrs(attrs...), nout, in...)
}

// miscCheck fails t unless got has type dt, the given shape and data.
func miscCheck(t *testing.T, got *ops.Tensor, dt ops.DType, shape []int, data any) {
	t.Helper()
	if got == nil {
		t.Fatalf("output not set")
	}
	if got.DType != dt || !ops.EqualShapes(got.Shape, shape) {
		t.Fatalf("got %v, want %s%v", got, dt, shape)
	}
	if !reflect.DeepEqual(got.Data, data) {
		t.Fatalf("got %v, want %v", got.Data, data)
	}
}
