//go:build cuda

package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/agate-ml/agate/engine/cuda"
	"github.com/agate-ml/agate/ops"
)

// openCUDA returns cuda:0 or skips, after checking the error is the
// documented one.
func openCUDA(tb testing.TB) *cuda.Device {
	tb.Helper()
	d, err := cuda.Open(0, cuda.Options{})
	if err != nil {
		if !errors.Is(err, cuda.ErrNoDevice) && !errors.Is(err, cuda.ErrStubKernels) {
			tb.Fatalf("cuda.Open: unexpected error %v", err)
		}
		tb.Skipf("no usable GPU: %v", err)
	}
	return d
}

func cudaRandTensor(rng *rand.Rand, shape ...int) *ops.Tensor {
	t := ops.NewTensor(ops.Float, shape...)
	for i := range t.Float32s() {
		t.Float32s()[i] = float32(rng.NormFloat64())
	}
	return t
}

// cudaLayer builds a BERT-base feed-forward block at batch × seq: FusedMatMul
// (768→3072, GELU), FusedMatMul (3072→768) and SkipLayerNormalization, as one
// device program with resident weights, and returns it with its CPU kernels.
func cudaLayer(tb testing.TB, batch, seq int) (prog *cuda.Program, cpu []ops.Kernel, x *ops.Tensor) {
	rng := rand.New(rand.NewPCG(1, 1))
	const h, ff = 768, 3072
	w1, b1 := cudaRandTensor(rng, h, ff), cudaRandTensor(rng, ff)
	w2, b2 := cudaRandTensor(rng, ff, h), cudaRandTensor(rng, h)
	gamma, beta := cudaRandTensor(rng, h), cudaRandTensor(rng, h)
	x = cudaRandTensor(rng, batch, seq, h)
	// values: 0 x, 1 w1, 2 b1, 3 w2, 4 b2, 5 gamma, 6 beta, 7 h1, 8 h2, 9 y
	consts := []*ops.Tensor{nil, w1, b1, w2, b2, gamma, beta, nil, nil, nil}
	mk := func(domain, op string, in []int, out int, attrs ...*ops.Attr) cuda.ProgramStep {
		n := &ops.Node{Name: op, OpType: op, Domain: domain, Version: 1, Attrs: ops.NewAttrs(attrs...)}
		n.ConstInputs = make([]*ops.Tensor, len(in))
		for i, v := range in {
			n.Inputs = append(n.Inputs, fmt.Sprint("v", v))
			n.ConstInputs[i] = consts[v]
		}
		n.Outputs = []string{fmt.Sprint("v", out)}
		k, err := ops.DefaultRegistry().Build(n)
		if err != nil {
			tb.Fatal(err)
		}
		cpu = append(cpu, k.(ops.Kernel))
		return cuda.ProgramStep{Node: n, In: in, Out: []int{out}, Fallback: k.(ops.Kernel)}
	}
	prog = &cuda.Program{NumValues: 10, Consts: consts, Inputs: []int{0}, Outputs: []int{9}}
	prog.Steps = []cuda.ProgramStep{
		mk(ops.DomainAgate, "FusedMatMul", []int{0, 1, 2}, 7, &ops.Attr{Name: "activation", Type: ops.AttrString, S: "gelu"}),
		mk(ops.DomainAgate, "FusedMatMul", []int{7, 3, 4}, 8),
		mk(ops.DomainMicrosoft, "SkipLayerNormalization", []int{8, 0, 5, 6}, 9),
	}
	return prog, cpu, x
}

// TestCUDALayerMatchesCPU checks the device program against its CPU kernels.
func TestCUDALayerMatchesCPU(t *testing.T) {
	d := openCUDA(t)
	prog, cpu, x := cudaLayer(t, 2, 64)
	k, err := d.Compile(prog)
	if err != nil {
		t.Fatal(err)
	}
	ec := ops.NewContext(context.Background(), nil, nil)
	got := make([]*ops.Tensor, 1)
	if err := k.Run(ec, []*ops.Tensor{x}, got); err != nil {
		t.Fatal(err)
	}
	vals := map[int]*ops.Tensor{0: x}
	for i, c := range prog.Consts {
		if c != nil {
			vals[i] = c
		}
	}
	for i, st := range prog.Steps {
		in := make([]*ops.Tensor, len(st.In))
		for j, v := range st.In {
			in[j] = vals[v]
		}
		out := make([]*ops.Tensor, 1)
		if err := cpu[i].Run(ec, in, out); err != nil {
			t.Fatal(err)
		}
		vals[st.Out[0]] = out[0]
	}
	want := vals[9].Float32s()
	for i, w := range want {
		if g := got[0].Float32s()[i]; g-w > 1e-2 || w-g > 1e-2 {
			t.Fatalf("element %d: GPU %g, CPU %g", i, g, w)
		}
	}
}

// BenchmarkCUDALayer times the feed-forward block on the GPU, uploads and
// downloads included, at BERT-base sizes.
func BenchmarkCUDALayer(b *testing.B) {
	d := openCUDA(b)
	for _, bs := range []struct{ batch, seq int }{{1, 128}, {8, 128}, {32, 128}} {
		b.Run(fmt.Sprintf("batch%d_seq%d", bs.batch, bs.seq), func(b *testing.B) {
			prog, _, x := cudaLayer(b, bs.batch, bs.seq)
			k, err := d.Compile(prog)
			if err != nil {
				b.Fatal(err)
			}
			ec := ops.NewContext(context.Background(), nil, nil)
			out := make([]*ops.Tensor, 1)
			b.SetBytes(int64(4 * x.Len()))
			for b.Loop() {
				if err := k.Run(ec, []*ops.Tensor{x}, out); err != nil {
					b.Fatal(err)
				}
			}
			flops := 2 * 2 * float64(bs.batch*bs.seq) * 768 * 3072
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
