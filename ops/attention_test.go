package ops

import (
	"context"
	"math"
	"math/rand"
	"testing"
)

func TestAttention(t *testing.T) {
	// One query [1 0] against keys [1 0] and [0 1], values 1 and 3, with
	// the default scale 1/sqrt(2): p = softmax([0.7071, 0]).
	p := math.Exp(1/math.Sqrt2) / (math.Exp(1/math.Sqrt2) + 1)
	soft := p + 3*(1-p)
	q := laF32([]int{1, 1, 1, 2}, 1, 0)
	k := laF32([]int{1, 1, 2, 2}, 1, 0, 0, 1)
	v := laF32([]int{1, 1, 2, 1}, 1, 3)
	tests := []struct {
		name  string
		attrs []*Attr
		in    []*Tensor
		want  float64
	}{
		{"plain", nil, []*Tensor{q, k, v}, soft},
		{"causal", []*Attr{laAttrI("is_causal", 1)}, []*Tensor{q, k, v}, 1},
		{"bool mask", nil, []*Tensor{q, k, v, FromSlice(Bool, []bool{false, true}, 1, 2)}, 3},
		{"float mask", nil, []*Tensor{q, k, v, laF32([]int{1, 1}, 0)}, 1}, // padded with -inf
		{"scale", []*Attr{laAttrF("scale", 1e-9)}, []*Tensor{q, k, v}, 2},
		{"softcap", []*Attr{laAttrF("softcap", 1e-6)}, []*Tensor{q, k, v}, 2}, // scores ~ 0
	}
	for _, tc := range tests {
		a := laNode{op: "Attention", version: 23, attrs: tc.attrs}
		out, err := a.run(tc.in...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		laCheck(t, tc.name, out[0], []int{1, 1, 1, 1}, []float64{tc.want}, 1e-5)
	}

	// Past key/value: the cache holds the second key, the new key is first.
	a := laNode{op: "Attention", version: 23, nOut: 4, attrs: []*Attr{laAttrI("qk_matmul_output_mode", 0)}}
	out, err := a.run(q, laF32([]int{1, 1, 1, 2}, 1, 0), laF32([]int{1, 1, 1, 1}, 1), nil,
		laF32([]int{1, 1, 1, 2}, 0, 1), laF32([]int{1, 1, 1, 1}, 3))
	if err != nil {
		t.Fatal(err)
	}
	laCheck(t, "past y", out[0], []int{1, 1, 1, 1}, []float64{(1-p)*3 + p}, 1e-5)
	laCheck(t, "present key", out[1], []int{1, 1, 2, 2}, []float64{0, 1, 1, 0}, 0)
	laCheck(t, "present value", out[2], []int{1, 1, 2, 1}, []float64{3, 1}, 0)
	laCheck(t, "qk", out[3], []int{1, 1, 1, 2}, []float64{0, 1 / math.Sqrt2}, 1e-6)

	// Softmax output mode.
	a = laNode{op: "Attention", version: 23, nOut: 4, attrs: []*Attr{laAttrI("qk_matmul_output_mode", 3)}}
	out, err = a.run(q, k, v)
	if err != nil {
		t.Fatal(err)
	}
	laCheck(t, "probs", out[3], []int{1, 1, 1, 2}, []float64{p, 1 - p}, 1e-6)

	// 3-D inputs with grouped-query heads: two query heads share one kv head.
	a = laNode{op: "Attention", version: 23, attrs: []*Attr{laAttrI("q_num_heads", 2), laAttrI("kv_num_heads", 1)}}
	out, err = a.run(laF32([]int{1, 1, 4}, 1, 0, 0, 1), laF32([]int{1, 2, 2}, 1, 0, 0, 1), laF32([]int{1, 2, 1}, 1, 3))
	if err != nil {
		t.Fatal(err)
	}
	laCheck(t, "gqa", out[0], []int{1, 1, 2}, []float64{soft, (1-p)*1 + p*3}, 1e-5)

	// A fully masked row gives zeros.
	a = laNode{op: "Attention", version: 23}
	out, err = a.run(q, k, v, FromSlice(Bool, []bool{false, false}, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	laCheck(t, "fully masked", out[0], []int{1, 1, 1, 1}, []float64{0}, 0)

	// Errors.
	_, err = a.run(laF32([]int{1, 1, 2}, 1, 0), laF32([]int{1, 2, 2}, 1, 0, 0, 1), laF32([]int{1, 2, 1}, 1, 3))
	laWantErr(t, "3-D without heads", err, "q_num_heads")
	_, err = a.run(q, laF32([]int{1, 1, 2, 3}, make([]float32, 6)...), v)
	laWantErr(t, "head size", err, "inconsistent")
	_, err = a.run(q, k, v, laF32([]int{1, 3}, 0, 0, 0))
	laWantErr(t, "long mask", err, "longer")
	_, err = laNode{op: "Attention", version: 23, attrs: []*Attr{laAttrI("qk_matmul_output_mode", 7)}}.run(q, k, v)
	laWantErr(t, "mode", err, "qk_matmul_output_mode")
}

func TestRotaryEmbedding(t *testing.T) {
	x := laF32([]int{1, 1, 1, 4}, 1, 2, 3, 4)
	cos := laF32([]int{1, 2}, 0, 1)
	sin := laF32([]int{1, 2}, 1, 0)
	pos := FromSlice(Int64, []int64{0}, 1, 1)
	r := laNode{op: "RotaryEmbedding", version: 23}
	out, err := r.run(x, cos, sin, pos)
	if err != nil {
		t.Fatal(err)
	}
	laCheck(t, "halves", out[0], []int{1, 1, 1, 4}, []float64{-3, 2, 1, 4}, 0)
	r = laNode{op: "RotaryEmbedding", version: 23, attrs: []*Attr{laAttrI("interleaved", 1)}}
	out, err = r.run(x, cos, sin, pos)
	if err != nil {
		t.Fatal(err)
	}
	laCheck(t, "interleaved", out[0], []int{1, 1, 1, 4}, []float64{-2, 1, 3, 4}, 0)
	// 3-D input, no position ids, partial rotation of the first two features.
	r = laNode{op: "RotaryEmbedding", version: 23, attrs: []*Attr{laAttrI("num_heads", 1), laAttrI("rotary_embedding_dim", 2)}}
	out, err = r.run(laF32([]int{1, 1, 4}, 1, 2, 3, 4), laF32([]int{1, 1, 1}, 0), laF32([]int{1, 1, 1}, 1))
	if err != nil {
		t.Fatal(err)
	}
	laCheck(t, "partial", out[0], []int{1, 1, 4}, []float64{-2, 1, 3, 4}, 0)
	_, err = laNode{op: "RotaryEmbedding", version: 23}.run(x, cos, sin, FromSlice(Int64, []int64{5}, 1, 1))
	laWantErr(t, "position range", err, "out of range")
	_, err = laNode{op: "RotaryEmbedding", version: 23}.run(x, laF32([]int{1, 3}, 0, 0, 0), laF32([]int{1, 3}, 0, 0, 0), pos)
	laWantErr(t, "cache width", err, "last dimension")
}

func TestContribGelu(t *testing.T) {
	x := laF32([]int{2}, 1, -1)
	out, err := laNode{domain: DomainMicrosoft, op: "Gelu", version: 1}.run(x)
	if err != nil {
		t.Fatal(err)
	}
	laCheck(t, "gelu", out[0], []int{2}, []float64{0.8413447460685429, -(1 - 0.8413447460685429)}, 1e-6)
	out, err = laNode{domain: DomainMicrosoft, op: "FastGelu", version: 1}.run(laF32([]int{1, 2}, 0.5, 1), laF32([]int{2}, 0.5, 0))
	if err != nil {
		t.Fatal(err)
	}
	laCheck(t, "fastgelu", out[0], []int{1, 2}, []float64{0.8411919906082768, 0.8411919906082768}, 1e-6)
	out, err = laNode{domain: DomainMicrosoft, op: "BiasGelu", version: 1}.run(laF32([]int{1}, 0.25), laF32([]int{1}, 0.75))
	if err != nil {
		t.Fatal(err)
	}
	laCheck(t, "biasgelu", out[0], []int{1}, []float64{0.8413447460685429}, 1e-6)
	_, err = laNode{domain: DomainMicrosoft, op: "BiasGelu", version: 1}.run(laF32([]int{2}, 1, 2), laF32([]int{3}, 1, 2, 3))
	laWantErr(t, "bias shape", err, "last dimension")
}

func TestSkipLayerNormalization(t *testing.T) {
	s := laNode{domain: DomainMicrosoft, op: "SkipLayerNormalization", version: 1, nOut: 4}
	out, err := s.run(laF32([]int{1, 1, 3}, 1, 2, 3), laF32([]int{1, 1, 3}, 0, 0, 2), laF32([]int{3}, 1, 1, 2), laF32([]int{3}, 0, 1, 0), laF32([]int{3}, 0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	// s = [1 2 6]: mean 3, variance 14/3.
	laCheck(t, "output", out[0], []int{1, 1, 3}, []float64{-0.9258200997724522, 0.5370899501137739, 2.7774602993173563}, 1e-5)
	laCheck(t, "mean", out[1], []int{1, 1, 1}, []float64{3}, 1e-6)
	laCheck(t, "inv std", out[2], []int{1, 1, 1}, []float64{1 / math.Sqrt(14.0/3)}, 1e-6)
	laCheck(t, "sum", out[3], []int{1, 1, 3}, []float64{1, 2, 6}, 0)
	// Simplified (RMS) variant: rms of [3 4] is sqrt(12.5).
	r := laNode{domain: DomainMicrosoft, op: "SkipSimplifiedLayerNormalization", version: 1}
	out, err = r.run(laF32([]int{1, 2}, 3, 4), laF32([]int{1, 2}, 0, 0), laF32([]int{2}, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	laCheck(t, "rms", out[0], []int{1, 2}, []float64{3 / math.Sqrt(12.5), 4 / math.Sqrt(12.5)}, 1e-6)
	_, err = s.run(laF32([]int{1, 3}, 1, 2, 3), laF32([]int{1, 2}, 1, 2), laF32([]int{3}, 1, 1, 1))
	laWantErr(t, "skip shape", err, "skip")
	_, err = s.run(laF32([]int{1, 3}, 1, 2, 3), laF32([]int{1, 3}, 1, 2, 3), laF32([]int{2}, 1, 1))
	laWantErr(t, "gamma shape", err, "gamma")
	// An empty batch gives empty outputs (it used to be refused as a shape
	// mismatch between two equal shapes).
	for _, nOut := range []int{1, 4} {
		e := laNode{domain: DomainMicrosoft, op: "SkipLayerNormalization", version: 1, nOut: nOut}
		empty := NewTensor(Float, 0, 5, 3)
		out, err = e.run(empty, NewTensor(Float, 0, 5, 3), laF32([]int{3}, 1, 1, 1))
		if err != nil {
			t.Fatalf("%d outputs, empty batch: %v", nOut, err)
		}
		if out[0].Len() != 0 || len(out[0].Shape) != 3 || out[0].Shape[1] != 5 {
			t.Errorf("%d outputs, empty batch: output %v", nOut, out[0].Shape)
		}
	}
}

func TestEmbedLayerNormalization(t *testing.T) {
	e := laNode{domain: DomainMicrosoft, op: "EmbedLayerNormalization", version: 1, nOut: 3}
	ids := FromSlice(Int32, []int32{0, 2}, 1, 2)
	word := laF32([]int{3, 2}, 1, 0, 0, 1, 2, 2)
	pos := laF32([]int{2, 2}, 0, 0, 1, 1)
	gamma, beta := laF32([]int{2}, 1, 1), laF32([]int{2}, 0, 0.5)
	mask := FromSlice(Int32, []int32{1, 0}, 1, 2)
	out, err := e.run(ids, nil, word, pos, nil, gamma, beta, mask)
	if err != nil {
		t.Fatal(err)
	}
	laCheck(t, "output", out[0], []int{1, 2, 2}, []float64{1, -0.5, 0, 0.5}, 1e-5)
	laCheck(t, "mask index", out[1], []int{1}, []float64{1}, 0)
	laCheck(t, "sum", out[2], []int{1, 2, 2}, []float64{1, 0, 3, 3}, 0)
	// Segment embeddings shift the second token.
	seg := FromSlice(Int32, []int32{0, 1}, 1, 2)
	segEmb := laF32([]int{2, 2}, 0, 0, 1, -1)
	out, err = e.run(ids, seg, word, pos, segEmb, gamma, beta)
	if err != nil {
		t.Fatal(err)
	}
	laCheck(t, "segments", out[0], []int{1, 2, 2}, []float64{1, -0.5, 1, -0.5}, 1e-5)
	_, err = e.run(FromSlice(Int32, []int32{0, 7}, 1, 2), nil, word, pos, nil, gamma, beta)
	laWantErr(t, "id range", err, "out of range")
}

func TestMatMulIntegerToFloat(t *testing.T) {
	for _, constB := range []bool{false, true} {
		m := laNode{domain: DomainMicrosoft, op: "MatMulIntegerToFloat", version: 1, consts: map[int]bool{1: constB}}
		out, err := m.run(FromSlice(Uint8, []uint8{3, 4}, 1, 2), FromSlice(Int8, []int8{1, 2}, 2, 1),
			laF32([]int{}, 0.5), laF32([]int{1}, 2), FromSlice(Uint8, []uint8{2}), nil, laF32([]int{1}, 1))
		if err != nil {
			t.Fatal(err)
		}
		// (1*1 + 2*2) * 0.5 * 2 + 1
		laCheck(t, "integer to float", out[0], []int{1, 1}, []float64{6}, 1e-6)

		d := laNode{domain: DomainMicrosoft, op: "DynamicQuantizeMatMul", version: 1, consts: map[int]bool{1: constB}}
		out, err = d.run(laF32([]int{1, 3}, -1, 0, 3), FromSlice(Int8, []int8{1, 1, 1}, 3, 1), laF32([]int{}, 1))
		if err != nil {
			t.Fatal(err)
		}
		// quantized A - zp = [-64 0 191] at scale 4/255
		laCheck(t, "dynamic", out[0], []int{1, 1}, []float64{127 * 4.0 / 255}, 1e-6)
	}
	m := laNode{domain: DomainMicrosoft, op: "MatMulIntegerToFloat", version: 1}
	_, err := m.run(FromSlice(Uint8, []uint8{3, 4}, 1, 2), FromSlice(Int8, []int8{1, 2}, 2, 1), laF32([]int{2}, 1, 1), laF32([]int{}, 1))
	laWantErr(t, "a_scale", err, "a_scale")
}

// BenchmarkAttention measures a BERT-base self-attention block: 12 heads of
// 64 over 128 tokens.
func BenchmarkAttention(b *testing.B) {
	const B, S, H, D = 1, 128, 12, 64
	r := rand.New(rand.NewSource(1))
	q := laF32([]int{B, S, H * D}, randSlice(r, B*S*H*D)...)
	k := laF32([]int{B, S, H * D}, randSlice(r, B*S*H*D)...)
	v := laF32([]int{B, S, H * D}, randSlice(r, B*S*H*D)...)
	node := &Node{OpType: "Attention", Domain: DomainONNX, Version: 23, Inputs: []string{"q", "k", "v"}, Outputs: []string{"y"},
		Attrs: NewAttrs(laAttrI("q_num_heads", H), laAttrI("kv_num_heads", H))}
	kern, err := DefaultRegistry().Build(node)
	if err != nil {
		b.Fatal(err)
	}
	pool := NewPool(0)
	defer pool.Close()
	ec := NewContext(context.Background(), pool, NewArena())
	out := make([]*Tensor, 1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := kern.(Kernel).Run(ec, []*Tensor{q, k, v}, out); err != nil {
			b.Fatal(err)
		}
		ec.Release(out[0])
	}
}
