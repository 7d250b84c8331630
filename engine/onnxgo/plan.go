package onnxgo

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/ops"
	"gorgonia.org/tensor"
)

// plan is the engine model built from the decoded graph, with the nodes its
// inputs are read from and its outputs written to.
type plan struct {
	model   *engine.Model
	inputs  []*Node // in the engine model's input order
	outputs []*Node // in the engine model's output order
}

// roles sorts the graph's values into the ONNX graph's inputs, initializers
// and outputs, which onnx-go does not tell a backend. The decoder declares
// values in a fixed order (inputs, value_info, outputs, then initializers not
// declared as inputs) before it adds any operator, setting a placeholder
// tensor on each typed one; an initializer's tensor is set after, on the
// declared node or on a node created for it.
type roles struct {
	inputs  []*Node // graph inputs, initializers among them
	inits   []*Node // initializers, declared inputs or not
	outputs []*Node
}

func (b *Backend) roles() roles {
	nodes := b.allNodes()
	// The last declared output bounds the declared values: unproduced
	// values set after it are initializers the inputs did not list.
	last := -1
	for _, n := range nodes {
		if n.producer != nil && n.valuePhase && n.decodeSets > 0 {
			last = max(last, n.created)
		}
	}
	var r roles
	for _, n := range nodes {
		switch {
		case n.name == "":
		case n.producer != nil:
			// Outputs and value_info are the produced values the decoder
			// declared; value_info ones become outputs too (they still
			// compute the same values). When no output has a type, an
			// unread value made before the first edge is taken for an
			// output: an output of the first operator nothing reads may
			// be computed for nothing.
			untyped := last < 0 && n.consumers == 0
			if n.valuePhase && (n.decodeSets > 0 || untyped) {
				r.outputs = append(r.outputs, n)
			}
		case n.consumers == 0:
			// Not read by any operator: an unused input, or a node the
			// decoder made for a name it declared twice.
		case n.staleSet:
			// A declared input with an initializer: a default the
			// program may override.
			r.inits = append(r.inits, n)
			r.inputs = append(r.inputs, n)
		case n.decodeSets > 0 && last >= 0 && n.created > last:
			r.inits = append(r.inits, n)
		case n.decodeSets > 0 && last < 0 && !n.userSet:
			// No typed output to tell declarations from initializers:
			// a value the program did not set is an initializer.
			r.inits = append(r.inits, n)
		default:
			r.inputs = append(r.inputs, n)
		}
	}
	return r
}

func (b *Backend) allNodes() []*Node {
	it := b.WeightedDirectedGraph.Nodes()
	nodes := make([]*Node, 0, it.Len())
	for it.Next() {
		nodes = append(nodes, it.Node().(*Node))
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].created < nodes[j].created })
	return nodes
}

// buildPlan writes the decoded graph as a ModelProto with the recovered
// domains and opsets and loads it with engine.LoadBytes.
func (b *Backend) buildPlan() (*plan, error) {
	if len(b.ops) == 0 {
		return nil, fmt.Errorf("onnxgo: no model was decoded into this backend")
	}
	reg := newRegistry()
	r := b.roles()
	if len(r.outputs) == 0 {
		return nil, fmt.Errorf("onnxgo: the decoded graph declares no output")
	}
	g := onnxbuild.NewGraph("onnx-go")
	for _, n := range r.inputs {
		dt, err := inputType(n)
		if err != nil {
			return nil, err
		}
		g.Input(n.name, &ops.Type{Kind: ops.KindTensor, DType: dt})
	}
	for _, n := range r.inits {
		t, err := toOps(n.tensor)
		if err != nil {
			return nil, fmt.Errorf("onnxgo: initializer %q: %w", n.name, err)
		}
		g.Initializer(n.name, t)
	}
	for _, n := range r.outputs {
		g.Output(n.name, nil)
	}
	domains := make([]string, len(b.ops))
	for i, o := range b.ops {
		d, err := recoverDomain(reg, o)
		if err != nil {
			return nil, err
		}
		domains[i] = d
		attrs, err := toAttrs(o)
		if err != nil {
			return nil, err
		}
		g.DomainNode(d, o.op.Name, names(o.inputs), names(o.outputs), attrs...)
	}
	opsets, err := b.recoverOpsets(reg, domains)
	if err != nil {
		return nil, err
	}
	bytes, err := (&onnxbuild.Model{Graph: g, Opsets: opsets, ProducerName: "onnx-go decoder"}).Marshal()
	if err != nil {
		return nil, fmt.Errorf("onnxgo: writing the decoded graph: %w", err)
	}
	m, err := engine.LoadBytes(bytes, b.engineOpts...)
	if err != nil {
		return nil, fmt.Errorf("onnxgo: planning the decoded graph (opsets %v): %w", opsets, err)
	}
	p := &plan{model: m}
	byName := map[string]*Node{}
	for _, n := range append(r.inputs, r.outputs...) {
		byName[n.name] = n
	}
	for _, in := range m.Inputs() {
		p.inputs = append(p.inputs, byName[in.Name])
	}
	for _, out := range m.Outputs() {
		p.outputs = append(p.outputs, byName[out.Name])
	}
	return p, nil
}

