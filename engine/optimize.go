package engine

import (
	"fmt"
	"math"

	"github.com/agate-ml/agate/ops"
)

// The graph optimizer rewrites subgraphs that exporters emit for common
// transformer blocks into single fused kernels:
//
//   - decomposed LayerNorm (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div,
//     Mul, Add) becomes LayerNormalization;
//   - a residual Add feeding a LayerNorm becomes com.microsoft
//     SkipLayerNormalization, absorbing the bias of a preceding MatMul;
//   - GELU in its erf form (Div, Erf, Add, Mul, Mul) after MatMul + bias
//     becomes ai.agate FusedMatMul with a gelu epilogue, else Gelu; its
//     tanh forms (gelu_new's Pow(x, 3) and torch's x·x·x) become
//     FusedMatMul with a gelu_tanh epilogue, else FastGelu;
//   - the attention block (Reshape/Transpose of Q, K, V, MatMul, scale, mask
//     Add, Softmax, MatMul, Transpose, Reshape) becomes ai.agate
//     SelfAttention working on the [batch, seq, hidden] layout directly;
//     the scale may also sit on Q and Kᵀ before the product (torch's
//     scaled_dot_product_attention, DistilBERT) and the mask may be applied
//     with Where (DistilBERT's masked_fill), which becomes an additive mask;
//   - a remaining MatMul + bias Add becomes FusedMatMul;
//   - Conv followed by a residual Add and/or Relu or Clip becomes ai.agate
//     FusedConv (optimize_conv.go).
//
// Each rewrite only fires when every intermediate value has a single use,
// so the rewritten graph computes the same outputs.

type optimizer struct {
	g     *graph
	prod  map[string]*gnode
	cons  map[string][]*gnode // consumers in the top-level graph
	uses  map[string]int
	dead  map[*gnode]bool
	repl  map[*gnode]*gnode   // anchor -> fused node taking its place
	extra map[*gnode][]*gnode // anchor -> nodes inserted before the fused node
	names map[string]bool     // value names the optimizer has introduced
	fused int
}

// optimize applies every rewrite to g (not to subgraphs) and reports how
// many were made.
func optimize(g *graph) int {
	o := &optimizer{g: g}
	total := 0
	for _, pass := range []func(*gnode){o.attention, o.layerNorm, o.skipLayerNorm, o.gelu, o.geluTanh, o.matMulBias, o.convActivation, o.convAdd} {
		o.index()
		for _, n := range g.nodes {
			if !o.dead[n] {
				pass(n)
			}
		}
		total += o.fused
		o.apply()
	}
	return total
}

func (o *optimizer) index() {
	o.prod = map[string]*gnode{}
	o.uses = map[string]int{}
	o.dead = map[*gnode]bool{}
	o.repl = map[*gnode]*gnode{}
	o.extra = map[*gnode][]*gnode{}
	o.fused = 0
	var count func(g *graph)
	count = func(g *graph) {
		for _, n := range g.nodes {
			for _, in := range n.inputs {
				o.uses[in]++
			}
			for _, sg := range n.subgraphs {
				count(sg)
			}
		}
		for _, out := range g.outputs {
			o.uses[out.Name]++
		}
	}
	count(o.g)
	o.cons = map[string][]*gnode{}
	for _, n := range o.g.nodes {
		for _, out := range n.outputs {
			o.prod[out] = n
		}
		for _, in := range n.inputs {
			o.cons[in] = append(o.cons[in], n)
		}
	}
}

// leadingDimShapes returns the Shape nodes reading name whose results are
// only used to pick dimension 0 or 1 (Gather with a constant index), the way
// exporters compute reshape targets. Such reads can be redirected to any
// tensor sharing those two leading dimensions.
func (o *optimizer) leadingDimShapes(name string) ([]*gnode, bool) {
	var shapes []*gnode
	for _, c := range o.cons[name] {
		if c.opType != "Shape" {
			continue
		}
		if len(c.attrs) > 0 {
			return nil, false
		}
		for _, g := range o.cons[c.outputs[0]] {
			if g.opType != "Gather" || attrInt(g, "axis", 0) != 0 || len(g.inputs) != 2 {
				return nil, false
			}
			idx, ok := o.constScalar(g.inputs[1])
			if !ok || (idx != 0 && idx != 1) {
				return nil, false
			}
		}
		if o.uses[c.outputs[0]] != len(o.cons[c.outputs[0]]) {
			return nil, false // also a graph output
		}
		shapes = append(shapes, c)
	}
	return shapes, true
}

