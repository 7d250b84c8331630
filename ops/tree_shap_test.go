package ops

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"
)

// shapTestNode is a node of a test tree: yes/no are children (-1: leaf).
type shapTestNode struct {
	feature int
	thr     float32
	mode    string
	missing bool
	yes, no int
	values  []float32 // leaf value per target
	count   float64   // training samples (the cover written as hitrate)
}

type shapTestTree []shapTestNode

// decide is the test's own reading of a split.
func (n *shapTestNode) decide(v float32) bool {
	var c bool
	switch n.mode {
	case "BRANCH_LEQ":
		c = v <= n.thr
	case "BRANCH_LT":
		c = v < n.thr
	case "BRANCH_GTE":
		c = v >= n.thr
	case "BRANCH_GT":
		c = v > n.thr
	case "BRANCH_EQ":
		c = v == n.thr
	case "BRANCH_NEQ":
		c = v != n.thr
	}
	if !c && n.missing && v != v {
		c = true
	}
	return c
}

// shapRandomTree grows a tree whose features repeat along paths, with
// every split mode, NaN tracking and leaf counts as covers.
func shapRandomTree(rng *rand.Rand, depth, nf, nTargets int) shapTestTree {
	var t shapTestTree
	modes := []string{"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"}
	var grow func(d int) int
	grow = func(d int) int {
		i := len(t)
		t = append(t, shapTestNode{})
		if d == depth || (d > 1 && rng.Intn(4) == 0) {
			vals := make([]float32, nTargets)
			for j := range vals {
				vals[j] = float32(rng.NormFloat64())
			}
			t[i] = shapTestNode{yes: -1, no: -1, values: vals, count: float64(1 + rng.Intn(20))}
			return i
		}
		mode := modes[rng.Intn(len(modes))]
		thr := float32(rng.Intn(5)) / 4 // thresholds on the rows' grid, so EQ/NEQ splits matter
		if mode != "BRANCH_EQ" && mode != "BRANCH_NEQ" {
			thr = float32(rng.Float64())
		}
		yes := grow(d + 1)
		no := grow(d + 1)
		t[i] = shapTestNode{feature: rng.Intn(nf), thr: thr, mode: mode, missing: rng.Intn(3) == 0, yes: yes, no: no,
			count: t[yes].count + t[no].count}
		return i
	}
	grow(0)
	return t
}

// shapAttrs writes trees as TreeEnsembleRegressor (or, with labels,
// TreeEnsembleClassifier) attributes; hitrates carries the counts.
func shapAttrs(trees []shapTestTree, nTargets int, agg, post string, hitrates bool, base []float32) []*Attr {
	var tids, nids, feats, yes, no, miss, wt, wn, wi []int64
	var vals, hits, ww []float32
	var modes []string
	for ti, tr := range trees {
		for ni, n := range tr {
			tids, nids = append(tids, int64(ti)), append(nids, int64(ni))
			feats, vals = append(feats, int64(n.feature)), append(vals, n.thr)
			hits = append(hits, float32(n.count))
			if n.yes < 0 {
				modes = append(modes, "LEAF")
				yes, no, miss = append(yes, 0), append(no, 0), append(miss, 0)
				for j, v := range n.values {
					wt, wn, wi, ww = append(wt, int64(ti)), append(wn, int64(ni)), append(wi, int64(j)), append(ww, v)
				}
				continue
			}
			modes = append(modes, n.mode)
			yes, no = append(yes, int64(n.yes)), append(no, int64(n.no))
			m := int64(0)
			if n.missing {
				m = 1
			}
			miss = append(miss, m)
		}
	}
	if !hitrates {
		for i := range hits {
			hits[i] = 1
		}
	}
	a := []*Attr{
		mlInts("nodes_treeids", tids...), mlInts("nodes_nodeids", nids...), mlInts("nodes_featureids", feats...),
		mlStrs("nodes_modes", modes...), mlFloats("nodes_values", vals...), mlInts("nodes_truenodeids", yes...),
		mlInts("nodes_falsenodeids", no...), mlInts("nodes_missing_value_tracks_true", miss...),
		mlFloats("nodes_hitrates", hits...),
		mlInts("target_treeids", wt...), mlInts("target_nodeids", wn...), mlInts("target_ids", wi...),
		mlFloats("target_weights", ww...), mlInt("n_targets", int64(nTargets)),
		mlStr("aggregate_function", agg), mlStr("post_transform", post),
	}
	if base != nil {
		a = append(a, mlFloats("base_values", base...))
	}
	return a
}

