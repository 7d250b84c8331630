package ops

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func msRand(r *rand.Rand, s float64, shape ...int) *Tensor {
	t := NewTensor(Float, shape...)
	for i := range t.Float32s() {
		t.Float32s()[i] = float32(r.NormFloat64() * s)
	}
	return t
}

// msAttnCase is one com.microsoft Attention configuration.
type msAttnCase struct {
	name       string
	b, s, p    int // batch, sequence, past length
	hin, h     int // input hidden, Q/K/V hidden
	heads      int
	causal     bool
	mask       *Tensor // mask_index
	bias       bool    // attention_bias [1, heads, s, t]
	scale      float32
	maskFilter float32 // 0: default -10000
}

// refMask is the additive mask the case's mask_index and unidirectional
// stand for, [b, 1, s, t].
func (c msAttnCase) refMask() *Tensor {
	t := c.p + c.s
	filter := c.maskFilter
	if filter == 0 {
		filter = -10000
	}
	m := NewTensor(Float, c.b, 1, c.s, t)
	var idx []int64
	if c.mask != nil {
		idx, _ = c.mask.AsInt64s()
	}
	for b := 0; b < c.b; b++ {
		for i := 0; i < c.s; i++ {
			for j := 0; j < t; j++ {
				masked := false
				if c.mask != nil {
					switch len(c.mask.Shape) {
					case 1:
						masked = int64(j) >= idx[b] || len(idx) == 2*c.b && int64(j) < idx[c.b+b]
					case 2:
						masked = idx[b*t+j] == 0
					case 3:
						masked = idx[(b*c.s+i)*t+j] == 0
					}
				}
				v := float32(0)
				if masked {
					v = filter
				}
				if c.causal && j > c.p+i {
					v = -math.MaxFloat32
				}
				m.Float32s()[(b*c.s+i)*t+j] = v
			}
		}
	}
	return m
}

// reference computes the case with existing kernels: MatMul, Add, Split and
// the ai.onnx Attention operator (with the past in [b, heads, p, d] form).
func (c msAttnCase) reference(t *testing.T, x, w, bias, past, attnBias *Tensor) (y, present *Tensor) {
	t.Helper()
	mm, err := laNode{op: "MatMul", version: 13}.run(x, w)
	if err != nil {
		t.Fatal(err)
	}
	qkv, err := laNode{op: "Add", version: 14}.run(mm[0], bias)
	if err != nil {
		t.Fatal(err)
	}
	split := FromSlice(Int64, []int64{int64(c.h), int64(c.h), int64(c.h)}, 3)
	parts, err := laNode{op: "Split", version: 13, nOut: 3, attrs: []*Attr{laAttrI("axis", 2)}}.run(qkv[0], split)
	if err != nil {
		t.Fatal(err)
	}
	mask := c.refMask()
	if attnBias != nil {
		m2, err := laNode{op: "Add", version: 14}.run(mask, attnBias)
		if err != nil {
			t.Fatal(err)
		}
		mask = m2[0]
	}
	attrs := []*Attr{laAttrI("q_num_heads", int64(c.heads)), laAttrI("kv_num_heads", int64(c.heads))}
	if c.scale != 0 {
		attrs = append(attrs, laAttrF("scale", c.scale))
	}
	in := []*Tensor{parts[0], parts[1], parts[2], mask}
	d := c.h / c.heads
	if past != nil {
		n := c.b * c.heads * c.p * d
		pk := FromSlice(Float, past.Float32s()[:n], c.b, c.heads, c.p, d)
		pv := FromSlice(Float, past.Float32s()[n:], c.b, c.heads, c.p, d)
		in = append(in, pk, pv)
	}
	out, err := laNode{op: "Attention", version: 23, nOut: 3, attrs: attrs}.run(in...)
	if err != nil {
		t.Fatal(err)
	}
	if past == nil {
		return out[0], nil
	}
	pr := NewTensor(Float, 2, c.b, c.heads, c.p+c.s, d)
	copy(pr.Float32s(), out[1].Float32s())
	copy(pr.Float32s()[out[1].Len():], out[2].Float32s())
	return out[0], pr
}

