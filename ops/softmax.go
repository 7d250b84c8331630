package ops

import (
	"fmt"
	"math"
)

// registerSoftmax registers Softmax, LogSoftmax and Hardmax; the factory
// reads the opset version (2-D coercion before 13).
func registerSoftmax(r *Registry) {
	for _, name := range []string{"Softmax", "LogSoftmax", "Hardmax"} {
		r.Add("", name, 1, newSoftmaxKernel)
	}
}

// softmaxKind selects the function a softmaxKernel computes.
type softmaxKind int

const (
	softmaxPlain softmaxKind = iota
	softmaxLog
	softmaxHard
)

// softmaxKernel implements Softmax, LogSoftmax and Hardmax. Before opset 13
// the input is coerced to 2-D at axis (every dimension from axis on forms
// one row); from 13 the function runs along the single dimension axis.
type softmaxKernel struct {
	kind   softmaxKind
	axis   int
	legacy bool
}

func newSoftmaxKernel(n *Node) (any, error) {
	k := &softmaxKernel{legacy: n.Version < 13}
	switch n.OpType {
	case "Softmax":
		k.kind = softmaxPlain
	case "LogSoftmax":
		k.kind = softmaxLog
	case "Hardmax":
		k.kind = softmaxHard
	default:
		return nil, fmt.Errorf("unknown op %q", n.OpType)
	}
	def := int64(-1)
	if k.legacy {
		def = 1
	}
	k.axis = int(n.Attrs.Int("axis", def))
	return k, nil
}

func (k *softmaxKernel) Run(ec *Context, in, out []*Tensor) error {
	x, err := rnInput(in, 0, "input")
	if err != nil {
		return err
	}
	rank := x.Rank()
	var outer, n, inner int
	if rank == 0 {
		outer, n, inner = 1, 1, 1
	} else {
		axis := k.axis
		if k.legacy && axis == rank { // coerce to [N, 1]
			axis = rank
		} else if axis, err = NormalizeAxis(axis, rank); err != nil {
			return err
		}
		if k.legacy {
			outer, n = rnSplitAt(x.Shape, axis)
			inner = 1
		} else {
			outer, n, inner = rnSplit3(x.Shape, axis)
		}
	}
	y := ec.Empty(x.DType, x.Shape...)
	switch xs := x.Data.(type) {
	case []float32:
		softmaxRun32(ec, xs, y.Float32s(), outer, n, inner, k.kind)
	case []float64:
		softmaxLanes(ec, xs, y.Float64s(), outer, n, inner, k.kind)
	case []F16, []BF16:
		xw, xtmp, err := float32Data(ec, x)
		if err != nil {
			ec.Release(y)
			return err
		}
		yw := ec.Empty(Float, x.Shape...)
		softmaxRun32(ec, xw, yw.Float32s(), outer, n, inner, k.kind)
		narrowFloat32s(y.Data, yw.Float32s())
		ec.Release(yw)
		ec.Release(xtmp)
	default:
		ec.Release(y)
		return fmt.Errorf("unsupported element type %s", x.DType)
	}
	out[0] = y
	return nil
}

// softmaxRun32 computes a float32 softmax-family function: contiguous rows
// take the fast path, other layouts the generic strided one.
func softmaxRun32(ec *Context, x, y []float32, outer, n, inner int, kind softmaxKind) {
	if inner != 1 || n == 0 {
		softmaxLanes(ec, x, y, outer, n, inner, kind)
		return
	}
	rnRows(ec, outer, n, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			softmaxRow32(x[r*n:(r+1)*n], y[r*n:(r+1)*n], kind)
		}
	})
}

// softmaxRow32 computes one contiguous float32 row (len(x) > 0).
func softmaxRow32(x, y []float32, kind softmaxKind) {
	y = y[:len(x)]
	if kind == softmaxHard {
		mi := 0
		for i, v := range x {
			if v > x[mi] {
				mi = i
			}
		}
		clear(y)
		y[mi] = 1
		return
	}
	m := x[0]
	for _, v := range x {
		if v > m {
			m = v
		}
	}
	switch kind {
	case softmaxPlain:
		inv := 1 / vecmath().expSubSum(y, x, m)
		for i := range y {
			y[i] *= inv
		}
	case softmaxLog:
		c := float32(math.Log(rnExpSubSum(x, y, m)))
		for i, v := range x {
			y[i] = (v - m) - c
		}
	}
}

// softmaxLanes computes the function along lanes of n elements spaced inner
// apart, in float64.
func softmaxLanes[F float32 | float64](ec *Context, x, y []F, outer, n, inner int, kind softmaxKind) {
	if n == 0 {
		return
	}
	rnRows(ec, outer, n*inner, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			for i := 0; i < inner; i++ {
				softmaxLane(x, y, o*n*inner+i, n, inner, kind)
			}
		}
	})
}

// softmaxLane computes one lane of n elements starting at off, stride apart.
func softmaxLane[F float32 | float64](x, y []F, off, n, stride int, kind softmaxKind) {
	end := off + n*stride
	m, mi := x[off], off
	for p := off; p < end; p += stride {
		if x[p] > m {
			m, mi = x[p], p
		}
	}
	switch kind {
	case softmaxPlain:
		var s float64
		for p := off; p < end; p += stride {
			e := math.Exp(float64(x[p] - m))
			y[p] = F(e)
			s += e
		}
		inv := 1 / s
		for p := off; p < end; p += stride {
			y[p] = F(float64(y[p]) * inv)
		}
	case softmaxLog:
		var s float64
		for p := off; p < end; p += stride {
			s += math.Exp(float64(x[p] - m))
		}
		c := math.Log(s)
		for p := off; p < end; p += stride {
			y[p] = F(float64(x[p]-m) - c)
		}
	case softmaxHard:
		for p := off; p < end; p += stride {
			y[p] = 0
		}
		y[mi] = 1
	}
}
