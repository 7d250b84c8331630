package engine_test

import (
	"context"
	"math"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/conformance"
	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/ops"
)

// TestBFloat16Transformers runs the shared transformer fixtures on their
// own test inputs (the eight texts of texts.json) in float32 and with
// ops.PrecisionBFloat16: the same top label for every text, and logits
// within 6e-2. Their random weights make every one of the 38 products
// add about the same rounding error (keeping any one layer in float32
// changes little): measured 0.028 on bert-tiny and 0.045 on MiniLM, about
// 1% of the logits' range. The generated encoders below stay within 2e-2.
func TestBFloat16Transformers(t *testing.T) {
	if !ops.BFloat16Supported() {
		t.Skip("no AVX512-BF16 on this CPU (or AGATE_NOASM set): bfloat16 falls back to float32, covered by TestBFloat16Fallback")
	}
	for _, name := range []string{"bert-tiny-6label", "minilm-l6-h384-6label"} {
		t.Run(name, func(t *testing.T) {
			dir := shared.Path(t, "models", "transformers", name)
			f32, err := engine.LoadFile(filepath.Join(dir, "model.onnx"))
			if err != nil {
				t.Fatal(err)
			}
			defer f32.Close()
			bf, err := engine.LoadFile(filepath.Join(dir, "model.onnx"), engine.WithPrecision(ops.PrecisionBFloat16))
			if err != nil {
				t.Fatal(err)
			}
			defer bf.Close()
			if bf.Precision() != ops.PrecisionBFloat16 {
				t.Fatalf("Precision() = %v", bf.Precision())
			}
			in, err := conformance.ReadInputs(f32, filepath.Join(dir, "test_data_set_0"))
			if err != nil {
				t.Fatal(err)
			}
			want := runLogits(t, f32, in)
			got := runLogits(t, bf, in)
			compareLogits(t, got, want, 6e-2)
		})
	}
}

// TestBFloat16Encoders checks every generated encoder variant the same way
// on random batches.
func TestBFloat16Encoders(t *testing.T) {
	if !ops.BFloat16Supported() {
		t.Skip("no AVX512-BF16 on this CPU (or AGATE_NOASM set)")
	}
	for _, v := range onnxbuild.EncoderVariants() {
		t.Run(v.Name, func(t *testing.T) {
			raw := encoderBytes(t, v.Config)
			f32, err := engine.LoadBytes(raw)
			if err != nil {
				t.Fatal(err)
			}
			defer f32.Close()
			bf, err := engine.LoadBytes(raw, engine.WithPrecision(ops.PrecisionBFloat16))
			if err != nil {
				t.Fatal(err)
			}
			defer bf.Close()
			inputs := onnxbuild.EncoderInputs(v.Config, 3, 20, rand.New(rand.NewSource(1)))
			in := make([]ops.Value, len(f32.Inputs()))
			for i, info := range f32.Inputs() {
				if x, ok := inputs[info.Name]; ok {
					in[i] = x
				}
			}
			compareLogits(t, runLogits(t, bf, in), runLogits(t, f32, in), 2e-2)
		})
	}
}

// TestBFloat16Fallback: without the instructions (AGATE_NOASM in the
// portable test run, or another CPU) asking for bfloat16 plans float32
// and says so; with them, Precision reports bfloat16.
func TestBFloat16Fallback(t *testing.T) {
	raw := encoderBytes(t, onnxbuild.EncoderVariants()[0].Config)
	m, err := engine.LoadBytes(raw, engine.WithPrecision(ops.PrecisionBFloat16))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	want := ops.PrecisionFloat32
	if ops.BFloat16Supported() {
		want = ops.PrecisionBFloat16
	}
	if got := m.Precision(); got != want {
		t.Fatalf("Precision() = %v, want %v", got, want)
	}
	plain, err := engine.LoadBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if plain.Precision() != ops.PrecisionFloat32 {
		t.Fatalf("default Precision() = %v", plain.Precision())
	}
}

// runLogits runs m on in and returns its first output as float32.
func runLogits(t *testing.T, m *engine.Model, in []ops.Value) *ops.Tensor {
	t.Helper()
	out := make([]ops.Value, len(m.Outputs()))
	if err := m.RunList(context.Background(), in, out); err != nil {
		t.Fatal(err)
	}
	return out[0].(*ops.Tensor)
}

// compareLogits requires got within tol of want everywhere and the same
// arg max in every row.
func compareLogits(t *testing.T, got, want *ops.Tensor, tol float64) {
	t.Helper()
	g, w := got.Float32s(), want.Float32s()
	if len(g) != len(w) {
		t.Fatalf("logits of shape %v, want %v", got.Shape, want.Shape)
	}
	worst := 0.0
	for i := range w {
		worst = math.Max(worst, math.Abs(float64(g[i]-w[i])))
	}
	if !(worst <= tol) {
		t.Errorf("logits %.3g from float32 (limit %g)", worst, tol)
	}
	cols := want.Shape[len(want.Shape)-1]
	for r := 0; r*cols < len(w); r++ {
		if a, b := argMax(g[r*cols:(r+1)*cols]), argMax(w[r*cols:(r+1)*cols]); a != b {
			t.Errorf("row %d: top label %d, float32 says %d", r, a, b)
		}
	}
	t.Logf("max |bf16 - fp32| = %.3g over %d logits", worst, len(w))
}

func argMax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}
