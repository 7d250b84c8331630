package ops

import (
	"math"
	"sync"
)

// vecMath holds the vectorised float32 routines of the transformer path,
// chosen once per process from the CPU's features (AGATE_NOASM=1 forces the
// Go versions, which are also what other architectures use).
type vecMath struct {
	// gelu sets dst[i] = GELU(src[i]) (erf form, absolute error below
	// 1e-7·|x|); dst and src may be the same slice.
	gelu func(dst, src []float32)
	// expSubSum sets dst[i] = exp(src[i]-m) for src[i] <= m and returns the
	// sum (the softmax inner loop).
	expSubSum func(dst, src []float32, m float32) float32
	// minMax returns the minimum and maximum of xs and 0, ignoring NaN
	// (DynamicQuantizeLinear's range).
	minMax func(xs []float32) (lo, hi float32)
	// softmax replaces a non-empty row by its softmax (rows without NaN).
	softmax func(row []float32)
	// divAdd sets row[i] = row[i]/div + mask[i] (mask nil: no addition).
	divAdd func(row, mask []float32, div float32)
	// quantizeU8 quantizes xs to uint8 with round-half-to-even.
	quantizeU8 func(dst []uint8, xs []float32, scale, zp float32)
	// addSum sets dst[i] = a[i] + b[i] (+ bias[i] when bias is not nil,
	// rounded in that order) and returns the float64 sum of dst.
	addSum func(dst, a, b, bias []float32) float64
	// sqDev returns the float64 sum of (x[i]-mean)².
	sqDev func(x []float32, mean float64) float64
	// normAffine sets y[i] = float32((x[i]-mean)·inv)·g[i] + b[i] (b nil:
	// no addition), the product and the sum rounded separately.
	normAffine func(y, x, g, b []float32, mean, inv float64)
	// clamp sets xs[i] = min(max(xs[i], lo), hi), keeping NaN (Relu with
	// lo 0 and hi +Inf, ReLU6 with 0 and 6).
	clamp func(xs []float32, lo, hi float32)
	// lstmCell runs one LSTM step with the default activations for the
	// len(h) hidden units of a batch entry: gates i, o, f, g are
	// xg[k·H+j] + hg[k·H+j] (H = len(h)), c[j] = σ(f)·c[j] + σ(i)·tanh(g)
	// and h[j] = σ(o)·tanh(c[j]).
	lstmCell func(xg, hg, c, h []float32)
	// dup2 writes each value of src twice in a row into dst
	// (len(dst) ≥ 2·len(src)): nearest 2× upsampling of a row.
	dup2 func(dst, src []float32)
	// dw3Row computes a prefix of one output row of a stride-1 3×3
	// depthwise convolution, y[i] = z + Σ k[3a+b]·ra[i+b] (the windows
	// inside the input rows r0, r1, r2), and returns how many outputs it
	// wrote (the rest is the caller's; nil: none).
	dw3Row func(y, r0, r1, r2, k []float32, z float32) int
}

var vecMathOnce = sync.OnceValue(func() vecMath {
	v := asmVecMath(detectCPU())
	if v.gelu == nil {
		v.gelu = geluGo
	}
	if v.expSubSum == nil {
		v.expSubSum = expSubSumGo
	}
	if v.softmax == nil {
		v.softmax = softmaxGo
	}
	if v.divAdd == nil {
		v.divAdd = divAddGo
	}
	if v.minMax == nil {
		v.minMax = minMaxGo
	}
	if v.quantizeU8 == nil {
		v.quantizeU8 = quantizeU8Go
	}
	if v.addSum == nil {
		v.addSum = addSumGo
	}
	if v.sqDev == nil {
		v.sqDev = sqDevGo
	}
	if v.normAffine == nil {
		v.normAffine = normAffineGo
	}
	if v.clamp == nil {
		v.clamp = clampGo
	}
	if v.dup2 == nil {
		v.dup2 = dup2Go
	}
	if v.lstmCell == nil {
		v.lstmCell = func(xg, hg, c, h []float32) { lstmCellTail(xg, hg, c, h, 0) }
	}
	return v
})

// lstmCellTail is vecMath.lstmCell in Go for the hidden units from j0 on.
func lstmCellTail(xg, hg, c, h []float32, j0 int) {
	H := len(h)
	xg, hg, c = xg[:4*H], hg[:4*H], c[:H]
	for j := j0; j < H; j++ {
		ig := ewSigmoidF(xg[j] + hg[j])
		og := ewSigmoidF(xg[H+j] + hg[H+j])
		fg := ewSigmoidF(xg[2*H+j] + hg[2*H+j])
		cg := ewTanhF(xg[3*H+j] + hg[3*H+j])
		cj := fg*c[j] + ig*cg
		c[j] = cj
		h[j] = og * ewTanhF(cj)
	}
}

// clampGo is vecMath.clamp in Go.
func clampGo(xs []float32, lo, hi float32) {
	for i, v := range xs {
		xs[i] = min(max(v, lo), hi)
	}
}

// vecmath returns the process's vectorised math routines.
func vecmath() vecMath { return vecMathOnce() }

// addSumGo is the portable addSum.
func addSumGo(dst, a, b, bias []float32) float64 {
	a, b = a[:len(dst)], b[:len(dst)]
	if bias != nil {
		bias = bias[:len(dst)]
		for i := range dst {
			dst[i] = a[i] + b[i] + bias[i]
		}
	} else {
		for i := range dst {
			dst[i] = a[i] + b[i]
		}
	}
	return normSum(dst)
}

// sqDevGo is the portable sqDev.
func sqDevGo(x []float32, mean float64) float64 { return normSqDev(x, mean) }

// normAffineGo is the portable normAffine.
func normAffineGo(y, x, g, b []float32, mean, inv float64) {
	y, g = y[:len(x)], g[:len(x)]
	if b == nil {
		for i, v := range x {
			y[i] = float32((float64(v)-mean)*inv) * g[i]
		}
		return
	}
	b = b[:len(x)]
	for i, v := range x {
		y[i] = float32((float64(v)-mean)*inv)*g[i] + b[i]
	}
}

// geluGo is the portable GELU of the fused path.
func geluGo(dst, src []float32) {
	dst = dst[:len(src)]
	for i, x := range src {
		z := float64(x) * (1 / math.Sqrt2)
		az := math.Abs(z)
		t := 1 / (1 + asP*az)
		poly := t * (asA1 + t*(asA2+t*(asA3+t*(asA4+t*asA5))))
		erfc := poly * float64(rnExpf(float32(-az*az)))
		if z >= 0 {
			dst[i] = float32(float64(x) * (1 - 0.5*erfc))
		} else {
			dst[i] = float32(float64(x) * 0.5 * erfc)
		}
	}
}

// expSubSumGo is the portable softmax inner loop.
func expSubSumGo(dst, src []float32, m float32) float32 {
	dst = dst[:len(src)]
	var s float32
	for i, x := range src {
		e := rnExpf(x - m)
		dst[i] = e
		s += e
	}
	return s
}

// divAddGo is the portable divAdd.
func divAddGo(row, mask []float32, div float32) {
	if mask == nil {
		for i := range row {
			row[i] /= div
		}
		return
	}
	mask = mask[:len(row)]
	for i := range row {
		row[i] = row[i]/div + mask[i]
	}
}

// softmaxGo is the portable in-place softmax of a row.
func softmaxGo(row []float32) {
	m := row[0]
	for _, v := range row {
		if v > m {
			m = v
		}
	}
	inv := 1 / expSubSumGo(row, row, m)
	for i := range row {
		row[i] *= inv
	}
}