func (o *optimizer) apply() {
	nodes := o.g.nodes[:0:0]
	for _, n := range o.g.nodes {
		if r, ok := o.repl[n]; ok {
			nodes = append(append(nodes, o.extra[n]...), r)
			continue
		}
		if !o.dead[n] {
			nodes = append(nodes, n)
		}
	}
	o.g.nodes = nodes
}

// replace kills the matched nodes and puts fused in the anchor's place.
func (o *optimizer) replace(anchor *gnode, fused *gnode, matched ...*gnode) {
	for _, m := range matched {
		o.dead[m] = true
	}
	o.dead[anchor] = true
	o.repl[anchor] = fused
	o.fused++
}

// single returns the live producer of name if it has the given op type and
// name has exactly one use.
func (o *optimizer) single(name, op string) *gnode {
	n := o.producer(name, op)
	if n == nil || o.uses[name] != 1 {
		return nil
	}
	return n
}

func (o *optimizer) producer(name, op string) *gnode {
	n, ok := o.prod[name]
	if !ok || o.dead[n] || n.opType != op || n.domain != ops.DomainONNX || len(n.outputs) != 1 {
		return nil
	}
	return n
}

// constTensor returns the value of an initializer or Constant node output.
func (o *optimizer) constTensor(name string) *ops.Tensor {
	if t, ok := o.g.inits[name]; ok {
		if o.isInput(name) {
			return nil // overridable at run time
		}
		return t
	}
	n, ok := o.prod[name]
	if !ok || o.dead[n] {
		return nil
	}
	switch n.opType {
	case "Constant":
		for _, a := range n.attrs {
			switch a.Name {
			case "value":
				return a.T
			case "value_float":
				return ops.Scalar(a.F)
			case "value_int":
				return ops.Scalar(a.I)
			case "value_floats":
				return ops.FromSlice(ops.Float, a.Floats, len(a.Floats))
			case "value_ints":
				return ops.FromSlice(ops.Int64, a.Ints, len(a.Ints))
			}
		}
	case "Identity":
		return o.constTensor(n.inputs[0])
	}
	return nil
}

func (o *optimizer) isInput(name string) bool {
	for _, in := range o.g.inputs {
		if in.Name == name {
			return true
		}
	}
	return false
}

// constScalar returns a one-element numeric constant as float64.
func (o *optimizer) constScalar(name string) (float64, bool) {
	t := o.constTensor(name)
	if t == nil || t.Len() != 1 {
		return 0, false
	}
	v, err := t.AsFloat64s()
	if err != nil {
		return 0, false
	}
	return v[0], true
}

// isConst1D reports a float constant vector (a bias or a LayerNorm
// weight): float32, or float16/bfloat16, which the fused kernels take
// through their half-precision adapter.
func (o *optimizer) isConst1D(name string) bool {
	t := o.constTensor(name)
	return t != nil && fusableFloat(t.DType) && len(t.Shape) == 1
}

func (o *optimizer) isConstMatrix(name string) bool {
	t := o.constTensor(name)
	return t != nil && fusableFloat(t.DType) && len(t.Shape) == 2
}

// fusableFloat reports the element types the fused kernels run.
func fusableFloat(dt ops.DType) bool {
	return dt == ops.Float || dt == ops.Float16 || dt == ops.BFloat16
}

// near matches a pattern's constant: within float16's rounding (about
// 5e-4 relative), so that half-precision exports fuse like float32 ones.
func near(v, want float64) bool { return math.Abs(v-want) <= 1e-3*math.Max(1, math.Abs(want)) }

// otherInput returns the input of a binary node that is not name.
func otherInput(n *gnode, name string) (string, bool) {
	if len(n.inputs) != 2 {
		return "", false
	}
	switch name {
	case n.inputs[0]:
		return n.inputs[1], true
	case n.inputs[1]:
		return n.inputs[0], true
	}
	return "", false
}

func attrInts(n *gnode, name string) []int64 {
	for _, a := range n.attrs {
		if a.Name == name {
			return a.Ints
		}
	}
	return nil
}

func attrFloat(n *gnode, name string, def float32) float32 {
	for _, a := range n.attrs {
		if a.Name == name && a.Type == ops.AttrFloat {
			return a.F
		}
	}
	return def
}

