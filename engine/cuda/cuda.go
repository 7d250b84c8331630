// Package cuda runs agate's transformer and tree-ensemble operators on an
// NVIDIA GPU through the CUDA runtime, cuBLAS and cuBLASLt.
//
// The GPU code exists only in builds with the cuda build tag; without it the
// package is pure Go and Open reports ErrNotBuilt, so the default build stays
// cgo-free. The parts that need no device (the memory pool's bookkeeping,
// launch-parameter computation, the GPU layout of tree ensembles and the
// table of supported operators) are always compiled and tested.
//
// A build with the tag links libagatecuda.a, the kernels of kernels/*.cu
// compiled by nvcc (make cuda). make cuda-check instead links a stub library
// compiled by gcc from kernels/stub.c, whose launchers all fail with
// cudaErrorNotSupported: it proves that the host code compiles and links on
// a machine without the CUDA compiler, and Open rejects it with a clear
// message.
//
// The engine hands the device a Program, a run of consecutive graph nodes
// that all have a device implementation; Device.Compile uploads its
// constant inputs once and returns an ops.Kernel that keeps every
// intermediate value on the GPU and copies only the program's inputs and
// outputs.
package cuda

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

var (
	// ErrNotBuilt is returned by Open in builds without the cuda tag.
	ErrNotBuilt = errors.New("cuda: this binary was built without the cuda build tag")

	// ErrNoDevice is wrapped by Open's errors when the CUDA driver is
	// missing or too old, no GPU is visible, or the ordinal is out of range.
	ErrNoDevice = errors.New("cuda: no usable CUDA device")

	// ErrStubKernels is wrapped by Open's error when the binary was linked
	// with the compile-check stub instead of the nvcc-built kernels.
	ErrStubKernels = errors.New("cuda: the kernels library is the compile-check stub (build it with nvcc: make cuda)")
)

// ParseDevice parses a device name of the form "cuda" or "cuda:N" and
// returns the ordinal N (0 for "cuda").
func ParseDevice(name string) (int, error) {
	rest, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(name)), "cuda")
	if !ok {
		return 0, fmt.Errorf("cuda: device %q is not of the form cuda:N", name)
	}
	if rest == "" {
		return 0, nil
	}
	num, ok := strings.CutPrefix(rest, ":")
	if !ok {
		return 0, fmt.Errorf("cuda: device %q is not of the form cuda:N", name)
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("cuda: device %q: the ordinal must be a non-negative integer", name)
	}
	return n, nil
}

// Options configures Open.
type Options struct {
	// MemoryLimit caps the bytes the device memory pool holds (in use and
	// cached); 0 means no limit beyond the GPU's own.
	MemoryLimit int64

	// Lanes is the number of streams (each with its own cuBLAS handles)
	// that concurrent runs share; 0 means 4.
	Lanes int

	// Logf, when set, receives one line per run-time fallback of a step
	// to its CPU kernel (once per step).
	Logf func(format string, args ...any)
}
