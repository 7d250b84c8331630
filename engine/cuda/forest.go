package cuda

import (
	"fmt"
	"math"

	"github.com/agate-ml/agate/ops"
)

// Aggregate is how a forest combines the votes of its trees.
type Aggregate uint8

// Aggregation functions, as in the ai.onnx.ml attribute aggregate_function.
const (
	AggSum Aggregate = iota
	AggAverage
	AggMin
	AggMax
)

var aggregateNames = map[string]Aggregate{"SUM": AggSum, "AVERAGE": AggAverage, "MIN": AggMin, "MAX": AggMax}

// Split modes of Forest.Flags (low three bits).
const (
	SplitLEQ uint8 = iota
	SplitLT
	SplitGTE
	SplitGT
	SplitEQ
	SplitNEQ
	SplitLeaf
)

// FlagMissingTrue marks a split whose NaN inputs take the true branch.
const FlagMissingTrue uint8 = 1 << 3

var splitNames = map[string]uint8{
	"BRANCH_LEQ": SplitLEQ, "BRANCH_LT": SplitLT, "BRANCH_GTE": SplitGTE, "BRANCH_GT": SplitGT,
	"BRANCH_EQ": SplitEQ, "BRANCH_NEQ": SplitNEQ, "LEAF": SplitLeaf,
}

// Forest is a tree ensemble in the layout the GPU kernel walks: one array
// per node field (coalesced loads across a warp walking the same tree),
// 32-bit indices and float32 values. For a leaf, TrueChild is the index of
// its first vote and FalseChild its number of votes.
//
// Every leaf of a single-target forest has exactly one vote (its first
// weight, or its nodes_values entry when it has none, as the CPU kernel
// reads it), so that one finalisation formula serves all forests.
type Forest struct {
	NumTargets int
	MaxFeature int // highest feature index a split reads (-1: none)
	Agg        Aggregate

	Roots      []int32
	Feature    []int32 // -1 for a leaf
	Threshold  []float32
	TrueChild  []int32
	FalseChild []int32
	Flags      []uint8

	VoteTarget []int32
	VoteValue  []float32

	// Base holds NumTargets values added after aggregation (zeros when the
	// model has no base_values).
	Base []float32
}

// NumTrees returns the number of trees.
func (f *Forest) NumTrees() int { return len(f.Roots) }

// Bytes returns the device memory the forest occupies.
func (f *Forest) Bytes() int {
	return 4*(len(f.Roots)+len(f.Feature)+len(f.Threshold)+len(f.TrueChild)+len(f.FalseChild)+
		len(f.VoteTarget)+len(f.VoteValue)+len(f.Base)) + len(f.Flags)
}

// forestSupport reports why n cannot be flattened for the GPU ("" when it can
// as far as its attributes' presence goes).
func forestSupport(n *ops.Node) string {
	if n.OpType != "TreeEnsembleRegressor" || n.Domain != ops.DomainML {
		return "only TreeEnsembleRegressor runs on the GPU"
	}
	for _, a := range []string{"nodes_values_as_tensor", "target_weights_as_tensor", "base_values_as_tensor", "nodes_hitrates_as_tensor"} {
		if n.Attrs.Has(a) {
			return "attribute " + a + " (double precision) is not supported on the GPU"
		}
	}
	if p := n.Attrs.String("post_transform", "NONE"); p != "NONE" {
		return "post_transform " + p + " is not supported on the GPU"
	}
	return ""
}