func attrInt(n *gnode, name string, def int64) int64 {
	for _, a := range n.attrs {
		if a.Name == name && a.Type == ops.AttrInt {
			return a.I
		}
	}
	return def
}

func newFusedNode(like *gnode, domain, op string, version int, inputs []string, attrs ...*ops.Attr) *gnode {
	return &gnode{name: like.name + "/fused_" + op, opType: op, domain: domain, version: version,
		inputs: inputs, outputs: []string{like.outputs[0]}, attrs: attrs}
}

func intAttr(name string, v int64) *ops.Attr { return &ops.Attr{Name: name, Type: ops.AttrInt, I: v} }
func floatAttr(name string, v float32) *ops.Attr {
	return &ops.Attr{Name: name, Type: ops.AttrFloat, F: v}
}
func stringAttr(name, v string) *ops.Attr { return &ops.Attr{Name: name, Type: ops.AttrString, S: v} }

// lastAxisMean matches ReduceMean over the last axis (attribute or input form).
func (o *optimizer) lastAxisMean(n *gnode) bool {
	if n == nil || n.opType != "ReduceMean" || attrInt(n, "keepdims", 1) != 1 {
		return false
	}
	axes := attrInts(n, "axes")
	if len(n.inputs) > 1 {
		t := o.constTensor(n.inputs[1])
		if t == nil {
			return false
		}
		axes, _ = t.AsInt64s()
	}
	return len(axes) == 1 && axes[0] == -1
}

// layerNorm: y = (x - mean) / sqrt(var + eps) * gamma + beta.
func (o *optimizer) layerNorm(add *gnode) {
	if add.opType != "Add" || add.domain != ops.DomainONNX {
		return
	}
	for _, mulName := range add.inputs {
		beta, _ := otherInput(add, mulName)
		mul := o.single(mulName, "Mul")
		if mul == nil || !o.isConst1D(beta) {
			continue
		}
		for _, divName := range mul.inputs {
			gamma, _ := otherInput(mul, divName)
			div := o.single(divName, "Div")
			if div == nil || !o.isConst1D(gamma) {
				continue
			}
			sub := o.producer(div.inputs[0], "Sub")
			sqrt := o.single(div.inputs[1], "Sqrt")
			if sub == nil || sqrt == nil || o.uses[sub.outputs[0]] != 2 {
				continue
			}
			addEps := o.single(sqrt.inputs[0], "Add")
			if addEps == nil {
				continue
			}
			var varMean *gnode
			var eps float64
			for _, in := range addEps.inputs {
				other, _ := otherInput(addEps, in)
				if v, ok := o.constScalar(other); ok {
					if m := o.single(in, "ReduceMean"); m != nil {
						varMean, eps = m, v
					}
				}
			}
			if !o.lastAxisMean(varMean) {
				continue
			}
			pow := o.single(varMean.inputs[0], "Pow")
			if pow == nil || pow.inputs[0] != sub.outputs[0] {
				continue
			}
			if e, ok := o.constScalar(pow.inputs[1]); !ok || e != 2 {
				continue
			}
			x := sub.inputs[0]
			mean := o.single(sub.inputs[1], "ReduceMean")
			if !o.lastAxisMean(mean) || mean.inputs[0] != x {
				continue
			}
			ln := newFusedNode(add, ops.DomainONNX, "LayerNormalization", 17, []string{x, gamma, beta},
				intAttr("axis", -1), floatAttr("epsilon", float32(eps)))
			o.replace(add, ln, mul, div, sub, sqrt, addEps, varMean, pow, mean)
			return
		}
	}
}

