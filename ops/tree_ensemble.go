package ops

import (
	"fmt"
	"sync"
)

// Kernels of the ai.onnx.ml tree ensemble operators. Each node's ensemble is
// validated and compiled at plan time (tree_def.go, tree_forest.go); the
// float64 layout, used only for double inputs, is compiled on first use
// unless the input type is known to be double.

func registerTreeEnsemble(r *Registry) {
	r.Add(DomainML, "TreeEnsembleRegressor", 1, newTreeRegressor)
	r.Add(DomainML, "TreeEnsembleClassifier", 1, newTreeClassifier)
	r.Add(DomainML, "TreeEnsemble", 5, newTreeEnsembleV5)
}

// treeForests holds the float32 and float64 compilations of one ensemble.
// The one matching the declared input type is compiled at plan time, the
// other on first use.
type treeForests struct {
	def    *treeDef
	once32 sync.Once
	once64 sync.Once
	f32    *treeForest[float32]
	f64    *treeForest[float64]
	err32  error
	err64  error
}

func newTreeForests(n *Node, def *treeDef) (*treeForests, error) {
	fs := &treeForests{def: def}
	if len(n.InputTypes) > 0 && n.InputTypes[0] != nil && n.InputTypes[0].Kind == KindTensor && n.InputTypes[0].DType == Double {
		_, err := fs.float64Forest()
		return fs, err
	}
	_, err := fs.float32Forest()
	return fs, err
}

func (fs *treeForests) float32Forest() (*treeForest[float32], error) {
	fs.once32.Do(func() { fs.f32, fs.err32 = compileForest[float32](fs.def) })
	return fs.f32, fs.err32
}

func (fs *treeForests) float64Forest() (*treeForest[float64], error) {
	fs.once64.Do(func() { fs.f64, fs.err64 = compileForest[float64](fs.def) })
	return fs.f64, fs.err64
}

// ---------------------------------------------------------------------------
// Regression: TreeEnsembleRegressor and TreeEnsemble.

type treeRegressor struct {
	forests *treeForests
	v5      bool // output type follows the input (TreeEnsemble)
}

func newTreeRegressor(n *Node) (any, error) {
	def, err := parseTreeDefV3(n.Attrs, "target", int(n.Attrs.Int("n_targets", 0)))
	if err != nil {
		return nil, err
	}
	if b := len(def.base); b > 1 && b != def.nTargets {
		return nil, fmt.Errorf("base_values has %d elements, expected 0, 1 or n_targets=%d", b, def.nTargets)
	}
	fs, err := newTreeForests(n, def)
	if err != nil {
		return nil, err
	}
	return &treeRegressor{forests: fs}, nil
}

func newTreeEnsembleV5(n *Node) (any, error) {
	def, err := parseTreeDefV5(n.Attrs)
	if err != nil {
		return nil, err
	}
	fs, err := newTreeForests(n, def)
	if err != nil {
		return nil, err
	}
	return &treeRegressor{forests: fs, v5: true}, nil
}

func (k *treeRegressor) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 1 || in[0] == nil {
		return fmt.Errorf("missing input X")
	}
	x := in[0]
	n, c, err := mlInput2D(x)
	if err != nil {
		return err
	}
	outType := Float
	if k.v5 {
		switch x.DType {
		case Float, Double, Float16:
			outType = x.DType
		default:
			return fmt.Errorf("unsupported input type %s (expected float32, float64 or float16)", x.DType)
		}
	}
	nt := k.forests.def.nTargets
	if x.DType == Double {
		f, err := k.forests.float64Forest()
		if err != nil {
			return err
		}
		if err := f.checkFeatures(c); err != nil {
			return err
		}
		y := ec.Empty(outType, n, nt)
		runTreeRegression(ec, f, x.Data.([]float64), n, c, y)
		out[0] = y
		return nil
	}
	f, err := k.forests.float32Forest()
	if err != nil {
		return err
	}
	if err := f.checkFeatures(c); err != nil {
		return err
	}
	data, tmp, err := mlFloat32Input(ec, x)
	if err != nil {
		return err
	}
	y := ec.Empty(outType, n, nt)
	runTreeRegression(ec, f, data, n, c, y)
	if tmp != nil {
		ec.Release(tmp)
	}
	out[0] = y
	return nil
}

