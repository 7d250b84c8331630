package signal

import (
	"context"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/agate-ml/agate/ops"
)

// Test helpers, after those of package ops's spatial kernel tests; kernels
// are built from a registry holding this package's operators only.

func cvtInt(name string, v int64) *ops.Attr { return &ops.Attr{Name: name, Type: ops.AttrInt, I: v} }

func cvtF32(shape []int, v ...float32) *ops.Tensor { return ops.FromSlice(ops.Float, v, shape...) }
func cvtI64(shape []int, v ...int64) *ops.Tensor   { return ops.FromSlice(ops.Int64, v, shape...) }

func cvtRand(r *rand.Rand, shape ...int) *ops.Tensor {
	v := make([]float32, ops.NumElements(shape))
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return ops.FromSlice(ops.Float, v, shape...)
}

// cvtBuild creates the kernel for op at the given opset version.
func cvtBuild(op string, version int, attrs []*ops.Attr, nin, nout int) (any, error) {
	n := &ops.Node{OpType: op, Domain: ops.DomainONNX, Version: version, Attrs: ops.NewAttrs(attrs...)}
	for i := 0; i < nin; i++ {
		n.Inputs = append(n.Inputs, "in")
	}
	for i := 0; i < nout; i++ {
		n.Outputs = append(n.Outputs, "out")
	}
	r := ops.NewRegistry()
	Register(r)
	return r.Build(n)
}

// cvtRun builds and runs op on in (nil entries are omitted inputs).
func cvtRun(t testing.TB, op string, version int, attrs []*ops.Attr, nout int, in ...*ops.Tensor) ([]*ops.Tensor, error) {
	t.Helper()
	k, err := cvtBuild(op, version, attrs, len(in), nout)
	if err != nil {
		return nil, err
	}
	out := make([]*ops.Tensor, nout)
	if err := k.(ops.Kernel).Run(ops.NewContext(context.Background(), nil, nil), in, out); err != nil {
		return nil, err
	}
	return out, nil
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
	if got == nil {
		t.Fatalf("%s: nil output", name)
	}
	if !ops.EqualShapes(got.Shape, shape) {
		t.Fatalf("%s: shape %v, want %v", name, got.Shape, shape)
	}
	vals, err := got.AsFloat64s()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(vals) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(vals), len(want))
	}
	for i := range want {
		if d := math.Abs(vals[i] - want[i]); d > tol*(1+math.Abs(want[i])) || math.IsNaN(vals[i]) != math.IsNaN(want[i]) {
			t.Fatalf("%s: element %d = %v, want %v (all: %v)", name, i, vals[i], want[i], vals)
		}
	}
}

// cvtWantErr checks that err is non-nil and mentions substr.
func cvtWantErr(t *testing.T, name string, err error, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want one mentioning %q", name, substr)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("%s: error %q does not mention %q", name, err, substr)
	}
}

// cvtBench runs op on in b.N times on a worker pool and an arena.
func cvtBench(b *testing.B, op string, version int, attrs []*ops.Attr, in ...*ops.Tensor) {
	pool := ops.NewPool(0)
	defer pool.Close()
	ec := ops.NewContext(context.Background(), pool, ops.NewArena())
	k, err := cvtBuild(op, version, attrs, len(in), 1)
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