// skipLayerNorm: LayerNormalization(a + b) with the sum used once becomes
// SkipLayerNormalization; a bias added to a MatMul output in a or b moves
// into its bias input.
func (o *optimizer) skipLayerNorm(ln *gnode) {
	if ln.opType != "LayerNormalization" || len(ln.inputs) != 3 || len(ln.outputs) != 1 {
		return
	}
	if attrInt(ln, "axis", -1) != -1 {
		return
	}
	add := o.single(ln.inputs[0], "Add")
	if add == nil {
		return
	}
	a, b := add.inputs[0], add.inputs[1]
	matched := []*gnode{add}
	inputs := []string{a, b, ln.inputs[1], ln.inputs[2]}
	for i, side := range []string{a, b} {
		if bias := o.single(side, "Add"); bias != nil {
			for _, mmOut := range bias.inputs {
				c, _ := otherInput(bias, mmOut)
				if o.producer(mmOut, "MatMul") != nil && o.isConst1D(c) {
					inputs[i] = mmOut
					inputs = append(inputs, c)
					matched = append(matched, bias)
					break
				}
			}
			if len(inputs) == 5 {
				// the skip input is the other side
				inputs[0], inputs[1] = inputs[i], inputs[1-i]
				break
			}
		}
	}
	eps := float32(1e-5)
	for _, at := range ln.attrs {
		if at.Name == "epsilon" {
			eps = at.F
		}
	}
	sln := newFusedNode(ln, ops.DomainMicrosoft, "SkipLayerNormalization", 1, inputs, floatAttr("epsilon", eps))
	o.replace(ln, sln, matched...)
}

// gelu: 0.5 * x * (1 + erf(x / sqrt(2))), in the orders exporters use.
func (o *optimizer) gelu(top *gnode) {
	if top.opType != "Mul" || top.domain != ops.DomainONNX {
		return
	}
	var x string
	var matched []*gnode
	// form A: Mul(Mul(x, 1+erf(x/√2)), 0.5)
	for _, in := range top.inputs {
		c, _ := otherInput(top, in)
		if v, ok := o.constScalar(c); !ok || !near(v, 0.5) {
			continue
		}
		inner := o.single(in, "Mul")
		if inner == nil {
			continue
		}
		for _, cand := range inner.inputs {
			onePlus, _ := otherInput(inner, cand)
			if chain := o.erfChain(onePlus, cand); chain != nil {
				x, matched = cand, append(chain, inner)
				break
			}
		}
	}
	// form B: Mul(Mul(x, 0.5), 1+erf(x/√2))
	if x == "" {
		for _, in := range top.inputs {
			onePlus, _ := otherInput(top, in)
			half := o.single(in, "Mul")
			if half == nil {
				continue
			}
			for _, cand := range half.inputs {
				c, _ := otherInput(half, cand)
				if v, ok := o.constScalar(c); ok && near(v, 0.5) {
					if chain := o.erfChain(onePlus, cand); chain != nil {
						x, matched = cand, append(chain, half)
					}
				}
			}
		}
	}
	if x == "" {
		return
	}
	// x itself used by the Div and the Mul: exactly two uses.
	if o.uses[x] != 2 {
		return
	}
	if bias := o.single2(x, "Add"); bias != nil {
		for _, mmOut := range bias.inputs {
			c, _ := otherInput(bias, mmOut)
			mm := o.single(mmOut, "MatMul")
			if mm != nil && o.isConst1D(c) && o.isConstMatrix(mm.inputs[1]) &&
				o.constTensor(mm.inputs[1]).Shape[1] == o.constTensor(c).Shape[0] {
				f := newFusedNode(top, ops.DomainAgate, "FusedMatMul", 1, []string{mm.inputs[0], mm.inputs[1], c},
					stringAttr("activation", ops.ActGelu))
				o.replace(top, f, append(matched, bias, mm)...)
				return
			}
		}
	}
	f := newFusedNode(top, ops.DomainMicrosoft, "Gelu", 1, []string{x})
	o.replace(top, f, matched...)
}

// freshName returns base, or base with a numeric suffix, such that no
// value, initializer, input or earlier fresh name of the graph has it.
func (o *optimizer) freshName(base string) string {
	if o.names == nil {
		o.names = map[string]bool{}
	}
	taken := func(n string) bool {
		_, prod := o.prod[n]
		_, init := o.g.inits[n]
		return prod || init || o.uses[n] > 0 || o.isInput(n) || o.names[n]
	}
	name := base
	for i := 1; taken(name); i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	o.names[name] = true
	return name
}

// msFusedMatMul reports whether name is produced by a live com.microsoft
// FusedMatMul.
func (o *optimizer) msFusedMatMul(name string) bool {
	n, ok := o.prod[name]
	return ok && !o.dead[n] && n.opType == "FusedMatMul" && n.domain == ops.DomainMicrosoft
}

// singleN is single for a value with n uses.
func (o *optimizer) singleN(name, op string, n int) *gnode {
	p := o.producer(name, op)
	if p == nil || o.uses[name] != n {
		return nil
	}
	return p
}

