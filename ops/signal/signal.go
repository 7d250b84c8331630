// Package signal implements the ONNX signal processing operators: DFT,
// STFT, the Hann, Hamming and Blackman window generators and
// MelWeightMatrix, on a radix-2 and Bluestein FFT in float64.
//
// They are here for the completeness of the ONNX operator set (its
// conformance tests) rather than for the models agate is tuned for, so they
// live outside package ops, which holds the engine's kernels. engine's
// default registry includes them; a registry built from ops.DefaultRegistry
// does not until Register adds them.
package signal

import (
	"fmt"
	"math"
	"math/bits"
	"math/cmplx"

	"github.com/agate-ml/agate/ops"
)

// Register adds the signal processing operators to r: DFT, STFT,
// HannWindow, HammingWindow, BlackmanWindow and MelWeightMatrix (ai.onnx,
// from opset 17).
func Register(r *ops.Registry) {
	r.Add("", "DFT", 17, newDFT)
	r.Add("", "STFT", 17, newSTFT)
	r.Add("", "HannWindow", 17, newSignalWindow(signalHann))
	r.Add("", "HammingWindow", 17, newSignalWindow(signalHamming))
	r.Add("", "BlackmanWindow", 17, newSignalWindow(signalBlackman))
	r.Add("", "MelWeightMatrix", 17, newMelWeightMatrix)
}

// signalFFTPlan computes discrete Fourier transforms of one length: radix-2 for
// powers of two, Bluestein's chirp-z algorithm through a power-of-two
// transform otherwise.
type signalFFTPlan struct {
	n int
	m int // power-of-two transform length (n itself, or >= 2n-1)

	twiddle []complex128 // e^{-2πik/m}, k < m/2
	rev     []int        // bit reversal permutation of m

	chirp    []complex128 // Bluestein: e^{-iπk²/n}, k < n
	chirpFFT []complex128 // transform of the conjugate chirp filter
}

func newSignalFFTPlan(n int) *signalFFTPlan {
	p := &signalFFTPlan{n: n}
	if n <= 1 {
		p.m = n
		return p
	}
	if n&(n-1) == 0 {
		p.m = n
	} else {
		p.m = 1 << bits.Len(uint(2*n-2))
	}
	m := p.m
	p.twiddle = make([]complex128, m/2)
	for k := range p.twiddle {
		p.twiddle[k] = cmplx.Rect(1, -2*math.Pi*float64(k)/float64(m))
	}
	p.rev = make([]int, m)
	shift := bits.UintSize - bits.Len(uint(m-1))
	for i := range p.rev {
		p.rev[i] = int(bits.Reverse(uint(i)) >> shift)
	}
	if m == n {
		return p
	}
	p.chirp = make([]complex128, n)
	for k := 0; k < n; k++ {
		// k² mod 2n keeps the angle accurate for large k.
		kk := (k * k) % (2 * n)
		p.chirp[k] = cmplx.Rect(1, -math.Pi*float64(kk)/float64(n))
	}
	p.chirpFFT = make([]complex128, m)
	p.chirpFFT[0] = cmplx.Conj(p.chirp[0])
	for k := 1; k < n; k++ {
		c := cmplx.Conj(p.chirp[k])
		p.chirpFFT[k] = c
		p.chirpFFT[m-k] = c
	}
	p.radix2(p.chirpFFT)
	return p
}

// scratchLen is the length of the scratch buffer transform needs.
func (p *signalFFTPlan) scratchLen() int {
	if p.chirp == nil {
		return 0
	}
	return p.m
}

