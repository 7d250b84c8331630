package ops

import (
	"fmt"
	"math"
	"sort"
	"sync"
)

// treeFloat is the threshold (and accumulation) type of a compiled forest:
// float32 for float and integer inputs, float64 for double inputs, as in
// onnxruntime.
type treeFloat interface{ ~float32 | ~float64 }

// treeNode is one node of a compiled forest. The nodes of a tree are laid
// out in pre-order with the false branch first, so a split's false child is
// always the next node and only the true child's offset is stored. A leaf
// reads feature 0 and has a zero offset, so that stepping from a leaf stays
// on it: several traversals can then advance in lockstep without branches.
type treeNode[T treeFloat] struct {
	thr     T     // split threshold; for a leaf, its first (single-target) value
	feature int32 // split feature; 0 for a leaf
	jump    int32 // offset from this node to its true child; 0 for a leaf
	info    int32 // split: mode | missingTrue<<4 | set index<<8; leaf: -1-(leaf index)
}

const (
	treeInfoMissingTrue = 1 << 4
	treeInfoSetShift    = 8
)

// isLeaf reports whether nd is a leaf.
func (nd *treeNode[T]) isLeaf() bool { return nd.info < 0 }

// step returns the offset to the next node: the true child's if cond holds,
// else 1 (the false child); 0 for a leaf. It compiles without branches.
func (nd *treeNode[T]) step(cond bool) int32 {
	jf := int32(uint32(^nd.info) >> 31) // 1 for a split, 0 for a leaf
	return jf + (nd.jump-jf)&-treeB2I32(cond)
}

func treeB2I32(b bool) int32 {
	var i int32
	if b {
		i = 1
	}
	return i
}

// treeForest is a compiled ensemble over thresholds of type T.
type treeForest[T treeFloat] struct {
	nodes      []treeNode[T]
	roots      []int32
	leafStart  []int32 // leaf L's votes are leafTarget/leafWeight[leafStart[L]:leafStart[L+1]]
	leafTarget []int32
	leafWeight []T
	sets       [][]T // sorted members of BRANCH_MEMBER nodes
	mode       uint8 // the mode every split uses (LT and GT folded into LEQ and GTE), or treeMixed
	splitMode  uint8 // mode, but ignoring missing-value tracking (the compact layout handles it)
	nTargets   int
	maxFeature int // largest feature index read, -1 if none
	depthSum   int // sum over trees of the maximum depth (work estimate)

	// fast is the compact layout (float32 forests that qualify, see
	// tree_compact.go), and collectFast its collectLeaves.
	fast        *treeFast
	collectFast func(x []T, c, lo, hi int, leaves []int32)
	leafBufs    sync.Pool // *[]int32 of blockRows()*len(roots)

	// aggregation
	agg     treeAggFunc
	post    mlPostTransform
	base    []T
	origin  T // base[0] when there is exactly one base value
	useBase bool
	nTrees  T
}

// treeMaxCompiledNodes bounds the expansion of shared false-branch subtrees.
const treeMaxCompiledNodes = 1 << 28

// treeNextDown returns the largest T below v (v itself for NaN; NaN for -Inf,
// so that "x < -Inf", which never holds, becomes "x <= NaN").
func treeNextDown[T treeFloat](v T) T {
	if math.IsInf(float64(v), -1) {
		return T(math.NaN())
	}
	if _, ok := any(v).(float32); ok {
		return T(math.Nextafter32(float32(v), float32(math.Inf(-1))))
	}
	return T(math.Nextafter(float64(v), math.Inf(-1)))
}

// treeNextUp returns the smallest T above v (NaN for +Inf).
func treeNextUp[T treeFloat](v T) T {
	if math.IsInf(float64(v), 1) {
		return T(math.NaN())
	}
	if _, ok := any(v).(float32); ok {
		return T(math.Nextafter32(float32(v), float32(math.Inf(1))))
	}
	return T(math.Nextafter(float64(v), math.Inf(1)))
}

