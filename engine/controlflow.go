package engine

import (
	"fmt"

	"github.com/agate-ml/agate/ops"
)

// registerControlFlow adds If, Loop and Scan, which run compiled subgraphs
// and so live in the engine rather than in package ops.
func registerControlFlow(r *ops.Registry) {
	r.Add("", "If", 1, newIf)
	r.Add("", "Loop", 1, newLoop)
	r.Add("", "Scan", 9, newScan)
	r.Add("", "SequenceMap", 17, newSequenceMap)
}

// sequenceMapKernel applies its body to every element of the input
// sequence; further inputs are sequences (iterated in step) or tensors
// (passed unchanged to each iteration).
type sequenceMapKernel struct{ body *subgraph }

func newSequenceMap(n *ops.Node) (any, error) {
	body, err := graphAttr(n, "body")
	if err != nil {
		return nil, err
	}
	if len(body.plan.inputs) != len(n.Inputs) {
		return nil, fmt.Errorf("body takes %d inputs, node has %d", len(body.plan.inputs), len(n.Inputs))
	}
	if len(body.plan.outputs) != len(n.Outputs) {
		return nil, fmt.Errorf("body has %d outputs, node has %d", len(body.plan.outputs), len(n.Outputs))
	}
	return &sequenceMapKernel{body: body}, nil
}

func (k *sequenceMapKernel) RunValues(ec *ops.Context, in, out []ops.Value) error {
	nin := k.body.nin
	first, ok := in[0].(*ops.Sequence)
	if !ok {
		return fmt.Errorf("input_sequence must be a sequence, got %T", in[0])
	}
	count := len(first.Values)
	for i := 1; i < nin; i++ {
		if s, ok := in[i].(*ops.Sequence); ok && len(s.Values) != count {
			return fmt.Errorf("input %d has %d elements, input_sequence %d", i, len(s.Values), count)
		}
	}
	results := make([]*ops.Sequence, len(out))
	for j := range results {
		results[j] = &ops.Sequence{ElemType: k.body.plan.outTypes[j]}
	}
	bodyIn := make([]ops.Value, nin)
	bodyOut := make([]ops.Value, len(out))
	for it := 0; it < count; it++ {
		for i := 0; i < nin; i++ {
			if s, ok := in[i].(*ops.Sequence); ok {
				bodyIn[i] = s.Values[it]
			} else {
				bodyIn[i] = in[i]
			}
		}
		clear(bodyOut)
		if err := k.body.call(ec, bodyIn, in, bodyOut); err != nil {
			return fmt.Errorf("element %d: %w", it, err)
		}
		for j, v := range bodyOut {
			results[j].Values = append(results[j].Values, v)
		}
	}
	for j := range out {
		if len(results[j].Values) > 0 {
			results[j].ElemType = ops.TypeOfValue(results[j].Values[0])
		}
		out[j] = results[j]
	}
	return nil
}

func graphAttr(n *ops.Node, name string) (*subgraph, error) {
	g, ok := n.Attrs.Graph(name).(*subgraph)
	if !ok || g == nil {
		return nil, fmt.Errorf("missing graph attribute %q", name)
	}
	return g, nil
}

type ifKernel struct{ then, els *subgraph }

func (ifKernel) arenaSafe() {}

func newIf(n *ops.Node) (any, error) {
	t, err := graphAttr(n, "then_branch")
	if err != nil {
		return nil, err
	}
	e, err := graphAttr(n, "else_branch")
	if err != nil {
		return nil, err
	}
	for _, b := range []*subgraph{t, e} {
		if len(b.plan.outputs) != len(n.Outputs) {
			return nil, fmt.Errorf("branch %q has %d outputs, the node %d", b.name, len(b.plan.outputs), len(n.Outputs))
		}
	}
	return &ifKernel{then: t, els: e}, nil
}

func scalarBool(v ops.Value, what string) (bool, error) {
	t, ok := v.(*ops.Tensor)
	if !ok || t.Len() != 1 {
		return false, fmt.Errorf("%s must be a one-element tensor", what)
	}
	switch d := t.Data.(type) {
	case []bool:
		return d[0], nil
	default:
		f, err := t.AsFloat64s()
		if err != nil {
			return false, fmt.Errorf("%s: %w", what, err)
		}
		return f[0] != 0, nil
	}
}

