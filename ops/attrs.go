package ops

import (
	"fmt"
	"sort"
)

// AttrType is the type of an ONNX node attribute (values as in
// AttributeProto.AttributeType).
type AttrType int

// Attribute types.
const (
	AttrUndefined AttrType = 0
	AttrFloat     AttrType = 1
	AttrInt       AttrType = 2
	AttrString    AttrType = 3
	AttrTensor    AttrType = 4
	AttrGraph     AttrType = 5
	AttrFloats    AttrType = 6
	AttrInts      AttrType = 7
	AttrStrings   AttrType = 8
	AttrTensors   AttrType = 9
	AttrGraphs    AttrType = 10
	AttrSparse    AttrType = 11
	AttrTypeProto AttrType = 13
)

var attrTypeNames = map[AttrType]string{
	AttrUndefined: "undefined", AttrFloat: "float", AttrInt: "int", AttrString: "string",
	AttrTensor: "tensor", AttrGraph: "graph", AttrFloats: "floats", AttrInts: "ints",
	AttrStrings: "strings", AttrTensors: "tensors", AttrGraphs: "graphs", AttrSparse: "sparse_tensor",
	AttrTypeProto: "type_proto",
}

// String names the attribute type.
func (t AttrType) String() string {
	if s, ok := attrTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("attrtype(%d)", int(t))
}

// Attr is one decoded node attribute. Only the field matching Type is set.
// Graph attributes hold an engine-compiled subgraph (opaque to ops).
type Attr struct {
	Name    string
	Type    AttrType
	F       float32
	I       int64
	S       string
	T       *Tensor
	G       any
	Floats  []float32
	Ints    []int64
	Strings []string
	Tensors []*Tensor
	Graphs  []any
	TP      *Type
}

// Attrs is a node's attribute set with typed accessors. Accessors return the
// default when an attribute is absent and record an error when it is present
// with the wrong type; factories check Err once after reading.
type Attrs struct {
	m   map[string]*Attr
	err error
}

// NewAttrs builds an attribute set from a list.
func NewAttrs(list ...*Attr) *Attrs {
	a := &Attrs{m: make(map[string]*Attr, len(list))}
	for _, at := range list {
		a.m[at.Name] = at
	}
	return a
}

// Has reports whether the attribute is present.
func (a *Attrs) Has(name string) bool { _, ok := a.m[name]; return ok }

// Get returns the raw attribute, or nil.
func (a *Attrs) Get(name string) *Attr { return a.m[name] }

// Names returns the attribute names in sorted order.
func (a *Attrs) Names() []string {
	names := make([]string, 0, len(a.m))
	for n := range a.m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Err returns the first type error met by an accessor.
func (a *Attrs) Err() error { return a.err }

func (a *Attrs) lookup(name string, want AttrType) *Attr {
	at, ok := a.m[name]
	if !ok {
		return nil
	}
	if at.Type != want {
		// Be lenient where exporters are: an int where a float is expected.
		if want == AttrFloat && at.Type == AttrInt {
			return &Attr{Name: name, Type: AttrFloat, F: float32(at.I)}
		}
		if want == AttrFloats && at.Type == AttrInts {
			fs := make([]float32, len(at.Ints))
			for i, v := range at.Ints {
				fs[i] = float32(v)
			}
			return &Attr{Name: name, Type: AttrFloats, Floats: fs}
		}
		if a.err == nil {
			a.err = fmt.Errorf("attribute %q: expected %s, got %s", name, want, at.Type)
		}
		return nil
	}
	return at
}

// Int returns an int attribute.
func (a *Attrs) Int(name string, def int64) int64 {
	if at := a.lookup(name, AttrInt); at != nil {
		return at.I
	}
	return def
}

// Float returns a float attribute.
func (a *Attrs) Float(name string, def float32) float32 {
	if at := a.lookup(name, AttrFloat); at != nil {
		return at.F
	}
	return def
}

// String returns a string attribute.
func (a *Attrs) String(name string, def string) string {
	if at := a.lookup(name, AttrString); at != nil {
		return at.S
	}
	return def
}

// Ints returns an ints attribute (nil, false when absent).
func (a *Attrs) Ints(name string) ([]int64, bool) {
	if at := a.lookup(name, AttrInts); at != nil {
		return at.Ints, true
	}
	return nil, false
}

// Floats returns a floats attribute (nil, false when absent).
func (a *Attrs) Floats(name string) ([]float32, bool) {
	if at := a.lookup(name, AttrFloats); at != nil {
		return at.Floats, true
	}
	return nil, false
}

// Strings returns a strings attribute (nil, false when absent).
func (a *Attrs) Strings(name string) ([]string, bool) {
	if at := a.lookup(name, AttrStrings); at != nil {
		return at.Strings, true
	}
	return nil, false
}

// Tensor returns a tensor attribute, or nil.
func (a *Attrs) Tensor(name string) *Tensor {
	if at := a.lookup(name, AttrTensor); at != nil {
		return at.T
	}
	return nil
}

// Graph returns a graph attribute's compiled subgraph, or nil.
func (a *Attrs) Graph(name string) any {
	if at := a.lookup(name, AttrGraph); at != nil {
		return at.G
	}
	return nil
}

// IntsAsInts returns an ints attribute converted to []int.
func (a *Attrs) IntsAsInts(name string) ([]int, bool) {
	v, ok := a.Ints(name)
	if !ok {
		return nil, false
	}
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out, true
}
