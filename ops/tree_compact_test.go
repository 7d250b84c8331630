package ops

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"
)

// treeRandomForestAttrs returns the attributes of a random single-target
// TreeEnsembleRegressor: trees of random shape (leaves at random depths up
// to maxDepth), splits of the given mode over nf features, thresholds drawn
// from a small set so that inputs often equal them.
func treeRandomForestAttrs(rng *rand.Rand, trees, maxDepth, nf int, mode string) []*Attr {
	return treeRandomForestAttrsN(rng, trees, maxDepth, nf, mode, 1, true)
}

// treeRandomForestAttrsN is treeRandomForestAttrs with nTargets targets:
// every leaf votes once for each target when complete is set, else for a
// random subset of them.
func treeRandomForestAttrsN(rng *rand.Rand, trees, maxDepth, nf int, mode string, nTargets int, complete bool) []*Attr {
	var tree, node, feat, tn, fn, tIDs, tNodes, tTargets []int64
	var modes []string
	var vals, weights []float32
	for t := 0; t < trees; t++ {
		next := int64(0)
		var build func(d int) int64
		build = func(d int) int64 {
			id := next
			next++
			k := len(tree)
			tree, node = append(tree, int64(t)), append(node, id)
			tn, fn = append(tn, 0), append(fn, 0)
			if d == maxDepth || (d > 0 && rng.Intn(4) == 0) {
				feat, modes, vals = append(feat, 0), append(modes, "LEAF"), append(vals, 0)
				for _, tg := range rng.Perm(nTargets) {
					if !complete && rng.Intn(2) == 0 {
						continue
					}
					w := float32(rng.Intn(1000)) / 8
					tIDs, tNodes, tTargets, weights = append(tIDs, int64(t)), append(tNodes, id), append(tTargets, int64(tg)), append(weights, w)
				}
				return id
			}
			feat, modes, vals = append(feat, int64(rng.Intn(nf))), append(modes, mode), append(vals, float32(rng.Intn(9)-4)/2)
			a := build(d + 1)
			b := build(d + 1)
			tn[k], fn[k] = a, b
			return id
		}
		build(0)
	}
	return []*Attr{
		mlInts("nodes_treeids", tree...), mlInts("nodes_nodeids", node...), mlInts("nodes_featureids", feat...),
		mlStrs("nodes_modes", modes...), mlFloats("nodes_values", vals...), mlInts("nodes_truenodeids", tn...),
		mlInts("nodes_falsenodeids", fn...), mlInts("target_treeids", tIDs...), mlInts("target_nodeids", tNodes...),
		mlInts("target_ids", tTargets...), mlFloats("target_weights", weights...), mlInt("n_targets", int64(nTargets)),
	}
}

// treeWalkerSets returns the single-row walks to test: the Go one, the
// assembly ones the machine uses, and the scalar assembly walk where it
// has AVX2 (on AVX-512 machines too).
func treeWalkerSets() map[string]treeWalkers {
	sets := map[string]treeWalkers{"go": {}}
	if treeAsm.table != nil || treeAsm.gather != nil || treeAsm.scalar != nil {
		sets["asm"] = treeAsm
	}
	if w := treeWalkersScalar(); w.scalar != nil && detectCPU().avx2FMA {
		sets["scalar"] = w
	}
	return sets
}

// treeRandomRows returns rows of nf features drawn around the thresholds,
// with NaN and infinities mixed in.
func treeRandomRows(rng *rand.Rand, rows, nf int) []float32 {
	x := make([]float32, rows*nf)
	for i := range x {
		switch rng.Intn(20) {
		case 0:
			x[i] = float32(math.NaN())
		case 1:
			x[i] = float32(math.Inf(1))
		case 2:
			x[i] = float32(math.Inf(-1))
		default:
			x[i] = float32(rng.Intn(11)-5) / 2 // often equal to a threshold
		}
	}
	return x
}