func msClose(t *testing.T, what string, got, want *Tensor, tol float64) {
	t.Helper()
	if !EqualShapes(got.Shape, want.Shape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, want.Shape)
	}
	g, w := got.Float32s(), want.Float32s()
	for i := range w {
		if math.Abs(float64(g[i]-w[i])) > tol*math.Max(1, math.Abs(float64(w[i]))) {
			t.Fatalf("%s: element %d = %v, want %v", what, i, g[i], w[i])
		}
	}
}

func TestMSAttentionMatchesComposition(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	i32 := func(shape []int, v ...int32) *Tensor { return FromSlice(Int32, v, shape...) }
	cases := []msAttnCase{
		{name: "plain", b: 2, s: 3, hin: 6, h: 8, heads: 2},
		{name: "one head, scale", b: 1, s: 4, hin: 5, h: 4, heads: 1, scale: 0.3},
		{name: "lengths", b: 2, s: 4, hin: 6, h: 8, heads: 2, mask: i32([]int{2}, 4, 2)},
		{name: "end and start", b: 2, s: 4, hin: 6, h: 8, heads: 2, mask: i32([]int{4}, 3, 4, 1, 0)},
		{name: "raw 2-D", b: 2, s: 3, hin: 6, h: 8, heads: 2, mask: i32([]int{2, 3}, 1, 1, 0, 1, 0, 1)},
		{name: "raw 3-D", b: 1, s: 2, hin: 6, h: 8, heads: 4, mask: i32([]int{1, 2, 2}, 1, 0, 1, 1), maskFilter: -1e4 * 3},
		{name: "unidirectional", b: 2, s: 5, hin: 6, h: 8, heads: 2, causal: true},
		{name: "past", b: 2, s: 2, p: 3, hin: 6, h: 8, heads: 2, causal: true},
		{name: "start and causal", b: 2, s: 4, hin: 6, h: 8, heads: 2, causal: true, mask: i32([]int{4}, 4, 3, 1, 2)},
		{name: "past with mask", b: 1, s: 2, p: 2, hin: 4, h: 4, heads: 2, mask: i32([]int{1, 4}, 1, 0, 1, 1)},
		{name: "attention bias", b: 2, s: 3, hin: 6, h: 8, heads: 2, bias: true, mask: i32([]int{2}, 3, 1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := msRand(r, 1, c.b, c.s, c.hin)
			w := msRand(r, 0.5, c.hin, 3*c.h)
			bias := msRand(r, 0.2, 3*c.h)
			var past, attnBias *Tensor
			if c.p > 0 {
				past = msRand(r, 1, 2, c.b, c.heads, c.p, c.h/c.heads)
			}
			if c.bias {
				attnBias = msRand(r, 1, 1, c.heads, c.s, c.p+c.s)
			}
			wantY, wantPresent := c.reference(t, x, w, bias, past, attnBias)
			attrs := []*Attr{laAttrI("num_heads", int64(c.heads))}
			if c.causal {
				attrs = append(attrs, laAttrI("unidirectional", 1))
			}
			if c.scale != 0 {
				attrs = append(attrs, laAttrF("scale", c.scale))
			}
			if c.maskFilter != 0 {
				attrs = append(attrs, laAttrF("mask_filter_value", c.maskFilter))
			}
			nOut := 1
			if past != nil {
				nOut = 2
			}
			for _, konst := range []bool{false, true} {
				node := laNode{domain: DomainMicrosoft, op: "Attention", version: 1, attrs: attrs, nOut: nOut,
					consts: map[int]bool{1: konst, 2: konst}}
				out, err := node.run(x, w, bias, c.mask, past, attnBias)
				if err != nil {
					t.Fatal(err)
				}
				msClose(t, "output", out[0], wantY, 1e-5)
				if past != nil {
					msClose(t, "present", out[1], wantPresent, 1e-5)
				}
			}
		})
	}
}

