package engine_test

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/ops"
)

func loadEncoder(t testing.TB, cfg onnxbuild.EncoderConfig, opts ...engine.Option) *engine.Model {
	t.Helper()
	m, err := onnxbuild.EncoderClassifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	model, err := engine.LoadBytes(data, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { model.Close() })
	return model
}

// TestEncoderVariantsFusedMatchUnfused runs every variant fused and with
// fusion off (plain ONNX kernels, which pass the conformance suite) and
// requires the same logits, and requires the fusions to have fired.
func TestEncoderVariantsFusedMatchUnfused(t *testing.T) {
	for _, v := range onnxbuild.EncoderVariants() {
		t.Run(v.Name, func(t *testing.T) {
			fused := loadEncoder(t, v.Config)
			plain := loadEncoder(t, v.Config, engine.WithoutFusion())
			counts := fused.OpCounts()
			want := map[string]int{
				"ai.agate:SelfAttention": v.Config.Layers,
				"ai.onnx:Softmax":        0,
				"ai.onnx:Erf":            0,
				"ai.onnx:Tanh":           1, // the pooler's
				"ai.onnx:Transpose":      0,
				"ai.onnx:ReduceMean":     0,
			}
			if v.Config.Attention == "distilbert" {
				want["ai.onnx:Tanh"] = 0
			}
			for op, n := range want {
				if counts[op] != n {
					t.Errorf("%s: %d steps, want %d (all: %v)", op, counts[op], n, counts)
				}
			}
			r := rand.New(rand.NewSource(1))
			for _, sh := range [][2]int{{1, 1}, {3, 7}, {2, 37}} {
				in := map[string]ops.Value{}
				for k, t := range onnxbuild.EncoderInputs(v.Config, sh[0], sh[1], r) {
					in[k] = t
				}
				a, err := fused.RunValues(context.Background(), in)
				if err != nil {
					t.Fatal(err)
				}
				b, err := plain.RunValues(context.Background(), in)
				if err != nil {
					t.Fatal(err)
				}
				x, y := a["logits"].(*ops.Tensor), b["logits"].(*ops.Tensor)
				if fmt.Sprint(x.Shape) != fmt.Sprint([]int{sh[0], v.Config.Labels}) {
					t.Fatalf("logits shape %v", x.Shape)
				}
				for i, want := range y.Float32s() {
					got := x.Float32s()[i]
					if math.IsNaN(float64(got)) || math.Abs(float64(got-want)) > 1e-4*math.Max(1, math.Abs(float64(want))) {
						t.Fatalf("batch %d seq %d: logit %d fused %v, unfused %v", sh[0], sh[1], i, got, want)
					}
				}
			}
		})
	}
}

// TestSteadyStateRunAllocations checks that a warm run of a fused encoder
// allocates only its output (the logits tensor: header, shape, data and the
// data's interface box), on one worker and on two.
func TestSteadyStateRunAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	v := onnxbuild.EncoderVariants()[0]
	for _, workers := range []int{1, 2} {
		m := loadEncoder(t, v.Config, engine.WithWorkers(workers))
		in := onnxbuild.EncoderInputs(v.Config, 2, 24, rand.New(rand.NewSource(1)))
		list := make([]ops.Value, len(m.Inputs()))
		for i, info := range m.Inputs() {
			list[i] = in[info.Name]
		}
		outs := make([]ops.Value, len(m.Outputs()))
		run := func() {
			if err := m.RunList(context.Background(), list, outs); err != nil {
				t.Fatal(err)
			}
		}
		run()
		run()
		if got := testing.AllocsPerRun(20, run); got > 4 {
			t.Errorf("%d workers: %.1f allocations per run, want at most 4 (the output)", workers, got)
		}
	}
}
