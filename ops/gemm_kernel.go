package ops

import "sync"

// This file holds the single-precision matrix multiply (SGEMM) used by
// MatMul, Gemm, Attention and the other matrix kernels: a cache-blocked,
// packed algorithm in the style of GotoBLAS. A is packed into strips of
// gemmMR rows and B into strips of gemmNR columns, both laid out k-major, so
// the micro-kernel streams through contiguous memory. The micro-kernel is a
// plain Go function; an assembly one can replace it as long as it keeps the
// packed layouts.

// parallelFn runs fn over [0, n) in chunks of at least grain items (the
// signature of Context.Parallel). A nil parallelFn runs serially.
type parallelFn func(n, grain int, fn func(lo, hi int))

const (
	gemmMR = 2   // rows of C per micro-tile
	gemmNR = 4   // columns of C per micro-tile
	gemmKC = 256 // depth of a packed block
	gemmMC = 64  // rows of A packed per block (a multiple of gemmMR)
	gemmNC = 512 // most columns of B handled by one task (a multiple of gemmNR)

	// gemmSmall is the flop count below which packing does not pay off.
	gemmSmall = 16 * 16 * 16
)

// gemmBufPool recycles the per-task buffers that hold packed A blocks.
var gemmBufPool = sync.Pool{New: func() any {
	b := make([]float32, gemmMC*gemmKC)
	return &b
}}

// packedB is a k×n right-hand matrix packed for the micro-kernel: for each
// depth block [k0, k0+kb) of gemmKC, the columns are cut into strips of
// gemmNR (the last padded with zeros), each stored as kb rows of gemmNR
// values. The block starting at depth k0 begins at k0*npad.
type packedB struct {
	k, n int
	npad int // n rounded up to a multiple of gemmNR
	data []float32
}

// packedBLen returns the number of floats a packed k×n matrix needs.
func packedBLen(k, n int) int {
	return k * roundUp(n, gemmNR)
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// packB packs the k×n matrix op(B) (B itself, or its transpose when trans
// is set; ldb is the row stride of the stored matrix) into dst, which must
// hold packedBLen(k, n) floats.
func packB(dst []float32, trans bool, k, n int, b []float32, ldb int) packedB {
	return packBPar(dst, trans, k, n, b, ldb, nil)
}

// packBPar is packB spread over workers by column strips.
func packBPar(dst []float32, trans bool, k, n int, b []float32, ldb int, par parallelFn) packedB {
	npad := roundUp(n, gemmNR)
	dst = dst[:k*npad]
	pack := func(lo, hi int) {
		for k0 := 0; k0 < k; k0 += gemmKC {
			kb := min(gemmKC, k-k0)
			blk := dst[k0*npad : (k0+kb)*npad]
			for s := lo; s < hi; s++ {
				j0 := s * gemmNR
				strip := blk[j0*kb : (j0+gemmNR)*kb]
				packBStrip(strip, trans, k0, kb, j0, min(gemmNR, n-j0), b, ldb)
			}
		}
	}
	strips := npad / gemmNR
	if par == nil || k*n < 1<<15 {
		pack(0, strips)
	} else {
		par(strips, max(1, (1<<14)/(k*gemmNR)), pack)
	}
	return packedB{k: k, n: n, npad: npad, data: dst}
}

// packBStrip packs columns [j0, j0+nr) of rows [k0, k0+kb) of op(B) into
// strip (kb*gemmNR floats), padding missing columns with zeros.
func packBStrip(strip []float32, trans bool, k0, kb, j0, nr int, b []float32, ldb int) {
	if !trans && nr == gemmNR {
		for p := 0; p < kb; p++ {
			src := b[(k0+p)*ldb+j0 : (k0+p)*ldb+j0+gemmNR : (k0+p)*ldb+j0+gemmNR]
			d := strip[p*gemmNR : p*gemmNR+gemmNR : p*gemmNR+gemmNR]
			d[0], d[1], d[2], d[3] = src[0], src[1], src[2], src[3]
		}
		return
	}
	for p := 0; p < kb; p++ {
		d := strip[p*gemmNR : p*gemmNR+gemmNR]
		for j := 0; j < gemmNR; j++ {
			switch {
			case j >= nr:
				d[j] = 0
			case trans:
				d[j] = b[(j0+j)*ldb+k0+p]
			default:
				d[j] = b[(k0+p)*ldb+j0+j]
			}
		}
	}
}

// packA packs rows [i0, i0+mb) and depths [k0, k0+kb) of op(A), scaled by
// alpha, into dst as strips of gemmMR rows (the last padded with zeros).
func packA(dst []float32, trans bool, i0, mb, k0, kb int, alpha float32, a []float32, lda int) {
	for ir := 0; ir < mb; ir += gemmMR {
		strip := dst[ir*kb : (ir+gemmMR)*kb]
		mr := min(gemmMR, mb-ir)
		if !trans && mr == gemmMR {
			r0 := a[(i0+ir)*lda+k0 : (i0+ir)*lda+k0+kb]
			r1 := a[(i0+ir+1)*lda+k0 : (i0+ir+1)*lda+k0+kb]
			if alpha == 1 {
				for p := range r0 {
					strip[2*p] = r0[p]
					strip[2*p+1] = r1[p]
				}
			} else {
				for p := range r0 {
					strip[2*p] = alpha * r0[p]
					strip[2*p+1] = alpha * r1[p]
				}
			}
			continue
		}
		for p := 0; p < kb; p++ {
			for i := 0; i < gemmMR; i++ {
				var v float32
				if i < mr {
					if trans {
						v = a[(k0+p)*lda+i0+ir+i]
					} else {
						v = a[(i0+ir+i)*lda+k0+p]
					}
				}
				strip[p*gemmMR+i] = alpha * v
			}
		}
	}
}

// sgemm computes C = alpha*op(A)*op(B) + beta*C where op(A) is m×k, op(B)
// is k×n and C is m×n, all row-major with the given row strides (op(X) is X
// or, when the trans flag is set, its transpose). When beta is 0, C is not
// read (so it may hold garbage, NaN included). par spreads the work over
// workers; it may be nil.
func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, par parallelFn) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 || m*n*k <= gemmSmall || m < 2*gemmMR {
		// Packing B does not pay off for few rows (matrix-vector products):
		// split the columns among the workers instead.
		if par == nil || 2*m*n*k < 1<<18 || n < 64 {
			sgemmSmall(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			return
		}
		par(n, 32, func(lo, hi int) {
			bOff := lo
			if transB {
				bOff = lo * ldb
			}
			sgemmSmall(transA, transB, m, hi-lo, k, alpha, a, lda, b[bOff:], ldb, beta, c[lo:], ldc)
		})
		return
	}
	buf := gemmBufPool.Get().(*[]float32)
	need := packedBLen(k, n)
	if cap(*buf) < need {
		*buf = make([]float32, need)
	}
	pb := packBPar((*buf)[:need], transB, k, n, b, ldb, par)
	sgemmPacked(transA, m, alpha, a, lda, &pb, beta, c, ldc, par)
	gemmBufPool.Put(buf)
}

