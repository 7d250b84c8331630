package ops

import (
	"fmt"
	"strings"
)

// This file holds the matrix operators onnxruntime writes into the graphs
// it optimizes (and that optimum saves): com.microsoft FusedMatMul, a
// MatMul with transposed operands and a scale, and FusedGemm, a Gemm with
// an activation.

func registerMatMulContrib(r *Registry) {
	r.Add(DomainMicrosoft, "FusedMatMul", 1, halfFactory(newMSFusedMatMul))
	r.Add(DomainMicrosoft, "FusedGemm", 1, halfFactory(newFusedGemm))
}

// msFusedMatMul computes alpha · op(A) · op(B), where op transposes the
// last two dimensions (transA, transB) after moving the first dimension
// behind the other batch dimensions (transBatchA, transBatchB: the
// permutation [1, …, r-2, 0, r-1]).
type msFusedMatMul struct {
	alpha                    float32
	transA, transB           bool
	transBatchA, transBatchB bool
}

func newMSFusedMatMul(n *Node) (any, error) {
	k := &msFusedMatMul{
		alpha:       n.Attrs.Float("alpha", 1),
		transA:      n.Attrs.Int("transA", 0) != 0,
		transB:      n.Attrs.Int("transB", 0) != 0,
		transBatchA: n.Attrs.Int("transBatchA", 0) != 0,
		transBatchB: n.Attrs.Int("transBatchB", 0) != 0,
	}
	return k, n.Attrs.Err()
}

// batchPerm returns the transBatch permutation of a rank-r operand.
func batchPerm(r int) []int {
	perm := make([]int, 0, r)
	for i := 1; i < r-1; i++ {
		perm = append(perm, i)
	}
	return append(perm, 0, r-1)
}

// logicalShape is the shape of op(X) for a stored shape.
func logicalShape(s []int, trans bool) []int {
	out := append([]int(nil), s...)
	if trans {
		out[len(out)-1], out[len(out)-2] = out[len(out)-2], out[len(out)-1]
	}
	return out
}

func (k *msFusedMatMul) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return fmt.Errorf("FusedMatMul needs inputs A and B")
	}
	a, b := in[0], in[1]
	if a.DType != b.DType {
		return fmt.Errorf("FusedMatMul operand types differ: %s and %s", a.DType, b.DType)
	}
	if !a.DType.IsFloat() {
		return fmt.Errorf("FusedMatMul does not support %s", a.DType)
	}
	var temps []*Tensor
	defer func() {
		for _, t := range temps {
			ec.Release(t)
		}
	}()
	prepare := func(x *Tensor, transBatch, trans bool, name string) (*Tensor, error) {
		if (trans || transBatch) && len(x.Shape) < 2 {
			return nil, fmt.Errorf("FusedMatMul cannot transpose the %d-D operand %s", len(x.Shape), name)
		}
		if !transBatch {
			return x, nil
		}
		if len(x.Shape) < 3 {
			return nil, fmt.Errorf("transBatch%s needs operand %s of rank 3 or more, got shape %s", name, name, ShapeString(x.Shape))
		}
		o := make([]*Tensor, 1)
		if err := (&shTranspose{perm: batchPerm(len(x.Shape))}).Run(ec, []*Tensor{x}, o); err != nil {
			return nil, err
		}
		temps = append(temps, o[0])
		return o[0], nil
	}
	a, err := prepare(a, k.transBatchA, k.transA, "A")
	if err != nil {
		return err
	}
	if b, err = prepare(b, k.transBatchB, k.transB, "B"); err != nil {
		return err
	}
	la, lb := a.Shape, b.Shape
	if len(la) >= 2 {
		la = logicalShape(la, k.transA)
	}
	if len(lb) >= 2 {
		lb = logicalShape(lb, k.transB)
	}
	var dims matmulDims
	d := &dims
	if err := matmulShape(d, la, lb); err != nil {
		return fmt.Errorf("FusedMatMul: %w", err)
	}
	y := ec.Empty(a.DType, d.outShape()...)
	out[0] = y
	if a.DType == Float {
		ad, bd, yd := a.Float32s(), b.Float32s(), y.Float32s()
		lda, ldb := d.k, d.n
		if k.transA {
			lda = d.m
		}
		if k.transB {
			ldb = d.k
		}
		for t := 0; t < d.nBatches; t++ {
			offA, offB := d.offsets(t)
			sgemm(k.transA, k.transB, d.m, d.n, d.k, k.alpha, ad[offA:], lda, bd[offB:], ldb, 0, yd[t*d.m*d.n:], d.n, ec.Parallel)
		}
		return nil
	}
	// Other float types: materialize the transposes, multiply, scale.
	for _, side := range []struct {
		x     **Tensor
		trans bool
	}{{&a, k.transA}, {&b, k.transB}} {
		if !side.trans {
			continue
		}
		r := len((*side.x).Shape)
		perm := make([]int, r)
		for i := range perm {
			perm[i] = i
		}
		perm[r-1], perm[r-2] = r-2, r-1
		o := make([]*Tensor, 1)
		if err := (&shTranspose{perm: perm}).Run(ec, []*Tensor{*side.x}, o); err != nil {
			return err
		}
		temps = append(temps, o[0])
		*side.x = o[0]
	}
	if err := matmulAny(ec, d, a, b, y, nil); err != nil {
		return err
	}
	if k.alpha != 1 {
		v, err := y.AsFloat64s()
		if err != nil {
			return err
		}
		for i := range v {
			v[i] *= float64(k.alpha)
		}
		narrowFloat64s(y.Data, v)
	}
	return nil
}