// single2 is single for a value with two uses (the GELU input).
func (o *optimizer) single2(name, op string) *gnode {
	n := o.producer(name, op)
	if n == nil || o.uses[name] != 2 {
		return nil
	}
	return n
}

// geluTanh: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), anchored at the
// Tanh, with x³ as Pow(x, 3) or x·(x·x) and the halving on x or on the
// product.
func (o *optimizer) geluTanh(t *gnode) {
	if t.opType != "Tanh" || t.domain != ops.DomainONNX || len(t.outputs) != 1 {
		return
	}
	inner := o.single(t.inputs[0], "Mul")
	if inner == nil {
		return
	}
	sum, ok := o.scaledBy(inner, math.Sqrt(2/math.Pi))
	if !ok {
		return
	}
	add := o.single(sum, "Add")
	if add == nil {
		return
	}
	matched := []*gnode{t, inner, add}
	x := ""
	for _, in := range add.inputs {
		other, _ := otherInput(add, in)
		m := o.single(other, "Mul")
		if m == nil {
			continue
		}
		cube, ok := o.scaledBy(m, 0.044715)
		if !ok {
			continue
		}
		if nodes := o.cubeOf(cube, in); nodes != nil {
			x, matched = in, append(append(matched, m), nodes...)
			break
		}
	}
	if x == "" {
		return
	}
	onePlus := o.consumer(t.outputs[0], "Add")
	if onePlus == nil {
		return
	}
	if c, _ := otherInput(onePlus, t.outputs[0]); !o.isScalar(c, 1) {
		return
	}
	m1 := o.consumer(onePlus.outputs[0], "Mul")
	if m1 == nil {
		return
	}
	matched = append(matched, onePlus)
	other, _ := otherInput(m1, onePlus.outputs[0])
	top := m1
	if half := o.single(other, "Mul"); half != nil {
		// (0.5·x)·(1 + tanh(…))
		if hx, ok := o.scaledBy(half, 0.5); !ok || hx != x {
			return
		}
		matched = append(matched, half)
	} else if other == x {
		// 0.5·(x·(1 + tanh(…)))
		top = o.consumer(m1.outputs[0], "Mul")
		if top == nil {
			return
		}
		if _, ok := o.scaledBy(top, 0.5); !ok {
			return
		}
		matched = append(matched, m1)
	} else {
		return
	}
	// every use of x must be inside the pattern
	seen := 0
	for _, n := range append(matched, top) {
		for _, in := range n.inputs {
			if in == x {
				seen++
			}
		}
	}
	if o.uses[x] != seen {
		return
	}
	if bias := o.producer(x, "Add"); bias != nil {
		for _, mmOut := range bias.inputs {
			c, _ := otherInput(bias, mmOut)
			mm := o.single(mmOut, "MatMul")
			if mm != nil && o.isConst1D(c) && o.isConstMatrix(mm.inputs[1]) &&
				o.constTensor(mm.inputs[1]).Shape[1] == o.constTensor(c).Shape[0] {
				f := newFusedNode(top, ops.DomainAgate, "FusedMatMul", 1, []string{mm.inputs[0], mm.inputs[1], c},
					stringAttr("activation", ops.ActGeluTanh))
				o.replace(top, f, append(matched, bias, mm)...)
				return
			}
		}
	}
	f := newFusedNode(top, ops.DomainMicrosoft, "FastGelu", 1, []string{x})
	o.replace(top, f, matched...)
}

// scaledBy returns the other input of a binary Mul whose one input is a
// scalar constant near c.
func (o *optimizer) scaledBy(mul *gnode, c float64) (string, bool) {
	for _, in := range mul.inputs {
		other, ok := otherInput(mul, in)
		if ok && o.isScalar(in, c) {
			return other, true
		}
	}
	return "", false
}

func (o *optimizer) isScalar(name string, c float64) bool {
	v, ok := o.constScalar(name)
	return ok && near(v, c)
}

// consumer returns the only consumer of name if it has the given op type.
func (o *optimizer) consumer(name, op string) *gnode {
	cs := o.cons[name]
	if len(cs) != 1 || o.uses[name] != 1 || cs[0].opType != op || cs[0].domain != ops.DomainONNX || o.dead[cs[0]] {
		return nil
	}
	return cs[0]
}

