package ops

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
)

// TreeSHAP: exact Shapley values of a tree ensemble's raw output.
//
// The value explained is the ensemble's score before its post-transform
// (the margin of a LOGISTIC or SOFTMAX classifier, as the shap library
// does): base value plus the (summed or averaged) leaf values. The
// algorithm is the polynomial path-dependent TreeSHAP of Lundberg et al.
// (2020, "From local explanations to global understanding with
// explainable AI for trees", Algorithm 2): for every leaf it carries the
// unique features on the path from the root with the share of the
// background (the node covers) that follows the path without the feature
// ("zero fraction") and whether the row follows it ("one fraction"). agate
// computes the same values leaf by leaf (tree_shap_leaf.go), with per-leaf
// tables as in Fast TreeSHAP v2 (Yang 2021): O(nodes + leaves · depth) per
// row where the tables fit, O(leaves · depth²) elsewhere.
//
// The covers come from the model (ONNX nodes_hitrates, when the exporter
// wrote real sample counts: scikit-learn converters write 1 everywhere,
// which carries no information) or from background rows routed through the
// trees, the data the conditional expectations are taken over.

// ErrNoCovers is returned when a tree ensemble carries no node covers and
// no background rows were given to compute them.
var ErrNoCovers = errors.New("the tree ensemble stores no node covers (nodes_hitrates absent or all equal); TreeSHAP needs background rows to compute them")

// treeSHAPMaxDepth bounds the depth of an explained tree (the walks
// recurse).
const treeSHAPMaxDepth = 4096

// TreeExplainer computes exact TreeSHAP contributions for one tree ensemble
// node (TreeEnsembleRegressor, TreeEnsembleClassifier or TreeEnsemble). It
// is safe for concurrent use.
type TreeExplainer struct {
	nFeatures int       // features the trees read: max feature index + 1
	targets   []int     // explained targets or classes
	names     []string  // their names (class labels, or target indices)
	expected  []float64 // expected raw value per explained target
	base      []float64 // base value per explained target
	scale     float64   // 1/number of trees for AVERAGE, 1 for SUM
	post      mlPostTransform
	covers    string // "model" or "background"
	double    bool   // the trees compare float64 inputs

	f32 []shapTree[float32]
	f64 []shapTree[float64]

	splits  []int       // split nodes per feature
	reached []float64   // expected decisions per feature and prediction
	weights [][]float64 // Shapley weights w(k) by path length d
	scratch sync.Pool   // *shapScratch
}

// shapScratch is one row's working memory.
type shapScratch struct {
	failed []int32
	c, q   []float64
}

// shapNode is one node of an explained tree: children are indices into the
// tree's nodes (yes: the condition holds), -1 for a leaf.
type shapNode[T treeFloat] struct {
	thr         T
	set         []T // members of a BRANCH_MEMBER node
	feature     int32
	mode        uint8
	missingTrue bool
	yes, no     int32
	zeroYes     float64 // share of the node's cover that goes to yes
	zeroNo      float64 // share that goes to no
	leaf        int32   // leaf index into shapTree.values (rows of len(targets))
}

type shapTree[T treeFloat] struct {
	nodes  []shapNode[T]
	values []float64 // leaf values per explained target
	depth  int

	// the leaves' paths (tree_shap_leaf.go)
	leafAt   []int32 // node -> index into leaves (leaf nodes only)
	leaves   []shapLeaf
	leafFeat []int32
	leafZ    []float64
	tab      []float64
}

// goesYes reports whether row value v takes the yes branch of nd, with the
// comparisons of the prediction kernels (the same type, NaN routing).
func (nd *shapNode[T]) goesYes(v T) bool {
	var c bool
	switch nd.mode {
	case treeLEQ:
		c = v <= nd.thr
	case treeLT:
		c = v < nd.thr
	case treeGTE:
		c = v >= nd.thr
	case treeGT:
		c = v > nd.thr
	case treeEQ:
		c = v == nd.thr
	case treeNEQ:
		c = v != nd.thr
	case treeMember:
		for _, s := range nd.set {
			if s == v {
				c = true
				break
			}
		}
	}
	if !c && nd.missingTrue && v != v {
		c = true
	}
	return c
}