// radix2 transforms x (length m) in place.
func (p *signalFFTPlan) radix2(x []complex128) {
	m := p.m
	for i, j := range p.rev {
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	for size := 2; size <= m; size <<= 1 {
		half := size >> 1
		step := m / size
		for start := 0; start < m; start += size {
			for k := 0; k < half; k++ {
				t := p.twiddle[k*step] * x[start+k+half]
				u := x[start+k]
				x[start+k] = u + t
				x[start+k+half] = u - t
			}
		}
	}
}

// transform replaces x (length n) by its forward DFT, or by the
// unnormalised inverse when inverse is set. scratch must hold scratchLen
// elements.
func (p *signalFFTPlan) transform(x []complex128, inverse bool, scratch []complex128) {
	if p.n <= 1 {
		return
	}
	if inverse {
		for i, v := range x {
			x[i] = cmplx.Conj(v)
		}
	}
	if p.chirp == nil {
		p.radix2(x)
	} else {
		a := scratch[:p.m]
		for k := 0; k < p.n; k++ {
			a[k] = x[k] * p.chirp[k]
		}
		clear(a[p.n:])
		p.radix2(a)
		for i := range a {
			a[i] *= p.chirpFFT[i]
		}
		// Inverse transform of a through the conjugation identity.
		for i := range a {
			a[i] = cmplx.Conj(a[i])
		}
		p.radix2(a)
		scale := 1 / float64(p.m)
		for k := 0; k < p.n; k++ {
			x[k] = cmplx.Conj(a[k]) * complex(scale, 0) * p.chirp[k]
		}
	}
	if inverse {
		for i, v := range x {
			x[i] = cmplx.Conj(v)
		}
	}
}

type dftKernel struct {
	version  int
	axis     int // opset 17 attribute
	inverse  bool
	onesided bool
}

func newDFT(n *ops.Node) (any, error) {
	k := &dftKernel{
		version:  n.Version,
		inverse:  n.Attrs.Int("inverse", 0) != 0,
		onesided: n.Attrs.Int("onesided", 0) != 0,
	}
	if n.Version < 20 {
		k.axis = int(n.Attrs.Int("axis", 1))
	}
	return k, nil
}

// signalScalarInt reads a scalar (or one-element) integer input.
func signalScalarInt(t *ops.Tensor, what string) (int64, error) {
	v, err := t.AsInt64s()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("%s must be a scalar, got shape %v", what, t.Shape)
	}
	return v[0], nil
}

func (k *dftKernel) Run(ec *ops.Context, in, out []*ops.Tensor) error {
	x := in[0]
	r := len(x.Shape)
	if r < 2 || (x.Shape[r-1] != 1 && x.Shape[r-1] != 2) {
		return fmt.Errorf("input shape %v must end in 1 (real) or 2 (complex)", x.Shape)
	}
	axis := k.axis
	if k.version >= 20 {
		axis = -2
		if len(in) > 2 && in[2] != nil {
			a, err := signalScalarInt(in[2], "axis")
			if err != nil {
				return err
			}
			axis = int(a)
		}
	}
	if axis < 0 {
		axis += r
	}
	if axis < 0 || axis >= r-1 {
		return fmt.Errorf("axis %d out of range for input shape %v", axis, x.Shape)
	}
	if !x.DType.IsFloat() {
		return fmt.Errorf("unsupported input type %s", x.DType)
	}
	complexIn := x.Shape[r-1] == 2
	L := x.Shape[axis]
	var N int
	if len(in) > 1 && in[1] != nil {
		v, err := signalScalarInt(in[1], "dft_length")
		if err != nil {
			return err
		}
		if v <= 0 {
			return fmt.Errorf("dft_length %d must be positive", v)
		}
		N = int(v)
	} else if k.inverse && k.onesided {
		N = 2 * (L - 1)
		if N <= 0 {
			return fmt.Errorf("cannot infer the signal length from %d one-sided bins", L)
		}
	} else {
		N = L
	}
	outShape := append([]int(nil), x.Shape...)
	outLen := N
	switch {
	case k.inverse && k.onesided:
		outShape[r-1] = 1
	case k.onesided:
		outLen = N/2 + 1
		outShape[r-1] = 2
	default:
		outShape[r-1] = 2
	}
	outShape[axis] = outLen
	y := ec.Empty(x.DType, outShape...)
	out[0] = y
	xs, xt, err := ops.WorkFloat64s(ec, x)
	if err != nil {
		return err
	}
	defer ec.Release(xt)
	yt := ec.Empty(ops.Double, outShape...)
	defer ec.Release(yt)
	ys := yt.Float64s()
	outer := ops.NumElements(x.Shape[:axis])
	inner := ops.NumElements(x.Shape[axis+1 : r-1])
	ci := x.Shape[r-1]
	co := outShape[r-1]
	plan := newSignalFFTPlan(N)
	lines := outer * inner
	ec.Parallel(lines, max(1, 4096/max(N, 1)), func(lo, hi int) {
		buf := make([]complex128, N)
		scratch := make([]complex128, plan.scratchLen())
		for line := lo; line < hi; line++ {
			o, i := line/inner, line%inner
			inBase := o*L*inner + i
			clear(buf)
			if k.inverse && k.onesided {
				// Rebuild the full spectrum from its Hermitian half.
				half := N/2 + 1
				for j := 0; j < min(L, half); j++ {
					p := (inBase + j*inner) * ci
					v := complex(xs[p], 0)
					if complexIn {
						v = complex(xs[p], xs[p+1])
					}
					buf[j] = v
				}
				for j := half; j < N; j++ {
					buf[j] = cmplx.Conj(buf[N-j])
				}
				buf[0] = complex(real(buf[0]), 0)
				if N%2 == 0 {
					buf[N/2] = complex(real(buf[N/2]), 0)
				}
			} else {
				for j := 0; j < min(L, N); j++ {
					p := (inBase + j*inner) * ci
					if complexIn {
						buf[j] = complex(xs[p], xs[p+1])
					} else {
						buf[j] = complex(xs[p], 0)
					}
				}
			}
			plan.transform(buf, k.inverse, scratch)
			scale := 1.0
			if k.inverse {
				scale = 1 / float64(N)
			}
			outBase := o*outLen*inner + i
			for j := 0; j < outLen; j++ {
				p := (outBase + j*inner) * co
				ys[p] = real(buf[j]) * scale
				if co == 2 {
					ys[p+1] = imag(buf[j]) * scale
				}
			}
		}
	})
	ops.StoreFloat64s(y, ys)
	return nil
}