// cubeOf matches name = Pow(x, 3) or x·(x·x) and returns its nodes.
func (o *optimizer) cubeOf(name, x string) []*gnode {
	if pow := o.single(name, "Pow"); pow != nil && pow.inputs[0] == x {
		if v, ok := o.constScalar(pow.inputs[1]); ok && v == 3 {
			return []*gnode{pow}
		}
		return nil
	}
	m := o.single(name, "Mul")
	if m == nil || len(m.inputs) != 2 {
		return nil
	}
	for i, in := range m.inputs {
		if in != x {
			continue
		}
		sq := o.single(m.inputs[1-i], "Mul")
		if sq != nil && len(sq.inputs) == 2 && sq.inputs[0] == x && sq.inputs[1] == x {
			return []*gnode{m, sq}
		}
	}
	return nil
}

// erfChain matches onePlus = 1 + erf(x / √2) (or x * 1/√2) and returns its nodes.
func (o *optimizer) erfChain(onePlus, x string) []*gnode {
	add := o.single(onePlus, "Add")
	if add == nil {
		return nil
	}
	for _, in := range add.inputs {
		c, _ := otherInput(add, in)
		if v, ok := o.constScalar(c); !ok || !near(v, 1) {
			continue
		}
		erf := o.single(in, "Erf")
		if erf == nil {
			continue
		}
		if div := o.single(erf.inputs[0], "Div"); div != nil && div.inputs[0] == x {
			if v, ok := o.constScalar(div.inputs[1]); ok && near(v, math.Sqrt2) {
				return []*gnode{add, erf, div}
			}
		}
		if mul := o.single(erf.inputs[0], "Mul"); mul != nil {
			if c2, ok := otherInput(mul, x); ok {
				if v, ok := o.constScalar(c2); ok && near(v, 1/math.Sqrt2) {
					return []*gnode{add, erf, mul}
				}
			}
		}
	}
	return nil
}

// matMulBias: MatMul(A, W) + bias with constant W [K, N] and bias [N].
func (o *optimizer) matMulBias(add *gnode) {
	if add.opType != "Add" || add.domain != ops.DomainONNX {
		return
	}
	for _, mmOut := range add.inputs {
		c, _ := otherInput(add, mmOut)
		mm := o.single(mmOut, "MatMul")
		if mm != nil && o.isConst1D(c) && o.isConstMatrix(mm.inputs[1]) &&
			o.constTensor(mm.inputs[1]).Shape[1] == o.constTensor(c).Shape[0] {
			f := newFusedNode(add, ops.DomainAgate, "FusedMatMul", 1, []string{mm.inputs[0], mm.inputs[1], c},
				stringAttr("activation", ops.ActNone))
			o.replace(add, f, mm)
			return
		}
	}
}

// headsOf reads (heads, headSize) from a Reshape's target shape: a
// constant [*, *, H, D] or a Concat whose last two inputs are constants.
func (o *optimizer) headsOf(shape string) (int, int, bool) {
	if t := o.constTensor(shape); t != nil {
		v, err := t.AsInt64s()
		if err == nil && len(v) == 4 && v[2] > 0 && v[3] > 0 {
			return int(v[2]), int(v[3]), true
		}
		return 0, 0, false
	}
	cat := o.producer(shape, "Concat")
	if cat == nil || len(cat.inputs) != 4 {
		return 0, 0, false
	}
	h, ok1 := o.constScalar(cat.inputs[2])
	d, ok2 := o.constScalar(cat.inputs[3])
	if !ok1 || !ok2 || h <= 0 || d <= 0 {
		return 0, 0, false
	}
	return int(h), int(d), true
}

// mergesToBSH reports whether the Reshape target shape makes
// [B, heads, S, d]ᵀ into [B, S, hidden]: a constant [0, 0|-1, hidden] or
// [-1, 0, hidden], or the exporters' Concat of two dimension reads and the
// constant hidden size.
func (o *optimizer) mergesToBSH(shape string, hidden int) bool {
	if t := o.constTensor(shape); t != nil {
		v, err := t.AsInt64s()
		if err != nil || len(v) != 3 || v[2] != int64(hidden) {
			return false
		}
		return (v[0] == 0 && (v[1] == 0 || v[1] == -1)) || (v[0] == -1 && v[1] == 0)
	}
	cat := o.producer(shape, "Concat")
	if cat == nil || len(cat.inputs) != 3 {
		return false
	}
	last, ok := o.constScalar(cat.inputs[2])
	if !ok || last != float64(hidden) {
		return false
	}
	// the two leading entries must be read from a shape at run time
	for _, in := range cat.inputs[:2] {
		if o.constTensor(in) != nil {
			return false
		}
	}
	return true
}

