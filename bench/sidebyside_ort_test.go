//go:build ort

package bench

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/agate-ml/agate/bench/ortrun"
	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/ops"
)

// BenchORT is a benchmark body running the workload on onnxruntime with the
// given intra-op threads; output tensors are bound from an agate run.
func (w *Workload) BenchORT(threads int) func(b *testing.B) {
	return func(b *testing.B) {
		s, err := w.ORTSession(threads)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Destroy()
		if err := s.Run(); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for b.Loop() {
			if err := s.Run(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(w.Rows), "ns/row")
	}
}

// ORTSession opens an onnxruntime session bound to the workload's inputs.
func (w *Workload) ORTSession(threads int) (*ortrun.Session, error) {
	m, err := w.Agate(1)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	outs := make([]ops.Value, len(m.Outputs()))
	if err := w.RunAgate(context.Background(), m, outs); err != nil {
		return nil, err
	}
	var names []string
	var ts []*ops.Tensor
	for i, o := range m.Outputs() {
		t, ok := outs[i].(*ops.Tensor)
		if !ok {
			return nil, fmt.Errorf("output %q is not a tensor", o.Name)
		}
		names = append(names, o.Name)
		ts = append(ts, t)
	}
	return ortrun.NewSession(w.Model, threads, w.InNames, w.Inputs, names, ts)
}

// benchTreeORT is Workload.BenchORT with the CPU-time metric of the tree
// benchmarks (onnxruntime's pool threads spin while waiting, so at 2
// threads its CPU figure includes that spinning).
func benchTreeORT(w *Workload, threads int) func(b *testing.B) {
	return func(b *testing.B) {
		s, err := w.ORTSession(threads)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Destroy()
		if err := s.Run(); err != nil {
			b.Fatal(err)
		}
		var cpu loopCPU
		cpu.start()
		for b.Loop() {
			if err := s.Run(); err != nil {
				b.Fatal(err)
			}
		}
		cpu.report(b, w.Rows)
	}
}

// BenchmarkTreesVsORT runs each tree workload on agate and onnxruntime,
// alternating the engines at each batch size and thread count so that
// both see the same machine load.
func BenchmarkTreesVsORT(b *testing.B) {
	for _, name := range TreeModels {
		dir := treeModelDir(b, name)
		for _, batch := range TreeBatches {
			w, err := TreeWorkload(dir, batch)
			if err != nil {
				b.Fatal(err)
			}
			for _, th := range TreeThreads {
				b.Run(fmt.Sprintf("%s/threads=%d/agate", w.Name, th), benchTreeAgate(w, th))
				b.Run(fmt.Sprintf("%s/threads=%d/ort", w.Name, th), benchTreeORT(w, th))
			}
		}
	}
}

// TestParityWithORT runs each tree workload on both engines and compares
// the first float output.
func TestParityWithORT(t *testing.T) {
	for _, name := range TreeModels {
		w, err := TreeWorkload(treeModelDir(t, name), 257)
		if err != nil {
			t.Fatal(err)
		}
		s, err := w.ORTSession(1)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Run(); err != nil {
			t.Fatal(err)
		}
		m, _ := w.Agate(1)
		outs := make([]ops.Value, len(m.Outputs()))
		if err := w.RunAgate(context.Background(), m, outs); err != nil {
			t.Fatal(err)
		}
		m.Close()
		last := len(outs) - 1
		got := outs[last].(*ops.Tensor).Float32s()
		want := s.Output(last)
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > 1e-5*math.Max(1, math.Abs(float64(want[i]))) {
				t.Fatalf("%s: element %d: agate %v, onnxruntime %v", w.Name, i, got[i], want[i])
			}
		}
		s.Destroy()
	}
}

func BenchmarkTransformersVsORT(b *testing.B) {
	for _, name := range TextModels {
		dir := shared.Path(b, "models", "transformers", name)
		for _, s := range TextShapes {
			w, err := TextWorkload(dir, s.Batch, s.Seq)
			if err != nil {
				b.Fatal(err)
			}
			for _, th := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/threads=%d/agate", w.Name, th), w.BenchAgate(th))
				if ops.BFloat16Supported() {
					b.Run(fmt.Sprintf("%s/threads=%d/agate-bf16", w.Name, th), w.BenchAgate(th, engine.WithPrecision(ops.PrecisionBFloat16)))
				}
				b.Run(fmt.Sprintf("%s/threads=%d/ort", w.Name, th), w.BenchORT(th))
			}
		}
	}
}
