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

var treeQSAsm = asmTreeQSKernels(detectCPU())

// asmTreeQSKernels returns the AVX-512 bitvector kernels (the summing
// ones need AVX-512 CD). The nodes' column offsets must lie within cols
// (newTreeQS guarantees it for the padded rows of its forest).
func asmTreeQSKernels(f cpuFeatures) treeQSKernels {
	if !f.avx512 {
		return treeQSKernels{}
	}
	k := treeQSKernels{
		scan: func(nodes []treeQSNode, count []int32, init []uint32, cols []float32, bv []uint32) {
			n := len(count)
			if n == 0 {
				return
			}
			_, _ = init[n-1], bv[n*treeQSRows-1]
			treeQSScanAVX512(unsafe.SliceData(nodes), &count[0], n, &init[0], &cols[0], &bv[0])
		},
	}
	if !f.avx512cd {
		return k
	}
	k.sum1 = func(nodes []treeQSNode, count []int32, init []uint32, cols, vals []float32, sums *[treeQSRows]float32) {
		nt := len(count)
		if nt == 0 {
			*sums = [treeQSRows]float32{}
			return
		}
		_, _ = init[nt-1], vals[nt*treeQSMaxLeaves-1]
		treeQSSum1AVX512(unsafe.SliceData(nodes), &count[0], nt, &init[0], &cols[0], &vals[0], &sums[0])
	}
	k.sum2 = func(nodes []treeQSNode, count []int32, init []uint32, cols, vals []float32, sums *[treeQSRows]float32) {
		nt := len(count) / 2
		if nt == 0 {
			*sums = [treeQSRows]float32{}
			return
		}
		_, _ = init[2*nt-1], vals[nt*treeQSMaxLeaves-1]
		treeQSSum2AVX512(unsafe.SliceData(nodes), &count[0], nt, &init[0], &cols[0], &vals[0], &sums[0])
	}
	k.sumK1 = func(nodes []treeQSNode, count []int32, init []uint32, cols, vals []float32, kt int, sums []float32) {
		nt := len(count)
		if nt == 0 || kt < 1 {
			clear(sums[:kt*treeQSRows])
			return
		}
		_, _ = init[nt-1], vals[nt*kt*treeQSMaxLeaves-1]
		_ = sums[kt*treeQSRows-1]
		treeQSSumK1AVX512(unsafe.SliceData(nodes), &count[0], nt, &init[0], &cols[0], &vals[0], kt, &sums[0])
	}
	k.sumK2 = func(nodes []treeQSNode, count []int32, init []uint32, cols, vals []float32, kt int, sums []float32) {
		nt := len(count) / 2
		if nt == 0 || kt < 1 {
			clear(sums[:kt*treeQSRows])
			return
		}
		_, _ = init[2*nt-1], vals[nt*kt*treeQSMaxLeaves-1]
		_ = sums[kt*treeQSRows-1]
		treeQSSumK2AVX512(unsafe.SliceData(nodes), &count[0], nt, &init[0], &cols[0], &vals[0], kt, &sums[0])
	}
	return k
}

func asmTreeWalkers(f cpuFeatures) treeWalkers {
	if !f.avx512 {
		return treeWalkers{}
	}
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
