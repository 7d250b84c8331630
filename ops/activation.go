package ops

import (
	"fmt"
	"math"
	"time"
)

// registerActivation registers the activation functions and Dropout.
func registerActivation(r *Registry) {
	r.AddKernel("", "Relu", 1, &ewFloatKernel{op: "Relu", f64: ewRelu, f32: ewRelu32, ints: ewIntRelu})
	r.AddKernel("", "Sigmoid", 1, &ewFloatKernel{op: "Sigmoid", f64: ewSigmoid, f32: ewSigmoid32})
	r.AddKernel("", "Softsign", 1, &ewFloatKernel{op: "Softsign", f64: func(x float64) float64 { return x / (1 + math.Abs(x)) }})
	r.AddKernel("", "Softplus", 1, &ewFloatKernel{op: "Softplus", f64: ewSoftplus})
	r.AddKernel("", "Mish", 18, &ewFloatKernel{op: "Mish", f64: func(x float64) float64 { return x * math.Tanh(ewSoftplus(x)) }})
	r.AddKernel("", "HardSwish", 14, &ewFloatKernel{op: "HardSwish", f64: func(x float64) float64 {
		return x * math.Max(0, math.Min(1, x/6+0.5))
	}})
	r.Add("", "LeakyRelu", 1, func(n *Node) (any, error) {
		alpha := float64(n.Attrs.Float("alpha", 0.01))
		return &ewFloatKernel{op: n.OpType, f64: func(x float64) float64 {
			if x < 0 {
				return alpha * x
			}
			return x
		}}, nil
	})
	r.Add("", "Elu", 1, func(n *Node) (any, error) {
		alpha := float64(n.Attrs.Float("alpha", 1))
		return &ewFloatKernel{op: n.OpType, f64: func(x float64) float64 {
			if x < 0 {
				return alpha * math.Expm1(x)
			}
			return x
		}}, nil
	})
	r.Add("", "Selu", 1, func(n *Node) (any, error) {
		alpha := float64(n.Attrs.Float("alpha", 1.67326319217681884765625))
		gamma := float64(n.Attrs.Float("gamma", 1.05070102214813232421875))
		return &ewFloatKernel{op: n.OpType, f64: func(x float64) float64 {
			if x <= 0 {
				return gamma * alpha * math.Expm1(x)
			}
			return gamma * x
		}}, nil
	})
	r.Add("", "Celu", 12, func(n *Node) (any, error) {
		alpha := float64(n.Attrs.Float("alpha", 1))
		if alpha == 0 {
			return nil, fmt.Errorf("alpha must be nonzero")
		}
		return &ewFloatKernel{op: n.OpType, f64: func(x float64) float64 {
			return math.Max(0, x) + math.Min(0, alpha*math.Expm1(x/alpha))
		}}, nil
	})
	r.Add("", "HardSigmoid", 1, func(n *Node) (any, error) {
		alpha := float64(n.Attrs.Float("alpha", 0.2))
		beta := float64(n.Attrs.Float("beta", 0.5))
		return &ewFloatKernel{op: n.OpType, f64: func(x float64) float64 {
			return math.Max(0, math.Min(1, alpha*x+beta))
		}}, nil
	})
	r.Add("", "ThresholdedRelu", 10, func(n *Node) (any, error) {
		alpha := float64(n.Attrs.Float("alpha", 1))
		return &ewFloatKernel{op: n.OpType, f64: func(x float64) float64 {
			if x > alpha {
				return x
			}
			return 0
		}}, nil
	})
	r.Add("", "Shrink", 9, func(n *Node) (any, error) {
		bias := float64(n.Attrs.Float("bias", 0))
		lambd := float64(n.Attrs.Float("lambd", 0.5))
		return &ewFloatKernel{op: n.OpType, ints: ewIntViaFloat, f64: func(x float64) float64 {
			switch {
			case x < -lambd:
				return x + bias
			case x > lambd:
				return x - bias
			}
			return 0
		}}, nil
	})
	r.Add("", "Swish", 24, func(n *Node) (any, error) {
		alpha := float64(n.Attrs.Float("alpha", 1))
		return &ewFloatKernel{op: n.OpType, f64: func(x float64) float64 { return x * ewSigmoid(alpha*x) }, f32: ewSwish32(alpha)}, nil
	})
	r.Add("", "Gelu", 20, func(n *Node) (any, error) {
		switch a := n.Attrs.String("approximate", "none"); a {
		case "none":
			return &ewFloatKernel{op: n.OpType, f64: ewGelu, f32: ewGelu32}, nil
		case "tanh":
			return &ewFloatKernel{op: n.OpType, f64: ewGeluTanh, f32: ewGeluTanh32}, nil
		default:
			return nil, fmt.Errorf("attribute \"approximate\": expected none or tanh, got %q", a)
		}
	})
	r.Add("", "Dropout", 1, newDropoutKernel)
}