type stftKernel struct {
	onesided bool
}

func newSTFT(n *ops.Node) (any, error) {
	return &stftKernel{onesided: n.Attrs.Int("onesided", 1) != 0}, nil
}

func (k *stftKernel) Run(ec *ops.Context, in, out []*ops.Tensor) error {
	if len(in) < 2 || in[1] == nil {
		return fmt.Errorf("inputs signal and frame_step are required")
	}
	sig := in[0]
	if len(sig.Shape) != 3 || (sig.Shape[2] != 1 && sig.Shape[2] != 2) {
		return fmt.Errorf("signal shape %v must be [batch, length, 1 or 2]", sig.Shape)
	}
	if !sig.DType.IsFloat() {
		return fmt.Errorf("unsupported signal type %s", sig.DType)
	}
	step, err := signalScalarInt(in[1], "frame_step")
	if err != nil {
		return err
	}
	if step <= 0 {
		return fmt.Errorf("frame_step %d must be positive", step)
	}
	var window []float64
	if len(in) > 2 && in[2] != nil {
		if len(in[2].Shape) != 1 {
			return fmt.Errorf("window must be 1-D, got shape %v", in[2].Shape)
		}
		w, wt, err := ops.WorkFloat64s(ec, in[2])
		if err != nil {
			return fmt.Errorf("window: %w", err)
		}
		defer ec.Release(wt)
		window = w
	}
	frameLen := len(window)
	if len(in) > 3 && in[3] != nil {
		v, err := signalScalarInt(in[3], "frame_length")
		if err != nil {
			return err
		}
		if window != nil && int(v) != len(window) {
			return fmt.Errorf("frame_length %d does not match window length %d", v, len(window))
		}
		frameLen = int(v)
	}
	if frameLen <= 0 {
		return fmt.Errorf("frame_length or window is required and must be positive")
	}
	B, L, ci := sig.Shape[0], sig.Shape[1], sig.Shape[2]
	if frameLen > L {
		return fmt.Errorf("frame_length %d exceeds the signal length %d", frameLen, L)
	}
	onesided := k.onesided && ci == 1
	frames := (L-frameLen)/int(step) + 1
	bins := frameLen
	if onesided {
		bins = frameLen/2 + 1
	}
	y := ec.Empty(sig.DType, B, frames, bins, 2)
	out[0] = y
	xs, xt, err := ops.WorkFloat64s(ec, sig)
	if err != nil {
		return err
	}
	defer ec.Release(xt)
	yt := ec.Empty(ops.Double, y.Shape...)
	defer ec.Release(yt)
	ys := yt.Float64s()
	plan := newSignalFFTPlan(frameLen)
	ec.Parallel(B*frames, max(1, 4096/frameLen), func(lo, hi int) {
		buf := make([]complex128, frameLen)
		scratch := make([]complex128, plan.scratchLen())
		for it := lo; it < hi; it++ {
			b, f := it/frames, it%frames
			start := f * int(step)
			for j := 0; j < frameLen; j++ {
				p := (b*L + start + j) * ci
				v := complex(xs[p], 0)
				if ci == 2 {
					v = complex(xs[p], xs[p+1])
				}
				if window != nil {
					v *= complex(window[j], 0)
				}
				buf[j] = v
			}
			plan.transform(buf, false, scratch)
			o := ys[it*bins*2 : (it+1)*bins*2]
			for j := 0; j < bins; j++ {
				o[2*j], o[2*j+1] = real(buf[j]), imag(buf[j])
			}
		}
	})
	ops.StoreFloat64s(y, ys)
	return nil
}

type signalWindowKind int

const (
	signalHann signalWindowKind = iota
	signalHamming
	signalBlackman
)

type signalWindowKernel struct {
	kind     signalWindowKind
	dtype    ops.DType
	periodic bool
}

