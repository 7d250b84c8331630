package engine

// This file decodes a ModelProto whose initializers keep their raw_data
// in the buffer they were read from. protobuf-go copies every bytes field
// it decodes, so decoding a mapped model file (LoadFile, mapped.go) with
// proto.Unmarshal alone would hold the weights twice. decodeModelInPlace
// walks the wire format of three messages by hand (ModelProto's graph,
// GraphProto's initializers, TensorProto's raw_data), points each
// initializer's RawData into the buffer and leaves everything else to
// proto.Unmarshal, on a copy of the bytes without those fields. Subgraphs,
// Constant nodes, sparse initializers and functions are decoded as
// before (copied): they are small in the models this is for.

import (
	"github.com/agate-ml/agate/engine/internal/onnxpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Field numbers of the fields decodeModelInPlace walks, from the
// generated descriptors.
var (
	fieldModelGraph       = fieldNumber(&onnxpb.ModelProto{}, "graph")
	fieldGraphInitializer = fieldNumber(&onnxpb.GraphProto{}, "initializer")
	fieldTensorRawData    = fieldNumber(&onnxpb.TensorProto{}, "raw_data")
)

func fieldNumber(m proto.Message, name protoreflect.Name) protowire.Number {
	return m.ProtoReflect().Descriptor().Fields().ByName(name).Number()
}

// decodeModelInPlace is decodeModel for a buffer that stays unchanged and
// alive as long as the model (a mapped file): the RawData of each of the
// main graph's initializers is a slice of b (capacity clipped to its
// length). A model it cannot walk (malformed, or its graph split over
// several fields, which protobuf merges) is left to decodeModel, whose
// errors it reports.
func decodeModelInPlace(b []byte) (*onnxpb.ModelProto, error) {
	rest, graphs, ok := splitField(b, fieldModelGraph)
	if !ok || len(graphs) != 1 {
		return decodeModel(b)
	}
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(rest, m); err != nil {
		return decodeModel(b)
	}
	g, ok := decodeGraphInPlace(graphs[0])
	if !ok {
		return decodeModel(b)
	}
	m.Graph = g
	return m, nil
}

// decodeGraphInPlace decodes a GraphProto, its initializers' raw_data
// aliasing b; ok is false for malformed bytes.
func decodeGraphInPlace(b []byte) (*onnxpb.GraphProto, bool) {
	rest, inits, ok := splitField(b, fieldGraphInitializer)
	if !ok {
		return nil, false
	}
	g := &onnxpb.GraphProto{}
	if proto.Unmarshal(rest, g) != nil {
		return nil, false
	}
	if len(inits) > 0 {
		g.Initializer = make([]*onnxpb.TensorProto, len(inits))
	}
	for i, ib := range inits {
		rest, raws, ok := splitField(ib, fieldTensorRawData)
		if !ok {
			return nil, false
		}
		t := &onnxpb.TensorProto{}
		if proto.Unmarshal(rest, t) != nil {
			return nil, false
		}
		if len(raws) > 0 {
			t.RawData = raws[len(raws)-1] // the last occurrence wins, as in protobuf
		}
		g.Initializer[i] = t
	}
	return g, true
}

// splitField walks the fields of the message encoded in b and returns the
// values of the length-delimited field num, as slices of b (capacity
// clipped), and the encoding of every other field, copied in order. ok is
// false when b is not a well-formed message or field num is not
// length-delimited.
func splitField(b []byte, num protowire.Number) (rest []byte, vals [][]byte, ok bool) {
	for len(b) > 0 {
		n, typ, tagLen := protowire.ConsumeTag(b)
		if tagLen < 0 {
			return nil, nil, false
		}
		valLen := protowire.ConsumeFieldValue(n, typ, b[tagLen:])
		if valLen < 0 {
			return nil, nil, false
		}
		if n != num {
			rest = append(rest, b[:tagLen+valLen]...)
		} else if typ != protowire.BytesType {
			return nil, nil, false
		} else {
			v, _ := protowire.ConsumeBytes(b[tagLen:])
			vals = append(vals, v[:len(v):len(v)])
		}
		b = b[tagLen+valLen:]
	}
	return rest, vals, true
}
