package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agate-ml/agate/engine/internal/onnxpb"
	"github.com/agate-ml/agate/ops"
	"google.golang.org/protobuf/proto"
)

// valueInfo is a declared graph input or output.
type valueInfo struct {
	Name string
	Type *ops.Type
}

// graph is the decoded form of a GraphProto: nodes with decoded attributes,
// initializers as tensors, declared inputs and outputs.
type graph struct {
	name     string
	inputs   []valueInfo
	outputs  []valueInfo
	inits    map[string]*ops.Tensor
	initList []string // initializer names in file order
	nodes    []*gnode
	types    map[string]*ops.Type // value_info and declared types
}

// gnode is a decoded NodeProto.
type gnode struct {
	name, opType, domain string
	version              int
	inputs, outputs      []string
	attrs                []*ops.Attr
	subgraphs            map[string]*graph // graph attributes (GRAPHS lists use name#i)
}

func (n *gnode) describe() string {
	name := n.name
	if name == "" && len(n.outputs) > 0 {
		name = "-> " + n.outputs[0]
	}
	return fmt.Sprintf("%s node %q (%s opset %d)", n.opType, name, n.domain, n.version)
}

// decoder turns protobuf messages into graphs, resolving opsets and inlining
// model-local functions.
type decoder struct {
	opsets    map[string]int
	ext       *externalLoader
	functions map[string]*onnxpb.FunctionProto // key: domain/name
	inlineSeq int
}

func newDecoder(m *onnxpb.ModelProto, ext *externalLoader) (*decoder, error) {
	d := &decoder{opsets: map[string]int{}, ext: ext, functions: map[string]*onnxpb.FunctionProto{}}
	for _, os := range m.OpsetImport {
		dom := ops.CanonicalDomain(os.GetDomain())
		if os.GetVersion() <= 0 {
			return nil, fmt.Errorf("opset import for domain %q has invalid version %d", dom, os.GetVersion())
		}
		d.opsets[dom] = int(os.GetVersion())
	}
	if len(m.OpsetImport) == 0 {
		// IR version 2 models predate opset imports: they mean ai.onnx 1.
		d.opsets[ops.DomainONNX] = 1
	}
	for _, f := range m.Functions {
		d.functions[ops.CanonicalDomain(f.GetDomain())+"/"+f.GetName()] = f
	}
	return d, nil
}

func (d *decoder) opsetVersion(domain string) (int, bool) {
	v, ok := d.opsets[domain]
	if !ok {
		switch domain {
		case ops.DomainML, ops.DomainMicrosoft:
			return 1, true
		}
	}
	return v, ok
}

func (d *decoder) decodeGraph(gp *onnxpb.GraphProto) (*graph, error) {
	g := &graph{name: gp.GetName(), inits: map[string]*ops.Tensor{}, types: map[string]*ops.Type{}}
	for _, t := range gp.Initializer {
		v, err := decodeTensor(t, d.ext)
		if err != nil {
			return nil, fmt.Errorf("initializer: %w", err)
		}
		if _, dup := g.inits[t.GetName()]; dup {
			return nil, fmt.Errorf("initializer %q defined twice", t.GetName())
		}
		g.inits[t.GetName()] = v
		g.initList = append(g.initList, t.GetName())
	}
	for _, sp := range gp.SparseInitializer {
		v, err := decodeSparse(sp, d.ext)
		if err != nil {
			return nil, fmt.Errorf("sparse initializer: %w", err)
		}
		name := sp.GetValues().GetName()
		g.inits[name] = v
		g.initList = append(g.initList, name)
	}
	for _, vi := range gp.Input {
		t, err := decodeType(vi.Type)
		if err != nil {
			return nil, fmt.Errorf("graph input %q: %w", vi.GetName(), err)
		}
		g.inputs = append(g.inputs, valueInfo{vi.GetName(), t})
		g.types[vi.GetName()] = t
	}
	for _, vi := range gp.Output {
		t, err := decodeType(vi.Type)
		if err != nil {
			return nil, fmt.Errorf("graph output %q: %w", vi.GetName(), err)
		}
		g.outputs = append(g.outputs, valueInfo{vi.GetName(), t})
		if t != nil {
			g.types[vi.GetName()] = t
		}
	}
	for _, vi := range gp.ValueInfo {
		if t, err := decodeType(vi.Type); err == nil && t != nil {
			g.types[vi.GetName()] = t
		}
	}
	for _, np := range gp.Node {
		nodes, err := d.decodeNode(np, nil, 0)
		if err != nil {
			return nil, err
		}
		g.nodes = append(g.nodes, nodes...)
	}
	return g, nil
}

