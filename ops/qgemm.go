package ops

import (
	"encoding/binary"
	"math"
	"sync"
	"unsafe"
)

// This file holds the 8-bit integer matrix multiply behind MatMulInteger,
// QLinearMatMul, MatMulIntegerToFloat and DynamicQuantizeMatMul:
//
//	C[i,j] = Σ_p (A[i,p] - za) * (B[p,j] - zb[j])
//
// with uint8 or int8 A and B, a per-tensor zero point za and a per-tensor or
// per-column zb. The kernels multiply unsigned by signed bytes (the operand
// shape of VPDPBUSD and VPMADDUBSW), so the operands are re-encoded while
// packing: an int8 A is stored as A+128 (uint8) and a uint8 B as B-128
// (int8), which only moves the zero points (za' = za+128, zb' = zb-128).
// The products of the stored values are summed exactly in int32 and the
// zero points are applied afterwards from row sums of A and column sums of
// B:
//
//	C = Σ a'b' - za'·colsum(b')[j] - zb'[j]·(rowsum(a')[i] - K·za')
//
// which the kernels fold into their write-back, optionally with a float
// scale and bias per column (C*scale[j] + bias[j], for the ...ToFloat ops).
//
// Packed layouts group four consecutive depths: a strip of A holds, per
// group, mr dwords (one per row, its four depth bytes); a strip of B holds,
// per group, nr dwords (one per column). Depth, rows and columns are
// zero-padded.
//
// Saturation: VPDPBUSD (AVX-512 VNNI) sums in int32 and never saturates.
// The AVX2 kernel's VPMADDUBSW adds two uint8×int8 products in a saturating
// int16, which is exact only when no pair of B values can exceed the int16
// range against the largest A (255·(|b0|+|b1|) per sign within 32767); this
// holds for weights quantized to 7 bits ("reduce_range") but not for
// full-range int8. qpackB checks every pair while packing B and, if one can
// saturate, marks the packed matrix for the kernel's exact fallback (on
// amd64 the AVX2 kernel that widens both operands to int16; it shares the
// packed B layout), so results are always exact.

// qgemmArch describes one 8-bit micro-kernel.
type qgemmArch struct {
	name   string
	mr, nr int
	// sat is set when the kernel's int16 pair sums saturate; fallback
	// (same layout) then runs B matrices that could saturate.
	sat      bool
	fallback *qgemmArch
	// micro computes an mr×nr tile from kq groups of packed A and B, and
	// stores it to ci (int32) or, when cf is non-nil, to cf as
	// float32(C)*scale[j]+bias[j]. cols holds colOff, colMul, scale and
	// bias (nr values each, the floats as bits); rows holds rowOff (mr
	// values); C = acc + colOff[j] + rowOff[i]*colMul[j].
	micro func(kq int, a, b []byte, ci []int32, cf []float32, ldc, mr, nr int, cols, rows []int32)
	// microDirect, when not nil, is micro reading unsigned A in place:
	// row i of the tile at a[i*lda:], k a multiple of 4. It serves the
	// products that need no row sums of A (B's zero point is 0), which
	// then skip packing A.
	microDirect func(kq int, a []byte, lda int, b []byte, ci []int32, cf []float32, ldc, mr, nr int, cols, rows []int32)
}

var qgemmArchGo = qgemmArch{name: "go", mr: 4, nr: 16, micro: qgemmMicroGo}

// qgemmArchs lists every 8-bit kernel this machine can run, the pure-Go one
// last, regardless of AGATE_NOASM (for tests and benchmarks).
func qgemmArchs() []*qgemmArch {
	return append(asmQgemmArchs(hostCPU()), &qgemmArchGo)
}

// qpackedB is a k×n 8-bit matrix packed for one kernel.
type qpackedB struct {
	arch    *qgemmArch // the kernel to run (the fallback if B could saturate)
	k, n    int
	kq      int  // depth groups of four
	npad    int  // n rounded up to a multiple of arch.nr
	signed  bool // B was int8 (else uint8, stored minus 128)
	data    []byte
	colSums []int32 // per padded column, the sum of the stored values
}

// qpackedBLen returns the bytes a packed k×n matrix needs on ar.
func qpackedBLen(ar *qgemmArch, k, n int) int {
	return roundUp(k, 4) * roundUp(n, ar.nr)
}

