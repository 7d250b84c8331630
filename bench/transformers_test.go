package bench

import (
	"fmt"
	"testing"

	"github.com/agate-ml/agate/internal/shared"
)

// TextShape is one (batch, sequence length) point of the transformer benchmarks.
type TextShape struct{ Batch, Seq int }

// TextShapes are the points the issue asks for: batch 1 at 16/64/128/256,
// batch 8 at 128.
var TextShapes = []TextShape{{1, 16}, {1, 64}, {1, 128}, {1, 256}, {8, 128}}

// TextModels are the transformer fixtures benchmarked.
var TextModels = []string{"minilm-l6-h384-6label", "bert-tiny-6label"}

// BenchmarkTransformers runs agate alone; BenchmarkTransformersVsORT (tag
// ort) adds onnxruntime side by side.
func BenchmarkTransformers(b *testing.B) {
	for _, name := range TextModels {
		dir := shared.Path(b, "models", "transformers", name)
		for _, s := range TextShapes {
			w, err := TextWorkload(dir, s.Batch, s.Seq)
			if err != nil {
				b.Fatal(err)
			}
			for _, th := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/threads=%d", w.Name, th), w.BenchAgate(th))
			}
		}
	}
}