// treeStoreValues writes vals to the output backing slice at offset off.
func treeStoreValues[T treeFloat](dst any, off int, vals []T) {
	switch d := dst.(type) {
	case []float32:
		d = d[off : off+len(vals)]
		for i, v := range vals {
			d[i] = float32(v)
		}
	case []float64:
		d = d[off : off+len(vals)]
		for i, v := range vals {
			d[i] = float64(v)
		}
	case []F16:
		d = d[off : off+len(vals)]
		for i, v := range vals {
			d[i] = F16From(float32(v))
		}
	}
}

// runTreeRegression evaluates the forest on n rows of c features into y
// ([n, nTargets]).
func runTreeRegression[T treeFloat](ec *Context, f *treeForest[T], x []T, n, c int, y *Tensor) {
	grain, split := treeParallelGrain(n, f.rowsWork(), ec.Workers.Workers())
	if !split {
		treeRegressionRows(f, x, c, y, 0, n) // no closure to allocate
		return
	}
	ec.Parallel(n, grain, func(lo, hi int) { treeRegressionRows(f, x, c, y, lo, hi) })
}

// treeRegressionRows evaluates rows [lo, hi).
func treeRegressionRows[T treeFloat](f *treeForest[T], x []T, c int, y *Tensor, lo, hi int) {
	nt := f.nTargets
	blk := min(f.blockRows(), hi-lo)
	lb := f.leafBuffer()
	defer f.putLeafBuffer(lb)
	leaves := *lb
	if nt == 1 {
		var scBuf [treeRowBlock]T
		var hasBuf [treeRowBlock]bool
		for b := lo; b < hi; b += blk {
			e := min(b+blk, hi)
			sc, has := scBuf[:e-b], hasBuf[:e-b]
			if d := f.sumFast(x, c, b, e, sc); d < e {
				f.collectLeaves(x, c, d, e, leaves)
				f.accumulate1(leaves, sc[d-b:], has[d-b:])
			}
			for i := range sc {
				sc[i] = f.finalize1(sc[i], has[i])
			}
			treeStoreValues(y.Data, b, sc)
		}
		return
	}
	var scBuf [128]T
	var hasBuf [128]bool
	var rowBuf [16]T
	var tmpBuf [16]float32
	sc, has, row, tmp := scBuf[:], hasBuf[:], rowBuf[:], tmpBuf[:]
	if blk*nt > len(sc) {
		sc, has = make([]T, blk*nt), make([]bool, blk*nt)
	}
	if nt > len(row) {
		row, tmp = make([]T, nt), make([]float32, nt)
	}
	row, tmp = row[:nt], tmp[:nt]
	for b := lo; b < hi; b += blk {
		e := min(b+blk, hi)
		m := (e - b) * nt
		clear(sc[:m])
		clear(has[:m])
		if d := f.sumDenseFast(x, c, b, e, sc, has); d < e {
			f.collectLeaves(x, c, d, e, leaves)
			f.accumulateN(leaves, e-d, sc[(d-b)*nt:], has[(d-b)*nt:])
		}
		for i := b; i < e; i++ {
			o := (i - b) * nt
			f.finalizeN(sc[o:o+nt], has[o:o+nt], row, tmp)
			treeStoreValues(y.Data, i*nt, row)
		}
	}
}

// ---------------------------------------------------------------------------
// Classification: TreeEnsembleClassifier.

type treeClassifier struct {
	forests     *treeForests
	labelsInt   []int64
	labelsStr   []string
	binaryCase  bool // two classes and every vote is for the same class
	allPositive bool // every vote weight is >= 0
}

