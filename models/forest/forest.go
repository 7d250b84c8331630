// Package forest trains random-forest regressors: bootstrap samples and CART
// regression trees grown by variance reduction, with a deterministic seed.
//
// Thresholds and leaf values are float32, and a sample goes left when its
// float32 feature is less than or equal to the threshold, exactly as an ONNX
// TreeEnsembleRegressor with BRANCH_LEQ nodes evaluates it, so a forest
// exported to ONNX predicts the same values as Forest.Predict.
package forest

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
)

// Config controls training.
type Config struct {
	// Trees is the number of trees (default 50).
	Trees int
	// MaxDepth bounds the depth of each tree; the root is depth 0 (default 8).
	MaxDepth int
	// MinSamplesLeaf is the smallest number of samples a leaf may hold
	// (default 1).
	MinSamplesLeaf int
	// MaxFeatures is the number of features tried at each split; 0 tries
	// them all (scikit-learn's default for regressors).
	MaxFeatures int
	// Seed makes training deterministic.
	Seed uint64
}

func (c Config) withDefaults() Config {
	if c.Trees <= 0 {
		c.Trees = 50
	}
	if c.MaxDepth <= 0 {
		c.MaxDepth = 8
	}
	if c.MinSamplesLeaf <= 0 {
		c.MinSamplesLeaf = 1
	}
	return c
}

// Node is one node of a tree. A leaf has Leaf set and a Value; a branch
// sends a sample to Left when x[Feature] <= Threshold, else to Right.
type Node struct {
	Feature     int
	Threshold   float32
	Left, Right int
	Leaf        bool
	Value       float32
	// Samples is the number of training samples (of the tree's bootstrap
	// sample) that reached the node: its cover, which TreeSHAP weighs
	// the branches by.
	Samples int
}

// Tree is a regression tree; Nodes[0] is the root.
type Tree struct {
	Nodes []Node
}

// Predict returns the tree's leaf value for row.
func (t *Tree) Predict(row []float32) float32 {
	i := 0
	for !t.Nodes[i].Leaf {
		n := &t.Nodes[i]
		if row[n.Feature] <= n.Threshold {
			i = n.Left
		} else {
			i = n.Right
		}
	}
	return t.Nodes[i].Value
}

// Forest is a trained random forest: the prediction is the mean of its
// trees' predictions.
type Forest struct {
	Trees       []Tree
	NumFeatures int
}

// Predict returns the forest's prediction for row (len NumFeatures). The
// leaf values are summed in float64, as ONNX runtimes aggregate them.
func (f *Forest) Predict(row []float32) float64 {
	var s float64
	for i := range f.Trees {
		s += float64(f.Trees[i].Predict(row))
	}
	return s / float64(len(f.Trees))
}

// Train fits a forest on x (rows of equal length) and targets y.
func Train(x [][]float32, y []float64, cfg Config) (*Forest, error) {
	if len(x) == 0 {
		return nil, errors.New("forest: no training rows")
	}
	if len(x) != len(y) {
		return nil, fmt.Errorf("forest: %d rows but %d targets", len(x), len(y))
	}
	nf := len(x[0])
	if nf == 0 {
		return nil, errors.New("forest: rows have no features")
	}
	for i, r := range x {
		if len(r) != nf {
			return nil, fmt.Errorf("forest: row %d has %d features, row 0 has %d", i, len(r), nf)
		}
	}
	cfg = cfg.withDefaults()
	if cfg.MaxFeatures <= 0 || cfg.MaxFeatures > nf {
		cfg.MaxFeatures = nf
	}
	f := &Forest{NumFeatures: nf, Trees: make([]Tree, cfg.Trees)}
	for t := range f.Trees {
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(t)+1))
		idx := make([]int, len(x))
		for i := range idx {
			idx[i] = rng.IntN(len(x))
		}
		g := grower{x: x, y: y, cfg: cfg, rng: rng, nf: nf}
		g.grow(idx, 0)
		f.Trees[t] = Tree{Nodes: g.nodes}
	}
	return f, nil
}

type grower struct {
	x     [][]float32
	y     []float64
	cfg   Config
	rng   *rand.Rand
	nf    int
	nodes []Node
}

// grow builds the subtree for the samples idx and returns its node index.
func (g *grower) grow(idx []int, depth int) int {
	id := len(g.nodes)
	g.nodes = append(g.nodes, Node{})
	var sum float64
	for _, i := range idx {
		sum += g.y[i]
	}
	mean := sum / float64(len(idx))
	feat, thr, ok := -1, float32(0), false
	if depth < g.cfg.MaxDepth && len(idx) >= 2*g.cfg.MinSamplesLeaf {
		feat, thr, ok = g.bestSplit(idx, sum)
	}
	if !ok {
		g.nodes[id] = Node{Leaf: true, Value: float32(mean), Samples: len(idx)}
		return id
	}
	var left, right []int
	for _, i := range idx {
		if g.x[i][feat] <= thr {
			left = append(left, i)
		} else {
			right = append(right, i)
		}
	}
	l := g.grow(left, depth+1)
	r := g.grow(right, depth+1)
	g.nodes[id] = Node{Feature: feat, Threshold: thr, Left: l, Right: r, Samples: len(idx)}
	return id
}

// bestSplit finds the split of idx with the largest variance reduction.
func (g *grower) bestSplit(idx []int, total float64) (int, float32, bool) {
	feats := make([]int, g.nf)
	for i := range feats {
		feats[i] = i
	}
	if g.cfg.MaxFeatures < g.nf {
		g.rng.Shuffle(len(feats), func(i, j int) { feats[i], feats[j] = feats[j], feats[i] })
		feats = feats[:g.cfg.MaxFeatures]
	}
	n := len(idx)
	// The parent's score is total²/n; a split scores sumL²/nL + sumR²/nR.
	best := total * total / float64(n)
	bestFeat, bestThr, found := -1, float32(0), false
	sorted := make([]int, n)
	minLeaf := g.cfg.MinSamplesLeaf
	for _, f := range feats {
		copy(sorted, idx)
		slices.SortStableFunc(sorted, func(a, b int) int { return cmp.Compare(g.x[a][f], g.x[b][f]) })
		var sumL float64
		for k := 0; k < n-1; k++ {
			sumL += g.y[sorted[k]]
			nl := k + 1
			a, b := g.x[sorted[k]][f], g.x[sorted[k+1]][f]
			if a == b || nl < minLeaf || n-nl < minLeaf {
				continue
			}
			sumR := total - sumL
			score := sumL*sumL/float64(nl) + sumR*sumR/float64(n-nl)
			if score > best+1e-12 {
				thr := float32((float64(a) + float64(b)) / 2)
				if thr >= b { // a and b are adjacent float32 values
					thr = a
				}
				best, bestFeat, bestThr, found = score, f, thr, true
			}
		}
	}
	return bestFeat, bestThr, found
}
