package ops

import (
	"context"
	"math"
	"math/rand"
	"strings"
	"testing"
)

func TestLayerNorm(t *testing.T) {
	inv := 1 / math.Sqrt(1.25+1e-5)
	x := rtF32([]int{1, 4}, 1, 2, 3, 4)
	out, err := rtRun(t, "LayerNormalization", 17, nil, 3, x, rtF32([]int{4}, 1, 2, 1, 1), rtF32([]int{4}, 0, 0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	rtCheck(t, "Y", out[0], []int{1, 4}, []float64{-1.5 * inv, -1 * inv, 0.5*inv + 1, 1.5 * inv}, 1e-6)
	rtCheck(t, "Mean", out[1], []int{1, 1}, []float64{2.5}, 1e-6)
	rtCheck(t, "InvStdDev", out[2], []int{1, 1}, []float64{inv}, 1e-6)

	// axis 0 with a scale that broadcasts over the normalized [2 2] block.
	r5 := 1 / math.Sqrt(5)
	out, err = rtRun(t, "LayerNormalization", 17, []*Attr{rtAttrI("axis", 0), rtAttrF("epsilon", 0)}, 1,
		rtF32([]int{2, 2}, 0, 2, 4, 6), rtF32([]int{2}, 1, 10))
	if err != nil {
		t.Fatal(err)
	}
	rtCheck(t, "axis0", out[0], []int{2, 2}, []float64{-3 * r5, -10 * r5, r5, 30 * r5}, 1e-6)

	// float64 and float16 inputs.
	out, err = rtRun(t, "LayerNormalization", 17, []*Attr{rtAttrF("epsilon", 0)}, 1,
		FromSlice(Double, []float64{1, 3}, 2), FromSlice(Double, []float64{1, 1}, 2))
	if err != nil {
		t.Fatal(err)
	}
	rtCheck(t, "double", out[0], []int{2}, []float64{-1, 1}, 1e-12)
	h := func(v ...float32) *Tensor {
		s := make([]F16, len(v))
		for i, f := range v {
			s[i] = F16From(f)
		}
		return FromSlice(Float16, s, len(v))
	}
	out, err = rtRun(t, "LayerNormalization", 17, []*Attr{rtAttrF("epsilon", 0)}, 2, h(1, 3), h(2, 2), h(0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if out[0].DType != Float16 || out[1].DType != Float {
		t.Errorf("float16: output types %s, %s; want float16, float32", out[0].DType, out[1].DType)
	}
	rtCheck(t, "half", out[0], []int{2}, []float64{-2, 3}, 1e-3)

	for _, tc := range []struct {
		name string
		in   []*Tensor
		want string
	}{
		{"missing scale", []*Tensor{x}, "missing"},
		{"bad scale", []*Tensor{x, rtF32([]int{3}, 1, 1, 1)}, "broadcast"},
		{"int input", []*Tensor{FromSlice(Int32, []int32{1}, 1), rtF32([]int{1}, 1)}, "unsupported"},
	} {
		_, err := rtRun(t, "LayerNormalization", 17, nil, 1, tc.in...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := rtRun(t, "LayerNormalization", 17, []*Attr{rtAttrI("stash_type", 7)}, 1, x, x); err == nil {
		t.Error("stash_type int64: expected an error")
	}
}

func TestRMSNorm(t *testing.T) {
	s := math.Sqrt(12.5)
	out, err := rtRun(t, "RMSNormalization", 23, []*Attr{rtAttrF("epsilon", 0)}, 1,
		rtF32([]int{2, 2}, 3, 4, 0, 1), rtF32([]int{2}, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	rtCheck(t, "rms", out[0], []int{2, 2}, []float64{3 / s, 8 / s, 0, 2 * math.Sqrt2}, 1e-6)
}

func TestGroupAndInstanceNorm(t *testing.T) {
	x := rtF32([]int{1, 4, 2}, 0, 1, 2, 3, 10, 10, 20, 20)
	r := 1 / math.Sqrt(1.25)
	g0 := []float64{-1.5 * r, -0.5 * r, 0.5 * r, 1.5 * r}
	attrs := []*Attr{rtAttrI("num_groups", 2), rtAttrF("epsilon", 0)}
	out, err := rtRun(t, "GroupNormalization", 21, attrs, 1, x, rtF32([]int{4}, 1, 1, 2, 2), rtF32([]int{4}, 0, 0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	rtCheck(t, "group21", out[0], x.Shape, append(g0, -2, -2, 3, 3), 1e-6)
	out, err = rtRun(t, "GroupNormalization", 18, attrs, 1, x, rtF32([]int{2}, 1, 2), rtF32([]int{2}, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	rtCheck(t, "group18", out[0], x.Shape, append(g0, -1, -1, 3, 3), 1e-6)
	if _, err := rtRun(t, "GroupNormalization", 21, []*Attr{rtAttrI("num_groups", 3)}, 1, x, rtF32([]int{4}, 1, 1, 1, 1), rtF32([]int{4}, 0, 0, 0, 0)); err == nil {
		t.Error("4 channels in 3 groups: expected an error")
	}
	if _, err := rtRun(t, "GroupNormalization", 21, nil, 1, x, x, x); err == nil {
		t.Error("missing num_groups: expected an error")
	}

	inv := 1 / math.Sqrt(1+1e-5)
	out, err = rtRun(t, "InstanceNormalization", 6, nil, 1, rtF32([]int{1, 2, 2}, 1, 3, 5, 5), rtF32([]int{2}, 1, 2), rtF32([]int{2}, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	rtCheck(t, "instance", out[0], []int{1, 2, 2}, []float64{-inv, inv, 1, 1}, 1e-6)
	if _, err := rtRun(t, "InstanceNormalization", 6, nil, 1, rtF32([]int{1, 2, 2}, 1, 3, 5, 5), rtF32([]int{3}, 1, 2, 3), rtF32([]int{2}, 0, 1)); err == nil {
		t.Error("scale of wrong length: expected an error")
	}
}

func TestBatchNorm(t *testing.T) {
	x := rtF32([]int{1, 2, 1}, 1, 2)
	params := []*Tensor{rtF32([]int{2}, 2, 1), rtF32([]int{2}, 0, 1), rtF32([]int{2}, 0, 1), rtF32([]int{2}, 3, 0)}
	out, err := rtRun(t, "BatchNormalization", 15, []*Attr{rtAttrF("epsilon", 1)}, 1, append([]*Tensor{x}, params...)...)
	if err != nil {
		t.Fatal(err)
	}
	rtCheck(t, "inference", out[0], x.Shape, []float64{1, 2}, 1e-6)

	// Constant parameters are folded at plan time.
	n := &Node{OpType: "BatchNormalization", Domain: DomainONNX, Version: 9, Attrs: NewAttrs(rtAttrF("epsilon", 1)),
		Inputs: []string{"x", "s", "b", "m", "v"}, Outputs: []string{"y"}, ConstInputs: append([]*Tensor{nil}, params...)}
	k, err := DefaultRegistry().Build(n)
	if err != nil {
		t.Fatal(err)
	}
	y := make([]*Tensor, 1)
	if err := k.(Kernel).Run(NewContext(context.Background(), nil, nil), append([]*Tensor{x}, params...), y); err != nil {
		t.Fatal(err)
	}
	rtCheck(t, "folded", y[0], x.Shape, []float64{1, 2}, 1e-6)

	xt := rtF32([]int{2, 1, 2}, 1, 2, 3, 4)
	r := 1 / math.Sqrt(1.25)
	out, err = rtRun(t, "BatchNormalization", 15, []*Attr{rtAttrF("epsilon", 0), rtAttrI("training_mode", 1)}, 3,
		xt, rtF32([]int{1}, 1), rtF32([]int{1}, 0), rtF32([]int{1}, 0), rtF32([]int{1}, 1))
	if err != nil {
		t.Fatal(err)
	}
	rtCheck(t, "training y", out[0], xt.Shape, []float64{-1.5 * r, -0.5 * r, 0.5 * r, 1.5 * r}, 1e-6)
	rtCheck(t, "running mean", out[1], []int{1}, []float64{0.25}, 1e-6)
	rtCheck(t, "running var", out[2], []int{1}, []float64{1.025}, 1e-6)

	if _, err := rtRun(t, "BatchNormalization", 15, nil, 1, x, params[0], params[1], params[2], rtF32([]int{1}, 1)); err == nil {
		t.Error("var of wrong length: expected an error")
	}
}

func TestLpMVNLRN(t *testing.T) {
	x := rtF32([]int{2, 2}, 3, 4, 0, 0)
	out, err := rtRun(t, "LpNormalization", 1, nil, 1, x)
	if err != nil {
		t.Fatal(err)
	}
	rtCheck(t, "l2", out[0], x.Shape, []float64{0.6, 0.8, 0, 0}, 1e-6)
	out, err = rtRun(t, "LpNormalization", 22, []*Attr{rtAttrI("p", 1), rtAttrI("axis", 0)}, 1, rtF32([]int{2, 2}, 3, 4, 1, -4))
	if err != nil {
		t.Fatal(err)
	}
	rtCheck(t, "l1 axis0", out[0], x.Shape, []float64{0.75, 0.5, 0.25, -0.5}, 1e-6)
	if _, err := rtRun(t, "LpNormalization", 1, []*Attr{rtAttrI("p", 3)}, 1, x); err == nil {
		t.Error("p=3: expected an error")
	}

	out, err = rtRun(t, "MeanVarianceNormalization", 13, nil, 1, rtF32([]int{1, 2, 1, 2}, 1, 3, 2, 2))
	if err != nil {
		t.Fatal(err)
	}
	rtCheck(t, "mvn", out[0], []int{1, 2, 1, 2}, []float64{-1, 1, 0, 0}, 1e-6)
	out, err = rtRun(t, "MeanVarianceNormalization", 13, []*Attr{rtAttrInts("axes", -1)}, 1, rtF32([]int{2, 2}, 1, 3, 0, 4))
	if err != nil {
		t.Fatal(err)
	}
	rtCheck(t, "mvn last axis", out[0], []int{2, 2}, []float64{-1, 1, -1, 1}, 1e-6)

	xl := rtF32([]int{1, 3, 1, 1}, 1, 2, 3)
	out, err = rtRun(t, "LRN", 13, []*Attr{rtAttrI("size", 3), rtAttrF("alpha", 3), rtAttrF("beta", 1)}, 1, xl)
	if err != nil {
		t.Fatal(err)
	}
	rtCheck(t, "lrn3", out[0], xl.Shape, []float64{1.0 / 6, 2.0 / 15, 3.0 / 14}, 1e-6)
	out, err = rtRun(t, "LRN", 13, []*Attr{rtAttrI("size", 2), rtAttrF("alpha", 2), rtAttrF("beta", 1)}, 1, xl)
	if err != nil {
		t.Fatal(err)
	}
	rtCheck(t, "lrn2", out[0], xl.Shape, []float64{1.0 / 6, 2.0 / 14, 3.0 / 10}, 1e-6)
	if _, err := rtRun(t, "LRN", 13, nil, 1, xl); err == nil {
		t.Error("LRN without size: expected an error")
	}
}

// TestLayerNormParallel runs a large layer normalization on a pool with an
// arena against a direct float64 computation.
func TestLayerNormParallel(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	rows, cols := 130, 768
	xv := rtRandF32(r, rows*cols)
	sv, bv := rtRandF32(r, cols), rtRandF32(r, cols)
	pool := NewPool(4)
	defer pool.Close()
	ec := NewContext(context.Background(), pool, NewArena())
	for iter := 0; iter < 2; iter++ {
		out, err := rtRunCtx(ec, "LayerNormalization", 17, nil, 1, rtF32([]int{rows, cols}, xv...), rtF32([]int{cols}, sv...), rtF32([]int{cols}, bv...))
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float64, rows*cols)
		for i := 0; i < rows; i++ {
			var s, q float64
			for j := 0; j < cols; j++ {
				s += float64(xv[i*cols+j])
			}
			m := s / float64(cols)
			for j := 0; j < cols; j++ {
				d := float64(xv[i*cols+j]) - m
				q += d * d
			}
			inv := 1 / math.Sqrt(q/float64(cols)+1e-5)
			for j := 0; j < cols; j++ {
				want[i*cols+j] = (float64(xv[i*cols+j])-m)*inv*float64(sv[j]) + float64(bv[j])
			}
		}
		rtCheck(t, "parallel", out[0], []int{rows, cols}, want, 1e-5)
		ec.Release(out[0])
	}
}

func BenchmarkLayerNorm(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	rows, cols := 512, 768
	rtBench(b, "LayerNormalization", 17, nil, rtF32([]int{rows, cols}, rtRandF32(r, rows*cols)...),
		rtF32([]int{cols}, rtRandF32(r, cols)...), rtF32([]int{cols}, rtRandF32(r, cols)...))
}
