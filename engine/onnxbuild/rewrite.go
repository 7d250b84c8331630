package onnxbuild

import (
	"fmt"
	"strings"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/internal/onnxpb"
	"github.com/agate-ml/agate/ops"
	"google.golang.org/protobuf/proto"
)

// Editor is a serialized ONNX model opened for rewriting: the main graph's
// nodes in a mutable form and its initializers by name. Everything the
// editor does not expose (value_info, metadata, functions, subgraphs inside
// node attributes) is kept as it was and written back by Marshal.
//
// Tools that transform models (the dynamic quantizer) load a model, replace
// Nodes and initializers, and marshal the result.
type Editor struct {
	// Nodes are the main graph's nodes in order. Assign a new slice to
	// insert, remove or reorder nodes; Marshal writes them back.
	Nodes []*Node

	mp    *onnxpb.ModelProto
	inits map[string]int // name -> index in mp.Graph.Initializer
	names map[string]bool
}

// Node is one node of an Editor's graph. Attributes read from the file are
// kept as they were; Attrs adds to them.
type Node struct {
	Name, OpType, Domain string
	Inputs, Outputs      []string
	// Attrs are attributes added to the node (after those it was read
	// with).
	Attrs []Attr

	orig []*onnxpb.AttributeProto
	p    *onnxpb.NodeProto
}

// NewNode returns a node to place in Editor.Nodes; domain "" is ai.onnx.
func NewNode(domain, op, name string, inputs, outputs []string, attrs ...Attr) *Node {
	return &Node{Name: name, OpType: op, Domain: domain, Inputs: inputs, Outputs: outputs, Attrs: attrs}
}

// HasAttr reports whether the node carries the named attribute.
func (n *Node) HasAttr(name string) bool {
	for _, a := range n.orig {
		if a.GetName() == name {
			return true
		}
	}
	for _, a := range n.Attrs {
		if a.p != nil && a.p.GetName() == name {
			return true
		}
	}
	return false
}

// IntAttr returns the named int attribute, or def when the node has none.
func (n *Node) IntAttr(name string, def int64) int64 {
	for _, a := range n.orig {
		if a.GetName() == name && a.GetType() == onnxpb.AttributeProto_INT {
			return a.GetI()
		}
	}
	for _, a := range n.Attrs {
		if a.p != nil && a.p.GetName() == name && a.p.GetType() == onnxpb.AttributeProto_INT {
			return a.p.GetI()
		}
	}
	return def
}

// HasSubgraphs reports whether the node has graph attributes (If, Loop, Scan
// bodies), whose nodes may read values of the enclosing graph.
func (n *Node) HasSubgraphs() bool {
	for _, a := range n.orig {
		if a.G != nil || len(a.Graphs) > 0 {
			return true
		}
	}
	return false
}

// LoadModel decodes a serialized ModelProto for rewriting.
func LoadModel(b []byte) (*Editor, error) {
	mp := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, mp); err != nil {
		return nil, fmt.Errorf("decoding ModelProto: %w", err)
	}
	if mp.Graph == nil {
		return nil, fmt.Errorf("model has no graph")
	}
	e := &Editor{mp: mp, inits: map[string]int{}, names: map[string]bool{}}
	g := mp.Graph
	for i, t := range g.Initializer {
		if _, dup := e.inits[t.GetName()]; dup {
			return nil, fmt.Errorf("initializer %q defined twice", t.GetName())
		}
		e.inits[t.GetName()] = i
	}
	for _, n := range g.Node {
		e.Nodes = append(e.Nodes, &Node{Name: n.GetName(), OpType: n.GetOpType(), Domain: n.GetDomain(),
			Inputs: append([]string(nil), n.Input...), Outputs: append([]string(nil), n.Output...),
			orig: n.Attribute, p: n})
	}
	e.collectNames(g)
	return e, nil
}

