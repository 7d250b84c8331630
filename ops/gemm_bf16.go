package ops

import (
	"fmt"
	"math"
	"strings"
	"sync"
)

// This file holds the bfloat16 matrix product behind the opt-in
// PrecisionBFloat16: constant weights are packed once as bfloat16, the
// activations are rounded to bfloat16 per product, and the AVX512-BF16
// kernel (VDPBF16PS) multiplies pairs of depths into float32
// accumulators. Everything outside the products (bias, activations,
// normalisation, softmax) stays float32.
//
// A packed bfloat16 B has the layout of a float32 packedB with each float
// replaced by a dword holding two bfloat16 values: depths 2q (low half)
// and 2q+1 (high half) of one column. Depth blocks of kc (even) depths
// hold ceil(kb/2) rows of pairs, the last pair of an odd depth padded with
// zero.

// Precision is the arithmetic of the float32 matrix products of a planned
// model.
type Precision uint8

const (
	// PrecisionFloat32 computes products in float32 (the default).
	PrecisionFloat32 Precision = iota
	// PrecisionBFloat16 stores constant weights of float32 matrix
	// products as bfloat16 and multiplies with bfloat16 inputs and
	// float32 accumulation. It applies only where the CPU has the
	// AVX512-BF16 instructions; elsewhere products stay float32.
	PrecisionBFloat16
)

// String returns "fp32" or "bf16".
func (p Precision) String() string {
	if p == PrecisionBFloat16 {
		return "bf16"
	}
	return "fp32"
}

// ParsePrecision reads a precision name: "fp32" (or "float32") and
// "bf16" (or "bfloat16").
func ParsePrecision(s string) (Precision, error) {
	switch strings.ToLower(s) {
	case "fp32", "float32":
		return PrecisionFloat32, nil
	case "bf16", "bfloat16":
		return PrecisionBFloat16, nil
	}
	return 0, fmt.Errorf("unknown precision %q (want fp32 or bf16)", s)
}

// BFloat16Supported reports whether this process multiplies in bfloat16
// when asked to: the CPU has AVX512-BF16 and AGATE_NOASM is not set.
func BFloat16Supported() bool { return gemmImpl().bf16 != nil }

// bf16Arch describes a bfloat16 micro-kernel and its blocking.
type bf16Arch struct {
	name     string
	mr, nr   int // largest tile: rows of A, columns of B
	kc       int // depth of a packed block of B (even)
	ncStrips int // strips of B a worker sweeps per row strip of A
	// micro computes the mr×nr tile C = alpha*A*B + bias + beta*C (C not
	// read when load is false) over kp pairs of depths, where pair q of
	// row i of A is a[i*rsa+q] and b is a packed strip.
	micro func(kp int, a []uint32, rsa int, b []uint32, c []float32, ldc, mr, nr int, alpha, beta float32, bias []float32, load bool)
	// pairs rounds a contiguous row to bfloat16 pairs like bf16Pairs
	// with step 1 (the last pair's high half zero when the row is odd).
	pairs func(dst []uint32, src []float32)
}

// packConstB packs the constant k×n matrix op(B) for the node's
// precision: as bfloat16 pairs when n asks for PrecisionBFloat16 and the
// CPU can multiply them, as float32 otherwise.
func packConstB(n *Node, trans bool, k, nn int, b []float32, ldb int) packedB {
	if ar := gemmImpl().bf16; n.Precision == PrecisionBFloat16 && ar != nil {
		return packBF16(ar, trans, k, nn, b, ldb)
	}
	return packB(make([]float32, packedBLen(k, nn)), trans, k, nn, b, ldb)
}

// bf16Round returns the bfloat16 nearest to f (ties to even), NaNs kept
// quiet.
func bf16Round(f float32) uint32 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return u>>16 | 0x40
	}
	return (u + 0x7fff + (u>>16)&1) >> 16
}

