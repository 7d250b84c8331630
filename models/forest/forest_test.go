package forest

import (
	"math"
	"testing"
)

func TestStepFunction(t *testing.T) {
	var x [][]float32
	var y []float64
	for i := 0; i < 100; i++ {
		x = append(x, []float32{float32(i)})
		if i < 50 {
			y = append(y, 1)
		} else {
			y = append(y, 5)
		}
	}
	f, err := Train(x, y, Config{Trees: 10, MaxDepth: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if p := f.Predict([]float32{10}); math.Abs(p-1) > 1e-9 {
		t.Errorf("Predict(10) = %v, want 1", p)
	}
	if p := f.Predict([]float32{90}); math.Abs(p-5) > 1e-9 {
		t.Errorf("Predict(90) = %v, want 5", p)
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct {
		x [][]float32
		y []float64
	}{
		{nil, nil},
		{[][]float32{{1}}, []float64{1, 2}},
		{[][]float32{{}}, []float64{1}},
		{[][]float32{{1}, {1, 2}}, []float64{1, 2}},
	} {
		if _, err := Train(c.x, c.y, Config{}); err == nil {
			t.Errorf("Train(%v, %v): want an error", c.x, c.y)
		}
	}
}

func TestMaxFeaturesAndLeaf(t *testing.T) {
	x := [][]float32{{1, 2}, {2, 1}, {3, 0}, {4, 5}}
	y := []float64{1, 2, 3, 4}
	f, err := Train(x, y, Config{Trees: 3, MaxFeatures: 1, MinSamplesLeaf: 2, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range f.Trees {
		for _, n := range tr.Nodes {
			if !n.Leaf && (n.Feature < 0 || n.Feature > 1) {
				t.Fatalf("bad feature %d", n.Feature)
			}
		}
	}
}