// compileForest lays out def for thresholds of type T.
func compileForest[T treeFloat](def *treeDef) (*treeForest[T], error) {
	f := &treeForest[T]{
		nTargets:   def.nTargets,
		maxFeature: -1,
		agg:        def.agg,
		post:       def.post,
		nTrees:     T(len(def.roots)),
	}
	for _, b := range def.base {
		f.base = append(f.base, T(b))
	}
	if len(f.base) == 1 {
		f.origin = f.base[0]
	}
	f.useBase = len(f.base) == def.nTargets

	limit := 4*len(def.nodes) + 1<<20
	if limit > treeMaxCompiledNodes {
		limit = treeMaxCompiledNodes
	}
	pos := make([]int32, len(def.nodes)) // compiled position + 1, 0 if not placed
	setIndex := map[int]int32{}
	first := true
	missing := false // some split sends NaN to its true branch
	var place func(d int, reuse bool, depth int) (int32, int, error)
	place = func(d int, reuse bool, depth int) (int32, int, error) {
		if reuse && pos[d] != 0 {
			return pos[d] - 1, 0, nil
		}
		if len(f.nodes) >= limit {
			return 0, 0, fmt.Errorf("the trees expand to more than %d nodes (too many shared subtrees)", limit)
		}
		nd := &def.nodes[d]
		p := int32(len(f.nodes))
		if nd.mode == treeLeaf {
			leaf := treeNode[T]{info: -1 - int32(len(f.leafStart)), thr: T(nd.value)}
			if len(nd.weights) > 0 {
				leaf.thr = T(nd.weights[0].value)
			}
			f.leafStart = append(f.leafStart, int32(len(f.leafWeight)))
			for _, w := range nd.weights {
				f.leafTarget = append(f.leafTarget, int32(w.target))
				f.leafWeight = append(f.leafWeight, T(w.value))
			}
			f.nodes = append(f.nodes, leaf)
			if pos[d] == 0 {
				pos[d] = p + 1
			}
			return p, depth, nil
		}
		mode, thr := nd.mode, T(nd.value)
		switch mode {
		case treeLT: // x < t  <=>  x <= the float below t
			mode, thr = treeLEQ, treeNextDown(thr)
		case treeGT:
			mode, thr = treeGTE, treeNextUp(thr)
		}
		info := int32(mode)
		if nd.missingTrue {
			info |= treeInfoMissingTrue
		}
		if mode == treeMember {
			si, ok := setIndex[d]
			if !ok {
				si = int32(len(f.sets))
				setIndex[d] = si
				set := make([]T, len(nd.set))
				for i, v := range nd.set {
					set[i] = T(v)
				}
				sort.Slice(set, func(i, j int) bool { return set[i] < set[j] })
				f.sets = append(f.sets, set)
			}
			info |= si << treeInfoSetShift
		}
		switch {
		case mode == treeMember:
			f.splitMode = treeMixed
		case first:
			f.splitMode = mode
		case f.splitMode != mode:
			f.splitMode = treeMixed
		}
		if nd.missingTrue {
			missing = true
		}
		first = false
		if nd.feature > f.maxFeature {
			f.maxFeature = nd.feature
		}
		f.nodes = append(f.nodes, treeNode[T]{thr: thr, feature: int32(nd.feature), info: info})
		if pos[d] == 0 {
			pos[d] = p + 1
		}
		// The false child must be the next node: place (or copy) it now.
		_, df, err := place(nd.falseChild, false, depth+1)
		if err != nil {
			return 0, 0, err
		}
		t, dt, err := place(nd.trueChild, true, depth+1)
		if err != nil {
			return 0, 0, err
		}
		f.nodes[p].jump = t - p
		return p, max(df, dt), nil
	}
	for _, r := range def.roots {
		// Each tree gets its own copy of its root so that trees sharing
		// nodes (possible in opset 5) are still laid out in pre-order.
		p, depth, err := place(r, false, 1)
		if err != nil {
			return nil, err
		}
		f.roots = append(f.roots, p)
		f.depthSum += depth
	}
	f.leafStart = append(f.leafStart, int32(len(f.leafWeight)))
	if first {
		f.splitMode = treeLEQ // no splits at all: any specialised loop will do
	}
	f.mode = f.splitMode
	if missing {
		f.mode = treeMixed
	}
	if f32, ok := any(f).(*treeForest[float32]); ok {
		if t := newTreeFast(f32); t != nil {
			f.fast = t
			f.collectFast = any(t.collect).(func([]T, int, int, int, []int32))
		}
	}
	return f, nil
}

