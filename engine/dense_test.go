package engine

import (
	"context"
	"testing"

	"github.com/agate-ml/agate/ops"
	"gorgonia.org/tensor"
)

func TestDenseRoundTrip(t *testing.T) {
	cases := []*tensor.Dense{
		tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{1, 2, 3, 4})),
		tensor.New(tensor.WithShape(3), tensor.WithBacking([]ops.F16{1, 2, 3})),
		tensor.New(tensor.WithShape(), tensor.WithBacking([]int64{7})),
		tensor.New(tensor.WithShape(0, 3), tensor.WithBacking([]float32{})),
		tensor.New(tensor.WithShape(2), tensor.WithBacking([]string{"a", "b"})),
	}
	for _, d := range cases {
		tt, err := FromDense(d)
		if err != nil {
			t.Fatal(err)
		}
		if tt.Len() != d.Size() || len(tt.Shape) != len(d.Shape()) && !d.Shape().IsScalar() {
			t.Fatalf("%v: got %v", d.Shape(), tt)
		}
		back := ToDense(tt)
		if !back.Shape().Eq(d.Shape()) {
			t.Fatalf("shape %v came back as %v", d.Shape(), back.Shape())
		}
	}
	ints, err := FromDense(tensor.New(tensor.WithShape(2), tensor.WithBacking([]int{1, -2})))
	if err != nil || ints.DType != ops.Int64 || ints.Int64s()[1] != -2 {
		t.Fatalf("Go int tensor: %v %v", ints, err)
	}
}

func TestRunDense(t *testing.T) {
	m, err := LoadBytes(marshal(t, model(addGraph())), WithRegistry(testRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x := tensor.New(tensor.WithShape(1, 3), tensor.WithBacking([]float32{1, 2, 3}))
	out, err := m.Run(context.Background(), map[string]*tensor.Dense{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	y := out["y"]
	if y.Shape()[1] != 3 || y.Data().([]float32)[2] != -6 {
		t.Fatalf("y = %v", y)
	}
}
