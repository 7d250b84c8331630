package quantize

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/ops"
)

func TestWeights(t *testing.T) {
	w := []float32{
		0.51, -1.0,
		1.27, 0.25,
		-0.11, 2.0,
	}
	// Per tensor, int8: scale = 2/127, values round(w/scale) in [-127, 127].
	q, scale, zp := Weights(w, 3, 2, ops.Int8, false)
	if len(scale) != 1 || math.Abs(float64(scale[0])-2.0/127) > 1e-7 {
		t.Fatalf("int8 scale %v, want [%v]", scale, 2.0/127)
	}
	if got, want := q.([]int8), []int8{32, -64, 81, 16, -7, 127}; !slices.Equal(got, want) {
		t.Errorf("int8 values %v, want %v", got, want)
	}
	if got := zp.([]int8); !slices.Equal(got, []int8{0}) {
		t.Errorf("int8 zero point %v, want [0]", got)
	}
	// Per column, int8: column 0 absmax 1.27, column 1 absmax 2.
	q, scale, _ = Weights(w, 3, 2, ops.Int8, true)
	if len(scale) != 2 || math.Abs(float64(scale[0])-0.01) > 1e-7 || math.Abs(float64(scale[1])-2.0/127) > 1e-7 {
		t.Fatalf("per-channel scales %v, want [0.01 %v]", scale, 2.0/127)
	}
	if got, want := q.([]int8), []int8{51, -64, 127, 16, -11, 127}; !slices.Equal(got, want) {
		t.Errorf("per-channel values %v, want %v", got, want)
	}
	// Per tensor, uint8: range [-1, 2] -> scale 3/255, zero point 85.
	q, scale, zp = Weights(w, 3, 2, ops.Uint8, false)
	if math.Abs(float64(scale[0])-3.0/255) > 1e-7 {
		t.Fatalf("uint8 scale %v, want %v", scale, 3.0/255)
	}
	if got := zp.([]uint8); !slices.Equal(got, []uint8{85}) {
		t.Fatalf("uint8 zero point %v, want [85]", got)
	}
	if got, want := q.([]uint8), []uint8{128, 0, 193, 106, 76, 255}; !slices.Equal(got, want) {
		t.Errorf("uint8 values %v, want %v", got, want)
	}
	// Reduced range: scale = 2/63, values in [-63, 63].
	q, scale, _ = weights(w, 3, 2, ops.Int8, false, 63)
	if math.Abs(float64(scale[0])-2.0/63) > 1e-7 {
		t.Fatalf("reduced-range scale %v, want %v", scale, 2.0/63)
	}
	if got, want := q.([]int8), []int8{16, -31, 40, 8, -3, 63}; !slices.Equal(got, want) {
		t.Errorf("reduced-range values %v, want %v", got, want)
	}
	// All zeros: scale 1, everything 0.
	q, scale, _ = Weights([]float32{0, 0}, 1, 2, ops.Uint8, false)
	if scale[0] != 1 || !slices.Equal(q.([]uint8), []uint8{0, 0}) {
		t.Errorf("zero matrix: scale %v values %v", scale, q)
	}
}