// sgemmPacked computes C = alpha*op(A)*B + beta*C for a pre-packed B.
func sgemmPacked(transA bool, m int, alpha float32, a []float32, lda int, pb *packedB, beta float32, c []float32, ldc int, par parallelFn) {
	n, k := pb.n, pb.k
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	// Cut C into tasks of gemmMC rows by up to gemmNC columns, making the
	// column blocks narrow enough that every worker gets some work.
	mBlocks := (m + gemmMC - 1) / gemmMC
	nc := gemmNC
	if par != nil {
		const wantTasks = 8
		for nc > 4*gemmNR && mBlocks*((n+nc-1)/nc) < wantTasks {
			nc /= 2
		}
	}
	nc = roundUp(min(nc, n), gemmNR)
	nBlocks := (n + nc - 1) / nc
	tasks := mBlocks * nBlocks
	run := func(lo, hi int) {
		bufp := gemmBufPool.Get().(*[]float32)
		if cap(*bufp) < gemmMC*gemmKC {
			*bufp = make([]float32, gemmMC*gemmKC)
		}
		abuf := (*bufp)[:gemmMC*gemmKC]
		for t := lo; t < hi; t++ {
			i0 := (t / nBlocks) * gemmMC
			j0 := (t % nBlocks) * nc
			mb := min(gemmMC, m-i0)
			nb := min(nc, n-j0)
			sgemmBlock(transA, i0, mb, j0, nb, alpha, a, lda, pb, beta, c, ldc, abuf)
		}
		gemmBufPool.Put(bufp)
	}
	if par == nil || tasks == 1 || 2*m*n*k < 1<<18 {
		run(0, tasks)
		return
	}
	par(tasks, 1, run)
}

