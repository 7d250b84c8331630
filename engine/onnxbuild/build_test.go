package onnxbuild

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
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

// TestWriteExternal: a model written with its weights in an external file
// loads and computes what the single-file model does.
func TestWriteExternal(t *testing.T) {
	cfg := EncoderConfig{Layers: 1, Hidden: 32, Heads: 2, FFN: 64, Vocab: 100, MaxPositions: 16, TypeVocab: 2, Labels: 2,
		Seed: 1, GELU: "erf", LayerNorm: "decomposed", Attention: "bert", Positions: "bert"}
	mb, err := EncoderClassifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := mb.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "model.onnx")
	if err := mb.WriteExternal(path, "model.onnx.data", 1024, 4096); err != nil {
		t.Fatal(err)
	}
	if again, err := mb.Marshal(); err != nil || !bytes.Equal(again, b) {
		t.Fatal("WriteExternal changed the model")
	}
	st, err := os.Stat(filepath.Join(dir, "model.onnx.data"))
	if err != nil || st.Size() < 100*32*4 {
		t.Fatalf("external data: %v, %d bytes", err, st.Size())
	}
	inline, err := engine.LoadBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	defer inline.Close()
	external, err := engine.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer external.Close()
	in := map[string]ops.Value{}
	for _, info := range inline.Inputs() {
		ids := ops.NewTensor(ops.Int64, 1, 8)
		for i := range ids.Int64s() {
			ids.Int64s()[i] = int64(7 * i % 2)
		}
		in[info.Name] = ids
	}
	want, err := inline.RunValues(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := external.RunValues(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	w, g := want["logits"].(*ops.Tensor).Float32s(), got["logits"].(*ops.Tensor).Float32s()
	for i := range w {
		if w[i] != g[i] {
			t.Fatalf("logit %d: %v from external data, %v inline", i, g[i], w[i])
		}
	}
}