// TreeExplainerOptions configure NewTreeExplainer.
type TreeExplainerOptions struct {
	// Background holds rows (row-major, Features values each) whose routing
	// through the trees gives the node covers. Empty: the covers stored in
	// the model are used, and a model without them is ErrNoCovers.
	Background []float32
	// Background64 is Background in float64, for trees comparing float64
	// inputs (used instead of Background when set).
	Background64 []float64
	// Features is the row width of Background.
	Features int

	noTables bool // tests: compute every leaf in O(d²)
}

// NewTreeExplainer prepares TreeSHAP for a tree ensemble node. The node's
// input type decides whether splits compare float32 or float64 values, as
// in the prediction kernels.
func NewTreeExplainer(n *Node, opts TreeExplainerOptions) (*TreeExplainer, error) {
	if n.Domain != DomainML {
		return nil, fmt.Errorf("%s is not a tree ensemble", n.Describe())
	}
	e := &TreeExplainer{scale: 1}
	var def *treeDef
	var err error
	switch n.OpType {
	case "TreeEnsembleRegressor":
		def, err = parseTreeDefV3(n.Attrs, "target", int(n.Attrs.Int("n_targets", 0)))
	case "TreeEnsembleClassifier":
		strs, _ := n.Attrs.Strings("classlabels_strings")
		ints, _ := n.Attrs.Ints("classlabels_int64s")
		e.names = strs
		for _, v := range ints {
			e.names = append(e.names, strconv.FormatInt(v, 10))
		}
		def, err = parseTreeDefV3(n.Attrs, "class", len(e.names))
		if def != nil {
			def.agg = treeAggSum // the classifier always sums votes
		}
	case "TreeEnsemble":
		def, err = parseTreeDefV5(n.Attrs)
	default:
		return nil, fmt.Errorf("%s is not a tree ensemble", n.Describe())
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.Describe(), err)
	}
	switch def.agg {
	case treeAggSum:
	case treeAggAverage:
		e.scale = 1 / float64(len(def.roots))
	default:
		return nil, fmt.Errorf("%s: TreeSHAP needs a SUM or AVERAGE aggregate function: the Shapley values of a MIN or MAX over trees do not decompose by tree", n.Describe())
	}
	e.post = def.post
	e.double = len(n.InputTypes) > 0 && n.InputTypes[0] != nil && n.InputTypes[0].Kind == KindTensor && n.InputTypes[0].DType == Double

	// Explained targets: every target or class, except for a two-class
	// classifier whose trees vote for one class only: its score is that
	// class's margin (the other class's probability is derived from it).
	voted := make([]bool, def.nTargets)
	maxFeature := -1
	for i := range def.nodes {
		nd := &def.nodes[i]
		for _, w := range nd.weights {
			voted[w.target] = true
		}
		if nd.mode != treeLeaf && nd.feature > maxFeature {
			maxFeature = nd.feature
		}
	}
	e.nFeatures = maxFeature + 1
	nVoted := 0
	for _, v := range voted {
		if v {
			nVoted++
		}
	}
	for t := 0; t < def.nTargets; t++ {
		if n.OpType == "TreeEnsembleClassifier" && def.nTargets == 2 && nVoted == 1 && !voted[t] {
			// the positive class's score, named below
			continue
		}
		e.targets = append(e.targets, t)
	}
	if e.names == nil {
		for t := 0; t < def.nTargets; t++ {
			e.names = append(e.names, strconv.Itoa(t))
		}
	}
	names := make([]string, len(e.targets))
	e.base = make([]float64, len(e.targets))
	binary := n.OpType == "TreeEnsembleClassifier" && def.nTargets == 2 && nVoted == 1
	for i, t := range e.targets {
		names[i] = e.names[t]
		if binary {
			// One score for two classes is the positive class's, whichever
			// class id the exporter voted with (XGBoost writes 0).
			names[i] = e.names[1]
		}
		switch {
		case len(def.base) == def.nTargets:
			e.base[i] = def.base[t]
		case len(def.base) == 1 && def.nTargets == 1:
			e.base[i] = def.base[0]
		case n.OpType == "TreeEnsembleClassifier" && t < len(def.base):
			e.base[i] = def.base[t]
		}
	}
	e.names = names

	var hitrates []float64
	if n.OpType != "TreeEnsemble" {
		if h, ok := n.Attrs.Floats("nodes_hitrates"); ok && len(h) == len(def.nodes) {
			hitrates = make([]float64, len(h))
			for i, v := range h {
				hitrates[i] = float64(v)
			}
		}
	}
	// A single-target regressor's kernel reads one value per leaf: its
	// first vote, or nodes_values when it has none; the explainer reads
	// the same.
	single := n.OpType != "TreeEnsembleClassifier" && def.nTargets == 1
	if e.double {
		e.f64, err = buildShapTrees[float64](def, e.targets, single)
	} else {
		e.f32, err = buildShapTrees[float32](def, e.targets, single)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.Describe(), err)
	}
	switch nbg := max(len(opts.Background), len(opts.Background64)); {
	case nbg > 0:
		if opts.Features < e.nFeatures || nbg%opts.Features != 0 {
			return nil, fmt.Errorf("%s: background rows of %d features (%d values) do not cover the %d features the trees read", n.Describe(), opts.Features, nbg, e.nFeatures)
		}
		bg32, bg64 := opts.Background, opts.Background64
		if e.double && bg64 == nil {
			bg64 = make([]float64, len(bg32))
			for i, v := range bg32 {
				bg64[i] = float64(v)
			}
		}
		if !e.double && bg32 == nil {
			bg32 = make([]float32, len(bg64))
			for i, v := range bg64 {
				bg32[i] = float32(v)
			}
		}
		if e.double {
			coversFromRows(e.f64, bg64, opts.Features)
		} else {
			coversFromRows(e.f32, bg32, opts.Features)
		}
		e.covers = "background"
	case informativeCovers(hitrates):
		if e.double {
			coversFromDef(e.f64, def, hitrates)
		} else {
			coversFromDef(e.f32, def, hitrates)
		}
		e.covers = "model"
	default:
		return nil, fmt.Errorf("%s: %w", n.Describe(), ErrNoCovers)
	}
	e.splits, e.reached = make([]int, e.nFeatures), make([]float64, e.nFeatures)
	budget := treeSHAPTableBudget
	if opts.noTables {
		budget = 0
	}
	maxD := 0
	if e.double {
		e.expected = expectedValues(e.f64, e.base, e.scale)
		splitUse(e.f64, e.splits, e.reached)
		maxD = prepareLeaves(e.f64, &budget)
	} else {
		e.expected = expectedValues(e.f32, e.base, e.scale)
		splitUse(e.f32, e.splits, e.reached)
		maxD = prepareLeaves(e.f32, &budget)
	}
	e.weights = make([][]float64, maxD+1)
	for d := range e.weights {
		e.weights[d] = shapWeights(d)
	}
	return e, nil
}

