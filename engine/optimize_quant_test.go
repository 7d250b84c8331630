package engine

import (
	"context"
	"math"
	"testing"

	"github.com/agate-ml/agate/engine/internal/onnxpb"
	"github.com/agate-ml/agate/ops"
	"google.golang.org/protobuf/proto"
)

// quantGraph is the onnxruntime quantize_dynamic form of
//
//	y1 = x·W1 + b1, y2 = x·W2 (x quantized once for both), z = y1·W3 + b3
//
// with int8 per-tensor W1, W3 and per-column W2.
func quantGraph(t *testing.T) *onnxpb.GraphProto {
	t.Helper()
	enc := func(name string, v *ops.Tensor) *onnxpb.TensorProto {
		tp, err := encodeTensor(name, v)
		if err != nil {
			t.Fatal(err)
		}
		return tp
	}
	i8 := func(name string, k, n int, seed int) *onnxpb.TensorProto {
		d := make([]int8, k*n)
		for i := range d {
			d[i] = int8((i*seed+13)%255 - 127)
		}
		return enc(name, ops.FromSlice(ops.Int8, d, k, n))
	}
	n := func(op string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
		nd := node(op, in, out)
		nd.Attribute = attrs
		return nd
	}
	to := &onnxpb.AttributeProto{Name: proto.String("to"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(int64(ops.Float))}
	// matmul appends the MatMulInteger chain for one weight.
	var nodes []*onnxpb.NodeProto
	matmul := func(xq, xs, xz, w, out string) {
		nodes = append(nodes,
			n("MatMulInteger", []string{xq, w, xz, w + "_zp"}, []string{out + "_i32"}),
			n("Cast", []string{out + "_i32"}, []string{out + "_f"}, to),
			n("Mul", []string{xs, w + "_scale"}, []string{out + "_scales"}),
			n("Mul", []string{out + "_f", out + "_scales"}, []string{out}))
	}
	nodes = append(nodes, n("DynamicQuantizeLinear", []string{"x"}, []string{"xq", "xs", "xz"}))
	matmul("xq", "xs", "xz", "W1", "y1mm")
	nodes = append(nodes, n("Add", []string{"y1mm", "b1"}, []string{"y1"}))
	matmul("xq", "xs", "xz", "W2", "y2")
	nodes = append(nodes, n("DynamicQuantizeLinear", []string{"y1"}, []string{"y1q", "y1s", "y1z"}))
	matmul("y1q", "y1s", "y1z", "W3", "zmm")
	nodes = append(nodes, n("Add", []string{"b3", "zmm"}, []string{"z"}))
	return &onnxpb.GraphProto{
		Name:   proto.String("q"),
		Input:  []*onnxpb.ValueInfoProto{floatInfo("x", "batch", 6)},
		Output: []*onnxpb.ValueInfoProto{floatInfo("y2", "batch", 4), floatInfo("z", "batch", 3)},
		Initializer: []*onnxpb.TensorProto{
			i8("W1", 6, 5, 7), enc("W1_scale", ops.Scalar(float32(0.01))), enc("W1_zp", ops.Scalar(int8(0))),
			i8("W2", 6, 4, 11), enc("W2_scale", ops.FromSlice(ops.Float, []float32{0.01, 0.02, 0.005, 0.03}, 4)),
			enc("W2_zp", ops.FromSlice(ops.Int8, []int8{0, 0, 0, 0}, 4)),
			i8("W3", 5, 3, 5), enc("W3_scale", ops.Scalar(float32(0.02))), enc("W3_zp", ops.Scalar(int8(0))),
			floatInit("b1", []float32{0.1, -0.2, 0.3, 0, 0.5}, 5), floatInit("b3", []float32{1, 2, 3}, 3),
		},
		Node: nodes,
	}
}

func TestOptimizeQuant(t *testing.T) {
	mp := model(quantGraph(t))
	dec, err := newDecoder(mp, &externalLoader{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := dec.decodeGraph(mp.Graph)
	if err != nil {
		t.Fatal(err)
	}
	if n := optimizeQuant(g); n != 5 {
		t.Errorf("optimizeQuant made %d rewrites, want 5 (3 products, 2 biases)", n)
	}
	counts := map[string]int{}
	for _, nd := range g.nodes {
		counts[nd.domain+":"+nd.opType]++
	}
	want := map[string]int{
		"ai.onnx:DynamicQuantizeLinear":       1, // shared by W1 and W2
		"com.microsoft:MatMulIntegerToFloat":  2,
		"com.microsoft:DynamicQuantizeMatMul": 1,
	}
	if len(counts) != len(want) {
		t.Errorf("nodes after the rewrite: %v, want %v", counts, want)
	}
	for op, n := range want {
		if counts[op] != n {
			t.Errorf("%s: %d nodes, want %d (all: %v)", op, counts[op], n, counts)
		}
	}
	for _, nd := range g.nodes {
		if nd.opType == "DynamicQuantizeMatMul" && (len(nd.inputs) != 5 || nd.inputs[0] != "y1" || nd.inputs[4] != "b3") {
			t.Errorf("DynamicQuantizeMatMul inputs %v, want [y1 W3 W3_scale W3_zp b3]", nd.inputs)
		}
		if nd.opType == "MatMulIntegerToFloat" && nd.outputs[0] == "y1" && (len(nd.inputs) != 7 || nd.inputs[6] != "b1") {
			t.Errorf("MatMulIntegerToFloat for y1 has inputs %v, want the bias b1 last", nd.inputs)
		}
	}
	// The rewritten graph computes what the original does.
	reg := ops.DefaultRegistry()
	fused, err := (&compiler{reg: reg, fold: true}).compile(g, false)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := LoadBytes(marshal(t, mp), WithoutFusion())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	x := ops.NewTensor(ops.Float, 3, 6)
	for i := range x.Float32s() {
		x.Float32s()[i] = float32(math.Sin(float64(i))) * 2
	}
	want2, err := plain.RunValues(context.Background(), map[string]ops.Value{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	ec := ops.NewContext(context.Background(), nil, nil)
	outs := make([]ops.Value, 2)
	if err := fused.run(ec, []ops.Value{x}, nil, outs); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"y2", "z"} {
		got, exp := outs[i].(*ops.Tensor).Float32s(), want2[name].(*ops.Tensor).Float32s()
		for j := range exp {
			if math.Abs(float64(got[j]-exp[j])) > 1e-5*math.Max(1, math.Abs(float64(exp[j]))) {
				t.Fatalf("%s[%d] = %v after the rewrite, %v before", name, j, got[j], exp[j])
			}
		}
	}
}

// TestOptimizeQuantKeepsMismatches checks chains that must not be fused.
func TestOptimizeQuantKeepsMismatches(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(g *onnxpb.GraphProto)
	}{
		{"cast to double", func(g *onnxpb.GraphProto) {
			for _, n := range g.Node {
				if n.GetOpType() == "Cast" {
					n.Attribute[0].I = proto.Int64(int64(ops.Double))
				}
			}
		}},
		{"zero point not from the quantization", func(g *onnxpb.GraphProto) {
			for _, n := range g.Node {
				if n.GetOpType() == "MatMulInteger" {
					n.Input = n.Input[:2]
				}
			}
		}},
		{"scale product is a graph output", func(g *onnxpb.GraphProto) {
			for _, out := range []string{"y1mm_scales", "y2_scales", "zmm_scales"} {
				g.Output = append(g.Output, floatInfo(out))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gp := quantGraph(t)
			tc.change(gp)
			mp := model(gp)
			dec, err := newDecoder(mp, &externalLoader{})
			if err != nil {
				t.Fatal(err)
			}
			g, err := dec.decodeGraph(mp.Graph)
			if err != nil {
				t.Fatal(err)
			}
			if n := optimizeQuant(g); n != 0 {
				t.Errorf("optimizeQuant made %d rewrites, want 0", n)
			}
		})
	}
}
