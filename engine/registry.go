package engine

import (
	"github.com/agate-ml/agate/ops"
)

// DefaultRegistry returns a new registry holding every kernel models load
// with by default.
func DefaultRegistry() *ops.Registry {
	r := ops.DefaultRegistry()
	return r
}