func newTreeClassifier(n *Node) (any, error) {
	a := n.Attrs
	strs, _ := a.Strings("classlabels_strings")
	ints, _ := a.Ints("classlabels_int64s")
	k := &treeClassifier{}
	switch {
	case len(strs) > 0 && len(ints) > 0:
		return nil, fmt.Errorf("only one of classlabels_strings and classlabels_int64s may be set")
	case len(strs) > 0:
		k.labelsStr = strs
	case len(ints) > 0:
		k.labelsInt = ints
	default:
		return nil, fmt.Errorf("one of classlabels_strings and classlabels_int64s must be set")
	}
	nc := max(len(strs), len(ints))
	def, err := parseTreeDefV3(a, "class", nc)
	if err != nil {
		return nil, err
	}
	def.agg = treeAggSum // votes are always summed
	if b := len(def.base); b > nc {
		return nil, fmt.Errorf("base_values has %d elements but there are only %d classes", b, nc)
	}
	classes := map[int]bool{}
	k.allPositive = true
	for i := range def.nodes {
		for _, w := range def.nodes[i].weights {
			classes[w.target] = true
			if w.value < 0 {
				k.allPositive = false
			}
		}
	}
	k.binaryCase = nc == 2 && len(classes) == 1
	if k.forests, err = newTreeForests(n, def); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *treeClassifier) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 1 || in[0] == nil {
		return fmt.Errorf("missing input X")
	}
	x := in[0]
	n, c, err := mlInput2D(x)
	if err != nil {
		return err
	}
	nc := k.forests.def.nTargets
	var run func(label, probs *Tensor)
	if x.DType == Double {
		f, err := k.forests.float64Forest()
		if err != nil {
			return err
		}
		if err := f.checkFeatures(c); err != nil {
			return err
		}
		run = func(label, probs *Tensor) {
			runTreeClassification(ec, k, f, x.Data.([]float64), n, c, label, probs)
		}
	} else {
		f, err := k.forests.float32Forest()
		if err != nil {
			return err
		}
		if err := f.checkFeatures(c); err != nil {
			return err
		}
		data, tmp, err := mlFloat32Input(ec, x)
		if err != nil {
			return err
		}
		if tmp != nil {
			defer ec.Release(tmp)
		}
		run = func(label, probs *Tensor) { runTreeClassification(ec, k, f, data, n, c, label, probs) }
	}
	var label *Tensor
	if k.labelsStr != nil {
		label = ec.Empty(String, n)
	} else {
		label = ec.Empty(Int64, n)
	}
	probs := ec.Empty(Float, n, nc)
	run(label, probs)
	out[0] = label
	if len(out) > 1 {
		out[1] = probs
	} else {
		ec.Release(probs)
	}
	return nil
}

func runTreeClassification[T treeFloat](ec *Context, k *treeClassifier, f *treeForest[T], x []T, n, c int, label, probs *Tensor) {
	grain, split := treeParallelGrain(n, f.rowsWork(), ec.Workers.Workers())
	if !split {
		treeClassificationRows(k, f, x, c, label, probs, 0, n) // no closure to allocate
		return
	}
	ec.Parallel(n, grain, func(lo, hi int) { treeClassificationRows(k, f, x, c, label, probs, lo, hi) })
}

// treeClassificationRows evaluates rows [lo, hi).
func treeClassificationRows[T treeFloat](k *treeClassifier, f *treeForest[T], x []T, c int, label, probs *Tensor, lo, hi int) {
	nc := f.nTargets
	p := probs.Data.([]float32)
	blk := min(f.blockRows(), hi-lo)
	lb := f.leafBuffer()
	defer f.putLeafBuffer(lb)
	leaves := *lb
	var scBuf [64]T
	var hasBuf [64]bool
	sc, has := scBuf[:], hasBuf[:]
	if blk*nc > len(sc) {
		sc, has = make([]T, blk*nc), make([]bool, blk*nc)
	}
	for b := lo; b < hi; b += blk {
		e := min(b+blk, hi)
		m := (e - b) * nc
		clear(sc[:m])
		clear(has[:m])
		d := b
		if tg := f.oneTarget(); tg >= 0 {
			// Two-class classifiers voting for one class: its sums.
			var sumBuf [64]T
			d = f.sumFast(x, c, b, e, sumBuf[:e-b])
			for i, v := range sumBuf[:d-b] {
				sc[i*nc+tg], has[i*nc+tg] = v, true
			}
		} else {
			d = f.sumDenseFast(x, c, b, e, sc, has)
		}
		if d < e {
			f.collectLeaves(x, c, d, e, leaves)
			f.accumulateN(leaves, e-d, sc[(d-b)*nc:], has[(d-b)*nc:])
		}
		for i := b; i < e; i++ {
			o := (i - b) * nc
			idx := treeClassifyRow(k, f, sc[o:o+nc], has[o:o+nc], p[i*nc:i*nc+nc])
			if k.labelsStr != nil {
				label.Data.([]string)[i] = k.labelsStr[idx.index]
			} else if idx.literal {
				label.Data.([]int64)[i] = int64(idx.index)
			} else {
				label.Data.([]int64)[i] = k.labelsInt[idx.index]
			}
		}
	}
}

