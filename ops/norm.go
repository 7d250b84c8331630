package ops

import (
	"fmt"
	"math"
)

// registerNorm registers the normalization operators. Factories read the
// opset version where semantics changed (GroupNormalization-21 scales per
// channel, BatchNormalization-14 adds training_mode).
func registerNorm(r *Registry) {
	// Before opset 17, LayerNormalization and SimplifiedLayerNormalization
	// were onnxruntime's own operators in the default domain, with the same
	// attributes; its optimizer (and optimum's) still writes them so.
	r.Add("", "LayerNormalization", 1, newLayerNormKernel)
	r.Add("", "SimplifiedLayerNormalization", 1, newLayerNormKernel)
	r.Add("", "RMSNormalization", 23, newLayerNormKernel)
	r.Add("", "GroupNormalization", 18, newGroupNormKernel)
	r.Add("", "InstanceNormalization", 1, newGroupNormKernel)
	r.Add("", "BatchNormalization", 1, newBatchNormKernel)
	r.Add("", "LpNormalization", 1, newLpNormKernel)
	r.Add("", "MeanVarianceNormalization", 9, newMVNKernel)
	r.Add("", "LRN", 1, newLRNKernel)
}

// normStashType validates a stash_type attribute: the type the statistics
// are computed and output in.
func normStashType(n *Node) (DType, error) {
	st := DType(n.Attrs.Int("stash_type", int64(Float)))
	if !rnIsFloat(st) {
		return 0, fmt.Errorf("stash_type %d is not a float type", int(st))
	}
	return st, nil
}

// layerNormKernel implements LayerNormalization and RMSNormalization over
// the dimensions from axis on. Statistics are computed in float64; the
// normalized values in float32 (float64 for double inputs).
type layerNormKernel struct {
	axis  int
	eps   float64
	rms   bool
	stash DType
}

func newLayerNormKernel(n *Node) (any, error) {
	st, err := normStashType(n)
	if err != nil {
		return nil, err
	}
	eps := n.Attrs.Float("epsilon", 1e-5)
	return &layerNormKernel{
		axis:  int(n.Attrs.Int("axis", -1)),
		eps:   float64(eps),
		rms:   n.OpType == "RMSNormalization" || n.OpType == "SimplifiedLayerNormalization",
		stash: st,
	}, nil
}

func (k *layerNormKernel) Run(ec *Context, in, out []*Tensor) error {
	x, err := rnInput(in, 0, "X")
	if err != nil {
		return err
	}
	scale, err := rnInput(in, 1, "Scale")
	if err != nil {
		return err
	}
	var bias *Tensor
	if !k.rms {
		bias = rnOptional(in, 2)
	}
	if !rnIsFloat(x.DType) {
		return fmt.Errorf("unsupported element type %s", x.DType)
	}
	if x.Rank() == 0 {
		return fmt.Errorf("input must have rank >= 1")
	}
	axis, err := NormalizeAxis(k.axis, x.Rank())
	if err != nil {
		return err
	}
	tmp := rnTemps{ec: ec}
	defer tmp.release()
	if x.DType == Double {
		return layerNormRun[float64](k, &tmp, x, scale, bias, out, axis)
	}
	return layerNormRun[float32](k, &tmp, x, scale, bias, out, axis)
}

func layerNormRun[F float32 | float64](k *layerNormKernel, tmp *rnTemps, x, scale, bias *Tensor, out []*Tensor, axis int) error {
	ec := tmp.ec
	rows, cols := rnSplitAt(x.Shape, axis)
	xs, err := rnFloats[F](tmp, x)
	if err != nil {
		return err
	}
	sc, err := normParam[F](tmp, scale, x.Shape[axis:], "Scale")
	if err != nil {
		return err
	}
	var bs []F
	if bias != nil {
		if bs, err = normParam[F](tmp, bias, x.Shape[axis:], "B"); err != nil {
			return err
		}
	}
	var means, invs []float64
	if len(out) > 1 {
		means = tmp.empty(Double, rows).Float64s()
		invs = tmp.empty(Double, rows).Float64s()
	}
	y := ec.Empty(x.DType, x.Shape...)
	ys := rnOutput[F](tmp, y)
	eps, rms := k.eps, k.rms
	rnRows(ec, rows, cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			m, iv := normRow(xs[r*cols:(r+1)*cols], ys[r*cols:(r+1)*cols], sc, bs, eps, rms)
			if means != nil {
				means[r], invs[r] = m, iv
			}
		}
	})
	rnFinish(y, ys)
	out[0] = y
	if len(out) > 1 {
		statShape := make([]int, x.Rank())
		for i := range statShape {
			statShape[i] = 1
			if i < axis {
				statShape[i] = x.Shape[i]
			}
		}
		stats := [][]float64{means, invs}
		if k.rms {
			stats = stats[1:] // SimplifiedLayerNormalization: Y, inv_std_var
		}
		for i, vals := range stats {
			if 1+i < len(out) {
				t := ec.Empty(k.stash, statShape...)
				narrowFloat64s(t.Data, vals)
				out[1+i] = t
			}
		}
	}
	return nil
}

