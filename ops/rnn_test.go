package ops

import (
	"context"
	"math"
	"math/rand"
	"testing"
)

func cvtSigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func TestRNN(t *testing.T) {
	x := cvtF32([]int{2, 1, 1}, 1, 2)
	w := cvtF32([]int{1, 1, 1}, 0.5)
	r := cvtF32([]int{1, 1, 1}, 0.25)
	b := cvtF32([]int{1, 2}, 0.1, 0.2)
	h1 := math.Tanh(0.5 + 0.3)
	h2 := math.Tanh(1.0 + 0.25*h1 + 0.3)
	out := cvtMust(t, "RNN", 14, []*Attr{cvtInt("hidden_size", 1)}, 2, x, w, r, b)
	cvtCheck(t, "forward Y", out[0], []int{2, 1, 1, 1}, []float64{h1, h2}, 1e-6)
	cvtCheck(t, "forward Y_h", out[1], []int{1, 1, 1}, []float64{h2}, 1e-6)

	r1 := math.Tanh(1.0 + 0.3)
	r2 := math.Tanh(0.5 + 0.25*r1 + 0.3)
	out = cvtMust(t, "RNN", 14, []*Attr{cvtStr("direction", "reverse")}, 2, x, w, r, b)
	cvtCheck(t, "reverse Y", out[0], []int{2, 1, 1, 1}, []float64{r2, r1}, 1e-6)

	w2 := cvtF32([]int{2, 1, 1}, 0.5, 0.5)
	r2t := cvtF32([]int{2, 1, 1}, 0.25, 0.25)
	b2 := cvtF32([]int{2, 2}, 0.1, 0.2, 0.1, 0.2)
	out = cvtMust(t, "RNN", 14, []*Attr{cvtStr("direction", "bidirectional")}, 2, x, w2, r2t, b2)
	cvtCheck(t, "bidirectional Y", out[0], []int{2, 2, 1, 1}, []float64{h1, r2, h2, r1}, 1e-6)
	cvtCheck(t, "bidirectional Y_h", out[1], []int{2, 1, 1}, []float64{h2, r2}, 1e-6)

	// Two sequences, the second one step long; layout 1 puts batch first.
	xb := cvtF32([]int{2, 2, 1}, 1, 2, 1, 7)
	seq := FromSlice(Int32, []int32{2, 1}, 2)
	out = cvtMust(t, "RNN", 14, []*Attr{cvtInt("layout", 1)}, 2, xb, w, r, b, seq)
	cvtCheck(t, "sequence_lens Y", out[0], []int{2, 2, 1, 1}, []float64{h1, h2, h1, 0}, 1e-6)
	cvtCheck(t, "sequence_lens Y_h", out[1], []int{2, 1, 1}, []float64{h2, h1}, 1e-6)

	out = cvtMust(t, "RNN", 14, []*Attr{cvtStrs("activations", "Relu")}, 2, x, w, r, b)
	cvtCheck(t, "relu", out[1], []int{1, 1, 1}, []float64{1.0 + 0.25*0.8 + 0.3}, 1e-6)

	_, err := cvtRun(t, "RNN", 14, nil, 2, x, cvtF32([]int{1, 1, 2}, 1, 1), r)
	cvtWantErr(t, "W shape", err, "W shape")
	_, err = cvtRun(t, "RNN", 14, []*Attr{cvtStrs("activations", "Swish")}, 2, x, w, r)
	cvtWantErr(t, "activation", err, "activation")
	_, err = cvtRun(t, "RNN", 14, []*Attr{cvtStr("direction", "sideways")}, 2, x, w, r)
	cvtWantErr(t, "direction", err, "direction")
	_, err = cvtRun(t, "RNN", 14, nil, 2, x, w, r, b, FromSlice(Int32, []int32{3}, 1))
	cvtWantErr(t, "sequence_lens", err, "sequence_lens")
}

func TestGRU(t *testing.T) {
	x := cvtF32([]int{1, 1, 1}, 1)
	w := cvtF32([]int{1, 3, 1}, 0.5, 0.6, 0.7)
	r := cvtF32([]int{1, 3, 1}, 0.1, 0.2, 0.3)
	b := cvtF32([]int{1, 6}, 0, 0, 0, 0, 0, 0.4)
	h0 := cvtF32([]int{1, 1, 1}, 0.5)
	z := cvtSigmoid(0.5 + 0.1*0.5)
	rg := cvtSigmoid(0.6 + 0.2*0.5)
	hc0 := math.Tanh(0.7 + 0.3*rg*0.5 + 0.4)
	hc1 := math.Tanh(0.7 + rg*(0.3*0.5+0.4))
	out := cvtMust(t, "GRU", 14, nil, 2, x, w, r, b, nil, h0)
	cvtCheck(t, "gru", out[1], []int{1, 1, 1}, []float64{(1-z)*hc0 + z*0.5}, 1e-6)
	out = cvtMust(t, "GRU", 14, []*Attr{cvtInt("linear_before_reset", 1)}, 2, x, w, r, b, nil, h0)
	cvtCheck(t, "gru linear before reset", out[1], []int{1, 1, 1}, []float64{(1-z)*hc1 + z*0.5}, 1e-6)
}