// TestMSAttentionSingleToken: with one token and no past, attention
// returns the value projection, x·Wv + bv.
func TestMSAttentionSingleToken(t *testing.T) {
	x := laF32([]int{1, 1, 2}, 1, 2)
	// columns: q0 q1 | k0 k1 | v0 v1
	w := laF32([]int{2, 6},
		1, 0, 0, 1, 1, -1,
		0, 1, 1, 0, 2, 3)
	bias := laF32([]int{6}, 0, 0, 0, 0, 0.5, -0.5)
	for _, heads := range []int64{1, 2} {
		out, err := laNode{domain: DomainMicrosoft, op: "Attention", version: 1,
			attrs: []*Attr{laAttrI("num_heads", heads)}}.run(x, w, bias)
		if err != nil {
			t.Fatal(err)
		}
		laCheck(t, "single token", out[0], []int{1, 1, 2}, []float64{5.5, 4.5}, 1e-6)
	}
	// Present without past: [2, b, heads, s, d] of K and V.
	out, err := laNode{domain: DomainMicrosoft, op: "Attention", version: 1, nOut: 2,
		attrs: []*Attr{laAttrI("num_heads", 1)}}.run(x, w, bias)
	if err != nil {
		t.Fatal(err)
	}
	laCheck(t, "present", out[1], []int{2, 1, 1, 1, 2}, []float64{2, 1, 5.5, 4.5}, 1e-6)
}

// TestQAttention checks QAttention against Attention on the dequantized
// input and weights.
func TestQAttention(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const b, s, hin, h, heads = 2, 5, 8, 8, 2
	xq := make([]uint8, b*s*hin)
	for i := range xq {
		xq[i] = uint8(r.IntN(256))
	}
	wq := make([]int8, hin*3*h)
	for i := range wq {
		wq[i] = int8(r.IntN(255) - 127)
	}
	bias := msRand(r, 0.2, 3*h)
	xs, xz := float32(0.02), uint8(120)
	perCol := make([]float32, 3*h)
	for j := range perCol {
		perCol[j] = 0.003 + 0.001*float32(j%5)
	}
	mask := FromSlice(Int32, []int32{5, 3}, 2)
	for _, tc := range []struct {
		name  string
		scale *Tensor
		zp    *Tensor
	}{
		{"per tensor", Scalar(float32(0.004)), Scalar(int8(0))},
		{"per column", FromSlice(Float, perCol, 3*h), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			xf := NewTensor(Float, b, s, hin)
			for i, v := range xq {
				xf.Float32s()[i] = (float32(v) - float32(xz)) * xs
			}
			wf := NewTensor(Float, hin, 3*h)
			sv := tc.scale.Float32s()
			for i, v := range wq {
				wf.Float32s()[i] = float32(v) * sv[(i%(3*h))%len(sv)]
			}
			attrs := []*Attr{laAttrI("num_heads", heads)}
			want, err := laNode{domain: DomainMicrosoft, op: "Attention", version: 1, attrs: attrs}.run(xf, wf, bias, mask)
			if err != nil {
				t.Fatal(err)
			}
			for _, konst := range []bool{false, true} {
				node := laNode{domain: DomainMicrosoft, op: "QAttention", version: 1, attrs: attrs,
					consts: map[int]bool{1: konst, 7: konst}}
				got, err := node.run(FromSlice(Uint8, xq, b, s, hin), FromSlice(Int8, wq, hin, 3*h), bias,
					Scalar(xs), tc.scale, mask, Scalar(xz), tc.zp)
				if err != nil {
					t.Fatal(err)
				}
				msClose(t, "QAttention", got[0], want[0], 1e-4)
			}
		})
	}
}

