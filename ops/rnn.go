package ops

import (
	"fmt"
	"math"
	"strings"
)

// registerRNN registers the recurrent operators RNN, GRU and LSTM.
func registerRNN(r *Registry) {
	r.Add("", "RNN", 1, newRecurrent(rnnSimple))
	r.Add("", "GRU", 1, newRecurrent(rnnGRU))
	r.Add("", "LSTM", 1, newRecurrent(rnnLSTM))
}

type rnnKind int

const (
	rnnSimple rnnKind = iota
	rnnGRU
	rnnLSTM
)

func (k rnnKind) gates() int {
	switch k {
	case rnnGRU:
		return 3
	case rnnLSTM:
		return 4
	}
	return 1
}

func (k rnnKind) numActs() int {
	switch k {
	case rnnGRU:
		return 2
	case rnnLSTM:
		return 3
	}
	return 1
}

// rnnAct is one activation function of a recurrent cell.
type rnnAct struct {
	name        string
	code        uint8 // name as one of the rnnAct* constants, for the per-element switch
	alpha, beta float64
}

// Activation codes of rnnAct.
const (
	rnnActOther uint8 = iota
	rnnActSigmoid
	rnnActTanh
	rnnActRelu
)

// rnnActDefaults gives, for each activation, whether it reads alpha and
// beta and their default values.
var rnnActDefaults = map[string]struct {
	useAlpha, useBeta bool
	alpha, beta       float64
}{
	"relu":            {},
	"tanh":            {},
	"sigmoid":         {},
	"softsign":        {},
	"softplus":        {},
	"affine":          {true, true, 1, 0},
	"leakyrelu":       {true, false, 0.01, 0},
	"thresholdedrelu": {true, false, 1, 0},
	"scaledtanh":      {true, true, 1, 1},
	"hardsigmoid":     {true, true, 0.2, 0.5},
	"elu":             {true, false, 1, 0},
}

func (a *rnnAct) apply(x float64) float64 {
	switch a.code {
	case rnnActSigmoid:
		if x >= 0 {
			return 1 / (1 + math.Exp(-x))
		}
		e := math.Exp(x)
		return e / (1 + e)
	case rnnActTanh:
		return math.Tanh(x)
	case rnnActRelu:
		return max(x, 0)
	}
	switch a.name {
	case "affine":
		return a.alpha*x + a.beta
	case "leakyrelu":
		if x < 0 {
			return a.alpha * x
		}
		return x
	case "thresholdedrelu":
		if x > a.alpha {
			return x
		}
		return 0
	case "scaledtanh":
		return a.alpha * math.Tanh(a.beta*x)
	case "hardsigmoid":
		return max(0, min(1, a.alpha*x+a.beta))
	case "elu":
		if x < 0 {
			return a.alpha * (math.Exp(x) - 1)
		}
		return x
	case "softsign":
		return x / (1 + math.Abs(x))
	case "softplus":
		if x > 30 {
			return x
		}
		return math.Log1p(math.Exp(x))
	}
	return x
}

type recurrentKernel struct {
	kind              rnnKind
	hidden            int // 0 when inferred from R
	dirs              int
	reverse           bool // single direction, reverse
	acts              []rnnAct
	clip              float64
	layout            int
	linearBeforeReset bool
	inputForget       bool
	// planned holds W, R and B packed for the float32 path when they are
	// constants (nil otherwise).
	planned *rnnPlanWeights
}

