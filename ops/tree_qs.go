package ops

import (
	"math"
	"math/bits"
	"unsafe"
)

// This file holds a bitvector evaluation of the compact layout's small
// trees (at most 64 leaves each) over blocks of treeQSRows rows, in the
// manner of QuickScorer (Lucchese et al., 2015), for batches.
//
// The leaves of each tree are numbered in depth-first order, true child
// first. A split whose condition fails excludes the leaves of its true
// subtree; the leaf a row reaches is the first one that no failing split
// excludes: the failing splits of its path exclude only subtrees the path
// left earlier, which come before it, and the other splits lie in those
// subtrees or in subtrees it never entered, after it. So a tree's walk
// becomes: clear, in its bitvector of candidate leaves, the true subtree
// of every split whose condition fails, then take the lowest set bit.
//
// The kernels evaluate a block of rows tree by tree, one row per lane: a
// tree's bitvectors stay in a register while each of its splits compares
// its threshold with the block's column of its feature and clears its
// mask's bits in the lanes that fail, with no gather and no data-dependent
// step. A bitvector is one 32-bit word per lane, or two for trees of more
// than 32 leaves: a split is then listed for each word its true subtree
// touches (one word but for a few splits per tree), with that word's mask,
// so every split costs one 32-bit operation per lane. A split with a NaN
// threshold fails for every input: it is applied once, to the initial
// words. The padding and missing-value slots of the compact layout's rows
// carry over unchanged.

// treeQSRows is the number of rows a block holds (one per float32 lane of
// a zmm register, or of two ymm registers with AVX2).
const treeQSRows = 16

// treeQSMinRows is the fewest rows evaluated as a block: fewer are walked
// one at a time.
const treeQSMinRows = 8

// treeQSMaxLeaves is the largest leaf count of a tree the layout admits.
const treeQSMaxLeaves = 64

// treeQSNode is one split (for one word) in the bitvector layout: its
// threshold (negated with the compact layout's), the byte offset of its
// feature's column in a block's columns, and the bits of the word that
// survive a failing condition.
type treeQSNode struct {
	thr  float32
	off  uint32
	mask uint32
}

// treeQS is the bitvector layout of a compact forest.
type treeQS struct {
	words int          // 32-bit words per bitvector: 1, or 2 if some tree has more than 32 leaves
	nodes []treeQSNode // word by word of tree by tree
	count []int32      // per tree and word: its splits in nodes
	init  []uint32     // per tree and word: its leaves, less those NaN-threshold splits exclude
	leaf  []int32      // per tree, treeQSMaxLeaves entries: leaf bit -> node index
}

// newTreeQS builds the bitvector layout of t, or returns nil when some
// tree has more than treeQSMaxLeaves leaves.
func newTreeQS(t *treeFast) *treeQS {
	nt := len(t.roots)
	leaf := make([]int32, nt*treeQSMaxLeaves)
	init := make([]uint64, nt)
	type split struct {
		node treeQSNode // mask unset
		tb   uint64     // the leaves of its true subtree
	}
	splits := make([][]split, nt)
	var tree, nleaves int
	ok := true
	// visit numbers the leaves below node i from nleaves on and records
	// the splits; it returns the bits of those leaves.
	var visit func(i int) uint64
	visit = func(i int) uint64 {
		nd := &t.nodes[i]
		if nd.jm1 < 0 {
			if nleaves == treeQSMaxLeaves {
				ok = false
				return 0
			}
			leaf[tree*treeQSMaxLeaves+nleaves] = int32(i)
			nleaves++
			return 1 << (nleaves - 1)
		}
		tb := visit(i + 1 + int(nd.jm1))
		fb := visit(i + 1)
		if !ok {
			return 0
		}
		if nd.thr != nd.thr {
			init[tree] &^= tb // the condition never holds
		} else {
			splits[tree] = append(splits[tree], split{treeQSNode{thr: nd.thr, off: uint32(nd.feat) * 4 * treeQSRows}, tb})
		}
		return tb | fb
	}
	words := 1
	for k, r := range t.roots {
		tree, nleaves = k, 0
		init[k] = ^uint64(0)
		all := visit(int(r))
		if !ok {
			return nil
		}
		init[k] &= all
		if nleaves > 32 {
			words = 2
		}
	}
	q := &treeQS{words: words, leaf: leaf, count: make([]int32, nt*words), init: make([]uint32, nt*words)}
	for k, ss := range splits {
		for w := range words {
			q.init[k*words+w] = uint32(init[k] >> (32 * w))
			for _, s := range ss {
				if part := uint32(s.tb >> (32 * w)); part != 0 {
					nd := s.node
					nd.mask = ^part
					q.nodes = append(q.nodes, nd)
					q.count[k*words+w]++
				}
			}
		}
	}
	return q
}

// treeQSScratch is the working memory of a block.
type treeQSScratch struct {
	sums  [treeQSRows]float32
	cols  []float32 // slots x treeQSRows, column by column
	bv    []uint32  // trees x words x treeQSRows
	ksums []float32 // targets x treeQSRows, target by target (dense votes)
}

