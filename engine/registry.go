package engine

import (
	"github.com/agate-ml/agate/ops"
	"github.com/agate-ml/agate/ops/imagedecode"
	"github.com/agate-ml/agate/ops/signal"
	"github.com/agate-ml/agate/ops/training"
)

// DefaultRegistry returns a new registry holding every kernel models load
// with by default: package ops's (ops.DefaultRegistry) and the families kept
// in packages of their own, ops/imagedecode (ImageDecoder), ops/signal (DFT,
// STFT, windows, MelWeightMatrix) and ops/training (the
// ai.onnx.preview.training optimizers).
func DefaultRegistry() *ops.Registry {
	r := ops.DefaultRegistry()
	imagedecode.Register(r)
	signal.Register(r)
	training.Register(r)
	return r
}
