package bench

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/ops"
	"github.com/dmitryikh/leaves"
)

// The comparison with github.com/dmitryikh/leaves, a pure-Go predictor for
// LightGBM, XGBoost and scikit-learn gradient boosting models. leaves reads
// none of the ONNX fixtures, so lightGBMFromONNX rewrites an ONNX tree
// ensemble as an equivalent LightGBM text model: the same trees, float32
// thresholds widened exactly to float64 (a float32 input x satisfies
// x <= t in float32 exactly when it does in float64), leaf values widened
// likewise. leaves sums in float64 where agate sums in float32, so
// predictions agree to float32 rounding. NaN inputs are not equivalent
// (LightGBM without missing-value handling reads NaN as 0; ONNX sends it
// down the false branch); the fixtures have none.

// LeavesModels are the fixtures leaves can express exactly: sums of trees
// without post-transform. The binary classifiers (a logistic over one
// class's votes, with onnxruntime's two-class conventions) are left out.
var LeavesModels = []string{"rf_regressor_5f", "rf_classifier_3class", "gb_regressor_30f", "extratrees_regressor_30f_deep"}

// leavesModel is an ONNX tree model rewritten for leaves.
type leavesModel struct {
	text    string    // LightGBM text model
	groups  int       // outputs per row (targets or classes)
	offset  []float32 // the Scaler before the trees, if any
	scale   []float32
	feature int // features per input row
	trees   int // trees per output group
}

// lightGBMFromONNX converts the model file at path: an optional Scaler
// followed by one TreeEnsembleRegressor or TreeEnsembleClassifier.
func lightGBMFromONNX(path string) (*leavesModel, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	e, err := onnxbuild.LoadModel(b)
	if err != nil {
		return nil, err
	}
	lm := &leavesModel{}
	var tree *onnxbuild.Node
	for _, n := range e.Nodes {
		switch {
		case n.Domain == "ai.onnx.ml" && n.OpType == "Scaler" && tree == nil && lm.scale == nil:
			list, err := n.Attributes()
			if err != nil {
				return nil, err
			}
			a := ops.NewAttrs(list...)
			lm.offset, _ = a.Floats("offset")
			lm.scale, _ = a.Floats("scale")
			if len(lm.offset) == 0 {
				lm.offset = []float32{0}
			}
			if len(lm.scale) == 0 {
				lm.scale = []float32{1}
			}
		case n.Domain == "ai.onnx.ml" && (n.OpType == "TreeEnsembleRegressor" || n.OpType == "TreeEnsembleClassifier") && tree == nil:
			tree = n
		default:
			return nil, fmt.Errorf("node %q (%s): only a Scaler followed by one tree ensemble can be converted", n.Name, n.OpType)
		}
	}
	if tree == nil {
		return nil, fmt.Errorf("%s: no tree ensemble", path)
	}
	list, err := tree.Attributes()
	if err != nil {
		return nil, err
	}
	text, groups, maxFeature, trees, err := lightGBMText(ops.NewAttrs(list...), tree.OpType == "TreeEnsembleClassifier")
	if err != nil {
		return nil, err
	}
	lm.text, lm.groups, lm.feature, lm.trees = text, groups, maxFeature+1, trees
	return lm, nil
}

// lgTree is one tree in LightGBM's arrays: splits numbered from the root
// (0), leaves numbered separately; a child reference c < 0 is leaf ^c.
type lgTree struct {
	feature     []int
	threshold   []float64
	left, right []int
	leafValue   [][]float64 // per leaf, one value per output group
}

