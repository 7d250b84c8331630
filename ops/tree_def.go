package ops

import (
	"fmt"
	"math"
)

// This file turns the attributes of the ai.onnx.ml tree ensemble operators
// (TreeEnsembleRegressor and TreeEnsembleClassifier of opsets 1-3, and
// TreeEnsemble of opset 5) into one validated, format-neutral description,
// treeDef. tree_forest.go compiles a treeDef into the flat layout the
// kernels traverse.

// Node comparison modes. The values of the branch modes are those of the
// opset-5 nodes_modes encoding.
const (
	treeLEQ uint8 = iota
	treeLT
	treeGTE
	treeGT
	treeEQ
	treeNEQ
	treeMember
	treeLeaf
	treeMixed // forest-level marker: the splits do not share one mode
)

var treeModeNames = map[string]uint8{
	"BRANCH_LEQ": treeLEQ, "BRANCH_LT": treeLT, "BRANCH_GTE": treeGTE, "BRANCH_GT": treeGT,
	"BRANCH_EQ": treeEQ, "BRANCH_NEQ": treeNEQ, "LEAF": treeLeaf,
}

// treeAggFunc is how the leaf values of the trees are combined per target.
type treeAggFunc uint8

const (
	treeAggAverage treeAggFunc = iota
	treeAggSum
	treeAggMin
	treeAggMax
)

var treeAggFuncNames = map[string]treeAggFunc{"AVERAGE": treeAggAverage, "SUM": treeAggSum, "MIN": treeAggMin, "MAX": treeAggMax}

// treeVote is one vote of a leaf: a value for one target (or class).
type treeVote struct {
	target int
	value  float64
}

// treeDefNode is one node of a treeDef. Children are indices into treeDef.nodes.
type treeDefNode struct {
	mode        uint8
	feature     int
	value       float64   // split threshold; for a leaf, the fallback value of a leaf without votes
	set         []float64 // members, for treeMember
	missingTrue bool      // NaN inputs take the true branch
	trueChild   int
	falseChild  int
	weights     []treeVote // leaf votes, in attribute order
}

// treeDef is a validated tree ensemble: a graph of nodes (trees may share
// nodes, but the graph is acyclic), the root of each tree and the
// aggregation parameters.
type treeDef struct {
	nodes    []treeDefNode
	roots    []int
	nTargets int
	agg      treeAggFunc
	post     mlPostTransform
	base     []float64
}

// treeCheckLen reports an error unless the attribute list has length n.
func treeCheckLen(name string, got, n int) error {
	if got != n {
		return fmt.Errorf("attribute %s has %d elements, expected %d (one per node)", name, got, n)
	}
	return nil
}