// leafVotes returns the targets and weights of the leaf node nd.
func (f *treeForest[T]) leafVotes(nd *treeNode[T]) ([]int32, []T) {
	l := -1 - nd.info
	s, e := f.leafStart[l], f.leafStart[l+1]
	return f.leafTarget[s:e], f.leafWeight[s:e]
}

// leafOf returns the index of the leaf that row x reaches from root i.
func (f *treeForest[T]) leafOf(i int32, x []T) int32 {
	nodes := f.nodes
	switch f.mode {
	case treeLEQ:
		for {
			nd := &nodes[i]
			if nd.isLeaf() {
				return i
			}
			i += 1 + (nd.jump-1)&-treeB2I32(x[nd.feature] <= nd.thr)
		}
	case treeGTE:
		for {
			nd := &nodes[i]
			if nd.isLeaf() {
				return i
			}
			i += 1 + (nd.jump-1)&-treeB2I32(x[nd.feature] >= nd.thr)
		}
	case treeEQ:
		for {
			nd := &nodes[i]
			if nd.isLeaf() {
				return i
			}
			i += 1 + (nd.jump-1)&-treeB2I32(x[nd.feature] == nd.thr)
		}
	case treeNEQ:
		for {
			nd := &nodes[i]
			if nd.isLeaf() {
				return i
			}
			i += 1 + (nd.jump-1)&-treeB2I32(x[nd.feature] != nd.thr)
		}
	}
	return f.leafOfMixed(i, x)
}

// treeLeaves4LEQ runs four BRANCH_LEQ traversals in lockstep (from roots r0-r3
// over rows x0-x3) and returns the four leaves. Interleaving independent
// traversals hides the latency of each step's dependent loads. Every row
// must have at least one feature (leaves read feature 0).
func treeLeaves4LEQ[T treeFloat](nodes []treeNode[T], r0, r1, r2, r3 int32, x0, x1, x2, x3 []T) (int32, int32, int32, int32) {
	n0, n1, n2, n3 := &nodes[r0], &nodes[r1], &nodes[r2], &nodes[r3]
	for n0.info&n1.info&n2.info&n3.info >= 0 {
		r0 += n0.step(x0[n0.feature] <= n0.thr)
		r1 += n1.step(x1[n1.feature] <= n1.thr)
		r2 += n2.step(x2[n2.feature] <= n2.thr)
		r3 += n3.step(x3[n3.feature] <= n3.thr)
		n0, n1, n2, n3 = &nodes[r0], &nodes[r1], &nodes[r2], &nodes[r3]
	}
	return r0, r1, r2, r3
}

// treeLeaves8LEQ runs eight BRANCH_LEQ traversals of one row in lockstep:
// with a single row, more independent trees in flight hide more of the
// memory latency of each level.
func treeLeaves8LEQ[T treeFloat](nodes []treeNode[T], roots []int32, x []T, out []int32) {
	r0, r1, r2, r3, r4, r5, r6, r7 := roots[0], roots[1], roots[2], roots[3], roots[4], roots[5], roots[6], roots[7]
	n0, n1, n2, n3 := &nodes[r0], &nodes[r1], &nodes[r2], &nodes[r3]
	n4, n5, n6, n7 := &nodes[r4], &nodes[r5], &nodes[r6], &nodes[r7]
	for n0.info&n1.info&n2.info&n3.info&n4.info&n5.info&n6.info&n7.info >= 0 {
		r0 += n0.step(x[n0.feature] <= n0.thr)
		r1 += n1.step(x[n1.feature] <= n1.thr)
		r2 += n2.step(x[n2.feature] <= n2.thr)
		r3 += n3.step(x[n3.feature] <= n3.thr)
		r4 += n4.step(x[n4.feature] <= n4.thr)
		r5 += n5.step(x[n5.feature] <= n5.thr)
		r6 += n6.step(x[n6.feature] <= n6.thr)
		r7 += n7.step(x[n7.feature] <= n7.thr)
		n0, n1, n2, n3 = &nodes[r0], &nodes[r1], &nodes[r2], &nodes[r3]
		n4, n5, n6, n7 = &nodes[r4], &nodes[r5], &nodes[r6], &nodes[r7]
	}
	out[0], out[1], out[2], out[3], out[4], out[5], out[6], out[7] = r0, r1, r2, r3, r4, r5, r6, r7
}