// fusedGemm is Gemm followed by an activation applied in place, as
// onnxruntime's FusedGemm: the activation is named by "activation" and its
// parameters come from activation_alpha, activation_beta and
// activation_gamma.
type fusedGemm struct {
	gemm Kernel
	act  Kernel
}

// gemmActivations maps FusedGemm activation names to the operator and the
// attributes it takes.
var gemmActivations = map[string][]string{
	"Relu": nil, "Tanh": nil, "Sigmoid": nil,
	"LeakyRelu": {"alpha"}, "HardSigmoid": {"alpha", "beta"}, "Elu": {"alpha"},
	"Selu": {"alpha", "gamma"}, "Softplus": nil, "Softsign": nil,
}

func newFusedGemm(n *Node) (any, error) {
	g, err := newGemm(n)
	if err != nil {
		return nil, err
	}
	name := n.Attrs.String("activation", "")
	params, ok := gemmActivations[name]
	if !ok {
		known := make([]string, 0, len(gemmActivations))
		for k := range gemmActivations {
			known = append(known, k)
		}
		return nil, fmt.Errorf("FusedGemm activation %q is not supported (supported: %s)", name, strings.Join(known, ", "))
	}
	var attrs []*Attr
	for _, p := range params {
		if at := n.Attrs.Get("activation_" + p); at != nil {
			attrs = append(attrs, &Attr{Name: p, Type: AttrFloat, F: at.F})
		}
	}
	r := NewRegistry()
	registerActivation(r)
	registerUnary(r)
	f, ok := r.Lookup("", name, 22)
	if !ok {
		return nil, fmt.Errorf("FusedGemm activation %q has no kernel", name)
	}
	act, err := f(&Node{Name: n.Name, OpType: name, Domain: DomainONNX, Version: 22, Attrs: NewAttrs(attrs...)})
	if err != nil {
		return nil, fmt.Errorf("FusedGemm activation %s: %w", name, err)
	}
	gk, ok1 := g.(Kernel)
	ak, ok2 := act.(Kernel)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("FusedGemm activation %s is not a tensor kernel", name)
	}
	return &fusedGemm{gemm: gk, act: ak}, n.Attrs.Err()
}

func (k *fusedGemm) Run(ec *Context, in, out []*Tensor) error {
	if err := k.gemm.Run(ec, in, out); err != nil {
		return err
	}
	y := out[0]
	res := make([]*Tensor, 1)
	if err := k.act.Run(ec, []*Tensor{y}, res); err != nil {
		return err
	}
	out[0] = res[0]
	if res[0] != y {
		ec.Release(y)
	}
	return nil
}