// normRow normalizes one row: by its mean and variance, or for RMS by its
// root mean square, then applies scale and the optional bias. It returns
// the mean (0 for RMS) and the inverse standard deviation used.
func normRow[F float32 | float64](x, y, scale, bias []F, eps float64, rms bool) (mean, inv float64) {
	n := float64(len(x))
	if !rms {
		mean = normSum(x) / n
	}
	inv = 1 / math.Sqrt(normSqDev(x, mean)/n+eps)
	m, iv := F(mean), F(inv)
	y = y[:len(x)]
	scale = scale[:len(x)]
	if bias == nil {
		for i, v := range x {
			y[i] = (v - m) * iv * scale[i]
		}
		return
	}
	bias = bias[:len(x)]
	for i, v := range x {
		y[i] = (v-m)*iv*scale[i] + bias[i]
	}
	return
}

// normSum returns the float64 sum of x, with four partial sums to hide the
// addition latency.
func normSum[F float32 | float64](x []F) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += float64(x[i])
		s1 += float64(x[i+1])
		s2 += float64(x[i+2])
		s3 += float64(x[i+3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// normSqDev returns the float64 sum of (x[i]-m)^2.
func normSqDev[F float32 | float64](x []F, m float64) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		d0, d1 := float64(x[i])-m, float64(x[i+1])-m
		d2, d3 := float64(x[i+2])-m, float64(x[i+3])-m
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(x); i++ {
		d := float64(x[i]) - m
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

// normParam returns the values of a scale or bias input broadcast to the
// normalized shape.
func normParam[F float32 | float64](tmp *rnTemps, p *Tensor, shape []int, name string) ([]F, error) {
	vals, err := rnFloats[F](tmp, p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	ps := p.Shape
	for len(ps) > len(shape) && ps[0] == 1 {
		ps = ps[1:]
	}
	if EqualShapes(ps, shape) {
		return vals, nil
	}
	if _, err := BroadcastShapes(ps, shape); err != nil || len(ps) > len(shape) {
		return nil, fmt.Errorf("%s of shape %s does not broadcast to the normalized shape %s", name, ShapeString(p.Shape), ShapeString(shape))
	}
	for i, d := range ps {
		if d != 1 && d != shape[len(shape)-len(ps)+i] {
			return nil, fmt.Errorf("%s of shape %s does not broadcast to the normalized shape %s", name, ShapeString(p.Shape), ShapeString(shape))
		}
	}
	full := tmp.empty(DTypeOf[F](), shape...).Data.([]F)
	if err := BroadcastTo(full, shape, vals, ps); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return full, nil
}

// groupNormKernel implements GroupNormalization and InstanceNormalization
// (one group per channel). GroupNormalization-18 takes one scale and bias
// per group, version 21 one per channel.
type groupNormKernel struct {
	eps      float64
	groups   int // 0 for InstanceNormalization
	perGroup bool
}

func newGroupNormKernel(n *Node) (any, error) {
	k := &groupNormKernel{eps: float64(n.Attrs.Float("epsilon", 1e-5))}
	if n.OpType == "GroupNormalization" {
		if !n.Attrs.Has("num_groups") {
			return nil, fmt.Errorf("missing required attribute num_groups")
		}
		g := n.Attrs.Int("num_groups", 0)
		if g <= 0 {
			return nil, fmt.Errorf("num_groups must be positive, got %d", g)
		}
		k.groups = int(g)
		k.perGroup = n.Version < 21
		if _, err := normStashType(n); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func (k *groupNormKernel) Run(ec *Context, in, out []*Tensor) error {
	x, err := rnInput(in, 0, "X")
	if err != nil {
		return err
	}
	scale, err := rnInput(in, 1, "scale")
	if err != nil {
		return err
	}
	bias, err := rnInput(in, 2, "B")
	if err != nil {
		return err
	}
	if !rnIsFloat(x.DType) {
		return fmt.Errorf("unsupported element type %s", x.DType)
	}
	if x.Rank() < 2 {
		return fmt.Errorf("input must have rank >= 2 (N x C x ...), got shape %s", ShapeString(x.Shape))
	}
	c := x.Shape[1]
	g := k.groups
	if g == 0 {
		g = c
	}
	if c%g != 0 {
		return fmt.Errorf("%d channels do not split into %d groups", c, g)
	}
	want := c
	if k.perGroup {
		want = g
	}
	if scale.Len() != want || bias.Len() != want {
		return fmt.Errorf("scale and bias must have %d elements, got shapes %s and %s", want, ShapeString(scale.Shape), ShapeString(bias.Shape))
	}
	tmp := rnTemps{ec: ec}
	defer tmp.release()
	if x.DType == Double {
		return groupNormRun[float64](k, &tmp, x, scale, bias, out, g)
	}
	return groupNormRun[float32](k, &tmp, x, scale, bias, out, g)
}

func groupNormRun[F float32 | float64](k *groupNormKernel, tmp *rnTemps, x, scale, bias *Tensor, out []*Tensor, g int) error {
	ec := tmp.ec
	xs, err := rnFloats[F](tmp, x)
	if err != nil {
		return err
	}
	sc, err := rnFloats[F](tmp, scale)
	if err != nil {
		return fmt.Errorf("scale: %w", err)
	}
	bs, err := rnFloats[F](tmp, bias)
	if err != nil {
		return fmt.Errorf("B: %w", err)
	}
	c := x.Shape[1]
	s := NumElements(x.Shape[2:])
	cg := c / g // channels per group
	blockLen := cg * s
	blocks := x.Shape[0] * g
	y := ec.Empty(x.DType, x.Shape...)
	ys := rnOutput[F](tmp, y)
	eps, perGroup := k.eps, k.perGroup
	rnRows(ec, blocks, blockLen, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			xb := xs[b*blockLen : (b+1)*blockLen]
			yb := ys[b*blockLen : (b+1)*blockLen]
			mean := normSum(xb) / float64(blockLen)
			inv := 1 / math.Sqrt(normSqDev(xb, mean)/float64(blockLen)+eps)
			gi := b % g
			for j := 0; j < cg; j++ {
				p := gi
				if !perGroup {
					p = gi*cg + j
				}
				fm, fa, fb := F(mean), F(inv*float64(sc[p])), bs[p]
				yc := yb[j*s : (j+1)*s]
				for i, v := range xb[j*s : (j+1)*s] {
					yc[i] = (v-fm)*fa + fb
				}
			}
		}
	})
	rnFinish(y, ys)
	out[0] = y
	return nil
}

// batchNormKernel implements BatchNormalization: in inference mode with the
// running statistics (folded into a per-channel mean, scale and bias, at
// plan time when the parameters are constant), in training mode with the
// batch statistics, also returning the updated running mean and variance.
type batchNormKernel struct {
	eps, momentum float64
	training      bool
	// per-channel y = (x-m)*a + b, precomputed from constant parameters
	m, a, b []float64
}

func newBatchNormKernel(n *Node) (any, error) {
	k := &batchNormKernel{
		eps:      float64(n.Attrs.Float("epsilon", 1e-5)),
		momentum: float64(n.Attrs.Float("momentum", 0.9)),
	}
	if n.Version >= 14 {
		k.training = n.Attrs.Int("training_mode", 0) != 0
	}
	if n.Version < 9 && n.Attrs.Int("spatial", 1) == 0 {
		return nil, fmt.Errorf("spatial=0 is not supported")
	}
	if !k.training && len(n.ConstInputs) >= 5 {
		c := n.ConstInputs
		if c[1] != nil && c[2] != nil && c[3] != nil && c[4] != nil {
			m, a, b, err := batchNormFold(c[1], c[2], c[3], c[4], k.eps)
			if err == nil {
				k.m, k.a, k.b = m, a, b
			}
		}
	}
	return k, nil
}

// batchNormFold computes the per-channel mean, scale (scale/sqrt(var+eps))
// and bias of inference-mode batch normalization on the Go heap.
func batchNormFold(scale, bias, mean, variance *Tensor, eps float64) (m, a, b []float64, err error) {
	c := scale.Len()
	var vals [4][]float64
	for i, t := range []*Tensor{scale, bias, mean, variance} {
		if t.Len() != c {
			return nil, nil, nil, fmt.Errorf("parameter %d has shape %s, want %d elements", i+1, ShapeString(t.Shape), c)
		}
		if !rnIsFloat(t.DType) {
			return nil, nil, nil, fmt.Errorf("parameter %d has unsupported type %s", i+1, t.DType)
		}
		if vals[i], err = t.AsFloat64s(); err != nil {
			return nil, nil, nil, err
		}
	}
	a = make([]float64, c)
	for i := range a {
		a[i] = vals[0][i] / math.Sqrt(vals[3][i]+eps)
	}
	return vals[2], a, vals[1], nil
}

func (k *batchNormKernel) Run(ec *Context, in, out []*Tensor) error {
	var p [5]*Tensor
	for i, name := range []string{"X", "scale", "B", "input_mean", "input_var"} {
		t, err := rnInput(in, i, name)
		if err != nil {
			return err
		}
		p[i] = t
	}
	x := p[0]
	if !rnIsFloat(x.DType) {
		return fmt.Errorf("unsupported element type %s", x.DType)
	}
	if x.Rank() < 2 {
		return fmt.Errorf("input must have rank >= 2 (N x C x ...), got shape %s", ShapeString(x.Shape))
	}
	c := x.Shape[1]
	for i := 1; i < 5; i++ {
		if p[i].Len() != c || !rnIsFloat(p[i].DType) {
			return fmt.Errorf("input %d must be a float tensor of %d elements, got %s%s", i, c, p[i].DType, ShapeString(p[i].Shape))
		}
	}
	tmp := rnTemps{ec: ec}
	defer tmp.release()
	if x.DType == Double {
		return batchNormRun[float64](k, &tmp, p, out)
	}
	return batchNormRun[float32](k, &tmp, p, out)
}

func batchNormRun[F float32 | float64](k *batchNormKernel, tmp *rnTemps, p [5]*Tensor, out []*Tensor) error {
	ec := tmp.ec
	x := p[0]
	n, c := x.Shape[0], x.Shape[1]
	s := NumElements(x.Shape[2:])
	xs, err := rnFloats[F](tmp, x)
	if err != nil {
		return err
	}
	m, a, b := k.m, k.a, k.b
	var bmean, bvar []float64
	if k.training {
		bmean = tmp.empty(Double, c).Float64s()
		bvar = tmp.empty(Double, c).Float64s()
		batchNormStats(xs, n, c, s, bmean, bvar)
	}
	if k.training || len(a) != c {
		var par [4][]float64
		for i := range par {
			if par[i], err = rnFloats[float64](tmp, p[1+i]); err != nil {
				return err
			}
		}
		m, b = par[2], par[1]
		variance := par[3]
		if k.training {
			m, variance = bmean, bvar
		}
		a = tmp.empty(Double, c).Float64s()
		for i := range a {
			a[i] = par[0][i] / math.Sqrt(variance[i]+k.eps)
		}
		if k.training {
			if err := batchNormRunning(ec, k.momentum, p, par[2], par[3], bmean, bvar, out); err != nil {
				return err
			}
		}
	}
	y := ec.Empty(x.DType, x.Shape...)
	ys := rnOutput[F](tmp, y)
	rnRows(ec, n*c, s, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			ch := r % c
			fm, fa, fb := F(m[ch]), F(a[ch]), F(b[ch])
			yr := ys[r*s : (r+1)*s]
			for i, v := range xs[r*s : (r+1)*s] {
				yr[i] = (v-fm)*fa + fb
			}
		}
	})
	rnFinish(y, ys)
	out[0] = y
	if !k.training {
		for i := 1; i < len(out); i++ {
			// Outputs of the pre-14 training signature: pass the running
			// statistics through.
			src := p[3]
			if i%2 == 0 {
				src = p[4]
			}
			t := ec.Empty(src.DType, src.Shape...)
			CopySlice(t.Data, src.Data)
			out[i] = t
		}
	}
	return nil
}

// batchNormStats computes the per-channel mean and (population) variance of
// x over the batch and spatial dimensions.
func batchNormStats[F float32 | float64](xs []F, n, c, s int, mean, variance []float64) {
	cnt := float64(n * s)
	for ch := 0; ch < c; ch++ {
		var sum float64
		for i := 0; i < n; i++ {
			for _, v := range xs[(i*c+ch)*s : (i*c+ch+1)*s] {
				sum += float64(v)
			}
		}
		m := sum / cnt
		var q float64
		for i := 0; i < n; i++ {
			for _, v := range xs[(i*c+ch)*s : (i*c+ch+1)*s] {
				d := float64(v) - m
				q += d * d
			}
		}
		mean[ch], variance[ch] = m, q/cnt
	}
}

// batchNormRunning writes the training-mode running_mean and running_var
// outputs: momentum*input + (1-momentum)*batch statistic.
func batchNormRunning(ec *Context, momentum float64, p [5]*Tensor, inMean, inVar, bmean, bvar []float64, out []*Tensor) error {
	for i, pair := range [2][2][]float64{{inMean, bmean}, {inVar, bvar}} {
		if 1+i >= len(out) {
			break
		}
		src := p[3+i]
		t := ec.Empty(src.DType, src.Shape...)
		vals := make([]float64, len(pair[0]))
		for j := range vals {
			vals[j] = pair[0][j]*momentum + pair[1][j]*(1-momentum)
		}
		narrowFloat64s(t.Data, vals)
		out[1+i] = t
	}
	return nil
}

// lpNormKernel implements LpNormalization: x divided by its L1 or L2 norm
// along axis (0 where the norm is 0).
type lpNormKernel struct {
	axis int
	p    int
}

func newLpNormKernel(n *Node) (any, error) {
	p := n.Attrs.Int("p", 2)
	if p != 1 && p != 2 {
		return nil, fmt.Errorf("p must be 1 or 2, got %d", p)
	}
	return &lpNormKernel{axis: int(n.Attrs.Int("axis", -1)), p: int(p)}, nil
}

func (k *lpNormKernel) Run(ec *Context, in, out []*Tensor) error {
	x, err := rnInput(in, 0, "input")
	if err != nil {
		return err
	}
	if !rnIsFloat(x.DType) {
		return fmt.Errorf("unsupported element type %s", x.DType)
	}
	if x.Rank() == 0 {
		return fmt.Errorf("input must have rank >= 1")
	}
	axis, err := NormalizeAxis(k.axis, x.Rank())
	if err != nil {
		return err
	}
	tmp := rnTemps{ec: ec}
	defer tmp.release()
	if x.DType == Double {
		return lpNormRun[float64](&tmp, x, out, axis, k.p)
	}
	return lpNormRun[float32](&tmp, x, out, axis, k.p)
}

func lpNormRun[F float32 | float64](tmp *rnTemps, x *Tensor, out []*Tensor, axis, p int) error {
	ec := tmp.ec
	xs, err := rnFloats[F](tmp, x)
	if err != nil {
		return err
	}
	outer, n, inner := rnSplit3(x.Shape, axis)
	y := ec.Empty(x.DType, x.Shape...)
	ys := rnOutput[F](tmp, y)
	rnRows(ec, outer, n*inner, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			for i := 0; i < inner; i++ {
				off := o*n*inner + i
				end := off + n*inner
				var norm float64
				for q := off; q < end; q += inner {
					v := float64(xs[q])
					if p == 1 {
						norm += math.Abs(v)
					} else {
						norm += v * v
					}
				}
				if p == 2 {
					norm = math.Sqrt(norm)
				}
				for q := off; q < end; q += inner {
					if norm == 0 {
						ys[q] = 0
					} else {
						ys[q] = F(float64(xs[q]) / norm)
					}
				}
			}
		}
	})
	rnFinish(y, ys)
	out[0] = y
	return nil
}