// collectNames records every value and node name of g and its subgraphs so
// that UniqueName never collides with one.
func (e *Editor) collectNames(g *onnxpb.GraphProto) {
	for _, t := range g.Initializer {
		e.names[t.GetName()] = true
	}
	for _, vi := range g.Input {
		e.names[vi.GetName()] = true
	}
	for _, vi := range g.Output {
		e.names[vi.GetName()] = true
	}
	for _, vi := range g.ValueInfo {
		e.names[vi.GetName()] = true
	}
	for _, n := range g.Node {
		e.names[n.GetName()] = true
		for _, s := range n.Input {
			e.names[s] = true
		}
		for _, s := range n.Output {
			e.names[s] = true
		}
		for _, a := range n.Attribute {
			if a.G != nil {
				e.collectNames(a.G)
			}
			for _, sg := range a.Graphs {
				e.collectNames(sg)
			}
		}
	}
}

// UniqueName returns base, or base with a numeric suffix, such that no value
// or node of the model has that name, and reserves it.
func (e *Editor) UniqueName(base string) string {
	name := base
	for i := 1; e.names[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	e.names[name] = true
	return name
}

// Opset returns the model's opset version for a domain ("" or "ai.onnx" is
// the default domain), 0 when the model does not import it.
func (e *Editor) Opset(domain string) int {
	domain = ops.CanonicalDomain(domain)
	for _, os := range e.mp.OpsetImport {
		if ops.CanonicalDomain(os.GetDomain()) == domain {
			return int(os.GetVersion())
		}
	}
	return 0
}

// SetOpset imports domain at version v, replacing an existing import.
func (e *Editor) SetOpset(domain string, v int) {
	canon := ops.CanonicalDomain(domain)
	for _, os := range e.mp.OpsetImport {
		if ops.CanonicalDomain(os.GetDomain()) == canon {
			os.Version = proto.Int64(int64(v))
			return
		}
	}
	if canon == ops.DomainONNX {
		domain = ""
	}
	e.mp.OpsetImport = append(e.mp.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String(domain), Version: proto.Int64(int64(v))})
}

// IsGraphInput reports whether name is an input of the main graph (an
// initializer that is also an input can be overridden at run time).
func (e *Editor) IsGraphInput(name string) bool {
	for _, vi := range e.mp.Graph.Input {
		if vi.GetName() == name {
			return true
		}
	}
	return false
}

// GraphOutputs returns the names of the main graph's outputs.
func (e *Editor) GraphOutputs() []string {
	var out []string
	for _, vi := range e.mp.Graph.Output {
		out = append(out, vi.GetName())
	}
	return out
}

// AddOutput declares an intermediate value as a main-graph output (with no
// type: engines infer it), so that it can be compared between engines.
func (e *Editor) AddOutput(name string) {
	e.mp.Graph.Output = append(e.mp.Graph.Output, &onnxpb.ValueInfoProto{Name: proto.String(name)})
}

// HasInitializer reports whether the main graph has an initializer name.
func (e *Editor) HasInitializer(name string) bool {
	_, ok := e.inits[name]
	return ok
}

// Initializer decodes the named initializer; it returns nil and no error
// when there is none.
func (e *Editor) Initializer(name string) (*ops.Tensor, error) {
	i, ok := e.inits[name]
	if !ok {
		return nil, nil
	}
	tp := e.mp.Graph.Initializer[i]
	if tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || len(tp.ExternalData) > 0 {
		return nil, fmt.Errorf("initializer %q: external data is not supported by the editor", name)
	}
	b, err := proto.Marshal(tp)
	if err != nil {
		return nil, fmt.Errorf("initializer %q: %w", name, err)
	}
	t, err := engine.DecodeTensor(b)
	if err != nil {
		return nil, fmt.Errorf("initializer %q: %w", name, err)
	}
	return t, nil
}

