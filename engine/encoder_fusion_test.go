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

// encoderBytes builds and serializes a generated encoder classifier.
func encoderBytes(t testing.TB, cfg onnxbuild.EncoderConfig) []byte {
	t.Helper()
	m, err := onnxbuild.EncoderClassifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func loadEncoder(t testing.TB, cfg onnxbuild.EncoderConfig, opts ...engine.Option) *engine.Model {
	t.Helper()
	model, err := engine.LoadBytes(encoderBytes(t, cfg), opts...)
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

// TestAttentionFusionGuards covers graphs the attention fusion must leave
// alone or must rewrite with care: a masked_fill whose fill is not far below
// any score (adding it is not replacing by it), and nodes without names
// (the inserted mask values must still get unique names).
func TestAttentionFusionGuards(t *testing.T) {
	base := onnxbuild.EncoderConfig{Layers: 2, Hidden: 32, Heads: 2, FFN: 64, Vocab: 50, MaxPositions: 16,
		Labels: 2, Seed: 4, Attention: "distilbert"}
	r := rand.New(rand.NewSource(7))
	compare := func(t *testing.T, fused, plain *engine.Model, cfg onnxbuild.EncoderConfig) {
		t.Helper()
		in := map[string]ops.Value{}
		for k, v := range onnxbuild.EncoderInputs(cfg, 3, 9, r) {
			in[k] = v
		}
		// one fully padded row: masked_fill makes its weights uniform
		in["attention_mask"].(*ops.Tensor).Int64s()[0] = 0
		for i := 0; i < 9; i++ {
			in["attention_mask"].(*ops.Tensor).Int64s()[i] = 0
		}
		a, err := fused.RunValues(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		b, err := plain.RunValues(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range b["logits"].(*ops.Tensor).Float32s() {
			if g := a["logits"].(*ops.Tensor).Float32s()[i]; math.Abs(float64(g-w)) > 1e-4 {
				t.Fatalf("logit %d: fused %v, unfused %v", i, g, w)
			}
		}
	}
	t.Run("finite-fill", func(t *testing.T) {
		cfg := base
		cfg.MaskFill = -1e4
		fused, plain := loadEncoder(t, cfg), loadEncoder(t, cfg, engine.WithoutFusion())
		if n := fused.OpCounts()["ai.agate:SelfAttention"]; n != 0 {
			t.Errorf("a -1e4 fill fused into %d SelfAttention steps", n)
		}
		compare(t, fused, plain, cfg)
	})
	t.Run("unnamed-nodes", func(t *testing.T) {
		data := encoderBytes(t, base)
		e, err := onnxbuild.LoadModel(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range e.Nodes {
			n.Name = ""
		}
		if data, err = e.Marshal(); err != nil {
			t.Fatal(err)
		}
		fused, err := engine.LoadBytes(data)
		if err != nil {
			t.Fatal(err)
		}
		defer fused.Close()
		plain, err := engine.LoadBytes(data, engine.WithoutFusion())
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		if n := fused.OpCounts()["ai.agate:SelfAttention"]; n != base.Layers {
			t.Errorf("%d SelfAttention steps, want %d", n, base.Layers)
		}
		compare(t, fused, plain, base)
	})
}

// TestRunInto checks that RunInto writes into the caller's output tensors
// (same values as RunList), allocates nothing once they are bound, and
// replaces entries that do not match.
func TestRunInto(t *testing.T) {
	v := onnxbuild.EncoderVariants()[0]
	m := loadEncoder(t, v.Config, engine.WithWorkers(1))
	in := onnxbuild.EncoderInputs(v.Config, 2, 24, rand.New(rand.NewSource(1)))
	list := make([]ops.Value, len(m.Inputs()))
	for i, info := range m.Inputs() {
		list[i] = in[info.Name]
	}
	want := make([]ops.Value, 1)
	if err := m.RunList(context.Background(), list, want); err != nil {
		t.Fatal(err)
	}
	bound := ops.NewTensor(ops.Float, 2, v.Config.Labels)
	outs := []ops.Value{bound}
	if err := m.RunInto(context.Background(), list, outs); err != nil {
		t.Fatal(err)
	}
	if outs[0] != ops.Value(bound) {
		t.Fatal("RunInto replaced a matching output tensor")
	}
	for i, w := range want[0].(*ops.Tensor).Float32s() {
		if bound.Float32s()[i] != w {
			t.Fatalf("element %d: %v, RunList gave %v", i, bound.Float32s()[i], w)
		}
	}
	if !raceEnabled {
		if n := testing.AllocsPerRun(20, func() {
			if err := m.RunInto(context.Background(), list, outs); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%.1f allocations per bound run, want 0", n)
		}
	}
	// a tensor of another shape is replaced, and left untouched
	wrong := ops.NewTensor(ops.Float, 3, v.Config.Labels)
	outs[0] = wrong
	if err := m.RunInto(context.Background(), list, outs); err != nil {
		t.Fatal(err)
	}
	if outs[0] == ops.Value(wrong) || wrong.Float32s()[0] != 0 {
		t.Error("a mismatched output tensor was written into")
	}
}

// TestRandomEncoders draws encoder classifiers of random sizes and export
// forms (seeded, so failures reproduce) and requires fused and unfused
// plans to agree on padded batches.
func TestRandomEncoders(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	pick := func(opts ...string) string { return opts[r.Intn(len(opts))] }
	n := 24
	if testing.Short() {
		n = 6
	}
	for i := 0; i < n; i++ {
		heads := 1 + r.Intn(8)
		d := 4 + r.Intn(37)
		cfg := onnxbuild.EncoderConfig{
			Layers: 1 + r.Intn(3), Hidden: heads * d, Heads: heads, FFN: 8 + r.Intn(200),
			Vocab: 40 + r.Intn(100), MaxPositions: 48, TypeVocab: r.Intn(3), Labels: 1 + r.Intn(7),
			Seed: r.Int63(), GELU: pick("erf", "tanh", "tanh-cube"), Attention: pick("bert", "sdpa", "distilbert"),
			Positions: pick("bert", "roberta"), ConstReshape: r.Intn(2) == 0, Int32Inputs: r.Intn(4) == 0,
		}
		cfg.Opset = []int{11, 13, 14, 17, 18}[r.Intn(5)]
		if cfg.Opset >= 17 && r.Intn(2) == 0 {
			cfg.LayerNorm = "native"
		}
		if cfg.Positions == "roberta" && cfg.TypeVocab > 1 {
			cfg.TypeVocab = 1
		}
		name := fmt.Sprintf("%d-%dx%d-%s-%s-%s", i, heads, d, cfg.Attention, cfg.GELU, cfg.Positions)
		t.Run(name, func(t *testing.T) {
			fused, plain := loadEncoder(t, cfg), loadEncoder(t, cfg, engine.WithoutFusion())
			if got := fused.OpCounts()["ai.agate:SelfAttention"]; got != cfg.Layers {
				t.Errorf("%d SelfAttention steps, want %d (%v)", got, cfg.Layers, fused.OpCounts())
			}
			for _, sh := range [][2]int{{1, 1 + r.Intn(5)}, {1 + r.Intn(4), 1 + r.Intn(40)}} {
				in := map[string]ops.Value{}
				for k, v := range onnxbuild.EncoderInputs(cfg, sh[0], sh[1], r) {
					in[k] = v
				}
				a, err := fused.RunValues(context.Background(), in)
				if err != nil {
					t.Fatal(err)
				}
				b, err := plain.RunValues(context.Background(), in)
				if err != nil {
					t.Fatal(err)
				}
				for j, w := range b["logits"].(*ops.Tensor).Float32s() {
					g := a["logits"].(*ops.Tensor).Float32s()[j]
					if math.IsNaN(float64(g)) || math.Abs(float64(g-w)) > 1e-4*math.Max(1, math.Abs(float64(w))) {
						t.Fatalf("shape %v: logit %d fused %v, unfused %v", sh, j, g, w)
					}
				}
			}
		})
	}
}