// lightGBMText writes the ensemble of attributes a as a LightGBM text model
// and returns it with its number of output groups, largest feature and
// number of trees per group.
func lightGBMText(a *ops.Attrs, classifier bool) (text string, groups, maxFeature, trees int, err error) {
	prefix := "target"
	groups = int(a.Int("n_targets", 1))
	if classifier {
		prefix = "class"
		ints, _ := a.Ints("classlabels_int64s")
		strs, _ := a.Strings("classlabels_strings")
		groups = max(len(ints), len(strs))
	} else if agg := a.String("aggregate_function", "SUM"); agg != "SUM" {
		return "", 0, 0, 0, fmt.Errorf("aggregate_function %s: only SUM maps onto LightGBM", agg)
	}
	if post := a.String("post_transform", "NONE"); post != "NONE" {
		return "", 0, 0, 0, fmt.Errorf("post_transform %s is not converted", post)
	}
	if groups < 1 {
		return "", 0, 0, 0, fmt.Errorf("no targets or classes")
	}
	base, _ := a.Floats("base_values")
	for _, v := range base {
		if v != 0 && (classifier || groups > 1) {
			return "", 0, 0, 0, fmt.Errorf("base_values are only converted for single-target regressors")
		}
	}
	if miss, _ := a.Ints("nodes_missing_value_tracks_true"); len(miss) > 0 {
		for _, m := range miss {
			if m != 0 {
				return "", 0, 0, 0, fmt.Errorf("missing-value tracking has no exact LightGBM equivalent here")
			}
		}
	}
	treeIDs, _ := a.Ints("nodes_treeids")
	nodeIDs, _ := a.Ints("nodes_nodeids")
	feats, _ := a.Ints("nodes_featureids")
	modes, _ := a.Strings("nodes_modes")
	values, _ := a.Floats("nodes_values")
	trueIDs, _ := a.Ints("nodes_truenodeids")
	falseIDs, _ := a.Ints("nodes_falsenodeids")
	wTrees, _ := a.Ints(prefix + "_treeids")
	wNodes, _ := a.Ints(prefix + "_nodeids")
	wIDs, _ := a.Ints(prefix + "_ids")
	wVals, _ := a.Floats(prefix + "_weights")
	n := len(treeIDs)
	for _, l := range []int{len(nodeIDs), len(feats), len(modes), len(values), len(trueIDs), len(falseIDs)} {
		if l != n {
			return "", 0, 0, 0, fmt.Errorf("node attributes have different lengths")
		}
	}
	if len(wNodes) != len(wTrees) || len(wIDs) != len(wTrees) || len(wVals) != len(wTrees) {
		return "", 0, 0, 0, fmt.Errorf("weight attributes have different lengths")
	}
	type key struct{ tree, node int64 }
	index := map[key]int{}
	var order []int64
	for i := range treeIDs {
		k := key{treeIDs[i], nodeIDs[i]}
		if _, ok := index[k]; ok {
			return "", 0, 0, 0, fmt.Errorf("node %v defined twice", k)
		}
		if !containsInt64(order, treeIDs[i]) {
			order = append(order, treeIDs[i])
		}
		index[k] = i
	}
	votes := map[int][]float64{}
	counts := map[int][]int{}
	for i := range wTrees {
		j, ok := index[key{wTrees[i], wNodes[i]}]
		if !ok || wIDs[i] < 0 || int(wIDs[i]) >= groups {
			return "", 0, 0, 0, fmt.Errorf("weight %d refers to a missing node or target", i)
		}
		if votes[j] == nil {
			votes[j], counts[j] = make([]float64, groups), make([]int, groups)
		}
		votes[j][wIDs[i]] = float64(wVals[i])
		counts[j][wIDs[i]]++
	}
	var lgTrees []*lgTree
	for _, tid := range order {
		// The root is the node of the tree no other node points to.
		child := map[int]bool{}
		var nodes []int
		for i := range treeIDs {
			if treeIDs[i] != tid {
				continue
			}
			nodes = append(nodes, i)
			if modes[i] != "LEAF" {
				child[index[key{tid, trueIDs[i]}]] = true
				child[index[key{tid, falseIDs[i]}]] = true
			}
		}
		root := -1
		for _, i := range nodes {
			if !child[i] {
				root = i
				break
			}
		}
		if root < 0 {
			return "", 0, 0, 0, fmt.Errorf("tree %d has no root", tid)
		}
		t := &lgTree{}
		var walk func(i int) (int, error)
		walk = func(i int) (int, error) {
			if modes[i] == "LEAF" {
				c := counts[i]
				for g := 0; g < groups; g++ {
					if c == nil || c[g] != 1 {
						return 0, fmt.Errorf("tree %d: a leaf does not vote exactly once for each output", tid)
					}
				}
				t.leafValue = append(t.leafValue, votes[i])
				return ^(len(t.leafValue) - 1), nil
			}
			thr := float64(values[i])
			tr, fa := index[key{tid, trueIDs[i]}], index[key{tid, falseIDs[i]}]
			switch modes[i] {
			case "BRANCH_LEQ": // left when x <= t
			case "BRANCH_LT": // x < t  <=>  x <= the float32 below t
				thr = float64(math.Nextafter32(values[i], float32(math.Inf(-1))))
			case "BRANCH_GT": // x > t  <=>  !(x <= t)
				tr, fa = fa, tr
			case "BRANCH_GTE": // x >= t  <=>  !(x <= the float32 below t)
				thr = float64(math.Nextafter32(values[i], float32(math.Inf(-1))))
				tr, fa = fa, tr
			default:
				return 0, fmt.Errorf("mode %s has no LightGBM equivalent", modes[i])
			}
			maxFeature = max(maxFeature, int(feats[i]))
			s := len(t.feature)
			t.feature = append(t.feature, int(feats[i]))
			t.threshold = append(t.threshold, thr)
			t.left, t.right = append(t.left, 0), append(t.right, 0)
			l, err := walk(tr)
			if err != nil {
				return 0, err
			}
			r, err := walk(fa)
			if err != nil {
				return 0, err
			}
			t.left[s], t.right[s] = l, r
			return s, nil
		}
		if _, err := walk(root); err != nil {
			return "", 0, 0, 0, err
		}
		lgTrees = append(lgTrees, t)
	}
	if len(base) == 1 && base[0] != 0 {
		// A constant tree adds the base value.
		lgTrees = append([]*lgTree{{leafValue: [][]float64{{float64(base[0])}}}}, lgTrees...)
	}

	// LightGBM's multiclass layout: iteration i, class k is tree i*groups+k,
	// each a copy of the ONNX tree with that class's leaf values.
	var blocks []string
	for _, t := range lgTrees {
		for g := 0; g < groups; g++ {
			blocks = append(blocks, t.text(len(blocks), g))
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "tree\nversion=v3\nnum_class=%d\nnum_tree_per_iteration=%d\nlabel_index=0\nmax_feature_idx=%d\n", groups, groups, maxFeature)
	sb.WriteString("objective=regression\n")
	sizes := make([]string, len(blocks))
	for i, bl := range blocks {
		sizes[i] = strconv.Itoa(len(bl))
	}
	fmt.Fprintf(&sb, "tree_sizes=%s\n\n", strings.Join(sizes, " "))
	sb.WriteString(strings.Join(blocks, "\n"))
	return sb.String(), groups, maxFeature, len(lgTrees), nil
}

func containsInt64(s []int64, v int64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// text writes the tree as LightGBM tree block number idx, with the leaf
// values of output group g.
func (t *lgTree) text(idx, g int) string {
	ints := func(v []int) string {
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = strconv.Itoa(x)
		}
		return strings.Join(s, " ")
	}
	floats := func(v []float64) string {
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = strconv.FormatFloat(x, 'g', -1, 64)
		}
		return strings.Join(s, " ")
	}
	leaf := make([]float64, len(t.leafValue))
	for i, v := range t.leafValue {
		leaf[i] = v[g]
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "Tree=%d\nnum_leaves=%d\nnum_cat=0\n", idx, len(leaf))
	if len(t.feature) > 0 {
		fmt.Fprintf(&sb, "split_feature=%s\nthreshold=%s\ndecision_type=%s\nleft_child=%s\nright_child=%s\n",
			ints(t.feature), floats(t.threshold), ints(make([]int, len(t.feature))), ints(t.left), ints(t.right))
	}
	fmt.Fprintf(&sb, "leaf_value=%s\n", floats(leaf))
	return sb.String()
}

