package onnxbuild

import (
	"context"
	"testing"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/ops"
)

func TestBuildAndRun(t *testing.T) {
	g := NewGraph("seq").
		Input("x", TensorType(ops.Float, "n")).
		Output("y", TensorType(ops.Float, "n"))
	g.Node("SequenceConstruct", []string{"x", "x"}, []string{"s"}).
		Node("ConcatFromSequence", []string{"s"}, []string{"y0"}, Int("axis", 0)).
		Node("SplitToSequence", []string{"y0"}, []string{"parts"}, Int("axis", 0)).
		Node("SequenceAt", []string{"parts", "zero"}, []string{"y"}).
		Initializer("zero", ops.Scalar(int64(0)))
	g.Output("parts", nil)
	b, err := (&Model{Graph: g, Opsets: map[string]int{"": 17}, Metadata: map[string]string{"k": "v"}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.LoadBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Metadata["k"] != "v" {
		t.Fatalf("metadata %v", m.Metadata)
	}
	out, err := m.RunValues(context.Background(), map[string]ops.Value{"x": ops.FromSlice(ops.Float, []float32{1, 2}, 2)})
	if err != nil {
		t.Fatal(err)
	}
	// concat([1,2],[1,2]) split into 4 single elements; element 0 is [1].
	y := out["y"].(*ops.Tensor)
	if y.Len() != 1 || y.Float32s()[0] != 1 {
		t.Fatalf("y = %v %v", y, y.Data)
	}
	if n := len(out["parts"].(*ops.Sequence).Values); n != 4 {
		t.Fatalf("%d parts, want 4", n)
	}
}