// informativeCovers reports whether hitrates can serve as covers: present,
// not negative, and not all equal (converters that do not track samples
// write the same value everywhere).
func informativeCovers(h []float64) bool {
	if len(h) == 0 {
		return false
	}
	varies := false
	for _, v := range h {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
		if v != h[0] {
			varies = true
		}
	}
	return varies
}

// buildShapTrees copies each tree of def (trees may share nodes) into its
// own node array, with leaf values per explained target.
func buildShapTrees[T treeFloat](def *treeDef, targets []int, single bool) ([]shapTree[T], error) {
	col := make([]int, def.nTargets) // target -> column in values, -1 when not explained
	for i := range col {
		col[i] = -1
	}
	for i, t := range targets {
		col[t] = i
	}
	limit := 4*len(def.nodes) + 1<<20
	total := 0
	trees := make([]shapTree[T], len(def.roots))
	for ti, r := range def.roots {
		tr := &trees[ti]
		var place func(d, depth int) (int32, error)
		place = func(d, depth int) (int32, error) {
			if depth > treeSHAPMaxDepth {
				return 0, fmt.Errorf("tree %d is deeper than %d levels", ti, treeSHAPMaxDepth)
			}
			if total++; total > limit {
				return 0, fmt.Errorf("the trees expand to more than %d nodes (too many shared subtrees)", limit)
			}
			tr.depth = max(tr.depth, depth)
			nd := &def.nodes[d]
			p := int32(len(tr.nodes))
			if nd.mode == treeLeaf {
				leaf := int32(len(tr.values) / len(targets))
				vals := make([]float64, len(targets))
				switch {
				case single && len(nd.weights) > 0:
					vals[0] = nd.weights[0].value
				case single:
					vals[0] = nd.value
				default:
					for _, w := range nd.weights {
						if c := col[w.target]; c >= 0 {
							vals[c] += w.value
						}
					}
				}
				tr.values = append(tr.values, vals...)
				tr.nodes = append(tr.nodes, shapNode[T]{feature: -1, mode: treeLeaf, yes: -1, no: -1, leaf: leaf})
				return p, nil
			}
			sn := shapNode[T]{thr: T(nd.value), feature: int32(nd.feature), mode: nd.mode, missingTrue: nd.missingTrue, leaf: -1}
			for _, v := range nd.set {
				sn.set = append(sn.set, T(v))
			}
			tr.nodes = append(tr.nodes, sn)
			yes, err := place(nd.trueChild, depth+1)
			if err != nil {
				return 0, err
			}
			no, err := place(nd.falseChild, depth+1)
			if err != nil {
				return 0, err
			}
			tr.nodes[p].yes, tr.nodes[p].no = yes, no
			return p, nil
		}
		if _, err := place(r, 0); err != nil {
			return nil, err
		}
	}
	return trees, nil
}