// qpackB packs the k×n matrix b (row stride ldb; int8 values when signed,
// else uint8) for ar into dst (qpackedBLen bytes) and colSums (n rounded up
// to ar.nr values).
func qpackB(ar *qgemmArch, dst []byte, colSums []int32, b []byte, signed bool, k, n, ldb int) qpackedB {
	nr := ar.nr
	kq := (k + 3) / 4
	npad := roundUp(n, nr)
	dst = dst[:kq*4*npad]
	colSums = colSums[:npad]
	clear(colSums)
	var flip byte
	if !signed {
		flip = 0x80
	}
	safe := true
	for j0 := 0; j0 < npad; j0 += nr {
		strip := dst[j0*kq*4 : (j0+nr)*kq*4]
		cols := min(nr, n-j0)
		for g := 0; g < kq; g++ {
			grp := strip[g*nr*4 : (g+1)*nr*4]
			for j := 0; j < nr; j++ {
				var v [4]byte
				if j < cols {
					for t := 0; t < 4; t++ {
						if p := 4*g + t; p < k {
							v[t] = b[p*ldb+j0+j] ^ flip
						}
					}
				}
				copy(grp[4*j:4*j+4], v[:])
				colSums[j0+j] += int32(int8(v[0])) + int32(int8(v[1])) + int32(int8(v[2])) + int32(int8(v[3]))
				if ar.sat && (pairSaturates(v[0], v[1]) || pairSaturates(v[2], v[3])) {
					safe = false
				}
			}
		}
	}
	run := ar
	if !safe {
		run = ar.fallback
	}
	return qpackedB{arch: run, k: k, n: n, kq: kq, npad: npad, signed: signed, data: dst, colSums: colSums}
}

// pairSaturates reports whether 255*b0 + 255*b1 (or the negative extreme)
// leaves the int16 range, for the int8 values stored in b0 and b1.
func pairSaturates(b0, b1 byte) bool {
	x, y := int32(int8(b0)), int32(int8(b1))
	return 255*(max(x, 0)+max(y, 0)) > math.MaxInt16 || 255*(max(-x, 0)+max(-y, 0)) > -math.MinInt16
}

// newQpackedB allocates and packs b for the process's kernel (plan time).
func newQpackedB(b []byte, signed bool, k, n, ldb int) *qpackedB {
	ar := gemmImpl().q8
	pb := qpackB(ar, make([]byte, qpackedBLen(ar, k, n)), make([]int32, roundUp(n, ar.nr)), b, signed, k, n, ldb)
	return &pb
}

// int8Bytes returns the bytes of a uint8 or int8 tensor and whether they
// are signed.
func int8Bytes(t *Tensor) ([]byte, bool, bool) {
	switch s := t.Data.(type) {
	case []uint8:
		return s, false, t.DType == Uint8
	case []int8:
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)), true, t.DType == Int8
	}
	return nil, false, false
}

// qgemmBytePool and qgemmIntPool recycle the per-call packed A, row and
// column buffers.
var (
	qgemmBytePool = sync.Pool{New: func() any { b := make([]byte, 0, 64*1024); return &b }}
	qgemmIntPool  = sync.Pool{New: func() any { b := make([]int32, 0, 4096); return &b }}
)

func getBytes(n int) *[]byte {
	b := qgemmBytePool.Get().(*[]byte)
	if cap(*b) < n {
		*b = make([]byte, n)
	}
	*b = (*b)[:n]
	return b
}

func getInt32s(n int) *[]int32 {
	b := qgemmIntPool.Get().(*[]int32)
	if cap(*b) < n {
		*b = make([]int32, n)
	}
	*b = (*b)[:n]
	return b
}

// qgemmOut says where qgemm writes: int32 C, or float32 C*scale[j]+bias[j]
// (scale of one or n values, bias nil or n values).
type qgemmOut struct {
	ci    []int32
	cf    []float32
	scale []float32
	bias  []float32
	ldc   int
}