func (k *ifKernel) RunValues(ec *ops.Context, in, out []ops.Value) error {
	cond, err := scalarBool(in[0], "If condition")
	if err != nil {
		return err
	}
	b := k.els
	if cond {
		b = k.then
	}
	return b.call(ec, nil, in, out)
}

type loopKernel struct {
	body     *subgraph
	nCarried int
	nScan    int
}

func (loopKernel) arenaSafe() {}

func newLoop(n *ops.Node) (any, error) {
	body, err := graphAttr(n, "body")
	if err != nil {
		return nil, err
	}
	if len(n.Inputs) < 2 {
		return nil, fmt.Errorf("Loop needs inputs M and cond (either may be empty)")
	}
	nc := len(n.Inputs) - 2
	if len(body.plan.inputs) != nc+2 {
		return nil, fmt.Errorf("body takes %d inputs, want %d (iteration, condition, %d carried)", len(body.plan.inputs), nc+2, nc)
	}
	ns := len(body.plan.outputs) - 1 - nc
	if ns < 0 || len(n.Outputs) > nc+ns {
		return nil, fmt.Errorf("body has %d outputs for %d carried values and %d node outputs", len(body.plan.outputs), nc, len(n.Outputs))
	}
	return &loopKernel{body: body, nCarried: nc, nScan: ns}, nil
}

func (k *loopKernel) RunValues(ec *ops.Context, in, out []ops.Value) error {
	nin := k.body.nin
	maxTrips := int64(-1)
	if in[0] != nil {
		t, ok := in[0].(*ops.Tensor)
		if !ok || t.Len() != 1 {
			return fmt.Errorf("Loop M must be a one-element tensor")
		}
		v, err := t.AsInt64s()
		if err != nil {
			return fmt.Errorf("Loop M: %w", err)
		}
		maxTrips = v[0]
	}
	cond := true
	if in[1] != nil {
		var err error
		if cond, err = scalarBool(in[1], "Loop cond"); err != nil {
			return err
		}
	}
	carried := append([]ops.Value(nil), in[2:nin]...)
	owned := make([]bool, len(carried))
	scans := make([][]*ops.Tensor, k.nScan)
	bodyIn := make([]ops.Value, 2+k.nCarried)
	bodyOut := make([]ops.Value, 1+k.nCarried+k.nScan)
	release := func() {
		for j, v := range carried {
			if owned[j] {
				releaseValue(ec, v)
			}
		}
		for _, s := range scans {
			for _, t := range s {
				releaseValue(ec, t)
			}
		}
	}
	for i := int64(0); (maxTrips < 0 || i < maxTrips) && cond; i++ {
		if err := ec.Err(); err != nil {
			release()
			return err
		}
		bodyIn[0] = ops.Scalar(i)
		bodyIn[1] = ops.Scalar(cond)
		copy(bodyIn[2:], carried)
		clear(bodyOut)
		if err := k.body.call(ec, bodyIn, in, bodyOut); err != nil {
			release()
			return fmt.Errorf("iteration %d: %w", i, err)
		}
		if in[1] != nil { // without a cond input the body's condition is ignored
			c, err := scalarBool(bodyOut[0], "Loop body condition output")
			if err != nil {
				release()
				return err
			}
			cond = c
		}
		releaseValue(ec, bodyOut[0])
		for j := range carried {
			if owned[j] {
				releaseValue(ec, carried[j])
			}
			carried[j] = bodyOut[1+j]
			owned[j] = true
		}
		for j := range scans {
			t, ok := bodyOut[1+k.nCarried+j].(*ops.Tensor)
			if !ok {
				release()
				return fmt.Errorf("Loop scan output %d is not a tensor", j)
			}
			scans[j] = append(scans[j], t)
		}
	}
	for j := 0; j < k.nCarried && j < len(out); j++ {
		v := carried[j]
		if !owned[j] {
			if t, ok := v.(*ops.Tensor); ok {
				v = ec.View(t, t.Shape...)
			}
		}
		out[j] = v
		owned[j] = false
	}
	for j := k.nCarried; j < len(carried); j++ {
		if owned[j] {
			releaseValue(ec, carried[j])
		}
	}
	for j := 0; j < k.nScan; j++ {
		stacked, err := stack(ec, scans[j], 0, k.body.plan.outTypes[1+k.nCarried+j])
		for _, t := range scans[j] {
			releaseValue(ec, t)
		}
		if err != nil {
			return fmt.Errorf("Loop scan output %d: %w", j, err)
		}
		if k.nCarried+j < len(out) {
			out[k.nCarried+j] = stacked
		} else {
			releaseValue(ec, stacked)
		}
	}
	return nil
}

