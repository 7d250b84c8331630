package ops

import "sync"

// This file holds the single-precision matrix multiply (SGEMM) used by
// MatMul, Gemm, Attention and the other matrix kernels: a cache-blocked
// algorithm in the style of GotoBLAS. B is packed into strips of nr columns
// (zero-padded), depth block by depth block, so the micro-kernel streams
// through contiguous memory; A is read in place by the assembly kernels
// (they broadcast one element per row and depth step, for either layout of
// A) and packed into mr-row strips only for the pure-Go kernel. The
// micro-kernel computes an mr×nr tile of C; which one runs is chosen once
// per process from the CPU's features (gemm_amd64.go, cpu.go).

// parallelFn runs fn over [0, n) in chunks of at least grain items (the
// signature of Context.Parallel). A nil parallelFn runs serially.
type parallelFn func(n, grain int, fn func(lo, hi int))

// gemmArch describes one SGEMM micro-kernel and the blocking it wants.
type gemmArch struct {
	name     string
	mr, nr   int  // largest tile: rows of A, columns of B
	kc       int  // depth of a packed block of B
	ncStrips int  // strips of B a worker sweeps per row strip of A
	packA    bool // the kernel reads A packed in mr-row strips
	// micro computes the mr×nr tile C = alpha*A*B + bias + beta*C
	// (alpha*A*B + bias without reading C when load is false), where A
	// element (i, p) is a[i*rsa+p*ksa], b is a packed strip of depth k and
	// bias is nil or holds at least nr values.
	micro func(k int, a []float32, rsa, ksa int, b, c []float32, ldc, mr, nr int, alpha, beta float32, bias []float32, load bool)
}

// sgemmArchGo is the pure-Go kernel, used without assembly support.
var sgemmArchGo = gemmArch{name: "go", mr: 2, nr: 4, kc: 256, ncStrips: 128, packA: true, micro: sgemmMicroGo}

// gemmKernels is the process-wide choice of matrix kernels.
type gemmKernels struct {
	f32  *gemmArch
	q8   *qgemmArch
	bf16 *bf16Arch // nil without AVX512-BF16
}

// gemmImpl returns the kernel table, built on first use from the CPU's
// features and the AGATE_NOASM environment variable, then read-only.
var gemmImpl = sync.OnceValue(newGemmKernels)

func newGemmKernels() *gemmKernels {
	f := detectCPU()
	k := &gemmKernels{f32: &sgemmArchGo, q8: &qgemmArchGo}
	if archs := asmSgemmArchs(f); len(archs) > 0 {
		k.f32 = archs[0]
	}
	if archs := asmQgemmArchs(f); len(archs) > 0 {
		k.q8 = archs[0]
	}
	k.bf16 = asmBF16Arch(f)
	return k
}

// sgemmArchs lists every float kernel this machine can run, the pure-Go
// one last, regardless of AGATE_NOASM (for tests and benchmarks).
func sgemmArchs() []*gemmArch {
	return append(asmSgemmArchs(hostCPU()), &sgemmArchGo)
}

const (
	// gemmSmall is the flop count below which packing does not pay off.
	gemmSmall = 16 * 16 * 16
	// gemmParFlops is the flop count below which sgemm runs serially.
	gemmParFlops = 1 << 18
)

// smallMTiles is the number of row tiles up to which sgemmRange runs every
// row tile against one strip of B before moving to the next strip
// (BenchmarkSgemmColdB: about 80 instead of 70 GFLOP/s at 16 rows).
const smallMTiles = 3

// gemmBufPool recycles the buffers that hold packed B matrices and packed
// A strips.
var gemmBufPool = sync.Pool{New: func() any {
	b := make([]float32, 0, 64*1024)
	return &b
}}

func getGemmBuf(n int) *[]float32 {
	buf := gemmBufPool.Get().(*[]float32)
	if cap(*buf) < n {
		*buf = make([]float32, n)
	}
	*buf = (*buf)[:n]
	return buf
}

// packedB is a k×n right-hand matrix packed for one kernel: for each depth
// block [k0, k0+kb) of arch.kc, the columns are cut into strips of arch.nr
// (the last padded with zeros), each stored as kb rows of arch.nr values.
// The block starting at depth k0 begins at k0*npad.
type packedB struct {
	arch *gemmArch
	k, n int
	npad int // n rounded up to a multiple of arch.nr
	data []float32

	// bf16 and pairs replace arch and data for a matrix packed as
	// bfloat16 pairs (gemm_bf16.go).
	bf16  *bf16Arch
	pairs []uint32
}

