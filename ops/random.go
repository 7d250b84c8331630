package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// registerRandom registers the random generators: RandomNormal,
// RandomUniform, their -Like variants, Bernoulli and Multinomial.
//
// A node with a seed attribute draws from a PCG generator seeded from it
// afresh on every run, so it yields the same values each time (though not
// those of numpy or other runtimes); without a seed every run draws a new
// seed.
func registerRandom(r *Registry) {
	r.Add("", "RandomNormal", 1, newRandomGen(rndNormal, false))
	r.Add("", "RandomUniform", 1, newRandomGen(rndUniform, false))
	r.Add("", "RandomNormalLike", 1, newRandomGen(rndNormal, true))
	r.Add("", "RandomUniformLike", 1, newRandomGen(rndUniform, true))
	r.Add("", "Bernoulli", 15, newBernoulli)
	r.Add("", "Multinomial", 7, newMultinomial)
}

// rndSeed is a node's optional seed attribute.
type rndSeed struct {
	set  bool
	seed uint64
}

func readSeed(n *Node) rndSeed {
	if !n.Attrs.Has("seed") {
		return rndSeed{}
	}
	f := n.Attrs.Float("seed", 0)
	return rndSeed{set: true, seed: uint64(math.Float32bits(f))}
}

// source returns the generator for one kernel call.
func (s rndSeed) source() *rand.Rand {
	if s.set {
		return rand.New(rand.NewPCG(s.seed, 0x9e3779b97f4a7c15))
	}
	return rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
}

// rndFloatType reports whether dt is a floating-point type the random
// generators produce.
func rndFloatType(dt DType) bool {
	switch dt {
	case Float, Double, Float16, BFloat16:
		return true
	}
	return false
}

// rndFill sets every element of t (a numeric or bool tensor) to gen().
func rndFill(t *Tensor, gen func() float64) error {
	switch d := t.Data.(type) {
	case []float32:
		for i := range d {
			d[i] = float32(gen())
		}
	case []float64:
		for i := range d {
			d[i] = gen()
		}
	case []F16:
		for i := range d {
			d[i] = F16From(float32(gen()))
		}
	case []BF16:
		for i := range d {
			d[i] = BF16From(float32(gen()))
		}
	case []bool:
		for i := range d {
			d[i] = gen() != 0
		}
	default:
		return rndFillInt(t, gen)
	}
	return nil
}

func rndFillInt(t *Tensor, gen func() float64) error {
	switch d := t.Data.(type) {
	case []int8:
		rndFillAs(d, gen)
	case []int16:
		rndFillAs(d, gen)
	case []int32:
		rndFillAs(d, gen)
	case []int64:
		rndFillAs(d, gen)
	case []uint8:
		rndFillAs(d, gen)
	case []uint16:
		rndFillAs(d, gen)
	case []uint32:
		rndFillAs(d, gen)
	case []uint64:
		rndFillAs(d, gen)
	default:
		return fmt.Errorf("cannot generate values of type %s", t.DType)
	}
	return nil
}

func rndFillAs[T Number](d []T, gen func() float64) {
	for i := range d {
		d[i] = T(gen())
	}
}

// rndDist is a distribution of RandomNormal/RandomUniform.
type rndDist int

const (
	rndNormal rndDist = iota
	rndUniform
)

// rndGen implements RandomNormal, RandomUniform and their -Like variants.
type rndGen struct {
	dist  rndDist
	like  bool
	dtype DType // Undefined: the input's type (Like only)
	shape []int // fixed output shape (not Like)
	a, b  float64
	seed  rndSeed
}

func newRandomGen(dist rndDist, like bool) Factory {
	return func(n *Node) (any, error) {
		k := &rndGen{dist: dist, like: like, seed: readSeed(n)}
		if dist == rndNormal {
			k.a = float64(n.Attrs.Float("mean", 0))
			k.b = float64(n.Attrs.Float("scale", 1))
		} else {
			k.a = float64(n.Attrs.Float("low", 0))
			k.b = float64(n.Attrs.Float("high", 1))
			if k.b < k.a {
				return nil, fmt.Errorf("high (%g) is below low (%g)", k.b, k.a)
			}
		}
		if like {
			if n.Attrs.Has("dtype") {
				k.dtype = DType(n.Attrs.Int("dtype", 0))
			}
		} else {
			k.dtype = DType(n.Attrs.Int("dtype", int64(Float)))
			shape, ok := n.Attrs.Ints("shape")
			if !ok {
				return nil, fmt.Errorf("attribute \"shape\" is required")
			}
			k.shape = make([]int, len(shape))
			for i, d := range shape {
				if d < 0 {
					return nil, fmt.Errorf("attribute \"shape\" has negative dimension %d", d)
				}
				k.shape[i] = int(d)
			}
		}
		if k.dtype != Undefined && !rndFloatType(k.dtype) {
			return nil, fmt.Errorf("attribute \"dtype\": output type must be float16, bfloat16, float or double, got %s", k.dtype)
		}
		return k, nil
	}
}