func TestLSTM(t *testing.T) {
	x := cvtF32([]int{1, 1, 1}, 1)
	w := cvtF32([]int{1, 4, 1}, 0.1, 0.2, 0.3, 0.4)
	r := cvtF32([]int{1, 4, 1}, 0.5, 0.6, 0.7, 0.8)
	h0 := cvtF32([]int{1, 1, 1}, 0.5)
	c0 := cvtF32([]int{1, 1, 1}, 0.25)
	p := cvtF32([]int{1, 3}, 0.01, 0.02, 0.03)
	i := cvtSigmoid(0.1 + 0.5*0.5 + 0.01*0.25)
	f := cvtSigmoid(0.3 + 0.7*0.5 + 0.03*0.25)
	cc := math.Tanh(0.4 + 0.8*0.5)
	c := f*0.25 + i*cc
	o := cvtSigmoid(0.2 + 0.6*0.5 + 0.02*c)
	h := o * math.Tanh(c)
	out := cvtMust(t, "LSTM", 14, nil, 3, x, w, r, nil, nil, h0, c0, p)
	cvtCheck(t, "Y", out[0], []int{1, 1, 1, 1}, []float64{h}, 1e-6)
	cvtCheck(t, "Y_h", out[1], []int{1, 1, 1}, []float64{h}, 1e-6)
	cvtCheck(t, "Y_c", out[2], []int{1, 1, 1}, []float64{c}, 1e-6)
	// A tight clip bounds every gate input.
	ci := cvtSigmoid(0.1)
	cf := cvtSigmoid(0.1)
	ccc := math.Tanh(0.1)
	cl := cf*0.25 + ci*ccc
	co := cvtSigmoid(0.1)
	out = cvtMust(t, "LSTM", 14, []*Attr{cvtFloat("clip", 0.1)}, 3, x, w, r, nil, nil, h0, c0)
	cvtCheck(t, "clip", out[1], []int{1, 1, 1}, []float64{co * math.Tanh(cl)}, 1e-6)
	_, err := cvtRun(t, "LSTM", 14, nil, 3, x, w, r, nil, nil, h0, c0, cvtF32([]int{1, 2}, 1, 2))
	cvtWantErr(t, "P shape", err, "P shape")
	// No input features: the gates see only the recurrence.
	x0 := cvtF32([]int{1, 1, 0})
	w0 := cvtF32([]int{1, 4, 0})
	out = cvtMust(t, "LSTM", 14, nil, 3, x0, w0, r, nil, nil, h0, c0)
	i0, f0, o0 := cvtSigmoid(0.5*0.5), cvtSigmoid(0.7*0.5), cvtSigmoid(0.6*0.5)
	c0v := f0*0.25 + i0*math.Tanh(0.8*0.5)
	cvtCheck(t, "no features", out[1], []int{1, 1, 1}, []float64{o0 * math.Tanh(c0v)}, 1e-6)
	// No hidden units: empty outputs, no panic.
	out = cvtMust(t, "GRU", 14, nil, 2, x, cvtF32([]int{1, 0, 1}), cvtF32([]int{1, 0, 0}))
	cvtCheck(t, "no hidden", out[0], []int{1, 1, 1, 0}, nil, 0)
}

func BenchmarkLSTM(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	S, B, I, H := 32, 4, 64, 128
	x := cvtRand(r, S, B, I)
	w := cvtRand(r, 1, 4*H, I)
	rr := cvtRand(r, 1, 4*H, H)
	cvtBench(b, "LSTM", 14, []*Attr{cvtInt("hidden_size", int64(H))}, x, w, rr)
}

// TestLSTMCellKernel compares the vectorised LSTM cell with the Go one
// for every hidden size around the 8-lane blocks, gates from -30 to 30.
func TestLSTMCellKernel(t *testing.T) {
	vm := vecmath()
	r := rand.New(rand.NewSource(5))
	for H := 1; H <= 41; H++ {
		xg, hg := make([]float32, 4*H), make([]float32, 4*H)
		for i := range xg {
			xg[i], hg[i] = (r.Float32()*2-1)*15, (r.Float32()*2-1)*15
		}
		c0 := randSlice(r, H)
		c, h := append([]float32(nil), c0...), make([]float32, H)
		wc, wh := append([]float32(nil), c0...), make([]float32, H)
		vm.lstmCell(xg, hg, c, h)
		lstmCellTail(xg, hg, wc, wh, 0)
		for j := 0; j < H; j++ {
			if math.Abs(float64(c[j]-wc[j])) > 2e-6*(1+math.Abs(float64(wc[j]))) || math.Abs(float64(h[j]-wh[j])) > 2e-6 {
				t.Fatalf("H=%d j=%d: c %v h %v, want c %v h %v", H, j, c[j], h[j], wc[j], wh[j])
			}
		}
	}
}

