package ops

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// treeQSKernelSets returns the bitvector kernels to test: the Go ones,
// the assembly ones the machine uses, and the AVX2 ones where it has AVX2
// (on AVX-512 machines too).
func treeQSKernelSets() map[string]treeQSKernels {
	sets := map[string]treeQSKernels{"go": treeQSGo}
	if treeQSAsm.scan != nil {
		sets["asm"] = treeQSAsm
	}
	if k := treeQSAVX2(); k.scan != nil && detectCPU().avx2FMA {
		sets["avx2"] = k
	}
	return sets
}

// treeWithInfSplits returns attrs with, on each split with probability p,
// the threshold -Inf (for "<" or "<=" modes) or +Inf (">" or ">="): with
// BRANCH_LT and BRANCH_GT the compiled threshold is then NaN, a split
// that never holds.
func treeWithInfSplits(rng *rand.Rand, attrs []*Attr, p float64) []*Attr {
	var modes []string
	for _, a := range attrs {
		if a.Name == "nodes_modes" {
			modes = a.Strings
		}
	}
	for i, a := range attrs {
		if a.Name != "nodes_values" {
			continue
		}
		v := append([]float32(nil), a.Floats...)
		for j, m := range modes {
			if m == "LEAF" || rng.Float64() >= p {
				continue
			}
			if m == "BRANCH_GT" || m == "BRANCH_GTE" {
				v[j] = float32(math.Inf(1))
			} else {
				v[j] = float32(math.Inf(-1))
			}
		}
		attrs[i] = mlFloats("nodes_values", v...)
	}
	return attrs
}