func (k *rndGen) Run(ec *Context, in, out []*Tensor) error {
	dt, shape := k.dtype, k.shape
	if k.like {
		if len(in) == 0 || in[0] == nil {
			return fmt.Errorf("input is required")
		}
		shape = in[0].Shape
		if dt == Undefined {
			dt = in[0].DType
			if !rndFloatType(dt) {
				return fmt.Errorf("input type %s is not a valid output type; set the dtype attribute", dt)
			}
		}
	}
	y := ec.Empty(dt, shape...)
	r := k.seed.source()
	a, b := k.a, k.b
	var gen func() float64
	if k.dist == rndNormal {
		gen = func() float64 { return a + b*r.NormFloat64() }
	} else {
		gen = func() float64 {
			v := a + (b-a)*r.Float64()
			if v >= b && b > a {
				v = math.Nextafter(b, a)
			}
			return v
		}
	}
	if err := rndFill(y, gen); err != nil {
		ec.Release(y)
		return err
	}
	out[0] = y
	return nil
}

// rndBernoulli implements Bernoulli.
type rndBernoulli struct {
	dtype DType // Undefined: the input's type
	seed  rndSeed
}

func newBernoulli(n *Node) (any, error) {
	k := &rndBernoulli{seed: readSeed(n)}
	if n.Attrs.Has("dtype") {
		k.dtype = DType(n.Attrs.Int("dtype", 0))
		switch {
		case rndFloatType(k.dtype), k.dtype == Bool, k.dtype == Int8, k.dtype == Int16, k.dtype == Int32,
			k.dtype == Int64, k.dtype == Uint8, k.dtype == Uint16, k.dtype == Uint32, k.dtype == Uint64:
		default:
			return nil, fmt.Errorf("attribute \"dtype\": unsupported output type %s", k.dtype)
		}
	}
	return k, nil
}

func (k *rndBernoulli) Run(ec *Context, in, out []*Tensor) error {
	if len(in) == 0 || in[0] == nil {
		return fmt.Errorf("input is required")
	}
	x := in[0]
	if !rndFloatType(x.DType) {
		return fmt.Errorf("input must be a float tensor, got %s", x.DType)
	}
	p, err := x.AsFloat64s()
	if err != nil {
		return err
	}
	dt := k.dtype
	if dt == Undefined {
		dt = x.DType
	}
	y := ec.Empty(dt, x.Shape...)
	r := k.seed.source()
	i := 0
	err = rndFill(y, func() float64 {
		v := 0.0
		if r.Float64() < p[i] {
			v = 1
		}
		i++
		return v
	})
	if err != nil {
		ec.Release(y)
		return err
	}
	out[0] = y
	return nil
}

// rndMultinomial implements Multinomial: each row of the input holds
// unnormalized log-probabilities of the classes.
type rndMultinomial struct {
	dtype   DType
	samples int
	seed    rndSeed
}

func newMultinomial(n *Node) (any, error) {
	k := &rndMultinomial{
		dtype:   DType(n.Attrs.Int("dtype", int64(Int32))),
		samples: int(n.Attrs.Int("sample_size", 1)),
		seed:    readSeed(n),
	}
	if k.dtype != Int32 && k.dtype != Int64 {
		return nil, fmt.Errorf("attribute \"dtype\": output type must be int32 or int64, got %s", k.dtype)
	}
	if k.samples < 1 {
		return nil, fmt.Errorf("attribute \"sample_size\" must be positive, got %d", k.samples)
	}
	return k, nil
}

func (k *rndMultinomial) Run(ec *Context, in, out []*Tensor) error {
	if len(in) == 0 || in[0] == nil {
		return fmt.Errorf("input is required")
	}
	x := in[0]
	if !rndFloatType(x.DType) {
		return fmt.Errorf("input must be a float tensor, got %s", x.DType)
	}
	if len(x.Shape) != 2 {
		return fmt.Errorf("input must have shape [batch_size, class_size], got %v", x.Shape)
	}
	batch, classes := x.Shape[0], x.Shape[1]
	if classes == 0 && batch > 0 {
		return fmt.Errorf("input has no classes")
	}
	logits, err := x.AsFloat64s() // a private copy: turned into cumulative sums below
	if err != nil {
		return err
	}
	y := ec.Empty(k.dtype, batch, k.samples)
	r := k.seed.source()
	for b := 0; b < batch; b++ {
		row := logits[b*classes : (b+1)*classes]
		m := math.Inf(-1)
		for _, v := range row {
			if v > m {
				m = v
			}
		}
		if math.IsInf(m, -1) || math.IsNaN(m) {
			ec.Release(y)
			return fmt.Errorf("row %d has no finite log-probability", b)
		}
		sum := 0.0
		for i, v := range row {
			sum += math.Exp(v - m)
			row[i] = sum
		}
		for s := 0; s < k.samples; s++ {
			u := r.Float64() * sum
			c := 0
			for c < classes-1 && row[c] <= u {
				c++
			}
			switch d := y.Data.(type) {
			case []int32:
				d[b*k.samples+s] = int32(c)
			case []int64:
				d[b*k.samples+s] = int64(c)
			}
		}
	}
	out[0] = y
	return nil
}