// leafOfMixed is the general traversal: per-node modes, NaN tracking and
// set membership.
func (f *treeForest[T]) leafOfMixed(i int32, x []T) int32 {
	nodes := f.nodes
	for {
		nd := &nodes[i]
		if nd.isLeaf() {
			return i
		}
		v := x[nd.feature]
		var c bool
		switch uint8(nd.info & 15) {
		case treeLEQ:
			c = v <= nd.thr
		case treeGTE:
			c = v >= nd.thr
		case treeEQ:
			c = v == nd.thr
		case treeNEQ:
			c = v != nd.thr
		case treeMember:
			c = treeSetContains(f.sets[nd.info>>treeInfoSetShift], v)
		}
		if !c && nd.info&treeInfoMissingTrue != 0 && v != v {
			c = true
		}
		if c {
			i += nd.jump
		} else {
			i++
		}
	}
}

func treeSetContains[T treeFloat](set []T, v T) bool {
	if len(set) <= 16 {
		for _, s := range set {
			if s == v {
				return true
			}
		}
		return false
	}
	lo, hi := 0, len(set)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if set[m] < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < len(set) && set[lo] == v
}

// collectLeaves stores in leaves[(i-lo)*len(roots)+t] the node index of
// the leaf that tree t reaches for row i, for rows [lo, hi) of x (row
// stride c).
func (f *treeForest[T]) collectLeaves(x []T, c, lo, hi int, leaves []int32) {
	if f.collectFast != nil {
		f.collectFast(x, c, lo, hi, leaves)
		return
	}
	nodes := f.nodes
	roots := f.roots
	nt := len(roots)
	lanes := f.mode == treeLEQ && c > 0
	if lanes && hi-lo >= 4 {
		// Four rows at a time through each tree.
		for t, r := range roots {
			i := lo
			for ; i+4 <= hi; i += 4 {
				o := (i-lo)*nt + t
				leaves[o], leaves[o+nt], leaves[o+2*nt], leaves[o+3*nt] = treeLeaves4LEQ(nodes, r, r, r, r,
					x[i*c:i*c+c], x[(i+1)*c:(i+1)*c+c], x[(i+2)*c:(i+2)*c+c], x[(i+3)*c:(i+3)*c+c])
			}
			for ; i < hi; i++ {
				leaves[(i-lo)*nt+t] = f.leafOf(r, x[i*c:i*c+c])
			}
		}
		return
	}
	for i := lo; i < hi; i++ {
		row := x[i*c : i*c+c]
		out := leaves[(i-lo)*nt : (i-lo)*nt+nt]
		t := 0
		if lanes {
			// Eight, then four trees at a time for one row.
			for ; t+8 <= nt; t += 8 {
				treeLeaves8LEQ(nodes, roots[t:t+8], row, out[t:t+8])
			}
			for ; t+4 <= nt; t += 4 {
				out[t], out[t+1], out[t+2], out[t+3] = treeLeaves4LEQ(nodes, roots[t], roots[t+1], roots[t+2], roots[t+3], row, row, row, row)
			}
		}
		for ; t < nt; t++ {
			out[t] = f.leafOf(roots[t], row)
		}
	}
}

// treeRowBlock is the largest number of rows evaluated together: each tree
// is run over the whole block before the next, which keeps it in cache.
const treeRowBlock = 64