func newRecurrent(kind rnnKind) Factory {
	return func(n *Node) (any, error) {
		k := &recurrentKernel{kind: kind, dirs: 1}
		k.hidden = int(n.Attrs.Int("hidden_size", 0))
		if k.hidden < 0 {
			return nil, fmt.Errorf("hidden_size %d must be positive", k.hidden)
		}
		switch d := n.Attrs.String("direction", "forward"); d {
		case "forward":
		case "reverse":
			k.reverse = true
		case "bidirectional":
			k.dirs = 2
		default:
			return nil, fmt.Errorf("unknown direction %q", d)
		}
		k.clip = float64(n.Attrs.Float("clip", 0))
		if k.clip < 0 {
			return nil, fmt.Errorf("clip %v must be positive", k.clip)
		}
		k.layout = int(n.Attrs.Int("layout", 0))
		if k.layout != 0 && k.layout != 1 {
			return nil, fmt.Errorf("layout %d must be 0 or 1", k.layout)
		}
		k.linearBeforeReset = n.Attrs.Int("linear_before_reset", 0) != 0
		k.inputForget = n.Attrs.Int("input_forget", 0) != 0
		names, hasNames := n.Attrs.Strings("activations")
		alphas, _ := n.Attrs.Floats("activation_alpha")
		betas, _ := n.Attrs.Floats("activation_beta")
		na := kind.numActs() * k.dirs
		if !hasNames {
			var def []string
			switch kind {
			case rnnSimple:
				def = []string{"Tanh"}
			case rnnGRU:
				def = []string{"Sigmoid", "Tanh"}
			default:
				def = []string{"Sigmoid", "Tanh", "Tanh"}
			}
			for i := 0; i < k.dirs; i++ {
				names = append(names, def...)
			}
		} else if len(names) == kind.numActs() && k.dirs == 2 {
			names = append(append([]string(nil), names...), names...)
		}
		if len(names) != na {
			return nil, fmt.Errorf("%d activations given, %d expected", len(names), na)
		}
		for _, name := range names {
			a := rnnAct{name: strings.ToLower(name)}
			def, ok := rnnActDefaults[a.name]
			if !ok {
				return nil, fmt.Errorf("unsupported activation %q", name)
			}
			a.alpha, a.beta = def.alpha, def.beta
			a.code = map[string]uint8{"sigmoid": rnnActSigmoid, "tanh": rnnActTanh, "relu": rnnActRelu}[a.name]
			if def.useAlpha && len(alphas) > 0 {
				a.alpha, alphas = float64(alphas[0]), alphas[1:]
			}
			if def.useBeta && len(betas) > 0 {
				a.beta, betas = float64(betas[0]), betas[1:]
			}
			k.acts = append(k.acts, a)
		}
		k.planned = k.prepareFloat32(n)
		return k, nil
	}
}

