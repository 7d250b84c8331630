package engine

import (
	"github.com/agate-ml/agate/ops"
	"github.com/agate-ml/agate/ops/signal"
	"github.com/agate-ml/agate/ops/training"
)

// DefaultRegistry returns a new registry holding every kernel models load
// with by default: package ops's (ops.DefaultRegistry) and the families kept
// in packages of their own, ops/signal (DFT, STFT, windows,
// MelWeightMatrix) and ops/training (the ai.onnx.preview.training
// optimizers).
func DefaultRegistry() *ops.Registry {
	r := ops.DefaultRegistry()
	signal.Register(r)
	training.Register(r)
	return r
}
