package ops

import (
	"fmt"
	"math"
)

// Linear and kernel models of the ai.onnx.ml domain: LinearRegressor,
// LinearClassifier, SVMRegressor and SVMClassifier. Inputs are converted to
// float32 and scores computed in float32, as onnxruntime does; its
// conventions for two-class models (one score column expanded to two) are
// followed.

func registerMLLinear(r *Registry) {
	r.Add(DomainML, "LinearRegressor", 1, newMLLinearRegressor)
	r.Add(DomainML, "LinearClassifier", 1, newMLLinearClassifier)
	r.Add(DomainML, "SVMRegressor", 1, newMLSVMRegressor)
	r.Add(DomainML, "SVMClassifier", 1, newMLSVMClassifier)
}

// mlLinearScores computes y[n, t] = sum_c x[n, c]*w[t, c] (+ b[t]).
func mlLinearScores(x []float32, n, c int, w, b []float32, t int, y []float32) {
	for r := 0; r < n; r++ {
		row := x[r*c : r*c+c]
		for j := 0; j < t; j++ {
			wr := w[j*c : j*c+c]
			var s float32
			for k, v := range row {
				s += v * wr[k]
			}
			if b != nil {
				s += b[j]
			}
			y[r*t+j] = s
		}
	}
}

// mlUpdateScores applies a post-transform to n rows of width scores each, the
// way onnxruntime's batched score update does. With one score per row and
// addSecond >= 0, each score s becomes a pair written to out (2 per row):
// [1-s, s] for addSecond 0 or 1, and for 2 or 3 [-s, s] (or, with
// LOGISTIC, [logistic(-s), logistic(s)]). scores and out may be the same
// slice only when no pair expansion happens.
func mlUpdateScores(scores []float32, n, width int, post mlPostTransform, addSecond int, out []float32) {
	if width > 1 || (post != mlPostProbit && addSecond < 0) {
		if width > 1 {
			for r := 0; r < n; r++ {
				mlApplyPost(post, scores[r*width:r*width+width])
			}
		}
		copy(out, scores[:n*width])
		return
	}
	if post == mlPostProbit {
		for r := n - 1; r >= 0; r-- { // backwards: out may overlap scores
			if addSecond >= 0 {
				out[2*r], out[2*r+1] = mlProbit(scores[r]), 0
			} else {
				out[r] = mlProbit(scores[r])
			}
		}
		return
	}
	for r := n - 1; r >= 0; r-- { // backwards: out may overlap scores
		s := scores[r]
		switch addSecond {
		case 0, 1:
			out[2*r], out[2*r+1] = 1-s, s
		default:
			if post == mlPostLogistic {
				out[2*r], out[2*r+1] = mlLogistic(-s), mlLogistic(s)
			} else {
				out[2*r], out[2*r+1] = -s, s
			}
		}
	}
}

// ---------------------------------------------------------------------------
// LinearRegressor

type mlLinearRegressor struct {
	coef, intercepts []float32
	targets          int
	post             mlPostTransform
}

func newMLLinearRegressor(n *Node) (any, error) {
	a := n.Attrs
	k := &mlLinearRegressor{targets: int(a.Int("targets", 1))}
	k.coef, _ = a.Floats("coefficients")
	k.intercepts, _ = a.Floats("intercepts")
	var err error
	if k.post, err = mlParsePostTransform(a); err != nil {
		return nil, err
	}
	if k.targets <= 0 {
		return nil, fmt.Errorf("targets must be positive, got %d", k.targets)
	}
	if len(k.coef) == 0 || len(k.coef)%k.targets != 0 {
		return nil, fmt.Errorf("coefficients has %d elements, not a positive multiple of targets=%d", len(k.coef), k.targets)
	}
	if len(k.intercepts) != 0 && len(k.intercepts) != k.targets {
		return nil, fmt.Errorf("intercepts has %d elements, expected %d (one per target)", len(k.intercepts), k.targets)
	}
	if len(k.intercepts) == 0 {
		k.intercepts = nil
	}
	return k, nil
}