// scaleC sets C = beta*C (C = 0 when beta is 0, without reading C).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// sgemmBlock computes the mb×nb block of C at (i0, j0).
func sgemmBlock(transA bool, i0, mb, j0, nb int, alpha float32, a []float32, lda int, pb *packedB, beta float32, c []float32, ldc int, abuf []float32) {
	scaleC(mb, nb, beta, c[i0*ldc+j0:], ldc)
	k, npad := pb.k, pb.npad
	var tile [gemmMR * gemmNR]float32
	for k0 := 0; k0 < k; k0 += gemmKC {
		kb := min(gemmKC, k-k0)
		mbPad := roundUp(mb, gemmMR)
		ap := abuf[:mbPad*kb]
		packA(ap, transA, i0, mb, k0, kb, alpha, a, lda)
		blk := pb.data[k0*npad : (k0+kb)*npad]
		for jr := 0; jr < nb; jr += gemmNR {
			j := j0 + jr
			bs := blk[j*kb : (j+gemmNR)*kb]
			nr := min(gemmNR, nb-jr)
			for ir := 0; ir < mb; ir += gemmMR {
				as := ap[ir*kb : (ir+gemmMR)*kb]
				mr := min(gemmMR, mb-ir)
				i := i0 + ir
				if mr == gemmMR && nr == gemmNR {
					gemmMicro(kb, as, bs, c[i*ldc+j:], ldc)
					continue
				}
				tile = [gemmMR * gemmNR]float32{}
				gemmMicro(kb, as, bs, tile[:], gemmNR)
				for ii := 0; ii < mr; ii++ {
					row := c[(i+ii)*ldc+j : (i+ii)*ldc+j+nr]
					for jj := range row {
						row[jj] += tile[ii*gemmNR+jj]
					}
				}
			}
		}
	}
}

// gemmMicro adds the product of a packed gemmMR×k strip of A and a packed
// k×gemmNR strip of B to the gemmMR×gemmNR tile of C at c (row stride ldc).
// The depth loop is unrolled four times, which keeps the eight accumulators
// in registers and gives the scheduler independent work.
func gemmMicro(k int, a, b []float32, c []float32, ldc int) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	a = a[:2*k]
	b = b[:4*k]
	for len(a) >= 8 && len(b) >= 16 {
		a0, a1 := a[0], a[1]
		c00 += a0 * b[0]
		c01 += a0 * b[1]
		c02 += a0 * b[2]
		c03 += a0 * b[3]
		c10 += a1 * b[0]
		c11 += a1 * b[1]
		c12 += a1 * b[2]
		c13 += a1 * b[3]
		a0, a1 = a[2], a[3]
		c00 += a0 * b[4]
		c01 += a0 * b[5]
		c02 += a0 * b[6]
		c03 += a0 * b[7]
		c10 += a1 * b[4]
		c11 += a1 * b[5]
		c12 += a1 * b[6]
		c13 += a1 * b[7]
		a0, a1 = a[4], a[5]
		c00 += a0 * b[8]
		c01 += a0 * b[9]
		c02 += a0 * b[10]
		c03 += a0 * b[11]
		c10 += a1 * b[8]
		c11 += a1 * b[9]
		c12 += a1 * b[10]
		c13 += a1 * b[11]
		a0, a1 = a[6], a[7]
		c00 += a0 * b[12]
		c01 += a0 * b[13]
		c02 += a0 * b[14]
		c03 += a0 * b[15]
		c10 += a1 * b[12]
		c11 += a1 * b[13]
		c12 += a1 * b[14]
		c13 += a1 * b[15]
		a = a[8:]
		b = b[16:]
	}
	for len(a) >= 2 && len(b) >= 4 {
		a0, a1 := a[0], a[1]
		c00 += a0 * b[0]
		c01 += a0 * b[1]
		c02 += a0 * b[2]
		c03 += a0 * b[3]
		c10 += a1 * b[0]
		c11 += a1 * b[1]
		c12 += a1 * b[2]
		c13 += a1 * b[3]
		a = a[2:]
		b = b[4:]
	}
	r := c[0:4:4]
	r[0] += c00
	r[1] += c01
	r[2] += c02
	r[3] += c03
	r = c[ldc : ldc+4 : ldc+4]
	r[0] += c10
	r[1] += c11
	r[2] += c12
	r[3] += c13
}

// sgemmSmall is the unpacked path for tiny or degenerate products.
func sgemmSmall(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
		} else if beta != 1 {
			for j := range row {
				row[j] *= beta
			}
		}
		if alpha == 0 {
			continue
		}
		for p := 0; p < k; p++ {
			var av float32
			if transA {
				av = a[p*lda+i]
			} else {
				av = a[i*lda+p]
			}
			av *= alpha
			if transB {
				for j := range row {
					row[j] += av * b[j*ldb+p]
				}
			} else {
				br := b[p*ldb : p*ldb+n]
				for j, bv := range br {
					row[j] += av * bv
				}
			}
		}
	}
}
