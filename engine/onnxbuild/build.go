// Package onnxbuild writes ONNX models: a small builder over agate's
// protobuf types, used to export models agate trains or converts (the
// service's demo random forest) and to build test graphs.
package onnxbuild

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/internal/onnxpb"
	"github.com/agate-ml/agate/ops"
	"google.golang.org/protobuf/proto"
)

// Attr is one node attribute.
type Attr struct{ p *onnxpb.AttributeProto }

func attr(name string, t onnxpb.AttributeProto_AttributeType) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: t.Enum()}
}

// Int is an int attribute.
func Int(name string, v int64) Attr {
	a := attr(name, onnxpb.AttributeProto_INT)
	a.I = proto.Int64(v)
	return Attr{a}
}

// Float is a float attribute.
func Float(name string, v float32) Attr {
	a := attr(name, onnxpb.AttributeProto_FLOAT)
	a.F = proto.Float32(v)
	return Attr{a}
}

// String is a string attribute.
func String(name, v string) Attr {
	a := attr(name, onnxpb.AttributeProto_STRING)
	a.S = []byte(v)
	return Attr{a}
}

// Ints is an ints attribute.
func Ints(name string, v ...int64) Attr {
	a := attr(name, onnxpb.AttributeProto_INTS)
	a.Ints = v
	return Attr{a}
}

// Floats is a floats attribute.
func Floats(name string, v ...float32) Attr {
	a := attr(name, onnxpb.AttributeProto_FLOATS)
	a.Floats = v
	return Attr{a}
}

// Strings is a strings attribute.
func Strings(name string, v ...string) Attr {
	a := attr(name, onnxpb.AttributeProto_STRINGS)
	for _, s := range v {
		a.Strings = append(a.Strings, []byte(s))
	}
	return Attr{a}
}

// TensorAttr is a tensor attribute.
func TensorAttr(name string, t *ops.Tensor) (Attr, error) {
	tp, err := tensorProto(name, t)
	if err != nil {
		return Attr{}, err
	}
	a := attr(name, onnxpb.AttributeProto_TENSOR)
	a.T = tp
	return Attr{a}, nil
}

// GraphAttr is a graph attribute (an If branch, a Loop body).
func GraphAttr(name string, g *Graph) Attr {
	a := attr(name, onnxpb.AttributeProto_GRAPH)
	a.G = g.g
	return Attr{a}
}

func tensorProto(name string, t *ops.Tensor) (*onnxpb.TensorProto, error) {
	b, err := engine.EncodeTensor(name, t)
	if err != nil {
		return nil, err
	}
	tp := &onnxpb.TensorProto{}
	if err := proto.Unmarshal(b, tp); err != nil {
		return nil, err
	}
	return tp, nil
}

// Graph builds a GraphProto.
type Graph struct {
	g   *onnxpb.GraphProto
	err error
}

// NewGraph starts an empty graph.
func NewGraph(name string) *Graph { return &Graph{g: &onnxpb.GraphProto{Name: proto.String(name)}} }

func valueInfo(name string, typ *ops.Type) *onnxpb.ValueInfoProto {
	vi := &onnxpb.ValueInfoProto{Name: proto.String(name)}
	if typ != nil {
		vi.Type = typeProto(typ)
	}
	return vi
}

func typeProto(t *ops.Type) *onnxpb.TypeProto {
	switch t.Kind {
	case ops.KindSequence:
		return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_SequenceType{SequenceType: &onnxpb.TypeProto_Sequence{ElemType: typeProto(t.Elem)}}}
	case ops.KindMap:
		return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_MapType{MapType: &onnxpb.TypeProto_Map{KeyType: proto.Int32(int32(t.DType)), ValueType: typeProto(t.Elem)}}}
	case ops.KindOptional:
		return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_OptionalType{OptionalType: &onnxpb.TypeProto_Optional{ElemType: typeProto(t.Elem)}}}
	}
	tt := &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(t.DType))}
	if t.HasShape {
		tt.Shape = &onnxpb.TensorShapeProto{}
		for _, d := range t.Shape {
			dim := &onnxpb.TensorShapeProto_Dimension{}
			switch {
			case d.Param != "":
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d.Param}
			case d.Value >= 0:
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d.Value}
			}
			tt.Shape.Dim = append(tt.Shape.Dim, dim)
		}
	}
	return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: tt}}
}

// TensorType describes a tensor type; dims are int (fixed) or string
// (symbolic) values.
func TensorType(dt ops.DType, dims ...any) *ops.Type {
	t := &ops.Type{Kind: ops.KindTensor, DType: dt, HasShape: true, Shape: []ops.Dim{}}
	for _, d := range dims {
		switch v := d.(type) {
		case int:
			t.Shape = append(t.Shape, ops.Dim{Value: int64(v)})
		case string:
			t.Shape = append(t.Shape, ops.Dim{Value: -1, Param: v})
		default:
			panic(fmt.Sprintf("onnxbuild.TensorType: dimension %v is neither int nor string", d))
		}
	}
	return t
}

