package ops

import (
	"errors"
	"fmt"
	"math"
)

// DomainPreview is the domain of the experimental ONNX operators.
const DomainPreview = "ai.onnx.preview"

// registerFlexAttention registers ai.onnx.preview FlexAttention.
func registerFlexAttention(r *Registry) {
	r.Add(DomainPreview, "FlexAttention", 1, newFlexAttention)
}

// GraphCaller is implemented by compiled graph attributes that kernels of
// this package can run (FlexAttention's score_mod and prob_mod). in holds
// the graph's inputs and nodeIn the node's full input list (its own inputs
// followed by the enclosing-scope values the graph captures). It returns
// the graph's outputs, which belong to the caller (who releases tensors
// through ec once done with them).
type GraphCaller interface {
	CallGraph(ec *Context, in, nodeIn []Value) ([]Value, error)
}

// flexAttention implements FlexAttention: softmax(Q·Kᵀ·scale) · V over
// rank-4 inputs with grouped-query heads, with optional subgraphs that
// modify the scores before and the probabilities after the softmax.
type flexAttention struct {
	scale     float64 // 0: 1/sqrt(head_size)
	precision DType   // Undefined: float32, or double for double inputs
	scoreMod  GraphCaller
	probMod   GraphCaller
}

func newFlexAttention(n *Node) (any, error) {
	k := &flexAttention{}
	if n.Attrs.Has("scale") {
		k.scale = float64(n.Attrs.Float("scale", 0))
		if k.scale == 0 {
			return nil, fmt.Errorf("attribute \"scale\" must be nonzero")
		}
	}
	if n.Attrs.Has("softmax_precision") {
		k.precision = DType(n.Attrs.Int("softmax_precision", 0))
		switch k.precision {
		case Float, Double, Float16, BFloat16:
		default:
			return nil, fmt.Errorf("attribute \"softmax_precision\": expected a float type, got %s", k.precision)
		}
	}
	for _, name := range []string{"score_mod", "prob_mod"} {
		if !n.Attrs.Has(name) {
			continue
		}
		g := n.Attrs.Graph(name)
		gc, ok := g.(GraphCaller)
		if !ok {
			return nil, fmt.Errorf("attribute %q: %w (the graph attribute cannot be called from a kernel)", name, ErrUnsupported)
		}
		if name == "score_mod" {
			k.scoreMod = gc
		} else {
			k.probMod = gc
		}
	}
	return k, nil
}

func (k *flexAttention) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 3 || in[0] == nil || in[1] == nil || in[2] == nil {
		return fmt.Errorf("inputs Q, K and V are required")
	}
	q, kt, v := in[0], in[1], in[2]
	if len(q.Shape) != 4 || len(kt.Shape) != 4 || len(v.Shape) != 4 {
		return fmt.Errorf("Q, K and V must have rank 4, got %v, %v and %v", q.Shape, kt.Shape, v.Shape)
	}
	if kt.DType != q.DType || v.DType != q.DType {
		return fmt.Errorf("Q, K and V must share one type, got %s, %s and %s", q.DType, kt.DType, v.DType)
	}
	B, Hq, L, E := q.Shape[0], q.Shape[1], q.Shape[2], q.Shape[3]
	Hkv, S, Ev := kt.Shape[1], kt.Shape[2], v.Shape[3]
	if kt.Shape[0] != B || v.Shape[0] != B {
		return fmt.Errorf("Q, K and V must share the batch size, got %v, %v and %v", q.Shape, kt.Shape, v.Shape)
	}
	if kt.Shape[3] != E {
		return fmt.Errorf("K's head size %d differs from Q's %d", kt.Shape[3], E)
	}
	if v.Shape[1] != Hkv || v.Shape[2] != S {
		return fmt.Errorf("V has shape %v, K %v: heads and sequence length must agree", v.Shape, kt.Shape)
	}
	if Hkv == 0 || Hq%Hkv != 0 {
		return fmt.Errorf("Q's %d heads must be a multiple of K's %d", Hq, Hkv)
	}
	prec := k.precision
	if prec == Undefined {
		prec = Float
		if q.DType == Double {
			prec = Double
		}
	}
	scale := k.scale
	if scale == 0 {
		scale = 1 / math.Sqrt(float64(E))
	}
	f := flexShape{B: B, Hq: Hq, Hkv: Hkv, L: L, S: S, E: E, Ev: Ev}
	nodeIn := make([]Value, len(in))
	for i, t := range in {
		if t != nil {
			nodeIn[i] = t
		}
	}
	var y *Tensor
	var err error
	if prec == Double {
		y, err = flexRun[float64](ec, k, f, q, kt, v, scale, prec, nodeIn)
	} else {
		y, err = flexRun[float32](ec, k, f, q, kt, v, scale, prec, nodeIn)
	}
	if err != nil {
		return err
	}
	out[0] = y
	return nil
}

// flexShape holds FlexAttention's dimensions.
type flexShape struct{ B, Hq, Hkv, L, S, E, Ev int }

// flexFloat is the working precision of FlexAttention.
type flexFloat interface{ ~float32 | ~float64 }

// flexLoadInto converts a float tensor's elements to T into dst.
func flexLoadInto[T flexFloat](dst []T, t *Tensor) error {
	var ok bool
	switch d := any(dst).(type) {
	case []float32:
		ok = widenFloat32s(d, t.Data)
	case []float64:
		ok = widenFloat64s(d, t.Data)
	}
	if !ok {
		return fmt.Errorf("expected a float tensor, got %s", t.DType)
	}
	return nil
}