// TestTreeFastMatchesGeneral checks that the compact walks (each assembly
// walk the machine has, and the Go kernel) reach the same leaves as the
// general traversal, over random forests of every mode that qualifies.
func TestTreeFastMatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for _, mode := range []string{"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT"} {
		for _, nf := range []int{1, 5, 31, 32, 40} { // 31 features: the largest register table; 40: gathers
			for _, trees := range []int{1, 7, 33, 100} {
				name := fmt.Sprintf("%s/f%d/t%d", mode, nf, trees)
				def, err := parseTreeDefV3(NewAttrs(treeRandomForestAttrs(rng, trees, 9, nf, mode)...), "target", 1)
				if err != nil {
					t.Fatal(err)
				}
				fast, err := compileForest[float32](def)
				if err != nil {
					t.Fatal(err)
				}
				if fast.fast == nil {
					t.Fatalf("%s: no compact layout", name)
				}
				general, _ := compileForest[float32](def)
				general.fast, general.collectFast = nil, nil

				const rows = 37
				c := nf + 2 // columns the trees never read
				x := treeRandomRows(rng, rows, c)
				want := make([]int32, rows*trees)
				general.collectLeaves(x, c, 0, rows, want)
				for wn, walk := range treeWalkerSets() {
					f, _ := compileForest[float32](def)
					f.fast.asm = walk
					f.fast.qsKern = treeQSKernels{} // every row walked
					got := make([]int32, rows*trees)
					f.collectLeaves(x, c, 0, rows, got)
					for i := range want {
						if got[i] != want[i] {
							t.Fatalf("%s (%s): row %d tree %d: leaf %d, want %d", name, wn, i/trees, i%trees, got[i], want[i])
						}
					}
					// A sub-range of rows lands at the start of leaves.
					f.collectLeaves(x, c, 3, 5, got)
					for i := range 2 * trees {
						if got[i] != want[3*trees+i] {
							t.Fatalf("%s: rows [3, 5): leaf %d differs", name, i)
						}
					}
				}
			}
		}
	}
}

// treeWithMissing returns attrs with nodes_missing_value_tracks_true set on
// each node with probability p, and on the first (the root of the first
// tree of treeRandomForestAttrs, a split).
func treeWithMissing(rng *rand.Rand, attrs []*Attr, p float64) []*Attr {
	var n int
	for _, a := range attrs {
		if a.Name == "nodes_treeids" {
			n = len(a.Ints)
		}
	}
	miss := make([]int64, n)
	for i := range miss {
		if i == 0 || rng.Float64() < p {
			miss[i] = 1
		}
	}
	return append(attrs, mlInts("nodes_missing_value_tracks_true", miss...))
}

// TestTreeFastMissing checks the compact walk of forests that send NaN to
// the true branch of some or all of their splits (the NaN-as--Inf feature
// copies) against the general traversal: the same leaves, and bit for bit
// the same sums, with NaN, +-Inf and threshold-equal inputs, on the
// register table (up to 32 slots), the gathers and the Go kernel.
func TestTreeFastMissing(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	for _, mode := range []string{"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT"} {
		// 15 features tracked: 15+1+15 = 31 slots (table); 16: 33 (gathers).
		for _, nf := range []int{1, 5, 15, 16, 40} {
			for _, p := range []float64{0.3, 1} {
				for _, trees := range []int{1, 33, 100} {
					name := fmt.Sprintf("%s/f%d/p%v/t%d", mode, nf, p, trees)
					attrs := treeWithMissing(rng, treeRandomForestAttrs(rng, trees, 9, nf, mode), p)
					def, err := parseTreeDefV3(NewAttrs(attrs...), "target", 1)
					if err != nil {
						t.Fatal(err)
					}
					fast, _ := compileForest[float32](def)
					if fast.fast == nil {
						t.Fatalf("%s: no compact layout", name)
					}
					if fast.mode != treeMixed {
						t.Fatalf("%s: the general traversal must track missing values", name)
					}
					if len(fast.fast.miss) == 0 {
						t.Fatalf("%s: no missing-value slots", name)
					}
					general, _ := compileForest[float32](def)
					general.fast, general.collectFast = nil, nil

					const rows = 41
					c := nf + 1
					x := treeRandomRows(rng, rows, c)
					want := make([]int32, rows*trees)
					general.collectLeaves(x, c, 0, rows, want)
					wantY := NewTensor(Float, rows, 1)
					treeRegressionRows(general, x, c, wantY, 0, rows)
					for wn, walk := range treeWalkerSets() {
						f, _ := compileForest[float32](def)
						f.fast.asm = walk
						f.fast.qsKern = treeQSKernels{} // every row walked
						got := make([]int32, rows*trees)
						f.collectLeaves(x, c, 0, rows, got)
						for i := range want {
							if got[i] != want[i] {
								t.Fatalf("%s (%s): row %d tree %d: leaf %d, want %d", name, wn, i/trees, i%trees, got[i], want[i])
							}
						}
						gotY := NewTensor(Float, rows, 1)
						treeRegressionRows(f, x, c, gotY, 0, rows)
						for i, w := range wantY.Float32s() {
							if g := gotY.Float32s()[i]; math.Float32bits(g) != math.Float32bits(w) {
								t.Fatalf("%s: row %d: %v, want %v", name, i, g, w)
							}
						}
					}
				}
			}
		}
	}
}

