package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/agate-ml/agate/ops"
)

// plan is a graph compiled for execution: values live in numbered slots,
// steps run in topological order, and each step lists the slots whose last
// use it is, so their buffers return to the arena right away.
type plan struct {
	names    []string    // slot -> value name
	consts   []ops.Value // slot -> constant (initializer or folded), nil if dynamic
	inputs   []planInput
	outputs  []int
	outNames []string
	outTypes []*ops.Type
	steps    []*step

	captures     []string // enclosing-scope names this graph reads
	captureSlots []int

	maxIn, maxOut int
	frames        framePool
}

type planInput struct {
	name string
	slot int
	typ  *ops.Type
	def  *ops.Tensor // initializer default for an overridable input
}

type step struct {
	node    *ops.Node
	kernel  ops.Kernel
	vkernel ops.ValueKernel
	inplace bool // control flow: runs on the caller's arena
	in      []int
	out     []int
	release []int
}

// dropPackedConstants lets go of the elements of every constant whose
// steps all keep it in a form of their own (ops.InputPacker: weights
// packed for the matrix kernels), so that a model does not hold its
// weights twice. The tensor itself stays, with its type and shape, as the
// value those steps receive and recognise; a constant that is a graph
// output, or that any other step reads, keeps its elements.
func (p *plan) dropPackedConstants() {
	packed := map[int]bool{}
	for _, st := range p.steps {
		pk, ok := st.kernel.(ops.InputPacker)
		ok = ok && st.vkernel == nil
		for i, s := range st.in {
			if s < 0 || p.consts[s] == nil {
				continue
			}
			this := ok && i < len(st.node.Inputs) && pk.PacksInput(i)
			if prev, seen := packed[s]; seen {
				this = this && prev
			}
			packed[s] = this
		}
	}
	for _, s := range p.outputs {
		delete(packed, s)
	}
	for s, ok := range packed {
		if t, isT := p.consts[s].(*ops.Tensor); ok && isT {
			t.Data = ops.MakeSlice(t.DType, 0)
		}
	}
}

// nonDeterministic ops are never constant-folded.
var nonDeterministic = map[string]bool{
	"RandomNormal": true, "RandomUniform": true, "RandomNormalLike": true,
	"RandomUniformLike": true, "Bernoulli": true, "Multinomial": true,
}

// compiler holds what compiling a graph (and its subgraphs) needs.
type compiler struct {
	reg  *ops.Registry
	fold bool
	// precision is handed to every kernel factory (ops.Node.Precision).
	precision ops.Precision
	// maxTensorBytes caps each tensor constant folding computes.
	maxTensorBytes int64
	// files are LoadFile's mappings: the pages of a node's constant inputs
	// are dropped once its kernel is built (mapped.go).
	files *mappedFiles
}

// foldTimeout bounds the constant folding of one step: a constant Loop of
// 1e15 iterations fails the load instead of hanging it.
const foldTimeout = 3 * time.Second

