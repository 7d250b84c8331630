//go:build amd64 && !purego

package ops

// Assembly of tree_amd64.s. idx holds treeFastLanes positions per entry of
// steps; the nodes reached must be valid (the compact layout guarantees it).

//go:noescape
func treeWalkTableAVX512(nodes *treeCNode, idx *int64, ngroups int, steps *int32, table *float32, top *treeCNode)

//go:noescape
func treeWalkGatherAVX512(nodes *treeCNode, idx *int64, ngroups int, steps *int32, x *float32)

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
