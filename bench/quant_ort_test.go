//go:build ort

package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/models/quantize"
	"github.com/agate-ml/agate/ops"
)

// quantizedModel writes the dynamically quantized form of src into dir.
func quantizedModel(tb testing.TB, src, dir string, opt quantize.Options) string {
	tb.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		tb.Fatal(err)
	}
	q, _, err := quantize.Model(b, opt)
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(p, q, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// testSetWorkload is the tokenized batch stored with a shared transformer
// folder, run against model.
func testSetWorkload(tb testing.TB, dir, model string) *Workload {
	tb.Helper()
	info, err := inspect(model)
	if err != nil {
		tb.Fatal(err)
	}
	w := &Workload{Name: filepath.Base(dir), Model: model}
	for i, in := range info.Inputs {
		b, err := os.ReadFile(filepath.Join(dir, "test_data_set_0", fmt.Sprintf("input_%d.pb", i)))
		if err != nil {
			tb.Fatal(err)
		}
		t, err := engine.DecodeTensor(b)
		if err != nil {
			tb.Fatal(err)
		}
		w.Inputs = append(w.Inputs, t)
		w.InNames = append(w.InNames, in.Name)
		w.Rows = t.Shape[0]
	}
	return w
}

// bothEngines runs the workload's first output on agate and onnxruntime.
func bothEngines(tb testing.TB, w *Workload) (agate, ort []float32) {
	tb.Helper()
	s, err := w.ORTSession(1)
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Destroy()
	if err := s.Run(); err != nil {
		tb.Fatal(err)
	}
	m, err := w.Agate(1)
	if err != nil {
		tb.Fatal(err)
	}
	defer m.Close()
	outs := make([]ops.Value, len(m.Outputs()))
	if err := w.RunAgate(context.Background(), m, outs); err != nil {
		tb.Fatal(err)
	}
	return outs[0].(*ops.Tensor).Float32s(), append([]float32(nil), s.Output(0)...)
}

func maxAbs(a, b []float32) (float64, int) {
	d, at := 0.0, 0
	for i := range a {
		if e := math.Abs(float64(a[i] - b[i])); e > d {
			d, at = e, i
		}
	}
	return d, at
}

// TestQuantizedBERTParityWithORT quantizes the shared BERT classifiers and
// compares agate's int8 logits with onnxruntime's on the stored batch.
//
// A dynamically quantized network is not a well-conditioned function of its
// float rounding: every DynamicQuantizeLinear rounds its whole input to 255
// levels, so a last-bit difference in a LayerNorm, attention or bias output
// moves a few values across a rounding boundary, and six layers of random
// weights amplify that. On the MiniLM fixture onnxruntime disagrees with
// itself by 0.081 (max abs, logits) between its "disabled" and "all"
// optimization levels, which differ only in how the float ops are fused.
// Agate reproduces onnxruntime to 1e-6 on MiniLM (qdq and contrib forms)
// when its float steps round as onnxruntime's do: the quantized-product
// write-back as float32(C)·scale then + bias (no fused multiply-add, see
// TestQuantizedEpilogueParityWithORT), SkipLayerNormalization summing and
// normalizing like Add + LayerNormalization, and the attention scores
// divided by √d after the product rather than scaled by 1/√d inside it.
// Until then MiniLM is held to the band above; TestQuantizedKernelParityWithORT
// checks the quantized kernels themselves bit for bit.
func TestQuantizedBERTParityWithORT(t *testing.T) {
	for _, tc := range []struct {
		name string
		tol  float64
	}{
		{"bert-tiny-6label", 1e-2},
		{"minilm-l6-h384-6label", 0.15},
	} {
		dir := shared.Path(t, "models", "transformers", tc.name)
		for _, form := range []struct {
			name string
			opt  quantize.Options
		}{
			{"qdq", quantize.Options{}},
			{"contrib", quantize.Options{Contrib: true}},
			{"per-channel", quantize.Options{PerChannel: true}},
		} {
			t.Run(tc.name+"/"+form.name, func(t *testing.T) {
				model := quantizedModel(t, filepath.Join(dir, "model.onnx"), t.TempDir(), exactForORT(t, form.opt))
				got, want := bothEngines(t, testSetWorkload(t, dir, model))
				d, at := maxAbs(got, want)
				t.Logf("max abs error on logits %.3g (element %d: agate %v, onnxruntime %v)", d, at, got[at], want[at])
				tol := tc.tol
				if !ortInt8Exact() {
					// 7-bit weights: each rounding flip in a
					// DynamicQuantizeLinear moves the logits twice as far.
					tol *= 2
				}
				if d > tol {
					t.Errorf("agate differs from onnxruntime by %g, want <= %g", d, tol)
				}
			})
		}
	}
}

// ortInt8Exact reports whether onnxruntime's uint8 × int8 products are
// exact on this host. Without AVX-512 VNNI or AVX-VNNI it multiplies with
// VPMADDUBSW, whose int16 sums of product pairs saturate for weights beyond
// 7 bits, so it answers up to several units off (QAttention with
// full-range weights: 7.8), while agate's integer sums are exact on every
// host (ops.TestQgemm and TestQgemmExtremes check each kernel against
// int64 sums). There the parity tests quantize weights to 7 bits
// (quantize.Options.ReduceRange, int8Levels), which both engines multiply
// exactly.
func ortInt8Exact() bool {
	return runtime.GOARCH != "amd64" || cpu.X86.HasAVX512VNNI || cpu.X86.HasAVXVNNI
}

// int8Levels is the largest int8 weight magnitude the parity tests use:
// 127, or 63 where onnxruntime would saturate (ortInt8Exact).
func int8Levels() int {
	if ortInt8Exact() {
		return 127
	}
	return 63
}

// exactForORT adapts quantization options to the host (ortInt8Exact).
func exactForORT(t *testing.T, opt quantize.Options) quantize.Options {
	if !ortInt8Exact() && opt.WeightType != ops.Uint8 {
		t.Log("no VNNI: int8 weights quantized to 7 bits, where onnxruntime's AVX2 kernel is exact")
		opt.ReduceRange = true
	}
	return opt
}

// TestQuantizedKernelParityWithORT runs quantized projections of MiniLM's
// sizes (384 -> 1536 -> 384 plus a 384 -> 384 branch sharing the input's
// quantization, batch 8 x 64 tokens) straight from a graph input, so both
// engines quantize identical floats: the results must agree to the last
// bit up to float rounding of the scale multiply.
func TestQuantizedKernelParityWithORT(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	randn := func(n int, s float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * s)
		}
		return v
	}
	const b, s, h, f = 8, 64, 384, 1536
	g := onnxbuild.NewGraph("ffn").
		Input("x", onnxbuild.TensorType(ops.Float, "batch", "seq", h)).
		Output("y", onnxbuild.TensorType(ops.Float, "batch", "seq", h)).
		Initializer("W1", ops.FromSlice(ops.Float, randn(h*f, 0.05), h, f)).
		Initializer("b1", ops.FromSlice(ops.Float, randn(f, 0.1), f)).
		Initializer("W2", ops.FromSlice(ops.Float, randn(f*h, 0.05), f, h)).
		Node("MatMul", []string{"x", "W1"}, []string{"h0"}).
		Node("Add", []string{"h0", "b1"}, []string{"h1"}).
		Initializer("W3", ops.FromSlice(ops.Float, randn(h*h, 0.05), h, h)).
		Node("Relu", []string{"h1"}, []string{"h"}).
		Node("MatMul", []string{"h", "W2"}, []string{"y0"}).
		Node("MatMul", []string{"x", "W3"}, []string{"g"}).
		Node("Add", []string{"y0", "g"}, []string{"y"})
	src, err := (&onnxbuild.Model{Graph: g, Opsets: map[string]int{"": 17}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	x := ops.FromSlice(ops.Float, randn(b*s*h, 1), b, s, h)
	for _, form := range []struct {
		name string
		opt  quantize.Options
	}{
		{"qdq", quantize.Options{}},
		{"contrib", quantize.Options{Contrib: true}},
		{"per-channel", quantize.Options{PerChannel: true}},
		{"uint8-per-channel", quantize.Options{WeightType: ops.Uint8, PerChannel: true}},
	} {
		t.Run(form.name, func(t *testing.T) {
			q, _, err := quantize.Model(src, exactForORT(t, form.opt))
			if err != nil {
				t.Fatal(err)
			}
			model := filepath.Join(t.TempDir(), "model.onnx")
			if err := os.WriteFile(model, q, 0o644); err != nil {
				t.Fatal(err)
			}
			w := &Workload{Name: "ffn", Model: model, Rows: b, Inputs: []*ops.Tensor{x}, InNames: []string{"x"}}
			got, want := bothEngines(t, w)
			d, at := maxAbs(got, want)
			scale := 0.0
			for _, v := range want {
				scale = max(scale, math.Abs(float64(v)))
			}
			t.Logf("max abs error %.3g (element %d: agate %v, onnxruntime %v; outputs up to %.3g)", d, at, got[at], want[at], scale)
			if d > 1e-5*scale {
				t.Errorf("agate differs from onnxruntime by %g (outputs up to %g)", d, scale)
			}
		})
	}
}

// TestMSAttentionParityWithORT runs com.microsoft Attention and QAttention
// with each mask form on both engines.
func TestMSAttentionParityWithORT(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	randn := func(n int, s float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * s)
		}
		return v
	}
	const b, s, hin, h, heads = 2, 6, 16, 16, 4
	x := ops.FromSlice(ops.Float, randn(b*s*hin, 1), b, s, hin)
	w := ops.FromSlice(ops.Float, randn(hin*3*h, 0.3), hin, 3*h)
	bias := ops.FromSlice(ops.Float, randn(3*h, 0.1), 3*h)
	raw := make([]int32, b*s)
	for i := range raw {
		raw[i] = int32(1 - i%3/2)
	}
	masks := map[string]*ops.Tensor{
		"none":      nil,
		"lengths":   ops.FromSlice(ops.Int32, []int32{6, 4}, b),
		"end-start": ops.FromSlice(ops.Int32, []int32{5, 6, 1, 2}, 2*b),
		"raw-2d":    ops.FromSlice(ops.Int32, raw, b, s),
	}
	xq := make([]uint8, b*s*hin)
	for i := range xq {
		xq[i] = uint8(r.IntN(256))
	}
	wq := make([]int8, hin*3*h)
	for i := range wq {
		wq[i] = int8(r.IntN(2*int8Levels()+1) - int8Levels())
	}
	for name, mask := range masks {
		for _, causal := range []int64{0, 1} {
			for _, quant := range []bool{false, true} {
				op := "Attention"
				if quant {
					op = "QAttention"
				}
				t.Run(fmt.Sprintf("%s/%s/unidirectional=%d", op, name, causal), func(t *testing.T) {
					g := onnxbuild.NewGraph("attn").Output("y", onnxbuild.TensorType(ops.Float, b, s, h)).
						Initializer("bias", bias)
					var in []string
					var inputs []*ops.Tensor
					if quant {
						g.Input("x", onnxbuild.TensorType(ops.Uint8, b, s, hin)).
							Initializer("w", ops.FromSlice(ops.Int8, wq, hin, 3*h)).
							Initializer("xs", ops.Scalar(float32(0.02))).Initializer("ws", ops.Scalar(float32(0.01))).
							Initializer("xz", ops.Scalar(uint8(117))).Initializer("wz", ops.Scalar(int8(0)))
						in = []string{"x", "w", "bias", "xs", "ws", "", "xz", "wz"}
						inputs = []*ops.Tensor{ops.FromSlice(ops.Uint8, xq, b, s, hin)}
					} else {
						g.Input("x", onnxbuild.TensorType(ops.Float, b, s, hin)).Initializer("w", w)
						in = []string{"x", "w", "bias", ""}
						inputs = []*ops.Tensor{x}
					}
					mi := 3
					if quant {
						mi = 5
					}
					if mask != nil {
						g.Initializer("mask", mask)
						in[mi] = "mask"
					}
					for len(in) > 0 && in[len(in)-1] == "" {
						in = in[:len(in)-1]
					}
					g.DomainNode("com.microsoft", op, in, []string{"y"},
						onnxbuild.Int("num_heads", heads), onnxbuild.Int("unidirectional", causal))
					src, err := (&onnxbuild.Model{Graph: g, Opsets: map[string]int{"": 17, "com.microsoft": 1}}).Marshal()
					if err != nil {
						t.Fatal(err)
					}
					model := filepath.Join(t.TempDir(), "model.onnx")
					if err := os.WriteFile(model, src, 0o644); err != nil {
						t.Fatal(err)
					}
					got, want := bothEngines(t, &Workload{Name: op, Model: model, Rows: b, Inputs: inputs, InNames: []string{"x"}})
					d, at := maxAbs(got, want)
					if d > 1e-4 {
						t.Errorf("max abs error %g (element %d: agate %v, onnxruntime %v)", d, at, got[at], want[at])
					}
				})
			}
		}
	}
}