// compile plans g. Names g reads but does not define become captures when
// sub is true and are an error otherwise.
func (c *compiler) compile(g *graph, sub bool) (*plan, error) {
	p := &plan{}
	slotOf := map[string]int{}
	newSlot := func(name string) int {
		s := len(p.names)
		p.names = append(p.names, name)
		p.consts = append(p.consts, nil)
		slotOf[name] = s
		return s
	}
	for _, in := range g.inputs {
		if _, dup := slotOf[in.Name]; dup {
			return nil, fmt.Errorf("graph input %q declared twice", in.Name)
		}
		s := newSlot(in.Name)
		p.inputs = append(p.inputs, planInput{name: in.Name, slot: s, typ: in.Type, def: g.inits[in.Name]})
	}
	for _, name := range g.initList {
		if _, isInput := slotOf[name]; isInput {
			continue
		}
		s := newSlot(name)
		p.consts[s] = g.inits[name]
	}

	// Compile subgraphs first: their captures become extra inputs of the node.
	type nodeInfo struct {
		n        *gnode
		subplans map[string]*plan
		extra    []string
	}
	infos := make([]*nodeInfo, len(g.nodes))
	producer := map[string]int{}
	for i, n := range g.nodes {
		info := &nodeInfo{n: n}
		if len(n.subgraphs) > 0 {
			info.subplans = map[string]*plan{}
			seen := map[string]bool{}
			keys := make([]string, 0, len(n.subgraphs))
			for k := range n.subgraphs {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				sp, err := c.compile(n.subgraphs[k], true)
				if err != nil {
					return nil, fmt.Errorf("%s: subgraph %q: %w", n.describe(), k, err)
				}
				info.subplans[k] = sp
				for _, cap := range sp.captures {
					if !seen[cap] {
						seen[cap] = true
						info.extra = append(info.extra, cap)
					}
				}
			}
		}
		infos[i] = info
		for _, o := range n.outputs {
			if o == "" {
				continue
			}
			if _, ok := slotOf[o]; ok {
				return nil, fmt.Errorf("%s: output %q redefines a graph input or initializer", n.describe(), o)
			}
			if j, ok := producer[o]; ok {
				return nil, fmt.Errorf("%s: output %q is also produced by %s", n.describe(), o, g.nodes[j].describe())
			}
			producer[o] = i
		}
	}

	// Resolve every input name: graph input, initializer, node output, or capture.
	resolve := func(name string, who string) error {
		if _, ok := slotOf[name]; ok {
			return nil
		}
		if _, ok := producer[name]; ok {
			return nil
		}
		if sub {
			s := newSlot(name)
			p.captures = append(p.captures, name)
			p.captureSlots = append(p.captureSlots, s)
			return nil
		}
		return fmt.Errorf("%s reads %q, which no node produces and is neither a graph input nor an initializer", who, name)
	}
	for _, info := range infos {
		for _, in := range append(append([]string(nil), info.n.inputs...), info.extra...) {
			if in == "" {
				continue
			}
			if err := resolve(in, info.n.describe()); err != nil {
				return nil, err
			}
		}
	}
	for _, out := range g.outputs {
		if err := resolve(out.Name, fmt.Sprintf("graph output %q", out.Name)); err != nil {
			return nil, err
		}
	}

	// Dead-code elimination: keep only nodes that feed an output.
	needed := make([]bool, len(g.nodes))
	var stack []string
	for _, out := range g.outputs {
		stack = append(stack, out.Name)
	}
	for len(stack) > 0 {
		name := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		i, ok := producer[name]
		if !ok || needed[i] {
			continue
		}
		needed[i] = true
		for _, in := range infos[i].n.inputs {
			if in != "" {
				stack = append(stack, in)
			}
		}
		stack = append(stack, infos[i].extra...)
	}

	// Topological order (Kahn), stable with respect to file order.
	indeg := make([]int, len(g.nodes))
	users := make([][]int, len(g.nodes))
	for i, info := range infos {
		if !needed[i] {
			continue
		}
		for _, in := range append(append([]string(nil), info.n.inputs...), info.extra...) {
			if j, ok := producer[in]; ok && in != "" {
				if j == i {
					return nil, fmt.Errorf("%s reads its own output %q (cycle)", info.n.describe(), in)
				}
				indeg[i]++
				users[j] = append(users[j], i)
			}
		}
	}
	var ready []int
	for i := range g.nodes {
		if needed[i] && indeg[i] == 0 {
			ready = append(ready, i)
		}
	}
	var order []int
	for len(ready) > 0 {
		sort.Ints(ready)
		i := ready[0]
		ready = ready[1:]
		order = append(order, i)
		for _, u := range users[i] {
			indeg[u]--
			if indeg[u] == 0 {
				ready = append(ready, u)
			}
		}
	}
	count := 0
	for _, nd := range needed {
		if nd {
			count++
		}
	}
	if len(order) != count {
		for i := range g.nodes {
			if needed[i] && indeg[i] > 0 {
				return nil, fmt.Errorf("graph has a cycle through %s", infos[i].n.describe())
			}
		}
	}

	// Build kernels in order, folding constants as we go.
	for _, i := range order {
		info := infos[i]
		n := info.n
		for _, o := range n.outputs {
			if o != "" {
				newSlot(o)
			}
		}
		node := &ops.Node{Name: n.name, OpType: n.opType, Domain: n.domain, Version: n.version,
			Inputs: n.inputs, Outputs: n.outputs}
		attrs := make([]*ops.Attr, len(n.attrs))
		for k, a := range n.attrs {
			cp := *a
			if g, ok := a.G.(*graph); ok {
				cp.G = &subgraph{plan: info.subplans[a.Name], captures: info.extra, nin: len(n.inputs), name: a.Name}
				_ = g
			}
			if len(a.Graphs) > 0 {
				cp.Graphs = make([]any, len(a.Graphs))
				for j := range a.Graphs {
					cp.Graphs[j] = &subgraph{plan: info.subplans[fmt.Sprintf("%s#%d", a.Name, j)], captures: info.extra, nin: len(n.inputs)}
				}
			}
			attrs[k] = &cp
		}
		node.Attrs = ops.NewAttrs(attrs...)
		st := &step{node: node}
		allConst := true
		node.ConstInputs = make([]*ops.Tensor, len(n.inputs))
		node.InputTypes = make([]*ops.Type, len(n.inputs))
		for k, in := range n.inputs {
			if in == "" {
				st.in = append(st.in, -1)
				continue
			}
			s := slotOf[in]
			st.in = append(st.in, s)
			if t, ok := p.consts[s].(*ops.Tensor); ok {
				node.ConstInputs[k] = t
				node.InputTypes[k] = ops.TypeOfValue(t)
			} else {
				allConst = allConst && p.consts[s] != nil
				node.InputTypes[k] = g.types[in]
			}
		}
		for _, in := range info.extra {
			s := slotOf[in]
			st.in = append(st.in, s)
			allConst = allConst && p.consts[s] != nil
		}
		for _, o := range n.outputs {
			if o == "" {
				st.out = append(st.out, -1)
			} else {
				st.out = append(st.out, slotOf[o])
			}
		}
		if !(c.fold && allConst) {
			// Constants are folded in float32 whatever the precision.
			node.Precision = c.precision
		}
		k, err := c.reg.Build(node)
		if err != nil {
			return nil, err
		}
		// A kernel may implement both interfaces (Identity): the tensor
		// path runs when every input is a tensor.
		if vk, ok := k.(ops.ValueKernel); ok {
			st.vkernel = vk
			_, st.inplace = k.(arenaSafe)
		}
		if tk, ok := k.(ops.Kernel); ok {
			st.kernel = tk
		}
		if c.fold && allConst && !nonDeterministic[n.opType] {
			vals, err := c.foldStep(p, st)
			if err != nil {
				return nil, fmt.Errorf("%s: constant folding: %w", n.describe(), err)
			}
			for j, s := range st.out {
				if s >= 0 {
					p.consts[s] = vals[j]
				}
			}
			c.releaseInputs(node)
			continue
		}
		c.releaseInputs(node)
		p.steps = append(p.steps, st)
		if len(st.in) > p.maxIn {
			p.maxIn = len(st.in)
		}
		if len(st.out) > p.maxOut {
			p.maxOut = len(st.out)
		}
	}
	for _, out := range g.outputs {
		p.outputs = append(p.outputs, slotOf[out.Name])
		p.outNames = append(p.outNames, out.Name)
		p.outTypes = append(p.outTypes, out.Type)
	}
	p.computeLiveness()
	p.frames.p = p
	return p, nil
}