func isPerm(n *gnode, perm ...int64) bool {
	p := attrInts(n, "perm")
	if len(p) != len(perm) {
		return false
	}
	for i := range p {
		if p[i] != perm[i] {
			return false
		}
	}
	return true
}

// splitHeads matches Transpose(Reshape(x, [B, S, H, D]), perm) and returns
// x, the head count and the matched nodes.
func (o *optimizer) splitHeads(name string, perm ...int64) (string, int, int, []*gnode) {
	tr := o.single(name, "Transpose")
	if tr == nil {
		return "", 0, 0, nil
	}
	var matched []*gnode
	if !isPerm(tr, perm...) {
		// K may be transposed twice: (0,2,1,3) then (0,1,3,2).
		if !isPerm(tr, 0, 1, 3, 2) || !(len(perm) == 4 && perm[2] == 3) {
			return "", 0, 0, nil
		}
		inner := o.single(tr.inputs[0], "Transpose")
		if inner == nil || !isPerm(inner, 0, 2, 1, 3) {
			return "", 0, 0, nil
		}
		matched = append(matched, inner)
		tr, matched = inner, append(matched, tr)
	} else {
		matched = append(matched, tr)
	}
	rs := o.single(tr.inputs[0], "Reshape")
	if rs == nil {
		return "", 0, 0, nil
	}
	h, d, ok := o.headsOf(rs.inputs[1])
	if !ok {
		return "", 0, 0, nil
	}
	return rs.inputs[0], h, d, append(matched, rs)
}