// shapConditional is Algorithm 1 of the TreeSHAP paper: the expected value
// of the tree given the features in set (a bit mask) are those of x, the
// others following the covers.
func shapConditional(t shapTestTree, i int, x []float32, set uint, cover []float64, target int) float64 {
	n := &t[i]
	if n.yes < 0 {
		return float64(n.values[target])
	}
	if set&(1<<uint(n.feature)) != 0 {
		if n.decide(x[n.feature]) {
			return shapConditional(t, n.yes, x, set, cover, target)
		}
		return shapConditional(t, n.no, x, set, cover, target)
	}
	cy, cn := cover[n.yes], cover[n.no]
	if cy+cn == 0 {
		cy, cn = 1, 1
	}
	return (cy*shapConditional(t, n.yes, x, set, cover, target) + cn*shapConditional(t, n.no, x, set, cover, target)) / (cy + cn)
}

// shapBruteForce is the Shapley value of every feature by enumeration of
// all subsets of the nf features: phi[target*nf+f].
func shapBruteForce(trees []shapTestTree, covers [][]float64, x []float32, nf, nTargets int, scale float64) []float64 {
	phi := make([]float64, nTargets*nf)
	fact := func(n int) float64 { return math.Gamma(float64(n + 1)) }
	for target := 0; target < nTargets; target++ {
		value := func(set uint) float64 {
			s := 0.0
			for ti, t := range trees {
				s += scale * shapConditional(t, 0, x, set, covers[ti], target)
			}
			return s
		}
		for f := 0; f < nf; f++ {
			for set := uint(0); set < 1<<uint(nf); set++ {
				if set&(1<<uint(f)) != 0 {
					continue
				}
				size := 0
				for b := set; b != 0; b &= b - 1 {
					size++
				}
				w := fact(size) * fact(nf-size-1) / fact(nf)
				phi[target*nf+f] += w * (value(set|1<<uint(f)) - value(set))
			}
		}
	}
	return phi
}

func shapRows(rng *rand.Rand, n, nf int) []float32 {
	x := make([]float32, n*nf)
	for i := range x {
		switch rng.Intn(8) {
		case 0:
			x[i] = float32(math.NaN())
		case 1, 2:
			x[i] = float32(rng.Intn(5)) / 4
		default:
			x[i] = float32(rng.Float64())
		}
	}
	return x
}

func shapNodeOf(attrs []*Attr, op string) *Node {
	return &Node{OpType: op, Domain: DomainML, Version: 3, Attrs: NewAttrs(attrs...), Inputs: []string{"x"}, Outputs: []string{"y"}}
}

func TestTreeSHAPMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, tc := range []struct {
		agg      string
		nf       int
		nTargets int
		trees    int
		depth    int
	}{
		{"SUM", 1, 1, 2, 3},
		{"SUM", 3, 1, 3, 5},
		{"AVERAGE", 5, 2, 4, 6},
		{"SUM", 6, 3, 3, 8},
		{"AVERAGE", 8, 1, 2, 10},
	} {
		t.Run(fmt.Sprintf("%s_%df_%dt", tc.agg, tc.nf, tc.nTargets), func(t *testing.T) {
			for rep := 0; rep < 5; rep++ {
				trees := make([]shapTestTree, tc.trees)
				covers := make([][]float64, tc.trees)
				for i := range trees {
					trees[i] = shapRandomTree(rng, tc.depth, tc.nf, tc.nTargets)
					for _, n := range trees[i] {
						covers[i] = append(covers[i], n.count)
					}
				}
				base := make([]float32, tc.nTargets)
				for j := range base {
					base[j] = float32(rng.NormFloat64())
				}
				attrs := shapAttrs(trees, tc.nTargets, tc.agg, "NONE", true, base)
				// odd repetitions compute every leaf without its table
				e, err := NewTreeExplainer(shapNodeOf(attrs, "TreeEnsembleRegressor"), TreeExplainerOptions{noTables: rep%2 == 1})
				if err != nil {
					t.Fatal(err)
				}
				if e.Covers() != "model" {
					t.Fatalf("covers from %q, want model", e.Covers())
				}
				scale := 1.0
				if tc.agg == "AVERAGE" {
					scale = 1 / float64(tc.trees)
				}
				nf := e.Features()
				rows := shapRows(rng, 8, tc.nf)
				pred, err := runML(t, "TreeEnsembleRegressor", 3, attrs, 1, FromSlice(Float, rows, 8, tc.nf))
				if err != nil {
					t.Fatal(err)
				}
				phi := make([]float64, tc.nTargets*nf)
				raw := make([]float64, tc.nTargets)
				for r := 0; r < 8; r++ {
					x := rows[r*tc.nf : (r+1)*tc.nf]
					if err := e.Explain(x, phi, raw); err != nil {
						t.Fatal(err)
					}
					want := shapBruteForce(trees, covers, x, tc.nf, tc.nTargets, scale)
					for j := 0; j < tc.nTargets; j++ {
						sum := e.ExpectedValues()[j]
						for f := 0; f < tc.nf; f++ {
							got := 0.0
							if f < nf {
								got = phi[j*nf+f]
							}
							if math.Abs(got-want[j*tc.nf+f]) > 1e-9*(1+math.Abs(want[j*tc.nf+f])) {
								t.Fatalf("row %d target %d feature %d: TreeSHAP %.12g, brute force %.12g", r, j, f, got, want[j*tc.nf+f])
							}
							sum += got
						}
						// additivity against the kernel's own prediction
						kernel := float64(pred[0].Data.([]float32)[r*tc.nTargets+j])
						if math.Abs(sum-raw[j]) > 1e-9*(1+math.Abs(raw[j])) || math.Abs(raw[j]-kernel) > 1e-5*(1+math.Abs(kernel)) {
							t.Fatalf("row %d target %d: expected+Σφ %.9g, raw %.9g, kernel %.9g", r, j, sum, raw[j], kernel)
						}
					}
				}
			}
		})
	}
}

// TestTreeSHAPBackgroundCovers: an export whose hitrates carry nothing
// needs background rows; their routing counts are the covers.
func TestTreeSHAPBackgroundCovers(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	const nf, nTrees = 5, 3
	trees := make([]shapTestTree, nTrees)
	for i := range trees {
		trees[i] = shapRandomTree(rng, 6, nf, 1)
	}
	attrs := shapAttrs(trees, 1, "SUM", "NONE", false, nil)
	if _, err := NewTreeExplainer(shapNodeOf(attrs, "TreeEnsembleRegressor"), TreeExplainerOptions{}); !errors.Is(err, ErrNoCovers) {
		t.Fatalf("uniform hitrates and no background: err = %v, want ErrNoCovers", err)
	}
	bg := shapRows(rng, 50, nf)
	e, err := NewTreeExplainer(shapNodeOf(attrs, "TreeEnsembleRegressor"), TreeExplainerOptions{Background: bg, Features: nf})
	if err != nil {
		t.Fatal(err)
	}
	noTab, err := NewTreeExplainer(shapNodeOf(attrs, "TreeEnsembleRegressor"), TreeExplainerOptions{Background: bg, Features: nf, noTables: true})
	if err != nil {
		t.Fatal(err)
	}
	if e.Covers() != "background" {
		t.Errorf("covers from %q", e.Covers())
	}
	// the test's own routing counts
	covers := make([][]float64, nTrees)
	for ti, tr := range trees {
		covers[ti] = make([]float64, len(tr))
		for r := 0; r < 50; r++ {
			x := bg[r*nf : (r+1)*nf]
			i := 0
			for {
				covers[ti][i]++
				if tr[i].yes < 0 {
					break
				}
				if tr[i].decide(x[tr[i].feature]) {
					i = tr[i].yes
				} else {
					i = tr[i].no
				}
			}
		}
	}
	// The expected value over the background is the mean prediction.
	mean := 0.0
	for r := 0; r < 50; r++ {
		for _, tr := range trees {
			mean += shapConditional(tr, 0, bg[r*nf:(r+1)*nf], 1<<nf-1, nil, 0) / 50
		}
	}
	if got := e.ExpectedValues()[0]; math.Abs(got-mean) > 1e-9 {
		t.Errorf("expected value %.12g, mean prediction over the background %.12g", got, mean)
	}
	nfe := e.Features()
	phi, raw := make([]float64, nfe), make([]float64, 1)
	for _, ex := range []*TreeExplainer{e, noTab} {
		for r, x := range [][]float32{bg[:nf], bg[nf : 2*nf], shapRows(rng, 1, nf), shapRows(rng, 1, nf)} {
			if err := ex.Explain(x, phi, raw); err != nil {
				t.Fatal(err)
			}
			want := shapBruteForce(trees, covers, x, nf, 1, 1)
			for f := 0; f < nfe; f++ {
				if math.Abs(phi[f]-want[f]) > 1e-9*(1+math.Abs(want[f])) {
					t.Fatalf("row %d feature %d: %.12g, brute force %.12g", r, f, phi[f], want[f])
				}
			}
		}
	}
	if _, err := NewTreeExplainer(shapNodeOf(attrs, "TreeEnsembleRegressor"), TreeExplainerOptions{Background: bg[:8], Features: 2}); err == nil {
		t.Error("background rows narrower than the trees' features were accepted")
	}
}