// treeOneTargetAttrs returns a random forest of nTargets targets whose every
// leaf votes once, for target tg, with weights in [lo, lo+2).
func treeOneTargetAttrs(rng *rand.Rand, trees, maxDepth, nf, nTargets, tg int, lo float32) []*Attr {
	attrs := treeRandomForestAttrsN(rng, trees, maxDepth, nf, "BRANCH_LEQ", 1, true)
	for i, a := range attrs {
		switch a.Name {
		case "target_ids":
			ids := make([]int64, len(a.Ints))
			for j := range ids {
				ids[j] = int64(tg)
			}
			attrs[i] = mlInts("target_ids", ids...)
		case "target_weights":
			w := make([]float32, len(a.Floats))
			for j := range w {
				w[j] = lo + a.Floats[j]/64 + float32(rng.Intn(100))/1e5
			}
			attrs[i] = mlFloats("target_weights", w...)
		case "n_targets":
			attrs[i] = mlInt("n_targets", int64(nTargets))
		}
	}
	return attrs
}

// TestTreeFastOneTarget checks the forests whose every leaf votes once for
// the same one of several targets (two-class gradient boosting): the
// compact leaves hold the votes, and regression and classification
// results equal the general layout's bit for bit.
func TestTreeFastOneTarget(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for _, nTargets := range []int{2, 3} {
		for tg := 0; tg < nTargets; tg++ {
			for _, agg := range []string{"SUM", "AVERAGE", "MIN", "MAX"} {
				name := fmt.Sprintf("targets=%d/tg=%d/%s", nTargets, tg, agg)
				attrs := append(treeOneTargetAttrs(rng, 37, 5, 4, nTargets, tg, -1), mlStr("aggregate_function", agg))
				def, err := parseTreeDefV3(NewAttrs(attrs...), "target", nTargets)
				if err != nil {
					t.Fatal(err)
				}
				fast, _ := compileForest[float32](def)
				if fast.fast == nil || fast.fast.voteTarget != tg || fast.fast.dense != nil {
					t.Fatalf("%s: compact layout %v, vote target %d", name, fast.fast != nil, fast.fast.voteTarget)
				}
				general, _ := compileForest[float32](def)
				general.fast, general.collectFast = nil, nil
				const rows = 45
				x := treeRandomRows(rng, rows, 4)
				want, got := NewTensor(Float, rows, nTargets), NewTensor(Float, rows, nTargets)
				treeRegressionRows(general, x, 4, want, 0, rows)
				treeRegressionRows(fast, x, 4, got, 0, rows)
				for i, w := range want.Float32s() {
					if g := got.Float32s()[i]; math.Float32bits(g) != math.Float32bits(w) {
						t.Fatalf("%s: element %d: %v, want %v", name, i, g, w)
					}
				}
			}
		}
	}
	// Classifiers: two classes (onnxruntime's binary rules) and three.
	for _, nc := range []int{2, 3} {
		for _, post := range []string{"NONE", "LOGISTIC"} {
			for _, lo := range []float32{-1, 0} { // mixed signs; all positive
				name := fmt.Sprintf("classes=%d/%s/lo=%v", nc, post, lo)
				var attrs []*Attr
				for _, a := range treeOneTargetAttrs(rng, 150, 3, 6, nc, 0, lo) {
					if a.Name == "n_targets" {
						continue
					}
					a2 := *a
					a2.Name = strings.Replace(a.Name, "target_", "class_", 1)
					attrs = append(attrs, &a2)
				}
				labels := []int64{0, 1, 2}[:nc]
				attrs = append(attrs, mlInts("classlabels_int64s", labels...), mlStr("post_transform", post), mlFloats("base_values", 0.25))
				k, err := newTreeClassifier(&Node{OpType: "TreeEnsembleClassifier", Domain: DomainML, Version: 1, Attrs: NewAttrs(attrs...)})
				if err != nil {
					t.Fatal(err)
				}
				kc := k.(*treeClassifier)
				fast, _ := kc.forests.float32Forest()
				if fast.fast == nil || fast.fast.voteTarget != 0 {
					t.Fatalf("%s: no one-target compact layout", name)
				}
				general, _ := compileForest[float32](kc.forests.def)
				general.fast, general.collectFast = nil, nil
				const rows = 70
				x := treeRandomRows(rng, rows, 6)
				var labs [2]*Tensor
				var probs [2]*Tensor
				for i, f := range []*treeForest[float32]{general, fast} {
					labs[i], probs[i] = NewTensor(Int64, rows), NewTensor(Float, rows, nc)
					treeClassificationRows(kc, f, x, 6, labs[i], probs[i], 0, rows)
				}
				for i, w := range probs[0].Float32s() {
					if g := probs[1].Float32s()[i]; math.Float32bits(g) != math.Float32bits(w) {
						t.Fatalf("%s: probability %d: %v, want %v", name, i, g, w)
					}
				}
				for i, w := range labs[0].Int64s() {
					if g := labs[1].Int64s()[i]; g != w {
						t.Fatalf("%s: label %d: %v, want %v", name, i, g, w)
					}
				}
			}
		}
	}
}

