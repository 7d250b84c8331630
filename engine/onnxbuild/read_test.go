package onnxbuild

import (
	"slices"
	"strings"
	"testing"

	"github.com/agate-ml/agate/ops"
)

func TestNodeAttributes(t *testing.T) {
	tensor, err := TensorAttr("t", ops.FromSlice(ops.Float, []float32{1, 2}, 2))
	if err != nil {
		t.Fatal(err)
	}
	g := NewGraph("g").Input("x", TensorType(ops.Float, 2)).Output("y", TensorType(ops.Float, 2))
	g.DomainNode("ai.onnx.ml", "Scaler", []string{"x"}, []string{"y"},
		Int("i", 3), Float("f", 0.5), String("s", "abc"), Ints("is", 1, 2), Floats("fs", 0.25), Strings("ss", "a", "b"), tensor)
	b, err := (&Model{Graph: g, Opsets: map[string]int{"": 17, "ai.onnx.ml": 1}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	e, err := LoadModel(b)
	if err != nil {
		t.Fatal(err)
	}
	n := e.Nodes[0]
	n.Attrs = append(n.Attrs, Int("added", 7))
	list, err := n.Attributes()
	if err != nil {
		t.Fatal(err)
	}
	a := ops.NewAttrs(list...)
	is, _ := a.Ints("is")
	fs, _ := a.Floats("fs")
	ss, _ := a.Strings("ss")
	if a.Int("i", 0) != 3 || a.Float("f", 0) != 0.5 || a.String("s", "") != "abc" || a.Int("added", 0) != 7 ||
		!slices.Equal(is, []int64{1, 2}) || !slices.Equal(fs, []float32{0.25}) || !slices.Equal(ss, []string{"a", "b"}) {
		t.Fatalf("attributes read back wrong: %v", a.Names())
	}
	if tt := a.Tensor("t"); tt == nil || !slices.Equal(tt.Float32s(), []float32{1, 2}) {
		t.Fatalf("tensor attribute: %v", tt)
	}

	// Graph attributes are refused with the node and attribute named.
	n.Attrs = append(n.Attrs, GraphAttr("body", NewGraph("body")))
	if _, err := n.Attributes(); err == nil || !strings.Contains(err.Error(), `"body"`) {
		t.Fatalf("graph attribute: err = %v", err)
	}
}