// decodeNode decodes one node; a call to a model-local function is inlined
// into the nodes of its body. callerAttrs resolves ref_attr_name inside a
// function body.
func (d *decoder) decodeNode(np *onnxpb.NodeProto, callerAttrs map[string]*onnxpb.AttributeProto, depth int) ([]*gnode, error) {
	domain := ops.CanonicalDomain(np.GetDomain())
	if f, ok := d.functions[domain+"/"+np.GetOpType()]; ok {
		if depth > 32 {
			return nil, fmt.Errorf("function %q: recursion too deep", np.GetOpType())
		}
		return d.inline(np, f, callerAttrs, depth)
	}
	n := &gnode{name: np.GetName(), opType: np.GetOpType(), domain: domain,
		inputs: append([]string(nil), np.Input...), outputs: append([]string(nil), np.Output...)}
	if n.opType == "" {
		return nil, fmt.Errorf("node %q has no op_type", n.name)
	}
	v, ok := d.opsetVersion(domain)
	if !ok {
		return nil, fmt.Errorf("%s node %q: domain %q is not imported by the model", n.opType, n.name, domain)
	}
	n.version = v
	for _, ap := range np.Attribute {
		if ap.GetRefAttrName() != "" {
			ref, ok := callerAttrs[ap.GetRefAttrName()]
			if !ok {
				continue // unset optional attribute of the function
			}
			ap = renamedAttr(ref, ap.GetName())
		}
		a, err := d.decodeAttr(ap)
		if err != nil {
			return nil, fmt.Errorf("%s: attribute %q: %w", n.describe(), ap.GetName(), err)
		}
		if g, ok := a.G.(*graph); ok {
			if n.subgraphs == nil {
				n.subgraphs = map[string]*graph{}
			}
			n.subgraphs[a.Name] = g
		}
		for i, gi := range a.Graphs {
			if n.subgraphs == nil {
				n.subgraphs = map[string]*graph{}
			}
			n.subgraphs[fmt.Sprintf("%s#%d", a.Name, i)] = gi.(*graph)
		}
		n.attrs = append(n.attrs, a)
	}
	return []*gnode{n}, nil
}

// inline expands a call to a model-local function, renaming the body's
// internal values so that they cannot clash with the caller's.
func (d *decoder) inline(call *onnxpb.NodeProto, f *onnxpb.FunctionProto, callerAttrs map[string]*onnxpb.AttributeProto, depth int) ([]*gnode, error) {
	d.inlineSeq++
	prefix := fmt.Sprintf("%s__inl%d__", f.GetName(), d.inlineSeq)
	rename := map[string]string{}
	for i, in := range f.Input {
		if i < len(call.Input) {
			rename[in] = call.Input[i]
		} else {
			rename[in] = ""
		}
	}
	for i, out := range f.Output {
		if i < len(call.Output) {
			rename[out] = call.Output[i]
		} else {
			rename[out] = prefix + out
		}
	}
	attrs := map[string]*onnxpb.AttributeProto{}
	for _, a := range f.AttributeProto { // defaults
		attrs[a.GetName()] = a
	}
	for _, a := range call.Attribute {
		if a.GetRefAttrName() != "" {
			if ref, ok := callerAttrs[a.GetRefAttrName()]; ok {
				a = renamedAttr(ref, a.GetName())
			} else {
				continue
			}
		}
		attrs[a.GetName()] = a
	}
	// The function's own opset imports apply to its body.
	saved := d.opsets
	if len(f.OpsetImport) > 0 {
		d.opsets = map[string]int{}
		for k, v := range saved {
			d.opsets[k] = v
		}
		for _, os := range f.OpsetImport {
			d.opsets[ops.CanonicalDomain(os.GetDomain())] = int(os.GetVersion())
		}
	}
	defer func() { d.opsets = saved }()
	mapName := func(s string) string {
		if s == "" {
			return ""
		}
		if r, ok := rename[s]; ok {
			return r
		}
		r := prefix + s
		rename[s] = r
		return r
	}
	var out []*gnode
	for _, np := range f.Node {
		cp := &onnxpb.NodeProto{Name: np.Name, OpType: np.OpType, Domain: np.Domain, Attribute: np.Attribute}
		for _, in := range np.Input {
			cp.Input = append(cp.Input, mapName(in))
		}
		for _, o := range np.Output {
			cp.Output = append(cp.Output, mapName(o))
		}
		nodes, err := d.decodeNode(cp, attrs, depth+1)
		if err != nil {
			return nil, fmt.Errorf("in function %q: %w", f.GetName(), err)
		}
		out = append(out, nodes...)
	}
	return out, nil
}