// newScratch allocates a block's working memory, its vectors aligned to
// 64 bytes (a zmm load that crosses a cache line costs about twice as
// much).
// targets is the number of dense votes per leaf (0 without).
func (q *treeQS) newScratch(slots, trees, targets int) *treeQSScratch {
	s := &treeQSScratch{
		cols: treeAligned64[float32](slots * treeQSRows),
		bv:   treeAligned64[uint32](trees * q.words * treeQSRows),
	}
	if targets > 0 {
		s.ksums = treeAligned64[float32](targets * treeQSRows)
	}
	return s
}

// treeAligned64 returns n zero elements starting on a 64-byte boundary.
func treeAligned64[E float32 | uint32](n int) []E {
	const size = 4
	b := make([]E, n+64/size)
	off := int(uintptr(unsafe.Pointer(&b[0]))&63) / size
	if off != 0 {
		off = 64/size - off
	}
	return b[off : off+n : off+n]
}

// treeQSKernels are the kernels that evaluate a block. cols holds the
// block's slots column by column. scan stores in bv the bitvector words
// (treeQSRows per entry of count: per tree and word), starting from init
// and cleared by the splits that fail. sum1 (one word per tree) and sum2
// (two) go on to sum, per row and in tree order, the values of the leaves
// reached, read from vals (treeQSMaxLeaves per tree, by leaf bit); they
// are nil where there are none. sumK1 and sumK2 do the same for leaves
// that each hold k votes (dense votes, one per target): vals holds, per
// tree, k runs of treeQSMaxLeaves values (target by target, by leaf
// bit), and sums k runs of treeQSRows sums (target by target).
type treeQSKernels struct {
	scan  func(nodes []treeQSNode, count []int32, init []uint32, cols []float32, bv []uint32)
	sum1  func(nodes []treeQSNode, count []int32, init []uint32, cols, vals []float32, sums *[treeQSRows]float32)
	sum2  func(nodes []treeQSNode, count []int32, init []uint32, cols, vals []float32, sums *[treeQSRows]float32)
	sumK1 func(nodes []treeQSNode, count []int32, init []uint32, cols, vals []float32, k int, sums []float32)
	sumK2 func(nodes []treeQSNode, count []int32, init []uint32, cols, vals []float32, k int, sums []float32)
}

// treeQSGo are the Go kernels (the tests check the assembly against them).
var treeQSGo = treeQSKernels{scan: treeQSScanGo, sum1: treeQSSum1Go, sum2: treeQSSum2Go, sumK1: treeQSSumK1Go, sumK2: treeQSSumK2Go}

// treeQSScanGo is the Go scan kernel.
func treeQSScanGo(nodes []treeQSNode, count []int32, init []uint32, cols []float32, bv []uint32) {
	for k, n := range count {
		b := bv[k*treeQSRows : k*treeQSRows+treeQSRows]
		for l := range b {
			b[l] = init[k]
		}
		for _, nd := range nodes[:n] {
			o := nd.off / 4
			x := cols[o : o+treeQSRows]
			for l, v := range x {
				if !(v <= nd.thr) {
					b[l] &= nd.mask
				}
			}
		}
		nodes = nodes[n:]
	}
}

// treeQSLeafBit returns the lowest set bit of the bitvector of words
// (one or two) in lane l of bv, which holds a tree's words.
func treeQSLeafBit(bv []uint32, words, l int) int {
	if lo := bv[l]; lo != 0 || words == 1 {
		return bits.TrailingZeros32(lo)
	}
	return 32 + bits.TrailingZeros32(bv[treeQSRows+l])
}

// treeQSSumGo is the Go summing kernel for bitvectors of words words.
func treeQSSumGo(words int, nodes []treeQSNode, count []int32, init []uint32, cols, vals []float32, sums *[treeQSRows]float32) {
	var bv [2 * treeQSRows]uint32
	*sums = [treeQSRows]float32{}
	for k := 0; k < len(count); k += words {
		n := 0
		for _, c := range count[k : k+words] {
			n += int(c)
		}
		treeQSScanGo(nodes[:n], count[k:k+words], init[k:k+words], cols, bv[:])
		nodes = nodes[n:]
		v := vals[k/words*treeQSMaxLeaves : (k/words+1)*treeQSMaxLeaves]
		for l := range sums {
			sums[l] += v[treeQSLeafBit(bv[:], words, l)]
		}
	}
}

// treeQSSumKGo is the Go summing kernel of k votes per leaf for
// bitvectors of words words.
func treeQSSumKGo(words int, nodes []treeQSNode, count []int32, init []uint32, cols, vals []float32, k int, sums []float32) {
	var bv [2 * treeQSRows]uint32
	sums = sums[:k*treeQSRows]
	clear(sums)
	stride := k * treeQSMaxLeaves
	for t := 0; t < len(count); t += words {
		n := 0
		for _, c := range count[t : t+words] {
			n += int(c)
		}
		treeQSScanGo(nodes[:n], count[t:t+words], init[t:t+words], cols, bv[:])
		nodes = nodes[n:]
		v := vals[t/words*stride : (t/words+1)*stride]
		for l := range treeQSRows {
			b := treeQSLeafBit(bv[:], words, l)
			for j := range k {
				sums[j*treeQSRows+l] += v[j*treeQSMaxLeaves+b]
			}
		}
	}
}

