package training

import (
	"context"
	"math"
	"testing"

	"github.com/agate-ml/agate/ops"
)

func TestTrainingOptimizers(t *testing.T) {
	r := ops.FromSlice(ops.Float, []float32{0.1})
	f := func(v ...float32) *ops.Tensor { return ops.FromSlice(ops.Float, v, len(v)) }
	d := func(v ...float64) *ops.Tensor { return ops.FromSlice(ops.Double, v, len(v)) }
	step := func(n int64) *ops.Tensor { return ops.FromSlice(ops.Int64, []int64{n}) }
	for _, tc := range []struct {
		name  string
		op    string
		in    []*ops.Tensor
		nout  int
		attrs []any
		want  [][]float64
	}{
		{"adagrad", "Adagrad", []*ops.Tensor{r, step(0), f(1, -1), f(2, 0), f(0, 1)}, 2, nil,
			[][]float64{{0.9, -1}, {4, 1}}},
		{"adagrad decay", "Adagrad", []*ops.Tensor{r, step(1), f(1), f(2), f(0)}, 2, []any{"decay_factor", float32(1)},
			[][]float64{{0.95}, {4}}},
		{"adagrad norm double", "Adagrad", []*ops.Tensor{ops.FromSlice(ops.Double, []float64{0.1}), step(0), d(1), d(2), d(0)}, 2, []any{"norm_coefficient", float32(1)},
			[][]float64{{0.9}, {9}}},
		{"adam first", "Adam", []*ops.Tensor{r, step(0), f(1), f(2), f(0), f(0)}, 3, nil,
			[][]float64{{1 - 0.1*0.2/math.Sqrt(0.004)}, {0.2}, {0.004}}},
		{"adam bias corrected", "Adam", []*ops.Tensor{r, step(1), f(1), f(2), f(0), f(0)}, 3, nil,
			[][]float64{{0.9}, {0.2}, {0.004}}},
		{"adam post", "Adam", []*ops.Tensor{r, step(1), f(1), f(2), f(0), f(0)}, 3, []any{"norm_coefficient_post", float32(0.5)},
			[][]float64{{0.45}, {0.2}, {0.004}}},
		{"adam two tensors", "Adam", []*ops.Tensor{r, step(1), f(1), f(1, 1), f(2), f(2, 2), f(0), f(0, 0), f(0), f(0, 0)}, 6, nil,
			[][]float64{{0.9}, {0.9, 0.9}, {0.2}, {0.2, 0.2}, {0.004}, {0.004, 0.004}}},
		{"momentum first", "Momentum", []*ops.Tensor{r, step(0), f(1), f(2), f(1)}, 2,
			[]any{"alpha", float32(0.5), "beta", float32(0.2), "mode", "standard", "norm_coefficient", float32(0)},
			[][]float64{{0.75}, {2.5}}},
		{"momentum", "Momentum", []*ops.Tensor{r, step(1), f(1), f(2), f(1)}, 2,
			[]any{"alpha", float32(0.5), "beta", float32(0.2), "mode", "standard", "norm_coefficient", float32(0)},
			[][]float64{{0.91}, {0.9}}},
		{"nesterov", "Momentum", []*ops.Tensor{r, step(1), f(1), f(2), f(1)}, 2,
			[]any{"alpha", float32(0.5), "beta", float32(0.2), "mode", "nesterov", "norm_coefficient", float32(0)},
			[][]float64{{0.755}, {0.9}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := miscRun(t, Domain, tc.op, 1, tc.in, tc.nout, tc.attrs...)
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
		in    []*ops.Tensor
		attrs []any
	}{
		{"odd input count", "Adagrad", []*ops.Tensor{r, step(0), f(1), f(2)}, nil},
		{"shape mismatch", "Adagrad", []*ops.Tensor{r, step(0), f(1), f(2, 3), f(0)}, nil},
		{"vector rate", "Adagrad", []*ops.Tensor{f(1, 2), step(0), f(1), f(2), f(0)}, nil},
		{"int tensors", "Adagrad", []*ops.Tensor{r, step(0), ops.FromSlice(ops.Int32, []int32{1}, 1), ops.FromSlice(ops.Int32, []int32{1}, 1), ops.FromSlice(ops.Int32, []int32{1}, 1)}, nil},
		{"float step", "Adam", []*ops.Tensor{r, f(0), f(1), f(2), f(0), f(0)}, nil},
	}
	for _, tc := range bad {
		if _, err := miscRun(t, Domain, tc.op, 1, tc.in, 2, tc.attrs...); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if _, err := miscBuild(Domain, "Momentum", 1, []string{"r", "t", "x", "g", "v"}, 2,
		"alpha", float32(0.5), "beta", float32(0.2), "mode", "heavy", "norm_coefficient", float32(0)); err == nil {
		t.Errorf("bad momentum mode accepted")
	}
	if _, err := miscBuild(Domain, "Momentum", 1, []string{"r", "t", "x", "g", "v"}, 2, "alpha", float32(0.5)); err == nil {
		t.Errorf("missing momentum attributes accepted")
	}
}

func BenchmarkAdam(b *testing.B) {
	const n = 1 << 16
	in := []*ops.Tensor{ops.FromSlice(ops.Float, []float32{0.01}), ops.FromSlice(ops.Int64, []int64{3})}
	for i := 0; i < 4; i++ {
		in = append(in, ops.NewTensor(ops.Float, n))
	}
	k, err := miscBuild(Domain, "Adam", 1, []string{"r", "t", "x", "g", "v", "h"}, 3)
	if err != nil {
		b.Fatal(err)
	}
	ec := ops.NewContext(context.Background(), nil, ops.NewArena())
	out := make([]*ops.Tensor, 3)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := k.(ops.Kernel).Run(ec, in, out); err != nil {
			b.Fatal(err)
		}
		for _, o := range out {
			ec.Release(o)
		}
	}
}