func (d *decoder) decodeAttr(ap *onnxpb.AttributeProto) (*ops.Attr, error) {
	a := &ops.Attr{Name: ap.GetName(), Type: ops.AttrType(ap.GetType())}
	if a.Type == ops.AttrUndefined {
		// IR version 1 had no type field: infer from the populated field.
		switch {
		case ap.F != nil:
			a.Type = ops.AttrFloat
		case ap.I != nil:
			a.Type = ops.AttrInt
		case ap.S != nil:
			a.Type = ops.AttrString
		case ap.T != nil:
			a.Type = ops.AttrTensor
		case ap.G != nil:
			a.Type = ops.AttrGraph
		case len(ap.Floats) > 0:
			a.Type = ops.AttrFloats
		case len(ap.Ints) > 0:
			a.Type = ops.AttrInts
		case len(ap.Strings) > 0:
			a.Type = ops.AttrStrings
		default:
			return nil, fmt.Errorf("attribute has no type and no value")
		}
	}
	switch a.Type {
	case ops.AttrFloat:
		a.F = ap.GetF()
	case ops.AttrInt:
		a.I = ap.GetI()
	case ops.AttrString:
		a.S = string(ap.S)
	case ops.AttrFloats:
		a.Floats = ap.Floats
	case ops.AttrInts:
		a.Ints = ap.Ints
	case ops.AttrStrings:
		for _, s := range ap.Strings {
			a.Strings = append(a.Strings, string(s))
		}
	case ops.AttrTensor:
		if ap.T == nil {
			return nil, fmt.Errorf("tensor attribute without a tensor")
		}
		t, err := decodeTensor(ap.T, d.ext)
		if err != nil {
			return nil, err
		}
		a.T = t
	case ops.AttrSparse:
		if ap.SparseTensor == nil {
			return nil, fmt.Errorf("sparse tensor attribute without a tensor")
		}
		t, err := decodeSparse(ap.SparseTensor, d.ext)
		if err != nil {
			return nil, err
		}
		a.Type = ops.AttrTensor
		a.T = t
	case ops.AttrTensors:
		for _, tp := range ap.Tensors {
			t, err := decodeTensor(tp, d.ext)
			if err != nil {
				return nil, err
			}
			a.Tensors = append(a.Tensors, t)
		}
	case ops.AttrGraph:
		if ap.G == nil {
			return nil, fmt.Errorf("graph attribute without a graph")
		}
		g, err := d.decodeGraph(ap.G)
		if err != nil {
			return nil, fmt.Errorf("subgraph: %w", err)
		}
		a.G = g
	case ops.AttrGraphs:
		for _, gp := range ap.Graphs {
			g, err := d.decodeGraph(gp)
			if err != nil {
				return nil, fmt.Errorf("subgraph: %w", err)
			}
			a.Graphs = append(a.Graphs, g)
		}
	case ops.AttrTypeProto:
		t, err := decodeType(ap.Tp)
		if err != nil {
			return nil, err
		}
		a.TP = t
	case ops.AttrSparse + 1: // SPARSE_TENSORS
		return nil, fmt.Errorf("sparse tensor list attributes are not supported")
	default:
		return nil, fmt.Errorf("unsupported attribute type %d", ap.GetType())
	}
	return a, nil
}

// unsupportedOps walks g (and its subgraphs) and lists every op the
// registry lacks, as "domain:Op (opset N) xK".
func unsupportedOps(g *graph, reg *ops.Registry) []string {
	type key struct {
		domain, op string
		version    int
	}
	counts := map[key]int{}
	var walk func(*graph)
	walk = func(g *graph) {
		for _, n := range g.nodes {
			if _, ok := reg.Lookup(n.domain, n.opType, n.version); !ok {
				counts[key{n.domain, n.opType, n.version}]++
			}
			for _, sg := range n.subgraphs {
				walk(sg)
			}
		}
	}
	walk(g)
	var out []string
	for k, c := range counts {
		s := fmt.Sprintf("%s:%s (opset %d)", k.domain, k.op, k.version)
		if c > 1 {
			s += fmt.Sprintf(" x%d", c)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// UnsupportedError lists the operators a model uses that agate lacks.
type UnsupportedError struct {
	Ops []string // "domain:Op (opset N)", sorted
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("model uses %d unsupported operator(s): %s", len(e.Ops), strings.Join(e.Ops, ", "))
}

// Unwrap lets errors.Is(err, ops.ErrUnsupported) match.
func (e *UnsupportedError) Unwrap() error { return ops.ErrUnsupported }

// renamedAttr copies an attribute under another name (a function body's
// reference to its caller's attribute).
func renamedAttr(a *onnxpb.AttributeProto, name string) *onnxpb.AttributeProto {
	cp := proto.Clone(a).(*onnxpb.AttributeProto)
	cp.Name = &name
	return cp
}
