//go:build ort

package bench

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/agate-ml/agate/ops"
)

// TestVisionParityWithORT runs the generated CNN and RNN workloads on both
// engines: outputs agree within 1e-3 relative to the output's scale.
func TestVisionParityWithORT(t *testing.T) {
	ws, err := VisionWorkloads(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		s, err := w.ORTSession(1)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Run(); err != nil {
			t.Fatal(err)
		}
		m, err := w.Agate(1)
		if err != nil {
			t.Fatal(err)
		}
		outs := make([]ops.Value, len(m.Outputs()))
		if err := w.RunAgate(context.Background(), m, outs); err != nil {
			t.Fatal(err)
		}
		m.Close()
		got := outs[0].(*ops.Tensor).Float32s()
		want := s.Output(0)
		scale := 0.0
		for _, v := range want {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		worst := 0.0
		for i := range want {
			worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
		}
		if worst > 1e-3*math.Max(1, scale) {
			t.Errorf("%s: max |agate - onnxruntime| = %g (outputs up to %g)", w.Name, worst, scale)
		}
		t.Logf("%s: max diff %.2g, output scale %.3g", w.Name, worst, scale)
		s.Destroy()
	}
}

// BenchmarkVisionVsORT times the CNN and RNN workloads on both engines, one
// and two threads, alternating the engines.
func BenchmarkVisionVsORT(b *testing.B) {
	ws, err := VisionWorkloads(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	for _, w := range ws {
		for _, th := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d/agate", w.Name, th), w.BenchAgate(th))
			b.Run(fmt.Sprintf("%s/threads=%d/ort", w.Name, th), w.BenchORT(th))
		}
	}
}
