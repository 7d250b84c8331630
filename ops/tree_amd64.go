//go:build amd64 && !purego

package ops

import "unsafe"

// Assembly of tree_amd64.s. idx holds treeFastLanes positions per entry of
// steps; the nodes reached must be valid (the compact layout guarantees it).

//go:noescape
func treeWalkTableAVX512(nodes *treeCNode, idx *int64, ngroups int, steps *int32, table *float32, top *treeCNode)

//go:noescape
func treeWalkGatherAVX512(nodes *treeCNode, idx *int64, ngroups int, steps *int32, x *float32)

//go:noescape
func treeQSScanAVX512(nodes *treeQSNode, count *int32, nwords int, init *uint32, cols *float32, bv *uint32)

//go:noescape
func treeQSSum1AVX512(nodes *treeQSNode, count *int32, ntrees int, init *uint32, cols *float32, vals *float32, sums *float32)

//go:noescape
func treeQSSum2AVX512(nodes *treeQSNode, count *int32, ntrees int, init *uint32, cols *float32, vals *float32, sums *float32)

//go:noescape
func treeQSSumK1AVX512(nodes *treeQSNode, count *int32, ntrees int, init *uint32, cols *float32, vals *float32, k int, sums *float32)

//go:noescape
func treeQSSumK2AVX512(nodes *treeQSNode, count *int32, ntrees int, init *uint32, cols *float32, vals *float32, k int, sums *float32)

//go:noescape
func treeQSScanAVX2(nodes *treeQSNode, count *int32, nwords int, init *uint32, cols *float32, bv *uint32)

//go:noescape
func treeQSSum1AVX2(nodes *treeQSNode, count *int32, ntrees int, init *uint32, cols *float32, vals *float32, sums *float32)

//go:noescape
func treeQSSum2AVX2(nodes *treeQSNode, count *int32, ntrees int, init *uint32, cols *float32, vals *float32, sums *float32)

//go:noescape
func treeQSSumK1AVX2(nodes *treeQSNode, count *int32, ntrees int, init *uint32, cols *float32, vals *float32, k int, sums *float32)

//go:noescape
func treeQSSumK2AVX2(nodes *treeQSNode, count *int32, ntrees int, init *uint32, cols *float32, vals *float32, k int, sums *float32)

// Assembly of tree_avx2_amd64.s: idx holds 8 positions per entry of
// steps.
//
//go:noescape
func treeWalkScalar(nodes *treeCNode, idx *int64, ngroups int, steps *int32, x *float32)

var treeQSAsm = asmTreeQSKernels(detectCPU())

// The signatures of the bitvector kernels in assembly.
type (
	treeQSScanAsm func(nodes *treeQSNode, count *int32, nwords int, init *uint32, cols *float32, bv *uint32)
	treeQSSumAsm  func(nodes *treeQSNode, count *int32, ntrees int, init *uint32, cols *float32, vals *float32, sums *float32)
	treeQSSumKAsm func(nodes *treeQSNode, count *int32, ntrees int, init *uint32, cols *float32, vals *float32, k int, sums *float32)
)

// asmTreeQSKernels returns the bitvector kernels for f: AVX-512 (the
// summing ones need AVX-512 CD; AVX2's stand in without it), else AVX2,
// else none.
func asmTreeQSKernels(f cpuFeatures) treeQSKernels {
	switch {
	case f.avx512 && f.avx512cd:
		return treeQSAsmKernels(treeQSScanAVX512, treeQSSum1AVX512, treeQSSum2AVX512, treeQSSumK1AVX512, treeQSSumK2AVX512)
	case f.avx512:
		return treeQSAsmKernels(treeQSScanAVX512, treeQSSum1AVX2, treeQSSum2AVX2, treeQSSumK1AVX2, treeQSSumK2AVX2)
	case f.avx2FMA:
		return treeQSAVX2()
	}
	return treeQSKernels{}
}

// treeQSAVX2 returns the AVX2 bitvector kernels (the caller checks the
// CPU).
func treeQSAVX2() treeQSKernels {
	return treeQSAsmKernels(treeQSScanAVX2, treeQSSum1AVX2, treeQSSum2AVX2, treeQSSumK1AVX2, treeQSSumK2AVX2)
}

