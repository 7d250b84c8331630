package ops

import (
	"math"
	"sort"
	"sync"
)

// This file holds the fast traversal of float32 forests whose splits all
// compare the same way (every scikit-learn random forest and gradient
// boosting export, HistGradientBoosting's missing-value tracking included):
// a compact 8-byte node, a
// fixed number of steps per tree instead of a leaf test per step, and
// interleaved walks: vectorised with AVX-512, in scalar assembly on AVX2
// machines, in Go elsewhere (tree_amd64.go picks). The general layout of
// tree_forest.go stays the fallback for other forests and for double
// inputs, and supplies the votes of multi-target forests whose leaves do
// not vote exactly once per target.
//
// Every leaf reads an extra input slot (index treeFast.pad) that holds -Inf,
// so its comparison "x <= t" always holds and its step, jm1+1, is zero: a
// walk that reaches a leaf stays there. A tree can then be walked for its
// depth, whatever path a row takes, without testing for leaves, and
// several walks advance in lockstep. BRANCH_GTE forests store negated
// thresholds and walk negated inputs (x >= t <=> -x <= -t; NaN stays NaN
// and still takes the false branch).
//
// A split that sends NaN to its true branch (nodes_missing_value_tracks_true)
// reads, instead of its feature, a copy of it placed after the padding slot
// in which NaN is replaced by -Inf: "-Inf <= t" holds for every threshold
// but NaN (such splits do not qualify), and other values compare as before.
// Splits of the same feature that do not track missing values still read
// the original slot, where NaN compares false.

// treeCNode is a compact node: split threshold, split feature and the
// offset to the true child minus one (the false child is the next node).
// A leaf reads the padding feature and has jm1 = -1; its threshold holds its
// value in a single-target forest or one whose every leaf votes once for
// the same target (treeFast.voteTarget), else its leaf number (exact in
// float32 below 2^24), which indexes treeFast.dense.
type treeCNode struct {
	thr  float32
	feat uint16
	jm1  int16
}

// treeFastLanes is the number of walks the vector kernels advance together
// (four vectors of eight).
const treeFastLanes = 32

// treeFast is the compact layout of one float32 forest. Node indices are
// those of the general layout, so leaves found here index its leaf values.
type treeFast struct {
	nodes []treeCNode
	neg   bool     // thresholds (and so inputs) are negated
	pad   int      // features read; slot pad of a padded row holds -Inf
	miss  []uint16 // slot pad+1+k holds feature miss[k] with NaN read as -Inf
	roots []int32  // as treeForest.roots
	steps []int32  // per tree: splits on its longest path

	// voteTarget is, in a forest of several targets whose every leaf
	// votes exactly once and for the same target, that target (the
	// leaves then hold their vote); -1 otherwise. Two-class classifiers
	// that vote for one class only are such forests.
	voteTarget int

	// dense holds nTargets votes per leaf number, in target order, when
	// the forest has several targets and every leaf votes once for each.
	dense []float32

	// Single-row walks: trees in groups of 8 (Go) or 32 (assembly) share
	// a step count, the largest of the group. The assembly walks take the
	// trees in order of height (laneTree[k] is lane k's tree), so that
	// trees of similar height share a group.
	groupSteps []int32
	laneTree   []int32 // a permutation of the trees
	laneRoots  []int64 // roots in lane order, padded to a multiple of treeFastLanes with a leaf
	laneSteps  []int32 // per treeFastLanes lanes
	laneSteps8 []int32 // per treeScalarLanes lanes, for the scalar walk

	// laneTop holds, per group of treeFastLanes lanes, the lanes' roots,
	// then their false children, then their true children (a leaf root
	// in all three): the first two steps of the register-table walk load
	// them instead of gathering.
	laneTop []treeCNode

	// qs is the bitvector layout of forests of small trees (tree_qs.go),
	// used for blocks of at least treeQSMinRows rows where qsKern has
	// kernels; nil for forests of larger trees.
	qs     *treeQS
	qsKern treeQSKernels
	qsVals []float32 // per tree, by leaf bit: the leaf's value, where leaves hold their values
	// qsDense holds, where leaves vote once for each target (dense),
	// per tree and target, by leaf bit: the leaf's vote.
	qsDense []float32

	asm     treeWalkers
	scratch sync.Pool // *treeFastScratch
}

// treeFastScratch is the per-call working memory of a traversal.
type treeFastScratch struct {
	row   []float32 // the padded row
	idx   []int64   // walk positions for the vector kernels
	table [32]float32
	qs    *treeQSScratch // blocks of the bitvector layout, nil without one
}

