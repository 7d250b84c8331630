package engine

import (
	"fmt"
	"sync"

	"github.com/agate-ml/agate/ops"
)

// frame is one execution's slot storage and scratch slices, recycled
// through the plan's pool so a steady-state run allocates nothing for them.
type frame struct {
	vals []ops.Value
	tin  []*ops.Tensor
	tout []*ops.Tensor
	vin  []ops.Value
	vout []ops.Value
}

type framePool struct {
	p    *plan
	pool sync.Pool
}

func (fp *framePool) get() *frame {
	if f, ok := fp.pool.Get().(*frame); ok {
		return f
	}
	p := fp.p
	return &frame{
		vals: make([]ops.Value, len(p.names)),
		tin:  make([]*ops.Tensor, p.maxIn),
		tout: make([]*ops.Tensor, p.maxOut),
		vin:  make([]ops.Value, p.maxIn),
		vout: make([]ops.Value, p.maxOut),
	}
}

func (fp *framePool) put(f *frame) {
	clear(f.vals)
	clear(f.tin)
	clear(f.tout)
	clear(f.vin)
	clear(f.vout)
	fp.pool.Put(f)
}

// releaseValue returns an arena-owned tensor to the arena.
func releaseValue(ec *ops.Context, v ops.Value) {
	if t, ok := v.(*ops.Tensor); ok && t.Recyclable() {
		ec.Release(t)
	}
}

// run executes the plan. inputs follow p.inputs (nil means use the
// initializer default); captures follow p.captures. The returned values are
// owned by the caller (distinct from any input, capture or constant).
func (p *plan) run(ec *ops.Context, inputs, captures []ops.Value, outs []ops.Value) error {
	return p.runBound(ec, inputs, captures, outs, nil)
}

// runBound is run with, in bind (nil, or one entry per graph output), the
// caller's tensors to compute outputs into: each is offered to the arena
// (ops.Arena.Bind) around the step that produces its output, so a kernel
// allocating that output writes it in place.
func (p *plan) runBound(ec *ops.Context, inputs, captures []ops.Value, outs []ops.Value, bind []*ops.Tensor) error {
	f := p.frames.get()
	defer p.frames.put(f)
	vals := f.vals
	for s, c := range p.consts {
		if c != nil {
			vals[s] = c
		}
	}
	for i, in := range p.inputs {
		v := inputs[i]
		if v == nil && in.def != nil {
			v = in.def
		}
		vals[in.slot] = v
	}
	for i, s := range p.captureSlots {
		vals[s] = captures[i]
	}
	for _, st := range p.steps {
		if err := ec.Ctx.Err(); err != nil {
			p.releaseAll(ec, f)
			return err
		}
		bound := bind != nil && p.bindStep(ec.Arena(), st, bind)
		err := p.runStep(ec, f, st)
		if bound {
			ec.Arena().Unbind()
			if err == nil {
				p.unalias(ec, f, st, bind)
			}
		}
		if err != nil {
			p.releaseAll(ec, f)
			return err
		}
	}
	for i, s := range p.outputs {
		v := vals[s]
		if v == nil {
			return fmt.Errorf("graph output %q was not computed", p.outNames[i])
		}
		outs[i] = v
	}
	// An output may appear twice, or be an input, capture or constant: give
	// the caller distinct values it can own and release.
	for i, v := range outs[:len(p.outputs)] {
		t, ok := v.(*ops.Tensor)
		if !ok {
			continue
		}
		owned := t.Recyclable() && p.isProduced(p.outputs[i])
		for j := 0; j < i && owned; j++ {
			owned = outs[j] != v
		}
		if !owned {
			outs[i] = ec.View(t, t.Shape...)
		}
	}
	return nil
}

// bindStep offers arena a the caller's tensors of the graph outputs st
// produces, reporting whether it offered any. The arena hands each to the
// step's first allocation of its type and shape: a scratch tensor taking
// it is harmless (the output is copied in after the run, as for an
// unbound step), and another output taking it is moved out by unalias.
func (p *plan) bindStep(a *ops.Arena, st *step, bind []*ops.Tensor) bool {
	if a == nil {
		return false
	}
	offered := false
	for _, s := range st.out {
		for i, o := range p.outputs {
			if o == s && s >= 0 && bind[i] != nil {
				a.Bind(bind[i])
				offered = true
			}
		}
	}
	return offered
}

// unalias gives every output of a bound step that took the storage of a
// caller's tensor bound to another graph output (a Split whose first
// output was allocated before the bound second one) a copy of its own, so
// that the copy into that tensor after the run does not overwrite it.
func (p *plan) unalias(ec *ops.Context, f *frame, st *step, bind []*ops.Tensor) {
	for _, s := range st.out {
		t, ok := f.vals[max(s, 0)].(*ops.Tensor)
		if s < 0 || !ok {
			continue
		}
		for i, o := range p.outputs {
			if o != s && bind[i] != nil && t.SharesData(bind[i]) {
				c := ec.Empty(t.DType, t.Shape...)
				ops.CopySlice(c.Data, t.Data)
				releaseValue(ec, t)
				f.vals[s] = c
				break
			}
		}
	}
}

func (p *plan) isProduced(slot int) bool {
	if p.consts[slot] != nil {
		return false
	}
	for _, in := range p.inputs {
		if in.slot == slot {
			return false
		}
	}
	for _, s := range p.captureSlots {
		if s == slot {
			return false
		}
	}
	return true
}

// releaseAll frees what a failed run still holds.
func (p *plan) releaseAll(ec *ops.Context, f *frame) {
	for _, st := range p.steps {
		for _, s := range st.out {
			if s >= 0 && f.vals[s] != nil {
				releaseValue(ec, f.vals[s])
				f.vals[s] = nil
			}
		}
	}
}

