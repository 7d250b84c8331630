package onnxgo

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/ops"
	"github.com/owulveryck/onnx-go"
	"github.com/owulveryck/onnx-go/backend/testbackend"
	_ "github.com/owulveryck/onnx-go/backend/testbackend/onnx" // registers onnx-go's copy of the ONNX backend tests
	"gorgonia.org/tensor"
)

// TestOnnxGoBackendSuite runs onnx-go's own test models (the ONNX backend
// node tests it embeds) through onnx-go's decoder and this backend.
func TestOnnxGoBackendSuite(t *testing.T) {
	cases := testbackend.GetAllRegisteredTests()
	sort.Slice(cases, func(i, j int) bool { return cases[i]().Title < cases[j]().Title })
	stats := map[string]int{}
	for _, newCase := range cases {
		tc := newCase()
		t.Run(tc.Title, func(t *testing.T) {
			inputs := make([]*ops.Tensor, len(tc.Input))
			for i, x := range tc.Input {
				var err error
				if inputs[i], err = toOps(x); err != nil {
					t.Fatal(err)
				}
			}
			want, engErr := engineOutputs(tc.ModelB, inputs)
			got, err := suiteRun(tc.ModelB, inputs)
			viaOpsets := false
			if errors.Is(err, ErrDecoderLoss) {
				info, ierr := engine.Inspect(tc.ModelB)
				if ierr != nil {
					t.Fatal(ierr)
				}
				t.Logf("documented: %v", err)
				got, err = suiteRun(tc.ModelB, inputs, WithOpsets(info.Opsets))
				if err == nil {
					viaOpsets = true
				} else if errors.Is(err, ErrDecoderLoss) {
					stats["documented error"]++
					t.Logf("documented: %v", err)
					return
				}
			}
			switch {
			case err != nil && engErr != nil:
				stats["fails in engine.Load too"]++
				t.Logf("engine.Load fails as well: %v", engErr)
				return
			case err == nil && errors.Is(engErr, engine.ErrInput):
				// onnx-go does not pass on input shapes: only
				// engine.Load checks them.
				stats["input shape only engine.Load checks"]++
				t.Logf("engine.Load rejects the input: %v", engErr)
				return
			case err != nil:
				t.Fatalf("engine.Load runs it, the onnx-go backend fails: %v", err)
			case engErr != nil:
				t.Fatalf("engine.Load fails (%v), the onnx-go backend runs it", engErr)
			}
			if len(got) != len(want) || len(got) != len(tc.ExpectedOutput) {
				t.Fatalf("%d outputs, engine.Load %d, expected %d", len(got), len(want), len(tc.ExpectedOutput))
			}
			for i := range got {
				if d, err := maxDiff(got[i], want[i]); err != nil || d > 1e-6 {
					t.Errorf("output %d: differs from engine.Load by %v (%v)", i, d, err)
				}
				exp, err := toOps(tc.ExpectedOutput[i])
				if err != nil {
					t.Fatal(err)
				}
				if d, err := maxDiff(got[i], exp); err != nil || d > 1e-4 {
					t.Logf("output %d: differs from onnx-go's expected output by %v (%v)", i, d, err)
				}
			}
			if viaOpsets {
				stats["documented error; same as engine.Load with WithOpsets"]++
			} else {
				stats["same as engine.Load"]++
			}
		})
	}
	t.Logf("%d onnx-go test models: %v", len(cases), stats)
	if stats["same as engine.Load"] < len(cases)/2 {
		t.Errorf("only %d of %d ran", stats["same as engine.Load"], len(cases))
	}
}

func suiteRun(model []byte, inputs []*ops.Tensor, opts ...Option) (outs []*ops.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	b := New(opts...)
	defer b.Close()
	m := onnx.NewModel(b)
	if err := Unmarshal(m, model); err != nil {
		return nil, err
	}
	for i, x := range inputs {
		if err := m.SetInput(i, engine.ToDense(x)); err != nil {
			return nil, err
		}
	}
	if err := b.Run(); err != nil {
		return nil, err
	}
	res, err := m.GetOutputTensors()
	if err != nil {
		return nil, err
	}
	for _, r := range res {
		d, ok := r.(*tensor.Dense)
		if !ok {
			return nil, fmt.Errorf("output is a %T", r)
		}
		t, err := engine.FromDense(d)
		if err != nil {
			return nil, err
		}
		outs = append(outs, t)
	}
	return outs, nil
}

func engineOutputs(model []byte, inputs []*ops.Tensor) ([]*ops.Tensor, error) {
	m, err := engine.LoadBytes(model)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	in := make([]ops.Value, len(m.Inputs()))
	for i := range inputs {
		if i < len(in) {
			in[i] = inputs[i]
		}
	}
	outs := make([]ops.Value, len(m.Outputs()))
	if err := m.RunList(context.Background(), in, outs); err != nil {
		return nil, err
	}
	res := make([]*ops.Tensor, len(outs))
	for i, o := range outs {
		t, ok := o.(*ops.Tensor)
		if !ok {
			return nil, fmt.Errorf("output %d is a %T", i, o)
		}
		res[i] = t
	}
	return res, nil
}