// flexBuf returns a temporary tensor of n elements of T.
func flexBuf[T flexFloat](ec *Context, n int) (*Tensor, []T) {
	var z T
	dt := Float
	if _, ok := any(z).(float64); ok {
		dt = Double
	}
	t := ec.Empty(dt, n)
	return t, t.Data.([]T)
}

// flexStore writes src into t, a float tensor of the same length.
func flexStore[T flexFloat](t *Tensor, src []T) {
	switch s := any(src).(type) {
	case []float32:
		narrowFloat32s(t.Data, s)
	case []float64:
		narrowFloat64s(t.Data, s)
	}
}

func flexRun[T flexFloat](ec *Context, k *flexAttention, f flexShape, q, kt, v *Tensor, scale float64, prec DType, nodeIn []Value) (*Tensor, error) {
	var tmps []*Tensor
	defer func() {
		for _, t := range tmps {
			ec.Release(t)
		}
	}()
	load := func(t *Tensor) ([]T, error) {
		buf, d := flexBuf[T](ec, t.Len())
		tmps = append(tmps, buf)
		return d, flexLoadInto(d, t)
	}
	qd, err := load(q)
	if err != nil {
		return nil, err
	}
	kd, err := load(kt)
	if err != nil {
		return nil, err
	}
	vd, err := load(v)
	if err != nil {
		return nil, err
	}
	group := f.Hq / f.Hkv
	sbuf, scores := flexBuf[T](ec, f.B*f.Hq*f.L*f.S)
	tmps = append(tmps, sbuf)
	sc := T(scale)
	rows := f.B * f.Hq * f.L
	grain := max(1, 16384/max(1, f.S*f.E))
	ec.Parallel(rows, grain, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			bh := r / f.L
			b, h := bh/f.Hq, bh%f.Hq
			qr := qd[r*f.E : (r+1)*f.E]
			kb := (b*f.Hkv + h/group) * f.S * f.E
			sr := scores[r*f.S : (r+1)*f.S]
			for j := range sr {
				kr := kd[kb+j*f.E : kb+(j+1)*f.E]
				var acc T
				for e, x := range qr {
					acc += x * kr[e]
				}
				sr[j] = acc * sc
			}
		}
	})
	shape := []int{f.B, f.Hq, f.L, f.S}
	if k.scoreMod != nil {
		if err := flexApply(ec, k.scoreMod, "score_mod", scores, shape, prec, nodeIn); err != nil {
			return nil, err
		}
	}
	ec.Parallel(rows, max(1, 16384/max(1, f.S)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			flexSoftmax(scores[r*f.S : (r+1)*f.S])
		}
	})
	if k.probMod != nil {
		if err := flexApply(ec, k.probMod, "prob_mod", scores, shape, prec, nodeIn); err != nil {
			return nil, err
		}
	}
	obuf, res := flexBuf[T](ec, rows*f.Ev)
	tmps = append(tmps, obuf)
	ec.Parallel(rows, max(1, 16384/max(1, f.S*f.Ev)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			bh := r / f.L
			b, h := bh/f.Hq, bh%f.Hq
			vb := (b*f.Hkv + h/group) * f.S * f.Ev
			o := res[r*f.Ev : (r+1)*f.Ev]
			clear(o)
			for j, p := range scores[r*f.S : (r+1)*f.S] {
				vr := vd[vb+j*f.Ev : vb+(j+1)*f.Ev]
				for e, x := range vr {
					o[e] += p * x
				}
			}
		}
	})
	y := ec.Empty(v.DType, f.B, f.Hq, f.L, f.Ev)
	flexStore(y, res)
	return y, nil
}

// flexSoftmax normalizes one row in place.
func flexSoftmax[T flexFloat](row []T) {
	if len(row) == 0 {
		return
	}
	m := row[0]
	for _, x := range row[1:] {
		if x > m {
			m = x
		}
	}
	var sum T
	for i, x := range row {
		e := T(math.Exp(float64(x - m)))
		row[i] = e
		sum += e
	}
	for i := range row {
		row[i] /= sum
	}
}

var errFlexGraph = errors.New("modifier subgraph must produce one tensor of its input's shape")

// flexApply runs a modifier subgraph on buf (of the given shape), passing a
// tensor of type prec, and replaces buf with the graph's output.
func flexApply[T flexFloat](ec *Context, g GraphCaller, name string, buf []T, shape []int, prec DType, nodeIn []Value) error {
	t := ec.Empty(prec, shape...)
	flexStore(t, buf)
	outs, err := g.CallGraph(ec, []Value{t}, nodeIn)
	ec.Release(t)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer func() {
		for _, o := range outs {
			if t, ok := o.(*Tensor); ok && t != nil {
				ec.Release(t)
			}
		}
	}()
	if len(outs) != 1 {
		return fmt.Errorf("%s: %w", name, errFlexGraph)
	}
	res, ok := outs[0].(*Tensor)
	if !ok || res == nil || !EqualShapes(res.Shape, shape) {
		return fmt.Errorf("%s: %w", name, errFlexGraph)
	}
	return flexLoadInto(buf, res)
}