// releaseInputs drops the resident pages of the node's constant inputs
// that view a mapped file, once its kernel is built (or folded). A matrix
// kernel has packed its weights by then, and any other reader faults the
// pages in again when it needs them: without this a BERT-base would hold
// its mapped weights and their packed copies at once.
func (c *compiler) releaseInputs(node *ops.Node) {
	for _, t := range node.ConstInputs {
		c.files.release(t)
	}
}

// foldStep runs a step whose inputs are all constants, on the heap,
// within the tensor budget and foldTimeout.
func (c *compiler) foldStep(p *plan, st *step) (vals []ops.Value, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), foldTimeout)
	defer cancel()
	defer func() {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("computing this constant took longer than %v: %w", foldTimeout, err)
		}
	}()
	ec := ops.NewContext(ctx, nil, nil)
	ec.MaxTensorBytes = c.maxTensorBytes
	vals = make([]ops.Value, len(st.out))
	if st.kernel != nil && (st.vkernel == nil || allTensors(p.consts, st.in)) {
		in := make([]*ops.Tensor, len(st.in))
		for i, s := range st.in {
			if s >= 0 {
				t, ok := p.consts[s].(*ops.Tensor)
				if !ok {
					return nil, fmt.Errorf("input %d is not a tensor", i)
				}
				in[i] = t
			}
		}
		out := make([]*ops.Tensor, len(st.out))
		if err := runKernel(st.kernel, ec, in, out); err != nil {
			return nil, err
		}
		for i, t := range out {
			if t == nil && st.out[i] >= 0 {
				return nil, fmt.Errorf("kernel produced no output %d", i)
			}
			if t != nil {
				vals[i] = t
			}
		}
		return vals, nil
	}
	in := make([]ops.Value, len(st.in))
	for i, s := range st.in {
		if s >= 0 {
			in[i] = p.consts[s]
		}
	}
	if err := runValueKernel(st.vkernel, ec, in, vals); err != nil {
		return nil, err
	}
	return vals, nil
}

// computeLiveness records, for each step, the slots it reads for the last
// time. Graph outputs are never released.
func (p *plan) computeLiveness() {
	last := make([]int, len(p.names))
	for i := range last {
		last[i] = -1
	}
	for i, st := range p.steps {
		for _, s := range st.in {
			if s >= 0 {
				last[s] = i
			}
		}
		for _, s := range st.out {
			if s >= 0 && last[s] < i {
				last[s] = i // produced but never read: release right away
			}
		}
	}
	for _, s := range p.outputs {
		last[s] = len(p.steps)
	}
	owned := make([]bool, len(p.names))
	for _, st := range p.steps {
		for _, s := range st.out {
			if s >= 0 {
				owned[s] = true
			}
		}
	}
	for s, i := range last {
		if owned[s] && i >= 0 && i < len(p.steps) {
			p.steps[i].release = append(p.steps[i].release, s)
		}
	}
}

// arenaSafe marks value kernels (control flow) that manage arena-owned
// tensors correctly and so run on the caller's arena.
type arenaSafe interface{ arenaSafe() }

func allTensors(vals []ops.Value, slots []int) bool {
	for _, s := range slots {
		if s < 0 {
			continue
		}
		if _, ok := vals[s].(*ops.Tensor); !ok {
			return false
		}
	}
	return true
}