// mvnKernel implements MeanVarianceNormalization:
// (x - mean) / (sqrt(E[x^2] - mean^2) + 1e-9) over axes.
type mvnKernel struct {
	axes []int64
}

func newMVNKernel(n *Node) (any, error) {
	axes, ok := n.Attrs.Ints("axes")
	if !ok {
		axes = []int64{0, 2, 3}
	}
	if err := rnCheckUnique(axes); err != nil {
		return nil, err
	}
	return &mvnKernel{axes: axes}, nil
}

func (k *mvnKernel) Run(ec *Context, in, out []*Tensor) error {
	x, err := rnInput(in, 0, "X")
	if err != nil {
		return err
	}
	if !rnIsFloat(x.DType) {
		return fmt.Errorf("unsupported element type %s", x.DType)
	}
	rank := x.Rank()
	if rank > maxRank {
		return fmt.Errorf("rank %d exceeds the supported %d", rank, maxRank)
	}
	var mask [maxRank]bool
	statShape := append([]int(nil), x.Shape...)
	for _, a := range k.axes {
		ax, err := NormalizeAxis(int(a), rank)
		if err != nil {
			return err
		}
		if mask[ax] {
			return fmt.Errorf("axis %d is repeated in axes", a)
		}
		mask[ax] = true
		statShape[ax] = 1
	}
	var plan reducePlan
	if err := newReducePlan(&plan, x.Shape, mask[:rank]); err != nil {
		return err
	}
	tmp := rnTemps{ec: ec}
	defer tmp.release()
	if x.DType == Double {
		return mvnRun[float64](&tmp, &plan, x, statShape, out)
	}
	return mvnRun[float32](&tmp, &plan, x, statShape, out)
}