// TestTreeQSMatchesGeneral checks the bitvector evaluation (Go and
// assembly kernels) against the general traversal on random forests of
// small trees: one and two words per bitvector, every mode that
// qualifies, missing-value tracking, NaN-threshold splits, NaN and
// infinite inputs, blocks of every size around treeQSMinRows. Leaves must
// be the same and regression values bit-identical.
func TestTreeQSMatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewSource(17))
	for _, mode := range []string{"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT"} {
		for _, depth := range []int{1, 4, 5, 6} { // depth 6: up to 64 leaves, two words
			for _, variant := range []string{"plain", "missing", "inf"} {
				for _, nf := range []int{1, 5, 40} {
					for _, trees := range []int{1, 7, 100} {
						name := fmt.Sprintf("%s/d%d/%s/f%d/t%d", mode, depth, variant, nf, trees)
						attrs := treeRandomForestAttrs(rng, trees, depth, nf, mode)
						attrs = treeVariant(rng, attrs, variant)
						def, err := parseTreeDefV3(NewAttrs(attrs...), "target", 1)
						if err != nil {
							t.Fatal(err)
						}
						general, _ := compileForest[float32](def)
						general.fast, general.collectFast = nil, nil
						const rows = 53
						c := nf + 1
						x := treeRandomRows(rng, rows, c)
						want := make([]int32, rows*trees)
						general.collectLeaves(x, c, 0, rows, want)
						wantY := NewTensor(Float, rows, 1)
						treeRegressionRows(general, x, c, wantY, 0, rows)
						for kn, kern := range treeQSKernelSets() {
							f, _ := compileForest[float32](def)
							if f.fast == nil || f.fast.qs == nil {
								t.Fatalf("%s: no bitvector layout", name)
							}
							if w := f.fast.qs.words; (depth < 6 && w != 1) || (depth == 6 && trees == 100 && w != 2) {
								t.Fatalf("%s: %d words", name, w)
							}
							f.fast.qsKern = kern
							for _, n := range []int{7, 8, 9, 15, 16, 17, 32, 53} {
								got := make([]int32, n*trees)
								f.collectLeaves(x, c, 0, n, got)
								for i := range got {
									if got[i] != want[i] {
										t.Fatalf("%s (%s) rows %d: row %d tree %d: leaf %d, want %d", name, kn, n, i/trees, i%trees, got[i], want[i])
									}
								}
							}
							gotY := NewTensor(Float, rows, 1)
							treeRegressionRows(f, x, c, gotY, 0, rows)
							for i, w := range wantY.Float32s() {
								if g := gotY.Float32s()[i]; math.Float32bits(g) != math.Float32bits(w) {
									t.Fatalf("%s (%s): row %d: %v, want %v", name, kn, i, g, w)
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestTreeQSEligibility checks that trees of more than 64 leaves keep the
// forest off the bitvector layout, and that one-target classifiers and
// three-target dense forests get it (summing only the former).
func TestTreeQSEligibility(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	def, _ := parseTreeDefV3(NewAttrs(treeRandomForestAttrs(rng, 3, 12, 4, "BRANCH_LEQ")...), "target", 1)
	f, _ := compileForest[float32](def)
	big := false
	for k, r := range f.fast.roots {
		end := len(f.fast.nodes)
		if k+1 < len(f.fast.roots) {
			end = int(f.fast.roots[k+1])
		}
		leaves := 0
		for _, nd := range f.fast.nodes[r:end] {
			if nd.jm1 < 0 {
				leaves++
			}
		}
		big = big || leaves > treeQSMaxLeaves
	}
	if got := f.fast.qs != nil; got == big {
		t.Fatalf("bitvector layout %v with a tree of more than 64 leaves: %v", got, big)
	}
	def, _ = parseTreeDefV3(NewAttrs(treeOneTargetAttrs(rng, 10, 4, 3, 2, 1, 0)...), "target", 2)
	f, _ = compileForest[float32](def)
	if f.fast.qs == nil || f.fast.qsVals == nil {
		t.Fatal("one-target forest: no summed bitvector layout")
	}
	def, _ = parseTreeDefV3(NewAttrs(treeRandomForestAttrsN(rng, 10, 4, 3, "BRANCH_LEQ", 3, true)...), "target", 3)
	f, _ = compileForest[float32](def)
	if f.fast.qs == nil || f.fast.qsVals != nil || f.fast.dense == nil {
		t.Fatal("dense forest: bitvector leaves expected, not sums")
	}
}

// BenchmarkTreeQS evaluates blocks of 100 rows of 100 random trees of
// depth 6 (64 leaves at most: two words) and 5 (one word), walked and
// through the bitvector kernels.
func BenchmarkTreeQS(b *testing.B) {
	for _, depth := range []int{5, 6} {
		rng := rand.New(rand.NewSource(1))
		def, err := parseTreeDefV3(NewAttrs(treeRandomForestAttrs(rng, 100, depth, 8, "BRANCH_LEQ")...), "target", 1)
		if err != nil {
			b.Fatal(err)
		}
		const rows = 100
		x := treeRandomRows(rng, rows, 8)
		for _, qs := range []bool{false, true} {
			f, _ := compileForest[float32](def)
			if !qs {
				f.fast.qs = nil
			}
			b.Run(fmt.Sprintf("depth=%d/qs=%v", depth, qs), func(b *testing.B) {
				y := NewTensor(Float, rows, 1)
				for b.Loop() {
					treeRegressionRows(f, x, 8, y, 0, rows)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
			})
		}
	}
}

// TestTreeQSDenseMatchesGeneral checks the dense summing kernels (Go and
// assembly) on random forests of small trees whose leaves vote once for
// each of several targets: regression values bit-identical to the
// general traversal's, for one and two words, with missing-value
// tracking, for sums and averages and blocks of every size around
// treeQSMinRows.
func TestTreeQSDenseMatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewSource(23))
	for _, mode := range []string{"BRANCH_LEQ", "BRANCH_GT"} {
		for _, depth := range []int{3, 5, 6} {
			for _, nTargets := range []int{2, 3, 7} {
				for _, agg := range []string{"SUM", "AVERAGE", "MAX"} {
					for _, variant := range []string{"plain", "missing"} {
						name := fmt.Sprintf("%s/d%d/k%d/%s/%s", mode, depth, nTargets, agg, variant)
						const trees, nf = 60, 6
						attrs := treeRandomForestAttrsN(rng, trees, depth, nf, mode, nTargets, true)
						if variant == "missing" {
							attrs = treeWithMissing(rng, attrs, 0.3)
						}
						attrs = append(attrs, mlStr("aggregate_function", agg))
						def, err := parseTreeDefV3(NewAttrs(attrs...), "target", nTargets)
						if err != nil {
							t.Fatal(err)
						}
						general, _ := compileForest[float32](def)
						general.fast, general.collectFast = nil, nil
						const rows = 53
						c := nf + 1
						x := treeRandomRows(rng, rows, c)
						for kn, kern := range treeQSKernelSets() {
							f, _ := compileForest[float32](def)
							if f.fast == nil || f.fast.qs == nil || f.fast.qsDense == nil {
								t.Fatalf("%s: no dense bitvector layout", name)
							}
							f.fast.qsKern = kern
							for _, n := range []int{7, 8, 9, 16, 17, 32, 53} {
								want := NewTensor(Float, n, nTargets)
								treeRegressionRows(general, x, c, want, 0, n)
								got := NewTensor(Float, n, nTargets)
								treeRegressionRows(f, x, c, got, 0, n)
								for i, w := range want.Float32s() {
									if g := got.Float32s()[i]; math.Float32bits(g) != math.Float32bits(w) {
										t.Fatalf("%s (%s) rows %d: element %d: %v, want %v", name, kn, n, i, g, w)
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestTreeQSKernelsMatchGo checks each assembly kernel set against the Go
// kernels, block by block, on random forests of small trees: every mode
// the layout takes, missing-value tracking, NaN-threshold splits, NaN,
// infinite and threshold-equal inputs, partly filled blocks, one and two
// words. Leaf values are random floats (not the tests' usual eighths, whose
// sums are exact in any order), so the sums must run in the same order to
// be bit-identical.
func TestTreeQSKernelsMatchGo(t *testing.T) {
	sets := treeQSKernelSets()
	delete(sets, "go")
	if len(sets) == 0 {
		t.Skip("no assembly bitvector kernels on this machine")
	}
	rng := rand.New(rand.NewSource(29))
	for _, mode := range []string{"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT"} {
		for _, depth := range []int{1, 3, 5, 6} {
			for _, variant := range []string{"plain", "missing", "inf"} {
				for _, trees := range []int{1, 9, 70} {
					const nf, k = 7, 3
					name := fmt.Sprintf("%s/d%d/%s/t%d", mode, depth, variant, trees)
					attrs := treeRandomForestAttrs(rng, trees, depth, nf, mode)
					attrs = treeVariant(rng, attrs, variant)
					def, err := parseTreeDefV3(NewAttrs(attrs...), "target", 1)
					if err != nil {
						t.Fatal(err)
					}
					f, _ := compileForest[float32](def)
					tf := f.fast
					if tf == nil || tf.qs == nil {
						t.Fatalf("%s: no bitvector layout", name)
					}
					q := tf.qs
					vals := make([]float32, len(q.leaf))
					dense := make([]float32, len(q.leaf)*k)
					for i := range vals {
						vals[i] = rng.Float32()*200 - 100
					}
					for i := range dense {
						dense[i] = rng.Float32()*200 - 100
					}
					x := treeRandomRows(rng, treeQSRows, nf)
					s := q.newScratch(tf.width(), trees, k)
					row := make([]float32, tf.width())
					nw := trees * q.words
					for _, n := range []int{1, 8, 11, treeQSRows} {
						cols := tf.fillCols(s, row, x, nf, 0, n)
						wantBV := make([]uint32, nw*treeQSRows)
						treeQSGo.scan(q.nodes, q.count, q.init, cols, wantBV)
						var wantSum [treeQSRows]float32
						wantK := make([]float32, k*treeQSRows)
						sum, sumK := treeQSGo.sum1, treeQSGo.sumK1
						if q.words == 2 {
							sum, sumK = treeQSGo.sum2, treeQSGo.sumK2
						}
						sum(q.nodes, q.count, q.init, cols, vals, &wantSum)
						sumK(q.nodes, q.count, q.init, cols, dense, k, wantK)
						for kn, kern := range sets {
							bv := make([]uint32, nw*treeQSRows)
							kern.scan(q.nodes, q.count, q.init, cols, bv)
							for i := range bv {
								if bv[i] != wantBV[i] {
									t.Fatalf("%s (%s) rows %d: word %d lane %d: %#x, want %#x", name, kn, n, i/treeQSRows, i%treeQSRows, bv[i], wantBV[i])
								}
							}
							sum, sumK := kern.sum1, kern.sumK1
							if q.words == 2 {
								sum, sumK = kern.sum2, kern.sumK2
							}
							if sum == nil {
								continue
							}
							got := [treeQSRows]float32{}
							for i := range got {
								got[i] = float32(math.NaN()) // the kernel must overwrite
							}
							sum(q.nodes, q.count, q.init, cols, vals, &got)
							for i := range got {
								if math.Float32bits(got[i]) != math.Float32bits(wantSum[i]) {
									t.Fatalf("%s (%s) rows %d: lane %d: sum %v, want %v", name, kn, n, i, got[i], wantSum[i])
								}
							}
							gotK := make([]float32, k*treeQSRows)
							for i := range gotK {
								gotK[i] = float32(math.NaN())
							}
							sumK(q.nodes, q.count, q.init, cols, dense, k, gotK)
							for i := range gotK {
								if math.Float32bits(gotK[i]) != math.Float32bits(wantK[i]) {
									t.Fatalf("%s (%s) rows %d: target %d lane %d: sum %v, want %v", name, kn, n, i/treeQSRows, i%treeQSRows, gotK[i], wantK[i])
								}
							}
						}
					}
				}
			}
		}
	}
}

// BenchmarkTreeQSKernels runs each bitvector kernel set's summing kernel
// on blocks of 16 rows of 100 random trees of depth 5 (one word) and 6
// (two), and reports the time per split and block.
func BenchmarkTreeQSKernels(b *testing.B) {
	for _, depth := range []int{5, 6} {
		rng := rand.New(rand.NewSource(1))
		def, err := parseTreeDefV3(NewAttrs(treeRandomForestAttrs(rng, 100, depth, 8, "BRANCH_LEQ")...), "target", 1)
		if err != nil {
			b.Fatal(err)
		}
		f, _ := compileForest[float32](def)
		tf := f.fast
		q := tf.qs
		x := treeRandomRows(rng, treeQSRows, 8)
		s := q.newScratch(tf.width(), len(tf.roots), 0)
		cols := tf.fillCols(s, make([]float32, tf.width()), x, 8, 0, treeQSRows)
		for kn, kern := range treeQSKernelSets() {
			sum := kern.sum1
			if q.words == 2 {
				sum = kern.sum2
			}
			if sum == nil {
				continue
			}
			b.Run(fmt.Sprintf("depth=%d/%s", depth, kn), func(b *testing.B) {
				for b.Loop() {
					sum(q.nodes, q.count, q.init, cols, tf.qsVals, &s.sums)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(q.nodes)), "ns/split")
			})
		}
	}
}

// treeVariant returns attrs with some nodes tracking missing values
// ("missing") or splitting at ±Inf ("inf"), or unchanged ("plain").
func treeVariant(rng *rand.Rand, attrs []*Attr, variant string) []*Attr {
	switch variant {
	case "missing":
		return treeWithMissing(rng, attrs, 0.3)
	case "inf":
		return treeWithInfSplits(rng, attrs, 0.1)
	}
	return attrs
}
