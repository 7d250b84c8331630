package ops

import (
	"context"
	"math"
	"reflect"
	"testing"
)

// miscStats returns the mean and standard deviation of xs.
func miscStats(xs []float64) (mean, std float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(xs)))
}

func TestRandomNormalUniform(t *testing.T) {
	const n = 200000
	out, err := miscRun(t, "", "RandomNormal", 22, nil, 1, "shape", []int64{400, 500}, "mean", float32(3), "scale", float32(2), "seed", float32(7))
	if err != nil {
		t.Fatal(err)
	}
	if out[0].DType != Float || !EqualShapes(out[0].Shape, []int{400, 500}) {
		t.Fatalf("got %v", out[0])
	}
	m, s := miscStats(miscF64(t, out[0]))
	if math.Abs(m-3) > 0.03 || math.Abs(s-2) > 0.03 {
		t.Errorf("normal: mean %v std %v, want 3 and 2", m, s)
	}
	again, err := miscRun(t, "", "RandomNormal", 22, nil, 1, "shape", []int64{400, 500}, "mean", float32(3), "scale", float32(2), "seed", float32(7))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out[0].Data, again[0].Data) {
		t.Errorf("seeded RandomNormal differs between runs")
	}
	other, err := miscRun(t, "", "RandomNormal", 22, nil, 1, "shape", []int64{400, 500}, "mean", float32(3), "scale", float32(2), "seed", float32(8))
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(out[0].Data, other[0].Data) {
		t.Errorf("seeds 7 and 8 give the same values")
	}

	out, err = miscRun(t, "", "RandomUniform", 22, nil, 1, "shape", []int64{n}, "low", float32(-1), "high", float32(3), "dtype", int(Double))
	if err != nil {
		t.Fatal(err)
	}
	u := out[0].Float64s()
	if u == nil || len(u) != n {
		t.Fatalf("got %v", out[0])
	}
	for _, x := range u {
		if x < -1 || x >= 3 {
			t.Fatalf("uniform value %v outside [-1, 3)", x)
		}
	}
	m, s = miscStats(u)
	if math.Abs(m-1) > 0.02 || math.Abs(s-4/math.Sqrt(12)) > 0.02 {
		t.Errorf("uniform: mean %v std %v", m, s)
	}
	unseeded1, _ := miscRun(t, "", "RandomUniform", 22, nil, 1, "shape", []int64{16})
	unseeded2, _ := miscRun(t, "", "RandomUniform", 22, nil, 1, "shape", []int64{16})
	if reflect.DeepEqual(unseeded1[0].Data, unseeded2[0].Data) {
		t.Errorf("unseeded RandomUniform repeats itself")
	}

	// Like variants take the input's shape and (by default) type.
	x := NewTensor(Float16, 3, 4)
	out, err = miscRun(t, "", "RandomUniformLike", 22, []*Tensor{x}, 1, "low", float32(5), "high", float32(6))
	if err != nil {
		t.Fatal(err)
	}
	if out[0].DType != Float16 || !EqualShapes(out[0].Shape, []int{3, 4}) {
		t.Fatalf("got %v", out[0])
	}
	for _, v := range miscF64(t, out[0]) {
		if v < 5 || v > 6 {
			t.Fatalf("value %v outside [5, 6]", v)
		}
	}
	out, err = miscRun(t, "", "RandomNormalLike", 22, []*Tensor{NewTensor(Int32, 2, 0, 3)}, 1, "dtype", int(BFloat16))
	if err != nil {
		t.Fatal(err)
	}
	if out[0].DType != BFloat16 || !EqualShapes(out[0].Shape, []int{2, 0, 3}) {
		t.Fatalf("got %v", out[0])
	}
	if _, err := miscRun(t, "", "RandomNormalLike", 22, []*Tensor{NewTensor(Int32, 2)}, 1); err == nil {
		t.Errorf("int32 input without dtype accepted")
	}
	for _, attrs := range [][]any{
		{},                        // no shape
		{"shape", []int64{2, -1}}, // negative dimension
		{"shape", []int64{2}, "dtype", int(Int32)}, // not a float type
	} {
		if _, err := miscBuild("", "RandomNormal", 22, nil, 1, attrs...); err == nil {
			t.Errorf("RandomNormal %v accepted", attrs)
		}
	}
	if _, err := miscBuild("", "RandomUniform", 22, nil, 1, "shape", []int64{2}, "low", float32(2), "high", float32(1)); err == nil {
		t.Errorf("high < low accepted")
	}
}

