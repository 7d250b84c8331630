//go:build amd64 && !purego

package ops

// Assembly of vecmath_amd64.s. n must be a multiple of 8.

//go:noescape
func geluAVX2(dst, src *float32, n int)

//go:noescape
func expSubSumAVX2(dst, src *float32, n int, m float32) float32

//go:noescape
func minMaxAVX2(xs *float32, n int) (lo, hi float32)

//go:noescape
func quantizeU8AVX2(dst *uint8, xs *float32, n int, scale, zp float32)

//go:noescape
func divAddAVX2(row, mask *float32, n int, div float32)

//go:noescape
func maxAVX2(xs *float32, n int) float32

//go:noescape
func scaleAVX2(xs *float32, n int, s float32)

//go:noescape
func addSumAVX2(dst, a, b, bias *float32, n int) float64

//go:noescape
func sqDevAVX2(x *float32, n int, mean float64) float64

//go:noescape
func normAffineAVX2(y, x, gamma, beta *float32, n int, mean, inv float64)

// xs[i] = min(max(xs[i], lo), hi), NaN kept; n is a multiple of 8.
func clampAVX2(xs *float32, n int, lo, hi float32)

//go:noescape
func dw3RowAVX2(y, r0, r1, r2, k *float32, z float32, n int)

//go:noescape
func dup2AVX2(dst, src *float32, n int)

//go:noescape
func lstmCellAVX2(xg, hg, c, h *float32, stride, n int)

func asmVecMath(f cpuFeatures) vecMath {
	if !f.avx2FMA {
		return vecMath{}
	}
	return vecMath{
		dw3Row: func(y, r0, r1, r2, k []float32, z float32) int {
			n := len(y) &^ 7
			if n > 0 {
				_, _, _, _ = r0[n+1], r1[n+1], r2[n+1], k[8]
				dw3RowAVX2(&y[0], &r0[0], &r1[0], &r2[0], &k[0], z, n)
			}
			return n
		},
		dup2: func(dst, src []float32) {
			n := len(src) &^ 7
			if n > 0 {
				_ = dst[2*n-1]
				dup2AVX2(&dst[0], &src[0], n)
			}
			dup2Go(dst[2*n:], src[n:])
		},
		lstmCell: func(xg, hg, c, h []float32) {
			hidden := len(h)
			n := hidden &^ 7
			if n > 0 {
				_, _ = xg[3*hidden+n-1], hg[3*hidden+n-1]
				_ = c[n-1]
				lstmCellAVX2(&xg[0], &hg[0], &c[0], &h[0], hidden, n)
			}
			if n < hidden {
				lstmCellTail(xg, hg, c, h, n)
			}
		},
		clamp: func(xs []float32, lo, hi float32) {
			n := len(xs) &^ 7
			if n > 0 {
				clampAVX2(&xs[0], n, lo, hi)
			}
			clampGo(xs[n:], lo, hi)
		},
		addSum: func(dst, a, b, bias []float32) float64 {
			n := len(dst) &^ 7
			var s float64
			if n > 0 {
				_, _, _ = a[n-1], b[n-1], dst[n-1]
				var bp *float32
				if bias != nil {
					bp = &bias[:n][0]
				}
				s = addSumAVX2(&dst[0], &a[0], &b[0], bp, n)
			}
			var tail []float32
			if bias != nil {
				tail = bias[n:]
			}
			return s + addSumGo(dst[n:], a[n:], b[n:], tail)
		},
		sqDev: func(x []float32, mean float64) float64 {
			n := len(x) &^ 7
			var s float64
			if n > 0 {
				s = sqDevAVX2(&x[0], n, mean)
			}
			return s + sqDevGo(x[n:], mean)
		},
		normAffine: func(y, x, g, b []float32, mean, inv float64) {
			n := len(x) &^ 7
			if n > 0 {
				_, _ = y[n-1], g[n-1]
				var bp *float32
				if b != nil {
					bp = &b[:n][0]
				}
				normAffineAVX2(&y[0], &x[0], &g[0], bp, n, mean, inv)
			}
			var bt []float32
			if b != nil {
				bt = b[n:]
			}
			normAffineGo(y[n:], x[n:], g[n:], bt, mean, inv)
		},
		gelu: func(dst, src []float32) {
			n := len(src) &^ 7
			if n > 0 {
				_ = dst[n-1]
				geluAVX2(&dst[0], &src[0], n)
			}
			geluGo(dst[n:len(src)], src[n:])
		},
		expSubSum: func(dst, src []float32, m float32) float32 {
			n := len(src) &^ 7
			var s float32
			if n > 0 {
				_ = dst[n-1]
				s = expSubSumAVX2(&dst[0], &src[0], n, m)
			}
			return s + expSubSumGo(dst[n:len(src)], src[n:], m)
		},
		minMax: func(xs []float32) (float32, float32) {
			n := len(xs) &^ 7
			if n == 0 {
				return minMaxGo(xs)
			}
			lo, hi := minMaxAVX2(&xs[0], n)
			l2, h2 := minMaxGo(xs[n:])
			return min(lo, l2), max(hi, h2)
		},
		softmax: func(row []float32) {
			n := len(row) &^ 7
			if n == 0 {
				softmaxGo(row)
				return
			}
			m := maxAVX2(&row[0], n)
			for _, v := range row[n:] {
				if v > m {
					m = v
				}
			}
			sum := expSubSumAVX2(&row[0], &row[0], n, m) + expSubSumGo(row[n:], row[n:], m)
			inv := 1 / sum
			scaleAVX2(&row[0], n, inv)
			for i := n; i < len(row); i++ {
				row[i] *= inv
			}
		},
		divAdd: func(row, mask []float32, div float32) {
			n := len(row) &^ 7
			if n > 0 {
				var mp *float32
				if mask != nil {
					_ = mask[n-1]
					mp = &mask[0]
				}
				divAddAVX2(&row[0], mp, n, div)
			}
			var rest []float32
			if mask != nil {
				rest = mask[n:len(row)]
			}
			divAddGo(row[n:], rest, div)
		},
		quantizeU8: func(dst []uint8, xs []float32, scale, zp float32) {
			n := len(xs) &^ 7
			if n > 0 {
				_ = dst[n-1]
				quantizeU8AVX2(&dst[0], &xs[0], n, scale, zp)
			}
			quantizeU8Go(dst[n:len(xs)], xs[n:], scale, zp)
		},
	}
}