// stack joins equally shaped tensors along a new axis.
func stack(ec *ops.Context, parts []*ops.Tensor, axis int, typ *ops.Type) (*ops.Tensor, error) {
	if len(parts) == 0 {
		dt := ops.Float
		var shape []int
		if typ != nil && typ.DType.Valid() {
			dt = typ.DType
			if typ.HasShape {
				for _, d := range typ.Shape {
					v := int(d.Value)
					if v < 0 {
						v = 0
					}
					shape = append(shape, v)
				}
			}
		}
		shape = append(shape[:axis:axis], append([]int{0}, shape[axis:]...)...)
		return ec.New(dt, shape...), nil
	}
	first := parts[0]
	for _, p := range parts[1:] {
		if p.DType != first.DType || !ops.EqualShapes(p.Shape, first.Shape) {
			return nil, fmt.Errorf("iterations produced %s and %s", first, p)
		}
	}
	if axis < 0 || axis > len(first.Shape) {
		return nil, fmt.Errorf("axis %d out of range for rank %d", axis, len(first.Shape)+1)
	}
	shape := make([]int, 0, len(first.Shape)+1)
	shape = append(shape, first.Shape[:axis]...)
	shape = append(shape, len(parts))
	shape = append(shape, first.Shape[axis:]...)
	out := ec.Empty(first.DType, shape...)
	outer := ops.NumElements(first.Shape[:axis])
	inner := ops.NumElements(first.Shape[axis:])
	for o := 0; o < outer; o++ {
		for i, p := range parts {
			dst := (o*len(parts) + i) * inner
			ops.CopySlice(ops.Subslice(out.Data, dst, dst+inner), ops.Subslice(p.Data, o*inner, (o+1)*inner))
		}
	}
	return out, nil
}

type scanKernel struct {
	body                  *subgraph
	nState, nScanIn, nOut int
	inAxes, inDirs        []int
	outAxes, outDirs      []int
}

func (scanKernel) arenaSafe() {}