func TestBernoulli(t *testing.T) {
	p := FromSlice(Double, []float64{0, 1, 0, 1, 1}, 5)
	out, err := miscRun(t, "", "Bernoulli", 22, []*Tensor{p}, 1)
	if err != nil {
		t.Fatal(err)
	}
	miscCheck(t, out[0], Double, []int{5}, []float64{0, 1, 0, 1, 1})
	out, err = miscRun(t, "", "Bernoulli", 22, []*Tensor{p}, 1, "dtype", int(Bool))
	if err != nil {
		t.Fatal(err)
	}
	miscCheck(t, out[0], Bool, []int{5}, []bool{false, true, false, true, true})

	const n = 100000
	probs := make([]float32, n)
	for i := range probs {
		probs[i] = 0.3
	}
	out, err = miscRun(t, "", "Bernoulli", 22, []*Tensor{FromSlice(Float, probs, n)}, 1, "dtype", int(Int64), "seed", float32(1))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := miscStats(miscF64(t, out[0]))
	if math.Abs(m-0.3) > 0.01 {
		t.Errorf("mean %v, want 0.3", m)
	}
	if _, err := miscRun(t, "", "Bernoulli", 22, []*Tensor{FromSlice(Int32, []int32{1}, 1)}, 1); err == nil {
		t.Errorf("int32 probabilities accepted")
	}
	if _, err := miscBuild("", "Bernoulli", 22, []string{"p"}, 1, "dtype", int(String)); err == nil {
		t.Errorf("string dtype accepted")
	}
}

func TestMultinomial(t *testing.T) {
	const samples = 60000
	ninf := float32(math.Inf(-1))
	logits := FromSlice(Float, []float32{0, ninf, float32(math.Log(3)), 5, 5, 5}, 2, 3)
	out, err := miscRun(t, "", "Multinomial", 22, []*Tensor{logits}, 1, "sample_size", samples, "dtype", int(Int64), "seed", float32(3))
	if err != nil {
		t.Fatal(err)
	}
	if out[0].DType != Int64 || !EqualShapes(out[0].Shape, []int{2, samples}) {
		t.Fatalf("got %v", out[0])
	}
	d := out[0].Int64s()
	var counts [2][3]float64
	for b := 0; b < 2; b++ {
		for _, c := range d[b*samples : (b+1)*samples] {
			if c < 0 || c > 2 {
				t.Fatalf("class %d out of range", c)
			}
			counts[b][c]++
		}
	}
	want := [2][3]float64{{0.25, 0, 0.75}, {1. / 3, 1. / 3, 1. / 3}}
	for b := range counts {
		for c := range counts[b] {
			if f := counts[b][c] / samples; math.Abs(f-want[b][c]) > 0.01 {
				t.Errorf("row %d class %d: frequency %v, want %v", b, c, f, want[b][c])
			}
		}
	}
	out, err = miscRun(t, "", "Multinomial", 7, []*Tensor{FromSlice(Double, []float64{0, 1}, 1, 2)}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].DType != Int32 || !EqualShapes(out[0].Shape, []int{1, 1}) {
		t.Fatalf("default output: got %v", out[0])
	}
	if _, err := miscRun(t, "", "Multinomial", 22, []*Tensor{FromSlice(Float, []float32{1, 2}, 2)}, 1); err == nil {
		t.Errorf("rank-1 input accepted")
	}
	if _, err := miscRun(t, "", "Multinomial", 22, []*Tensor{FromSlice(Float, []float32{ninf, ninf}, 1, 2)}, 1); err == nil {
		t.Errorf("all-impossible row accepted")
	}
	for _, attrs := range [][]any{{"dtype", int(Float)}, {"sample_size", 0}} {
		if _, err := miscBuild("", "Multinomial", 22, []string{"x"}, 1, attrs...); err == nil {
			t.Errorf("Multinomial %v accepted", attrs)
		}
	}
}

func BenchmarkRandomNormal(b *testing.B) {
	k, err := miscBuild("", "RandomNormal", 22, nil, 1, "shape", []int64{256, 256}, "seed", float32(1))
	if err != nil {
		b.Fatal(err)
	}
	ec := NewContext(context.Background(), nil, NewArena())
	out := make([]*Tensor, 1)
	for i := 0; i < b.N; i++ {
		if err := k.(Kernel).Run(ec, nil, out); err != nil {
			b.Fatal(err)
		}
		ec.Release(out[0])
	}
}