// parseTreeDefV3 reads the attributes shared by TreeEnsembleRegressor and
// TreeEnsembleClassifier (opsets 1 and 3). prefix is "target" or "class";
// nTargets the number of targets or classes.
func parseTreeDefV3(a *Attrs, prefix string, nTargets int) (*treeDef, error) {
	if nTargets <= 0 {
		return nil, fmt.Errorf("the number of targets or classes must be positive, got %d", nTargets)
	}
	def := &treeDef{nTargets: nTargets}

	aggName := a.String("aggregate_function", "SUM")
	agg, ok := treeAggFuncNames[aggName]
	if !ok {
		return nil, fmt.Errorf("aggregate_function %q is not one of AVERAGE, SUM, MIN, MAX", aggName)
	}
	def.agg = agg
	post, err := mlParsePostTransform(a)
	if err != nil {
		return nil, err
	}
	def.post = post
	base, _, err := mlAttrFloats64(a, "base_values")
	if err != nil {
		return nil, err
	}
	def.base = base

	treeIDs, _ := a.Ints("nodes_treeids")
	nodeIDs, _ := a.Ints("nodes_nodeids")
	featIDs, _ := a.Ints("nodes_featureids")
	modes, _ := a.Strings("nodes_modes")
	trueIDs, _ := a.Ints("nodes_truenodeids")
	falseIDs, _ := a.Ints("nodes_falsenodeids")
	missing, _ := a.Ints("nodes_missing_value_tracks_true")
	values, _, err := mlAttrFloats64(a, "nodes_values")
	if err != nil {
		return nil, err
	}
	n := len(treeIDs)
	if n == 0 {
		return nil, fmt.Errorf("attribute nodes_treeids is empty: the ensemble has no nodes")
	}
	for _, c := range []struct {
		name string
		got  int
	}{
		{"nodes_nodeids", len(nodeIDs)}, {"nodes_featureids", len(featIDs)}, {"nodes_modes", len(modes)},
		{"nodes_truenodeids", len(trueIDs)}, {"nodes_falsenodeids", len(falseIDs)},
		{"nodes_values", len(values)},
	} {
		if err := treeCheckLen(c.name, c.got, n); err != nil {
			return nil, err
		}
	}
	if len(missing) != 0 {
		if err := treeCheckLen("nodes_missing_value_tracks_true", len(missing), n); err != nil {
			return nil, err
		}
	}

	type key struct{ tree, node int64 }
	index := make(map[key]int, n)
	var treeOrder []int64
	seenTree := map[int64]bool{}
	def.nodes = make([]treeDefNode, n)
	for i := 0; i < n; i++ {
		k := key{treeIDs[i], nodeIDs[i]}
		if _, dup := index[k]; dup {
			return nil, fmt.Errorf("node %d of tree %d is defined twice", k.node, k.tree)
		}
		index[k] = i
		if !seenTree[treeIDs[i]] {
			seenTree[treeIDs[i]] = true
			treeOrder = append(treeOrder, treeIDs[i])
		}
		m, ok := treeModeNames[modes[i]]
		if !ok {
			return nil, fmt.Errorf("node %d of tree %d: unknown mode %q", k.node, k.tree, modes[i])
		}
		nd := &def.nodes[i]
		nd.mode = m
		nd.value = values[i]
		nd.missingTrue = len(missing) > 0 && missing[i] != 0
		if m != treeLeaf {
			if featIDs[i] < 0 || featIDs[i] > math.MaxInt32 {
				return nil, fmt.Errorf("node %d of tree %d: feature index %d out of range", k.node, k.tree, featIDs[i])
			}
			nd.feature = int(featIDs[i])
		}
	}
	for i := 0; i < n; i++ {
		nd := &def.nodes[i]
		if nd.mode == treeLeaf {
			continue
		}
		for side, id := range []int64{trueIDs[i], falseIDs[i]} {
			j, ok := index[key{treeIDs[i], id}]
			which := [2]string{"true", "false"}[side]
			if !ok {
				return nil, fmt.Errorf("node %d of tree %d: %s child %d does not exist", nodeIDs[i], treeIDs[i], which, id)
			}
			if j == i {
				return nil, fmt.Errorf("node %d of tree %d: %s child points to the node itself", nodeIDs[i], treeIDs[i], which)
			}
			if side == 0 {
				nd.trueChild = j
			} else {
				nd.falseChild = j
			}
		}
	}

	// Leaf votes.
	wTrees, _ := a.Ints(prefix + "_treeids")
	wNodes, _ := a.Ints(prefix + "_nodeids")
	wIDs, _ := a.Ints(prefix + "_ids")
	wVals, _, err := mlAttrFloats64(a, prefix+"_weights")
	if err != nil {
		return nil, err
	}
	nw := len(wIDs)
	if len(wTrees) != nw || len(wNodes) != nw || len(wVals) != nw {
		return nil, fmt.Errorf("attributes %[1]s_ids, %[1]s_treeids, %[1]s_nodeids and %[1]s_weights have different lengths (%d, %d, %d, %d)",
			prefix, nw, len(wTrees), len(wNodes), len(wVals))
	}
	for i := 0; i < nw; i++ {
		j, ok := index[key{wTrees[i], wNodes[i]}]
		if !ok {
			return nil, fmt.Errorf("%s weight %d refers to node %d of tree %d, which does not exist", prefix, i, wNodes[i], wTrees[i])
		}
		if wIDs[i] < 0 || wIDs[i] >= int64(nTargets) {
			return nil, fmt.Errorf("%s weight %d: %s id %d out of range [0, %d)", prefix, i, prefix, wIDs[i], nTargets)
		}
		if def.nodes[j].mode != treeLeaf {
			// Old onnxmltools exports put weights on inner nodes;
			// onnxruntime ignores them, and so do we.
			continue
		}
		def.nodes[j].weights = append(def.nodes[j].weights, treeVote{int(wIDs[i]), wVals[i]})
	}

	// Roots: per tree (in order of first appearance), the first listed node
	// that no other node points to.
	hasParent := make([]bool, n)
	for i := range def.nodes {
		if nd := &def.nodes[i]; nd.mode != treeLeaf {
			hasParent[nd.trueChild] = true
			hasParent[nd.falseChild] = true
		}
	}
	rootOf := map[int64]int{}
	for i := 0; i < n; i++ {
		if _, done := rootOf[treeIDs[i]]; !done && !hasParent[i] {
			rootOf[treeIDs[i]] = i
		}
	}
	for _, t := range treeOrder {
		r, ok := rootOf[t]
		if !ok {
			return nil, fmt.Errorf("tree %d has no root: its nodes form a cycle", t)
		}
		def.roots = append(def.roots, r)
	}
	return def, def.checkAcyclic()
}