// TestRecurrentFloat32Path runs RNN, GRU and LSTM on float32 inputs (the
// SGEMM path, with weights packed at plan time and at run time) and on the
// same values in float64 (the reference path), over directions, layouts,
// sequence lengths, initial states, biases, peepholes and clipping.
func TestRecurrentFloat32Path(t *testing.T) {
	const S, B, I, H = 5, 3, 7, 12
	type tc struct {
		op    string
		attrs []*Attr
		peep  bool
	}
	var cases []tc
	for _, dir := range []string{"forward", "reverse", "bidirectional"} {
		for _, layout := range []int64{0, 1} {
			base := []*Attr{cvtStr("direction", dir), cvtInt("layout", layout), cvtInt("hidden_size", H)}
			cases = append(cases,
				tc{op: "RNN", attrs: base},
				tc{op: "GRU", attrs: base},
				tc{op: "GRU", attrs: append([]*Attr{cvtInt("linear_before_reset", 1)}, base...)},
				tc{op: "LSTM", attrs: base},
				tc{op: "LSTM", attrs: base, peep: true},
				tc{op: "LSTM", attrs: append([]*Attr{cvtFloat("clip", 0.7), cvtInt("input_forget", 1)}, base...)},
			)
		}
	}
	r := rand.New(rand.NewSource(7))
	for _, c := range cases {
		attr := map[string]*Attr{}
		for _, a := range c.attrs {
			attr[a.Name] = a
		}
		D := 1
		if attr["direction"].S == "bidirectional" {
			D = 2
		}
		layout := attr["layout"].I
		G := map[string]int{"RNN": 1, "GRU": 3, "LSTM": 4}[c.op]
		xShape, stShape := []int{S, B, I}, []int{D, B, H}
		if layout == 1 {
			xShape, stShape = []int{B, S, I}, []int{B, D, H}
		}
		in := []*Tensor{cvtRand(r, xShape...), cvtRand(r, D, G*H, I), cvtRand(r, D, G*H, H), cvtRand(r, D, 2*G*H),
			cvtI64([]int{B}, S, 2, 4), cvtRand(r, stShape...)}
		nout := 2
		if c.op == "LSTM" {
			nout = 3
			in = append(in, cvtRand(r, stShape...))
			if c.peep {
				in = append(in, cvtRand(r, D, 3*H))
			}
		}
		want := func() []*Tensor {
			in64 := make([]*Tensor, len(in))
			for i, x := range in {
				if x.DType != Float {
					in64[i] = x
					continue
				}
				d := make([]float64, x.Len())
				for j, v := range x.Float32s() {
					d[j] = float64(v)
				}
				in64[i] = FromSlice(Double, d, x.Shape...)
			}
			return cvtMust(t, c.op, 14, c.attrs, nout, in64...)
		}()
		for _, planned := range []bool{false, true} {
			n := &Node{OpType: c.op, Domain: DomainONNX, Version: 14, Attrs: NewAttrs(c.attrs...)}
			for range in {
				n.Inputs = append(n.Inputs, "in")
			}
			for range nout {
				n.Outputs = append(n.Outputs, "out")
			}
			if planned {
				n.ConstInputs = []*Tensor{nil, in[1], in[2], in[3]}
			}
			k, err := DefaultRegistry().Build(n)
			if err != nil {
				t.Fatal(err)
			}
			if got := k.(*recurrentKernel).planned != nil; got != planned {
				t.Fatalf("%s: packed at plan time %v, want %v", c.op, got, planned)
			}
			got := make([]*Tensor, nout)
			if err := k.(Kernel).Run(NewContext(context.Background(), nil, nil), in, got); err != nil {
				t.Fatalf("%s %v: %v", c.op, c.attrs, err)
			}
			for o := range got {
				if !EqualShapes(got[o].Shape, want[o].Shape) {
					t.Fatalf("%s output %d: shape %v, want %v", c.op, o, got[o].Shape, want[o].Shape)
				}
				for i, v := range want[o].Float64s() {
					if g := float64(got[o].Float32s()[i]); math.Abs(g-v) > 1e-5 {
						t.Fatalf("%s dir=%s layout=%d peep=%v planned=%v output %d [%d]: %v, want %v",
							c.op, attr["direction"].S, layout, c.peep, planned, o, i, g, v)
					}
				}
			}
		}
	}
}