func (k *mlLinearRegressor) Run(ec *Context, in, out []*Tensor) error {
	x := in[0]
	n, c, err := mlInput2D(x)
	if err != nil {
		return err
	}
	if c*k.targets != len(k.coef) {
		return fmt.Errorf("the input has %d features but the coefficients expect %d", c, len(k.coef)/k.targets)
	}
	data, tmp, err := mlFloat32Input(ec, x)
	if err != nil {
		return err
	}
	y := ec.Empty(Float, n, k.targets)
	yd := y.Data.([]float32)
	mlLinearScores(data, n, c, k.coef, k.intercepts, k.targets, yd)
	if tmp != nil {
		ec.Release(tmp)
	}
	mlUpdateScores(yd, n, k.targets, k.post, -1, yd)
	out[0] = y
	return nil
}

// ---------------------------------------------------------------------------
// LinearClassifier

type mlLinearClassifier struct {
	coef, intercepts []float32
	classes          int
	labelsInt        []int64
	labelsStr        []string
	post             mlPostTransform
	addSecond        bool // one score column, two labels: output [1-s, s]
}

func newMLLinearClassifier(n *Node) (any, error) {
	a := n.Attrs
	k := &mlLinearClassifier{}
	k.coef, _ = a.Floats("coefficients")
	k.intercepts, _ = a.Floats("intercepts")
	k.labelsInt, _ = a.Ints("classlabels_ints")
	k.labelsStr, _ = a.Strings("classlabels_strings")
	var err error
	if k.post, err = mlParsePostTransform(a); err != nil {
		return nil, err
	}
	k.classes = len(k.intercepts)
	if k.classes == 0 {
		return nil, fmt.Errorf("attribute intercepts is empty")
	}
	if len(k.coef) == 0 || len(k.coef)%k.classes != 0 {
		return nil, fmt.Errorf("coefficients has %d elements, not a positive multiple of the %d classes", len(k.coef), k.classes)
	}
	nl := len(k.labelsInt)
	if len(k.labelsStr) > 0 {
		if nl > 0 {
			return nil, fmt.Errorf("only one of classlabels_ints and classlabels_strings may be set")
		}
		nl = len(k.labelsStr)
		k.labelsInt = nil
	} else {
		k.labelsStr = nil
	}
	if k.classes > 1 && nl < k.classes {
		return nil, fmt.Errorf("%d class labels for %d classes", nl, k.classes)
	}
	k.addSecond = k.classes == 1 && nl == 2
	return k, nil
}

func (k *mlLinearClassifier) Run(ec *Context, in, out []*Tensor) error {
	x := in[0]
	n, c, err := mlInput2D(x)
	if err != nil {
		return err
	}
	if c*k.classes != len(k.coef) {
		return fmt.Errorf("the input has %d features but the coefficients expect %d", c, len(k.coef)/k.classes)
	}
	data, tmp, err := mlFloat32Input(ec, x)
	if err != nil {
		return err
	}
	width := k.classes
	if k.addSecond {
		width = 2
	}
	z := ec.Empty(Float, n, width)
	zd := z.Data.([]float32)
	scores := zd[:n*k.classes]
	mlLinearScores(data, n, c, k.coef, k.intercepts, k.classes, scores)
	if tmp != nil {
		ec.Release(tmp)
	}
	var label *Tensor
	if k.labelsStr != nil {
		label = ec.Empty(String, n)
	} else {
		label = ec.Empty(Int64, n)
	}
	for r := 0; r < n; r++ {
		best := 0
		if k.classes == 1 {
			if scores[r] > 0 {
				best = 1
			}
			if len(k.labelsStr)+len(k.labelsInt) != 2 { // no labels for the two outcomes
				if k.labelsStr != nil {
					label.Data.([]string)[r] = [2]string{"0", "1"}[best]
				} else {
					label.Data.([]int64)[r] = int64(best)
				}
				continue
			}
		} else {
			row := scores[r*k.classes : r*k.classes+k.classes]
			for j, v := range row {
				if v > row[best] {
					best = j
				}
			}
		}
		if k.labelsStr != nil {
			label.Data.([]string)[r] = k.labelsStr[best]
		} else {
			label.Data.([]int64)[r] = k.labelsInt[best]
		}
	}
	add := -1
	if k.addSecond {
		add = 1
	}
	mlUpdateScores(scores, n, k.classes, k.post, add, zd)
	out[0] = label
	if len(out) > 1 {
		out[1] = z
	} else {
		ec.Release(z)
	}
	return nil
}