// FlattenTreeEnsemble builds the GPU layout of a TreeEnsembleRegressor node
// (ai.onnx.ml opsets 1 and 3, float attributes, post_transform NONE). It
// validates the trees (every node is reached exactly once from its tree's
// root, so the device walk always ends) and reports any other form as an
// error, for which the node stays on the CPU.
func FlattenTreeEnsemble(n *ops.Node) (*Forest, error) {
	if why := forestSupport(n); why != "" {
		return nil, fmt.Errorf("cuda: %s", why)
	}
	a := n.Attrs
	nt := a.Int("n_targets", 0)
	if nt <= 0 || nt > math.MaxInt32 {
		return nil, fmt.Errorf("cuda: n_targets must be positive, got %d", nt)
	}
	agg, ok := aggregateNames[a.String("aggregate_function", "SUM")]
	if !ok {
		return nil, fmt.Errorf("cuda: unknown aggregate_function %q", a.String("aggregate_function", "SUM"))
	}
	treeIDs, _ := a.Ints("nodes_treeids")
	nodeIDs, _ := a.Ints("nodes_nodeids")
	featIDs, _ := a.Ints("nodes_featureids")
	modes, _ := a.Strings("nodes_modes")
	trueIDs, _ := a.Ints("nodes_truenodeids")
	falseIDs, _ := a.Ints("nodes_falsenodeids")
	values, _ := a.Floats("nodes_values")
	missing, _ := a.Ints("nodes_missing_value_tracks_true")
	wTrees, _ := a.Ints("target_treeids")
	wNodes, _ := a.Ints("target_nodeids")
	wIDs, _ := a.Ints("target_ids")
	wVals, _ := a.Floats("target_weights")
	base, _ := a.Floats("base_values")
	if err := a.Err(); err != nil {
		return nil, fmt.Errorf("cuda: %w", err)
	}
	num := len(treeIDs)
	if num == 0 || num > math.MaxInt32/2 {
		return nil, fmt.Errorf("cuda: the ensemble has %d nodes", num)
	}
	for _, l := range []int{len(nodeIDs), len(featIDs), len(modes), len(trueIDs), len(falseIDs), len(values)} {
		if l != num {
			return nil, fmt.Errorf("cuda: node attributes have different lengths")
		}
	}
	if len(missing) != 0 && len(missing) != num {
		return nil, fmt.Errorf("cuda: nodes_missing_value_tracks_true has %d entries for %d nodes", len(missing), num)
	}
	nw := len(wIDs)
	if len(wTrees) != nw || len(wNodes) != nw || len(wVals) != nw {
		return nil, fmt.Errorf("cuda: target attributes have different lengths")
	}
	if len(base) != 0 && len(base) != 1 && len(base) != int(nt) {
		return nil, fmt.Errorf("cuda: base_values has %d entries, expected 0, 1 or %d", len(base), nt)
	}

	type key struct{ tree, node int64 }
	index := make(map[key]int, num)
	var treeOrder []int64
	for i := range num {
		k := key{treeIDs[i], nodeIDs[i]}
		if _, dup := index[k]; dup {
			return nil, fmt.Errorf("cuda: node %d of tree %d is defined twice", k.node, k.tree)
		}
		index[k] = i
		if len(treeOrder) == 0 || !containsTree(treeOrder, treeIDs[i]) {
			treeOrder = append(treeOrder, treeIDs[i])
		}
	}

	f := &Forest{NumTargets: int(nt), MaxFeature: -1, Agg: agg}
	f.Feature = make([]int32, num)
	f.Threshold = make([]float32, num)
	f.TrueChild = make([]int32, num)
	f.FalseChild = make([]int32, num)
	f.Flags = make([]uint8, num)
	votes := make([][]int, num) // node -> weight indices
	for i := 0; i < nw; i++ {
		j, ok := index[key{wTrees[i], wNodes[i]}]
		if !ok {
			return nil, fmt.Errorf("cuda: weight %d refers to a missing node", i)
		}
		if wIDs[i] < 0 || wIDs[i] >= nt {
			return nil, fmt.Errorf("cuda: weight %d: target %d out of range", i, wIDs[i])
		}
		votes[j] = append(votes[j], i)
	}
	parent := make([]bool, num)
	for i := range num {
		mode, ok := splitNames[modes[i]]
		if !ok {
			return nil, fmt.Errorf("cuda: node %d: mode %q is not supported on the GPU", i, modes[i])
		}
		f.Flags[i] = mode
		if mode == SplitLeaf {
			f.Feature[i] = -1
			f.TrueChild[i] = int32(len(f.VoteTarget))
			if nt == 1 {
				v := values[i]
				if len(votes[i]) > 0 {
					v = wVals[votes[i][0]]
				}
				f.VoteTarget = append(f.VoteTarget, 0)
				f.VoteValue = append(f.VoteValue, v)
			} else {
				for _, w := range votes[i] {
					f.VoteTarget = append(f.VoteTarget, int32(wIDs[w]))
					f.VoteValue = append(f.VoteValue, wVals[w])
				}
			}
			f.FalseChild[i] = int32(len(f.VoteTarget)) - f.TrueChild[i]
			continue
		}
		if featIDs[i] < 0 || featIDs[i] > math.MaxInt32 {
			return nil, fmt.Errorf("cuda: node %d: feature %d out of range", i, featIDs[i])
		}
		f.Feature[i] = int32(featIDs[i])
		f.MaxFeature = max(f.MaxFeature, int(featIDs[i]))
		f.Threshold[i] = values[i]
		if len(missing) > 0 && missing[i] != 0 {
			f.Flags[i] |= FlagMissingTrue
		}
		for side, id := range []int64{trueIDs[i], falseIDs[i]} {
			j, ok := index[key{treeIDs[i], id}]
			if !ok || j == i {
				return nil, fmt.Errorf("cuda: node %d of tree %d has an invalid child %d", nodeIDs[i], treeIDs[i], id)
			}
			if parent[j] {
				return nil, fmt.Errorf("cuda: node %d of tree %d has two parents", id, treeIDs[i])
			}
			parent[j] = true
			if side == 0 {
				f.TrueChild[i] = int32(j)
			} else {
				f.FalseChild[i] = int32(j)
			}
		}
	}
	// Root of each tree: its first listed node without a parent.
	rootOf := map[int64]int{}
	for i := range num {
		if _, done := rootOf[treeIDs[i]]; !done && !parent[i] {
			rootOf[treeIDs[i]] = i
		}
	}
	seen := make([]bool, num)
	stack := []int{}
	for _, t := range treeOrder {
		r, ok := rootOf[t]
		if !ok {
			return nil, fmt.Errorf("cuda: tree %d has no root", t)
		}
		f.Roots = append(f.Roots, int32(r))
		// With one parent per node, a walk that meets a node twice has
		// found a cycle.
		stack = append(stack[:0], r)
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[i] {
				return nil, fmt.Errorf("cuda: tree %d contains a cycle", t)
			}
			seen[i] = true
			if f.Flags[i]&7 != SplitLeaf {
				stack = append(stack, int(f.TrueChild[i]), int(f.FalseChild[i]))
			}
		}
	}
	f.Base = make([]float32, nt)
	switch len(base) {
	case 1:
		if nt == 1 {
			f.Base[0] = base[0]
		}
	case int(nt):
		copy(f.Base, base)
	}
	return f, nil
}