// load parses the converted model with leaves.
func (lm *leavesModel) load() (*leaves.Ensemble, error) {
	return leaves.LGEnsembleFromReader(bufio.NewReader(strings.NewReader(lm.text)), false)
}

// prepare applies the Scaler (in float32, as agate's kernel does) to rows
// of x and widens them to float64 into vals, leaves' input.
func (lm *leavesModel) prepare(x []float32, vals []float64) {
	c := lm.feature
	for i, v := range x {
		if lm.scale != nil {
			j := i % c
			v = (v - lm.offset[j%len(lm.offset)]) * lm.scale[j%len(lm.scale)]
		}
		vals[i] = float64(v)
	}
}

// leavesSetup converts the fixture, loads it with leaves and builds the
// workload at batch rows; the workload's rows must have exactly the
// features the trees read.
func leavesSetup(tb testing.TB, name string, batch int) (*Workload, *leavesModel, *leaves.Ensemble) {
	tb.Helper()
	dir := shared.Path(tb, "models", "sklearn", name)
	lm, err := lightGBMFromONNX(dir + "/model.onnx")
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	ens, err := lm.load()
	if err != nil {
		tb.Fatalf("%s: leaves: %v", name, err)
	}
	w, err := TreeWorkload(dir, batch)
	if err != nil {
		tb.Fatal(err)
	}
	if c := w.Inputs[0].Shape[1]; c != lm.feature {
		// Trees that never read the last features: widen the model's
		// view to the input's.
		if c < lm.feature {
			tb.Fatalf("%s: the trees read feature %d of %d", name, lm.feature-1, c)
		}
		lm.feature = c
	}
	return w, lm, ens
}

