// Package kerneltest holds the helpers the tests of ops's family packages
// (imagedecode, signal, training) share: building a kernel from a registry
// holding one family, running it, and comparing its outputs.
package kerneltest

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/agate-ml/agate/ops"
)

// Attr builds an attribute from a Go value (int, int64, float32, string).
func Attr(name string, v any) *ops.Attr {
	switch x := v.(type) {
	case int:
		return &ops.Attr{Name: name, Type: ops.AttrInt, I: int64(x)}
	case int64:
		return &ops.Attr{Name: name, Type: ops.AttrInt, I: x}
	case float32:
		return &ops.Attr{Name: name, Type: ops.AttrFloat, F: x}
	case string:
		return &ops.Attr{Name: name, Type: ops.AttrString, S: x}
	}
	panic(fmt.Sprintf("kerneltest.Attr: %T", v))
}

// Attrs builds attributes from name, value pairs.
func Attrs(pairs ...any) []*ops.Attr {
	var list []*ops.Attr
	for i := 0; i < len(pairs); i += 2 {
		list = append(list, Attr(pairs[i].(string), pairs[i+1]))
	}
	return list
}

// Build creates the kernel for op in domain at version from a registry
// holding what register adds, with the given input names ("" omitted),
// nout outputs and attributes.
func Build(register func(*ops.Registry), domain, op string, version int, inputs []string, nout int, attrs []*ops.Attr) (any, error) {
	outs := make([]string, nout)
	for i := range outs {
		outs[i] = fmt.Sprintf("out%d", i)
	}
	r := ops.NewRegistry()
	register(r)
	return r.Build(&ops.Node{OpType: op, Domain: ops.CanonicalDomain(domain), Version: version,
		Attrs: ops.NewAttrs(attrs...), Inputs: inputs, Outputs: outs})
}

// Run builds op as Build does (inputs named after in, nil ones omitted)
// and runs it on in with a heap context.
func Run(register func(*ops.Registry), domain, op string, version int, attrs []*ops.Attr, nout int, in ...*ops.Tensor) ([]*ops.Tensor, error) {
	names := make([]string, len(in))
	for i, x := range in {
		if x != nil {
			names[i] = fmt.Sprintf("in%d", i)
		}
	}
	k, err := Build(register, domain, op, version, names, nout, attrs)
	if err != nil {
		return nil, err
	}
	out := make([]*ops.Tensor, nout)
	if err := k.(ops.Kernel).Run(ops.NewContext(context.Background(), nil, nil), in, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Rand returns a float32 tensor of the given shape with values in [-1, 1).
func Rand(r *rand.Rand, shape ...int) *ops.Tensor {
	v := make([]float32, ops.NumElements(shape))
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return ops.FromSlice(ops.Float, v, shape...)
}

// F64 returns x's elements as float64.
func F64(t testing.TB, x *ops.Tensor) []float64 {
	t.Helper()
	v, err := x.AsFloat64s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Near fails t unless got and want agree within tol relative to 1+|want|
// element by element (NaN only where want is NaN).
func Near(t testing.TB, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol*(1+math.Abs(want[i])) || math.IsNaN(got[i]) != math.IsNaN(want[i]) {
			t.Fatalf("%s[%d] = %v, want %v (all: %v)", what, i, got[i], want[i], got)
		}
	}
}

// Check compares a tensor's shape and values (within tol relative to
// 1+|want|).
func Check(t testing.TB, name string, got *ops.Tensor, shape []int, want []float64, tol float64) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil output", name)
		return
	}
	if !ops.EqualShapes(got.Shape, shape) {
		t.Fatalf("%s: shape %v, want %v", name, got.Shape, shape)
	}
	Near(t, name, F64(t, got), want, tol)
}

// WantErr fails t unless err is non-nil and mentions substr.
func WantErr(t testing.TB, name string, err error, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want one mentioning %q", name, substr)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("%s: error %q does not mention %q", name, err, substr)
	}
}