// inputType is the element type of the decoder's placeholder, else of
// the tensor the program set.
func inputType(n *Node) (ops.DType, error) {
	if n.tensor == nil {
		return 0, fmt.Errorf("onnxgo: input %q has no tensor: set it with model.SetInput before Run", n.name)
	}
	t, err := toOps(n.tensor)
	if err != nil {
		return 0, fmt.Errorf("onnxgo: input %q: %w", n.name, err)
	}
	return t.DType, nil
}

func toOps(t tensor.Tensor) (*ops.Tensor, error) {
	d, ok := t.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("a %T, not a *tensor.Dense", t)
	}
	return engine.FromDense(d)
}

func names(nodes []*Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		if n != nil {
			out[i] = n.name
		}
	}
	return out
}

// describe names an operation for errors: `Softmax node -> "y"`.
func describe(o *operation) string {
	for _, n := range o.outputs {
		if n != nil {
			return fmt.Sprintf("%s node -> %q", o.op.Name, n.name)
		}
	}
	return o.op.Name + " node"
}

// toAttrs converts the attributes onnx-go decoded, in name order.
func toAttrs(o *operation) ([]onnxbuild.Attr, error) {
	keys := make([]string, 0, len(o.op.Attributes))
	for k := range o.op.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	attrs := make([]onnxbuild.Attr, 0, len(keys))
	for _, k := range keys {
		switch v := o.op.Attributes[k].(type) {
		case struct{}: // an attribute of undefined type: absent
		case int64:
			attrs = append(attrs, onnxbuild.Int(k, v))
		case float32:
			attrs = append(attrs, onnxbuild.Float(k, v))
		case string:
			attrs = append(attrs, onnxbuild.String(k, v))
		case []int64:
			attrs = append(attrs, onnxbuild.Ints(k, v...))
		case []float32:
			attrs = append(attrs, onnxbuild.Floats(k, v...))
		case []string:
			attrs = append(attrs, onnxbuild.Strings(k, v...))
		case tensor.Tensor:
			t, err := toOps(v)
			if err != nil {
				return nil, fmt.Errorf("onnxgo: %s: attribute %q: %w", describe(o), k, err)
			}
			a, err := onnxbuild.TensorAttr(k, t)
			if err != nil {
				return nil, fmt.Errorf("onnxgo: %s: attribute %q: %w", describe(o), k, err)
			}
			attrs = append(attrs, a)
		default:
			return nil, fmt.Errorf("onnxgo: %s: attribute %q of type %T is not an ONNX attribute type", describe(o), k, v)
		}
	}
	return attrs, nil
}