// setShares sets a branch's zero fractions from its children's covers; a
// node no cover reached splits evenly.
func setShares[T treeFloat](nd *shapNode[T], yes, no float64) {
	if s := yes + no; s > 0 {
		nd.zeroYes, nd.zeroNo = yes/s, no/s
		return
	}
	nd.zeroYes, nd.zeroNo = 0.5, 0.5
}

// coversFromRows routes the background rows (stride c) through every tree
// and takes the visit counts as covers.
func coversFromRows[T treeFloat](trees []shapTree[T], rows []T, c int) {
	for ti := range trees {
		nodes := trees[ti].nodes
		count := make([]float64, len(nodes))
		for r := 0; r+c <= len(rows); r += c {
			x := rows[r : r+c]
			i := int32(0)
			for {
				count[i]++
				nd := &nodes[i]
				if nd.yes < 0 {
					break
				}
				if nd.goesYes(x[nd.feature]) {
					i = nd.yes
				} else {
					i = nd.no
				}
			}
		}
		for i := range nodes {
			if nd := &nodes[i]; nd.yes >= 0 {
				setShares(nd, count[nd.yes], count[nd.no])
			}
		}
	}
}

// coversFromDef takes the covers from the model's hitrates (indexed like
// def's nodes), walking each copied tree beside its definition.
func coversFromDef[T treeFloat](trees []shapTree[T], def *treeDef, hit []float64) {
	for ti, r := range def.roots {
		nodes := trees[ti].nodes
		var walk func(p int32, d int)
		walk = func(p int32, d int) {
			nd := &nodes[p]
			if nd.yes < 0 {
				return
			}
			dn := &def.nodes[d]
			setShares(nd, hit[dn.trueChild], hit[dn.falseChild])
			walk(nd.yes, dn.trueChild)
			walk(nd.no, dn.falseChild)
		}
		walk(0, r)
	}
}

// expectedValues returns, per explained target, base + scale·Σ over trees
// of the cover-weighted mean of the leaf values.
func expectedValues[T treeFloat](trees []shapTree[T], base []float64, scale float64) []float64 {
	k := len(base)
	out := append([]float64(nil), base...)
	acc := make([]float64, k)
	for ti := range trees {
		tr := &trees[ti]
		clear(acc)
		var walk func(i int32, w float64)
		walk = func(i int32, w float64) {
			nd := &tr.nodes[i]
			if nd.yes < 0 {
				for j, v := range tr.values[int(nd.leaf)*k : int(nd.leaf)*k+k] {
					acc[j] += w * v
				}
				return
			}
			if nd.zeroYes > 0 {
				walk(nd.yes, w*nd.zeroYes)
			}
			if nd.zeroNo > 0 {
				walk(nd.no, w*nd.zeroNo)
			}
		}
		walk(0, 1)
		for j := range out {
			out[j] += scale * acc[j]
		}
	}
	return out
}