// TestTreeFastAccumulate checks the sums over the compact leaves (values
// in single-target forests, dense votes in multi-target ones) against the
// general layout, for every aggregate function.
func TestTreeFastAccumulate(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, nTargets := range []int{1, 2, 3, 4} {
		for _, complete := range []bool{true, false} {
			for _, agg := range []string{"SUM", "AVERAGE", "MIN", "MAX"} {
				name := fmt.Sprintf("targets=%d/complete=%v/%s", nTargets, complete, agg)
				attrs := append(treeRandomForestAttrsN(rng, 21, 6, 4, "BRANCH_LEQ", nTargets, complete),
					mlStr("aggregate_function", agg), mlFloats("base_values", make([]float32, nTargets)...))
				def, err := parseTreeDefV3(NewAttrs(attrs...), "target", nTargets)
				if err != nil {
					t.Fatal(err)
				}
				fast, _ := compileForest[float32](def)
				if fast.fast == nil {
					t.Fatalf("%s: no compact layout", name)
				}
				if got := fast.fast.dense != nil; got != (nTargets > 1 && complete) {
					t.Fatalf("%s: dense votes %v", name, got)
				}
				general, _ := compileForest[float32](def)
				general.fast, general.collectFast = nil, nil
				const rows = 40
				x := treeRandomRows(rng, rows, 4)
				want, got := NewTensor(Float, rows, nTargets), NewTensor(Float, rows, nTargets)
				treeRegressionRows(general, x, 4, want, 0, rows)
				treeRegressionRows(fast, x, 4, got, 0, rows)
				for i, w := range want.Float32s() {
					if g := got.Float32s()[i]; g != w && !(g != g && w != w) {
						t.Fatalf("%s: element %d: %v, want %v", name, i, g, w)
					}
				}
			}
		}
	}
}

