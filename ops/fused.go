package ops

import (
	"fmt"
	"math"
)

// DomainAgate is the private operator domain of the kernels the engine's
// graph optimizer substitutes for recognised subgraphs. Models never
// contain these ops; the optimizer creates them.
const DomainAgate = "ai.agate"

// registerFused adds the fused transformer kernels.
func registerFused(r *Registry) {
	r.Add(DomainAgate, "FusedMatMul", 1, halfFactory(newFusedMatMul))
	r.Add(DomainAgate, "SelfAttention", 1, halfFactory(newSelfAttention))
}

// Activations a FusedMatMul can apply after its bias.
const (
	ActNone     = "none"
	ActGelu     = "gelu"      // erf form
	ActGeluTanh = "gelu_tanh" // tanh approximation
	ActRelu     = "relu"
)

// fusedMatMul computes act(A·B + bias): MatMul with its bias add and
// activation folded into one pass over the output while it is in cache.
// Inputs: A [..., K], B [K, N] (constant, pre-packed), bias [N] (optional).
type fusedMatMul struct {
	mm  *matmulKernel
	act string
}

func newFusedMatMul(n *Node) (any, error) {
	act := n.Attrs.String("activation", ActNone)
	switch act {
	case ActNone, ActGelu, ActGeluTanh, ActRelu:
	default:
		return nil, fmt.Errorf("unknown activation %q", act)
	}
	mm, err := newMatMul(n)
	if err != nil {
		return nil, err
	}
	return &fusedMatMul{mm: mm.(*matmulKernel), act: act}, nil
}

func (k *fusedMatMul) Run(ec *Context, in, out []*Tensor) error {
	if k.runPacked(ec, in, out) {
		return k.activate(ec, out[0], nil)
	}
	if err := k.mm.Run(ec, in[:2], out); err != nil {
		return err
	}
	var bias []float32
	if len(in) > 2 && in[2] != nil {
		bias = in[2].Float32s()
	}
	return k.activate(ec, out[0], bias)
}

// runPacked handles the common case, float32 A against the weights packed
// at plan time, with the bias added in the GEMM's write-back. It reports
// false when the inputs do not fit that case.
func (k *fusedMatMul) runPacked(ec *Context, in, out []*Tensor) bool {
	a, b := in[0], in[1]
	pb := k.mm.packedB
	if pb == nil || a.DType != Float || len(a.Shape) < 1 || !k.mm.isConstB(b) {
		return false
	}
	kk, n := b.Shape[0], b.Shape[1]
	if a.Shape[len(a.Shape)-1] != kk {
		return false
	}
	var bias []float32
	if len(in) > 2 && in[2] != nil {
		if bias = in[2].Float32s(); len(bias) != n {
			return false
		}
	}
	var shape [maxRank]int
	r := copy(shape[:], a.Shape)
	shape[r-1] = n
	y := ec.Empty(Float, shape[:r]...)
	rows := a.Len() / max(kk, 1)
	sgemmPackedBias(false, rows, 1, a.Float32s(), kk, pb, bias, 0, y.Float32s(), n, ec.Parallel)
	out[0] = y
	return true
}

// PacksInput reports that B, when packed at plan time, is read at run
// time for its shape only.
func (k *fusedMatMul) PacksInput(i int) bool { return k.mm.PacksInput(i) }

// activate adds bias (when not nil) and applies the activation in place.
func (k *fusedMatMul) activate(ec *Context, y *Tensor, bias []float32) error {
	ys, ok := y.Data.([]float32)
	if !ok {
		return fmt.Errorf("FusedMatMul supports float32, got %s", y.DType)
	}
	if n := y.Shape[len(y.Shape)-1]; bias != nil && len(bias) != n {
		return fmt.Errorf("bias has %d elements, output rows %d", len(bias), n)
	}
	if bias == nil && k.act == ActNone {
		return nil
	}
	cols := y.Shape[len(y.Shape)-1]
	rows := len(ys) / max(cols, 1)
	activateJobs.run(ec, rows, max(1, 16384/max(cols, 1)), activateState{ys: ys, bias: bias, cols: cols, act: k.act})
	return nil
}

// activateState is one FusedMatMul epilogue: bias and activation over the
// rows of ys.
type activateState struct {
	ys, bias []float32
	cols     int
	act      string
}

var activateJobs = newParJobs(func(s *activateState, lo, hi int) {
	vm := vecmath()
	for r := lo; r < hi; r++ {
		row := s.ys[r*s.cols : (r+1)*s.cols]
		for j, b := range s.bias {
			row[j] += b
		}
		switch s.act {
		case ActGelu:
			vm.gelu(row, row)
		case ActGeluTanh:
			ewGeluTanh32(row, row)
		case ActRelu:
			for j, v := range row {
				if v < 0 {
					row[j] = 0
				}
			}
		}
	}
})

// selfAttention computes multi-head scaled dot-product attention straight
// from the projection layout: q, k, v are [B, S, H] with H = heads·D, the
// optional mask is additive and broadcasts to [B, heads, S_q, S_kv], and the
// output is [B, S, H], so no transposes are materialised.
type selfAttention struct {
	heads   int
	scale   float32
	divisor float32 // when set, scores are divided by it after the product (as an exported Div does)
}