// SetInitializer adds the initializer name or replaces its value.
func (e *Editor) SetInitializer(name string, t *ops.Tensor) error {
	tp, err := tensorProto(name, t)
	if err != nil {
		return fmt.Errorf("initializer %q: %w", name, err)
	}
	e.names[name] = true
	if i, ok := e.inits[name]; ok {
		e.mp.Graph.Initializer[i] = tp
		return nil
	}
	e.inits[name] = len(e.mp.Graph.Initializer)
	e.mp.Graph.Initializer = append(e.mp.Graph.Initializer, tp)
	return nil
}

// RemoveInitializer deletes the named initializer, if any.
func (e *Editor) RemoveInitializer(name string) {
	i, ok := e.inits[name]
	if !ok {
		return
	}
	g := e.mp.Graph
	g.Initializer = append(g.Initializer[:i], g.Initializer[i+1:]...)
	delete(e.inits, name)
	for j, t := range g.Initializer[i:] {
		e.inits[t.GetName()] = i + j
	}
}

// Uses counts the reads of every value: node inputs of the main graph (as
// in Nodes), values read inside subgraphs, and graph outputs.
func (e *Editor) Uses() map[string]int {
	uses := map[string]int{}
	var walk func(g *onnxpb.GraphProto)
	walk = func(g *onnxpb.GraphProto) {
		for _, n := range g.Node {
			for _, s := range n.Input {
				uses[s]++
			}
			for _, a := range n.Attribute {
				if a.G != nil {
					walk(a.G)
				}
				for _, sg := range a.Graphs {
					walk(sg)
				}
			}
		}
		for _, vi := range g.Output {
			uses[vi.GetName()]++
		}
	}
	for _, n := range e.Nodes {
		for _, s := range n.Inputs {
			uses[s]++
		}
		for _, a := range n.orig {
			if a.G != nil {
				walk(a.G)
			}
			for _, sg := range a.Graphs {
				walk(sg)
			}
		}
	}
	for _, vi := range e.mp.Graph.Output {
		uses[vi.GetName()]++
	}
	return uses
}

// PruneInitializers removes the initializers nothing reads (and that are
// not graph inputs) and returns their names.
func (e *Editor) PruneInitializers() []string {
	uses := e.Uses()
	var dead []string
	for _, t := range e.mp.Graph.Initializer {
		if name := t.GetName(); uses[name] == 0 && !e.IsGraphInput(name) {
			dead = append(dead, name)
		}
	}
	for _, name := range dead {
		e.RemoveInitializer(name)
	}
	return dead
}

// Marshal serializes the edited model.
func (e *Editor) Marshal() ([]byte, error) {
	nodes := make([]*onnxpb.NodeProto, 0, len(e.Nodes))
	for _, n := range e.Nodes {
		if n == nil {
			return nil, fmt.Errorf("nil node in the editor's node list")
		}
		p := &onnxpb.NodeProto{}
		if n.p != nil {
			p.DocString, p.Overload, p.MetadataProps = n.p.DocString, n.p.Overload, n.p.MetadataProps
		}
		p.OpType = proto.String(n.OpType)
		if n.Name != "" {
			p.Name = proto.String(n.Name)
		}
		if d := strings.TrimSpace(n.Domain); d != "" {
			p.Domain = proto.String(d)
		}
		p.Input = append([]string(nil), n.Inputs...)
		p.Output = append([]string(nil), n.Outputs...)
		p.Attribute = append([]*onnxpb.AttributeProto(nil), n.orig...)
		for _, a := range n.Attrs {
			if a.p != nil {
				p.Attribute = append(p.Attribute, a.p)
			}
		}
		nodes = append(nodes, p)
	}
	saved := e.mp.Graph.Node
	e.mp.Graph.Node = nodes
	defer func() { e.mp.Graph.Node = saved }()
	return proto.Marshal(e.mp)
}

// Metadata returns the model's metadata_props.
func (e *Editor) Metadata() map[string]string {
	md := make(map[string]string, len(e.mp.MetadataProps))
	for _, kv := range e.mp.MetadataProps {
		md[kv.GetKey()] = kv.GetValue()
	}
	return md
}
