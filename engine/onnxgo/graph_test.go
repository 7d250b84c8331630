package onnxgo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/ops"
	"github.com/owulveryck/onnx-go"
)

// TestMNIST runs onnx-go's example model (an IR 3 model that lists its
// initializers among its inputs) on its three test sets.
func TestMNIST(t *testing.T) {
	for i := range 3 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			model, inputs, refs := readCase(t, filepath.Join("testdata", "mnist"), i)
			b, got, err := runOnnxGo(t, model, inputs)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := runEngine(t, model, inputs)
			if d, err := maxDiff(got[0], want[0]); err != nil || d != 0 {
				t.Errorf("differs from engine.Load by %v (%v)", d, err)
			}
			// The logits reach ±1700: float32 rounding of the sums, relative.
			scale := 1.0
			for _, v := range values(refs[0]) {
				scale = max(scale, math.Abs(v))
			}
			if d, err := maxDiff(got[0], refs[0]); err != nil || d > 1e-5*scale {
				t.Errorf("differs from the reference output by %v, outputs up to %v (%v)", d, scale, err)
			}
			if n := len(b.plan.model.Inputs()); n != 9 {
				t.Errorf("planned %d inputs, want Input3 and its 8 initializers as defaults", n)
			}
		})
	}
}

// graphForms is a model with the forms onnx-go's graph encodes
// indirectly: an operator without inputs (Constant), one value read twice
// (Mul(x, x)), omitted optional inputs and outputs, an initializer declared
// as an input (a default) and one that is not.
func graphForms(t *testing.T) []byte {
	t.Helper()
	half, err := onnxbuild.TensorAttr("value", ops.FromSlice(ops.Float, []float32{0.5}, 1))
	if err != nil {
		t.Fatal(err)
	}
	g := onnxbuild.NewGraph("forms").
		Input("x", onnxbuild.TensorType(ops.Float, "n", 3)).
		Input("w", onnxbuild.TensorType(ops.Float, 3)).
		Initializer("w", ops.FromSlice(ops.Float, []float32{1, 2, 3}, 3)).
		Initializer("hi", ops.Scalar(float32(4))).
		Initializer("k", ops.FromSlice(ops.Int64, []int64{2}, 1)).
		Output("z", onnxbuild.TensorType(ops.Float, "n", 3)).
		Output("idx", onnxbuild.TensorType(ops.Int64, "n", 2))
	g.Node("Constant", nil, []string{"c"}, half).
		Node("Mul", []string{"x", "x"}, []string{"sq"}).
		Node("Add", []string{"sq", "c"}, []string{"s"}).
		Node("Clip", []string{"s", "", "hi"}, []string{"cl"}).
		Node("Dropout", []string{"cl", "", ""}, []string{"y", ""}).
		Node("Add", []string{"y", "w"}, []string{"z"}).
		Node("TopK", []string{"z", "k"}, []string{"", "idx"})
	b, err := (&onnxbuild.Model{Graph: g, Opsets: map[string]int{"": 17}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGraphForms(t *testing.T) {
	model := graphForms(t)
	b := New()
	defer b.Close()
	m := onnx.NewModel(b)
	if err := Unmarshal(m, model); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.LoadBytes(model)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	check := func(x, w *ops.Tensor) {
		t.Helper()
		if err := m.SetInput(0, engine.ToDense(x)); err != nil {
			t.Fatal(err)
		}
		if err := b.RunContext(context.Background()); err != nil {
			t.Fatal(err)
		}
		outs, err := m.GetOutputTensors()
		if err != nil {
			t.Fatal(err)
		}
		in := map[string]ops.Value{"x": x}
		if w != nil {
			in["w"] = w
		}
		want, err := eng.RunValues(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		for i, name := range []string{"z", "idx"} {
			got, err := toOps(outs[i])
			if err != nil {
				t.Fatal(err)
			}
			if d, err := maxDiff(got, want[name].(*ops.Tensor)); err != nil || d != 0 {
				t.Errorf("%s = %v, engine.Load gives %v (%v)", name, got.Data, want[name].(*ops.Tensor).Data, err)
			}
		}
	}
	check(ops.FromSlice(ops.Float, []float32{1, -2, 3, 0.5, 1.5, -1}, 2, 3), nil)
	// The plan is reused for another batch size.
	check(ops.FromSlice(ops.Float, []float32{-1, 0, 1}, 1, 3), nil)
	// The declared input w keeps its default until the program sets it
	// (onnx-go's SetInput does not count it: its node is set directly).
	w := ops.FromSlice(ops.Float, []float32{10, -10, 0}, 3)
	wn, ok := m.GetNodeByName("w")
	if !ok {
		t.Fatal("no node w")
	}
	if err := wn.(onnx.DataCarrier).SetTensor(engine.ToDense(w)); err != nil {
		t.Fatal(err)
	}
	check(ops.FromSlice(ops.Float, []float32{-1, 0, 1}, 1, 3), w)
	if got := b.plan.model.Opsets[ops.DomainONNX]; got < 12 {
		t.Errorf("recovered opset %d; Clip's max input and Dropout need 12 or later", got)
	}
}

// TestDocumentedErrors checks the errors for what onnx-go's decoder loses:
// each wraps ErrDecoderLoss and points to engine.Load.
func TestDocumentedErrors(t *testing.T) {
	x := onnxbuild.TensorType(ops.Float, 2, 3)
	build := func(opset int, f func(g *onnxbuild.Graph)) []byte {
		g := onnxbuild.NewGraph("e").Input("x", x).Output("y", nil)
		f(g)
		b, err := (&onnxbuild.Model{Graph: g, Opsets: map[string]int{"": opset, "com.example": 1}}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	branch := onnxbuild.NewGraph("then").Output("x", nil)
	cases := []struct {
		name, want string
		model      []byte
	}{
		{"uint8 initializer", "load it with engine.Load", build(17, func(g *onnxbuild.Graph) {
			g.Initializer("u", ops.FromSlice(ops.Uint8, []uint8{1, 2, 3}, 3)).
				Node("Cast", []string{"u"}, []string{"uf"}, onnxbuild.Int("to", int64(ops.Float))).
				Node("Add", []string{"x", "uf"}, []string{"y"})
		})},
		{"subgraph", "load it with engine.Load", build(17, func(g *onnxbuild.Graph) {
			g.Initializer("cond", ops.Scalar(true)).
				Node("If", []string{"cond"}, []string{"y"}, onnxbuild.GraphAttr("then_branch", branch), onnxbuild.GraphAttr("else_branch", branch))
		})},
		{"custom domain", "does not pass on node domains", build(17, func(g *onnxbuild.Graph) {
			g.DomainNode("com.example", "Frobnicate", []string{"x"}, []string{"y"})
		})},
		{"no single opset", "fit no single opset", build(12, func(g *onnxbuild.Graph) {
			g.Initializer("axes", ops.FromSlice(ops.Int64, []int64{0}, 1)).
				Node("Unsqueeze", []string{"x", "axes"}, []string{"u"}).
				Node("Squeeze", []string{"u"}, []string{"y"}, onnxbuild.Ints("axes", 0))
		})},
		{"softmax axis", "changed in opset 13", build(11, func(g *onnxbuild.Graph) {
			g.Node("Softmax", []string{"x"}, []string{"y"}, onnxbuild.Int("axis", 0))
		})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := engine.Inspect(c.model); err != nil {
				t.Fatal(err)
			}
			b := New()
			defer b.Close()
			m := onnx.NewModel(b)
			err := Unmarshal(m, c.model)
			if err == nil {
				if err = m.SetInput(0, engine.ToDense(ops.NewTensor(ops.Float, 2, 3))); err != nil {
					t.Fatal(err)
				}
				err = b.Run()
			}
			if !errors.Is(err, ErrDecoderLoss) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "engine.Load") {
				t.Fatalf("error %v, want ErrDecoderLoss with %q and engine.Load", err, c.want)
			}
			t.Log(err)
		})
	}
}

// TestWithOpsets runs a Softmax whose meaning the opset decides: stated
// with WithOpsets, each opset gives engine.Load's result for that opset.
func TestWithOpsets(t *testing.T) {
	x := ops.FromSlice(ops.Float, []float32{1, 2, 3, 4, 5, 7, 0, -1, 2, 3, 1, 1}, 2, 2, 3)
	var prev *ops.Tensor
	for _, opset := range []int{11, 13} {
		g := onnxbuild.NewGraph("softmax").Input("x", onnxbuild.TensorType(ops.Float, 2, 2, 3)).Output("y", nil)
		g.Node("Softmax", []string{"x"}, []string{"y"}, onnxbuild.Int("axis", 1))
		model, err := (&onnxbuild.Model{Graph: g, Opsets: map[string]int{"": opset}}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		_, got, err := runOnnxGo(t, model, []*ops.Tensor{x}, WithOpsets(map[string]int{"ai.onnx": opset}))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := runEngine(t, model, []*ops.Tensor{x})
		if d, err := maxDiff(got[0], want[0]); err != nil || d != 0 {
			t.Errorf("opset %d: differs from engine.Load by %v (%v)", opset, d, err)
		}
		if prev != nil {
			if d, _ := maxDiff(got[0], prev); d < 1e-3 {
				t.Errorf("opsets 11 and 13 give the same result: the test cannot tell them apart")
			}
		}
		prev = got[0]
	}
}

// TestRunErrors checks the errors of a run the program set up wrong, and
// of the outputs onnx-go cannot carry.
func TestRunErrors(t *testing.T) {
	model := graphForms(t)
	newModel := func() (*Backend, *onnx.Model) {
		b := New()
		t.Cleanup(func() { b.Close() })
		m := onnx.NewModel(b)
		if err := Unmarshal(m, model); err != nil {
			t.Fatal(err)
		}
		return b, m
	}
	b, _ := newModel()
	if err := b.Run(); err == nil || !strings.Contains(err.Error(), `input "x" is not set`) {
		t.Errorf("run without inputs: %v", err)
	}
	b, m := newModel()
	if err := m.SetInput(0, engine.ToDense(ops.NewTensor(ops.Float, 1, 3))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.RunContext(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled run: %v", err)
	}
	if err := b.Run(); err != nil {
		t.Errorf("run after a canceled one: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Run(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("run after Close: %v", err)
	}
	if err := Unmarshal(onnx.NewModel(New()), []byte("not a model")); err == nil || errors.Is(err, ErrDecoderLoss) {
		t.Errorf("garbage: %v, want a decoding error that is not ErrDecoderLoss", err)
	}

	// An undeclared sequence output reaches Run; a declared one stops
	// onnx-go's decoder.
	g := onnxbuild.NewGraph("seq").Input("x", onnxbuild.TensorType(ops.Float, 2)).Output("s", nil)
	g.Node("SequenceConstruct", []string{"x", "x"}, []string{"s"})
	seq, err := (&onnxbuild.Model{Graph: g}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := runOnnxGo(t, seq, []*ops.Tensor{ops.NewTensor(ops.Float, 2)}); err == nil || !strings.Contains(err.Error(), "RunValues") {
		t.Errorf("sequence output: %v, want an error pointing to RunValues", err)
	}
	dir := shared.Path(t, "models", "sklearn", "rf_classifier_3class_zipmap")
	zipmap, inputs, _ := readCase(t, dir, 0)
	if _, _, err := runOnnxGo(t, zipmap, inputs); !errors.Is(err, ErrDecoderLoss) || !strings.Contains(err.Error(), "engine.Load") {
		t.Errorf("ZipMap output: %v, want ErrDecoderLoss pointing to engine.Load", err)
	}
}
