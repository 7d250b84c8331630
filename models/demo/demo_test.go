package demo

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/ops"
)

func TestEngineMatchesTrainer(t *testing.T) {
	m, err := Train(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	path, err := Write(t.TempDir(), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	em, err := engine.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	// Held-out rows from another seed.
	x, y := Data(500, 7)
	flat := make([]float32, 0, len(x)*NumFeatures)
	for _, r := range x {
		flat = append(flat, r...)
	}
	out, err := em.RunValues(context.Background(), map[string]ops.Value{"X": ops.FromSlice(ops.Float, flat, len(x), NumFeatures)})
	if err != nil {
		t.Fatal(err)
	}
	got := out["variable"].(*ops.Tensor)
	if want := []int{len(x), 1}; len(got.Shape) != 2 || got.Shape[0] != want[0] || got.Shape[1] != 1 {
		t.Fatalf("shape %v, want %v", got.Shape, want)
	}
	var sse, sst, mean float64
	for _, v := range y {
		mean += v / float64(len(y))
	}
	for i, r := range x {
		want := m.Predict(r)
		g := got.Float32s()[i]
		if d := math.Abs(float64(g - want)); d > 1e-5*math.Max(1, math.Abs(float64(want))) {
			t.Fatalf("row %d: engine %v, trainer %v", i, g, want)
		}
		sse += (float64(g) - y[i]) * (float64(g) - y[i])
		sst += (y[i] - mean) * (y[i] - mean)
	}
	// The forest must actually have learnt the function.
	if r2 := 1 - sse/sst; r2 < 0.8 {
		t.Errorf("held-out R² = %.3f, want ≥ 0.8", r2)
	} else {
		t.Logf("held-out R² = %.3f", r2)
	}
}

func TestDeterministic(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Forest.Trees = 5
	a, err := Train(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Train(cfg)
	ba, _ := a.ONNX()
	bb, _ := b.ONNX()
	if !bytes.Equal(ba, bb) {
		t.Fatal("two trainings with the same seed differ")
	}
	if _, err := Train(Config{Samples: 1}); err == nil {
		t.Fatal("want an error for 1 sample")
	}
}