// recoverDomain finds the operator's domain, which onnx-go drops: the first
// of ai.onnx, ai.onnx.ml and com.microsoft that defines its name (the
// ai.onnx.ml names are unique to it).
func recoverDomain(reg *registry, o *operation) (string, error) {
	for _, d := range []string{"", ops.DomainML, ops.DomainMicrosoft} {
		if reg.firstOpset(d, o.op.Name) > 0 {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: %s: no ai.onnx, ai.onnx.ml or com.microsoft operator agate implements has this name, and onnx-go does not pass on node domains; load the model with engine.Load to run it or to see what it lacks",
		ErrDecoderLoss, describe(o))
}

// registry answers which opsets define an operator, remembering answers.
type registry struct {
	reg    *ops.Registry
	newest map[string]int
	first  map[string]int // domain + "/" + op
}

func newRegistry() *registry {
	return &registry{reg: engine.DefaultRegistry(), newest: map[string]int{}, first: map[string]int{}}
}

// newestOpset is the newest opset of domain agate has operators from.
func (r *registry) newestOpset(domain string) int {
	v, ok := r.newest[domain]
	if !ok {
		v = r.reg.NewestOpset(domain)
		r.newest[domain] = v
	}
	return v
}

// firstOpset is the first opset version of domain that defines op (0: none).
func (r *registry) firstOpset(domain, op string) int {
	key := domain + "/" + op
	if v, ok := r.first[key]; ok {
		return v
	}
	v := 0
	for i := 1; i <= r.newestOpset(domain); i++ {
		if _, ok := r.reg.Lookup(domain, op, i); ok {
			v = i
			break
		}
	}
	r.first[key] = v
	return v
}

// span is a range of opset versions a model may have.
type span struct {
	lo, hi int
	why    []string // the nodes that set lo or hi
}

func (s *span) atLeast(v int, why string) {
	if v > s.lo {
		s.lo = v
		s.why = append(s.why, why)
	}
}

func (s *span) atMost(v int, why string) {
	if v < s.hi {
		s.hi = v
		s.why = append(s.why, why)
	}
}

// recoverOpsets returns the opset of each domain the nodes use: the one
// WithOpsets states, else the newest agate knows that every node's form
// allows (operators that moved an attribute to an input, or appeared in a
// later opset, bound it).
func (b *Backend) recoverOpsets(reg *registry, domains []string) (map[string]int, error) {
	spans := map[string]*span{}
	for i, o := range b.ops {
		d := domains[i]
		s := spans[d]
		if s == nil {
			s = &span{lo: 1, hi: reg.newestOpset(d)}
			spans[d] = s
		}
		s.atLeast(reg.firstOpset(d, o.op.Name), fmt.Sprintf("%s needs opset %d", o.op.Name, reg.firstOpset(d, o.op.Name)))
		formBounds(s, d, o)
	}
	opsets := map[string]int{}
	for d, s := range spans {
		if v, ok := b.opsets[canonical(d)]; ok {
			opsets[d] = v
			continue
		}
		if s.lo > s.hi {
			return nil, fmt.Errorf("%w: the %s nodes fit no single opset (%s) and onnx-go does not pass on the model's opset; state it with WithOpsets or load the model with engine.Load",
				ErrDecoderLoss, ops.CanonicalDomain(d), strings.Join(s.why, "; "))
		}
		opsets[d] = s.hi
		if d != "" {
			continue
		}
		for i, o := range b.ops {
			if domains[i] != "" {
				continue
			}
			if v, why := changedMeaning(o); v > 0 && s.lo < v && v <= s.hi {
				return nil, fmt.Errorf("%w: %s: %s changed in opset %d, and onnx-go does not pass on the model's opset (its nodes allow %d to %d); state it with WithOpsets or load the model with engine.Load",
					ErrDecoderLoss, describe(o), why, v, s.lo, s.hi)
			}
		}
	}
	return opsets, nil
}

// formBounds bounds the ai.onnx opset by the form of a node whose inputs or
// attributes changed between opsets, and the ai.onnx.ml one by attributes
// added later.
func formBounds(s *span, domain string, o *operation) {
	has := func(a string) bool { _, ok := o.op.Attributes[a]; return ok }
	nin := len(o.inputs)
	name := o.op.Name
	why := func(form string) string { return fmt.Sprintf("%s with %s", describe(o), form) }
	if domain == ops.DomainML {
		for a := range o.op.Attributes {
			if strings.HasSuffix(a, "_as_tensor") {
				s.atLeast(3, why("attribute "+a))
			}
			if strings.HasSuffix(a, "_tensor") && (name == "LabelEncoder") {
				s.atLeast(4, why("attribute "+a))
			}
		}
		return
	}
	if domain != "" {
		return
	}
	if has("consumed_inputs") {
		s.atMost(5, why("attribute consumed_inputs"))
	}
	if has("broadcast") {
		s.atMost(6, why("attribute broadcast"))
	}
	present := func(pos int) bool { return pos < nin && o.inputs[pos] != nil }
	// moved is an attribute that became input pos in opset since.
	moved := func(attr string, pos, since int) {
		if has(attr) {
			s.atMost(since-1, why("attribute "+attr))
		}
		if present(pos) {
			s.atLeast(since, why(fmt.Sprintf("input %d", pos+1)))
		}
	}
	switch name {
	case "Reshape":
		moved("shape", 1, 5)
	case "Upsample":
		moved("scales", 1, 9)
	case "Slice":
		moved("starts", 1, 10)
	case "TopK":
		moved("k", 1, 10)
	case "Pad":
		moved("pads", 1, 11)
	case "Clip":
		if has("min") || has("max") {
			s.atMost(10, why("attribute min or max"))
		}
		if present(1) || present(2) {
			s.atLeast(11, why("a min or max input"))
		}
	case "Dropout":
		if present(1) || present(2) {
			s.atLeast(12, why("a ratio or training_mode input"))
		}
	case "Resize":
		if nin == 2 {
			s.atMost(10, why("2 inputs"))
		} else if nin > 2 {
			s.atLeast(11, why("roi and scales inputs"))
		}
	case "Squeeze", "Unsqueeze", "ReduceSum":
		moved("axes", 1, 13)
	case "Split":
		moved("split", 1, 13)
		if has("num_outputs") {
			s.atLeast(18, why("attribute num_outputs"))
		}
	case "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
		"ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare":
		moved("axes", 1, 18)
	case "RoiAlign":
		if has("coordinate_transformation_mode") {
			s.atLeast(16, why("attribute coordinate_transformation_mode"))
		}
	case "DFT":
		moved("axis", 2, 20)
	case "BatchNormalization":
		if has("spatial") {
			s.atMost(8, why("attribute spatial"))
		}
		if has("is_test") {
			s.atMost(6, why("attribute is_test"))
		}
	}
	if strings.HasPrefix(name, "Reduce") && has("noop_with_empty_axes") {
		s.atLeast(13, why("attribute noop_with_empty_axes"))
	}
}

// changedMeaning returns the ai.onnx opset from which the node, as written,
// computes something else than before, and what changed (0 when its
// meaning does not depend on the opset).
func changedMeaning(o *operation) (int, string) {
	switch o.op.Name {
	case "Softmax", "LogSoftmax", "Hardmax":
		// Before 13 the input is flattened to 2-D at axis (default 1);
		// from 13 the axis (default -1) alone is normalized. With no
		// rank known, only axis -1 means the same.
		if axis, ok := o.op.Attributes["axis"].(int64); !ok || axis != -1 {
			return 13, "the meaning of its axis"
		}
	case "RoiAlign":
		if _, ok := o.op.Attributes["coordinate_transformation_mode"]; !ok {
			return 16, "its default coordinate_transformation_mode"
		}
	}
	return 0, ""
}

func canonical(d string) string {
	if d == ops.DomainONNX {
		return ""
	}
	return d
}

// run feeds the input nodes' tensors to the engine model and sets the
// outputs' tensors.
func (p *plan) run(ctx context.Context) error {
	if p.model == nil {
		return fmt.Errorf("onnxgo: the backend is closed")
	}
	ins := make([]ops.Value, len(p.inputs))
	for i, n := range p.inputs {
		switch {
		case n.userSet:
			t, err := toOps(n.tensor)
			if err != nil {
				return fmt.Errorf("onnxgo: input %q: %w", n.name, err)
			}
			ins[i] = t
		case !n.staleSet: // an initializer's default otherwise
			return fmt.Errorf("onnxgo: input %q is not set: call model.SetInput before Run", n.name)
		}
	}
	outs := make([]ops.Value, len(p.outputs))
	if err := p.model.RunList(ctx, ins, outs); err != nil {
		return fmt.Errorf("onnxgo: %w", err)
	}
	for i, n := range p.outputs {
		t, ok := outs[i].(*ops.Tensor)
		if !ok {
			return fmt.Errorf("onnxgo: output %q is a %T, and onnx-go nodes carry tensors only; load the model with engine.Load and use RunValues",
				n.name, outs[i])
		}
		n.tensor = engine.ToDense(t)
	}
	return nil
}