// tinyModel is x [2, 3, 4] -> MatMul(W1) + b1 -> Relu -> MatMul(W2) -> y,
// with W1 also read by a second MatMul of a graph input (shared weight).
func tinyModel(t *testing.T) []byte {
	t.Helper()
	w1 := ops.FromSlice(ops.Float, []float32{
		0.1, -0.2, 0.3, 0.4, -0.5,
		0.6, 0.7, -0.8, 0.9, 1.0,
		-1.1, 1.2, 1.3, -1.4, 1.5,
		1.6, -1.7, 1.8, 1.9, -2.0}, 4, 5)
	b1 := ops.FromSlice(ops.Float, []float32{0.05, -0.05, 0.1, 0, 0.2}, 5)
	w2 := ops.FromSlice(ops.Float, []float32{
		0.3, -0.1,
		0.2, 0.4,
		-0.6, 0.5,
		0.7, 0.1,
		-0.2, -0.3}, 5, 2)
	g := onnxbuild.NewGraph("tiny").
		Input("x", onnxbuild.TensorType(ops.Float, 2, 3, 4)).
		Input("z", onnxbuild.TensorType(ops.Float, 1, 4)).
		Output("y", onnxbuild.TensorType(ops.Float, 2, 3, 2)).
		Output("zw", onnxbuild.TensorType(ops.Float, 1, 5)).
		Initializer("W1", w1).Initializer("b1", b1).Initializer("W2", w2).
		Node("MatMul", []string{"x", "W1"}, []string{"h0"}).
		Node("Add", []string{"h0", "b1"}, []string{"h1"}).
		Node("Relu", []string{"h1"}, []string{"h"}).
		Node("MatMul", []string{"h", "W2"}, []string{"y"}).
		Node("MatMul", []string{"z", "W1"}, []string{"zw"})
	b, err := (&onnxbuild.Model{Graph: g, Opsets: map[string]int{"": 17}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func runModel(t *testing.T, b []byte, inputs map[string]ops.Value, opts ...engine.Option) map[string]ops.Value {
	t.Helper()
	m, err := engine.LoadBytes(b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	out, err := m.RunValues(context.Background(), inputs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func opCounts(t *testing.T, b []byte) map[string]int {
	t.Helper()
	info, err := engine.Inspect(b)
	if err != nil {
		t.Fatal(err)
	}
	return info.OpTypes
}

func TestTinyModel(t *testing.T) {
	src := tinyModel(t)
	x := ops.NewTensor(ops.Float, 2, 3, 4)
	for i := range x.Float32s() {
		x.Float32s()[i] = float32(math.Sin(float64(i)*0.7)) * 1.5
	}
	z := ops.FromSlice(ops.Float, []float32{0.3, -0.2, 0.9, 0.1}, 1, 4)
	in := map[string]ops.Value{"x": x, "z": z}
	ref := runModel(t, src, in)
	for _, tc := range []struct {
		name string
		opt  Options
		ops  map[string]int
	}{
		{"int8", Options{}, map[string]int{"DynamicQuantizeLinear": 3, "MatMulInteger": 3, "Cast": 3, "Mul": 6, "Add": 1}},
		{"uint8-per-channel", Options{WeightType: ops.Uint8, PerChannel: true}, map[string]int{"MatMulInteger": 3}},
		{"contrib", Options{Contrib: true}, map[string]int{"com.microsoft:DynamicQuantizeMatMul": 3, "Relu": 1}},
		{"contrib-per-channel", Options{Contrib: true, PerChannel: true}, map[string]int{"com.microsoft:DynamicQuantizeMatMul": 3}},
		{"exclude", Options{Exclude: regexp.MustCompile("MatMul_4")}, map[string]int{"MatMul": 1, "MatMulInteger": 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, rep, err := Model(src, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			got := opCounts(t, q)
			for op, n := range tc.ops {
				if !strings.Contains(op, ":") {
					op = "ai.onnx:" + op
				}
				if got[op] != n {
					t.Errorf("%s: %d nodes, want %d (ops %v)", op, got[op], n, got)
				}
			}
			if got["ai.onnx:MatMul"] != tc.ops["MatMul"] {
				t.Errorf("%d float MatMul left, want %d", got["ai.onnx:MatMul"], tc.ops["MatMul"])
			}
			if tc.opt.Exclude == nil && rep.Quantized != 3 {
				t.Errorf("quantized %d MatMuls, want 3", rep.Quantized)
			}
			for _, fuse := range []bool{true, false} {
				var opts []engine.Option
				if !fuse {
					opts = append(opts, engine.WithoutFusion())
				}
				out := runModel(t, q, in, opts...)
				for _, name := range []string{"y", "zw"} {
					d := maxAbsDiff(out[name].(*ops.Tensor).Float32s(), ref[name].(*ops.Tensor).Float32s())
					if d > 0.05 {
						t.Errorf("fusion %v: output %s differs from float by %g", fuse, name, d)
					}
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	if _, _, err := Model([]byte("not a model"), Options{}); err == nil {
		t.Error("garbage input: no error")
	}
	if _, _, err := Model(tinyModel(t), Options{WeightType: ops.Int16}); err == nil {
		t.Error("int16 weights: no error")
	}
	if _, _, err := Model(tinyModel(t), Options{WeightType: ops.Uint8, ReduceRange: true}); err == nil {
		t.Error("reduced-range uint8 weights: no error")
	}
	g := onnxbuild.NewGraph("old").Input("x", onnxbuild.TensorType(ops.Float, 1, 2)).
		Output("y", onnxbuild.TensorType(ops.Float, 1, 2)).
		Initializer("W", ops.FromSlice(ops.Float, []float32{1, 2, 3, 4}, 2, 2)).
		Node("MatMul", []string{"x", "W"}, []string{"y"})
	b, err := (&onnxbuild.Model{Graph: g, Opsets: map[string]int{"": 9}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Model(b, Options{}); err == nil {
		t.Error("opset 9 model: no error")
	}
	if _, _, err := Model(b, Options{Contrib: true}); err != nil {
		t.Errorf("opset 9 model, contrib form: %v", err)
	}
}

// BERTInputs reads the tokenized batch of a shared transformer folder.
func BERTInputs(tb testing.TB, dir string) map[string]ops.Value {
	tb.Helper()
	info, err := engine.Inspect(mustRead(tb, filepath.Join(dir, "model.onnx")))
	if err != nil {
		tb.Fatal(err)
	}
	in := map[string]ops.Value{}
	for i, inp := range info.Inputs {
		t, err := engine.DecodeTensor(mustRead(tb, filepath.Join(dir, "test_data_set_0", fmt.Sprintf("input_%d.pb", i))))
		if err != nil {
			tb.Fatal(err)
		}
		in[inp.Name] = t
	}
	return in
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestBERTInt8 quantizes the shared BERT classifiers and checks agate's int8
// logits stay near its float logits (random weights make the int8 error
// larger than for trained models, hence the loose bound).
func TestBERTInt8(t *testing.T) {
	for _, name := range []string{"bert-tiny-6label", "minilm-l6-h384-6label"} {
		t.Run(name, func(t *testing.T) {
			dir := shared.Path(t, "models", "transformers", name)
			src := mustRead(t, filepath.Join(dir, "model.onnx"))
			in := BERTInputs(t, dir)
			ref := runModel(t, src, in)["logits"].(*ops.Tensor).Float32s()
			for _, opt := range []Options{{}, {Contrib: true}, {PerChannel: true}} {
				q, _, err := Model(src, opt)
				if err != nil {
					t.Fatal(err)
				}
				for _, fuse := range []bool{true, false} {
					var opts []engine.Option
					if !fuse {
						opts = append(opts, engine.WithoutFusion())
					}
					got := runModel(t, q, in, opts...)["logits"].(*ops.Tensor).Float32s()
					d := maxAbsDiff(got, ref)
					t.Logf("%+v fusion %v: max abs difference from float %.4f (first %v vs %v)", opt, fuse, d, got[0], ref[0])
					if d > 0.3 {
						t.Errorf("%+v fusion %v: int8 logits differ from float by %g", opt, fuse, d)
					}
				}
			}
		})
	}
}

// BenchmarkBERTInt8 runs the MiniLM classifier in float and dynamically
// quantized, batch 1 x 128 tokens and 8 x 128.
func BenchmarkBERTInt8(b *testing.B) {
	dir := shared.Path(b, "models", "transformers", "minilm-l6-h384-6label")
	src := mustRead(b, filepath.Join(dir, "model.onnx"))
	q, _, err := Model(src, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, shape := range [][2]int{{1, 128}, {8, 128}} {
		in := map[string]ops.Value{}
		for _, name := range []string{"input_ids", "attention_mask", "token_type_ids"} {
			t := ops.NewTensor(ops.Int64, shape[0], shape[1])
			for i := range t.Int64s() {
				switch name {
				case "input_ids":
					t.Int64s()[i] = int64(1000 + (i*7919)%28000)
				case "attention_mask":
					t.Int64s()[i] = 1
				}
			}
			in[name] = t
		}
		for _, m := range []struct {
			name  string
			model []byte
		}{{"fp32", src}, {"int8", q}} {
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("b%d-s%d/%s/threads=%d", shape[0], shape[1], m.name, threads), func(b *testing.B) {
					model, err := engine.LoadBytes(m.model, engine.WithWorkers(threads))
					if err != nil {
						b.Fatal(err)
					}
					defer model.Close()
					ctx := context.Background()
					if _, err := model.RunValues(ctx, in); err != nil {
						b.Fatal(err)
					}
					b.ResetTimer()
					for b.Loop() {
						if _, err := model.RunValues(ctx, in); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
