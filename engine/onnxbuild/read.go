package onnxbuild

import (
	"fmt"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/internal/onnxpb"
	"github.com/agate-ml/agate/ops"
	"google.golang.org/protobuf/proto"
)

// Attributes returns the attributes the node was read with, followed by
// those added in Attrs, as kernel attributes. Scalar, list and tensor
// attributes are supported; a graph, sparse tensor or type attribute is an
// error. Converters use it to read an operator's parameters (the trees of a
// TreeEnsembleRegressor) without building a kernel.
func (n *Node) Attributes() ([]*ops.Attr, error) {
	var out []*ops.Attr
	add := func(ap *onnxpb.AttributeProto) error {
		a, err := readAttr(ap)
		if err != nil {
			return fmt.Errorf("node %q: attribute %q: %w", n.Name, ap.GetName(), err)
		}
		out = append(out, a)
		return nil
	}
	for _, ap := range n.orig {
		if err := add(ap); err != nil {
			return nil, err
		}
	}
	for _, a := range n.Attrs {
		if a.p != nil {
			if err := add(a.p); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// readAttr converts one attribute proto.
func readAttr(ap *onnxpb.AttributeProto) (*ops.Attr, error) {
	a := &ops.Attr{Name: ap.GetName(), Type: ops.AttrType(ap.GetType())}
	switch a.Type {
	case ops.AttrFloat:
		a.F = ap.GetF()
	case ops.AttrInt:
		a.I = ap.GetI()
	case ops.AttrString:
		a.S = string(ap.S)
	case ops.AttrFloats:
		a.Floats = append([]float32(nil), ap.Floats...)
	case ops.AttrInts:
		a.Ints = append([]int64(nil), ap.Ints...)
	case ops.AttrStrings:
		for _, s := range ap.Strings {
			a.Strings = append(a.Strings, string(s))
		}
	case ops.AttrTensor:
		if ap.T == nil {
			return nil, fmt.Errorf("tensor attribute without a tensor")
		}
		if ap.T.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || len(ap.T.ExternalData) > 0 {
			return nil, fmt.Errorf("external tensor data is not supported")
		}
		b, err := proto.Marshal(ap.T)
		if err != nil {
			return nil, err
		}
		if a.T, err = engine.DecodeTensor(b); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("attribute type %s is not supported", a.Type)
	}
	return a, nil
}
