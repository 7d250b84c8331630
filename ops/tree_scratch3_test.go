package ops

import (
	"math/rand"
	"testing"
)

func BenchmarkScratchSynth(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	def, _ := parseTreeDefV3(NewAttrs(treeRandomForestAttrs(rng, 100, 10, 5, "BRANCH_LEQ")...), "target", 1)
	f, _ := compileForest[float32](def)
	b.Logf("nodes %d steps %v lanesteps %v", len(f.nodes), f.fast.steps[:10], f.fast.laneSteps)
	const rows = 256
	for _, nan := range []bool{false, true} {
		x := treeRandomRows(rng, rows, 5)
		if !nan {
			for i := range x {
				x[i] = float32(rng.Intn(11)-5) / 2
			}
		}
		leaves := make([]int32, 100)
		b.Run("asm", func(b *testing.B) {
			i := 0
			for b.Loop() {
				f.collectLeaves(x, 5, i, i+1, leaves)
				i = (i + 1) % rows
			}
		})
	}
}
