//go:build ort

package bench

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/agate-ml/agate/bench/ortrun"
	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/ops"
)

// BenchmarkMatMulVsORT times one MatMul with a constant weight matrix (the
// transformer shapes: MiniLM's feed-forward at 128 and 16 tokens) on agate
// and on onnxruntime, one thread each, and reports GFLOP/s.
func BenchmarkMatMulVsORT(b *testing.B) {
	for _, sh := range [][3]int{{128, 384, 1536}, {128, 1536, 384}, {16, 384, 1536}} {
		m, k, n := sh[0], sh[1], sh[2]
		r := rand.New(rand.NewSource(1))
		w := make([]float32, k*n)
		for i := range w {
			w[i] = float32(r.NormFloat64())
		}
		g := onnxbuild.NewGraph("g").Input("x", onnxbuild.TensorType(ops.Float, m, k)).Output("y", onnxbuild.TensorType(ops.Float, m, n)).
			Initializer("w", ops.FromSlice(ops.Float, w, k, n)).Node("MatMul", []string{"x", "w"}, []string{"y"})
		data, err := (&onnxbuild.Model{Graph: g, Opsets: map[string]int{"": 17}}).Marshal()
		if err != nil {
			b.Fatal(err)
		}
		path := filepath.Join(b.TempDir(), "mm.onnx")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			b.Fatal(err)
		}
		x := ops.NewTensor(ops.Float, m, k)
		for i := range x.Float32s() {
			x.Float32s()[i] = float32(r.NormFloat64())
		}
		flops := 2 * float64(m*n*k)
		b.Run(fmt.Sprintf("%dx%dx%d/agate", m, k, n), func(b *testing.B) {
			model, err := engine.LoadBytes(data, engine.WithWorkers(1))
			if err != nil {
				b.Fatal(err)
			}
			defer model.Close()
			in := []ops.Value{x}
			out := make([]ops.Value, 1)
			if err := model.RunList(context.Background(), in, out); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := model.RunInto(context.Background(), in, out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(fmt.Sprintf("%dx%dx%d/ort", m, k, n), func(b *testing.B) {
			s, err := ortrun.NewSession(path, 1, []string{"x"}, []*ops.Tensor{x}, []string{"y"}, []*ops.Tensor{ops.NewTensor(ops.Float, m, n)})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Destroy()
			if err := s.Run(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.Run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