// qgemm computes C for the m×k 8-bit matrix a (row stride lda, int8 when
// aSigned) with zero point za, against pb with zero points zb (one or n
// values; none means 0), into out.
func qgemm(a []byte, aSigned bool, m, lda int, za int32, pb *qpackedB, zb []int32, out qgemmOut, par parallelFn) {
	if m == 0 || pb.n == 0 {
		return
	}
	if pb.k == 0 {
		for i := 0; i < m; i++ {
			if out.cf == nil {
				clear(out.ci[i*out.ldc : i*out.ldc+pb.n])
				continue
			}
			row := out.cf[i*out.ldc : i*out.ldc+pb.n]
			clear(row)
			if out.bias != nil {
				copy(row, out.bias)
			}
		}
		return
	}
	ar := pb.arch
	mr, nr, k, kq := ar.mr, ar.nr, pb.k, pb.kq
	mStrips := (m + mr - 1) / mr
	nStrips := pb.npad / nr
	if aSigned {
		za += 128
	}
	abuf := getBytes(mStrips * mr * kq * 4)
	rbuf := getInt32s(mStrips * mr)
	cbuf := getInt32s(nStrips * 4 * nr)
	defer func() {
		qgemmBytePool.Put(abuf)
		qgemmIntPool.Put(rbuf)
		qgemmIntPool.Put(cbuf)
	}()
	j := qgemmJobPool.Get().(*qgemmJob)
	defer func() {
		*j = qgemmJob{fn: j.fn, packFn: j.packFn}
		qgemmJobPool.Put(j)
	}()
	*j = qgemmJob{fn: j.fn, packFn: j.packFn, a: a, aSigned: aSigned, m: m, lda: lda, za: za,
		pb: pb, ap: *abuf, rows: *rbuf, cols: *cbuf, out: out}
	// Column parameters: colOff, colMul, scale, bias per strip.
	cols := *cbuf
	rowTerm := false // some column multiplies the row sums of A
	for s := 0; s < nStrips; s++ {
		blk := cols[s*4*nr : (s+1)*4*nr]
		for jj := 0; jj < nr; jj++ {
			col := s*nr + jj
			var zbj int32
			if len(zb) == 1 {
				zbj = zb[0]
			} else if len(zb) > 0 && col < pb.n {
				zbj = zb[col]
			}
			if !pb.signed {
				zbj -= 128
			}
			var sc, bi float32
			if col < pb.n {
				if out.cf != nil {
					sc = out.scale[0]
					if len(out.scale) > 1 {
						sc = out.scale[col]
					}
					if out.bias != nil {
						bi = out.bias[col]
					}
				}
			} else {
				zbj = 0
			}
			blk[jj] = -za * pb.colSums[col]
			blk[nr+jj] = zbj
			rowTerm = rowTerm || zbj != 0
			blk[2*nr+jj] = int32(math.Float32bits(sc))
			blk[3*nr+jj] = int32(math.Float32bits(bi))
		}
	}
	// Pack A (with its row sums), unless the kernel can read it in place,
	// then compute, splitting the larger dimension among the workers.
	serial := par == nil || 2*m*pb.n*k < gemmParFlops
	j.direct = ar.microDirect != nil && !aSigned && k%4 == 0 && !rowTerm
	switch {
	case j.direct:
		clear(j.rows)
	case serial || mStrips < 4:
		j.pack(0, mStrips)
	default:
		par(mStrips, 1, j.packFn)
	}
	switch {
	case serial:
		j.run(0, nStrips)
	case nStrips < 8 && mStrips > nStrips:
		j.splitM = true
		par(mStrips, 1, j.fn)
	default:
		par(nStrips, 1, j.fn)
	}
}

// qgemmJob is one qgemm call's shared state, pooled with its bound methods
// so that dispatching work does not allocate.
type qgemmJob struct {
	a       []byte
	aSigned bool
	m, lda  int
	za      int32
	pb      *qpackedB
	ap      []byte
	rows    []int32
	cols    []int32
	out     qgemmOut
	splitM  bool
	direct  bool // A is read in place (not packed)
	fn      func(lo, hi int)
	packFn  func(lo, hi int)
}

var qgemmJobPool = sync.Pool{New: func() any {
	j := new(qgemmJob)
	j.fn = j.run
	j.packFn = j.pack
	return j
}}