// treeWalkers are the assembly kernels (nil functions where there are
// none). Each walks one padded row through the trees whose positions idx
// holds, a group of lanes at a time, for steps[q] steps in group q (or
// until every walk of the group stands on a leaf), updating idx in place.
type treeWalkers struct {
	// table reads a row of at most 32 slots (padding included) from
	// registers, and the first two levels from top (treeFast.laneTop);
	// groups of treeFastLanes lanes (AVX-512).
	table func(nodes []treeCNode, idx []int64, steps []int32, table *[32]float32, top []treeCNode)
	// gather reads the row from memory; groups of treeFastLanes lanes
	// (AVX-512).
	gather func(nodes []treeCNode, idx []int64, steps []int32, row []float32)
	// scalar reads the row from memory; groups of treeScalarLanes lanes
	// (treeFast.laneSteps8), in general-purpose registers.
	scalar func(nodes []treeCNode, idx []int64, steps []int32, row []float32)
}

// treeScalarLanes is the number of walks the scalar assembly walk
// advances together (one general-purpose register each).
const treeScalarLanes = 8

var treeAsm = asmTreeWalkers(detectCPU())

// treeFastMaxJump is the largest true-child offset a compact node holds.
const treeFastMaxJump = 1 << 15

// newTreeFast builds the compact layout of f, or returns nil when f does not
// qualify: mixed modes, set membership, equality splits, a NaN threshold
// on a split that tracks missing values, a feature index or a subtree too
// large for 16 bits, or shared subtrees.
func newTreeFast(f *treeForest[float32]) *treeFast {
	var neg bool
	switch f.splitMode {
	case treeLEQ:
	case treeGTE:
		neg = true
	default:
		return nil
	}
	pad := f.maxFeature + 1
	if 2*pad+1 >= math.MaxUint16 {
		return nil
	}
	t := &treeFast{nodes: make([]treeCNode, len(f.nodes)), neg: neg, pad: pad, roots: f.roots, asm: treeAsm, voteTarget: -1}
	if f.nTargets > 1 {
		t.voteTarget = treeSingleVoteTarget(f)
	}
	missSlot := map[int32]uint16{} // feature -> its NaN-as--Inf slot
	for i := range f.nodes {
		nd := &f.nodes[i]
		if nd.isLeaf() {
			thr := nd.thr
			if f.nTargets > 1 && t.voteTarget < 0 {
				l := -1 - nd.info
				if l >= 1<<24 {
					return nil
				}
				thr = float32(l)
			}
			if thr != thr {
				return nil // a NaN value would fail the leaf's "-Inf <= t"
			}
			t.nodes[i] = treeCNode{thr: thr, feat: uint16(pad), jm1: -1}
			continue
		}
		if nd.jump < 1 || nd.jump > treeFastMaxJump || int(nd.jump)+i >= len(f.nodes) {
			return nil // a shared subtree placed earlier, or too far
		}
		thr := nd.thr
		if neg {
			thr = -thr
		}
		feat := uint16(nd.feature)
		if nd.info&treeInfoMissingTrue != 0 {
			if thr != thr {
				return nil // "x <= NaN" never holds, but NaN inputs must go true
			}
			slot, ok := missSlot[nd.feature]
			if !ok {
				slot = uint16(pad + 1 + len(t.miss))
				missSlot[nd.feature] = slot
				t.miss = append(t.miss, feat)
			}
			feat = slot
		}
		t.nodes[i] = treeCNode{thr: thr, feat: feat, jm1: int16(nd.jump - 1)}
	}
	// Children follow their parent, so one backward pass gives each
	// node's height.
	height := make([]int32, len(t.nodes))
	for i := len(t.nodes) - 1; i >= 0; i-- {
		if nd := &t.nodes[i]; nd.jm1 >= 0 {
			height[i] = 1 + max(height[i+1], height[i+1+int(nd.jm1)])
		}
	}
	leaf := int32(-1)
	for i := range t.nodes {
		if t.nodes[i].jm1 < 0 {
			leaf = int32(i)
			break
		}
	}
	if leaf < 0 {
		return nil // no leaves: validation prevents this
	}
	if f.nTargets > 1 && t.voteTarget < 0 {
		t.dense = treeDenseVotes(f)
	}
	t.steps = make([]int32, len(t.roots))
	for k, r := range t.roots {
		t.steps[k] = height[r]
	}
	t.groupSteps = treeGroupMax(t.steps, 8)
	t.laneTree = make([]int32, len(t.roots))
	for k := range t.laneTree {
		t.laneTree[k] = int32(k)
	}
	sort.SliceStable(t.laneTree, func(i, j int) bool { return t.steps[t.laneTree[i]] < t.steps[t.laneTree[j]] })
	laneSteps := make([]int32, len(t.roots))
	for k, tr := range t.laneTree {
		laneSteps[k] = t.steps[tr]
	}
	t.laneSteps = treeGroupMax(laneSteps, treeFastLanes)
	t.laneSteps8 = treeGroupMax(laneSteps, treeScalarLanes)
	n := (len(t.roots) + treeFastLanes - 1) / treeFastLanes * treeFastLanes
	t.laneRoots = make([]int64, n)
	for k := range t.laneRoots {
		t.laneRoots[k] = int64(leaf)
		if k < len(t.roots) {
			t.laneRoots[k] = int64(t.roots[t.laneTree[k]])
		}
	}
	t.laneTop = make([]treeCNode, 3*n)
	for k, r := range t.laneRoots {
		g, j := k/treeFastLanes, k%treeFastLanes
		top := t.laneTop[3*treeFastLanes*g:]
		nd := t.nodes[r]
		fc, tc := nd, nd
		if nd.jm1 >= 0 {
			fc, tc = t.nodes[r+1], t.nodes[r+1+int64(nd.jm1)]
		}
		top[j], top[treeFastLanes+j], top[2*treeFastLanes+j] = nd, fc, tc
	}
	t.qs = newTreeQS(t)
	t.qsKern = treeQSAsm
	if t.qs != nil && t.dense == nil && (f.nTargets == 1 || t.voteTarget >= 0) {
		t.qsVals = make([]float32, len(t.qs.leaf))
		for i, l := range t.qs.leaf {
			t.qsVals[i] = t.nodes[l].thr
		}
	}
	if t.qs != nil && t.dense != nil {
		k := f.nTargets
		t.qsDense = make([]float32, len(t.qs.leaf)*k)
		for i, l := range t.qs.leaf {
			if t.nodes[l].jm1 >= 0 {
				continue // a bit no leaf numbers
			}
			tr, b := i/treeQSMaxLeaves, i%treeQSMaxLeaves
			lf := int(t.nodes[l].thr) * k
			for j := range k {
				t.qsDense[(tr*k+j)*treeQSMaxLeaves+b] = t.dense[lf+j]
			}
		}
	}
	return t
}