// packedBLen returns the number of floats a packed k×n matrix needs for the
// process's kernel.
func packedBLen(k, n int) int { return packedBLenFor(gemmImpl().f32, k, n) }

func packedBLenFor(ar *gemmArch, k, n int) int { return k * roundUp(n, ar.nr) }

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// packB packs the k×n matrix op(B) (B itself, or its transpose when trans
// is set; ldb is the row stride of the stored matrix) for the process's
// kernel into dst, which must hold packedBLen(k, n) floats.
func packB(dst []float32, trans bool, k, n int, b []float32, ldb int) packedB {
	return packBPar(gemmImpl().f32, dst, trans, k, n, b, ldb, nil)
}

// packBPar packs op(B) for ar, spread over workers by column strips.
func packBPar(ar *gemmArch, dst []float32, trans bool, k, n int, b []float32, ldb int, par parallelFn) packedB {
	nr := ar.nr
	npad := roundUp(n, nr)
	pb := packedB{arch: ar, k: k, n: n, npad: npad, data: dst[:k*npad]}
	strips := npad / nr
	if par == nil || k*n < 1<<15 {
		packBStrips(&pb, trans, b, ldb, 0, strips)
		return pb
	}
	j := packJobPool.Get().(*packJob)
	j.pb, j.trans, j.b, j.ldb = pb, trans, b, ldb
	par(strips, max(1, (1<<14)/(k*nr)), j.fn)
	j.pb, j.b = packedB{}, nil
	packJobPool.Put(j)
	return pb
}

// packJob is one parallel packBPar call (pooled, like sgemmJob).
type packJob struct {
	pb    packedB
	trans bool
	b     []float32
	ldb   int
	fn    func(lo, hi int)
}

var packJobPool = sync.Pool{New: func() any {
	j := new(packJob)
	j.fn = func(lo, hi int) { packBStrips(&j.pb, j.trans, j.b, j.ldb, lo, hi) }
	return j
}}

// packBStrips packs the column strips [lo, hi) of op(B) into pb.
func packBStrips(pb *packedB, trans bool, b []float32, ldb int, lo, hi int) {
	ar, k, n, npad := pb.arch, pb.k, pb.n, pb.npad
	nr := ar.nr
	for k0 := 0; k0 < k; k0 += ar.kc {
		kb := min(ar.kc, k-k0)
		blk := pb.data[k0*npad : (k0+kb)*npad]
		for s := lo; s < hi; s++ {
			j0 := s * nr
			packBStrip(blk[j0*kb:(j0+nr)*kb], nr, trans, k0, kb, j0, min(nr, n-j0), b, ldb)
		}
	}
}

// packBStrip packs columns [j0, j0+cols) of rows [k0, k0+kb) of op(B) into
// strip (kb*nr floats), padding missing columns with zeros.
func packBStrip(strip []float32, nr int, trans bool, k0, kb, j0, cols int, b []float32, ldb int) {
	if !trans {
		for p := 0; p < kb; p++ {
			row := b[(k0+p)*ldb+j0 : (k0+p)*ldb+j0+cols]
			d := strip[p*nr : p*nr+nr]
			copy(d, row)
			clear(d[cols:])
		}
		return
	}
	for j := 0; j < cols; j++ {
		col := b[(j0+j)*ldb+k0 : (j0+j)*ldb+k0+kb]
		for p, v := range col {
			strip[p*nr+j] = v
		}
	}
	if cols < nr {
		for p := 0; p < kb; p++ {
			clear(strip[p*nr+cols : p*nr+nr])
		}
	}
}

// packAStrip packs rows [i0, i0+rows) and depths [k0, k0+kb) of op(A) into
// dst as kb groups of mr values (rows past rows are zero).
func packAStrip(dst []float32, mr int, trans bool, i0, rows, k0, kb int, a []float32, lda int) {
	dst = dst[:kb*mr]
	if rows < mr {
		clear(dst)
	}
	for i := 0; i < rows; i++ {
		if trans {
			for p := 0; p < kb; p++ {
				dst[p*mr+i] = a[(k0+p)*lda+i0+i]
			}
			continue
		}
		row := a[(i0+i)*lda+k0 : (i0+i)*lda+k0+kb]
		for p, v := range row {
			dst[p*mr+i] = v
		}
	}
}

