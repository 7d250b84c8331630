package ops

// Leaf-wise TreeSHAP. The path-dependent expectation of a tree given the
// features S are known is a sum over leaves: v·Π over the leaf's path
// features j of (1[x follows the path on j] if j ∈ S, else z_j), where z_j
// is the product of the cover shares along the path at the splits on j.
// Shapley values are linear, so each leaf contributes on its own, and its
// contribution depends on the row only through which path features the
// row follows ("hot", H) and which it does not ("cold"). With d path
// features and w(k) = k!(d-k-1)!/d!, a leaf adds to feature i
//
//	v·(o_i − z_i)·Σ_{S ⊆ H∖{i}} w(|S|)·Π_{j ∈ U∖{i}∖S} z_j
//
// which is read from a per-leaf table of A(Q) = Σ_{S⊆Q} w(|S|)·Π_{U∖S} z
// over the 2^d subsets Q (Fast TreeSHAP v2's idea: the row costs O(d) a
// leaf), or computed in O(d²) with the polynomial Π_{j∈H}(t + z_j) for
// leaves too deep for a table or with a zero share. One row visits every
// node the row or the covers reach once.

// treeSHAPTableMaxD is the most path features a leaf may have to get a
// precomputed table (2^d values).
const treeSHAPTableMaxD = 12

// treeSHAPTableBudget bounds the table values of one explainer (8 bytes
// each); leaves past it use the O(d²) computation.
const treeSHAPTableBudget = 1 << 22

// shapLeaf describes one leaf's path: its unique features and their shares
// are at leafFeat/leafZ[start:start+d] of its tree.
type shapLeaf struct {
	start, d int32
	value    int32 // row of the tree's values
	tab      int32 // offset of the leaf's 2^d table in the tree's tab, -1 for none
}

// shapWeights returns w(k) = k!(d-k-1)!/d! for k = 0..d-1.
func shapWeights(d int) []float64 {
	w := make([]float64, d)
	if d == 0 {
		return w
	}
	w[0] = 1 / float64(d)
	for k := 0; k+1 < d; k++ {
		w[k+1] = w[k] * float64(k+1) / float64(d-k-1)
	}
	return w
}

// prepareLeaves records every leaf's path features and shares, and builds
// the tables while the budget lasts. It returns the largest d.
func prepareLeaves[T treeFloat](trees []shapTree[T], budget *int) int {
	maxD := 0
	weights := map[int][]float64{}
	var polys []float64
	for ti := range trees {
		tr := &trees[ti]
		tr.leafAt = make([]int32, len(tr.nodes))
		tr.leaves, tr.leafFeat, tr.leafZ, tr.tab = tr.leaves[:0], tr.leafFeat[:0], tr.leafZ[:0], tr.tab[:0]
		var feats []int32
		var zs []float64
		var walk func(i int32)
		walk = func(i int32) {
			nd := &tr.nodes[i]
			if nd.yes < 0 {
				d := len(feats)
				maxD = max(maxD, d)
				lf := shapLeaf{start: int32(len(tr.leafFeat)), d: int32(d), value: nd.leaf, tab: -1}
				tr.leafFeat = append(tr.leafFeat, feats...)
				tr.leafZ = append(tr.leafZ, zs...)
				positive := true
				for _, z := range zs {
					positive = positive && z > 0
				}
				if d > 0 && d <= treeSHAPTableMaxD && positive && *budget >= 1<<d {
					*budget -= 1 << d
					w, ok := weights[d]
					if !ok {
						w = shapWeights(d)
						weights[d] = w
					}
					lf.tab = int32(len(tr.tab))
					tr.tab, polys = appendLeafTable(tr.tab, polys, zs, w)
				}
				tr.leafAt[i] = int32(len(tr.leaves))
				tr.leaves = append(tr.leaves, lf)
				return
			}
			for side := 0; side < 2; side++ {
				child, share := nd.yes, nd.zeroYes
				if side == 1 {
					child, share = nd.no, nd.zeroNo
				}
				p := -1
				for j, f := range feats {
					if f == nd.feature {
						p = j
						break
					}
				}
				if p >= 0 {
					old := zs[p]
					zs[p] *= share
					walk(child)
					zs[p] = old
				} else {
					feats, zs = append(feats, nd.feature), append(zs, share)
					walk(child)
					feats, zs = feats[:len(feats)-1], zs[:len(zs)-1]
				}
			}
		}
		walk(0)
	}
	return maxD
}

