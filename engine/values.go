package engine

import (
	"errors"
	"fmt"

	"github.com/agate-ml/agate/engine/internal/onnxpb"
	"github.com/agate-ml/agate/ops"
	"google.golang.org/protobuf/proto"
)

// DecodeTensor parses a serialized ONNX TensorProto (the .pb files of the
// ONNX backend test suite).
func DecodeTensor(b []byte) (*ops.Tensor, error) {
	var tp onnxpb.TensorProto
	if err := proto.Unmarshal(b, &tp); err != nil {
		return nil, fmt.Errorf("decoding TensorProto: %w", err)
	}
	return decodeTensor(&tp, nil)
}

// EncodeTensor serializes t as an ONNX TensorProto with raw data.
func EncodeTensor(name string, t *ops.Tensor) ([]byte, error) {
	tp, err := encodeTensor(name, t)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(tp)
}

// DecodeValue parses a serialized TensorProto, SequenceProto, MapProto or
// OptionalProto, choosing the message by the expected type (a tensor when
// typ is nil).
func DecodeValue(b []byte, typ *ops.Type) (ops.Value, error) {
	if typ == nil || typ.Kind == ops.KindTensor || typ.Kind == ops.KindSparseTensor {
		return DecodeTensor(b)
	}
	switch typ.Kind {
	case ops.KindSequence:
		var sp onnxpb.SequenceProto
		if err := proto.Unmarshal(b, &sp); err != nil {
			return nil, fmt.Errorf("decoding SequenceProto: %w", err)
		}
		return decodeSequence(&sp, typ)
	case ops.KindMap:
		var mp onnxpb.MapProto
		if err := proto.Unmarshal(b, &mp); err != nil {
			return nil, fmt.Errorf("decoding MapProto: %w", err)
		}
		return decodeMap(&mp)
	case ops.KindOptional:
		var op onnxpb.OptionalProto
		if err := proto.Unmarshal(b, &op); err != nil {
			return nil, fmt.Errorf("decoding OptionalProto: %w", err)
		}
		return decodeOptional(&op, typ)
	}
	return nil, fmt.Errorf("cannot decode a value of type %s", typ)
}

// ValueName returns the name a serialized value (of the expected type, as
// DecodeValue takes it) carries, "" when none or when it does not parse.
// Test runners bind input files by it.
func ValueName(b []byte, typ *ops.Type) string {
	var m interface {
		proto.Message
		GetName() string
	}
	switch {
	case typ == nil || typ.Kind == ops.KindTensor || typ.Kind == ops.KindSparseTensor:
		m = &onnxpb.TensorProto{}
	case typ.Kind == ops.KindSequence:
		m = &onnxpb.SequenceProto{}
	case typ.Kind == ops.KindMap:
		m = &onnxpb.MapProto{}
	case typ.Kind == ops.KindOptional:
		m = &onnxpb.OptionalProto{}
	default:
		return ""
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return ""
	}
	return m.GetName()
}

func decodeSequence(sp *onnxpb.SequenceProto, typ *ops.Type) (*ops.Sequence, error) {
	seq := &ops.Sequence{}
	if typ != nil {
		seq.ElemType = typ.Elem
	}
	var elem *ops.Type
	if typ != nil {
		elem = typ.Elem
	}
	for _, t := range sp.TensorValues {
		v, err := decodeTensor(t, nil)
		if err != nil {
			return nil, err
		}
		seq.Values = append(seq.Values, v)
	}
	for _, s := range sp.SequenceValues {
		v, err := decodeSequence(s, elem)
		if err != nil {
			return nil, err
		}
		seq.Values = append(seq.Values, v)
	}
	for _, m := range sp.MapValues {
		v, err := decodeMap(m)
		if err != nil {
			return nil, err
		}
		seq.Values = append(seq.Values, v)
	}
	for _, o := range sp.OptionalValues {
		v, err := decodeOptional(o, elem)
		if err != nil {
			return nil, err
		}
		seq.Values = append(seq.Values, v)
	}
	if seq.ElemType == nil && len(seq.Values) > 0 {
		seq.ElemType = ops.TypeOfValue(seq.Values[0])
	}
	return seq, nil
}

func decodeMap(mp *onnxpb.MapProto) (*ops.Map, error) {
	m := &ops.Map{KeyType: ops.DType(mp.GetKeyType())}
	if m.KeyType == ops.String {
		for _, k := range mp.StringKeys {
			m.StrKeys = append(m.StrKeys, string(k))
		}
	} else {
		m.KeyType = ops.Int64
		m.Int64Keys = append(m.Int64Keys, mp.Keys...)
	}
	if mp.Values == nil || len(mp.Values.TensorValues) == 0 {
		return nil, errors.New("map without tensor values")
	}
	// values: a sequence of scalar tensors, one per key
	var vals []*ops.Tensor
	for _, t := range mp.Values.TensorValues {
		v, err := decodeTensor(t, nil)
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
	m.ValueType = vals[0].DType
	flat := ops.NewTensor(m.ValueType, len(vals))
	for i, v := range vals {
		if v.Len() != 1 || v.DType != m.ValueType {
			return nil, errors.New("map values must be scalars of one type")
		}
		ops.CopySlice(ops.Subslice(flat.Data, i, i+1), v.Data)
	}
	m.Values = flat
	if m.Len() != len(vals) {
		return nil, fmt.Errorf("map has %d keys and %d values", m.Len(), len(vals))
	}
	return m, nil
}

func decodeOptional(op *onnxpb.OptionalProto, typ *ops.Type) (*ops.Optional, error) {
	o := &ops.Optional{}
	if typ != nil {
		o.ElemType = typ.Elem
	}
	var elem *ops.Type
	if typ != nil {
		elem = typ.Elem
	}
	switch {
	case op.TensorValue != nil:
		v, err := decodeTensor(op.TensorValue, nil)
		if err != nil {
			return nil, err
		}
		o.Elem = v
	case op.SequenceValue != nil:
		v, err := decodeSequence(op.SequenceValue, elem)
		if err != nil {
			return nil, err
		}
		o.Elem = v
	case op.MapValue != nil:
		v, err := decodeMap(op.MapValue)
		if err != nil {
			return nil, err
		}
		o.Elem = v
	case op.OptionalValue != nil:
		v, err := decodeOptional(op.OptionalValue, elem)
		if err != nil {
			return nil, err
		}
		o.Elem = v
	}
	return o, nil
}

// encodeTensor builds a TensorProto, using raw_data for everything but strings.
func encodeTensor(name string, t *ops.Tensor) (*onnxpb.TensorProto, error) {
	tp := &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(t.DType))}
	for _, d := range t.Shape {
		tp.Dims = append(tp.Dims, int64(d))
	}
	if s, ok := t.Data.([]string); ok {
		for _, v := range s {
			tp.StringData = append(tp.StringData, []byte(v))
		}
		return tp, nil
	}
	raw, err := rawBytes(t)
	if err != nil {
		return nil, err
	}
	tp.RawData = raw
	return tp, nil
}