// ---------------------------------------------------------------------------
// SVM kernels

type svmKernelType uint8

const (
	svmLinear svmKernelType = iota
	svmPoly
	svmRBF
	svmSigmoid
)

type svmKernel struct {
	typ                  svmKernelType
	gamma, coef0, degree float32
}

func parseSVMKernel(a *Attrs) (svmKernel, error) {
	var k svmKernel
	switch s := a.String("kernel_type", "LINEAR"); s {
	case "LINEAR":
		k.typ = svmLinear
	case "POLY":
		k.typ = svmPoly
	case "RBF":
		k.typ = svmRBF
	case "SIGMOID":
		k.typ = svmSigmoid
	default:
		return k, fmt.Errorf("kernel_type %q is not one of LINEAR, POLY, RBF, SIGMOID", s)
	}
	if p, _ := a.Floats("kernel_params"); len(p) > 0 {
		if len(p) < 3 {
			return k, fmt.Errorf("kernel_params has %d elements, expected 3 (gamma, coef0, degree)", len(p))
		}
		k.gamma, k.coef0, k.degree = p[0], p[1], p[2]
	}
	return k, nil
}

// apply computes the kernel of rows x (n x c) against vectors v (m x c)
// into out (n x m); for the linear kernel c0 is added.
func (k svmKernel) apply(x []float32, n, c int, v []float32, m int, c0 float32, out []float32) {
	for r := 0; r < n; r++ {
		row := x[r*c : r*c+c]
		for j := 0; j < m; j++ {
			vec := v[j*c : j*c+c]
			var s float32
			if k.typ == svmRBF {
				for i, a := range row {
					d := a - vec[i]
					s += d * d
				}
				out[r*m+j] = mlExp32(-k.gamma * s)
				continue
			}
			for i, a := range row {
				s += a * vec[i]
			}
			switch k.typ {
			case svmLinear:
				s += c0
			case svmPoly:
				s = k.gamma*s + k.coef0
				switch k.degree {
				case 2:
					s = s * s
				case 3:
					s = s * s * s
				default:
					s = float32(math.Pow(float64(s), float64(k.degree)))
				}
			case svmSigmoid:
				s = float32(math.Tanh(float64(k.gamma*s + k.coef0)))
			}
			out[r*m+j] = s
		}
	}
}

// ---------------------------------------------------------------------------
// SVMRegressor

type mlSVMRegressor struct {
	kernel   svmKernel
	coef     []float32
	sv       []float32
	rho      float32
	nsv      int
	features int
	oneClass bool
}

func newMLSVMRegressor(n *Node) (any, error) {
	a := n.Attrs
	kern, err := parseSVMKernel(a)
	if err != nil {
		return nil, err
	}
	k := &mlSVMRegressor{kernel: kern, nsv: int(a.Int("n_supports", 0)), oneClass: a.Int("one_class", 0) != 0}
	k.coef, _ = a.Floats("coefficients")
	k.sv, _ = a.Floats("support_vectors")
	rho, _ := a.Floats("rho")
	if len(rho) == 0 {
		return nil, fmt.Errorf("attribute rho is missing")
	}
	k.rho = rho[0]
	if len(k.coef) == 0 {
		return nil, fmt.Errorf("attribute coefficients is empty")
	}
	if _, err := mlParsePostTransform(a); err != nil {
		return nil, err
	}
	if k.nsv < 0 {
		return nil, fmt.Errorf("n_supports is negative")
	}
	if k.nsv > 0 {
		if len(k.sv)%k.nsv != 0 || len(k.sv) == 0 {
			return nil, fmt.Errorf("support_vectors has %d elements, not a multiple of n_supports=%d", len(k.sv), k.nsv)
		}
		if len(k.coef) != k.nsv {
			return nil, fmt.Errorf("coefficients has %d elements, expected n_supports=%d", len(k.coef), k.nsv)
		}
		k.features = len(k.sv) / k.nsv
	} else {
		k.features = len(k.coef)
		k.kernel.typ = svmLinear
	}
	return k, nil
}

