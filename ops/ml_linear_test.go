package ops

import (
	"context"
	"math"
	"testing"
)

func TestLinearRegressor(t *testing.T) {
	attrs := []*Attr{mlFloats("coefficients", 1, 2, -1, 0), mlFloats("intercepts", 0.5, 1), mlInt("targets", 2)}
	out, err := runML(t, "LinearRegressor", 1, attrs, 1, FromSlice(Float, []float32{1, 1, 2, 3}, 2, 2))
	if err != nil {
		t.Fatal(err)
	}
	if !EqualShapes(out[0].Shape, []int{2, 2}) {
		t.Fatalf("shape %v", out[0].Shape)
	}
	mlWantFloats(t, "two targets", out[0].Float32s(), []float32{3.5, 0, 8.5, -1}, 1e-6)
	out, err = runML(t, "LinearRegressor", 1, []*Attr{mlFloats("coefficients", 2), mlStr("post_transform", "PROBIT")}, 1,
		FromSlice(Double, []float64{0.25}, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	mlWantFloats(t, "probit", out[0].Float32s(), []float32{0}, 1e-6)
	if _, err := runML(t, "LinearRegressor", 1, attrs, 1, FromSlice(Float, []float32{1, 2, 3}, 1, 3)); err == nil {
		t.Errorf("feature mismatch accepted")
	}
	if _, err := runML(t, "LinearRegressor", 1, []*Attr{mlFloats("coefficients", 1, 2, 3), mlInt("targets", 2)}, 1, FromSlice(Float, []float32{1}, 1)); err == nil {
		t.Errorf("bad coefficient count accepted")
	}
}

func TestLinearClassifier(t *testing.T) {
	// Three classes, softmax.
	attrs := []*Attr{mlFloats("coefficients", 1, 0, 0, 1, -1, -1), mlFloats("intercepts", 0, 0, 0),
		mlInts("classlabels_ints", 10, 20, 30), mlStr("post_transform", "SOFTMAX")}
	out, err := runML(t, "LinearClassifier", 1, attrs, 2, FromSlice(Float, []float32{2, 1, -1, -1}, 2, 2))
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Int64s(); got[0] != 10 || got[1] != 30 {
		t.Fatalf("labels %v", got)
	}
	s := func(v ...float64) []float32 {
		sum := 0.0
		for _, x := range v {
			sum += math.Exp(x)
		}
		r := make([]float32, len(v))
		for i, x := range v {
			r[i] = float32(math.Exp(x) / sum)
		}
		return r
	}
	mlWantFloats(t, "softmax", out[1].Float32s(), append(s(2, 1, -3), s(-1, -1, 2)...), 1e-6)

	// One score column, two labels: scores become [1-s, s].
	bin := []*Attr{mlFloats("coefficients", 1, -1), mlFloats("intercepts", 0.5), mlStrs("classlabels_strings", "neg", "pos")}
	out, err = runML(t, "LinearClassifier", 1, bin, 2, FromSlice(Float, []float32{1, 0, 0, 1}, 2, 2))
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Strings(); got[0] != "pos" || got[1] != "neg" {
		t.Fatalf("binary labels %v", got)
	}
	if !EqualShapes(out[1].Shape, []int{2, 2}) {
		t.Fatalf("binary shape %v", out[1].Shape)
	}
	mlWantFloats(t, "binary", out[1].Float32s(), []float32{-0.5, 1.5, 1.5, -0.5}, 1e-6)

	if _, err := runML(t, "LinearClassifier", 1, []*Attr{mlFloats("coefficients", 1, 2), mlFloats("intercepts", 0, 0), mlInts("classlabels_ints", 1)}, 2, FromSlice(Float, []float32{1}, 1)); err == nil {
		t.Errorf("too few labels accepted")
	}
}

func TestSVMRegressor(t *testing.T) {
	// Linear mode: y = x.w + rho.
	out, err := runML(t, "SVMRegressor", 1, []*Attr{mlFloats("coefficients", 1, 2), mlFloats("rho", 0.5)}, 1,
		FromSlice(Float, []float32{1, 1, -1, 0}, 2, 2))
	if err != nil {
		t.Fatal(err)
	}
	mlWantFloats(t, "linear", out[0].Float32s(), []float32{3.5, -0.5}, 1e-6)
	// RBF with two support vectors.
	attrs := []*Attr{mlInt("n_supports", 2), mlFloats("support_vectors", 0, 0, 1, 1), mlFloats("coefficients", 1, -1),
		mlFloats("rho", 0.25), mlStr("kernel_type", "RBF"), mlFloats("kernel_params", 0.5, 0, 0)}
	out, err = runML(t, "SVMRegressor", 1, attrs, 1, FromSlice(Float, []float32{1, 0}, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	want := float32(math.Exp(-0.5) - math.Exp(-0.5) + 0.25)
	mlWantFloats(t, "rbf", out[0].Float32s(), []float32{want}, 1e-6)
	// POLY degree 2, one class.
	attrs = []*Attr{mlInt("n_supports", 1), mlFloats("support_vectors", 1, 2), mlFloats("coefficients", 1),
		mlFloats("rho", -10), mlStr("kernel_type", "POLY"), mlFloats("kernel_params", 1, 1, 2), mlInt("one_class", 1)}
	out, err = runML(t, "SVMRegressor", 1, attrs, 1, FromSlice(Float, []float32{1, 1, 0, 0}, 2, 2))
	if err != nil {
		t.Fatal(err)
	}
	// (x.sv + 1)^2 - 10: 16-10 > 0 -> 1; 1-10 < 0 -> -1.
	mlWantFloats(t, "poly one class", out[0].Float32s(), []float32{1, -1}, 0)
	if _, err := runML(t, "SVMRegressor", 1, attrs, 1, FromSlice(Float, []float32{1, 1, 1}, 1, 3)); err == nil {
		t.Errorf("feature mismatch accepted")
	}
}

func TestSVMClassifier(t *testing.T) {
	// Two classes, one support vector each, linear kernel: the pair score is
	// c0*k(x, sv0) + c1*k(x, sv1) + rho.
	attrs := []*Attr{
		mlInts("classlabels_ints", 0, 1), mlInts("vectors_per_class", 1, 1),
		mlFloats("support_vectors", 1, 0, 0, 1), mlFloats("coefficients", 1, -1), mlFloats("rho", 0),
		mlStr("kernel_type", "LINEAR"),
	}
	out, err := runML(t, "SVMClassifier", 1, attrs, 2, FromSlice(Float, []float32{2, 1, 0, 3}, 2, 2))
	if err != nil {
		t.Fatal(err)
	}
	// Row 0: 2-1 = 1 > 0: vote class 0; row 1: -3: class 1.
	if got := out[0].Int64s(); got[0] != 0 || got[1] != 1 {
		t.Fatalf("labels %v", got)
	}
	// Without probabilities a binary model reports [-s, s].
	mlWantFloats(t, "scores", out[1].Float32s(), []float32{-1, 1, 3, -3}, 1e-6)

	// Three classes with probabilities: the class probabilities sum to one
	// and the label is the majority vote.
	attrs3 := []*Attr{
		mlInts("classlabels_ints", 5, 6, 7), mlInts("vectors_per_class", 1, 1, 1),
		mlFloats("support_vectors", 1, 0, 0, 1, -1, -1),
		mlFloats("coefficients", 1, -1, 0, 0, 1, -1), mlFloats("rho", 0, 0, 0),
		mlFloats("prob_a", -2, -2, -2), mlFloats("prob_b", 0, 0, 0),
	}
	out, err = runML(t, "SVMClassifier", 1, attrs3, 2, FromSlice(Float, []float32{3, 0}, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Int64s(); got[0] != 5 {
		t.Fatalf("3-class label %v", got)
	}
	p := out[1].Float32s()
	if len(p) != 3 || math.Abs(float64(p[0]+p[1]+p[2])-1) > 1e-4 || p[0] < p[1] || p[0] < p[2] {
		t.Fatalf("3-class probabilities %v", p)
	}

	// Linear (liblinear) mode: one coefficient row per class.
	lin := []*Attr{mlInts("classlabels_ints", 1, 2, 3), mlFloats("coefficients", 1, 0, 0, 1, -1, 0), mlFloats("rho", 0.5)}
	out, err = runML(t, "SVMClassifier", 1, lin, 2, FromSlice(Float, []float32{0, 2}, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Int64s(); got[0] != 2 {
		t.Fatalf("linear label %v", got)
	}
	mlWantFloats(t, "linear scores", out[1].Float32s(), []float32{0.5, 2.5, 0.5}, 1e-6)

	bad := append([]*Attr{mlInts("vectors_per_class", 1, 2)}, attrs3[0])
	bad = append(bad, attrs3[2:]...)
	if _, err := runML(t, "SVMClassifier", 1, bad, 2, FromSlice(Float, []float32{1, 1}, 1, 2)); err == nil {
		t.Errorf("vectors_per_class of the wrong length accepted")
	}
}

func TestPairwiseCoupling(t *testing.T) {
	// Consistent pairwise probabilities from p = (0.5, 0.3, 0.2).
	p := []float64{0.5, 0.3, 0.2}
	r := make([]float32, 9)
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			if i != j {
				r[i*3+j] = float32(p[i] / (p[i] + p[j]))
			}
		}
	}
	got := make([]float32, 3)
	mlPairwiseCoupling(3, r, got, make([]float32, 9), make([]float32, 3))
	mlWantFloats(t, "coupling", got, []float32{0.5, 0.3, 0.2}, 1e-3)
}

// BenchmarkSVMClassifier runs a 3-class RBF model with 300 support vectors
// over 100 rows of 20 features.
func BenchmarkSVMClassifier(b *testing.B) {
	const nsv, nf, rows = 300, 20, 100
	sv := make([]float32, nsv*nf)
	for i := range sv {
		sv[i] = float32(i%7) * 0.1
	}
	coef := make([]float32, 2*nsv)
	for i := range coef {
		coef[i] = float32(i%5) - 2
	}
	k, err := DefaultRegistry().Build(&Node{OpType: "SVMClassifier", Domain: DomainML, Version: 1, Attrs: NewAttrs(
		mlInts("classlabels_ints", 0, 1, 2), mlInts("vectors_per_class", 100, 100, 100), mlFloats("support_vectors", sv...),
		mlFloats("coefficients", coef...), mlFloats("rho", 0, 0, 0), mlStr("kernel_type", "RBF"), mlFloats("kernel_params", 0.1, 0, 0)),
		Inputs: []string{"x"}, Outputs: []string{"y", "z"}})
	if err != nil {
		b.Fatal(err)
	}
	in := []*Tensor{NewTensor(Float, rows, nf)}
	out := make([]*Tensor, 2)
	ec := NewContext(context.Background(), nil, NewArena())
	for i := 0; i < b.N; i++ {
		if err := k.(Kernel).Run(ec, in, out); err != nil {
			b.Fatal(err)
		}
		ec.Release(out[0])
		ec.Release(out[1])
	}
}
