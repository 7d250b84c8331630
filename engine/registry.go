package engine

import (
	"github.com/agate-ml/agate/ops"
	"github.com/agate-ml/agate/ops/signal"
)

// DefaultRegistry returns a new registry holding every kernel models load
// with by default: package ops's (ops.DefaultRegistry) and the families kept
// in packages of their own, ops/signal (DFT, STFT, windows,
// MelWeightMatrix).
func DefaultRegistry() *ops.Registry {
	r := ops.DefaultRegistry()
	signal.Register(r)
	return r
}