func (k *mlSVMRegressor) Run(ec *Context, in, out []*Tensor) error {
	x := in[0]
	n, c, err := mlInput2D(x)
	if err != nil {
		return err
	}
	if c != k.features {
		return fmt.Errorf("the input has %d features, the model expects %d", c, k.features)
	}
	data, tmp, err := mlFloat32Input(ec, x)
	if err != nil {
		return err
	}
	if tmp != nil {
		defer ec.Release(tmp)
	}
	y := ec.Empty(Float, n, 1)
	yd := y.Data.([]float32)
	if k.nsv > 0 {
		kt := ec.Empty(Float, n*k.nsv)
		kd := kt.Data.([]float32)
		k.kernel.apply(data, n, c, k.sv, k.nsv, 0, kd)
		mlLinearScores(kd, n, k.nsv, k.coef, []float32{k.rho}, 1, yd)
		ec.Release(kt)
	} else {
		k.kernel.apply(data, n, c, k.coef, 1, k.rho, yd)
	}
	if k.oneClass {
		for i, v := range yd {
			if v > 0 {
				yd[i] = 1
			} else {
				yd[i] = -1
			}
		}
	}
	out[0] = y
	return nil
}

// ---------------------------------------------------------------------------
// SVMClassifier

type mlSVMClassifier struct {
	kernel       svmKernel
	coef, sv     []float32
	rho          []float32
	probA, probB []float32
	perClass     []int
	start        []int
	nsv          int
	classes      int
	features     int
	linear       bool // liblinear mode: one coefficient row per class
	labelsInt    []int64
	labelsStr    []string
	post         mlPostTransform
	allPositive  bool
}

func newMLSVMClassifier(n *Node) (any, error) {
	a := n.Attrs
	kern, err := parseSVMKernel(a)
	if err != nil {
		return nil, err
	}
	k := &mlSVMClassifier{kernel: kern}
	if k.post, err = mlParsePostTransform(a); err != nil {
		return nil, err
	}
	k.coef, _ = a.Floats("coefficients")
	k.sv, _ = a.Floats("support_vectors")
	k.rho, _ = a.Floats("rho")
	k.probA, _ = a.Floats("prob_a")
	k.probB, _ = a.Floats("prob_b")
	k.labelsInt, _ = a.Ints("classlabels_ints")
	k.labelsStr, _ = a.Strings("classlabels_strings")
	vpc, _ := a.Ints("vectors_per_class")
	switch {
	case len(k.labelsStr) > 0 && len(k.labelsInt) > 0:
		return nil, fmt.Errorf("only one of classlabels_ints and classlabels_strings may be set")
	case len(k.labelsStr) > 0:
		k.classes, k.labelsInt = len(k.labelsStr), nil
	case len(k.labelsInt) > 0:
		k.classes, k.labelsStr = len(k.labelsInt), nil
	default:
		return nil, fmt.Errorf("one of classlabels_ints and classlabels_strings must be set")
	}
	if len(k.probA) != len(k.probB) {
		return nil, fmt.Errorf("prob_a has %d elements and prob_b %d: they must match", len(k.probA), len(k.probB))
	}
	if len(k.coef) == 0 {
		return nil, fmt.Errorf("attribute coefficients is empty")
	}
	if len(k.rho) == 0 {
		return nil, fmt.Errorf("attribute rho is empty")
	}
	for i, v := range vpc {
		if v < 0 {
			return nil, fmt.Errorf("vectors_per_class[%d] = %d is negative", i, v)
		}
		k.start = append(k.start, k.nsv)
		k.perClass = append(k.perClass, int(v))
		k.nsv += int(v)
	}
	pairs := k.classes * (k.classes - 1) / 2
	if k.nsv > 0 {
		if k.classes < 2 {
			return nil, fmt.Errorf("a support vector classifier needs at least two classes, got %d", k.classes)
		}
		if len(vpc) != k.classes {
			return nil, fmt.Errorf("vectors_per_class has %d entries for %d classes", len(vpc), k.classes)
		}
		if len(k.sv)%k.nsv != 0 || len(k.sv) == 0 {
			return nil, fmt.Errorf("support_vectors has %d elements, not a multiple of the %d support vectors", len(k.sv), k.nsv)
		}
		k.features = len(k.sv) / k.nsv
		if len(k.coef) < (k.classes-1)*k.nsv {
			return nil, fmt.Errorf("coefficients has %d elements, expected (classes-1)*vectors = %d", len(k.coef), (k.classes-1)*k.nsv)
		}
		if len(k.rho) < pairs {
			return nil, fmt.Errorf("rho has %d elements, expected one per class pair (%d)", len(k.rho), pairs)
		}
		if len(k.probA) > 0 && len(k.probA) < pairs {
			return nil, fmt.Errorf("prob_a has %d elements, expected one per class pair (%d)", len(k.probA), pairs)
		}
	} else {
		k.linear = true
		k.kernel.typ = svmLinear
		if len(k.coef)%k.classes != 0 {
			return nil, fmt.Errorf("coefficients has %d elements, not a multiple of the %d classes", len(k.coef), k.classes)
		}
		k.features = len(k.coef) / k.classes
	}
	k.allPositive = true
	for _, v := range k.coef {
		if v < 0 {
			k.allPositive = false
		}
	}
	return k, nil
}

