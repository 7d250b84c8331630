package ops

import (
	"context"
	"fmt"
	"math"
	"testing"
)

func miscSigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func TestSwiGLU(t *testing.T) {
	a := []float32{1, -2, 0, 3}
	b := []float32{2, 1, 5, -1}
	want := func(alpha float64) []float64 {
		w := make([]float64, len(a))
		for i := range a {
			x := float64(a[i])
			w[i] = x * miscSigmoid(alpha*x) * float64(b[i])
		}
		return w
	}
	out, err := miscRun(t, "", "SwiGLU", 28, []*Tensor{FromSlice(Float, a, 2, 2), FromSlice(Float, b, 2, 2)}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !EqualShapes(out[0].Shape, []int{2, 2}) || out[0].DType != Float {
		t.Fatalf("got %v", out[0])
	}
	miscNear(t, "float", miscF64(t, out[0]), want(1), 1e-6)
	ad := []float64{1, -2, 0, 3}
	bd := []float64{2, 1, 5, -1}
	out, err = miscRun(t, "", "SwiGLU", 28, []*Tensor{FromSlice(Double, ad, 4), FromSlice(Double, bd, 4)}, 1, "alpha", float32(0.5))
	if err != nil {
		t.Fatal(err)
	}
	miscNear(t, "double alpha", miscF64(t, out[0]), want(0.5), 1e-12)
	ah := make([]F16, 4)
	bh := make([]F16, 4)
	for i := range a {
		ah[i], bh[i] = F16From(a[i]), F16From(b[i])
	}
	out, err = miscRun(t, "", "SwiGLU", 28, []*Tensor{FromSlice(Float16, ah, 4), FromSlice(Float16, bh, 4)}, 1)
	if err != nil {
		t.Fatal(err)
	}
	miscNear(t, "float16", miscF64(t, out[0]), want(1), 1e-3)
	if _, err := miscRun(t, "", "SwiGLU", 28, []*Tensor{FromSlice(Float, a, 4), FromSlice(Float, b, 2, 2)}, 1); err == nil {
		t.Errorf("shape mismatch accepted")
	}
	if _, err := miscRun(t, "", "SwiGLU", 28, []*Tensor{FromSlice(Int32, []int32{1}, 1), FromSlice(Int32, []int32{1}, 1)}, 1); err == nil {
		t.Errorf("int32 inputs accepted")
	}
}

func TestLinearAttention(t *testing.T) {
	// One head, d_k = d_v = 1, two tokens: q = (1, 2), k = (3, 4), v = (5, 6).
	q := FromSlice(Float, []float32{1, 2}, 1, 2, 1)
	k := FromSlice(Float, []float32{3, 4}, 1, 2, 1)
	v := FromSlice(Float, []float32{5, 6}, 1, 2, 1)
	heads := []any{"q_num_heads", 1, "kv_num_heads", 1, "scale", float32(1)}
	with := func(extra ...any) []any { return append(append([]any(nil), heads...), extra...) }
	for _, tc := range []struct {
		name        string
		in          []*Tensor
		attrs       []any
		want, state []float64
	}{
		// S1 = 15, S2 = 15 + 24.
		{"linear", []*Tensor{q, k, v}, with("update_rule", "linear"), []float64{15, 78}, []float64{39}},
		{"linear past", []*Tensor{q, k, v, FromSlice(Float, []float32{1}, 1, 1, 1, 1)}, with("update_rule", "linear"), []float64{16, 80}, []float64{40}},
		// The second step halves the state first: S2 = 7.5 + 24.
		{"gated", []*Tensor{q, k, v, nil, FromSlice(Float, []float32{0, float32(math.Log(0.5))}, 1, 2, 1)},
			with("update_rule", "gated"), []float64{15, 63}, []float64{31.5}},
		// Step 2: retrieved 15*4 = 60, v' = 0.5*(6-60) = -27, S2 = 15 + 4*(-27).
		{"delta", []*Tensor{q, k, v, nil, nil, FromSlice(Float, []float32{1, 0.5}, 1, 2, 1)},
			with("update_rule", "delta"), []float64{15, -186}, []float64{-93}},
		// Decay 0.5 at step 2: S = 7.5, retrieved 30, v' = 0.5*(6-30) = -12,
		// S2 = 7.5 - 48.
		{"gated delta", []*Tensor{q, k, v, nil, FromSlice(Float, []float32{0, float32(math.Log(0.5))}, 1, 2, 1), FromSlice(Float, []float32{1, 0.5}, 1, 2, 1)},
			heads, []float64{15, -81}, []float64{-40.5}},
		// Default scale 1/sqrt(d_k) = 1.
		{"default scale", []*Tensor{q, k, v}, []any{"q_num_heads", 1, "kv_num_heads", 1, "update_rule", "linear"}, []float64{15, 78}, []float64{39}},
		// Two query heads share the key/value head: q = (1, 10) then (2, 20).
		{"gqa", []*Tensor{FromSlice(Float, []float32{1, 10, 2, 20}, 1, 2, 2), k, v}, []any{"q_num_heads", 2, "kv_num_heads", 1, "update_rule", "linear", "scale", float32(1)},
			[]float64{15, 150, 78, 780}, []float64{39}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := miscRun(t, "", "LinearAttention", 27, tc.in, 2, tc.attrs...)
			if err != nil {
				t.Fatal(err)
			}
			miscNear(t, "output", miscF64(t, out[0]), tc.want, 1e-6)
			miscNear(t, "state", miscF64(t, out[1]), tc.state, 1e-6)
			if !EqualShapes(out[1].Shape, []int{1, 1, 1, 1}) {
				t.Errorf("state shape %v", out[1].Shape)
			}
		})
	}

	// A wider case: per-key-dimension decay with d_k = 2 scales each row
	// of the state separately.
	q2 := FromSlice(Float, []float32{1, 1}, 1, 1, 2)
	k2 := FromSlice(Float, []float32{1, 2}, 1, 1, 2)
	v2 := FromSlice(Float, []float32{3}, 1, 1, 1)
	past := FromSlice(Float, []float32{10, 20}, 1, 1, 2, 1)
	decay := FromSlice(Float, []float32{0, float32(math.Log(0.5))}, 1, 1, 2)
	out, err := miscRun(t, "", "LinearAttention", 27, []*Tensor{q2, k2, v2, past, decay}, 2, "q_num_heads", 1, "kv_num_heads", 1, "update_rule", "gated", "scale", float32(1))
	if err != nil {
		t.Fatal(err)
	}
	// S = (10 + 3, 10 + 6), output = 13 + 16.
	miscNear(t, "per-dim decay state", miscF64(t, out[1]), []float64{13, 16}, 1e-6)
	miscNear(t, "per-dim decay output", miscF64(t, out[0]), []float64{29}, 1e-6)

	bad := []struct {
		name   string
		inputs []string
		attrs  []any
	}{
		{"decay for linear", []string{"q", "k", "v", "", "g"}, with("update_rule", "linear")},
		{"no beta for delta", []string{"q", "k", "v"}, with("update_rule", "delta")},
		{"no decay for gated", []string{"q", "k", "v"}, with("update_rule", "gated")},
		{"bad heads", []string{"q", "k", "v"}, []any{"q_num_heads", 3, "kv_num_heads", 2, "update_rule", "linear"}},
		{"missing heads", []string{"q", "k", "v"}, []any{"update_rule", "linear"}},
		{"bad rule", []string{"q", "k", "v"}, with("update_rule", "mamba")},
	}
	for _, tc := range bad {
		if _, err := miscBuild("", "LinearAttention", 27, tc.inputs, 2, tc.attrs...); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if _, err := miscRun(t, "", "LinearAttention", 27, []*Tensor{q, FromSlice(Float, []float32{1, 2, 3, 4}, 1, 2, 2), v}, 2, with("update_rule", "linear")...); err == nil {
		t.Errorf("key of the wrong width accepted")
	}
	if _, err := miscRun(t, "", "LinearAttention", 27, []*Tensor{q, k, v, FromSlice(Float, []float32{1, 2}, 1, 1, 2, 1)}, 2, with("update_rule", "linear")...); err == nil {
		t.Errorf("past_state of the wrong shape accepted")
	}
}

// miscAddGraph is a GraphCaller that adds a constant to its input.
type miscAddGraph struct{ c float64 }

func (g miscAddGraph) CallGraph(ec *Context, in, nodeIn []Value) ([]Value, error) {
	x, ok := in[0].(*Tensor)
	if !ok {
		return nil, fmt.Errorf("not a tensor")
	}
	y := ec.Empty(x.DType, x.Shape...)
	switch d := x.Data.(type) {
	case []float32:
		for i, v := range d {
			y.Data.([]float32)[i] = v + float32(g.c)
		}
	case []float64:
		for i, v := range d {
			y.Data.([]float64)[i] = v + g.c
		}
	}
	return []Value{y}, nil
}

func TestFlexAttention(t *testing.T) {
	// One query against two keys: scores (q·k) * scale.
	q := FromSlice(Float, []float32{1, 0}, 1, 1, 1, 2)
	k := FromSlice(Float, []float32{1, 0, 0, 1}, 1, 1, 2, 2)
	v := FromSlice(Float, []float32{10, 0, 0, 20}, 1, 1, 2, 2)
	soft := func(s0, s1 float64) []float64 {
		p0 := 1 / (1 + math.Exp(s1-s0))
		return []float64{10 * p0, 20 * (1 - p0)}
	}
	out, err := miscRun(t, DomainPreview, "FlexAttention", 1, []*Tensor{q, k, v}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !EqualShapes(out[0].Shape, []int{1, 1, 1, 2}) {
		t.Fatalf("shape %v", out[0].Shape)
	}
	miscNear(t, "default scale", miscF64(t, out[0]), soft(1/math.Sqrt(2), 0), 1e-6)
	out, err = miscRun(t, DomainPreview, "FlexAttention", 1, []*Tensor{q, k, v}, 1, "scale", float32(3))
	if err != nil {
		t.Fatal(err)
	}
	miscNear(t, "scale 3", miscF64(t, out[0]), soft(3, 0), 1e-6)

	// GQA: two query heads share one key/value head.
	q2 := FromSlice(Double, []float64{1, 0, 0, 1}, 1, 2, 1, 2)
	kd := FromSlice(Double, []float64{1, 0, 0, 1}, 1, 1, 2, 2)
	vd := FromSlice(Double, []float64{10, 0, 0, 20}, 1, 1, 2, 2)
	out, err = miscRun(t, DomainPreview, "FlexAttention", 1, []*Tensor{q2, kd, vd}, 1, "scale", float32(1))
	if err != nil {
		t.Fatal(err)
	}
	if out[0].DType != Double {
		t.Fatalf("double input gave %s", out[0].DType)
	}
	miscNear(t, "gqa", miscF64(t, out[0]), append(soft(1, 0), soft(0, 1)...), 1e-12)

	// Modifier subgraphs, through a stand-in GraphCaller.
	kern, err := miscBuild(DomainPreview, "FlexAttention", 1, []string{"q", "k", "v"}, 1, "scale", float32(1))
	if err != nil {
		t.Fatal(err)
	}
	fa := *kern.(*flexAttention)
	ec := NewContext(context.Background(), nil, nil)
	res := make([]*Tensor, 1)
	fa.scoreMod = miscAddGraph{c: 7} // a constant shift leaves softmax unchanged
	if err := fa.Run(ec, []*Tensor{q, k, v}, res); err != nil {
		t.Fatal(err)
	}
	miscNear(t, "score_mod", miscF64(t, res[0]), soft(1, 0), 1e-6)
	fa.scoreMod, fa.probMod = nil, miscAddGraph{c: 1}
	if err := fa.Run(ec, []*Tensor{q, k, v}, res); err != nil {
		t.Fatal(err)
	}
	p := soft(1, 0)
	miscNear(t, "prob_mod", miscF64(t, res[0]), []float64{p[0] + 10, p[1] + 20}, 1e-6)

	for _, in := range [][]*Tensor{
		{FromSlice(Float, []float32{1, 0}, 1, 2), k, v},          // rank 2 query
		{q, FromSlice(Float, []float32{1, 0, 0}, 1, 1, 1, 3), v}, // head size mismatch
		{FromSlice(Float, []float32{1, 0, 1, 0, 1, 0}, 1, 3, 1, 2), FromSlice(Float, []float32{1, 0, 0, 1, 1, 0, 0, 1}, 1, 2, 2, 2), FromSlice(Float, []float32{1, 0, 0, 1, 1, 0, 0, 1}, 1, 2, 2, 2)}, // 3 heads over 2
		{q, k, FromSlice(Double, []float64{10, 0, 0, 20}, 1, 1, 2, 2)}, // mixed types
	} {
		if _, err := miscRun(t, DomainPreview, "FlexAttention", 1, in, 1); err == nil {
			t.Errorf("inputs %v accepted", in)
		}
	}
	if _, err := miscBuild(DomainPreview, "FlexAttention", 1, []string{"q", "k", "v"}, 1, "softmax_precision", int(Int32)); err == nil {
		t.Errorf("int32 softmax_precision accepted")
	}
}

func BenchmarkLinearAttention(b *testing.B) {
	const B, T, H, D = 1, 64, 8, 64
	mk := func(n int) *Tensor {
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(i%17) / 17
		}
		return FromSlice(Float, d, B, T, n/(B*T))
	}
	in := []*Tensor{mk(B * T * H * D), mk(B * T * H * D), mk(B * T * H * D), nil, mk(B * T * H), mk(B * T * H)}
	k, err := miscBuild("", "LinearAttention", 27, []string{"q", "k", "v", "", "g", "b"}, 2, "q_num_heads", H, "kv_num_heads", H)
	if err != nil {
		b.Fatal(err)
	}
	ec := NewContext(context.Background(), nil, NewArena())
	out := make([]*Tensor, 2)
	for i := 0; i < b.N; i++ {
		if err := k.(Kernel).Run(ec, in, out); err != nil {
			b.Fatal(err)
		}
		ec.Release(out[0])
		ec.Release(out[1])
	}
}