// TestQuantizedEpilogueParityWithORT checks the scale and bias write-back of
// DynamicQuantizeMatMul and MatMulIntegerToFloat bit for bit: onnxruntime
// rounds float32(C)·scale and then adds the bias (two roundings, no fused
// multiply-add). A last-bit difference here is enough to move the int8
// MiniLM logits by several hundredths, see TestQuantizedBERTParityWithORT.
func TestQuantizedEpilogueParityWithORT(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	const m, k, n = 64, 128, 96
	af := make([]float32, m*k)
	for i := range af {
		af[i] = float32(r.NormFloat64())
	}
	wq := make([]int8, k*n)
	for i := range wq {
		wq[i] = int8(r.IntN(2*int8Levels()+1) - int8Levels())
	}
	bias := make([]float32, n)
	for i := range bias {
		bias[i] = float32(r.NormFloat64())
	}
	perCol := make([]float32, n)
	for j := range perCol {
		perCol[j] = 0.005 + 0.001*float32(j%7)
	}
	for _, ws := range []*ops.Tensor{ops.Scalar(float32(0.00731)), ops.FromSlice(ops.Float, perCol, n)} {
		for _, op := range []string{"DynamicQuantizeMatMul", "MatMulIntegerToFloat"} {
			t.Run(fmt.Sprintf("%s/scales=%d", op, ws.Len()), func(t *testing.T) {
				g := onnxbuild.NewGraph("e").
					Input("a", onnxbuild.TensorType(ops.Float, m, k)).
					Output("y", onnxbuild.TensorType(ops.Float, m, n)).
					Initializer("w", ops.FromSlice(ops.Int8, wq, k, n)).
					Initializer("ws", ws).Initializer("wz", ops.Scalar(int8(0))).
					Initializer("b", ops.FromSlice(ops.Float, bias, n))
				if op == "MatMulIntegerToFloat" {
					g.Node("DynamicQuantizeLinear", []string{"a"}, []string{"aq", "as", "az"}).
						DomainNode("com.microsoft", op, []string{"aq", "w", "as", "ws", "az", "wz", "b"}, []string{"y"})
				} else {
					g.DomainNode("com.microsoft", op, []string{"a", "w", "ws", "wz", "b"}, []string{"y"})
				}
				src, err := (&onnxbuild.Model{Graph: g, Opsets: map[string]int{"": 17, "com.microsoft": 1}}).Marshal()
				if err != nil {
					t.Fatal(err)
				}
				model := filepath.Join(t.TempDir(), "model.onnx")
				if err := os.WriteFile(model, src, 0o644); err != nil {
					t.Fatal(err)
				}
				w := &Workload{Name: op, Model: model, Rows: m, Inputs: []*ops.Tensor{ops.FromSlice(ops.Float, af, m, k)}, InNames: []string{"a"}}
				got, want := bothEngines(t, w)
				diff := 0
				for i := range got {
					if got[i] != want[i] {
						diff++
					}
				}
				if diff > 0 {
					t.Errorf("%d of %d outputs differ from onnxruntime in the last bits", diff, len(got))
				}
			})
		}
	}
}

