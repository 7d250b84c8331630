package ops

import (
	"context"
	"math"
	"math/rand"
	"strings"
	"testing"
)

// Helpers shared by the convolution, pooling, resize, image and recurrent
// kernel tests.

func cvtInts(name string, v ...int64) *Attr { return &Attr{Name: name, Type: AttrInts, Ints: v} }
func cvtInt(name string, v int64) *Attr     { return &Attr{Name: name, Type: AttrInt, I: v} }
func cvtFloat(name string, v float32) *Attr { return &Attr{Name: name, Type: AttrFloat, F: v} }
func cvtStr(name, v string) *Attr           { return &Attr{Name: name, Type: AttrString, S: v} }
func cvtStrs(name string, v ...string) *Attr {
	return &Attr{Name: name, Type: AttrStrings, Strings: v}
}
func cvtFloats(name string, v ...float32) *Attr {
	return &Attr{Name: name, Type: AttrFloats, Floats: v}
}

func cvtF32(shape []int, v ...float32) *Tensor { return FromSlice(Float, v, shape...) }
func cvtI64(shape []int, v ...int64) *Tensor   { return FromSlice(Int64, v, shape...) }

// cvtSeq returns the float32 tensor 0, 1, 2, ... of the given shape.
func cvtSeq(shape ...int) *Tensor {
	v := make([]float32, NumElements(shape))
	for i := range v {
		v[i] = float32(i)
	}
	return FromSlice(Float, v, shape...)
}

func cvtRand(r *rand.Rand, shape ...int) *Tensor {
	v := make([]float32, NumElements(shape))
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return FromSlice(Float, v, shape...)
}

// cvtBuild creates the kernel for op at the given opset version.
func cvtBuild(op string, version int, attrs []*Attr, nin, nout int) (any, error) {
	n := &Node{OpType: op, Domain: DomainONNX, Version: version, Attrs: NewAttrs(attrs...)}
	for i := 0; i < nin; i++ {
		n.Inputs = append(n.Inputs, "in")
	}
	for i := 0; i < nout; i++ {
		n.Outputs = append(n.Outputs, "out")
	}
	return DefaultRegistry().Build(n)
}

// cvtRunCtx builds and runs op on in (nil entries are omitted inputs).
func cvtRunCtx(ec *Context, op string, version int, attrs []*Attr, nout int, in ...*Tensor) ([]*Tensor, error) {
	k, err := cvtBuild(op, version, attrs, len(in), nout)
	if err != nil {
		return nil, err
	}
	out := make([]*Tensor, nout)
	if err := k.(Kernel).Run(ec, in, out); err != nil {
		return nil, err
	}
	return out, nil
}

func cvtRun(t testing.TB, op string, version int, attrs []*Attr, nout int, in ...*Tensor) ([]*Tensor, error) {
	t.Helper()
	return cvtRunCtx(NewContext(context.Background(), nil, nil), op, version, attrs, nout, in...)
}

// cvtMust runs op and fails the test on error.
func cvtMust(t *testing.T, op string, version int, attrs []*Attr, nout int, in ...*Tensor) []*Tensor {
	t.Helper()
	out, err := cvtRun(t, op, version, attrs, nout, in...)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	return out
}

// cvtCheck compares a tensor's shape and values.
func cvtCheck(t *testing.T, name string, got *Tensor, shape []int, want []float64, tol float64) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil output", name)
	}
	if !EqualShapes(got.Shape, shape) {
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

func cvtBench(b *testing.B, op string, version int, attrs []*Attr, in ...*Tensor) {
	pool := NewPool(0)
	defer pool.Close()
	ec := NewContext(context.Background(), pool, NewArena())
	k, err := cvtBuild(op, version, attrs, len(in), 1)
	if err != nil {
		b.Fatal(err)
	}
	out := make([]*Tensor, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := k.(Kernel).Run(ec, in, out); err != nil {
			b.Fatal(err)
		}
		ec.Release(out[0])
	}
}