// blockRows returns how many rows to evaluate together so that the leaf
// buffer (rows x trees) stays around 32 KiB.
func (f *treeForest[T]) blockRows() int {
	if f.fast != nil {
		return 32 // the vector kernels' row block
	}
	return max(4, min(treeRowBlock, 8192/max(1, len(f.roots))))
}

// leafBuffer returns a buffer for blockRows() rows of leaves; give it back
// with putLeafBuffer.
func (f *treeForest[T]) leafBuffer() *[]int32 {
	if b, ok := f.leafBufs.Get().(*[]int32); ok {
		return b
	}
	b := make([]int32, f.blockRows()*len(f.roots))
	return &b
}

func (f *treeForest[T]) putLeafBuffer(b *[]int32) { f.leafBufs.Put(b) }

// sumFast stores in sum[i-lo] the sum of the leaf values that row i
// reaches, for the leading rows of [lo, hi) that the compact layout's
// bitvector kernels take (tree_qs.go), where they apply: float32 forests
// of small trees whose leaves hold their values (a single target, or
// every leaf voting once for the same target), summed or averaged. The
// sums are accumulate1's (and accumulateOneTarget's), in the same tree
// order. It returns the first row not done, lo if none.
func (f *treeForest[T]) sumFast(x []T, c, lo, hi int, sum []T) int {
	fs := f.fast
	if fs == nil || fs.qs == nil || fs.qsVals == nil || (f.agg != treeAggSum && f.agg != treeAggAverage) {
		return lo
	}
	xs, ok := any(x).([]float32)
	if !ok {
		return lo
	}
	return fs.sumQS(xs, c, lo, hi, any(sum).([]float32))
}

// sumDenseFast is sumFast for compact forests of small trees whose
// leaves vote once for each target (treeFast.dense), summed or averaged:
// sum holds nTargets sums per row, those of accumulateDense, and has is
// set for each. It returns the first row not done, lo if none.
func (f *treeForest[T]) sumDenseFast(x []T, c, lo, hi int, sum []T, has []bool) int {
	fs := f.fast
	if fs == nil || fs.qs == nil || fs.qsDense == nil || (f.agg != treeAggSum && f.agg != treeAggAverage) {
		return lo
	}
	xs, ok := any(x).([]float32)
	if !ok {
		return lo
	}
	d := fs.sumDenseQS(xs, c, lo, hi, any(sum).([]float32))
	for j := range has[:(d-lo)*f.nTargets] {
		has[j] = true
	}
	return d
}

// oneTarget returns the target every leaf votes once for in a compact
// forest of several targets (treeFast.voteTarget), or -1.
func (f *treeForest[T]) oneTarget() int {
	if f.fast == nil || f.nTargets < 2 {
		return -1
	}
	return f.fast.voteTarget
}

// accumulate1 combines, for a single-target ensemble, the first value of
// each row's leaves (leaves holds len(roots) entries per row) into sc (and
// has, for MIN and MAX), one entry per row.
func (f *treeForest[T]) accumulate1(leaves []int32, sc []T, has []bool) {
	nt := len(f.roots)
	if fs := f.fast; fs != nil && (f.agg == treeAggSum || f.agg == treeAggAverage) {
		// The compact leaves hold the values, and the walk has just
		// brought them into cache.
		nodes := fs.nodes
		for k := range sc {
			var s T
			for _, l := range leaves[k*nt : k*nt+nt] {
				s += T(nodes[l].thr)
			}
			sc[k] = s
		}
		return
	}
	nodes := f.nodes
	for k := range sc {
		ls := leaves[k*nt : k*nt+nt]
		switch f.agg {
		case treeAggSum, treeAggAverage:
			var s T
			for _, l := range ls {
				s += nodes[l].thr
			}
			sc[k] = s
		case treeAggMin, treeAggMax:
			h := false
			var s T
			for _, l := range ls {
				w := nodes[l].thr
				if !h || (f.agg == treeAggMin && w < s) || (f.agg == treeAggMax && w > s) {
					s, h = w, true
				}
			}
			sc[k], has[k] = s, h
		}
	}
}