// appendLeafTable appends A(Q) for every subset Q of the leaf's d features
// (bit j of Q: feature j), using polys as scratch. The shares are positive.
func appendLeafTable(tab, polys []float64, z, w []float64) ([]float64, []float64) {
	d := len(z)
	n := 1 << d
	stride := d + 1
	if cap(polys) < n*stride {
		polys = make([]float64, n*stride)
	}
	polys = polys[:n*stride]
	// poly(Q)(t) = Π_{j∈Q} (t + z_j), coefficient k at polys[Q*stride+k],
	// built from Q without its highest bit.
	clear(polys[:stride])
	polys[0] = 1
	total := 1.0
	for _, v := range z {
		total *= v
	}
	for q := 1; q < n; q++ {
		hb := 31 - leadingZeros32(uint32(q))
		src := polys[(q&^(1<<hb))*stride : (q&^(1<<hb))*stride+stride]
		dst := polys[q*stride : q*stride+stride]
		zj := z[hb]
		dst[0] = zj * src[0]
		for k := 1; k < stride; k++ {
			dst[k] = src[k-1] + zj*src[k]
		}
	}
	for q := 0; q < n; q++ {
		p := polys[q*stride : q*stride+stride]
		s := 0.0
		for k := 0; k < d; k++ {
			s += w[k] * p[k]
		}
		// Π over U∖Q of z = total / Π over Q of z (= p[0]).
		tab = append(tab, total/p[0]*s)
	}
	return tab, polys
}

func leadingZeros32(x uint32) int {
	n := 0
	for b := uint32(1) << 31; b != 0 && x&b == 0; b >>= 1 {
		n++
	}
	return n
}

// leafWalker explains one row tree by tree.
type leafWalker[T treeFloat] struct {
	tree    *shapTree[T]
	x       []T
	phi     []float64
	k, nf   int
	scale   float64
	failed  []int32     // per feature: splits on it above the current node the row does not follow
	weights [][]float64 // w(k) by d, for the O(d²) leaves
	c, q    []float64   // polynomial scratch
}

// visit walks node i: the branch the row takes, and the other one where
// the covers go.
func (w *leafWalker[T]) visit(i int32) {
	nd := &w.tree.nodes[i]
	if nd.yes < 0 {
		w.leaf(i)
		return
	}
	f := nd.feature
	hot, cold, coldShare := nd.no, nd.yes, nd.zeroYes
	if nd.goesYes(w.x[f]) {
		hot, cold, coldShare = nd.yes, nd.no, nd.zeroNo
	}
	w.visit(hot)
	// Below a cold branch no cover reaches, every leaf adds nothing.
	if coldShare > 0 {
		w.failed[f]++
		w.visit(cold)
		w.failed[f]--
	}
}

// leaf adds leaf i's contributions.
func (w *leafWalker[T]) leaf(i int32) {
	tr := w.tree
	lf := &tr.leaves[tr.leafAt[i]]
	d := int(lf.d)
	if d == 0 {
		return
	}
	feats := tr.leafFeat[lf.start : int(lf.start)+d]
	z := tr.leafZ[lf.start : int(lf.start)+d]
	vals := tr.values[int(lf.value)*w.k : int(lf.value)*w.k+w.k]
	add := func(f int32, c float64) {
		c *= w.scale
		for t, v := range vals {
			w.phi[t*w.nf+int(f)] += c * v
		}
	}
	if lf.tab >= 0 {
		tab := tr.tab[lf.tab : int(lf.tab)+1<<d]
		var h uint32
		for j, f := range feats {
			if w.failed[f] == 0 {
				h |= 1 << j
			}
		}
		cold := -tab[h]
		for j, f := range feats {
			if h&(1<<j) != 0 {
				add(f, (1-z[j])/z[j]*tab[h&^(1<<j)])
			} else {
				add(f, cold)
			}
		}
		return
	}
	// O(d²): c(t) = Π over hot features of (t + z_j); the cold shares'
	// product pz (nz of them zero).
	c := append(w.c[:0], 1)
	nz, pz := 0, 1.0
	for j, f := range feats {
		if w.failed[f] == 0 {
			c = append(c, 0)
			for k := len(c) - 1; k >= 1; k-- {
				c[k] = c[k-1] + z[j]*c[k]
			}
			c[0] *= z[j]
		} else if z[j] == 0 {
			nz++
		} else {
			pz *= z[j]
		}
	}
	w.c = c
	h := len(c) - 1
	ws := w.weights[d]
	if nz == 0 && h < d {
		// every cold feature adds -v·Π(cold shares)·Σ w(k)·c_k
		s := 0.0
		for k := 0; k <= h; k++ {
			s += ws[k] * c[k]
		}
		for _, f := range feats {
			if w.failed[f] != 0 {
				add(f, -pz*s)
			}
		}
	}
	if nz > 0 || h == 0 {
		return // a zero cold share: the hot features add nothing
	}
	if cap(w.q) < h {
		w.q = make([]float64, h)
	}
	q := w.q[:h]
	for j, f := range feats {
		if w.failed[f] != 0 {
			continue
		}
		// q = c / (t + z_j)
		q[h-1] = c[h]
		for k := h - 1; k >= 1; k-- {
			q[k-1] = c[k] - z[j]*q[k]
		}
		s := 0.0
		for k := 0; k < h; k++ {
			s += ws[k] * q[k]
		}
		add(f, (1-z[j])*pz*s)
	}
}