func mvnRun[F float32 | float64](tmp *rnTemps, plan *reducePlan, x *Tensor, statShape []int, out []*Tensor) error {
	ec := tmp.ec
	xs, err := rnFloats[F](tmp, x)
	if err != nil {
		return err
	}
	mean := tmp.empty(DTypeOf[F](), statShape...).Data.([]F)
	den := tmp.empty(DTypeOf[F](), statShape...).Data.([]F)
	meanFin := func(a float64, n int) F { return F(a / float64(n)) }
	reduceDrive(ec, plan, xs, mean, 0, rdRunSum[F, float64], meanFin)
	reduceDrive(ec, plan, xs, den, 0, rdRunSq[F, float64], meanFin)
	for i, m := range mean {
		v := den[i] - m*m
		den[i] = F(math.Sqrt(float64(v))) + 1e-9
	}
	y := ec.Empty(x.DType, x.Shape...)
	ys := rnOutput[F](tmp, y)
	if err := Ternary(ys, x.Shape, xs, x.Shape, mean, statShape, den, statShape, func(v, m, d F) F {
		return (v - m) / d
	}); err != nil {
		ec.Release(y)
		return err
	}
	rnFinish(y, ys)
	out[0] = y
	return nil
}

// lrnKernel implements LRN, local response normalization across channels:
// y = x / (bias + alpha/size * sum of x^2 over a window of size channels)^beta.
type lrnKernel struct {
	alpha, beta, bias float64
	size              int
}

