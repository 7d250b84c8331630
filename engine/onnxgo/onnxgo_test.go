package onnxgo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/ops"
	"github.com/owulveryck/onnx-go"
	"gorgonia.org/tensor"
)

// readCase reads an ONNX backend-test-style folder: the model and the
// tensors of test_data_set_<set>.
func readCase(t *testing.T, dir string, set int) (model []byte, inputs, refs []*ops.Tensor) {
	t.Helper()
	model, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	read := func(prefix string) []*ops.Tensor {
		var out []*ops.Tensor
		for i := 0; ; i++ {
			b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("test_data_set_%d", set), fmt.Sprintf("%s_%d.pb", prefix, i)))
			if errors.Is(err, os.ErrNotExist) {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			x, err := engine.DecodeTensor(b)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, x)
		}
	}
	return model, read("input"), read("output")
}

// runOnnxGo decodes model with onnx-go into an agate Backend, sets the
// inputs and runs it.
func runOnnxGo(t *testing.T, model []byte, inputs []*ops.Tensor, opts ...Option) (*Backend, []*ops.Tensor, error) {
	t.Helper()
	b := New(opts...)
	t.Cleanup(func() { b.Close() })
	m := onnx.NewModel(b)
	if err := Unmarshal(m, model); err != nil {
		return b, nil, err
	}
	if len(m.Input) != len(inputs) {
		t.Fatalf("onnx-go lists %d inputs, the test has %d", len(m.Input), len(inputs))
	}
	for i, x := range inputs {
		if err := m.SetInput(i, engine.ToDense(x)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Run(); err != nil {
		return b, nil, err
	}
	outs, err := m.GetOutputTensors()
	if err != nil {
		t.Fatal(err)
	}
	res := make([]*ops.Tensor, len(outs))
	for i, o := range outs {
		d, ok := o.(*tensor.Dense)
		if !ok {
			t.Fatalf("output %d is a %T", i, o)
		}
		if res[i], err = engine.FromDense(d); err != nil {
			t.Fatal(err)
		}
	}
	return b, res, nil
}

// runEngine runs model with engine.LoadBytes on the inputs in graph order,
// returning the outputs and the plan's step counts.
func runEngine(t *testing.T, model []byte, inputs []*ops.Tensor) ([]*ops.Tensor, map[string]int) {
	t.Helper()
	m, err := engine.LoadBytes(model)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	in := make([]ops.Value, len(m.Inputs()))
	for i := range inputs {
		in[i] = inputs[i]
	}
	outs := make([]ops.Value, len(m.Outputs()))
	if err := m.RunList(context.Background(), in, outs); err != nil {
		t.Fatal(err)
	}
	res := make([]*ops.Tensor, len(outs))
	for i, o := range outs {
		res[i] = o.(*ops.Tensor)
	}
	return res, m.OpCounts()
}

// maxDiff is the largest absolute difference between two tensors of the
// same type and shape, compared as float64 (bools and ints exactly).
func maxDiff(a, b *ops.Tensor) (float64, error) {
	if a.DType != b.DType || !ops.EqualShapes(a.Shape, b.Shape) {
		return 0, fmt.Errorf("%s %v vs %s %v", a.DType, a.Shape, b.DType, b.Shape)
	}
	x, y := values(a), values(b)
	d := 0.0
	for i := range x {
		if math.IsNaN(x[i]) != math.IsNaN(y[i]) {
			return math.Inf(1), nil
		}
		if !math.IsNaN(x[i]) && x[i] != y[i] {
			d = max(d, math.Abs(x[i]-y[i]))
		}
	}
	return d, nil
}

func values(t *ops.Tensor) []float64 {
	out := make([]float64, t.Len())
	switch v := t.Data.(type) {
	case []float32:
		for i, x := range v {
			out[i] = float64(x)
		}
	case []float64:
		copy(out, v)
	case []int64:
		for i, x := range v {
			out[i] = float64(x)
		}
	case []int32:
		for i, x := range v {
			out[i] = float64(x)
		}
	case []bool:
		for i, x := range v {
			if x {
				out[i] = 1
			}
		}
	default:
		panic(fmt.Sprintf("values of %T", t.Data))
	}
	return out
}

// TestSharedFixtures runs the scikit-learn, third-party and BERT fixtures
// through onnx-go and compares with engine.Load and onnxruntime.
func TestSharedFixtures(t *testing.T) {
	cases := []struct {
		dir string
		tol float64 // against onnxruntime
	}{
		{"models/sklearn/rf_regressor_5f", 1e-4},
		{"models/sklearn/gb_regressor_30f", 1e-4},
		{"models/sklearn/extratrees_regressor_30f_deep", 1e-4},
		{"models/sklearn/rf_classifier_3class", 1e-5},
		{"models/sklearn/gb_classifier_binary", 1e-5},
		{"models/sklearn/histgb_classifier_binary", 1e-5},
		{"models/third-party/california_rf_skl2onnx_1.9", 1e-4},
		{"models/third-party/california_gb_skl2onnx_1.9", 1e-4},
		{"models/third-party/iris_rf_skl2onnx_1.16", 1e-5},
		{"models/transformers/bert-tiny-6label", 1e-4},
		{"models/transformers/minilm-l6-h384-6label", 1e-4},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.dir), func(t *testing.T) {
			dir := shared.Path(t, strings.Split(c.dir, "/")...)
			model, inputs, refs := readCase(t, dir, 0)
			b, got, err := runOnnxGo(t, model, inputs)
			if err != nil {
				t.Fatal(err)
			}
			want, steps := runEngine(t, model, inputs)
			if got := b.plan.model.OpCounts(); !maps.Equal(got, steps) {
				t.Errorf("planned steps %v, engine.Load plans %v", got, steps)
			}
			t.Logf("recovered opsets %v", b.plan.model.Opsets)
			if len(got) != len(want) || len(got) != len(refs) {
				t.Fatalf("%d outputs, engine.Load %d, onnxruntime %d", len(got), len(want), len(refs))
			}
			for i := range got {
				d, err := maxDiff(got[i], want[i])
				if err != nil || d != 0 {
					t.Errorf("output %d: differs from engine.Load by %v (%v)", i, d, err)
				}
				d, err = maxDiff(got[i], refs[i])
				if err != nil || d > c.tol {
					t.Errorf("output %d: differs from onnxruntime by %v (%v)", i, d, err)
				}
				t.Logf("output %d %v: max |diff| vs onnxruntime %.3g", i, got[i].Shape, d)
			}
		})
	}
}
