// Package onnxgo runs models decoded by github.com/owulveryck/onnx-go
// (v0.5.0) on agate's engine.
//
// A Backend is an onnx.Backend and a backend.ComputationBackend: an onnx-go
// program switches to agate by passing it to onnx.NewModel, then calls
// model.UnmarshalBinary, model.SetInput, Run and model.GetOutputTensors as
// before. The first Run turns the decoded graph into an agate plan (the same
// fusions, constant folding and kernels as engine.Load) and later runs reuse
// it.
//
// onnx-go's decoder drops what agate needs to be sure of a model's meaning:
// opset versions, node domains, float16, int8, uint8 and string tensors,
// external data and subgraphs. Domains are recovered from the operator names
// (ai.onnx, then ai.onnx.ml, then com.microsoft), and opsets from the forms
// of the nodes (an Unsqueeze with axes as an input is opset 13 or later)
// unless WithOpsets states them. What cannot be recovered fails with an error
// wrapping ErrDecoderLoss that points to engine.Load, which reads the model
// itself and remains the main entry point.
package onnxgo

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/agate-ml/agate/engine"
	"github.com/owulveryck/onnx-go"
	"gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/simple"
	"gorgonia.org/tensor"
)

// ErrDecoderLoss is wrapped by the errors for models that need what
// onnx-go's decoder dropped (an opset, a node domain, a tensor type).
// Such models run when loaded with engine.Load.
var ErrDecoderLoss = errors.New("onnx-go's decoder dropped what this model needs")

// Option configures a Backend.
type Option func(*Backend)

// WithOpsets states the model's opset versions by domain ("" or "ai.onnx",
// "ai.onnx.ml", "com.microsoft"), which onnx-go does not pass on. Domains
// not listed are inferred from the nodes.
func WithOpsets(opsets map[string]int) Option {
	return func(b *Backend) {
		for d, v := range opsets {
			b.opsets[canonical(d)] = v
		}
	}
}

// WithEngineOptions passes options (workers, tensor budget, fusion) to the
// engine when the first Run plans the model.
func WithEngineOptions(opts ...engine.Option) Option {
	return func(b *Backend) { b.engineOpts = append(b.engineOpts, opts...) }
}

// Backend receives a graph from onnx-go's decoder and runs it with agate.
// Its graph methods come from gonum's simple.WeightedDirectedGraph. A
// Backend holds one model; Run and RunContext may be called from several
// goroutines but run one at a time, as the inputs and outputs live on the
// graph's nodes.
type Backend struct {
	*simple.WeightedDirectedGraph

	opsets     map[string]int
	engineOpts []engine.Option

	mu      sync.Mutex
	seq     int                // event counter: node creations and decoder tensor assignments
	lastAdd *Node              // the node the last AddNode added, until another event
	edges   map[int64][]inEdge // from output node ID: every edge set, in order
	ops     []*operation       // ApplyOperation calls, in order
	decoded bool               // ApplyOperation was called: the decoder's tensors are all set
	edging  bool               // an edge or operation was seen: values are all declared

	plan *plan
}

type inEdge struct {
	to    *Node
	index int
}

// operation is one ApplyOperation call.
type operation struct {
	op      onnx.Operation
	inputs  []*Node // nil for an omitted optional input
	outputs []*Node // nil for an omitted optional output
}

// New returns an empty Backend for onnx.NewModel.
func New(opts ...Option) *Backend {
	b := &Backend{
		WeightedDirectedGraph: simple.NewWeightedDirectedGraph(0, 0),
		opsets:                map[string]int{},
		edges:                 map[int64][]inEdge{},
	}
	for _, o := range opts {
		o(b)
	}
	return b
}

// Node is a value of the graph: an input, an initializer, an operator's
// output. It carries a name and a tensor (onnx.Namer, onnx.DataCarrier).
type Node struct {
	id     int64
	name   string
	tensor tensor.Tensor
	b      *Backend

	created    int  // creation event
	valuePhase bool // created before any edge or operation (declared by the decoder)
	decodeSets int  // tensors the decoder set
	staleSet   bool // a decoder tensor set on a node created earlier (an initializer)
	userSet    bool // a tensor was set after decoding (model.SetInput)
	producer   *operation
	consumers  int
}

// ID returns the node's ID (graph.Node).
func (n *Node) ID() int64 { return n.id }

// SetName sets the value's name (onnx.Namer).
func (n *Node) SetName(name string) { n.name = name }

// GetName returns the value's name (onnx.Namer).
func (n *Node) GetName() string { return n.name }

// SetTensor sets the node's tensor (onnx.DataCarrier): the decoder sets
// initializers and input placeholders, the program its inputs
// (model.SetInput), and Run the outputs.
func (n *Node) SetTensor(t tensor.Tensor) error {
	b := n.b
	b.mu.Lock()
	defer b.mu.Unlock()
	n.tensor = t
	if b.decoded {
		n.userSet = true
		return nil
	}
	n.decodeSets++
	if b.lastAdd != n {
		n.staleSet = true
	}
	b.event()
	return nil
}

// GetTensor returns the node's tensor (onnx.DataCarrier).
func (n *Node) GetTensor() tensor.Tensor {
	n.b.mu.Lock()
	defer n.b.mu.Unlock()
	return n.tensor
}

// String returns the quoted name, for errors and logs.
func (n *Node) String() string { return fmt.Sprintf("%q", n.name) }

// event marks a decoder event that separates a node's creation from what
// follows it.
func (b *Backend) event() {
	b.seq++
	b.lastAdd = nil
}

