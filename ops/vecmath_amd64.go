//go:build amd64 && !purego

package ops

// Assembly of vecmath_amd64.s. n must be a multiple of 8.

//go:noescape
func geluAVX2(dst, src *float32, n int)

//go:noescape
func expSubSumAVX2(dst, src *float32, n int, m float32) float32

func asmVecMath(f cpuFeatures) vecMath {
	if !f.avx2FMA {
		return vecMath{}
	}
	return vecMath{
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
	}
}