func TestMSAttentionErrors(t *testing.T) {
	x := NewTensor(Float, 1, 2, 4)
	w := NewTensor(Float, 4, 12)
	bias := NewTensor(Float, 12)
	for _, tc := range []struct {
		name  string
		attrs []*Attr
		in    []*Tensor
		want  string
	}{
		{"no heads", nil, []*Tensor{x, w, bias}, "num_heads"},
		{"rotary", []*Attr{laAttrI("num_heads", 2), laAttrI("do_rotary", 1)}, []*Tensor{x, w, bias}, "do_rotary"},
		{"hidden sizes", []*Attr{laAttrI("num_heads", 2), {Name: "qkv_hidden_sizes", Type: AttrInts, Ints: []int64{4, 2, 4}}},
			[]*Tensor{x, w, bias}, "same hidden size"},
		{"2-D input", []*Attr{laAttrI("num_heads", 2)}, []*Tensor{NewTensor(Float, 2, 4), w, bias}, "[batch, seq, hidden]"},
		{"weights rows", []*Attr{laAttrI("num_heads", 2)}, []*Tensor{x, NewTensor(Float, 3, 12), bias}, "do not match"},
		{"weights columns", []*Attr{laAttrI("num_heads", 2)}, []*Tensor{x, NewTensor(Float, 4, 10), nil}, "3 equal parts"},
		{"heads", []*Attr{laAttrI("num_heads", 3)}, []*Tensor{x, w, bias}, "multiple of 3 heads"},
		{"mask shape", []*Attr{laAttrI("num_heads", 2)}, []*Tensor{x, w, bias, NewTensor(Int32, 3)}, "mask_index"},
		{"mask type", []*Attr{laAttrI("num_heads", 2)}, []*Tensor{x, w, bias, NewTensor(Float, 1)}, "int32"},
		{"past shape", []*Attr{laAttrI("num_heads", 2)}, []*Tensor{x, w, bias, nil, NewTensor(Float, 2, 1, 2, 3, 5)}, "past"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := laNode{domain: DomainMicrosoft, op: "Attention", version: 1, attrs: tc.attrs}.run(tc.in...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	_, err := laNode{domain: DomainMicrosoft, op: "QAttention", version: 1, attrs: []*Attr{laAttrI("num_heads", 2)}}.run(
		NewTensor(Uint8, 1, 2, 4), NewTensor(Int8, 4, 12), bias)
	if err == nil || !strings.Contains(err.Error(), "input_scale") {
		t.Errorf("QAttention without scales: error %v", err)
	}
}

func BenchmarkMSAttention(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const batch, s, h, heads = 1, 128, 384, 12
	x := msRand(r, 1, batch, s, h)
	w := msRand(r, 0.05, h, 3*h)
	bias := msRand(r, 0.1, 3*h)
	node := &Node{OpType: "Attention", Domain: DomainMicrosoft, Version: 1,
		Attrs:  NewAttrs(laAttrI("num_heads", heads)),
		Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"}, ConstInputs: []*Tensor{nil, w, bias}}
	k, err := DefaultRegistry().Build(node)
	if err != nil {
		b.Fatal(err)
	}
	pool := NewPool(0)
	defer pool.Close()
	ec := NewContext(b.Context(), pool, NewArena())
	out := make([]*Tensor, 1)
	for b.Loop() {
		if err := k.(Kernel).Run(ec, []*Tensor{x, w, bias}, out); err != nil {
			b.Fatal(err)
		}
		ec.Release(out[0])
	}
}

// TestMSAttentionHalf: a float16 (and bfloat16) Attention with a past,
// as fp16 GPT-2 exports have it, gives the float32 kernel's result on the
// same (rounded) values, in half precision.
func TestMSAttentionHalf(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	b, s, p, hin, h, heads := 2, 3, 2, 8, 8, 2
	for _, dt := range []DType{Float16, BFloat16} {
		half := func(t32 *Tensor) (*Tensor, *Tensor) {
			ht := NewTensor(dt, t32.Shape...)
			narrowFloat32s(ht.Data, t32.Float32s())
			back := NewTensor(Float, t32.Shape...)
			widenFloat32s(back.Float32s(), ht.Data)
			return ht, back
		}
		x, x32 := half(msRand(r, 1, b, s, hin))
		w, w32 := half(msRand(r, 0.5, hin, 3*h))
		bias, bias32 := half(msRand(r, 0.2, 3*h))
		past, past32 := half(msRand(r, 1, 2, b, heads, p, h/heads))
		node := laNode{domain: DomainMicrosoft, op: "Attention", version: 1, nOut: 2,
			attrs: []*Attr{laAttrI("num_heads", int64(heads)), laAttrI("unidirectional", 1)}}
		want, err := node.run(x32, w32, bias32, nil, past32)
		if err != nil {
			t.Fatal(err)
		}
		got, err := node.run(x, w, bias, nil, past)
		if err != nil {
			t.Fatalf("%s: %v", dt, err)
		}
		for i := range want {
			if got[i].DType != dt {
				t.Fatalf("%s: output %d is %s", dt, i, got[i].DType)
			}
			g := NewTensor(Float, got[i].Shape...)
			widenFloat32s(g.Float32s(), got[i].Data)
			tol := 2e-3 // float16's relative step
			if dt == BFloat16 {
				tol = 1e-2
			}
			msClose(t, dt.String()+" output", g, want[i], tol)
		}
	}
}