// BenchmarkInt8VsORT runs the dynamically quantized MiniLM (quantized at
// test time by models/quantize, int8 symmetric weights) on agate and on
// onnxruntime, next to onnxruntime's fp32 run of the original model: the
// issue's goal compares agate int8 with onnxruntime fp32. The int8-7bit
// rows run the same model quantized with ReduceRange (7-bit weights), which
// CPUs without VNNI multiply exactly with their fast pair-sum instructions.
func BenchmarkInt8VsORT(b *testing.B) {
	dir := shared.Path(b, "models", "transformers", "minilm-l6-h384-6label")
	q := quantizedModel(b, filepath.Join(dir, "model.onnx"), b.TempDir(), quantize.Options{})
	q7 := quantizedModel(b, filepath.Join(dir, "model.onnx"), b.TempDir(), quantize.Options{ReduceRange: true})
	for _, s := range []TextShape{{1, 128}, {8, 128}} {
		fp, err := TextWorkload(dir, s.Batch, s.Seq)
		if err != nil {
			b.Fatal(err)
		}
		w8, w7 := *fp, *fp
		w8.Model, w7.Model = q, q7
		for _, th := range []int{1, 2} {
			name := fmt.Sprintf("b%d-s%d/threads=%d", s.Batch, s.Seq, th)
			b.Run(name+"/agate-int8", w8.BenchAgate(th))
			b.Run(name+"/ort-int8", w8.BenchORT(th))
			b.Run(name+"/agate-int8-7bit", w7.BenchAgate(th))
			b.Run(name+"/ort-int8-7bit", w7.BenchORT(th))
			b.Run(name+"/ort-fp32", fp.BenchORT(th))
		}
	}
}
