package signal

import (
	"context"
	"math/rand"
	"testing"

	"github.com/agate-ml/agate/ops"
	"github.com/agate-ml/agate/ops/internal/kerneltest"
)

// Test helpers over package kerneltest, named as in package ops's spatial
// kernel tests; kernels are built from a registry holding this package's
// operators only.

func cvtInt(name string, v int64) *ops.Attr { return kerneltest.Attr(name, v) }

func cvtF32(shape []int, v ...float32) *ops.Tensor { return ops.FromSlice(ops.Float, v, shape...) }
func cvtI64(shape []int, v ...int64) *ops.Tensor   { return ops.FromSlice(ops.Int64, v, shape...) }

func cvtRand(r *rand.Rand, shape ...int) *ops.Tensor { return kerneltest.Rand(r, shape...) }

// cvtRun builds and runs op on in (nil entries are omitted inputs).
func cvtRun(t testing.TB, op string, version int, attrs []*ops.Attr, nout int, in ...*ops.Tensor) ([]*ops.Tensor, error) {
	t.Helper()
	return kerneltest.Run(Register, "", op, version, attrs, nout, in...)
}

// cvtMust runs op and fails the test on error.
func cvtMust(t *testing.T, op string, version int, attrs []*ops.Attr, nout int, in ...*ops.Tensor) []*ops.Tensor {
	t.Helper()
	out, err := cvtRun(t, op, version, attrs, nout, in...)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	return out
}

// cvtCheck compares a tensor's shape and values.
func cvtCheck(t *testing.T, name string, got *ops.Tensor, shape []int, want []float64, tol float64) {
	t.Helper()
	kerneltest.Check(t, name, got, shape, want, tol)
}

// cvtWantErr checks that err is non-nil and mentions substr.
func cvtWantErr(t *testing.T, name string, err error, substr string) {
	t.Helper()
	kerneltest.WantErr(t, name, err, substr)
}

// cvtBench runs op on in b.N times on a worker pool and an arena.
func cvtBench(b *testing.B, op string, version int, attrs []*ops.Attr, in ...*ops.Tensor) {
	pool := ops.NewPool(0)
	defer pool.Close()
	ec := ops.NewContext(context.Background(), pool, ops.NewArena())
	names := make([]string, len(in))
	for i := range names {
		names[i] = "in"
	}
	k, err := kerneltest.Build(Register, "", op, version, names, 1, attrs)
	if err != nil {
		b.Fatal(err)
	}
	out := make([]*ops.Tensor, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := k.(ops.Kernel).Run(ec, in, out); err != nil {
			b.Fatal(err)
		}
		ec.Release(out[0])
	}
}