// treeDenseVotes returns the votes of f as a leaves x targets matrix, or
// nil unless every leaf votes exactly once for every target (random forest
// classifiers do).
func treeDenseVotes(f *treeForest[float32]) []float32 {
	nt := f.nTargets
	nl := len(f.leafStart) - 1
	dense := make([]float32, nl*nt)
	seen := make([]bool, nt)
	for l := 0; l < nl; l++ {
		s, e := f.leafStart[l], f.leafStart[l+1]
		if int(e-s) != nt {
			return nil
		}
		clear(seen)
		for k := s; k < e; k++ {
			tg := f.leafTarget[k]
			if seen[tg] {
				return nil
			}
			seen[tg] = true
			dense[l*nt+int(tg)] = f.leafWeight[k]
		}
	}
	return dense
}

// treeSingleVoteTarget returns the target every leaf of f votes for, once,
// or -1 unless there is such a target.
func treeSingleVoteTarget(f *treeForest[float32]) int {
	nl := len(f.leafStart) - 1
	if nl == 0 || len(f.leafTarget) != nl {
		return -1
	}
	tg := f.leafTarget[0]
	for l := 0; l < nl; l++ {
		if f.leafStart[l] != int32(l) || f.leafTarget[l] != tg {
			return -1
		}
	}
	return int(tg)
}

// treeGroupMax returns the largest value of each run of g values of s.
func treeGroupMax(s []int32, g int) []int32 {
	var out []int32
	for i := 0; i < len(s); i += g {
		m := int32(0)
		for _, v := range s[i:min(i+g, len(s))] {
			m = max(m, v)
		}
		out = append(out, m)
	}
	return out
}

func (t *treeFast) getScratch() *treeFastScratch {
	if s, ok := t.scratch.Get().(*treeFastScratch); ok {
		return s
	}
	s := &treeFastScratch{row: make([]float32, t.width()), idx: make([]int64, len(t.laneRoots))}
	if t.qs != nil {
		k := 0
		if t.qsDense != nil {
			k = len(t.qsDense) / len(t.qs.leaf)
		}
		s.qs = t.qs.newScratch(t.width(), len(t.roots), k)
	}
	return s
}

// width returns the number of slots of a padded row.
func (t *treeFast) width() int { return t.pad + 1 + len(t.miss) }