// treeQSAsmKernels wraps assembly kernels in treeQSKernels, checking the
// bounds the assembly relies on. The nodes' column offsets must lie
// within cols (newTreeQS guarantees it for the padded rows of its
// forest).
func treeQSAsmKernels(scan treeQSScanAsm, sum1, sum2 treeQSSumAsm, sumK1, sumK2 treeQSSumKAsm) treeQSKernels {
	return treeQSKernels{
		scan: func(nodes []treeQSNode, count []int32, init []uint32, cols []float32, bv []uint32) {
			n := len(count)
			if n == 0 {
				return
			}
			_, _ = init[n-1], bv[n*treeQSRows-1]
			scan(unsafe.SliceData(nodes), &count[0], n, &init[0], &cols[0], &bv[0])
		},
		sum1: func(nodes []treeQSNode, count []int32, init []uint32, cols, vals []float32, sums *[treeQSRows]float32) {
			nt := len(count)
			if nt == 0 {
				*sums = [treeQSRows]float32{}
				return
			}
			_, _ = init[nt-1], vals[nt*treeQSMaxLeaves-1]
			sum1(unsafe.SliceData(nodes), &count[0], nt, &init[0], &cols[0], &vals[0], &sums[0])
		},
		sum2: func(nodes []treeQSNode, count []int32, init []uint32, cols, vals []float32, sums *[treeQSRows]float32) {
			nt := len(count) / 2
			if nt == 0 {
				*sums = [treeQSRows]float32{}
				return
			}
			_, _ = init[2*nt-1], vals[nt*treeQSMaxLeaves-1]
			sum2(unsafe.SliceData(nodes), &count[0], nt, &init[0], &cols[0], &vals[0], &sums[0])
		},
		sumK1: func(nodes []treeQSNode, count []int32, init []uint32, cols, vals []float32, kt int, sums []float32) {
			nt := len(count)
			if nt == 0 || kt < 1 {
				clear(sums[:kt*treeQSRows])
				return
			}
			_, _ = init[nt-1], vals[nt*kt*treeQSMaxLeaves-1]
			_ = sums[kt*treeQSRows-1]
			sumK1(unsafe.SliceData(nodes), &count[0], nt, &init[0], &cols[0], &vals[0], kt, &sums[0])
		},
		sumK2: func(nodes []treeQSNode, count []int32, init []uint32, cols, vals []float32, kt int, sums []float32) {
			nt := len(count) / 2
			if nt == 0 || kt < 1 {
				clear(sums[:kt*treeQSRows])
				return
			}
			_, _ = init[2*nt-1], vals[nt*kt*treeQSMaxLeaves-1]
			_ = sums[kt*treeQSRows-1]
			sumK2(unsafe.SliceData(nodes), &count[0], nt, &init[0], &cols[0], &vals[0], kt, &sums[0])
		},
	}
}

// asmTreeWalkers returns the walks for f: the AVX-512 ones, else the
// scalar one on AVX2 machines (it needs no vector unit, but machines
// without AVX2 keep the Go walk, as AGATE_NOASM does).
func asmTreeWalkers(f cpuFeatures) treeWalkers {
	switch {
	case f.avx512:
		return treeWalkersAVX512()
	case f.avx2FMA:
		return treeWalkersScalar()
	}
	return treeWalkers{}
}

// treeWalkersScalar returns the scalar assembly walk.
func treeWalkersScalar() treeWalkers {
	return treeWalkers{
		scalar: func(nodes []treeCNode, idx []int64, steps []int32, row []float32) {
			if len(steps) == 0 {
				return
			}
			_ = idx[len(steps)*treeScalarLanes-1]
			treeWalkScalar(&nodes[0], &idx[0], len(steps), &steps[0], &row[0])
		},
	}
}

// treeWalkersAVX512 returns the AVX-512 walks (the caller checks the
// CPU).
func treeWalkersAVX512() treeWalkers {
	return treeWalkers{
		table: func(nodes []treeCNode, idx []int64, steps []int32, table *[32]float32, top []treeCNode) {
			if len(steps) == 0 {
				return
			}
			_ = idx[len(steps)*treeFastLanes-1]
			_ = top[len(steps)*3*treeFastLanes-1]
			treeWalkTableAVX512(&nodes[0], &idx[0], len(steps), &steps[0], &table[0], &top[0])
		},
		gather: func(nodes []treeCNode, idx []int64, steps []int32, row []float32) {
			if len(steps) == 0 {
				return
			}
			_ = idx[len(steps)*treeFastLanes-1]
			treeWalkGatherAVX512(&nodes[0], &idx[0], len(steps), &steps[0], &row[0])
		},
	}
}