// NewNode returns a new node with an unused ID (graph.NodeAdder). IDs are
// given in creation order from 0, which onnx-go's Model.SetInput relies on.
func (b *Backend) NewNode() graph.Node {
	return &Node{id: b.WeightedDirectedGraph.NewNode().ID(), b: b}
}

// AddNode adds a node made by NewNode (graph.NodeAdder).
func (b *Backend) AddNode(n graph.Node) {
	nd, ok := n.(*Node)
	if !ok || nd.b != b {
		panic(fmt.Sprintf("onnxgo: AddNode of a %T not made by this backend's NewNode", n))
	}
	b.WeightedDirectedGraph.AddNode(nd)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.event()
	nd.created, nd.valuePhase = b.seq, !b.edging
	b.lastAdd = nd
}

// SetWeightedEdge records an edge from an operator's output to its input;
// the weight is the input's position (graph.WeightedEdgeAdder). Unlike a
// simple graph it keeps every edge, so an operator that reads one value
// twice (Mul(x, x)) keeps both inputs.
func (b *Backend) SetWeightedEdge(e graph.WeightedEdge) {
	from, ok1 := e.From().(*Node)
	to, ok2 := e.To().(*Node)
	if !ok1 || !ok2 {
		panic(fmt.Sprintf("onnxgo: edge between %T and %T, not this backend's nodes", e.From(), e.To()))
	}
	b.mu.Lock()
	b.event()
	b.edging = true
	b.edges[from.id] = append(b.edges[from.id], inEdge{to: to, index: int(e.Weight())})
	b.mu.Unlock()
	if from.id != to.id { // "" is both an omitted input and an omitted output
		b.WeightedDirectedGraph.SetWeightedEdge(e)
	}
}

// ApplyOperation records the operator that computes outputs
// (onnx.OperationCarrier). Its inputs are read from the edges the decoder
// set from the outputs.
func (b *Backend) ApplyOperation(op onnx.Operation, outputs ...graph.Node) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.event()
	b.edging, b.decoded = true, true
	if b.plan != nil {
		return fmt.Errorf("onnxgo: operator %s added after the model was planned", op.Name)
	}
	o := &operation{op: op}
	var from *Node
	for _, out := range outputs {
		n, ok := out.(*Node)
		if !ok {
			return fmt.Errorf("onnxgo: %s output is a %T, not this backend's node", op.Name, out)
		}
		if n.name == "" {
			o.outputs = append(o.outputs, nil)
			continue
		}
		if n.producer != nil {
			return fmt.Errorf("onnxgo: %s output %q is already computed by %s", op.Name, n.name, n.producer.op.Name)
		}
		n.producer = o
		o.outputs = append(o.outputs, n)
		if from == nil {
			from = n
		}
	}
	if from == nil {
		return nil // every output omitted: nothing to compute
	}
	ins := b.edges[from.id]
	o.inputs = make([]*Node, 0, len(ins))
	for _, e := range ins {
		if e.index < 0 || e.index >= len(ins) {
			return fmt.Errorf("onnxgo: %s node -> %q: input position %d out of range", op.Name, from.name, e.index)
		}
		for len(o.inputs) <= e.index {
			o.inputs = append(o.inputs, nil)
		}
		if e.to.name != "" {
			o.inputs[e.index] = e.to
		}
	}
	// An operator without inputs (Constant) is given a made-up one,
	// "<node name>/input", that nothing sets: drop it.
	if len(o.inputs) == 1 && o.inputs[0] != nil && isMadeUpInput(o.inputs[0]) {
		o.inputs = nil
	}
	for _, in := range o.inputs {
		if in != nil {
			in.consumers++
		}
	}
	b.ops = append(b.ops, o)
	return nil
}

func isMadeUpInput(n *Node) bool {
	const suffix = "/input"
	return n.producer == nil && n.tensor == nil && len(n.name) >= len(suffix) && n.name[len(n.name)-len(suffix):] == suffix
}

// Run runs the model on the tensors set on its inputs and sets its outputs
// (backend.ComputationBackend). The first Run plans the model.
func (b *Backend) Run() error { return b.RunContext(context.Background()) }

// RunContext is Run with a context that cancels the run.
func (b *Backend) RunContext(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.plan == nil {
		p, err := b.buildPlan()
		if err != nil {
			return err
		}
		b.plan = p
	}
	return b.plan.run(ctx)
}

// Close releases the engine model the first Run planned.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.plan == nil || b.plan.model == nil {
		return nil
	}
	err := b.plan.model.Close()
	b.plan.model = nil
	return err
}

// Interface checks.
var (
	_ onnx.Backend     = (*Backend)(nil)
	_ onnx.Namer       = (*Node)(nil)
	_ onnx.DataCarrier = (*Node)(nil)
)

// Unmarshal decodes data into m with onnx-go's decoder
// (m.UnmarshalBinary). When onnx-go fails on a model agate's own decoder
// reads (a float16, int8, uint8 or string tensor, external data, an If or
// Loop subgraph), the error wraps ErrDecoderLoss and onnx-go's error.
func Unmarshal(m *onnx.Model, data []byte) error {
	err := m.UnmarshalBinary(data)
	if err == nil {
		return nil
	}
	if _, ierr := engine.Inspect(data); ierr == nil {
		return fmt.Errorf("%w: %w; agate's own decoder reads this model: load it with engine.Load", ErrDecoderLoss, err)
	}
	return fmt.Errorf("onnxgo: decoding the model: %w", err)
}
