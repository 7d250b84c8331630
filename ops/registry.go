// Package ops holds the engine's kernels, the ai.onnx, ai.onnx.ml,
// com.microsoft and ai.onnx.preview operators models are run with (one file
// per operator family), and the Registry that maps a node to its kernel.
// DefaultRegistry holds them all.
//
// Families that are here for the completeness of the ONNX operator set
// rather than for the models agate is tuned for live in subpackages, each
// with a Register function: imagedecode (ImageDecoder), signal (DFT, STFT,
// window functions, MelWeightMatrix) and training (the
// ai.onnx.preview.training optimizers). engine.DefaultRegistry adds them to
// DefaultRegistry's kernels.
package ops

import (
	"fmt"
	"sort"
	"strings"
)

// Domains of the operator sets agate implements. The empty domain is an
// alias of ai.onnx.
const (
	DomainONNX      = "ai.onnx"
	DomainML        = "ai.onnx.ml"
	DomainMicrosoft = "com.microsoft"
)

// CanonicalDomain maps the empty domain to ai.onnx.
func CanonicalDomain(d string) string {
	if d == "" {
		return DomainONNX
	}
	return d
}

// Node is what a kernel factory sees of a graph node at plan time.
type Node struct {
	Name    string
	OpType  string
	Domain  string // canonical (never empty)
	Version int    // opset version of Domain imported by the model
	Attrs   *Attrs
	Inputs  []string // input value names; "" for an omitted optional input
	Outputs []string // output value names; "" for an omitted optional output

	// ConstInputs[i] is the value of input i when it is known at plan time
	// (an initializer or a folded constant), nil otherwise. Kernels may
	// precompute from it (pack weights, fix shapes) but must still accept
	// the value again at run time.
	ConstInputs []*Tensor

	// InputTypes[i] is the declared or inferred type of input i, or nil.
	InputTypes []*Type

	// Precision is the arithmetic asked for the model's float32 matrix
	// products; kernels that pack constant weights pack them for it.
	Precision Precision
}

// Describe formats the node for error messages: `Add node "add_1" (ai.onnx opset 17)`.
func (n *Node) Describe() string {
	name := n.Name
	if name == "" && len(n.Outputs) > 0 {
		name = "-> " + n.Outputs[0]
	}
	return fmt.Sprintf("%s node %q (%s opset %d)", n.OpType, name, n.Domain, n.Version)
}

// NumInputs returns how many inputs are present (not omitted) up to the last.
func (n *Node) NumInputs() int { return len(n.Inputs) }

// HasInput reports whether input i is present.
func (n *Node) HasInput(i int) bool { return i < len(n.Inputs) && n.Inputs[i] != "" }

// Kernel runs one node on tensors. in[i] is nil for an omitted optional
// input; the kernel sets every out[i] (allocating through ec) before it
// returns nil. Kernels are created once per node at plan time and are called
// concurrently by independent runs, so they must not mutate their own state.
// A kernel must never store an input pointer in out; it returns ec.View(in)
// to alias.
type Kernel interface {
	Run(ec *Context, in, out []*Tensor) error
}

// InputPacker is implemented by kernels that keep a constant input in a
// form of their own (weights packed for a matrix kernel). PacksInput(i)
// reports that, when input i at run time is the very constant tensor the
// node was built with, the kernel reads only its type and shape: the
// engine may then drop the constant's elements once every step using it
// says so.
type InputPacker interface {
	PacksInput(i int) bool
}

// ValueKernel is a kernel over general values (sequences, maps, optionals).
// A kernel implementing it is called through RunValues instead of Run.
type ValueKernel interface {
	RunValues(ec *Context, in, out []Value) error
}

// KernelFunc adapts a function to the Kernel interface.
type KernelFunc func(ec *Context, in, out []*Tensor) error

// Run calls f.
func (f KernelFunc) Run(ec *Context, in, out []*Tensor) error { return f(ec, in, out) }

// Factory builds the kernel for one node, validating its attributes. The
// returned value implements Kernel or ValueKernel.
type Factory func(n *Node) (any, error)

type entry struct {
	since   int
	factory Factory
}

// Registry maps (domain, op type, opset version) to kernel factories.
type Registry struct {
	ops map[string][]entry // key: domain + "/" + opType, sorted by since
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{ops: map[string][]entry{}} }

// DefaultRegistry returns a new registry holding every kernel in this
// package (not those of its subpackages; see the package comment).
func DefaultRegistry() *Registry {
	r := NewRegistry()
	for _, reg := range families {
		reg(r)
	}
	return r
}

// Add registers a factory for op in domain from opset version since on
// (until the next registration of the same op with a higher since).
func (r *Registry) Add(domain, op string, since int, f Factory) {
	key := CanonicalDomain(domain) + "/" + op
	list := append(r.ops[key], entry{since, f})
	sort.Slice(list, func(i, j int) bool { return list[i].since < list[j].since })
	r.ops[key] = list
}

// AddKernel registers a kernel with no attributes to validate.
func (r *Registry) AddKernel(domain, op string, since int, k Kernel) {
	r.Add(domain, op, since, func(*Node) (any, error) { return k, nil })
}

// Lookup returns the factory for op in domain at the given opset version.
func (r *Registry) Lookup(domain, op string, version int) (Factory, bool) {
	list := r.ops[CanonicalDomain(domain)+"/"+op]
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].since <= version {
			return list[i].factory, true
		}
	}
	return nil, false
}

// NewestOpset returns the highest opset version any kernel of domain is
// registered from (0 when the domain has none).
func (r *Registry) NewestOpset(domain string) int {
	prefix := CanonicalDomain(domain) + "/"
	newest := 0
	for key, list := range r.ops {
		if strings.HasPrefix(key, prefix) && len(list) > 0 {
			newest = max(newest, list[len(list)-1].since)
		}
	}
	return newest
}

// Ops lists the registered "domain/op" keys in sorted order.
func (r *Registry) Ops() []string {
	keys := make([]string, 0, len(r.ops))
	for k := range r.ops {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Build creates the kernel for n, wrapping errors with the node's description.
func (r *Registry) Build(n *Node) (any, error) {
	f, ok := r.Lookup(n.Domain, n.OpType, n.Version)
	if !ok {
		return nil, fmt.Errorf("%s: %w", n.Describe(), ErrUnsupported)
	}
	if n.Attrs == nil {
		n.Attrs = NewAttrs()
	}
	k, err := f(n)
	if err == nil {
		err = n.Attrs.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.Describe(), err)
	}
	switch k.(type) {
	case Kernel, ValueKernel:
	default:
		return nil, fmt.Errorf("%s: factory returned %T, not a kernel", n.Describe(), k)
	}
	return k, nil
}

// ErrUnsupported is returned (wrapped) for an op the registry lacks.
var ErrUnsupported = fmt.Errorf("operator not implemented")