// signalOutputType validates an output_datatype attribute.
func signalOutputType(n *ops.Node) (ops.DType, error) {
	dt := ops.DType(n.Attrs.Int("output_datatype", int64(ops.Float)))
	switch dt {
	case ops.Float, ops.Double, ops.Float16, ops.BFloat16, ops.Int8, ops.Int16, ops.Int32, ops.Int64, ops.Uint8, ops.Uint16, ops.Uint32, ops.Uint64:
		return dt, nil
	}
	return 0, fmt.Errorf("unsupported output_datatype %s", dt)
}

func newSignalWindow(kind signalWindowKind) ops.Factory {
	return func(n *ops.Node) (any, error) {
		dt, err := signalOutputType(n)
		if err != nil {
			return nil, err
		}
		return &signalWindowKernel{kind: kind, dtype: dt, periodic: n.Attrs.Int("periodic", 1) != 0}, nil
	}
}

func (k *signalWindowKernel) Run(ec *ops.Context, in, out []*ops.Tensor) error {
	size, err := signalScalarInt(in[0], "size")
	if err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("size %d must not be negative", size)
	}
	n := int(size)
	y := ec.Empty(k.dtype, n)
	out[0] = y
	vals := make([]float64, n)
	denom := float64(n)
	if !k.periodic {
		denom = float64(n - 1)
	}
	for i := range vals {
		t := 2 * math.Pi * float64(i) / denom
		switch k.kind {
		case signalHann:
			vals[i] = 0.5 - 0.5*math.Cos(t)
		case signalHamming:
			vals[i] = 25.0/46 - (1-25.0/46)*math.Cos(t)
		default:
			vals[i] = 0.42 - 0.5*math.Cos(t) + 0.08*math.Cos(2*t)
		}
	}
	if n == 1 && !k.periodic {
		vals[0] = 1
	}
	ops.StoreFloat64s(y, vals)
	return nil
}

type melKernel struct {
	dtype ops.DType
}

func newMelWeightMatrix(n *ops.Node) (any, error) {
	dt, err := signalOutputType(n)
	if err != nil {
		return nil, err
	}
	return &melKernel{dtype: dt}, nil
}

func (k *melKernel) Run(ec *ops.Context, in, out []*ops.Tensor) error {
	if len(in) < 5 {
		return fmt.Errorf("5 inputs are required, got %d", len(in))
	}
	for i, t := range in[:5] {
		if t == nil {
			return fmt.Errorf("input %d is required", i)
		}
	}
	numMel, err := signalScalarInt(in[0], "num_mel_bins")
	if err != nil {
		return err
	}
	dftLen, err := signalScalarInt(in[1], "dft_length")
	if err != nil {
		return err
	}
	rate, err := signalScalarInt(in[2], "sample_rate")
	if err != nil {
		return err
	}
	lo, err := in[3].AsFloat64s()
	if err != nil || len(lo) != 1 {
		return fmt.Errorf("lower_edge_hertz must be a float scalar")
	}
	hi, err := in[4].AsFloat64s()
	if err != nil || len(hi) != 1 {
		return fmt.Errorf("upper_edge_hertz must be a float scalar")
	}
	if numMel <= 0 || dftLen <= 0 || rate <= 0 {
		return fmt.Errorf("num_mel_bins %d, dft_length %d and sample_rate %d must be positive", numMel, dftLen, rate)
	}
	bins := int(dftLen/2 + 1)
	M := int(numMel)
	// Mel-spaced band edges, mapped to (floored) spectrogram bins.
	melLo := 2595 * math.Log10(1+lo[0]/700)
	melHi := 2595 * math.Log10(1+hi[0]/700)
	step := (melHi - melLo) / float64(M+2)
	edges := make([]int, M+2)
	for i := range edges {
		hz := 700 * (math.Pow(10, (float64(i)*step+melLo)/2595) - 1)
		edges[i] = int(math.Floor(float64(dftLen+1) * hz / float64(rate)))
	}
	w := make([]float64, bins*M)
	set := func(j, i int, v float64) error {
		if j < 0 || j >= bins {
			return fmt.Errorf("mel band %d reaches spectrogram bin %d outside [0, %d)", i, j, bins)
		}
		w[j*M+i] = v
		return nil
	}
	for i := 0; i < M; i++ {
		l, c, h := edges[i], edges[i+1], edges[i+2]
		if c == l {
			if err := set(c, i, 1); err != nil {
				return err
			}
		} else {
			for j := l; j <= c; j++ {
				if err := set(j, i, float64(j-l)/float64(c-l)); err != nil {
					return err
				}
			}
		}
		for j := c; j < h; j++ {
			if err := set(j, i, float64(h-j)/float64(h-c)); err != nil {
				return err
			}
		}
	}
	y := ec.Empty(k.dtype, bins, M)
	out[0] = y
	ops.StoreFloat64s(y, w)
	return nil
}
