//go:build ort

// Package ortrun drives onnxruntime (the reference engine) from Go for
// side-by-side benchmarks and parity checks. It is compiled only with the
// `ort` build tag and uses cgo; the agate engine itself never imports it.
//
// The shared library comes from the npm package onnxruntime-node 1.30.0
// (`make ort` installs it under bench/node_modules); set AGATE_ORT_LIB to use
// another copy.
package ortrun

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/agate-ml/agate/ops"
	ort "github.com/yalue/onnxruntime_go"
)

var initOnce struct {
	sync.Once
	err error
}

// LibraryPath finds libonnxruntime.so.1: $AGATE_ORT_LIB, else the npm
// package installed under bench/node_modules relative to the module root.
func LibraryPath() (string, error) {
	if p := os.Getenv("AGATE_ORT_LIB"); p != "" {
		return p, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "bench", "node_modules", "onnxruntime-node", "bin", "napi-v6", "linux", "x64", "libonnxruntime.so.1")
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("onnxruntime not installed (run `make ort`): %w", err)
			}
			return p, nil
		}
		if filepath.Dir(dir) == dir {
			return "", errors.New("module root not found")
		}
	}
}

// Init loads the onnxruntime shared library once per process.
func Init() error {
	initOnce.Do(func() {
		p, err := LibraryPath()
		if err != nil {
			initOnce.err = err
			return
		}
		ort.SetSharedLibraryPath(p)
		initOnce.err = ort.InitializeEnvironment(ort.WithLogLevelError())
	})
	return initOnce.err
}

// Version returns onnxruntime's version string.
func Version() string { return ort.GetVersion() }

// Session is an onnxruntime session with its input and output tensors bound
// once, so Run measures only inference (as agate's RunList does).
type Session struct {
	s       *ort.AdvancedSession
	inputs  []ort.Value
	outputs []ort.Value
}

// NewSession opens model with intra-op threads, binding the given inputs
// (in order of inNames) and preallocating outputs of the given types and
// shapes (taken from an agate run of the same inputs).
func NewSession(model string, threads int, inNames []string, inputs []*ops.Tensor, outNames []string, outputs []*ops.Tensor) (*Session, error) {
	if err := Init(); err != nil {
		return nil, err
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(threads); err != nil {
		return nil, err
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, err
	}
	if threads == 1 {
		// Do not spin a pool thread when there is nothing to share.
		_ = opts.AddSessionConfigEntry("session.intra_op.allow_spinning", "0")
	}
	s := &Session{}
	for _, t := range inputs {
		v, err := toORT(t)
		if err != nil {
			s.Destroy()
			return nil, err
		}
		s.inputs = append(s.inputs, v)
	}
	for _, t := range outputs {
		v, err := emptyORT(t)
		if err != nil {
			s.Destroy()
			return nil, err
		}
		s.outputs = append(s.outputs, v)
	}
	s.s, err = ort.NewAdvancedSession(model, inNames, outNames, s.inputs, s.outputs, opts)
	if err != nil {
		s.Destroy()
		return nil, fmt.Errorf("onnxruntime session for %s: %w", model, err)
	}
	return s, nil
}

// Run runs the model once on the bound tensors.
func (s *Session) Run() error { return s.s.Run() }

// Output returns output i as float32 values (for parity checks).
func (s *Session) Output(i int) []float32 {
	if t, ok := s.outputs[i].(*ort.Tensor[float32]); ok {
		return t.GetData()
	}
	return nil
}

// Destroy frees the session and its tensors.
func (s *Session) Destroy() {
	if s.s != nil {
		s.s.Destroy()
	}
	for _, v := range s.inputs {
		v.Destroy()
	}
	for _, v := range s.outputs {
		v.Destroy()
	}
}

func shapeOf(t *ops.Tensor) ort.Shape {
	dims := make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = int64(d)
	}
	return ort.NewShape(dims...)
}

func toORT(t *ops.Tensor) (ort.Value, error) {
	switch d := t.Data.(type) {
	case []float32:
		return ort.NewTensor(shapeOf(t), append([]float32(nil), d...))
	case []float64:
		return ort.NewTensor(shapeOf(t), append([]float64(nil), d...))
	case []int64:
		return ort.NewTensor(shapeOf(t), append([]int64(nil), d...))
	case []int32:
		return ort.NewTensor(shapeOf(t), append([]int32(nil), d...))
	case []uint8:
		return ort.NewTensor(shapeOf(t), append([]uint8(nil), d...))
	case []int8:
		return ort.NewTensor(shapeOf(t), append([]int8(nil), d...))
	}
	return nil, fmt.Errorf("ortrun: %s tensors are not supported", t.DType)
}

func emptyORT(t *ops.Tensor) (ort.Value, error) {
	switch t.DType {
	case ops.Float:
		return ort.NewEmptyTensor[float32](shapeOf(t))
	case ops.Double:
		return ort.NewEmptyTensor[float64](shapeOf(t))
	case ops.Int64:
		return ort.NewEmptyTensor[int64](shapeOf(t))
	case ops.Int32:
		return ort.NewEmptyTensor[int32](shapeOf(t))
	}
	return nil, fmt.Errorf("ortrun: %s outputs are not supported", t.DType)
}

// Optimize has onnxruntime apply its extended graph optimizations (the
// com.microsoft fusions: Attention, SkipLayerNormalization, BiasGelu,
// FusedMatMul, …) to the model at src and save the result at dst, as
// optimum's ORTOptimizer does. inNames and outNames are the model's
// input and output names.
func Optimize(src, dst string, inNames, outNames []string) error {
	if err := Init(); err != nil {
		return err
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return err
	}
	defer opts.Destroy()
	if err := opts.SetGraphOptimizationLevel(ort.GraphOptimizationLevelEnableExtended); err != nil {
		return err
	}
	if err := opts.SetOptimizedModelFilePath(dst); err != nil {
		return err
	}
	s, err := ort.NewDynamicAdvancedSession(src, inNames, outNames, opts)
	if err != nil {
		return fmt.Errorf("onnxruntime optimizing %s: %w", src, err)
	}
	return s.Destroy()
}