func newLRNKernel(n *Node) (any, error) {
	if !n.Attrs.Has("size") {
		return nil, fmt.Errorf("missing required attribute size")
	}
	size := n.Attrs.Int("size", 0)
	if size <= 0 {
		return nil, fmt.Errorf("size must be positive, got %d", size)
	}
	return &lrnKernel{
		alpha: float64(n.Attrs.Float("alpha", 1e-4)),
		beta:  float64(n.Attrs.Float("beta", 0.75)),
		bias:  float64(n.Attrs.Float("bias", 1)),
		size:  int(size),
	}, nil
}

func (k *lrnKernel) Run(ec *Context, in, out []*Tensor) error {
	x, err := rnInput(in, 0, "X")
	if err != nil {
		return err
	}
	if !rnIsFloat(x.DType) {
		return fmt.Errorf("unsupported element type %s", x.DType)
	}
	if x.Rank() < 2 {
		return fmt.Errorf("input must have rank >= 2 (N x C x ...), got shape %s", ShapeString(x.Shape))
	}
	tmp := rnTemps{ec: ec}
	defer tmp.release()
	xs, err := rnFloats[float64](&tmp, x)
	if err != nil {
		return err
	}
	n, c := x.Shape[0], x.Shape[1]
	s := NumElements(x.Shape[2:])
	y := ec.Empty(x.DType, x.Shape...)
	ys := rnOutput[float64](&tmp, y)
	before, after := (k.size-1)/2, k.size/2 // floor and ceil of (size-1)/2
	scale := k.alpha / float64(k.size)
	rnRows(ec, n*c, s*k.size, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			b, ch := r/c, r%c
			c0, c1 := max(0, ch-before), min(c-1, ch+after)
			for i := 0; i < s; i++ {
				var sq float64
				for cc := c0; cc <= c1; cc++ {
					v := xs[(b*c+cc)*s+i]
					sq += v * v
				}
				ys[r*s+i] = xs[r*s+i] / math.Pow(k.bias+scale*sq, k.beta)
			}
		}
	})
	rnFinish(y, ys)
	out[0] = y
	return nil
}