// splitUse counts the split nodes on each feature, and the expected number
// of decisions on it per prediction (each split weighted by the share of
// the cover that reaches it), summed over trees.
func splitUse[T treeFloat](trees []shapTree[T], count []int, reached []float64) {
	for ti := range trees {
		nodes := trees[ti].nodes
		var walk func(i int32, w float64)
		walk = func(i int32, w float64) {
			nd := &nodes[i]
			if nd.yes < 0 {
				return
			}
			count[nd.feature]++
			reached[nd.feature] += w
			walk(nd.yes, w*nd.zeroYes)
			walk(nd.no, w*nd.zeroNo)
		}
		walk(0, 1)
	}
}

// Features returns the number of input features the trees read.
func (e *TreeExplainer) Features() int { return e.nFeatures }

// Targets returns the names of the explained outputs: class labels for a
// classifier (only the voted class of a two-class classifier whose trees
// vote for one class), target indices for a regressor.
func (e *TreeExplainer) Targets() []string { return append([]string(nil), e.names...) }

// ExpectedValues returns the expected raw value of each explained target
// over the covers: what the contributions of a row are measured from.
func (e *TreeExplainer) ExpectedValues() []float64 { return append([]float64(nil), e.expected...) }

// PostTransform names the transform the model applies after the explained
// raw value (NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO or PROBIT).
func (e *TreeExplainer) PostTransform() string {
	for name, p := range mlPostTransformNames {
		if p == e.post {
			return name
		}
	}
	return "NONE"
}

// Covers says where the node covers came from: "model" or "background".
func (e *TreeExplainer) Covers() string { return e.covers }

// SplitCounts returns the number of split nodes on each feature, over all
// trees (shared subtrees counted once per tree that reaches them).
func (e *TreeExplainer) SplitCounts() []int { return append([]int(nil), e.splits...) }

// CoverWeightedSplits returns, per feature, the expected number of
// decisions taken on it for one prediction over the covers: each split
// weighted by the share of the cover reaching it, summed over trees. ONNX
// exports keep no split gains, so this is the cover-weighted importance the
// format allows.
func (e *TreeExplainer) CoverWeightedSplits() []float64 { return append([]float64(nil), e.reached...) }

// Double reports whether the trees compare float64 inputs.
func (e *TreeExplainer) Double() bool { return e.double }

// Explain computes the contributions of one row x (at least Features()
// values) into phi (len(Targets())·Features(), target-major), overwritten,
// and the row's raw value per target into raw. For every target,
// ExpectedValues()[t] + Σ phi[t·Features()+f] equals raw[t] up to rounding.
func (e *TreeExplainer) Explain(x []float32, phi, raw []float64) error {
	if e.double {
		return errors.New("the trees compare float64 values: use Explain64")
	}
	return explainRow(e, e.f32, x, phi, raw)
}

// Explain64 is Explain for ensembles whose input is float64.
func (e *TreeExplainer) Explain64(x []float64, phi, raw []float64) error {
	if !e.double {
		return errors.New("the trees compare float32 values: use Explain")
	}
	return explainRow(e, e.f64, x, phi, raw)
}

func explainRow[T treeFloat](e *TreeExplainer, trees []shapTree[T], x []T, phi, raw []float64) error {
	k, nf := len(e.targets), e.nFeatures
	if len(x) < nf {
		return fmt.Errorf("the row has %d features, the trees read %d", len(x), nf)
	}
	if len(phi) != k*nf || len(raw) != k {
		return fmt.Errorf("phi must hold %d values and raw %d, got %d and %d", k*nf, k, len(phi), len(raw))
	}
	clear(phi)
	copy(raw, e.base)
	sc, _ := e.scratch.Get().(*shapScratch)
	if sc == nil {
		sc = &shapScratch{failed: make([]int32, nf)}
	}
	w := leafWalker[T]{x: x, phi: phi, k: k, nf: nf, scale: e.scale, failed: sc.failed, weights: e.weights, c: sc.c, q: sc.q}
	for ti := range trees {
		tr := &trees[ti]
		w.tree = tr
		w.visit(0)
		// the row's own leaf
		i := int32(0)
		for tr.nodes[i].yes >= 0 {
			nd := &tr.nodes[i]
			if nd.goesYes(x[nd.feature]) {
				i = nd.yes
			} else {
				i = nd.no
			}
		}
		l := int(tr.nodes[i].leaf) * k
		for j, v := range tr.values[l : l+k] {
			raw[j] += e.scale * v
		}
	}
	sc.c, sc.q = w.c, w.q
	e.scratch.Put(sc)
	return nil
}