func containsTree(list []int64, t int64) bool {
	// Trees are usually listed contiguously: check the last one first.
	if list[len(list)-1] == t {
		return true
	}
	for _, x := range list {
		if x == t {
			return true
		}
	}
	return false
}

// splitTrue evaluates a split exactly as the CUDA kernel does.
func splitTrue(flags uint8, v, thr float32) bool {
	var c bool
	switch flags & 7 {
	case SplitLEQ:
		c = v <= thr
	case SplitLT:
		c = v < thr
	case SplitGTE:
		c = v >= thr
	case SplitGT:
		c = v > thr
	case SplitEQ:
		c = v == thr
	case SplitNEQ:
		c = v != thr
	}
	if !c && flags&FlagMissingTrue != 0 && v != v {
		c = true
	}
	return c
}

// accumulate is forest_partial_kernel on the host for one (row, tree
// block): it fills one row of partial sums and vote flags.
func (f *Forest) accumulate(x []float32, t0, t1 int, sum []float32, has []uint8) {
	for t := t0; t < t1; t++ {
		i := f.Roots[t]
		for f.Flags[i]&7 != SplitLeaf {
			if splitTrue(f.Flags[i], x[f.Feature[i]], f.Threshold[i]) {
				i = f.TrueChild[i]
			} else {
				i = f.FalseChild[i]
			}
		}
		s, e := f.TrueChild[i], f.TrueChild[i]+f.FalseChild[i]
		for v := s; v < e; v++ {
			tg, w := f.VoteTarget[v], f.VoteValue[v]
			switch {
			case has[tg] == 0:
				sum[tg] = w
			case f.Agg == AggSum || f.Agg == AggAverage:
				sum[tg] += w
			case f.Agg == AggMin:
				sum[tg] = min(sum[tg], w)
			default:
				sum[tg] = max(sum[tg], w)
			}
			has[tg] = 1
		}
	}
}

// finalize is forest_finalize_kernel on the host for one output: it
// combines the tree blocks' partials of (row, target) in block order.
func (f *Forest) finalize(partial []float32, has []uint8, blocks, rows, row, target int) float32 {
	nt := f.NumTargets
	var s float32
	h := false
	for b := 0; b < blocks; b++ {
		o := (b*rows+row)*nt + target
		if has[o] == 0 {
			continue
		}
		w := partial[o]
		switch {
		case !h:
			s = w
		case f.Agg == AggSum || f.Agg == AggAverage:
			s += w
		case f.Agg == AggMin:
			s = min(s, w)
		default:
			s = max(s, w)
		}
		h = true
	}
	if !h {
		return 0
	}
	if f.Agg == AggAverage {
		s /= float32(len(f.Roots))
	}
	return s + f.Base[target]
}

// Predict runs the forest on the host with the GPU kernels' algorithm and
// launch geometry (rows × tree blocks of treesPerBlock trees, partials
// combined in block order): the reference the device results are checked
// against, and a test of the layout without a GPU. x holds rows × cols
// features.
func (f *Forest) Predict(x []float32, rows, cols, treesPerBlock int) ([]float32, error) {
	if f.MaxFeature >= cols {
		return nil, fmt.Errorf("cuda: the trees read feature %d, the input has %d", f.MaxFeature, cols)
	}
	if len(x) != rows*cols {
		return nil, fmt.Errorf("cuda: %d features for %d×%d", len(x), rows, cols)
	}
	treesPerBlock = max(treesPerBlock, 1)
	blocks := (len(f.Roots) + treesPerBlock - 1) / treesPerBlock
	nt := f.NumTargets
	partial := make([]float32, blocks*rows*nt)
	has := make([]uint8, blocks*rows*nt)
	for b := range blocks {
		t0, t1 := b*treesPerBlock, min((b+1)*treesPerBlock, len(f.Roots))
		for r := range rows {
			o := (b*rows + r) * nt
			f.accumulate(x[r*cols:(r+1)*cols], t0, t1, partial[o:o+nt], has[o:o+nt])
		}
	}
	y := make([]float32, rows*nt)
	for r := range rows {
		for t := range nt {
			y[r*nt+t] = f.finalize(partial, has, blocks, rows, r, t)
		}
	}
	return y, nil
}