func newScan(n *ops.Node) (any, error) {
	body, err := graphAttr(n, "body")
	if err != nil {
		return nil, err
	}
	m := int(n.Attrs.Int("num_scan_inputs", -1))
	if m < 1 || m > len(n.Inputs) {
		return nil, fmt.Errorf("num_scan_inputs %d invalid for %d inputs", m, len(n.Inputs))
	}
	k := &scanKernel{body: body, nScanIn: m, nState: len(n.Inputs) - m}
	if len(body.plan.inputs) != len(n.Inputs) {
		return nil, fmt.Errorf("body takes %d inputs, node has %d", len(body.plan.inputs), len(n.Inputs))
	}
	k.nOut = len(body.plan.outputs) - k.nState
	if k.nOut < 0 {
		return nil, fmt.Errorf("body has fewer outputs than state variables")
	}
	get := func(name string, count int) ([]int, error) {
		v, ok := n.Attrs.IntsAsInts(name)
		if !ok {
			return make([]int, count), nil
		}
		if len(v) != count {
			return nil, fmt.Errorf("attribute %s has %d entries, want %d", name, len(v), count)
		}
		return v, nil
	}
	if k.inAxes, err = get("scan_input_axes", m); err != nil {
		return nil, err
	}
	if k.inDirs, err = get("scan_input_directions", m); err != nil {
		return nil, err
	}
	if k.outAxes, err = get("scan_output_axes", k.nOut); err != nil {
		return nil, err
	}
	if k.outDirs, err = get("scan_output_directions", k.nOut); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *scanKernel) RunValues(ec *ops.Context, in, out []ops.Value) error {
	scanIn := make([]*ops.Tensor, k.nScanIn)
	axes := make([]int, k.nScanIn)
	seqLen := -1
	for j := range scanIn {
		t, ok := in[k.nState+j].(*ops.Tensor)
		if !ok {
			return fmt.Errorf("scan input %d is not a tensor", j)
		}
		ax, err := ops.NormalizeAxis(k.inAxes[j], len(t.Shape))
		if err != nil {
			return fmt.Errorf("scan input %d: %w", j, err)
		}
		axes[j] = ax
		if seqLen >= 0 && t.Shape[ax] != seqLen {
			return fmt.Errorf("scan inputs disagree on sequence length: %d and %d", seqLen, t.Shape[ax])
		}
		seqLen = t.Shape[ax]
		scanIn[j] = t
	}
	state := append([]ops.Value(nil), in[:k.nState]...)
	owned := make([]bool, k.nState)
	outs := make([][]*ops.Tensor, k.nOut)
	bodyIn := make([]ops.Value, k.nState+k.nScanIn)
	bodyOut := make([]ops.Value, k.nState+k.nOut)
	cleanup := func() {
		for j, v := range state {
			if owned[j] {
				releaseValue(ec, v)
			}
		}
		for _, s := range outs {
			for _, t := range s {
				releaseValue(ec, t)
			}
		}
	}
	for it := 0; it < seqLen; it++ {
		if err := ec.Err(); err != nil {
			cleanup()
			return err
		}
		copy(bodyIn, state)
		for j, t := range scanIn {
			pos := it
			if k.inDirs[j] == 1 {
				pos = seqLen - 1 - it
			}
			bodyIn[k.nState+j] = sliceAxis(ec, t, axes[j], pos)
		}
		clear(bodyOut)
		err := k.body.call(ec, bodyIn, in, bodyOut)
		for j := range scanIn {
			releaseValue(ec, bodyIn[k.nState+j])
		}
		if err != nil {
			cleanup()
			return fmt.Errorf("iteration %d: %w", it, err)
		}
		for j := range state {
			if owned[j] {
				releaseValue(ec, state[j])
			}
			state[j] = bodyOut[j]
			owned[j] = true
		}
		for j := range outs {
			t, ok := bodyOut[k.nState+j].(*ops.Tensor)
			if !ok {
				cleanup()
				return fmt.Errorf("scan output %d is not a tensor", j)
			}
			outs[j] = append(outs[j], t)
		}
	}
	for j := range state {
		v := state[j]
		if !owned[j] {
			if t, ok := v.(*ops.Tensor); ok {
				v = ec.View(t, t.Shape...)
			}
		}
		if j < len(out) {
			out[j] = v
		} else if owned[j] {
			releaseValue(ec, v)
		}
	}
	for j := range outs {
		parts := outs[j]
		if k.outDirs[j] == 1 {
			for a, b := 0, len(parts)-1; a < b; a, b = a+1, b-1 {
				parts[a], parts[b] = parts[b], parts[a]
			}
		}
		rank := 1
		if len(parts) > 0 {
			rank = len(parts[0].Shape) + 1
		}
		ax, err := ops.NormalizeAxis(k.outAxes[j], rank)
		if err != nil {
			return fmt.Errorf("scan output %d: %w", j, err)
		}
		stacked, err := stack(ec, parts, ax, k.body.plan.outTypes[k.nState+j])
		for _, t := range parts {
			releaseValue(ec, t)
		}
		if err != nil {
			return fmt.Errorf("scan output %d: %w", j, err)
		}
		if k.nState+j < len(out) {
			out[k.nState+j] = stacked
		} else {
			releaseValue(ec, stacked)
		}
	}
	return nil
}

// sliceAxis copies index pos of t along axis into a new tensor without that axis.
func sliceAxis(ec *ops.Context, t *ops.Tensor, axis, pos int) *ops.Tensor {
	shape := append(append([]int(nil), t.Shape[:axis]...), t.Shape[axis+1:]...)
	out := ec.Empty(t.DType, shape...)
	outer := ops.NumElements(t.Shape[:axis])
	inner := ops.NumElements(t.Shape[axis+1:])
	n := t.Shape[axis]
	for o := 0; o < outer; o++ {
		src := (o*n + pos) * inner
		ops.CopySlice(ops.Subslice(out.Data, o*inner, (o+1)*inner), ops.Subslice(t.Data, src, src+inner))
	}
	return out
}
