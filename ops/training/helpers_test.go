package training

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/agate-ml/agate/ops"
)

// Test helpers, after those of package ops's tests; kernels are built from a
// registry holding this package's operators only.

// miscAttr builds an attribute from a Go value (int, float32, string).
func miscAttr(name string, v any) *ops.Attr {
	switch x := v.(type) {
	case int:
		return &ops.Attr{Name: name, Type: ops.AttrInt, I: int64(x)}
	case float32:
		return &ops.Attr{Name: name, Type: ops.AttrFloat, F: x}
	case string:
		return &ops.Attr{Name: name, Type: ops.AttrString, S: x}
	}
	panic(fmt.Sprintf("miscAttr: %T", v))
}

// miscBuild builds the kernel for op in domain at version with the given
// inputs (names; "" omitted), number of outputs and attributes
// (name, value pairs).
func miscBuild(domain, op string, version int, inputs []string, nout int, attrs ...any) (any, error) {
	var list []*ops.Attr
	for i := 0; i < len(attrs); i += 2 {
		list = append(list, miscAttr(attrs[i].(string), attrs[i+1]))
	}
	outs := make([]string, nout)
	for i := range outs {
		outs[i] = fmt.Sprintf("out%d", i)
	}
	r := ops.NewRegistry()
	Register(r)
	return r.Build(&ops.Node{OpType: op, Domain: ops.CanonicalDomain(domain), Version: version,
		Attrs: ops.NewAttrs(list...), Inputs: inputs, Outputs: outs})
}

// miscRun builds and runs a kernel, returning its outputs.
func miscRun(t *testing.T, domain, op string, version int, in []*ops.Tensor, nout int, attrs ...any) ([]*ops.Tensor, error) {
	t.Helper()
	names := make([]string, len(in))
	for i, x := range in {
		if x != nil {
			names[i] = fmt.Sprintf("in%d", i)
		}
	}
	k, err := miscBuild(domain, op, version, names, nout, attrs...)
	if err != nil {
		return nil, err
	}
	out := make([]*ops.Tensor, nout)
	ec := ops.NewContext(context.Background(), nil, nil)
	if err := k.(ops.Kernel).Run(ec, in, out); err != nil {
		return nil, err
	}
	return out, nil
}

// miscNear fails t unless got and want agree within tol relative to
// 1+|want| element by element.
func miscNear(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol*(1+math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %v, want %v (all: %v)", what, i, got[i], want[i], got)
		}
	}
}

// miscF64 returns x's elements as float64.
func miscF64(t *testing.T, x *ops.Tensor) []float64 {
	t.Helper()
	v, err := x.AsFloat64s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}