func TestTreeFastEligibility(t *testing.T) {
	compile := func(attrs []*Attr) *treeForest[float32] {
		t.Helper()
		def, err := parseTreeDefV3(NewAttrs(attrs...), "target", 1)
		if err != nil {
			t.Fatal(err)
		}
		f, err := compileForest[float32](def)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, c := range []struct {
		name  string
		attrs []*Attr
		fast  bool
	}{
		{"leq", treeStumpAttrs("BRANCH_LEQ", 1, 2, 3), true},
		{"gt", treeStumpAttrs("BRANCH_GT", 1, 2, 3), true},
		{"eq", treeStumpAttrs("BRANCH_EQ", 1, 2, 3), false},
		{"neq", treeStumpAttrs("BRANCH_NEQ", 1, 2, 3), false},
		{"missing", treeStumpAttrs("BRANCH_LEQ", 1, 2, 3, mlInts("nodes_missing_value_tracks_true", 1, 0, 0)), true},
		{"missing-gte", treeStumpAttrs("BRANCH_GTE", 1, 2, 3, mlInts("nodes_missing_value_tracks_true", 1, 0, 0)), true},
		{"missing-false", treeStumpAttrs("BRANCH_LEQ", 1, 2, 3, mlInts("nodes_missing_value_tracks_true", 0, 0, 0)), true},
		// "x < -Inf" becomes "x <= NaN", which -Inf (a NaN input) fails.
		{"missing-nan-threshold", treeStumpAttrs("BRANCH_LT", float32(math.Inf(-1)), 2, 3, mlInts("nodes_missing_value_tracks_true", 1, 0, 0)), false},
		{"nan-threshold", treeStumpAttrs("BRANCH_LT", float32(math.Inf(-1)), 2, 3), true},
	} {
		if got := compile(c.attrs).fast != nil; got != c.fast {
			t.Errorf("%s: compact layout %v, want %v", c.name, got, c.fast)
		}
	}
	// Float64 forests keep the general layout.
	def, _ := parseTreeDefV3(NewAttrs(treeStumpAttrs("BRANCH_LEQ", 1, 2, 3)...), "target", 1)
	if f, _ := compileForest[float64](def); f.fast != nil || f.collectFast != nil {
		t.Error("float64 forest has a compact layout")
	}
}

// TestTreeFastRegression runs regressors through the kernel: a single-leaf
// tree next to a stump, a GTE forest with NaN inputs, and a forest with more
// features than the register table holds.
func TestTreeFastRegression(t *testing.T) {
	// Tree 0 is a lone leaf (5); tree 1 splits feature 1 at 0.5 (LEQ: 1, else 2).
	attrs := []*Attr{
		mlInts("nodes_treeids", 0, 1, 1, 1), mlInts("nodes_nodeids", 0, 0, 1, 2),
		mlInts("nodes_featureids", 0, 1, 0, 0), mlStrs("nodes_modes", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF"),
		mlFloats("nodes_values", 0, 0.5, 0, 0), mlInts("nodes_truenodeids", 0, 1, 0, 0),
		mlInts("nodes_falsenodeids", 0, 2, 0, 0), mlInts("target_treeids", 0, 1, 1),
		mlInts("target_nodeids", 0, 1, 2), mlInts("target_ids", 0, 0, 0), mlFloats("target_weights", 5, 1, 2),
		mlInt("n_targets", 1),
	}
	x := []float32{9, 0.5, 9, 0.6, 9, float32(math.NaN()), 9, float32(math.Inf(-1))}
	out, err := runML(t, "TreeEnsembleRegressor", 3, attrs, 1, FromSlice(Float, x, 4, 2))
	if err != nil {
		t.Fatal(err)
	}
	mlWantFloats(t, "leaf+stump", out[0].Float32s(), []float32{6, 7, 7, 6}, 0)

	// GTE: x >= 0.5 goes true (10), else false (20); NaN goes false.
	x = []float32{0.5, 0.4, float32(math.NaN()), float32(math.Inf(1))}
	out, err = runML(t, "TreeEnsembleRegressor", 3, treeStumpAttrs("BRANCH_GTE", 0.5, 10, 20), 1, FromSlice(Float, x, 4, 1))
	if err != nil {
		t.Fatal(err)
	}
	mlWantFloats(t, "gte", out[0].Float32s(), []float32{10, 20, 20, 10}, 0)

	// 40 features, the split on the last.
	stump := treeStumpAttrs("BRANCH_LEQ", 0, 1, 2)
	stump[2] = mlInts("nodes_featureids", 39, 0, 0)
	x = make([]float32, 2*40)
	x[39], x[40+39] = -1, 1
	out, err = runML(t, "TreeEnsembleRegressor", 3, stump, 1, FromSlice(Float, x, 2, 40))
	if err != nil {
		t.Fatal(err)
	}
	mlWantFloats(t, "40 features", out[0].Float32s(), []float32{1, 2}, 0)
}

// BenchmarkTreeFastRow walks one row through 100 random trees of depth 10
// with the assembly kernel (where there is one) and the Go kernel.
func BenchmarkTreeFastRow(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	def, err := parseTreeDefV3(NewAttrs(treeRandomForestAttrs(rng, 100, 10, 5, "BRANCH_LEQ")...), "target", 1)
	if err != nil {
		b.Fatal(err)
	}
	f, _ := compileForest[float32](def)
	goOnly, _ := compileForest[float32](def)
	goOnly.fast.asm = treeWalkers{}
	const rows = 256
	x := treeRandomRows(rng, rows, 5)
	leaves := make([]int32, 100)
	for _, v := range []struct {
		name string
		f    *treeForest[float32]
	}{{"asm", f}, {"go", goOnly}} {
		b.Run(v.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				v.f.collectLeaves(x, 5, i, i+1, leaves)
				i = (i + 1) % rows
			}
		})
	}
}
