package ops

import (
	"context"
	"math"
	"testing"
)

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

func miscF64(t *testing.T, x *Tensor) []float64 {
	t.Helper()
	v, err := x.AsFloat64s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTrainingOptimizers(t *testing.T) {
	r := FromSlice(Float, []float32{0.1})
	f := func(v ...float32) *Tensor { return FromSlice(Float, v, len(v)) }
	d := func(v ...float64) *Tensor { return FromSlice(Double, v, len(v)) }
	step := func(n int64) *Tensor { return FromSlice(Int64, []int64{n}) }
	for _, tc := range []struct {
		name  string
		op    string
		in    []*Tensor
		nout  int
		attrs []any
		want  [][]float64
	}{
		{"adagrad", "Adagrad", []*Tensor{r, step(0), f(1, -1), f(2, 0), f(0, 1)}, 2, nil,
			[][]float64{{0.9, -1}, {4, 1}}},
		{"adagrad decay", "Adagrad", []*Tensor{r, step(1), f(1), f(2), f(0)}, 2, []any{"decay_factor", float32(1)},
			[][]float64{{0.95}, {4}}},
		{"adagrad norm double", "Adagrad", []*Tensor{FromSlice(Double, []float64{0.1}), step(0), d(1), d(2), d(0)}, 2, []any{"norm_coefficient", float32(1)},
			[][]float64{{0.9}, {9}}},
		{"adam first", "Adam", []*Tensor{r, step(0), f(1), f(2), f(0), f(0)}, 3, nil,
			[][]float64{{1 - 0.1*0.2/math.Sqrt(0.004)}, {0.2}, {0.004}}},
		{"adam bias corrected", "Adam", []*Tensor{r, step(1), f(1), f(2), f(0), f(0)}, 3, nil,
			[][]float64{{0.9}, {0.2}, {0.004}}},
		{"adam post", "Adam", []*Tensor{r, step(1), f(1), f(2), f(0), f(0)}, 3, []any{"norm_coefficient_post", float32(0.5)},
			[][]float64{{0.45}, {0.2}, {0.004}}},
		{"adam two tensors", "Adam", []*Tensor{r, step(1), f(1), f(1, 1), f(2), f(2, 2), f(0), f(0, 0), f(0), f(0, 0)}, 6, nil,
			[][]float64{{0.9}, {0.9, 0.9}, {0.2}, {0.2, 0.2}, {0.004}, {0.004, 0.004}}},
		{"momentum first", "Momentum", []*Tensor{r, step(0), f(1), f(2), f(1)}, 2,
			[]any{"alpha", float32(0.5), "beta", float32(0.2), "mode", "standard", "norm_coefficient", float32(0)},
			[][]float64{{0.75}, {2.5}}},
		{"momentum", "Momentum", []*Tensor{r, step(1), f(1), f(2), f(1)}, 2,
			[]any{"alpha", float32(0.5), "beta", float32(0.2), "mode", "standard", "norm_coefficient", float32(0)},
			[][]float64{{0.91}, {0.9}}},
		{"nesterov", "Momentum", []*Tensor{r, step(1), f(1), f(2), f(1)}, 2,
			[]any{"alpha", float32(0.5), "beta", float32(0.2), "mode", "nesterov", "norm_coefficient", float32(0)},
			[][]float64{{0.755}, {0.9}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := miscRun(t, DomainTraining, tc.op, 1, tc.in, tc.nout, tc.attrs...)
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tc.want {
				if out[i].DType != tc.in[2].DType {
					t.Fatalf("output %d is %s, want %s", i, out[i].DType, tc.in[2].DType)
				}
				miscNear(t, tc.name, miscF64(t, out[i]), w, 1e-5)
			}
		})
	}

	bad := []struct {
		name  string
		op    string
		in    []*Tensor
		attrs []any
	}{
		{"odd input count", "Adagrad", []*Tensor{r, step(0), f(1), f(2)}, nil},
		{"shape mismatch", "Adagrad", []*Tensor{r, step(0), f(1), f(2, 3), f(0)}, nil},
		{"vector rate", "Adagrad", []*Tensor{f(1, 2), step(0), f(1), f(2), f(0)}, nil},
		{"int tensors", "Adagrad", []*Tensor{r, step(0), FromSlice(Int32, []int32{1}, 1), FromSlice(Int32, []int32{1}, 1), FromSlice(Int32, []int32{1}, 1)}, nil},
		{"float step", "Adam", []*Tensor{r, f(0), f(1), f(2), f(0), f(0)}, nil},
	}
	for _, tc := range bad {
		if _, err := miscRun(t, DomainTraining, tc.op, 1, tc.in, 2, tc.attrs...); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if _, err := miscBuild(DomainTraining, "Momentum", 1, []string{"r", "t", "x", "g", "v"}, 2,
		"alpha", float32(0.5), "beta", float32(0.2), "mode", "heavy", "norm_coefficient", float32(0)); err == nil {
		t.Errorf("bad momentum mode accepted")
	}
	if _, err := miscBuild(DomainTraining, "Momentum", 1, []string{"r", "t", "x", "g", "v"}, 2, "alpha", float32(0.5)); err == nil {
		t.Errorf("missing momentum attributes accepted")
	}
}

func BenchmarkAdam(b *testing.B) {
	const n = 1 << 16
	in := []*Tensor{FromSlice(Float, []float32{0.01}), FromSlice(Int64, []int64{3})}
	for i := 0; i < 4; i++ {
		in = append(in, NewTensor(Float, n))
	}
	k, err := miscBuild(DomainTraining, "Adam", 1, []string{"r", "t", "x", "g", "v", "h"}, 3)
	if err != nil {
		b.Fatal(err)
	}
	ec := NewContext(context.Background(), nil, NewArena())
	out := make([]*Tensor, 3)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := k.(Kernel).Run(ec, in, out); err != nil {
			b.Fatal(err)
		}
		for _, o := range out {
			ec.Release(o)
		}
	}
}