// accumulateN is accumulate1 for ensembles with several targets: sc and has
// hold nTargets entries per row and start zeroed.
func (f *treeForest[T]) accumulateN(leaves []int32, rows int, sc []T, has []bool) {
	nt := f.nTargets
	ntrees := len(f.roots)
	if fs := f.fast; fs != nil && fs.dense != nil && ntrees > 0 {
		f.accumulateDense(leaves, rows, sc, has)
		return
	}
	if fs := f.fast; fs != nil && fs.voteTarget >= 0 && ntrees > 0 {
		f.accumulateOneTarget(leaves, rows, sc, has)
		return
	}
	nodes := f.nodes
	for k := 0; k < rows; k++ {
		s, h := sc[k*nt:k*nt+nt], has[k*nt:k*nt+nt]
		for _, l := range leaves[k*ntrees : k*ntrees+ntrees] {
			targets, weights := f.leafVotes(&nodes[l])
			switch f.agg {
			case treeAggSum, treeAggAverage:
				for j, t := range targets {
					s[t] += weights[j]
					h[t] = true
				}
			case treeAggMin:
				for j, t := range targets {
					if w := weights[j]; !h[t] || w < s[t] {
						s[t] = w
					}
					h[t] = true
				}
			case treeAggMax:
				for j, t := range targets {
					if w := weights[j]; !h[t] || w > s[t] {
						s[t] = w
					}
					h[t] = true
				}
			}
		}
	}
}

// accumulateDense is accumulateN over the dense votes of the compact
// layout: every leaf votes once for every target, in the same tree order,
// so the sums are those of accumulateN.
func (f *treeForest[T]) accumulateDense(leaves []int32, rows int, sc []T, has []bool) {
	nt := f.nTargets
	ntrees := len(f.roots)
	nodes, dense := f.fast.nodes, f.fast.dense
	if f.agg == treeAggSum || f.agg == treeAggAverage {
		for j := range has[:rows*nt] {
			has[j] = true
		}
		if nt == 3 { // three-class random forests: the sums stay in registers
			for k := 0; k < rows; k++ {
				var s0, s1, s2 T
				for _, l := range leaves[k*ntrees : k*ntrees+ntrees] {
					lf := int(nodes[l].thr) * 3
					w := dense[lf : lf+3 : lf+3]
					s0 += T(w[0])
					s1 += T(w[1])
					s2 += T(w[2])
				}
				s := sc[k*3 : k*3+3 : k*3+3]
				s[0], s[1], s[2] = s0, s1, s2
			}
			return
		}
		for k := 0; k < rows; k++ {
			s := sc[k*nt : k*nt+nt : k*nt+nt]
			for _, l := range leaves[k*ntrees : k*ntrees+ntrees] {
				lf := int(nodes[l].thr) * nt
				w := dense[lf : lf+nt : lf+nt]
				for j := range s {
					s[j] += T(w[j])
				}
			}
		}
		return
	}
	for k := 0; k < rows; k++ {
		s := sc[k*nt : k*nt+nt]
		for _, l := range leaves[k*ntrees : k*ntrees+ntrees] {
			lf := int(nodes[l].thr) * nt
			w := dense[lf : lf+nt]
			switch f.agg {
			case treeAggMin:
				for j, v := range w {
					if T(v) < s[j] || !has[k*nt+j] {
						s[j] = T(v)
					}
					has[k*nt+j] = true
				}
			case treeAggMax:
				for j, v := range w {
					if T(v) > s[j] || !has[k*nt+j] {
						s[j] = T(v)
					}
					has[k*nt+j] = true
				}
			}
		}
	}
}

