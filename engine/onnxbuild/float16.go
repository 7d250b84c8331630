package onnxbuild

import (
	"fmt"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/internal/onnxpb"
	"github.com/agate-ml/agate/ops"
	"google.golang.org/protobuf/proto"
)

// ToFloat16 converts a float32 model to float16 the way exporters' fp16
// conversions do (onnxconverter-common's convert_float_to_float16 with
// keep_io_types false): every float32 initializer and Constant becomes
// float16 (clipped to its finite range), Cast nodes to float32 cast to float16 instead, and the graph's
// float32 inputs, outputs and value_info are declared float16. Subgraphs
// are converted too. Used to test the half-precision path with generated
// models.
func ToFloat16(b []byte) ([]byte, error) {
	mp := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, mp); err != nil {
		return nil, fmt.Errorf("decoding ModelProto: %w", err)
	}
	if mp.Graph == nil {
		return nil, fmt.Errorf("model has no graph")
	}
	if err := graphToFloat16(mp.Graph); err != nil {
		return nil, err
	}
	return proto.Marshal(mp)
}

func graphToFloat16(g *onnxpb.GraphProto) error {
	for i, t := range g.Initializer {
		c, err := tensorToFloat16(t)
		if err != nil {
			return fmt.Errorf("initializer %q: %w", t.GetName(), err)
		}
		g.Initializer[i] = c
	}
	for _, vis := range [][]*onnxpb.ValueInfoProto{g.Input, g.Output, g.ValueInfo} {
		for _, vi := range vis {
			if tt := vi.GetType().GetTensorType(); tt != nil && tt.GetElemType() == int32(ops.Float) {
				tt.ElemType = proto.Int32(int32(ops.Float16))
			}
		}
	}
	for _, n := range g.Node {
		for _, a := range n.Attribute {
			if n.GetOpType() == "Constant" && (a.GetName() == "value_float" || a.GetName() == "value_floats") {
				// a float32 constant written as floats: make it a float16
				// tensor value
				vals, shape := []float32{a.GetF()}, []int{}
				if a.GetName() == "value_floats" {
					vals, shape = a.Floats, []int{len(a.Floats)}
				}
				h := ops.NewTensor(ops.Float16, shape...)
				for i, f := range vals {
					h.Data.([]ops.F16)[i] = ops.F16From(min(max(f, -maxHalf), maxHalf))
				}
				tp, err := tensorProto("", h)
				if err != nil {
					return fmt.Errorf("node %q: %w", n.GetName(), err)
				}
				a.Name, a.Type, a.T, a.F, a.Floats = proto.String("value"), onnxpb.AttributeProto_TENSOR.Enum(), tp, nil, nil
				continue
			}
			switch {
			case a.T != nil:
				c, err := tensorToFloat16(a.T)
				if err != nil {
					return fmt.Errorf("node %q attribute %q: %w", n.GetName(), a.GetName(), err)
				}
				a.T = c
			case a.G != nil:
				if err := graphToFloat16(a.G); err != nil {
					return err
				}
			}
			for _, sg := range a.Graphs {
				if err := graphToFloat16(sg); err != nil {
					return err
				}
			}
			if n.GetOpType() == "Cast" && a.GetName() == "to" && a.GetI() == int64(ops.Float) {
				a.I = proto.Int64(int64(ops.Float16))
			}
		}
	}
	return nil
}

// maxHalf is float16's largest finite value. Values past it are clipped,
// as onnxconverter-common does: a float32 "lowest" mask constant would
// otherwise become -Inf, and 0·-Inf NaN.
const maxHalf = 65504

// tensorToFloat16 returns t as float16 when it is float32, else t.
func tensorToFloat16(t *onnxpb.TensorProto) (*onnxpb.TensorProto, error) {
	if t.GetDataType() != int32(ops.Float) {
		return t, nil
	}
	raw, err := proto.Marshal(t)
	if err != nil {
		return nil, err
	}
	v, err := engine.DecodeTensor(raw)
	if err != nil {
		return nil, err
	}
	h := ops.NewTensor(ops.Float16, v.Shape...)
	for i, f := range v.Float32s() {
		h.Data.([]ops.F16)[i] = ops.F16From(min(max(f, -maxHalf), maxHalf))
	}
	return tensorProto(t.GetName(), h)
}
