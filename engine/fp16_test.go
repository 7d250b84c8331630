package engine_test

import (
	"context"
	"math"
	"math/rand"
	"testing"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/ops"
)

// TestFloat16Encoders converts every generated encoder variant to float16
// (as onnxconverter-common does) and checks that it runs, in half
// precision, within 2e-2 of the float32 model's logits.
func TestFloat16Encoders(t *testing.T) {
	for _, v := range onnxbuild.EncoderVariants() {
		t.Run(v.Name, func(t *testing.T) {
			cfg := v.Config
			raw := encoderBytes(t, cfg)
			half, err := onnxbuild.ToFloat16(raw)
			if err != nil {
				t.Fatal(err)
			}
			f32, err := engine.LoadBytes(raw)
			if err != nil {
				t.Fatal(err)
			}
			defer f32.Close()
			f16, err := engine.LoadBytes(half)
			if err != nil {
				t.Fatal(err)
			}
			defer f16.Close()
			inputs := onnxbuild.EncoderInputs(cfg, 2, 12, rand.New(rand.NewSource(1)))
			in := map[string]ops.Value{}
			for k, x := range inputs {
				in[k] = x
			}
			a, err := f32.RunValues(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			b, err := f16.RunValues(context.Background(), in)
			if err != nil {
				t.Fatalf("float16: %v", err)
			}
			want := a["logits"].(*ops.Tensor).Float32s()
			got := b["logits"].(*ops.Tensor)
			if got.DType != ops.Float16 {
				t.Fatalf("logits are %s", got.DType)
			}
			worst := 0.0
			for i, h := range got.Data.([]ops.F16) {
				worst = math.Max(worst, math.Abs(float64(h.Float32()-want[i])))
			}
			t.Logf("max |fp16 - fp32| = %.3g, fp16 ops %v", worst, f16.OpCounts())
			if !(worst <= 2e-2) { // NaN fails too
				t.Errorf("float16 logits %.3g from float32", worst)
			}
		})
	}
}
