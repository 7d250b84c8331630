package engine

import (
	"context"
	"testing"

	"github.com/agate-ml/agate/engine/internal/onnxpb"
	"github.com/agate-ml/agate/ops"
)

// BenchmarkRunOneNode measures the executor's fixed cost: one Neg node on a
// 3-element tensor, through RunList (no map building) and RunValues.
func BenchmarkRunOneNode(b *testing.B) {
	g := &onnxpb.GraphProto{
		Input:  []*onnxpb.ValueInfoProto{floatInfo("x", 1, 3)},
		Output: []*onnxpb.ValueInfoProto{floatInfo("y", 1, 3)},
		Node:   []*onnxpb.NodeProto{node("Neg", []string{"x"}, []string{"y"})},
	}
	m, err := LoadBytes(marshal(b, model(g)), WithRegistry(testRegistry()), WithWorkers(1))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	x := ops.FromSlice(ops.Float, []float32{1, 2, 3}, 1, 3)
	ctx := context.Background()
	b.Run("RunList", func(b *testing.B) {
		in := []ops.Value{x}
		out := make([]ops.Value, 1)
		b.ReportAllocs()
		for b.Loop() {
			if err := m.RunList(ctx, in, out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("RunValues", func(b *testing.B) {
		in := map[string]ops.Value{"x": x}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.RunValues(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
	})
}