func treeQSSumK1Go(nodes []treeQSNode, count []int32, init []uint32, cols, vals []float32, k int, sums []float32) {
	treeQSSumKGo(1, nodes, count, init, cols, vals, k, sums)
}

func treeQSSumK2Go(nodes []treeQSNode, count []int32, init []uint32, cols, vals []float32, k int, sums []float32) {
	treeQSSumKGo(2, nodes, count, init, cols, vals, k, sums)
}

func treeQSSum1Go(nodes []treeQSNode, count []int32, init []uint32, cols, vals []float32, sums *[treeQSRows]float32) {
	treeQSSumGo(1, nodes, count, init, cols, vals, sums)
}

func treeQSSum2Go(nodes []treeQSNode, count []int32, init []uint32, cols, vals []float32, sums *[treeQSRows]float32) {
	treeQSSumGo(2, nodes, count, init, cols, vals, sums)
}

// fillCols copies rows [lo, lo+n) of x (n <= treeQSRows, row stride c),
// padded, into s.cols column by column, using row as the padded-row
// buffer, and returns the columns.
func (t *treeFast) fillCols(s *treeQSScratch, row, x []float32, c, lo, n int) []float32 {
	w := t.width()
	cols := s.cols[:w*treeQSRows]
	ninf := float32(math.Inf(-1))
	for r := range treeQSRows {
		if r < n {
			i := lo + r
			t.padRow(row, x[i*c:i*c+c])
			for j, v := range row[:w] {
				cols[j*treeQSRows+r] = v
			}
			continue
		}
		// Unused lanes hold -Inf: any value would do.
		for j := range w {
			cols[j*treeQSRows+r] = ninf
		}
	}
	return cols
}

// collectQS stores the leaves of rows [lo, lo+n) of x (n <= treeQSRows,
// row stride c) in leaves (len(roots) per row), using row as the
// padded-row buffer.
func (t *treeFast) collectQS(s *treeQSScratch, row, x []float32, c, lo, n int, leaves []int32) {
	q := t.qs
	cols := t.fillCols(s, row, x, c, lo, n)
	nt := len(t.roots)
	bv := s.bv[:nt*q.words*treeQSRows]
	t.qsKern.scan(q.nodes, q.count, q.init, cols, bv)
	for r := range n {
		out := leaves[r*nt : r*nt+nt]
		for k := range out {
			b := bv[k*q.words*treeQSRows:]
			out[k] = q.leaf[k*treeQSMaxLeaves+treeQSLeafBit(b, q.words, r)]
		}
	}
}

// sumQS stores in sums[i-lo] the sum, over the trees in order, of the
// values of the leaves row i of x (row stride c) reaches, for the rows
// from lo on that the summing kernels take: blocks of treeQSRows rows and
// a last one of at least treeQSMinRows. It returns the first row not done
// (lo if none): the caller walks the rest. Leaves must hold their values
// (t.qsVals set).
func (t *treeFast) sumQS(x []float32, c, lo, hi int, sums []float32) int {
	q := t.qs
	sum := t.qsKern.sum1
	if q.words == 2 {
		sum = t.qsKern.sum2
	}
	if sum == nil || hi-lo < treeQSMinRows {
		return lo
	}
	s := t.getScratch()
	defer t.scratch.Put(s)
	row := s.row[:t.width()]
	b := lo
	for ; hi-b >= treeQSMinRows; b += treeQSRows {
		n := min(treeQSRows, hi-b)
		cols := t.fillCols(s.qs, row, x, c, b, n)
		sum(q.nodes, q.count, q.init, cols, t.qsVals, &s.qs.sums)
		copy(sums[b-lo:b-lo+n], s.qs.sums[:n])
	}
	return min(b, hi)
}

// sumDenseQS is sumQS for forests whose leaves vote once for each of the
// k targets (t.qsDense set): sums holds k sums per row, in target order,
// each over the trees in order.
func (t *treeFast) sumDenseQS(x []float32, c, lo, hi int, sums []float32) int {
	q := t.qs
	sum := t.qsKern.sumK1
	if q.words == 2 {
		sum = t.qsKern.sumK2
	}
	if sum == nil || hi-lo < treeQSMinRows {
		return lo
	}
	k := len(t.qsDense) / len(t.qs.leaf)
	s := t.getScratch()
	defer t.scratch.Put(s)
	row := s.row[:t.width()]
	ks := s.qs.ksums[:k*treeQSRows]
	b := lo
	for ; hi-b >= treeQSMinRows; b += treeQSRows {
		n := min(treeQSRows, hi-b)
		cols := t.fillCols(s.qs, row, x, c, b, n)
		sum(q.nodes, q.count, q.init, cols, t.qsDense, k, ks)
		out := sums[(b-lo)*k : (b-lo+n)*k]
		for j := range k {
			for r, v := range ks[j*treeQSRows : j*treeQSRows+n] {
				out[r*k+j] = v
			}
		}
	}
	return min(b, hi)
}
