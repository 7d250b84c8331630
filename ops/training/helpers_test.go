package training

import (
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

// miscNear fails t unless got and want agree within tol relative to
// 1+|want| element by element.
func miscNear(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	kerneltest.Near(t, what, got, want, tol)
}

// miscF64 returns x's elements as float64.
func miscF64(t *testing.T, x *ops.Tensor) []float64 {
	t.Helper()
	return kerneltest.F64(t, x)
}