// parseTreeDefV5 reads the attributes of TreeEnsemble (ai.onnx.ml opset 5).
func parseTreeDefV5(a *Attrs) (*treeDef, error) {
	def := &treeDef{}
	nt := a.Int("n_targets", 0)
	if nt <= 0 || nt > math.MaxInt32 {
		return nil, fmt.Errorf("attribute n_targets must be positive, got %d", nt)
	}
	def.nTargets = int(nt)
	switch ag := a.Int("aggregate_function", 1); ag {
	case 0, 1, 2, 3:
		def.agg = [...]treeAggFunc{treeAggAverage, treeAggSum, treeAggMin, treeAggMax}[ag]
	default:
		return nil, fmt.Errorf("aggregate_function %d is not one of 0 (AVERAGE), 1 (SUM), 2 (MIN), 3 (MAX)", ag)
	}
	switch p := a.Int("post_transform", 0); p {
	case 0, 1, 2, 3, 4:
		def.post = [...]mlPostTransform{mlPostNone, mlPostSoftmax, mlPostLogistic, mlPostSoftmaxZero, mlPostProbit}[p]
	default:
		return nil, fmt.Errorf("post_transform %d is not one of 0 (NONE), 1 (SOFTMAX), 2 (LOGISTIC), 3 (SOFTMAX_ZERO), 4 (PROBIT)", p)
	}

	featIDs, _ := a.Ints("nodes_featureids")
	trueIDs, _ := a.Ints("nodes_truenodeids")
	falseIDs, _ := a.Ints("nodes_falsenodeids")
	trueLeafs, _ := a.Ints("nodes_trueleafs")
	falseLeafs, _ := a.Ints("nodes_falseleafs")
	missing, _ := a.Ints("nodes_missing_value_tracks_true")
	roots, _ := a.Ints("tree_roots")
	leafTargets, _ := a.Ints("leaf_targetids")
	splits, _, err := mlTensorAttrFloats64(a, "nodes_splits")
	if err != nil {
		return nil, err
	}
	leafWeights, _, err := mlTensorAttrFloats64(a, "leaf_weights")
	if err != nil {
		return nil, err
	}
	members, hasMembers, err := mlTensorAttrFloats64(a, "membership_values")
	if err != nil {
		return nil, err
	}
	var modes []int64
	if t := a.Tensor("nodes_modes"); t != nil {
		if modes, err = t.AsInt64s(); err != nil {
			return nil, fmt.Errorf("attribute nodes_modes: %v", err)
		}
	}

	n := len(featIDs)
	for _, c := range []struct {
		name string
		got  int
	}{
		{"nodes_truenodeids", len(trueIDs)}, {"nodes_falsenodeids", len(falseIDs)},
		{"nodes_trueleafs", len(trueLeafs)}, {"nodes_falseleafs", len(falseLeafs)},
		{"nodes_modes", len(modes)}, {"nodes_splits", len(splits)},
	} {
		if err := treeCheckLen(c.name, c.got, n); err != nil {
			return nil, err
		}
	}
	if len(missing) != 0 {
		if err := treeCheckLen("nodes_missing_value_tracks_true", len(missing), n); err != nil {
			return nil, err
		}
	}
	m := len(leafTargets)
	if len(leafWeights) != m {
		return nil, fmt.Errorf("attributes leaf_targetids and leaf_weights have different lengths (%d, %d)", m, len(leafWeights))
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("attribute tree_roots is empty: the ensemble has no trees")
	}

	// Interior node i is def node i, leaf j is def node n+j.
	def.nodes = make([]treeDefNode, n+m)
	next := 0 // position in membership_values
	for i := 0; i < n; i++ {
		nd := &def.nodes[i]
		if modes[i] < 0 || modes[i] > int64(treeMember) {
			return nil, fmt.Errorf("node %d: unknown mode %d", i, modes[i])
		}
		nd.mode = uint8(modes[i])
		nd.value = splits[i]
		nd.missingTrue = len(missing) > 0 && missing[i] != 0
		if featIDs[i] < 0 || featIDs[i] > math.MaxInt32 {
			return nil, fmt.Errorf("node %d: feature index %d out of range", i, featIDs[i])
		}
		nd.feature = int(featIDs[i])
		if nd.mode == treeMember {
			if !hasMembers {
				return nil, fmt.Errorf("node %d is a BRANCH_MEMBER node but attribute membership_values is missing", i)
			}
			if next >= len(members) {
				return nil, fmt.Errorf("attribute membership_values has no set for BRANCH_MEMBER node %d", i)
			}
			for next < len(members) && !math.IsNaN(members[next]) {
				nd.set = append(nd.set, members[next])
				next++
			}
			next++ // the NaN delimiter
		}
		child := func(id, isLeaf int64, which string) (int, error) {
			if isLeaf != 0 {
				if id < 0 || id >= int64(m) {
					return 0, fmt.Errorf("node %d: %s leaf %d out of range [0, %d)", i, which, id, m)
				}
				return n + int(id), nil
			}
			if id < 0 || id >= int64(n) {
				return 0, fmt.Errorf("node %d: %s node %d out of range [0, %d)", i, which, id, n)
			}
			if id == int64(i) {
				return 0, fmt.Errorf("node %d: %s child points to the node itself", i, which)
			}
			return int(id), nil
		}
		if nd.trueChild, err = child(trueIDs[i], trueLeafs[i], "true"); err != nil {
			return nil, err
		}
		if nd.falseChild, err = child(falseIDs[i], falseLeafs[i], "false"); err != nil {
			return nil, err
		}
	}
	for j := 0; j < m; j++ {
		if leafTargets[j] < 0 || leafTargets[j] >= nt {
			return nil, fmt.Errorf("leaf %d: target id %d out of range [0, %d)", j, leafTargets[j], nt)
		}
		def.nodes[n+j] = treeDefNode{mode: treeLeaf, weights: []treeVote{{int(leafTargets[j]), leafWeights[j]}}}
	}
	for k, r := range roots {
		if r < 0 || r >= int64(n) {
			// A tree that is a single leaf is encoded with the leaf's index.
			if r >= 0 && r < int64(m) {
				def.roots = append(def.roots, n+int(r))
				continue
			}
			return nil, fmt.Errorf("tree_roots[%d] = %d out of range [0, %d)", k, r, n)
		}
		// Degenerate tree (a single leaf): both branches lead to the same leaf.
		if trueLeafs[r] != 0 && falseLeafs[r] != 0 && trueIDs[r] == falseIDs[r] {
			if r >= int64(m) {
				return nil, fmt.Errorf("tree_roots[%d] = %d marks a single-leaf tree but there are only %d leaves", k, r, m)
			}
			def.roots = append(def.roots, n+int(r))
			continue
		}
		def.roots = append(def.roots, int(r))
	}
	return def, def.checkAcyclic()
}

// checkAcyclic reports an error if a path from some root returns to a node
// on it.
func (d *treeDef) checkAcyclic() error {
	const (
		unseen = iota
		active
		done
	)
	state := make([]uint8, len(d.nodes))
	type frame struct{ node, next int }
	var stack []frame
	for _, r := range d.roots {
		if state[r] != unseen {
			continue
		}
		state[r] = active
		stack = append(stack[:0], frame{r, 0})
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			nd := &d.nodes[top.node]
			if nd.mode == treeLeaf || top.next == 2 {
				state[top.node] = done
				stack = stack[:len(stack)-1]
				continue
			}
			c := nd.falseChild
			if top.next == 1 {
				c = nd.trueChild
			}
			top.next++
			switch state[c] {
			case active:
				return fmt.Errorf("the tree structure has a cycle through node %d", c)
			case unseen:
				state[c] = active
				stack = append(stack, frame{c, 0})
			}
		}
	}
	return nil
}