// bf16Pairs writes row [0, k) of src into dst as ceil(k/2) pairs of
// bfloat16 values (the high half of the last pair zero when k is odd).
// step is the distance between successive depths in src.
func bf16Pairs(dst []uint32, src []float32, k, step int) {
	kp := k / 2
	dst = dst[:(k+1)/2]
	if step == 1 {
		src = src[:k]
		for q := 0; q < kp; q++ {
			dst[q] = bf16Round(src[2*q]) | bf16Round(src[2*q+1])<<16
		}
		if k%2 == 1 {
			dst[kp] = bf16Round(src[k-1])
		}
		return
	}
	for q := 0; q < kp; q++ {
		dst[q] = bf16Round(src[2*q*step]) | bf16Round(src[(2*q+1)*step])<<16
	}
	if k%2 == 1 {
		dst[kp] = bf16Round(src[(k-1)*step])
	}
}

// packBF16 packs the k×n matrix op(B) (its transpose when trans is set;
// ldb is the row stride of the stored matrix) as bfloat16 pairs for ar.
func packBF16(ar *bf16Arch, trans bool, k, n int, b []float32, ldb int) packedB {
	nr := ar.nr
	npad := roundUp(n, nr)
	pb := packedB{bf16: ar, k: k, n: n, npad: npad, pairs: make([]uint32, (k+1)/2*npad)}
	col := make([]float32, ar.kc)
	for k0 := 0; k0 < k; k0 += ar.kc {
		kb := min(ar.kc, k-k0)
		kbp := (kb + 1) / 2
		blk := pb.pairs[k0/2*npad : (k0/2+kbp)*npad]
		for j := 0; j < n; j++ {
			s, jj := j/nr, j%nr
			strip := blk[s*nr*kbp : (s+1)*nr*kbp]
			// Gather column j of rows [k0, k0+kb), then pair it up.
			if trans {
				copy(col, b[j*ldb+k0:j*ldb+k0+kb])
			} else {
				for p := 0; p < kb; p++ {
					col[p] = b[(k0+p)*ldb+j]
				}
			}
			for q := 0; q < kbp; q++ {
				lo := bf16Round(col[2*q])
				var hi uint32
				if 2*q+1 < kb {
					hi = bf16Round(col[2*q+1])
				}
				strip[q*nr+jj] = lo | hi<<16
			}
		}
	}
	return pb
}

// bf16BufPool recycles the buffers holding activations rounded to
// bfloat16 pairs.
var bf16BufPool = sync.Pool{New: func() any {
	b := make([]uint32, 0, 32*1024)
	return &b
}}

// sbgemmJob is one parallel sbgemmPacked call (pooled like sgemmJob).
type sbgemmJob struct {
	m, kp       int
	alpha, beta float32
	ap          []uint32
	transA      bool
	a           []float32
	lda         int
	pb          packedB // a copy, so that the caller's does not escape
	c           []float32
	ldc         int
	bias        []float32
	splitM      bool
	phase       int // 0: round A to pairs, 1: multiply
	fn          func(lo, hi int)
}

var sbgemmJobPool = sync.Pool{New: func() any {
	j := new(sbgemmJob)
	j.fn = j.run
	return j
}}

func (j *sbgemmJob) run(lo, hi int) {
	if j.phase == 0 {
		j.round(lo, hi)
		return
	}
	ar := j.pb.bf16
	i0, i1, s0, s1 := 0, j.m, 0, j.pb.npad/ar.nr
	if j.splitM {
		i0, i1 = lo*ar.mr, min(hi*ar.mr, j.m)
	} else {
		s0, s1 = lo, hi
	}
	sbgemmRange(i0, i1, s0, s1, j.alpha, j.ap, j.kp, &j.pb, j.bias, j.beta, j.c, j.ldc)
}