func ewRelu(x float64) float64 {
	if x < 0 {
		return 0
	}
	return x
}

func ewSigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// ewSoftplus computes log(1+exp(x)) without overflow for large x.
func ewSoftplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

const ewSqrt2Inv = 0.70710678118654752440084436210484903928483593768847    // 1/√2
const ewSqrt2OverPi = 0.79788456080286535587989211986876373695171726232986 // √(2/π)

func ewGelu(x float64) float64 { return 0.5 * x * (1 + math.Erf(x*ewSqrt2Inv)) }

func ewGeluTanh(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(ewSqrt2OverPi*(x+0.044715*x*x*x)))
}

func ewRelu32(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		if v < 0 {
			v = 0
		}
		dst[i] = v
	}
}

// dropoutKernel implements Dropout. Outside training mode (always before
// opset 12) the output is the input and the optional mask is all true. In
// training mode elements are zeroed with probability ratio and the others
// scaled by 1/(1-ratio); the mask comes from an MT19937 generator seeded
// with the seed attribute, drawing uniform doubles in numpy's way, so that
// a given seed reproduces numpy's legacy random stream.
type dropoutKernel struct {
	version int
	ratio   float32 // the ratio attribute (before opset 12)
	seed    int64
	hasSeed bool
}

func newDropoutKernel(n *Node) (any, error) {
	k := &dropoutKernel{version: n.Version, ratio: n.Attrs.Float("ratio", 0.5)}
	if n.Version < 12 && (k.ratio < 0 || k.ratio >= 1) {
		return nil, fmt.Errorf("ratio %g out of range [0, 1)", k.ratio)
	}
	if n.Attrs.Has("seed") {
		k.seed, k.hasSeed = n.Attrs.Int("seed", 0), true
	}
	return k, nil
}

func (k *dropoutKernel) Run(ec *Context, in, out []*Tensor) error {
	x := in[0]
	if x == nil {
		return fmt.Errorf("missing input")
	}
	training := false
	ratio := float32(0.5)
	if k.version >= 12 {
		if len(in) > 1 && in[1] != nil {
			r, err := in[1].AsFloat64s()
			if err != nil || len(r) != 1 {
				return fmt.Errorf("ratio must be a float scalar, got %s", in[1])
			}
			ratio = float32(r[0])
		}
		if len(in) > 2 && in[2] != nil {
			tm := in[2].Bools()
			if len(tm) != 1 {
				return fmt.Errorf("training_mode must be a bool scalar, got %s", in[2])
			}
			training = tm[0]
		}
	}
	if training && ratio != 0 {
		return k.train(ec, x, ratio, out)
	}
	out[0] = ec.View(x, x.Shape...)
	if len(out) > 1 {
		m, err := k.mask(ec, x, nil)
		if err != nil {
			return err
		}
		out[1] = m
	}
	return nil
}