// sgemm computes C = alpha*op(A)*op(B) + beta*C where op(A) is m×k, op(B)
// is k×n and C is m×n, all row-major with the given row strides (op(X) is X
// or, when the trans flag is set, its transpose). When beta is 0, C is not
// read (so it may hold garbage, NaN included). par spreads the work over
// workers; it may be nil.
func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, par parallelFn) {
	sgemmWith(gemmImpl().f32, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, par)
}

// sgemmWith is sgemm on the given kernel.
func sgemmWith(ar *gemmArch, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, par parallelFn) {
	if m == 0 || n == 0 {
		return
	}
	// Packing B does not pay off for tiny products, nor, for the pure-Go
	// kernel, for few rows (matrix-vector products): split the columns
	// among the workers instead.
	if k == 0 || alpha == 0 || m*n*k <= gemmSmall || (ar.packA && m < 2*ar.mr) {
		if par == nil || 2*m*n*k < gemmParFlops || n < 64 {
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
	buf := getGemmBuf(packedBLenFor(ar, k, n))
	pb := packBPar(ar, *buf, transB, k, n, b, ldb, par)
	sgemmPacked(transA, m, alpha, a, lda, &pb, beta, c, ldc, par)
	gemmBufPool.Put(buf)
}

// sgemmJob is one parallel sgemmPacked call; jobs are pooled with their
// bound run method so that dispatching work does not allocate.
type sgemmJob struct {
	transA      bool
	m           int
	alpha, beta float32
	a           []float32
	lda         int
	pb          packedB
	c           []float32
	ldc         int
	bias        []float32
	splitM      bool
	fn          func(lo, hi int)
}

var sgemmJobPool = sync.Pool{New: func() any {
	j := new(sgemmJob)
	j.fn = j.run
	return j
}}

// run computes the row strips [lo, hi) (splitM) or column strips [lo, hi).
func (j *sgemmJob) run(lo, hi int) {
	ar := j.pb.arch
	i0, i1, s0, s1 := 0, j.m, 0, j.pb.npad/ar.nr
	if j.splitM {
		i0, i1 = lo*ar.mr, min(hi*ar.mr, j.m)
	} else {
		s0, s1 = lo, hi
	}
	sgemmRange(j.transA, i0, i1, s0, s1, j.alpha, j.a, j.lda, &j.pb, j.bias, j.beta, j.c, j.ldc)
}

// sgemmPacked computes C = alpha*op(A)*B + beta*C for a pre-packed B.
func sgemmPacked(transA bool, m int, alpha float32, a []float32, lda int, pb *packedB, beta float32, c []float32, ldc int, par parallelFn) {
	sgemmPackedBias(transA, m, alpha, a, lda, pb, nil, beta, c, ldc, par)
}

// sgemmPackedBias computes C = alpha*op(A)*B + bias + beta*C for a
// pre-packed B, where bias (nil, or one value per column of C) is added
// to every row in the kernel's write-back, while the tile is in registers.
func sgemmPackedBias(transA bool, m int, alpha float32, a []float32, lda int, pb *packedB, bias []float32, beta float32, c []float32, ldc int, par parallelFn) {
	n, k := pb.n, pb.k
	if m == 0 || n == 0 {
		return
	}
	if bias != nil {
		bias = bias[:n]
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		if bias != nil {
			for i := 0; i < m; i++ {
				row := c[i*ldc : i*ldc+n]
				for j, v := range bias {
					row[j] += v
				}
			}
		}
		return
	}
	if pb.bf16 != nil {
		sbgemmPacked(transA, m, alpha, a, lda, pb, bias, beta, c, ldc, par)
		return
	}
	ar := pb.arch
	strips := pb.npad / ar.nr
	if par == nil || 2*m*n*k < gemmParFlops {
		sgemmRange(transA, 0, m, 0, strips, alpha, a, lda, pb, bias, beta, c, ldc)
		return
	}
	j := sgemmJobPool.Get().(*sgemmJob)
	j.transA, j.m, j.alpha, j.beta = transA, m, alpha, beta
	j.a, j.lda, j.pb, j.c, j.ldc, j.bias = a, lda, *pb, c, ldc, bias
	// Split the columns, which shares A, unless there are too few strips
	// of them to go round.
	mStrips := (m + ar.mr - 1) / ar.mr
	j.splitM = strips < 8 && mStrips > strips
	if j.splitM {
		par(mStrips, 1, j.fn)
	} else {
		par(strips, 1, j.fn)
	}
	j.a, j.pb, j.c, j.bias = nil, packedB{}, nil, nil
	sgemmJobPool.Put(j)
}

// sgemmRange computes rows [i0, i1) of C over the column strips [s0, s1)
// of pb: depth block by depth block, each row strip of A against a run of
// ncStrips column strips (which stay in cache across the row strips). The
// bias (nil or n values) is added in the first depth block.
func sgemmRange(transA bool, i0, i1, s0, s1 int, alpha float32, a []float32, lda int, pb *packedB, bias []float32, beta float32, c []float32, ldc int) {
	ar := pb.arch
	mr, nr, k, n, npad := ar.mr, ar.nr, pb.k, pb.n, pb.npad
	rsa, ksa := lda, 1
	if transA {
		rsa, ksa = 1, lda
	}
	var abuf *[]float32
	if ar.packA {
		abuf = getGemmBuf(mr * ar.kc)
		defer gemmBufPool.Put(abuf)
	}
	for sc := s0; sc < s1; sc += ar.ncStrips {
		se := min(sc+ar.ncStrips, s1)
		for k0 := 0; k0 < k; k0 += ar.kc {
			kb := min(ar.kc, k-k0)
			blk := pb.data[k0*npad : (k0+kb)*npad]
			load, bet := beta != 0, beta
			if k0 > 0 {
				load, bet = true, 1
			}
			if !ar.packA && i1-i0 <= smallMTiles*mr {
				// Few rows: finish each strip of B for every row while it
				// is in L1, so the stream of B from memory (weights are
				// read once per run) overlaps all the arithmetic.
				for s := sc; s < se; s++ {
					j, cols, bs := stripCols(s, nr, n, bias, k0)
					bstrip := blk[j*kb : (j+nr)*kb]
					for i := i0; i < i1; i += mr {
						ar.micro(kb, a[i*rsa+k0*ksa:], rsa, ksa, bstrip, c[i*ldc+j:], ldc, min(mr, i1-i), cols, alpha, bet, bs, load)
					}
				}
				continue
			}
			for i := i0; i < i1; i += mr {
				rows := min(mr, i1-i)
				as, ars, aks := a[i*rsa+k0*ksa:], rsa, ksa
				if ar.packA {
					packAStrip(*abuf, mr, transA, i, rows, k0, kb, a, lda)
					as, ars, aks = *abuf, 1, mr
				}
				for s := sc; s < se; s++ {
					j, cols, bs := stripCols(s, nr, n, bias, k0)
					ar.micro(kb, as, ars, aks, blk[j*kb:(j+nr)*kb], c[i*ldc+j:], ldc, rows, cols, alpha, bet, bs, load)
				}
			}
		}
	}
}

// stripCols returns the first column of strip s, how many of its nr
// columns exist, and their bias values (added in the first depth block
// only; nil otherwise).
func stripCols(s, nr, n int, bias []float32, k0 int) (j, cols int, bs []float32) {
	j = s * nr
	cols = min(nr, n-j)
	if bias != nil && k0 == 0 {
		bs = bias[j : j+cols]
	}
	return j, cols, bs
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

// sgemmMicroGo is the pure-Go micro-kernel for a 2×4 tile of packed A
// (rsa 1, ksa 2) and a packed strip of B. The depth loop is unrolled four
// times, which keeps the eight accumulators in registers and gives the
// scheduler independent work.
func sgemmMicroGo(k int, a []float32, _, _ int, b, c []float32, ldc, mr, nr int, alpha, beta float32, bias []float32, load bool) {
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
	if mr == 2 && nr == 4 && bias == nil {
		r := c[0:4:4]
		r1 := c[ldc : ldc+4 : ldc+4]
		if load {
			r[0], r[1], r[2], r[3] = alpha*c00+beta*r[0], alpha*c01+beta*r[1], alpha*c02+beta*r[2], alpha*c03+beta*r[3]
			r1[0], r1[1], r1[2], r1[3] = alpha*c10+beta*r1[0], alpha*c11+beta*r1[1], alpha*c12+beta*r1[2], alpha*c13+beta*r1[3]
		} else {
			r[0], r[1], r[2], r[3] = alpha*c00, alpha*c01, alpha*c02, alpha*c03
			r1[0], r1[1], r1[2], r1[3] = alpha*c10, alpha*c11, alpha*c12, alpha*c13
		}
		return
	}
	tile := [2][4]float32{{c00, c01, c02, c03}, {c10, c11, c12, c13}}
	for i := 0; i < mr; i++ {
		row := c[i*ldc : i*ldc+nr]
		for j := range row {
			v := alpha * tile[i][j]
			if bias != nil {
				v += bias[j]
			}
			if load {
				v += beta * row[j]
			}
			row[j] = v
		}
	}
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