func newSelfAttention(n *Node) (any, error) {
	heads := int(n.Attrs.Int("num_heads", 0))
	if heads <= 0 {
		return nil, fmt.Errorf("num_heads must be positive, got %d", heads)
	}
	return &selfAttention{heads: heads, scale: n.Attrs.Float("scale", 0), divisor: n.Attrs.Float("divisor", 0)}, nil
}

func (k *selfAttention) Run(ec *Context, in, out []*Tensor) error {
	q, kk, v := in[0], in[1], in[2]
	if q == nil || kk == nil || v == nil {
		return fmt.Errorf("q, k and v are required")
	}
	for _, t := range []*Tensor{q, kk, v} {
		if t.DType != Float || len(t.Shape) != 3 {
			return fmt.Errorf("SelfAttention takes float32 [batch, seq, hidden] tensors, got %s", t)
		}
	}
	b, sq, h := q.Shape[0], q.Shape[1], q.Shape[2]
	skv := kk.Shape[1]
	if kk.Shape[0] != b || v.Shape[0] != b || kk.Shape[2] != h || v.Shape[2] != h || v.Shape[1] != skv {
		return fmt.Errorf("q %v, k %v and v %v disagree", q.Shape, kk.Shape, v.Shape)
	}
	if h%k.heads != 0 {
		return fmt.Errorf("hidden size %d is not a multiple of %d heads", h, k.heads)
	}
	d := h / k.heads
	// scores = scale·Q·Kᵀ / divisor; without a scale attribute the scale
	// is 1/√d, or 1 when a divisor is given.
	div := k.divisor
	scale := k.scale
	if scale == 0 {
		scale = float32(1 / math.Sqrt(float64(d)))
		if div != 0 {
			scale = 1
		}
	}
	st := attnState{scale: scale, div: div, heads: k.heads, b: b, sq: sq, skv: skv, h: h, d: d}
	if len(in) > 3 && in[3] != nil {
		m := in[3]
		if m.DType != Float {
			return fmt.Errorf("the attention mask must be float32 (additive), got %s", m.DType)
		}
		full := [4]int{b, k.heads, sq, skv}
		if !broadcastsTo(m.Shape, full[:]) {
			return fmt.Errorf("mask shape %v does not broadcast to %v", m.Shape, full)
		}
		broadcastStridesInto(st.ms[:], m.Shape, full[:])
		st.mask = m.Float32s()
	}
	y := ec.Empty(Float, b, sq, h)
	st.qs, st.ks, st.vs, st.ys = q.Float32s(), kk.Float32s(), v.Float32s(), y.Float32s()
	st.jobs = b * k.heads
	st.chunks = min(ec.Workers.Workers(), st.jobs)
	scratch := ec.Empty(Float, st.chunks, sq*skv)
	st.sc = scratch.Float32s()
	attnJobs.run(ec, st.chunks, 1, st)
	ec.Release(scratch)
	out[0] = y
	return nil
}

// attnState is one SelfAttention call: chunk c of the scratch handles the
// (batch, head) jobs c, c+chunks, ….
type attnState struct {
	qs, ks, vs, ys, sc, mask []float32
	ms                       [4]int // mask strides over [B, heads, Sq, Skv]
	scale, div               float32
	heads, b, sq, skv, h, d  int
	jobs, chunks             int
}

var attnJobs = newParJobs(func(s *attnState, lo, hi int) {
	seq := func(n, grain int, fn func(lo, hi int)) { fn(0, n) }
	vm := vecmath()
	sq, skv, h, d := s.sq, s.skv, s.h, s.d
	for c := lo; c < hi; c++ {
		p := s.sc[c*sq*skv : (c+1)*sq*skv]
		for job := c; job < s.jobs; job += s.chunks {
			bi, hd := job/s.heads, job%s.heads
			qo := bi*sq*h + hd*d
			ko := bi*skv*h + hd*d
			// scores = scale · Q_h · K_hᵀ
			sgemm(false, true, sq, skv, d, s.scale, s.qs[qo:], h, s.ks[ko:], h, 0, p, skv, seq)
			for i := 0; i < sq; i++ {
				row := p[i*skv : (i+1)*skv]
				mo := bi*s.ms[0] + hd*s.ms[1] + i*s.ms[2]
				if s.div != 0 && (s.mask == nil || s.ms[3] == 1) {
					// contiguous mask row: one vector pass
					var mrow []float32
					if s.mask != nil {
						mrow = s.mask[mo : mo+skv]
					}
					vm.divAdd(row, mrow, s.div)
					vm.softmax(row)
					continue
				}
				if s.div != 0 {
					for j := range row {
						row[j] /= s.div
					}
				}
				if s.mask != nil {
					for j := range row {
						row[j] += s.mask[mo+j*s.ms[3]]
					}
				}
				softmaxRow32(row, row, softmaxPlain)
			}
			// context = P · V_h, written into the [B, S, H] output
			sgemm(false, false, sq, d, skv, 1, p, skv, s.vs[ko:], h, 0, s.ys[qo:], h, seq)
		}
	}
})

// Coefficients of the Abramowitz–Stegun 7.1.26 erf approximation
// (absolute error below 1.5e-7).
const (
	asP  = 0.3275911
	asA1 = 0.254829592
	asA2 = -0.284496736
	asA3 = 1.421413741
	asA4 = -1.453152027
	asA5 = 1.061405429
)