// accumulateOneTarget is accumulateN for a compact forest whose every leaf
// votes once, for target fast.voteTarget, and holds that vote: the sum
// runs over the same votes in the same tree order.
func (f *treeForest[T]) accumulateOneTarget(leaves []int32, rows int, sc []T, has []bool) {
	nt := f.nTargets
	ntrees := len(f.roots)
	nodes, tg := f.fast.nodes, f.fast.voteTarget
	switch f.agg {
	case treeAggSum, treeAggAverage:
		for k := 0; k < rows; k++ {
			var s T
			for _, l := range leaves[k*ntrees : k*ntrees+ntrees] {
				s += T(nodes[l].thr)
			}
			sc[k*nt+tg], has[k*nt+tg] = s, true
		}
	case treeAggMin, treeAggMax:
		for k := 0; k < rows; k++ {
			ls := leaves[k*ntrees : k*ntrees+ntrees]
			s := T(nodes[ls[0]].thr)
			for _, l := range ls[1:] {
				if w := T(nodes[l].thr); (f.agg == treeAggMin && w < s) || (f.agg == treeAggMax && w > s) {
					s = w
				}
			}
			sc[k*nt+tg], has[k*nt+tg] = s, true
		}
	}
}

// finalize1 turns a single-target accumulation into the regression value.
func (f *treeForest[T]) finalize1(s T, has bool) T {
	switch f.agg {
	case treeAggSum:
		s += f.origin
	case treeAggAverage:
		s = s/f.nTrees + f.origin
	default:
		if has {
			s += f.origin
		} else {
			s = f.origin
		}
	}
	if f.post == mlPostProbit {
		s = T(mlProbit(float32(s)))
	}
	return s
}

// finalizeN turns one row of a multi-target accumulation into regression
// values, written to out (nTargets entries). tmp is float32 scratch of the
// same length.
func (f *treeForest[T]) finalizeN(sc []T, has []bool, out []T, tmp []float32) {
	for j := range sc {
		s := sc[j]
		switch f.agg {
		case treeAggSum:
			if f.useBase {
				s += f.base[j]
			}
		case treeAggAverage:
			s /= f.nTrees
			if f.useBase {
				s += f.base[j]
			}
		default:
			v := T(0)
			if f.useBase {
				v = f.base[j]
			}
			if has[j] {
				v += s
			}
			s = v
		}
		// onnxruntime reads a target no tree voted for as 0 here.
		if !has[j] {
			s = 0
		}
		out[j] = s
	}
	if f.post == mlPostNone {
		return
	}
	for j, v := range out {
		tmp[j] = float32(v)
	}
	mlApplyPost(f.post, tmp)
	for j, v := range tmp {
		out[j] = T(v)
	}
}

// rowsWork estimates the node visits per row, to size parallel chunks.
func (f *treeForest[T]) rowsWork() int {
	w := f.depthSum
	if w < 1 {
		w = 1
	}
	return w
}

// checkFeatures verifies that rows of c features cover every feature read.
func (f *treeForest[T]) checkFeatures(c int) error {
	if f.maxFeature >= c {
		return fmt.Errorf("the trees read feature %d but the input has only %d features", f.maxFeature, c)
	}
	return nil
}

// treeParallelGrain returns the number of rows per parallel chunk for n
// rows of work node visits each on the given workers: enough for ~64k
// node visits (some 50-100 µs with the compact layout), or, for a batch
// below two such chunks that still holds ~32k visits, one equal chunk per
// worker. Handing a chunk to another worker costs tens of microseconds on
// a 2-vCPU machine: cutting a batch of 100 rows of a 100-tree forest into
// several small chunks measured 30-50% slower than one worker, while one
// chunk per worker took rf_regressor_5f's batch of 100 from 873 to about
// 500 ns/row on a quiet machine, and 10 000 rows split gain 1.3-1.9x.
// It also reports whether to split at all.
func treeParallelGrain(n, work, workers int) (grain int, split bool) {
	if workers < 2 {
		return n, false
	}
	g := max((1<<16)/work, 1)
	if n >= 2*g {
		return g, true
	}
	if n*work >= 1<<15 && n >= workers {
		// Parallel makes at most one chunk per worker of ceil(n/chunks)
		// rows, so floor(n/workers) gives exactly workers chunks, an odd
		// batch included.
		return n / workers, true
	}
	return g, false
}