// TestLeavesParity checks that each converted model predicts, through
// leaves, what agate predicts from the ONNX file, up to the rounding of
// agate's float32 sums (onnxruntime's too) against leaves' float64 ones:
// one float32 ulp per tree.
func TestLeavesParity(t *testing.T) {
	for _, name := range LeavesModels {
		w, lm, ens := leavesSetup(t, name, 500)
		m, err := w.Agate(1)
		if err != nil {
			t.Fatal(err)
		}
		outs := make([]ops.Value, len(m.Outputs()))
		err = w.RunAgate(context.Background(), m, outs)
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		got := outs[len(outs)-1].(*ops.Tensor).Float32s() // values, or probabilities
		vals := make([]float64, w.Rows*lm.feature)
		lm.prepare(w.Inputs[0].Float32s(), vals)
		want := make([]float64, w.Rows*lm.groups)
		if err := ens.PredictDense(vals, w.Rows, lm.feature, want, 0, 1); err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		tol := float64(lm.trees+1) * 0x1p-23
		for i, v := range want {
			d := math.Abs(float64(got[i])-v) / math.Max(1, math.Abs(v))
			worst = max(worst, d)
			if d > tol {
				t.Fatalf("%s: element %d: agate %v, leaves %v", name, i, got[i], v)
			}
		}
		t.Logf("%s: %d values agree, largest relative difference %.2g", name, len(want), worst)
	}
}

// BenchmarkTreesVsLeaves runs each convertible fixture on agate and on
// leaves at the same batch sizes and thread counts. The leaves body
// includes applying the Scaler and widening the rows to float64, the
// preparation leaves needs.
func BenchmarkTreesVsLeaves(b *testing.B) {
	for _, name := range LeavesModels {
		for _, batch := range TreeBatches {
			w, lm, ens := leavesSetup(b, name, batch)
			for _, th := range TreeThreads {
				b.Run(fmt.Sprintf("%s/threads=%d/agate", w.Name, th), benchTreeAgate(w, th))
				b.Run(fmt.Sprintf("%s/threads=%d/leaves", w.Name, th), benchLeaves(w, lm, ens, th))
			}
		}
	}
}

func benchLeaves(w *Workload, lm *leavesModel, ens *leaves.Ensemble, threads int) func(b *testing.B) {
	return func(b *testing.B) {
		x := w.Inputs[0].Float32s()
		vals := make([]float64, w.Rows*lm.feature)
		preds := make([]float64, w.Rows*lm.groups)
		run := func() error {
			lm.prepare(x, vals)
			return ens.PredictDense(vals, w.Rows, lm.feature, preds, 0, threads)
		}
		if err := run(); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		var cpu loopCPU
		cpu.start()
		for b.Loop() {
			if err := run(); err != nil {
				b.Fatal(err)
			}
		}
		cpu.report(b, w.Rows)
	}
}

// TestLightGBMModes converts one stump per split mode and checks leaves'
// predictions at, just below and just above the threshold.
func TestLightGBMModes(t *testing.T) {
	const thr = float32(0.5)
	below, above := math.Nextafter32(thr, -1), math.Nextafter32(thr, 1)
	for _, c := range []struct {
		mode string
		want [3]float64 // below, at, above: 1 for the true branch, 2 for the false one
	}{
		{"BRANCH_LEQ", [3]float64{1, 1, 2}},
		{"BRANCH_LT", [3]float64{1, 2, 2}},
		{"BRANCH_GTE", [3]float64{2, 1, 1}},
		{"BRANCH_GT", [3]float64{2, 2, 1}},
	} {
		a := ops.NewAttrs(
			&ops.Attr{Name: "nodes_treeids", Type: ops.AttrInts, Ints: []int64{0, 0, 0}},
			&ops.Attr{Name: "nodes_nodeids", Type: ops.AttrInts, Ints: []int64{0, 1, 2}},
			&ops.Attr{Name: "nodes_featureids", Type: ops.AttrInts, Ints: []int64{0, 0, 0}},
			&ops.Attr{Name: "nodes_modes", Type: ops.AttrStrings, Strings: []string{c.mode, "LEAF", "LEAF"}},
			&ops.Attr{Name: "nodes_values", Type: ops.AttrFloats, Floats: []float32{thr, 0, 0}},
			&ops.Attr{Name: "nodes_truenodeids", Type: ops.AttrInts, Ints: []int64{1, 0, 0}},
			&ops.Attr{Name: "nodes_falsenodeids", Type: ops.AttrInts, Ints: []int64{2, 0, 0}},
			&ops.Attr{Name: "target_treeids", Type: ops.AttrInts, Ints: []int64{0, 0}},
			&ops.Attr{Name: "target_nodeids", Type: ops.AttrInts, Ints: []int64{1, 2}},
			&ops.Attr{Name: "target_ids", Type: ops.AttrInts, Ints: []int64{0, 0}},
			&ops.Attr{Name: "target_weights", Type: ops.AttrFloats, Floats: []float32{1, 2}},
		)
		text, _, _, _, err := lightGBMText(a, false)
		if err != nil {
			t.Fatal(err)
		}
		ens, err := (&leavesModel{text: text}).load()
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.mode, err, text)
		}
		for i, x := range []float32{below, thr, above} {
			if got := ens.PredictSingle([]float64{float64(x)}, 0); got != c.want[i] {
				t.Errorf("%s: x=%v: leaves predicts %v, want %v", c.mode, x, got, c.want[i])
			}
		}
	}
}
