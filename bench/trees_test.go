package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/ops"
)

// TreeModels are the tree-ensemble fixtures benchmarked, as paths under
// the shared models folder: the scikit-learn exports (ZipMap outputs are
// left out: onnxruntime cannot bind a sequence of maps in advance) and the
// third-party ones.
var TreeModels = []string{
	"sklearn/rf_regressor_5f", "sklearn/rf_classifier_3class", "sklearn/gb_classifier_binary",
	"sklearn/gb_regressor_30f", "sklearn/histgb_classifier_binary", "sklearn/extratrees_regressor_30f_deep",
	"third-party/california_rf_skl2onnx_1.9", "third-party/california_gb_skl2onnx_1.9", "third-party/iris_rf_skl2onnx_1.16",
}

// treeModelDir returns the folder of a TreeModels entry.
func treeModelDir(tb testing.TB, name string) string {
	return shared.Path(tb, append([]string{"models"}, strings.Split(name, "/")...)...)
}

// TreeBatches are the batch sizes of the tree benchmarks.
var TreeBatches = []int{1, 100, 10000}

// TreeThreads are the intra-op thread counts of the side-by-side tree
// benchmarks.
var TreeThreads = []int{1, 2}

// processCPU returns the CPU time this process has used (user and system,
// all threads), or false where the platform offers no such clock. It is set
// by leaves_cpu_unix_test.go.
var processCPU func() (time.Duration, bool) = func() (time.Duration, bool) { return 0, false }

// loopCPU times a benchmark loop in CPU time as well as wall time: on a
// shared, loaded machine the wall clock counts the time other processes
// hold the cores, the CPU clock does not. Call start right before the
// b.Loop loop and report right after it.
type loopCPU struct {
	t0 time.Duration
	ok bool
}

func (l *loopCPU) start() { l.t0, l.ok = processCPU() }

// report adds the metrics ns/row (wall) and cpu-ns/row (CPU time of all
// threads, so at 2 threads it is a cost, not a latency).
func (l *loopCPU) report(b *testing.B, rows int) {
	per := float64(b.N) * float64(rows)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/per, "ns/row")
	if t1, ok := processCPU(); ok && l.ok {
		b.ReportMetric(float64((t1-l.t0).Nanoseconds())/per, "cpu-ns/row")
	}
}

// benchTreeAgate is Workload.BenchAgate with the CPU-time metric.
func benchTreeAgate(w *Workload, threads int) func(b *testing.B) {
	return func(b *testing.B) {
		m, err := w.Agate(threads)
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		ctx := context.Background()
		outs := make([]ops.Value, len(m.Outputs()))
		in := make([]ops.Value, len(m.Inputs()))
		for i, info := range m.Inputs() {
			for j, name := range w.InNames {
				if name == info.Name {
					in[i] = w.Inputs[j]
				}
			}
		}
		if err := m.RunList(ctx, in, outs); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		var cpu loopCPU
		cpu.start()
		for b.Loop() {
			// outputs bound, as the onnxruntime side's are
			if err := m.RunInto(ctx, in, outs); err != nil {
				b.Fatal(err)
			}
		}
		cpu.report(b, w.Rows)
	}
}

// BenchmarkTrees runs agate alone (no onnxruntime needed); the `ort` build
// tag adds BenchmarkTreesVsORT with both engines side by side, and
// BenchmarkTreesVsLeaves compares with github.com/dmitryikh/leaves.
func BenchmarkTrees(b *testing.B) {
	for _, name := range TreeModels {
		dir := treeModelDir(b, name)
		for _, batch := range TreeBatches {
			w, err := TreeWorkload(dir, batch)
			if err != nil {
				b.Fatal(err)
			}
			for _, th := range TreeThreads {
				b.Run(fmt.Sprintf("%s/threads=%d", w.Name, th), benchTreeAgate(w, th))
			}
		}
	}
}

// TestTreeWorkloadsRun checks that every tree workload loads and runs.
func TestTreeWorkloadsRun(t *testing.T) {
	for _, name := range TreeModels {
		w, err := TreeWorkload(treeModelDir(t, name), 3)
		if err != nil {
			t.Fatal(err)
		}
		m, err := w.Agate(1)
		if err != nil {
			t.Fatal(err)
		}
		outs := make([]ops.Value, len(m.Outputs()))
		err = w.RunAgate(context.Background(), m, outs)
		m.Close()
		if err != nil {
			t.Fatalf("%s: %v", w.Name, err)
		}
		for i, o := range outs {
			if o == nil {
				t.Fatalf("%s: output %d not set", w.Name, i)
			}
		}
	}
}
