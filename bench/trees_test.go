package bench

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/agate-ml/agate/internal/shared"
)

// TreeModels are the scikit-learn exports benchmarked (ZipMap outputs are
// left out: onnxruntime cannot bind a sequence of maps in advance).
var TreeModels = []string{"rf_regressor_5f", "rf_classifier_3class", "gb_classifier_binary", "gb_regressor_30f", "histgb_classifier_binary", "extratrees_regressor_30f_deep"}

// TreeBatches are the batch sizes of the tree benchmarks.
var TreeBatches = []int{1, 100, 10000}

// BenchmarkTrees runs agate alone (no onnxruntime needed); the `ort` build
// tag adds BenchmarkTreesVsORT with both engines side by side.
func BenchmarkTrees(b *testing.B) {
	for _, name := range TreeModels {
		dir := shared.Path(b, "models", "sklearn", name)
		for _, batch := range TreeBatches {
			w, err := TreeWorkload(dir, batch)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/threads=1", w.Name), w.BenchAgate(1))
		}
	}
}

func TestTreeWorkloadsRun(t *testing.T) {
	for _, name := range TreeModels {
		w, err := TreeWorkload(filepath.Join(shared.Path(t, "models", "sklearn", name)), 3)
		if err != nil {
			t.Fatal(err)
		}
		m, err := w.Agate(1)
		if err != nil {
			t.Fatal(err)
		}
		r := testing.Benchmark(func(b *testing.B) { b.N = 1; w.BenchAgate(1)(b) })
		m.Close()
		if r.N == 0 {
			t.Fatalf("%s: benchmark body did not run", w.Name)
		}
	}
}