func (p *plan) runStep(ec *ops.Context, f *frame, st *step) error {
	vals := f.vals
	if st.kernel != nil && (st.vkernel == nil || allTensors(vals, st.in)) {
		in := f.tin[:len(st.in)]
		for i, s := range st.in {
			if s < 0 {
				in[i] = nil
				continue
			}
			switch v := vals[s].(type) {
			case *ops.Tensor:
				in[i] = v
			case nil:
				return fmt.Errorf("%s: input %q has no value", st.node.Describe(), p.names[s])
			case *ops.Optional:
				t, ok := v.Elem.(*ops.Tensor)
				if !ok {
					return fmt.Errorf("%s: input %q is an optional without a tensor", st.node.Describe(), p.names[s])
				}
				in[i] = t
			default:
				return fmt.Errorf("%s: input %q is a %T, the op needs a tensor", st.node.Describe(), p.names[s], v)
			}
		}
		out := f.tout[:len(st.out)]
		clear(out)
		if err := runKernel(st.kernel, ec, in, out); err != nil {
			return fmt.Errorf("%s: %w", st.node.Describe(), err)
		}
		for i, t := range out {
			if t == nil {
				if st.out[i] >= 0 {
					return fmt.Errorf("%s: kernel produced no output %d", st.node.Describe(), i)
				}
				continue
			}
			for _, x := range in {
				if x == t {
					t = ec.View(t, t.Shape...)
					break
				}
			}
			if s := st.out[i]; s >= 0 {
				vals[s] = t
			} else {
				releaseValue(ec, t)
			}
		}
	} else {
		in := f.vin[:len(st.in)]
		for i, s := range st.in {
			if s < 0 {
				in[i] = nil
				continue
			}
			in[i] = vals[s]
		}
		out := f.vout[:len(st.out)]
		clear(out)
		kec := ec
		if !st.inplace {
			// Sequences, maps and optionals keep tensors beyond slot
			// lifetimes: give such kernels heap copies and heap allocation.
			for i, v := range in {
				if t, ok := v.(*ops.Tensor); ok && t.Recyclable() {
					in[i] = t.Clone()
				}
			}
			kec = ops.NewContext(ec.Ctx, ec.Workers, nil)
			kec.Scope = ec.Scope
			kec.MaxTensorBytes = ec.MaxTensorBytes
		}
		if err := runValueKernel(st.vkernel, kec, in, out); err != nil {
			return fmt.Errorf("%s: %w", st.node.Describe(), err)
		}
		for i, v := range out {
			if v == nil {
				if st.out[i] >= 0 {
					return fmt.Errorf("%s: kernel produced no output %d", st.node.Describe(), i)
				}
				continue
			}
			if s := st.out[i]; s >= 0 {
				vals[s] = v
			} else {
				releaseValue(ec, v)
			}
		}
	}
	for _, s := range st.release {
		if v := vals[s]; v != nil {
			releaseValue(ec, v)
			vals[s] = nil
		}
	}
	return nil
}

// subgraph is a compiled graph attribute, as control-flow kernels see it.
// captures lists the enclosing-scope values the node receives after its
// nin regular inputs; the subgraph's own captures are a subset of them.
type subgraph struct {
	plan     *plan
	captures []string
	nin      int
	name     string
	capIndex []int // plan.captures[i] is node capture capIndex[i]
	once     sync.Once
}

// call runs the subgraph with the given inputs; nodeIn is the node's full
// input list (regular inputs followed by captures).
func (sg *subgraph) call(ec *ops.Context, inputs []ops.Value, nodeIn []ops.Value, outs []ops.Value) error {
	sg.once.Do(func() {
		sg.capIndex = make([]int, len(sg.plan.captures))
		for i, name := range sg.plan.captures {
			for j, c := range sg.captures {
				if c == name {
					sg.capIndex[i] = j
				}
			}
		}
	})
	var caps []ops.Value
	if len(sg.capIndex) > 0 {
		caps = make([]ops.Value, len(sg.capIndex))
		for i, j := range sg.capIndex {
			caps[i] = nodeIn[sg.nin+j]
		}
	}
	if len(inputs) != len(sg.plan.inputs) {
		return fmt.Errorf("subgraph %q takes %d inputs, got %d", sg.name, len(sg.plan.inputs), len(inputs))
	}
	return sg.plan.run(ec, inputs, caps, outs)
}

// CallGraph runs the subgraph for a kernel with a graph attribute
// (ops.GraphCaller): in holds the subgraph's inputs, nodeIn the node's full
// input list (its inputs, then the enclosing-scope values it captures).
func (sg *subgraph) CallGraph(ec *ops.Context, in, nodeIn []ops.Value) ([]ops.Value, error) {
	outs := make([]ops.Value, len(sg.plan.outputs))
	if err := sg.call(ec, in, nodeIn, outs); err != nil {
		return nil, err
	}
	return outs, nil
}

var _ ops.GraphCaller = (*subgraph)(nil)

// runKernel runs k, turning a tensor request over the context's budget
// into an error.
func runKernel(k ops.Kernel, ec *ops.Context, in, out []*ops.Tensor) (err error) {
	defer ops.RecoverBudget(&err)
	return k.Run(ec, in, out)
}

// runValueKernel is runKernel for value kernels.
func runValueKernel(k ops.ValueKernel, ec *ops.Context, in, out []ops.Value) (err error) {
	defer ops.RecoverBudget(&err)
	return k.RunValues(ec, in, out)
}