func (k *mlSVMClassifier) Run(ec *Context, in, out []*Tensor) error {
	x := in[0]
	n, c, err := mlInput2D(x)
	if err != nil {
		return err
	}
	if c != k.features {
		return fmt.Errorf("the input has %d features, the model expects %d", c, k.features)
	}
	data, tmp, err := mlFloat32Input(ec, x)
	if err != nil {
		return err
	}
	if tmp != nil {
		defer ec.Release(tmp)
	}
	nc := k.classes
	pairs := nc * (nc - 1) / 2
	haveProba := len(k.probA) > 0
	width := nc // scores per row in the output
	nScores := nc
	add := -1
	if !k.linear && !haveProba {
		nScores = pairs
		if nc > 2 {
			width = pairs
		} else {
			width = 2
			add = 0
			if k.post == mlPostNone {
				add = 2
			}
		}
	}
	z := ec.Empty(Float, n, width)
	zd := z.Data.([]float32)
	var label *Tensor
	if k.labelsStr != nil {
		label = ec.Empty(String, n)
	} else {
		label = ec.Empty(Int64, n)
	}

	var kern, pairScores, probs2, q, qp []float32
	var votes []int
	if k.linear {
		k.kernel.apply(data, n, c, k.coef, nc, k.rho[0], zd)
	} else {
		kern = make([]float32, k.nsv)
		pairScores = make([]float32, pairs)
		votes = make([]int, nc)
		if haveProba {
			probs2 = make([]float32, nc*nc)
			q = make([]float32, nc*nc)
			qp = make([]float32, nc)
		}
	}
	for r := 0; r < n; r++ {
		row := zd[r*width : r*width+width]
		maxWeight := float32(0)
		best := 0
		if k.linear {
			for j, v := range row {
				if v > row[best] {
					best = j
				}
			}
			maxWeight = row[best]
		} else {
			k.kernel.apply(data[r*c:r*c+c], 1, c, k.sv, k.nsv, 0, kern)
			clear(votes)
			idx := 0
			for i := 0; i < nc-1; i++ {
				for j := i + 1; j < nc; j++ {
					var sum float64
					ci := k.coef[(j-1)*k.nsv+k.start[i]:]
					for m := 0; m < k.perClass[i]; m++ {
						sum += float64(ci[m] * kern[k.start[i]+m])
					}
					cj := k.coef[i*k.nsv+k.start[j]:]
					for m := 0; m < k.perClass[j]; m++ {
						sum += float64(cj[m] * kern[k.start[j]+m])
					}
					sum += float64(k.rho[idx])
					pairScores[idx] = float32(sum)
					if sum > 0 {
						votes[i]++
					} else {
						votes[j]++
					}
					idx++
				}
			}
			for j, v := range votes {
				if v > votes[best] {
					best = j
				}
			}
			if haveProba {
				clear(probs2)
				idx := 0
				for i := 0; i < nc-1; i++ {
					for j := i + 1; j < nc; j++ {
						p := 1 - mlLogistic(pairScores[idx]*k.probA[idx]+k.probB[idx])
						p = min(max(p, 1e-7), 1-1e-7)
						probs2[i*nc+j] = p
						probs2[j*nc+i] = 1 - p
						idx++
					}
				}
				mlPairwiseCoupling(nc, probs2, row, q, qp)
			} else {
				copy(row, pairScores)
			}
		}
		k.setLabel(label, r, best, maxWeight, haveProba)
		if add >= 0 {
			mlUpdateScores(row[:1], 1, 1, k.post, add, row)
		} else {
			mlUpdateScores(row[:nScores], 1, nScores, k.post, -1, row)
		}
	}
	out[0] = label
	if len(out) > 1 {
		out[1] = z
	} else {
		ec.Release(z)
	}
	return nil
}