func (k *recurrentKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 3 || in[0] == nil || in[1] == nil || in[2] == nil {
		return fmt.Errorf("inputs X, W and R are required")
	}
	opt := func(i int) *Tensor {
		if i < len(in) {
			return in[i]
		}
		return nil
	}
	x, w, r := in[0], in[1], in[2]
	b, seqT, h0T := opt(3), opt(4), opt(5)
	var c0T, pT *Tensor
	if k.kind == rnnLSTM {
		c0T, pT = opt(6), opt(7)
	}
	switch x.DType {
	case Float, Double, Float16, BFloat16:
	default:
		return fmt.Errorf("unsupported input type %s", x.DType)
	}
	for _, t := range []*Tensor{w, r, b, h0T, c0T, pT} {
		if t != nil && t.DType != x.DType {
			return fmt.Errorf("input type %s differs from X type %s", t.DType, x.DType)
		}
	}
	if len(x.Shape) != 3 {
		return fmt.Errorf("X must be 3-D, got shape %v", x.Shape)
	}
	S, B, I := x.Shape[0], x.Shape[1], x.Shape[2]
	if k.layout == 1 {
		S, B = B, S
	}
	G, D := k.kind.gates(), k.dirs
	if len(r.Shape) != 3 || r.Shape[0] != D {
		return fmt.Errorf("R shape %v must be [%d, %d*hidden, hidden]", r.Shape, D, G)
	}
	H := r.Shape[2]
	if k.hidden != 0 && k.hidden != H {
		return fmt.Errorf("hidden_size %d does not match R shape %v", k.hidden, r.Shape)
	}
	if r.Shape[1] != G*H {
		return fmt.Errorf("R shape %v must be [%d %d %d]", r.Shape, D, G*H, H)
	}
	if !EqualShapes(w.Shape, []int{D, G * H, I}) {
		return fmt.Errorf("W shape %v must be [%d %d %d]", w.Shape, D, G*H, I)
	}
	if b != nil && !EqualShapes(b.Shape, []int{D, 2 * G * H}) {
		return fmt.Errorf("B shape %v must be [%d %d]", b.Shape, D, 2*G*H)
	}
	stateShape := []int{D, B, H}
	if k.layout == 1 {
		stateShape = []int{B, D, H}
	}
	for _, t := range []*Tensor{h0T, c0T} {
		if t != nil && !EqualShapes(t.Shape, stateShape) {
			return fmt.Errorf("initial state shape %v must be %v", t.Shape, stateShape)
		}
	}
	if pT != nil && !EqualShapes(pT.Shape, []int{D, 3 * H}) {
		return fmt.Errorf("P shape %v must be [%d %d]", pT.Shape, D, 3*H)
	}
	lens := make([]int, B)
	for i := range lens {
		lens[i] = S
	}
	if seqT != nil {
		sl, err := seqT.AsInt64s()
		if err != nil {
			return fmt.Errorf("sequence_lens: %w", err)
		}
		if len(sl) != B {
			return fmt.Errorf("sequence_lens has %d values for batch size %d", len(sl), B)
		}
		for i, v := range sl {
			if v < 0 || v > int64(S) {
				return fmt.Errorf("sequence_lens[%d] = %d out of range [0, %d]", i, v, S)
			}
			lens[i] = int(v)
		}
	}

	if x.DType == Float {
		return k.runFloat32(ec, x, w, r, b, h0T, c0T, pT, lens, S, B, I, H, stateShape, out)
	}
	var tmps []*Tensor
	defer func() {
		for _, t := range tmps {
			ec.Release(t)
		}
	}()
	load := func(t *Tensor) ([]float64, error) {
		if t == nil {
			return nil, nil
		}
		d, tmp, err := WorkFloat64s(ec, t)
		if tmp != nil {
			tmps = append(tmps, tmp)
		}
		return d, err
	}
	newTmp := func(shape ...int) []float64 {
		t := ec.New(Double, shape...)
		tmps = append(tmps, t)
		return t.Float64s()
	}
	xs, err := load(x)
	if err != nil {
		return err
	}
	ws, _ := load(w)
	rs, _ := load(r)
	bs, _ := load(b)
	h0, _ := load(h0T)
	c0, _ := load(c0T)
	ps, _ := load(pT)
	if k.layout == 1 {
		// Work in [S, B, I].
		xt := newTmp(S, B, I)
		for bb := 0; bb < B; bb++ {
			for s := 0; s < S; s++ {
				copy(xt[(s*B+bb)*I:(s*B+bb+1)*I], xs[(bb*S+s)*I:(bb*S+s+1)*I])
			}
		}
		xs = xt
	}
	if k.layout == 1 {
		// Initial states to [D, B, H].
		for _, st := range []*[]float64{&h0, &c0} {
			if *st == nil {
				continue
			}
			t := newTmp(D, B, H)
			for bb := 0; bb < B; bb++ {
				for d := 0; d < D; d++ {
					copy(t[(d*B+bb)*H:(d*B+bb+1)*H], (*st)[(bb*D+d)*H:(bb*D+d+1)*H])
				}
			}
			*st = t
		}
	}

	// Inputs other than double run their products on the float32 SGEMM
	// kernels (onnxruntime computes them in float32 too); the gate math
	// stays in float64.
	single := x.DType != Double
	newTmp32 := func(n int) []float32 {
		t := ec.New(Float, n)
		tmps = append(tmps, t)
		return t.Float32s()
	}
	var xs32, w32, r32, xw32, h32, hr32 []float32
	if single {
		xs32, w32, r32 = newTmp32(S*B*I), newTmp32(G*H*I), newTmp32(G*H*H)
		xw32, h32, hr32 = newTmp32(S*B*G*H), newTmp32(B*H), newTmp32(B*G*H)
		for i, v := range xs {
			xs32[i] = float32(v)
		}
	}
	// packed holds the recurrence weights of the current direction packed
	// once for the SGEMM kernel (keyed by their first element): the
	// per-step products then only stream them.
	packed := map[*float32]*packedB{}
	var packBufs []*[]float32
	defer func() {
		for _, b := range packBufs {
			gemmBufPool.Put(b)
		}
	}()
	pack := func(b32 []float32, k, n int) {
		if k == 0 || n == 0 {
			return
		}
		buf := getGemmBuf(packedBLen(k, n))
		packBufs = append(packBufs, buf)
		pb := packB(*buf, true, k, n, b32, k)
		packed[&b32[0]] = &pb
	}
	// gemm is convGemmNT(m, n, kk, a, lda, b, ldb, c, ldc) where b is the
	// direction's W (bw) or R (br) and, in float32, a and c go through
	// the float32 scratch a32 and c32.
	gemm := func(m, n, kk int, a []float64, a32 []float32, lda int, b []float64, b32 []float32, ldb int, c []float64, c32 []float32, ldc int) {
		if m == 0 || n == 0 {
			return
		}
		if kk == 0 {
			for i := 0; i < m; i++ {
				clear(c[i*ldc : i*ldc+n])
			}
			return
		}
		if !single {
			convGemmNT(m, n, kk, a, lda, b, ldb, c, ldc, nil, false)
			return
		}
		if a != nil {
			for i := 0; i < m; i++ {
				for j, v := range a[i*lda : i*lda+kk] {
					a32[i*lda+j] = float32(v)
				}
			}
		}
		if pb, ok := packed[&b32[0]]; ok && pb.n == n && pb.k == kk {
			sgemmPacked(false, m, 1, a32, lda, pb, 0, c32, ldc, nil)
		} else {
			sgemm(false, true, m, n, kk, 1, a32, lda, b32, ldb, 0, c32, ldc, nil)
		}
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			for j, v := range c32[i*ldc : i*ldc+n] {
				row[j] = float64(v)
			}
		}
	}
	ys := newTmp(S, D, B, H)
	yh := newTmp(D, B, H)
	yc := newTmp(D, B, H)
	xw := newTmp(S*B, G*H)
	hr := newTmp(B, G*H)
	hPrev := newTmp(B, H)
	cPrev := newTmp(B, H)
	scratch := newTmp(B, H)
	for d := 0; d < D; d++ {
		reverse := k.reverse || d == 1
		wd := ws[d*G*H*I : (d+1)*G*H*I]
		rd := rs[d*G*H*H : (d+1)*G*H*H]
		var wb, rb, pd []float64
		if bs != nil {
			wb = bs[d*2*G*H : d*2*G*H+G*H]
			rb = bs[d*2*G*H+G*H : (d+1)*2*G*H]
		}
		if ps != nil {
			pd = ps[d*3*H : (d+1)*3*H]
		}
		acts := k.acts[d*k.kind.numActs() : (d+1)*k.kind.numActs()]
		if single {
			for i, v := range wd {
				w32[i] = float32(v)
			}
			for i, v := range rd {
				r32[i] = float32(v)
			}
			clear(packed)
			if k.kind == rnnGRU && !k.linearBeforeReset {
				pack(r32, H, 2*H)
				pack(r32[2*H*H:], H, H)
			} else {
				pack(r32, H, G*H)
			}
		}
		// Input projection for every step at once (in float32, xs32
		// already holds X).
		xin := xs
		if single {
			xin = nil
		}
		gemm(S*B, G*H, I, xin, xs32, I, wd, w32, I, xw, xw32, G*H)
		if h0 != nil {
			copy(hPrev, h0[d*B*H:(d+1)*B*H])
		} else {
			clear(hPrev)
		}
		if c0 != nil {
			copy(cPrev, c0[d*B*H:(d+1)*B*H])
		} else {
			clear(cPrev)
		}
		for s := 0; s < S; s++ {
			n1 := G * H
			if k.kind == rnnGRU && !k.linearBeforeReset {
				n1 = 2 * H // the candidate's product comes once r is known
			}
			gemm(B, n1, H, hPrev, h32, H, rd, r32, H, hr, hr32, G*H)
			if k.kind == rnnGRU && !k.linearBeforeReset {
				// The candidate's recurrence uses r ⊙ h, so its
				// product is computed once r is known.
				for bb := 0; bb < B; bb++ {
					if s >= lens[bb] {
						continue
					}
					t := s
					if reverse {
						t = lens[bb] - 1 - s
					}
					xg := xw[(t*B+bb)*G*H : (t*B+bb+1)*G*H]
					hg := hr[bb*G*H : (bb+1)*G*H]
					hp := hPrev[bb*H : (bb+1)*H]
					sc := scratch[bb*H : (bb+1)*H]
					for j := 0; j < H; j++ {
						v := xg[H+j] + hg[H+j]
						if wb != nil {
							v += wb[H+j] + rb[H+j]
						}
						sc[j] = acts[0].apply(k.clipped(v)) * hp[j]
					}
				}
				var r2 []float32
				if single {
					r2 = r32[2*H*H:]
				}
				gemm(B, H, H, scratch, h32, H, rd[2*H*H:], r2, H, hr[2*H:], hr32, G*H)
			}
			for bb := 0; bb < B; bb++ {
				if s >= lens[bb] {
					continue
				}
				t := s
				if reverse {
					t = lens[bb] - 1 - s
				}
				xg := xw[(t*B+bb)*G*H : (t*B+bb+1)*G*H]
				hg := hr[bb*G*H : (bb+1)*G*H]
				hp := hPrev[bb*H : (bb+1)*H]
				cp := cPrev[bb*H : (bb+1)*H]
				yrow := ys[((t*D+d)*B+bb)*H : ((t*D+d)*B+bb+1)*H]
				gate := func(g, j int) float64 {
					v := xg[g*H+j] + hg[g*H+j]
					if wb != nil {
						v += wb[g*H+j] + rb[g*H+j]
					}
					return v
				}
				switch k.kind {
				case rnnSimple:
					for j := 0; j < H; j++ {
						hp[j] = acts[0].apply(k.clipped(gate(0, j)))
					}
				case rnnGRU:
					for j := 0; j < H; j++ {
						z := acts[0].apply(k.clipped(gate(0, j)))
						var hc float64
						if k.linearBeforeReset {
							rg := acts[0].apply(k.clipped(gate(1, j)))
							lin := hg[2*H+j]
							v := xg[2*H+j]
							if wb != nil {
								lin += rb[2*H+j]
								v += wb[2*H+j]
							}
							hc = acts[1].apply(k.clipped(v + rg*lin))
						} else {
							hc = acts[1].apply(k.clipped(gate(2, j)))
						}
						hp[j] = (1-z)*hc + z*hp[j]
					}
				default:
					for j := 0; j < H; j++ {
						vi, vo, vf, vc := gate(0, j), gate(1, j), gate(2, j), gate(3, j)
						if pd != nil {
							vi += pd[j] * cp[j]
							vf += pd[2*H+j] * cp[j]
						}
						ig := acts[0].apply(k.clipped(vi))
						fg := acts[0].apply(k.clipped(vf))
						if k.inputForget {
							fg = 1 - ig
						}
						cg := acts[1].apply(k.clipped(vc))
						c := fg*cp[j] + ig*cg
						if pd != nil {
							vo += pd[H+j] * c
						}
						og := acts[0].apply(k.clipped(vo))
						cp[j] = c
						hp[j] = og * acts[2].apply(c)
					}
				}
				copy(yrow, hp)
			}
		}
		copy(yh[d*B*H:(d+1)*B*H], hPrev)
		copy(yc[d*B*H:(d+1)*B*H], cPrev)
	}

	// Outputs.
	yShape := []int{S, D, B, H}
	if k.layout == 1 {
		yShape = []int{B, S, D, H}
	}
	if len(out) > 0 {
		y := ec.Empty(x.DType, yShape...)
		if k.layout == 1 {
			t := newTmp(yShape...)
			rnnBatchMajorY(t, ys, S, D, B, H)
			StoreFloat64s(y, t)
		} else {
			StoreFloat64s(y, ys)
		}
		out[0] = y
	}
	for i, st := range [][]float64{yh, yc} {
		if len(out) <= i+1 {
			break
		}
		t := ec.Empty(x.DType, stateShape...)
		if k.layout == 1 {
			tt := newTmp(stateShape...)
			rnnBatchMajorState(tt, st, D, B, H)
			StoreFloat64s(t, tt)
		} else {
			StoreFloat64s(t, st)
		}
		out[i+1] = t
	}
	return nil
}

// rnnBatchMajorY copies Y from [S, D, B, H] into dst as [B, S, D, H]
// (layout 1).
func rnnBatchMajorY[T any](dst, ys []T, S, D, B, H int) {
	for s := 0; s < S; s++ {
		for d := 0; d < D; d++ {
			for bb := 0; bb < B; bb++ {
				copy(dst[((bb*S+s)*D+d)*H:((bb*S+s)*D+d+1)*H], ys[((s*D+d)*B+bb)*H:((s*D+d)*B+bb+1)*H])
			}
		}
	}
}

// rnnBatchMajorState copies a state from [D, B, H] into dst as [B, D, H]
// (layout 1).
func rnnBatchMajorState[T any](dst, st []T, D, B, H int) {
	for d := 0; d < D; d++ {
		for bb := 0; bb < B; bb++ {
			copy(dst[(bb*D+d)*H:(bb*D+d+1)*H], st[(d*B+bb)*H:(d*B+bb+1)*H])
		}
	}
}

func (k *recurrentKernel) clipped(v float64) float64 {
	if k.clip > 0 {
		return max(-k.clip, min(k.clip, v))
	}
	return v
}
