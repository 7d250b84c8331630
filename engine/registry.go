package engine

import (
	"github.com/agate-ml/agate/ops"
	"github.com/agate-ml/agate/ops/imagedecode"
	"github.com/agate-ml/agate/ops/signal"
	"github.com/agate-ml/agate/ops/training"
)

// DefaultRegistry returns a new registry holding every kernel models load
// with by default: package ops's (ops.DefaultRegistry) and the
// conformance-only families kept in packages of their own, ops/imagedecode
// (ImageDecoder), ops/signal (DFT, STFT, windows, MelWeightMatrix) and
// ops/training (the ai.onnx.preview.training optimizers).
//
// An embedder that wants fewer operators passes WithRegistry a registry
// built from ops.DefaultRegistry and the Register functions of the families
// it keeps; a model using an operator left out then fails to load with an
// UnsupportedError naming it.
func DefaultRegistry() *ops.Registry {
	r := ops.DefaultRegistry()
	imagedecode.Register(r)
	signal.Register(r)
	training.Register(r)
	return r
}