// Input declares a graph input.
func (g *Graph) Input(name string, typ *ops.Type) *Graph {
	g.g.Input = append(g.g.Input, valueInfo(name, typ))
	return g
}

// Output declares a graph output.
func (g *Graph) Output(name string, typ *ops.Type) *Graph {
	g.g.Output = append(g.g.Output, valueInfo(name, typ))
	return g
}

// Initializer adds a constant tensor.
func (g *Graph) Initializer(name string, t *ops.Tensor) *Graph {
	tp, err := tensorProto(name, t)
	if err != nil && g.err == nil {
		g.err = fmt.Errorf("initializer %q: %w", name, err)
	}
	if err == nil {
		g.g.Initializer = append(g.g.Initializer, tp)
	}
	return g
}

// Node adds a node of the default domain.
func (g *Graph) Node(op string, inputs, outputs []string, attrs ...Attr) *Graph {
	return g.DomainNode("", op, inputs, outputs, attrs...)
}

// DomainNode adds a node of the given operator domain.
func (g *Graph) DomainNode(domain, op string, inputs, outputs []string, attrs ...Attr) *Graph {
	n := &onnxpb.NodeProto{OpType: proto.String(op), Input: inputs, Output: outputs,
		Name: proto.String(fmt.Sprintf("%s_%d", op, len(g.g.Node)))}
	if domain != "" {
		n.Domain = proto.String(domain)
	}
	for _, a := range attrs {
		if a.p != nil {
			n.Attribute = append(n.Attribute, a.p)
		}
	}
	g.g.Node = append(g.g.Node, n)
	return g
}

// Model assembles a ModelProto around a graph.
type Model struct {
	Graph           *Graph
	Opsets          map[string]int // domain ("" = ai.onnx) -> version
	ProducerName    string
	ProducerVersion string
	DocString       string
	Metadata        map[string]string
}

// Marshal serializes the model.
func (m *Model) Marshal() ([]byte, error) {
	if m.Graph == nil {
		return nil, fmt.Errorf("model has no graph")
	}
	if m.Graph.err != nil {
		return nil, m.Graph.err
	}
	mp := &onnxpb.ModelProto{IrVersion: proto.Int64(9), Graph: m.Graph.g}
	if m.ProducerName != "" {
		mp.ProducerName = proto.String(m.ProducerName)
		mp.ProducerVersion = proto.String(m.ProducerVersion)
	}
	if m.DocString != "" {
		mp.DocString = proto.String(m.DocString)
	}
	domains := make([]string, 0, len(m.Opsets))
	for d := range m.Opsets {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	for _, d := range domains {
		mp.OpsetImport = append(mp.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String(d), Version: proto.Int64(int64(m.Opsets[d]))})
	}
	if len(mp.OpsetImport) == 0 {
		mp.OpsetImport = []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}}
	}
	keys := make([]string, 0, len(m.Metadata))
	for k := range m.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		mp.MetadataProps = append(mp.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(m.Metadata[k])})
	}
	return proto.Marshal(mp)
}

// WriteExternal writes the model to path with the raw data of every
// initializer of at least minBytes in the file dataName beside it (ONNX
// external data), each at an offset that is a multiple of align (onnx's
// convert_model_to_external_data aligns to 64 KiB, letting onnxruntime
// map the file). A model past protobuf's 2 GiB limit can only be written
// this way. The model itself is left unchanged.
func (m *Model) WriteExternal(path, dataName string, minBytes, align int) (err error) {
	if m.Graph == nil {
		return fmt.Errorf("model has no graph")
	}
	g := m.Graph.g
	inits := g.Initializer
	defer func() { g.Initializer = inits }()
	f, err := os.Create(filepath.Join(filepath.Dir(path), dataName))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	ext := make([]*onnxpb.TensorProto, len(inits))
	off := 0
	for i, t := range inits {
		if len(t.RawData) < minBytes || t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
			ext[i] = t
			continue
		}
		if pad := (align - off%align) % align; pad > 0 {
			if _, err := f.Write(make([]byte, pad)); err != nil {
				return err
			}
			off += pad
		}
		if _, err := f.Write(t.RawData); err != nil {
			return err
		}
		ext[i] = &onnxpb.TensorProto{Name: t.Name, DataType: t.DataType, Dims: t.Dims,
			DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(),
			ExternalData: []*onnxpb.StringStringEntryProto{
				{Key: proto.String("location"), Value: proto.String(dataName)},
				{Key: proto.String("offset"), Value: proto.String(strconv.Itoa(off))},
				{Key: proto.String("length"), Value: proto.String(strconv.Itoa(len(t.RawData)))},
			}}
		off += len(t.RawData)
	}
	g.Initializer = ext
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
