package ops

import (
	"math"
	"math/rand"
	"testing"
)

// refFusedMatMul computes alpha·op(A)·op(B) from the definition: the
// batch permutation, then the transposes, then numpy matmul with batch
// broadcasting, in float64.
func refFusedMatMul(t *testing.T, a, b *Tensor, alpha float64, ta, tb, tba, tbb bool) *Tensor {
	t.Helper()
	prep := func(x *Tensor, tBatch, tr bool) *Tensor {
		if tBatch {
			x = refTranspose(x, batchPerm(len(x.Shape)))
		}
		if tr {
			r := len(x.Shape)
			perm := make([]int, r)
			for i := range perm {
				perm[i] = i
			}
			perm[r-1], perm[r-2] = r-2, r-1
			x = refTranspose(x, perm)
		}
		return x
	}
	a, b = prep(a, tba, ta), prep(b, tbb, tb)
	d := new(matmulDims)
	if err := matmulShape(d, a.Shape, b.Shape); err != nil {
		t.Fatal(err)
	}
	y := NewTensor(Float, d.outShape()...)
	av, bv, yv := a.Float32s(), b.Float32s(), y.Float32s()
	for bt := 0; bt < d.nBatches; bt++ {
		oa, ob := d.offsets(bt)
		for i := 0; i < d.m; i++ {
			for j := 0; j < d.n; j++ {
				s := 0.0
				for p := 0; p < d.k; p++ {
					s += float64(av[oa+i*d.k+p]) * float64(bv[ob+p*d.n+j])
				}
				yv[bt*d.m*d.n+i*d.n+j] = float32(alpha * s)
			}
		}
	}
	return y
}

// refTranspose permutes x's axes with plain index arithmetic.
func refTranspose(x *Tensor, perm []int) *Tensor {
	r := len(x.Shape)
	shape := make([]int, r)
	for i, p := range perm {
		shape[i] = x.Shape[p]
	}
	y := NewTensor(x.DType, shape...)
	src, dst := x.Float32s(), y.Float32s()
	idx := make([]int, r)
	for o := range dst {
		rem := o
		for i := r - 1; i >= 0; i-- {
			idx[i] = rem % shape[i]
			rem /= shape[i]
		}
		off, st := 0, 1
		for i := r - 1; i >= 0; i-- {
			// input axis i is output axis j with perm[j] == i
			for j, p := range perm {
				if p == i {
					off += idx[j] * st
				}
			}
			st *= x.Shape[i]
		}
		dst[o] = src[off]
	}
	return y
}

func TestMSFusedMatMul(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	rnd := func(shape ...int) *Tensor {
		x := NewTensor(Float, shape...)
		for i := range x.Float32s() {
			x.Float32s()[i] = float32(r.NormFloat64())
		}
		return x
	}
	for _, tc := range []struct {
		name             string
		a, b             []int
		alpha            float32
		ta, tb, tba, tbb bool
	}{
		{"plain-2d", []int{5, 7}, []int{7, 3}, 1, false, false, false, false},
		{"alpha", []int{5, 7}, []int{7, 3}, 0.125, false, false, false, false},
		{"transA", []int{7, 5}, []int{7, 3}, 1, true, false, false, false},
		{"transB-attention", []int{2, 4, 9, 16}, []int{2, 4, 11, 16}, 0.25, false, true, false, false},
		{"both-batched-broadcast", []int{3, 1, 6, 4}, []int{2, 5, 6}, 2, true, true, false, false},
		{"big-transB", []int{40, 300}, []int{70, 300}, 1, false, true, false, false},
		{"transBatchA", []int{4, 3, 5}, []int{3, 5, 2}, 1, false, false, true, false},
		{"transBatchB-transB", []int{3, 4, 5}, []int{6, 3, 5}, 1, false, true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := rnd(tc.a...), rnd(tc.b...)
			boolI := func(name string, v bool) *Attr {
				if v {
					return rtAttrI(name, 1)
				}
				return rtAttrI(name, 0)
			}
			out, err := laNode{domain: DomainMicrosoft, op: "FusedMatMul", version: 1, attrs: []*Attr{
				rtAttrF("alpha", tc.alpha), boolI("transA", tc.ta), boolI("transB", tc.tb),
				boolI("transBatchA", tc.tba), boolI("transBatchB", tc.tbb)}}.run(a, b)
			if err != nil {
				t.Fatal(err)
			}
			want := refFusedMatMul(t, a, b, float64(tc.alpha), tc.ta, tc.tb, tc.tba, tc.tbb)
			if !EqualShapes(out[0].Shape, want.Shape) {
				t.Fatalf("shape %v, want %v", out[0].Shape, want.Shape)
			}
			for i, w := range want.Float32s() {
				if g := out[0].Float32s()[i]; math.Abs(float64(g-w)) > 1e-4*math.Max(1, math.Abs(float64(w))) {
					t.Fatalf("element %d: %v, want %v", i, g, w)
				}
			}
		})
	}
	// errors name the problem
	if _, err := (laNode{domain: DomainMicrosoft, op: "FusedMatMul", version: 1, attrs: []*Attr{rtAttrI("transBatchA", 1)}}).run(rnd(3, 4), rnd(4, 2)); err == nil {
		t.Error("transBatchA on a matrix: no error")
	}
	if _, err := (laNode{domain: DomainMicrosoft, op: "FusedMatMul", version: 1}).run(rnd(3, 4), rnd(5, 2)); err == nil {
		t.Error("mismatched inner dimensions: no error")
	}
}