// setLabel writes row r's label: the best class, except that a two-class
// model without probabilities picks the second class when its score
// (maxWeight) is positive (at least 0.5 when all coefficients are
// non-negative), as onnxruntime does.
func (k *mlSVMClassifier) setLabel(label *Tensor, r, best int, maxWeight float32, haveProba bool) {
	idx := best
	if k.classes == 2 && !haveProba && ((k.allPositive && maxWeight >= 0.5) || (!k.allPositive && maxWeight > 0)) {
		idx = 1
	}
	if k.labelsStr != nil {
		label.Data.([]string)[r] = k.labelsStr[idx]
	} else {
		label.Data.([]int64)[r] = k.labelsInt[idx]
	}
}

// mlPairwiseCoupling turns pairwise class probabilities r (k x k, r[i][j] the
// probability of i over j) into class probabilities p, by the iterative
// method of Wu, Lin and Weng (2004) used by libsvm, in float32. q (k x k)
// and qp (k) are scratch space.
func mlPairwiseCoupling(k int, r, p, q, qp []float32) {
	clear(q)
	eps := 0.005 / float32(k)
	for t := 0; t < k; t++ {
		p[t] = 1 / float32(k)
		for j := 0; j < t; j++ {
			q[t*k+t] += r[j*k+t] * r[j*k+t]
			q[t*k+j] = q[j*k+t]
		}
		for j := t + 1; j < k; j++ {
			q[t*k+t] += r[j*k+t] * r[j*k+t]
			q[t*k+j] = -r[j*k+t] * r[t*k+j]
		}
	}
	for iter := 0; iter < 100; iter++ {
		var pqp float32
		for t := 0; t < k; t++ {
			qp[t] = 0
			for j := 0; j < k; j++ {
				qp[t] += q[t*k+j] * p[j]
			}
			pqp += p[t] * qp[t]
		}
		var maxErr float32
		for t := 0; t < k; t++ {
			maxErr = max(maxErr, mlAbs32(qp[t]-pqp))
		}
		if maxErr < eps {
			break
		}
		for t := 0; t < k; t++ {
			diff := (-qp[t] + pqp) / q[t*k+t]
			p[t] += diff
			pqp = (pqp + diff*(diff*q[t*k+t]+2*qp[t])) / (1 + diff) / (1 + diff)
			for j := 0; j < k; j++ {
				qp[j] = (qp[j] + diff*q[t*k+j]) / (1 + diff)
				p[j] /= 1 + diff
			}
		}
	}
}