// treeLabel is a classifier decision: an index into the class labels, or
// (literal) the value 0 or 1 itself, which onnxruntime emits for two-class
// models whose votes go to both classes.
type treeLabel struct {
	index   int
	literal bool
}

// treeClassifyRow finishes one row of summed votes (s, has) into class
// probabilities (prob) and the predicted label, following onnxruntime's
// rules, including its handling of two-class models that vote for only one
// class.
func treeClassifyRow[T treeFloat](k *treeClassifier, f *treeForest[T], s []T, has []bool, prob []float32) treeLabel {
	nc := len(s)
	base := f.base
	if nc != 2 {
		for j, b := range base {
			if has[j] {
				s[j] += b
			} else {
				s[j], has[j] = b, true
			}
		}
		best := -1
		var bestW T
		for j := range s {
			if has[j] && (best < 0 || s[j] > bestW) {
				best, bestW = j, s[j]
			}
		}
		for j := range s {
			if has[j] {
				prob[j] = float32(s[j])
			} else {
				prob[j] = 0
			}
		}
		mlApplyPost(f.post, prob)
		return treeLabel{index: max(best, 0)}
	}

	s0, s1, h0, h1 := s[0], s[1], has[0], has[1]
	add := -1
	size := 2
	switch len(base) {
	case 2:
		if h1 {
			s1 = base[1] + s0
			s0 = -s1
		} else {
			s1 += base[1]
			s0 += base[0]
		}
	case 1:
		s0 += base[0]
		if !h1 {
			size = 1
		}
	case 0:
		add = 3
		if !h1 {
			size = 1
		}
	}
	var pos T
	switch {
	case size == 2 && h1:
		pos = s1
	case h0:
		pos = s0
	}
	var lbl treeLabel
	switch {
	case k.binaryCase && k.allPositive:
		if pos > 0.5 {
			add, lbl.index = 0, 1
		} else {
			add, lbl.index = 1, 0
		}
	case k.binaryCase:
		if pos > 0 {
			add, lbl.index = 2, 1
		} else {
			add, lbl.index = 3, 0
		}
	default:
		lbl.literal = true
		if pos > 0 {
			lbl.index = 1
		}
	}
	gate := func(v T, h bool) T {
		if h {
			return v
		}
		return 0
	}
	if size == 2 {
		prob[0] = float32(gate(s0, h0))
		prob[1] = float32(gate(s1, h1))
		mlApplyPost(f.post, prob)
		return lbl
	}
	v := gate(s0, h0)
	if f.post == mlPostProbit {
		prob[0], prob[1] = mlProbit(float32(v)), 0
		return lbl
	}
	switch add {
	case 0, 1:
		prob[0], prob[1] = float32(1-v), float32(v)
	case 2, 3:
		if f.post == mlPostLogistic {
			prob[0], prob[1] = mlLogistic(float32(-v)), mlLogistic(float32(v))
		} else {
			prob[0], prob[1] = float32(-v), float32(v)
		}
	default:
		prob[0], prob[1] = float32(v), 0
	}
	return lbl
}