func TestFusedGemm(t *testing.T) {
	a := rtF32([]int{2, 3}, 1, -2, 3, -4, 5, -6)
	b := rtF32([]int{2, 3}, 1, 0, 1, 0, 1, 1) // used transposed: [3, 2]
	c := rtF32([]int{2}, -5, 0.5)
	// a·bᵀ + c = [[4-5, 1+0.5], [-10-5, -1+0.5]] = [[-1, 1.5], [-15, -0.5]]
	for _, tc := range []struct {
		act   string
		attrs []*Attr
		want  []float32
	}{
		{"Relu", nil, []float32{0, 1.5, 0, 0}},
		{"LeakyRelu", []*Attr{rtAttrF("activation_alpha", 0.1)}, []float32{-0.1, 1.5, -1.5, -0.05}},
		{"Tanh", nil, []float32{float32(math.Tanh(-1)), float32(math.Tanh(1.5)), float32(math.Tanh(-15)), float32(math.Tanh(-0.5))}},
		{"HardSigmoid", []*Attr{rtAttrF("activation_alpha", 0.5), rtAttrF("activation_beta", 0.5)}, []float32{0, 1, 0, 0.25}},
	} {
		attrs := append([]*Attr{{Name: "activation", Type: AttrString, S: tc.act}, rtAttrI("transB", 1)}, tc.attrs...)
		out, err := laNode{domain: DomainMicrosoft, op: "FusedGemm", version: 1, attrs: attrs}.run(a, b, c)
		if err != nil {
			t.Fatalf("%s: %v", tc.act, err)
		}
		for i, w := range tc.want {
			if g := out[0].Float32s()[i]; math.Abs(float64(g-w)) > 1e-6 {
				t.Errorf("%s: element %d = %v, want %v", tc.act, i, g, w)
			}
		}
	}
	if _, err := (laNode{domain: DomainMicrosoft, op: "FusedGemm", version: 1, attrs: []*Attr{{Name: "activation", Type: AttrString, S: "Swish"}}}).run(a, b); err == nil {
		t.Error("unknown activation: no error")
	}
}

// TestLayerNormBeforeOpset17 checks onnxruntime's pre-17 default-domain
// LayerNormalization and SimplifiedLayerNormalization.
func TestLayerNormBeforeOpset17(t *testing.T) {
	x := rtF32([]int{1, 4}, 1, 2, 3, 6)
	scale := rtF32([]int{4}, 1, 1, 2, 1)
	out, err := rtRun(t, "LayerNormalization", 1, []*Attr{rtAttrF("epsilon", 0)}, 1, x, scale, rtF32([]int{4}, 0, 0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	// mean 3, variance (4+1+0+9)/4 = 3.5
	sd := math.Sqrt(3.5)
	want := []float64{-2 / sd, -1 / sd, 0, 3/sd + 1}
	for i, w := range want {
		if g := float64(out[0].Float32s()[i]); math.Abs(g-w) > 1e-6 {
			t.Errorf("LayerNormalization-1 element %d = %v, want %v", i, g, w)
		}
	}
	out, err = rtRun(t, "SimplifiedLayerNormalization", 1, []*Attr{rtAttrF("epsilon", 0)}, 1, x, scale)
	if err != nil {
		t.Fatal(err)
	}
	rms := math.Sqrt((1 + 4 + 9 + 36) / 4.0)
	for i, xv := range []float64{1, 2, 3 * 2, 6} {
		if g := float64(out[0].Float32s()[i]); math.Abs(g-xv/rms) > 1e-6 {
			t.Errorf("SimplifiedLayerNormalization element %d = %v, want %v", i, g, xv/rms)
		}
	}
	// its second output is inv_std_var (there is no mean)
	out, err = rtRun(t, "SimplifiedLayerNormalization", 1, []*Attr{rtAttrF("epsilon", 0)}, 2, x, scale)
	if err != nil {
		t.Fatal(err)
	}
	if g := float64(out[1].Float32s()[0]); math.Abs(g-1/rms) > 1e-6 {
		t.Errorf("SimplifiedLayerNormalization inv_std_var = %v, want %v", g, 1/rms)
	}
}