// round writes rows [lo, hi) of op(A) as bfloat16 pairs.
func (j *sbgemmJob) round(lo, hi int) {
	k := j.pb.k
	for i := lo; i < hi; i++ {
		if j.transA {
			bf16Pairs(j.ap[i*j.kp:], j.a[i:], k, j.lda)
		} else {
			j.pb.bf16.pairs(j.ap[i*j.kp:(i+1)*j.kp], j.a[i*j.lda:i*j.lda+k])
		}
	}
}

// sbgemmPacked computes C = alpha*op(A)*B + bias + beta*C for B packed as
// bfloat16 pairs, rounding op(A) to bfloat16 first (k ≥ 1, m ≥ 1, n ≥ 1).
func sbgemmPacked(transA bool, m int, alpha float32, a []float32, lda int, pb *packedB, bias []float32, beta float32, c []float32, ldc int, par parallelFn) {
	ar := pb.bf16
	kp := (pb.k + 1) / 2
	buf := bf16BufPool.Get().(*[]uint32)
	if cap(*buf) < m*kp {
		*buf = make([]uint32, m*kp)
	}
	j := sbgemmJobPool.Get().(*sbgemmJob)
	j.m, j.kp, j.alpha, j.beta = m, kp, alpha, beta
	j.ap, j.transA, j.a, j.lda = (*buf)[:m*kp], transA, a, lda
	j.pb, j.c, j.ldc, j.bias = *pb, c, ldc, bias
	strips := pb.npad / ar.nr
	if par == nil || 2*m*pb.n*pb.k < gemmParFlops {
		j.phase = 0
		j.round(0, m)
		sbgemmRange(0, m, 0, strips, alpha, j.ap, kp, pb, bias, beta, c, ldc)
	} else {
		j.phase = 0
		par(m, max(1, 4096/max(pb.k, 1)), j.fn)
		j.phase = 1
		mStrips := (m + ar.mr - 1) / ar.mr
		j.splitM = strips < 8 && mStrips > strips
		if j.splitM {
			par(mStrips, 1, j.fn)
		} else {
			par(strips, 1, j.fn)
		}
	}
	j.ap, j.a, j.pb, j.c, j.bias = nil, nil, packedB{}, nil, nil
	sbgemmJobPool.Put(j)
	bf16BufPool.Put(buf)
}

// sbgemmRange is sgemmRange for bfloat16 pairs: rows [i0, i1) of C over
// the column strips [s0, s1) of pb, A given as pairs with kp per row.
func sbgemmRange(i0, i1, s0, s1 int, alpha float32, ap []uint32, kp int, pb *packedB, bias []float32, beta float32, c []float32, ldc int) {
	ar := pb.bf16
	mr, nr, k, n, npad := ar.mr, ar.nr, pb.k, pb.n, pb.npad
	for sc := s0; sc < s1; sc += ar.ncStrips {
		se := min(sc+ar.ncStrips, s1)
		for k0 := 0; k0 < k; k0 += ar.kc {
			kbp := (min(ar.kc, k-k0) + 1) / 2
			q0 := k0 / 2
			blk := pb.pairs[q0*npad : (q0+kbp)*npad]
			load, bet := beta != 0, beta
			if k0 > 0 {
				load, bet = true, 1
			}
			if i1-i0 <= smallMTiles*mr {
				for s := sc; s < se; s++ {
					j, cols, bs := stripCols(s, nr, n, bias, k0)
					bstrip := blk[j*kbp : (j+nr)*kbp]
					for i := i0; i < i1; i += mr {
						ar.micro(kbp, ap[i*kp+q0:], kp, bstrip, c[i*ldc+j:], ldc, min(mr, i1-i), cols, alpha, bet, bs, load)
					}
				}
				continue
			}
			for i := i0; i < i1; i += mr {
				rows := min(mr, i1-i)
				for s := sc; s < se; s++ {
					j, cols, bs := stripCols(s, nr, n, bias, k0)
					ar.micro(kbp, ap[i*kp+q0:], kp, blk[j*kbp:(j+nr)*kbp], c[i*ldc+j:], ldc, rows, cols, alpha, bet, bs, load)
				}
			}
		}
	}
}