// TestTreeSHAPClassifier: the margin before LOGISTIC of a two-class
// classifier voting for one class, and the per-class scores of a
// multi-class forest, are explained; their post-transform gives the
// kernel's probabilities.
func TestTreeSHAPClassifier(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	const nf = 4
	for _, tc := range []struct {
		name    string
		classes int
		voted   int // targets the trees vote for
		post    string
		base    []float32
	}{
		{"binary_logistic", 2, 1, "LOGISTIC", nil},
		{"binary_logistic_votes_class0", 2, 1, "LOGISTIC", nil}, // XGBoost via onnxmltools
		{"multiclass_average_votes", 3, 3, "NONE", nil},
		{"multiclass_softmax", 3, 3, "SOFTMAX", []float32{0.1, -0.2, 0.3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trees := make([]shapTestTree, 5)
			for i := range trees {
				trees[i] = shapRandomTree(rng, 5, nf, tc.voted)
			}
			attrs := shapAttrs(trees, tc.voted, "SUM", tc.post, true, tc.base)
			// classifier attribute names
			for _, a := range attrs {
				switch a.Name {
				case "target_treeids", "target_nodeids", "target_ids", "target_weights":
					a.Name = "class" + a.Name[len("target"):]
				}
			}
			if tc.voted == 1 && !strings.HasSuffix(tc.name, "class0") {
				for _, a := range attrs {
					if a.Name == "class_ids" {
						for i := range a.Ints {
							a.Ints[i] = 1 // votes for the positive class (scikit-learn)
						}
					}
				}
			}
			labels := make([]int64, tc.classes)
			for i := range labels {
				labels[i] = int64(10 + i)
			}
			attrs = append(attrs, mlInts("classlabels_int64s", labels...))
			e, err := NewTreeExplainer(shapNodeOf(attrs, "TreeEnsembleClassifier"), TreeExplainerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(e.Targets()); got != tc.voted {
				t.Fatalf("targets %v, want %d", e.Targets(), tc.voted)
			}
			if tc.voted == 1 && e.Targets()[0] != "11" {
				t.Errorf("binary: explains class %s, want the positive class 11", e.Targets()[0])
			}
			if e.PostTransform() != tc.post {
				t.Errorf("post-transform %s, want %s", e.PostTransform(), tc.post)
			}
			rows := shapRows(rng, 16, nf)
			out, err := runML(t, "TreeEnsembleClassifier", 1, attrs, 2, FromSlice(Float, rows, 16, nf))
			if err != nil {
				t.Fatal(err)
			}
			probs := out[1].Data.([]float32)
			nfe := e.Features()
			k := len(e.Targets())
			phi, raw := make([]float64, k*nfe), make([]float64, k)
			for r := 0; r < 16; r++ {
				if err := e.Explain(rows[r*nf:(r+1)*nf], phi, raw); err != nil {
					t.Fatal(err)
				}
				for j := 0; j < k; j++ {
					sum := e.ExpectedValues()[j]
					for f := 0; f < nfe; f++ {
						sum += phi[j*nfe+f]
					}
					if math.Abs(sum-raw[j]) > 1e-9 {
						t.Fatalf("row %d: expected+Σφ %.12g != raw %.12g", r, sum, raw[j])
					}
				}
				p := make([]float32, tc.classes)
				switch {
				case tc.voted == 1:
					// the positive class's probability (onnxruntime's
					// other column depends on how the classes were voted)
					p[1] = float32(1 / (1 + math.Exp(-raw[0])))
					p[0] = probs[r*tc.classes]
				default:
					for j := range p {
						p[j] = float32(raw[j])
					}
					mlApplyPost(e.post, p)
				}
				mlWantFloats(t, fmt.Sprintf("row %d probabilities", r), probs[r*tc.classes:(r+1)*tc.classes], p, 1e-5)
			}
		})
	}
}

func TestTreeSHAPErrors(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	trees := []shapTestTree{shapRandomTree(rng, 3, 2, 1)}
	attrs := shapAttrs(trees, 1, "MAX", "NONE", true, nil)
	if _, err := NewTreeExplainer(shapNodeOf(attrs, "TreeEnsembleRegressor"), TreeExplainerOptions{}); err == nil {
		t.Error("a MAX ensemble was explained")
	}
	if _, err := NewTreeExplainer(&Node{OpType: "Add", Domain: DomainONNX, Attrs: NewAttrs()}, TreeExplainerOptions{}); err == nil {
		t.Error("an Add node was taken for a tree ensemble")
	}
	e, err := NewTreeExplainer(shapNodeOf(shapAttrs(trees, 1, "SUM", "NONE", true, nil), "TreeEnsembleRegressor"), TreeExplainerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nf := e.Features()
	if err := e.Explain(make([]float32, nf-1), make([]float64, nf), make([]float64, 1)); err == nil {
		t.Error("a short row was explained")
	}
	if err := e.Explain(make([]float32, nf), make([]float64, nf+1), make([]float64, 1)); err == nil {
		t.Error("a wrongly sized phi was accepted")
	}
}

// BenchmarkTreeSHAP explains one row of 100 trees of depth 8 over 10
// features.
func BenchmarkTreeSHAP(b *testing.B) {
	rng := rand.New(rand.NewSource(5))
	trees := make([]shapTestTree, 100)
	for i := range trees {
		trees[i] = shapRandomTree(rng, 8, 10, 1)
	}
	e, err := NewTreeExplainer(shapNodeOf(shapAttrs(trees, 1, "AVERAGE", "NONE", true, nil), "TreeEnsembleRegressor"), TreeExplainerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	rows := shapRows(rng, 64, 10)
	phi, raw := make([]float64, e.Features()), make([]float64, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := i % 64
		if err := e.Explain(rows[r*10:(r+1)*10], phi, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTreeSHAPLeafValues: a single-target regressor's leaf is read as the
// kernel reads it (its first vote; nodes_values without votes), so the
// explained raw value is the prediction.
func TestTreeSHAPLeafValues(t *testing.T) {
	attrs := []*Attr{
		mlInts("nodes_treeids", 0, 0, 0), mlInts("nodes_nodeids", 0, 1, 2), mlInts("nodes_featureids", 0, 0, 0),
		mlStrs("nodes_modes", "BRANCH_LEQ", "LEAF", "LEAF"), mlFloats("nodes_values", 0.5, 0, 3),
		mlInts("nodes_truenodeids", 1, 0, 0), mlInts("nodes_falsenodeids", 2, 0, 0), mlFloats("nodes_hitrates", 4, 1, 3),
		mlInts("target_treeids", 0, 0), mlInts("target_nodeids", 1, 1), mlInts("target_ids", 0, 0),
		mlFloats("target_weights", 1, 2), mlInt("n_targets", 1),
	}
	e, err := NewTreeExplainer(shapNodeOf(attrs, "TreeEnsembleRegressor"), TreeExplainerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rows := []float32{0, 1}
	pred, err := runML(t, "TreeEnsembleRegressor", 3, attrs, 1, FromSlice(Float, rows, 2, 1))
	if err != nil {
		t.Fatal(err)
	}
	phi, raw := make([]float64, 1), make([]float64, 1)
	for r := range rows {
		if err := e.Explain(rows[r:r+1], phi, raw); err != nil {
			t.Fatal(err)
		}
		if want := float64(pred[0].Float32s()[r]); raw[0] != want || math.Abs(e.ExpectedValues()[0]+phi[0]-want) > 1e-12 {
			t.Errorf("row %d: raw %v, expected+φ %v, kernel %v", r, raw[0], e.ExpectedValues()[0]+phi[0], want)
		}
	}
}