// padRow copies the features of x that the trees read into dst (width()
// slots), negated if the thresholds are, followed by -Inf and by the
// copies of the features whose NaN splits send true, NaN read as -Inf.
func (t *treeFast) padRow(dst, x []float32) {
	src := x[:t.pad]
	if t.neg {
		for j, v := range src {
			dst[j] = -v
		}
	} else {
		copy(dst, src)
	}
	ninf := float32(math.Inf(-1))
	dst[t.pad] = ninf
	m := dst[t.pad+1 : t.pad+1+len(t.miss)]
	for k, j := range t.miss {
		v := dst[j]
		if v != v {
			v = ninf
		}
		m[k] = v
	}
}

// collect is treeForest.collectLeaves for the compact layout. Forests of
// small trees take blocks of rows through the bitvector kernels
// (tree_qs.go) where there are some; other rows are walked one at a time,
// each through all the trees at once: over the scikit-learn fixtures this
// measured faster than walking blocks of rows tree by tree (scalar or
// vectorised, with gathers), at every batch size.
func (t *treeFast) collect(x []float32, c, lo, hi int, leaves []int32) {
	s := t.getScratch()
	defer t.scratch.Put(s)
	nt := len(t.roots)
	row := s.row[:t.width()]
	if t.qs != nil && t.qsKern.scan != nil {
		for ; hi-lo >= treeQSMinRows; lo += treeQSRows {
			n := min(treeQSRows, hi-lo)
			t.collectQS(s.qs, row, x, c, lo, n, leaves[:n*nt])
			leaves = leaves[n*nt:]
		}
	}
	for i := lo; i < hi; i++ {
		t.padRow(row, x[i*c:i*c+c])
		t.walkRow(s, row, leaves[(i-lo)*nt:(i-lo+1)*nt])
	}
}

// walkRow walks one padded row through every tree.
func (t *treeFast) walkRow(s *treeFastScratch, row []float32, out []int32) {
	switch {
	case t.asm.table != nil && len(row) <= 32:
		copy(s.table[:], row)
		idx := s.idx[:len(t.laneRoots)]
		copy(idx, t.laneRoots)
		t.asm.table(t.nodes, idx, t.laneSteps, &s.table, t.laneTop)
		for k, tr := range t.laneTree {
			out[tr] = int32(idx[k])
		}
	case t.asm.gather != nil:
		idx := s.idx[:len(t.laneRoots)]
		copy(idx, t.laneRoots)
		t.asm.gather(t.nodes, idx, t.laneSteps, row)
		for k, tr := range t.laneTree {
			out[tr] = int32(idx[k])
		}
	case t.asm.scalar != nil:
		// laneSteps8 has a group per treeScalarLanes trees (the last
		// one padded with leaf roots from laneRoots); padding lanes past
		// it are not walked.
		n := len(t.laneSteps8) * treeScalarLanes
		idx := s.idx[:n]
		copy(idx, t.laneRoots)
		t.asm.scalar(t.nodes, idx, t.laneSteps8, row)
		for k, tr := range t.laneTree {
			out[tr] = int32(idx[k])
		}
	default:
		t.walkRowGo(row, out)
	}
}

// treeStep advances one walk by one step over row x.
func treeStep(nodes []treeCNode, i int32, x []float32) int32 {
	nd := &nodes[i]
	return i + 1 + int32(nd.jm1)&-treeB2I32(x[nd.feat] <= nd.thr)
}

// walkRowGo walks one padded row through every tree, eight trees in
// lockstep: their independent loads overlap.
func (t *treeFast) walkRowGo(x []float32, out []int32) {
	nodes := t.nodes
	roots := t.roots
	nt := len(roots)
	k := 0
	for g := 0; k+8 <= nt; g, k = g+1, k+8 {
		r := roots[k : k+8]
		i0, i1, i2, i3, i4, i5, i6, i7 := r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]
		for d := t.groupSteps[g]; d > 0; d-- {
			i0 = treeStep(nodes, i0, x)
			i1 = treeStep(nodes, i1, x)
			i2 = treeStep(nodes, i2, x)
			i3 = treeStep(nodes, i3, x)
			i4 = treeStep(nodes, i4, x)
			i5 = treeStep(nodes, i5, x)
			i6 = treeStep(nodes, i6, x)
			i7 = treeStep(nodes, i7, x)
		}
		o := out[k : k+8]
		o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7] = i0, i1, i2, i3, i4, i5, i6, i7
	}
	for ; k < nt; k++ {
		i := roots[k]
		for d := t.steps[k]; d > 0; d-- {
			i = treeStep(nodes, i, x)
		}
		out[k] = i
	}
}
