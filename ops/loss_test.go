package ops

import (
	"math"
	"strings"
	"testing"
)

func TestNLLLoss(t *testing.T) {
	x := rtF32([]int{2, 2}, -1, -2, -3, -4)
	tg := rtI64(0, 1)
	w := rtF32([]int{2}, 1, 2)
	xd := rtF32([]int{1, 2, 2}, -1, -2, -3, -4) // N=1, C=2, d1=2
	tests := []struct {
		name  string
		attrs []*Attr
		in    []*Tensor
		shape []int
		want  []float64
	}{
		{"none", []*Attr{rtAttrS("reduction", "none")}, []*Tensor{x, tg}, []int{2}, []float64{1, 4}},
		{"sum", []*Attr{rtAttrS("reduction", "sum")}, []*Tensor{x, tg}, []int{}, []float64{5}},
		{"mean", nil, []*Tensor{x, tg}, []int{}, []float64{2.5}},
		{"weighted none", []*Attr{rtAttrS("reduction", "none")}, []*Tensor{x, tg, w}, []int{2}, []float64{1, 8}},
		{"weighted mean", nil, []*Tensor{x, tg, w}, []int{}, []float64{3}},
		{"ignore", []*Attr{rtAttrI("ignore_index", 1)}, []*Tensor{x, tg}, []int{}, []float64{1}},
		{"ignore none", []*Attr{rtAttrI("ignore_index", 1), rtAttrS("reduction", "none")}, []*Tensor{x, tg, w}, []int{2}, []float64{1, 0}},
		{"negative ignore", []*Attr{rtAttrI("ignore_index", -1)}, []*Tensor{x, rtI64(-1, 1)}, []int{}, []float64{4}},
		{"spatial", []*Attr{rtAttrS("reduction", "none")}, []*Tensor{xd, FromSlice(Int32, []int32{1, 0}, 1, 2)}, []int{1, 2}, []float64{3, 2}},
	}
	for _, tc := range tests {
		out, err := rtRun(t, "NegativeLogLikelihoodLoss", 22, tc.attrs, 1, tc.in...)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		rtCheck(t, tc.name, out[0], tc.shape, tc.want, 1e-6)
	}
	for _, tc := range []struct {
		name  string
		attrs []*Attr
		in    []*Tensor
		want  string
	}{
		{"target out of range", nil, []*Tensor{x, rtI64(0, 2)}, "out of range"},
		{"target shape", nil, []*Tensor{x, rtI64(0)}, "target shape"},
		{"float target", nil, []*Tensor{x, rtF32([]int{2}, 0, 1)}, "int32 or int64"},
		{"weight shape", nil, []*Tensor{x, tg, rtF32([]int{3}, 1, 1, 1)}, "weight"},
		{"bad reduction", []*Attr{rtAttrS("reduction", "max")}, []*Tensor{x, tg}, "reduction"},
	} {
		_, err := rtRun(t, "NegativeLogLikelihoodLoss", 22, tc.attrs, 1, tc.in...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestSoftmaxCrossEntropyLoss(t *testing.T) {
	x := rtF32([]int{2, 2}, 0, 0, 1, 0)
	l1 := math.Log(1 + math.E) // -log_softmax of the 0 in [1 0]
	out, err := rtRun(t, "SoftmaxCrossEntropyLoss", 13, nil, 2, x, rtI64(0, 1))
	if err != nil {
		t.Fatal(err)
	}
	rtCheck(t, "mean", out[0], []int{}, []float64{(math.Ln2 + l1) / 2}, 1e-6)
	rtCheck(t, "log_prob", out[1], x.Shape, []float64{-math.Ln2, -math.Ln2, 1 - l1, -l1}, 1e-6)

	out, err = rtRun(t, "SoftmaxCrossEntropyLoss", 13, []*Attr{rtAttrS("reduction", "none"), rtAttrI("ignore_index", 0)}, 1,
		x, rtI64(0, 1), rtF32([]int{2}, 3, 5))
	if err != nil {
		t.Fatal(err)
	}
	rtCheck(t, "none weighted", out[0], []int{2}, []float64{0, 5 * l1}, 1e-6)

	if _, err := rtRun(t, "SoftmaxCrossEntropyLoss", 13, nil, 2, x, rtI64(0, 5)); err == nil {
		t.Error("label out of range: expected an error")
	}
}
