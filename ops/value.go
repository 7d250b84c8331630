package ops

import "fmt"

// Value is anything that flows along a graph edge: a *Tensor, a *Sequence,
// a *Map or an *Optional.
type Value interface{ isValue() }

// Sequence is an ONNX sequence: an ordered list of values of one type.
// ElemType describes the element type even when the sequence is empty.
type Sequence struct {
	ElemType *Type
	Values   []Value
}

func (*Sequence) isValue() {}

// Map is an ONNX map from int64 or string keys to values. ai.onnx.ml ops
// (ZipMap, DictVectorizer) use maps from one key type to float or string
// scalars, so keys and values are stored as parallel slices.
type Map struct {
	KeyType   DType // Int64 or String
	ValueType DType
	Int64Keys []int64
	StrKeys   []string
	Values    *Tensor // one-dimensional, one element per key
}

func (*Map) isValue() {}

// Len returns the number of entries.
func (m *Map) Len() int {
	if m.KeyType == String {
		return len(m.StrKeys)
	}
	return len(m.Int64Keys)
}

// Optional is an ONNX optional value; Elem is nil when the optional is empty.
type Optional struct {
	ElemType *Type
	Elem     Value
}

func (*Optional) isValue() {}

// TypeKind says which kind of value a Type describes.
type TypeKind int

// Value kinds.
const (
	KindTensor TypeKind = iota
	KindSequence
	KindMap
	KindOptional
	KindSparseTensor
)

// Type describes a value's type: a tensor element type and (possibly
// partial) shape, or a sequence, map or optional of other types.
type Type struct {
	Kind     TypeKind
	DType    DType // tensor element type, or map key type
	Shape    []Dim // tensor shape; nil when the rank is unknown
	HasShape bool
	Elem     *Type // sequence/optional element type, map value type
}

// Dim is one dimension of a declared shape: a fixed size, a symbolic name,
// or unknown (Value < 0 and Param empty).
type Dim struct {
	Value int64
	Param string
}

// String formats the type as ONNX writes it, e.g. tensor(float)[batch,3].
func (t *Type) String() string {
	if t == nil {
		return "?"
	}
	switch t.Kind {
	case KindSequence:
		return "seq(" + t.Elem.String() + ")"
	case KindMap:
		return fmt.Sprintf("map(%s,%s)", t.DType, t.Elem)
	case KindOptional:
		return "optional(" + t.Elem.String() + ")"
	}
	s := fmt.Sprintf("tensor(%s)", t.DType)
	if t.HasShape {
		s += "["
		for i, d := range t.Shape {
			if i > 0 {
				s += ","
			}
			switch {
			case d.Param != "":
				s += d.Param
			case d.Value >= 0:
				s += fmt.Sprint(d.Value)
			default:
				s += "?"
			}
		}
		s += "]"
	}
	return s
}

// TypeOfValue describes a concrete value.
func TypeOfValue(v Value) *Type {
	switch v := v.(type) {
	case *Tensor:
		t := &Type{Kind: KindTensor, DType: v.DType, HasShape: true, Shape: make([]Dim, len(v.Shape))}
		for i, d := range v.Shape {
			t.Shape[i] = Dim{Value: int64(d)}
		}
		return t
	case *Sequence:
		return &Type{Kind: KindSequence, Elem: v.ElemType}
	case *Map:
		return &Type{Kind: KindMap, DType: v.KeyType, Elem: &Type{Kind: KindTensor, DType: v.ValueType}}
	case *Optional:
		return &Type{Kind: KindOptional, Elem: v.ElemType}
	}
	return nil
}