// pack packs the row strips [lo, hi) of A and sets their row offsets.
func (j *qgemmJob) pack(lo, hi int) {
	ar, k, kq := j.pb.arch, j.pb.k, j.pb.kq
	mr := ar.mr
	var flip byte
	if j.aSigned {
		flip = 0x80
	}
	for s := lo; s < hi; s++ {
		strip := j.ap[s*mr*kq*4 : (s+1)*mr*kq*4]
		for i := 0; i < mr; i++ {
			r := s*mr + i
			if r >= j.m {
				for g := 0; g < kq; g++ {
					clear(strip[g*mr*4+4*i : g*mr*4+4*i+4])
				}
				j.rows[r] = 0
				continue
			}
			row := j.a[r*j.lda : r*j.lda+k]
			// Whole groups of four bytes move as one word; their byte sum
			// is taken two lanes at a time (each lane stays below 2^16 for
			// 128 words, so the lanes are folded every 128 groups).
			var sum int32
			full := k / 4
			flip32 := uint32(flip) * 0x01010101
			for g0 := 0; g0 < full; g0 += 128 {
				var lanes uint32
				for g := g0; g < min(full, g0+128); g++ {
					w := binary.LittleEndian.Uint32(row[4*g:]) ^ flip32
					binary.LittleEndian.PutUint32(strip[g*mr*4+4*i:], w)
					lanes += w&0x00ff00ff + (w>>8)&0x00ff00ff
				}
				sum += int32(lanes&0xffff) + int32(lanes>>16)
			}
			for g := full; g < kq; g++ {
				d := strip[g*mr*4+4*i : g*mr*4+4*i+4 : g*mr*4+4*i+4]
				for t := 0; t < 4; t++ {
					d[t] = 0
					if p := 4*g + t; p < k {
						d[t] = row[p] ^ flip
						sum += int32(d[t])
					}
				}
			}
			j.rows[r] = -(sum - int32(k)*j.za)
		}
	}
}

// run computes the row strips [lo, hi) (splitM) or column strips [lo, hi).
func (j *qgemmJob) run(lo, hi int) {
	ar, pb := j.pb.arch, j.pb
	mr, nr, kq := ar.mr, ar.nr, pb.kq
	i0, i1, s0, s1 := 0, (j.m+mr-1)/mr, 0, pb.npad/nr
	if j.splitM {
		i0, i1 = lo, hi
	} else {
		s0, s1 = lo, hi
	}
	for s := s0; s < s1; s++ {
		bs := pb.data[s*nr*kq*4 : (s+1)*nr*kq*4]
		cols := j.cols[s*4*nr : (s+1)*4*nr]
		col := s * nr
		nrr := min(nr, pb.n-col)
		for is := i0; is < i1; is++ {
			r := is * mr
			rows := j.rows[r : r+mr]
			mrr := min(mr, j.m-r)
			off := r*j.out.ldc + col
			if j.direct {
				as := j.a[r*j.lda:]
				if j.out.cf != nil {
					ar.microDirect(kq, as, j.lda, bs, nil, j.out.cf[off:], j.out.ldc, mrr, nrr, cols, rows)
				} else {
					ar.microDirect(kq, as, j.lda, bs, j.out.ci[off:], nil, j.out.ldc, mrr, nrr, cols, rows)
				}
				continue
			}
			as := j.ap[is*mr*kq*4 : (is+1)*mr*kq*4]
			if j.out.cf != nil {
				ar.micro(kq, as, bs, nil, j.out.cf[off:], j.out.ldc, mrr, nrr, cols, rows)
			} else {
				ar.micro(kq, as, bs, j.out.ci[off:], nil, j.out.ldc, mrr, nrr, cols, rows)
			}
		}
	}
}

// qgemmMicroGo is the pure-Go 8-bit kernel for 4×16 tiles.
func qgemmMicroGo(kq int, a, b []byte, ci []int32, cf []float32, ldc, mr, nr int, cols, rows []int32) {
	const tm, tn = 4, 16
	var acc [tm][tn]int32
	a = a[:kq*tm*4]
	b = b[:kq*tn*4]
	for g := 0; g < kq; g++ {
		ag := a[g*tm*4 : (g+1)*tm*4]
		bg := b[g*tn*4 : (g+1)*tn*4]
		for i := 0; i < mr; i++ {
			a0, a1, a2, a3 := int32(ag[4*i]), int32(ag[4*i+1]), int32(ag[4*i+2]), int32(ag[4*i+3])
			row := &acc[i]
			for jj := 0; jj < tn; jj++ {
				x := bg[4*jj : 4*jj+4 : 4*jj+4]
				row[jj] += a0*int32(int8(x[0])) + a1*int32(int8(x[1])) + a2*int32(int8(x[2])) + a3*int32(int8(x[3]))
			}
		}
	}
	for i := 0; i < mr; i++ {
		for jj := 0; jj < nr; jj++ {
			v := acc[i][jj] + cols[jj] + rows[i]*cols[tn+jj]
			if cf != nil {
				cf[i*ldc+jj] = float32(v)*math.Float32frombits(uint32(cols[2*tn+jj])) + math.Float32frombits(uint32(cols[3*tn+jj]))
			} else {
				ci[i*ldc+jj] = v
			}
		}
	}
}
