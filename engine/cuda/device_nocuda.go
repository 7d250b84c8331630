//go:build !cuda

package cuda

import "github.com/agate-ml/agate/ops"

// Device is a CUDA GPU with its memory pool and streams. In builds without
// the cuda tag it cannot be opened.
type Device struct{}

// Open always fails with ErrNotBuilt in builds without the cuda tag.
func Open(ordinal int, opts Options) (*Device, error) { return nil, ErrNotBuilt }

// Name returns "cuda:N".
func (d *Device) Name() string { return "cuda" }

// Describe returns the GPU's name and properties.
func (d *Device) Describe() string { return "" }

// Compile is unavailable without the cuda tag.
func (d *Device) Compile(p *Program) (ops.Kernel, error) { return nil, ErrNotBuilt }

// PoolStats is unavailable without the cuda tag.
func (d *Device) PoolStats() PoolStats { return PoolStats{} }