// attention matches the BERT self-attention block ending in the Reshape
// that merges the heads back into [B, S, H].
func (o *optimizer) attention(merge *gnode) {
	if merge.opType != "Reshape" || merge.domain != ops.DomainONNX {
		return
	}
	tr := o.producer(merge.inputs[0], "Transpose")
	if tr == nil || !isPerm(tr, 0, 2, 1, 3) {
		return
	}
	shapeReads, ok := o.leadingDimShapes(tr.outputs[0])
	if !ok || o.uses[tr.outputs[0]] != 1+len(shapeReads) {
		return
	}
	mm2 := o.single(tr.inputs[0], "MatMul")
	if mm2 == nil {
		return
	}
	sm := o.single(mm2.inputs[0], "Softmax")
	if sm == nil || attrInt(sm, "axis", -1) != -1 && attrInt(sm, "axis", -1) != 3 {
		return
	}
	matched := []*gnode{tr, mm2, sm}
	scores := sm.inputs[0]
	mask := ""
	// scoreUses is how many uses the raw scores may have: 2 when a Shape
	// of them sizes the Expand of a Where mask.
	scoreUses := 1
	var maskNode *gnode
	if w := o.single(scores, "Where"); w != nil && len(w.inputs) == 3 {
		// masked_fill: Where(cond, fill, scores) becomes scores + Where(cond, fill, 0)
		// Adding the fill equals replacing by it only for a fill so
		// negative that any score plus it rounds to it (finfo.min, -inf).
		fill := o.constTensor(w.inputs[1])
		if fill == nil || fill.DType != ops.Float || fill.Len() != 1 || fill.Float32s()[0] > -1e30 {
			return
		}
		cond := w.inputs[0]
		matched = append(matched, w)
		if ex := o.single(cond, "Expand"); ex != nil {
			if sh := o.single(ex.inputs[1], "Shape"); sh != nil && len(sh.attrs) == 0 && sh.inputs[0] == w.inputs[2] {
				cond = ex.inputs[0]
				matched = append(matched, ex, sh)
				scoreUses = 2
			}
		}
		scores = w.inputs[2]
		mask = o.freshName(merge.outputs[0] + "/agate_additive_mask")
		maskNode = &gnode{name: mask, opType: "Where", domain: ops.DomainONNX, version: 16,
			inputs: []string{cond, w.inputs[1], o.freshName(merge.outputs[0] + "/agate_zero")}, outputs: []string{mask}}
	} else if add := o.single(scores, "Add"); add != nil {
		for _, in := range add.inputs {
			other, _ := otherInput(add, in)
			if o.producer(in, "Div") != nil || o.producer(in, "Mul") != nil || o.producer(in, "MatMul") != nil || o.msFusedMatMul(in) {
				scores, mask = in, other
				matched = append(matched, add)
				break
			}
		}
		if mask == "" {
			return
		}
	}
	scale, divisor := 1.0, 0.0
	if div := o.singleN(scores, "Div", scoreUses); div != nil {
		v, ok := o.constScalar(div.inputs[1])
		if !ok || v == 0 {
			return
		}
		divisor, scores, scoreUses = v, div.inputs[0], 1
		matched = append(matched, div)
	} else if mul := o.singleN(scores, "Mul", scoreUses); mul != nil {
		for _, in := range mul.inputs {
			c, _ := otherInput(mul, in)
			if v, ok := o.constScalar(c); ok {
				scale, scores, scoreUses = v, in, 1
				matched = append(matched, mul)
				break
			}
		}
	}
	mm1 := o.singleN(scores, "MatMul", scoreUses)
	kPerm := []int64{0, 2, 3, 1}
	if mm1 == nil {
		// onnxruntime's optimizer writes the product as com.microsoft
		// FusedMatMul, with the scale as alpha and Kᵀ maybe as transB.
		mm1 = o.prod[scores]
		if mm1 == nil || o.dead[mm1] || mm1.opType != "FusedMatMul" || mm1.domain != ops.DomainMicrosoft ||
			o.uses[scores] != scoreUses || len(mm1.inputs) != 2 || attrInt(mm1, "transA", 0) != 0 ||
			attrInt(mm1, "transBatchA", 0) != 0 || attrInt(mm1, "transBatchB", 0) != 0 {
			return
		}
		if attrInt(mm1, "transB", 0) != 0 {
			kPerm = []int64{0, 2, 1, 3}
		}
		scale *= float64(attrFloat(mm1, "alpha", 1))
	}
	matched = append(matched, mm1)
	// a scale on Q or on Kᵀ before the product (SDPA, DistilBERT)
	qIn, kIn := mm1.inputs[0], mm1.inputs[1]
	for _, side := range []*string{&qIn, &kIn} {
		if m := o.single(*side, "Mul"); m != nil {
			for _, in := range m.inputs {
				c, _ := otherInput(m, in)
				if v, ok := o.constScalar(c); ok && o.producer(in, "Transpose") != nil {
					scale, *side = scale*v, in
					matched = append(matched, m)
					break
				}
			}
		} else if d := o.single(*side, "Div"); d != nil && o.producer(d.inputs[0], "Transpose") != nil {
			if v, ok := o.constScalar(d.inputs[1]); ok && v != 0 {
				scale, *side = scale/v, d.inputs[0]
				matched = append(matched, d)
			}
		}
	}
	if scale == 0 {
		return // SelfAttention reads a zero scale as "absent"
	}
	q, hq, dq, mq := o.splitHeads(qIn, 0, 2, 1, 3)
	k, hk, dk, mk := o.splitHeads(kIn, kPerm...)
	v, hv, dv, mv := o.splitHeads(mm2.inputs[1], 0, 2, 1, 3)
	if q == "" || k == "" || v == "" || hq != hk || hq != hv || dq != dk || dq != dv {
		return
	}
	if !o.mergesToBSH(merge.inputs[1], hq*dq) {
		return // the heads are merged into some other shape than [B, S, hidden]
	}
	matched = append(append(append(matched, mq...), mk...), mv...)
	inputs := []string{q, k, v}
	if mask != "" {
		inputs = append(inputs, mask)
	}
	attrs := []*ops.Attr{intAttr("num_heads", int64(hq)), floatAttr("scale", float32(scale))}
	if divisor != 0 {
		// keep the exporter's division, which rounds differently from a
		// multiplication by 1/divisor when that is not a power of two
		attrs = append(attrs, floatAttr("divisor", float32(divisor)))
	}
	att := newFusedNode(merge, ops.DomainAgate, "SelfAttention", 1, inputs, attrs...)
	// q is [B, S, H]: it has the batch and sequence dimensions the shape
	// reads of the removed transpose were after.
	for _, sh := range shapeReads {
		sh.inputs = []string{q}
	}
	if maskNode != nil {
		zero := maskNode.inputs[2]
		o.g.inits[zero] = ops.Scalar(float32(0))
		o.g.initList = append(o.g.initList, zero)
		o.extra[merge] = []*gnode{maskNode}
	}
	o.replace(merge, att, matched...)
}