// mask returns the mask output: keep (or all true when keep is nil), typed
// like x before opset 10 and bool after.
func (k *dropoutKernel) mask(ec *Context, x *Tensor, keep []bool) (*Tensor, error) {
	m := ec.Empty(Bool, x.Shape...)
	d := m.Bools()
	if keep != nil {
		copy(d, keep)
	} else {
		for i := range d {
			d[i] = true
		}
	}
	if k.version >= 10 {
		return m, nil
	}
	defer ec.Release(m)
	t := ec.Empty(x.DType, x.Shape...)
	if err := ewCast(ec, t, m, true, ewRoundUp); err != nil {
		ec.Release(t)
		return nil, err
	}
	return t, nil
}

func (k *dropoutKernel) train(ec *Context, x *Tensor, ratio float32, out []*Tensor) error {
	if ratio < 0 || ratio >= 1 {
		return fmt.Errorf("ratio %g out of range [0, 1)", ratio)
	}
	if !x.DType.IsFloat() {
		return fmt.Errorf("Dropout does not support %s inputs", x.DType)
	}
	seed := uint32(k.seed)
	if !k.hasSeed {
		seed = ewRandomSeed()
	}
	n := x.Len()
	km := ec.Empty(Bool, n)
	defer ec.Release(km)
	keep := km.Bools()
	var mt ewMT19937
	mt.seed(seed)
	for i := range keep {
		keep[i] = mt.float64() >= float64(ratio)
	}
	x32, tmp, err := ewToF32(ec, x)
	if err != nil {
		return err
	}
	if tmp {
		defer ec.Release(x32)
	}
	scale := 1 / (1 - ratio)
	var y *Tensor
	switch xs := x32.Data.(type) {
	case []float32:
		t := ec.Empty(Float, x.Shape...)
		d := t.Float32s()
		for i, v := range xs {
			if keep[i] {
				d[i] = v * scale
			} else {
				d[i] = 0
			}
		}
		if tmp {
			defer ec.Release(t)
			y = ec.Empty(x.DType, x.Shape...)
			if err := ewEncodeF32(y.Data, x.DType, d, true, ewRoundUp); err != nil {
				ec.Release(y)
				return err
			}
		} else {
			y = t
		}
	case []float64:
		y = ec.Empty(Double, x.Shape...)
		d := y.Float64s()
		for i, v := range xs {
			if keep[i] {
				d[i] = v * float64(scale)
			} else {
				d[i] = 0
			}
		}
	default:
		return fmt.Errorf("Dropout does not support %s inputs", x.DType)
	}
	out[0] = y
	if len(out) > 1 {
		m, err := k.mask(ec, x, keep)
		if err != nil {
			ec.Release(y)
			return err
		}
		out[1] = m
	}
	return nil
}

// ewMT19937 is the Mersenne Twister generator (Matsumoto and Nishimura),
// seeded and sampled as numpy's legacy RandomState does.
type ewMT19937 struct {
	state [624]uint32
	pos   int
}

func (m *ewMT19937) seed(s uint32) {
	for i := range m.state {
		m.state[i] = s
		s = 1812433253*(s^(s>>30)) + uint32(i) + 1
	}
	m.pos = len(m.state)
}

func (m *ewMT19937) next() uint32 {
	const n, off = 624, 397
	if m.pos >= n {
		for i := 0; i < n; i++ {
			y := m.state[i]&0x80000000 | m.state[(i+1)%n]&0x7fffffff
			v := m.state[(i+off)%n] ^ y>>1
			if y&1 != 0 {
				v ^= 0x9908b0df
			}
			m.state[i] = v
		}
		m.pos = 0
	}
	y := m.state[m.pos]
	m.pos++
	y ^= y >> 11
	y ^= y << 7 & 0x9d2c5680
	y ^= y << 15 & 0xefc60000
	y ^= y >> 18
	return y
}

// float64 returns a uniform double in [0, 1) from 53 random bits.
func (m *ewMT19937) float64() float64 {
	a, b := m.next()>>5, m.next()>>6
	return (float64(a)*67108864 + float64(b)) / 9007199254740992
}

// ewRandomSeed derives a seed from the clock for unseeded training-mode
// Dropout.
func ewRandomSeed() uint32 {
	t := time.Now().UnixNano()
	return uint32(t) ^ uint32(t>>32)
}
