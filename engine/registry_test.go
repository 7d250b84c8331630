package engine

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/agate-ml/agate/engine/internal/onnxpb"
	"github.com/agate-ml/agate/ops"
	"google.golang.org/protobuf/proto"
)

// TestDefaultRegistry checks that the engine's default registry is package
// ops's plus the families kept in its subpackages, which package ops itself
// leaves out.
func TestDefaultRegistry(t *testing.T) {
	all := DefaultRegistry().Ops()
	for _, op := range ops.DefaultRegistry().Ops() {
		if _, ok := slices.BinarySearch(all, op); !ok {
			t.Errorf("%s is in ops.DefaultRegistry but not in DefaultRegistry", op)
		}
	}
	core := ops.DefaultRegistry()
	for _, op := range []string{"ai.onnx/ImageDecoder", "ai.onnx/DFT", "ai.onnx/STFT", "ai.onnx/HannWindow",
		"ai.onnx/MelWeightMatrix", "ai.onnx.preview.training/Adam", "ai.onnx.preview.training/Momentum"} {
		if _, ok := slices.BinarySearch(all, op); !ok {
			t.Errorf("%s is not in DefaultRegistry", op)
		}
		domain, name, _ := strings.Cut(op, "/")
		if _, ok := core.Lookup(domain, name, 30); ok {
			t.Errorf("%s is in ops.DefaultRegistry; its family has a package of its own", op)
		}
	}
}

// TestRegistryWithoutFamilies loads a model using a signal operator with
// the default registry and with ops.DefaultRegistry, which lacks it.
func TestRegistryWithoutFamilies(t *testing.T) {
	size := &onnxpb.ValueInfoProto{Name: proto.String("n"), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(ops.Int64)), Shape: &onnxpb.TensorShapeProto{}}}}}
	g := &onnxpb.GraphProto{
		Name:   proto.String("g"),
		Input:  []*onnxpb.ValueInfoProto{size},
		Output: []*onnxpb.ValueInfoProto{floatInfo("w", "n")},
		Node:   []*onnxpb.NodeProto{node("HannWindow", []string{"n"}, []string{"w"})},
	}
	b := marshal(t, model(g))
	m, err := LoadBytes(b)
	if err != nil {
		t.Fatalf("default registry: %v", err)
	}
	m.Close()
	var ue *UnsupportedError
	_, err = LoadBytes(b, WithRegistry(ops.DefaultRegistry()))
	if !errors.As(err, &ue) || len(ue.Ops) != 1 || !strings.Contains(ue.Ops[0], "HannWindow") {
		t.Fatalf("ops.DefaultRegistry: want an UnsupportedError naming HannWindow, got %v", err)
	}
}
