package ops

import (
	"fmt"
	"math"
)

// gemmKernel implements Gemm: Y = alpha*op(A)*op(B) + beta*C.
type gemmKernel struct {
	transA, transB bool
	alpha, beta    float32
	constB         *Tensor
	packedB        *packedB
}

func newGemm(n *Node) (any, error) {
	k := &gemmKernel{
		transA: n.Attrs.Int("transA", 0) != 0,
		transB: n.Attrs.Int("transB", 0) != 0,
		alpha:  n.Attrs.Float("alpha", 1),
		beta:   n.Attrs.Float("beta", 1),
	}
	n.Attrs.Int("broadcast", 0) // Gemm-6 and older: C broadcasts either way
	if len(n.ConstInputs) > 1 {
		if b := n.ConstInputs[1]; b != nil && b.DType == Float && len(b.Shape) == 2 {
			kk, nn := b.Shape[0], b.Shape[1]
			if k.transB {
				kk, nn = nn, kk
			}
			pb := packConstB(n, k.transB, kk, nn, b.Float32s(), b.Shape[1])
			k.constB, k.packedB = b, &pb
		}
	}
	return k, nil
}

// PacksInput reports that B, when packed at plan time, is read at run
// time for its shape only.
func (k *gemmKernel) PacksInput(i int) bool { return i == 1 && k.packedB != nil }

func (k *gemmKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return fmt.Errorf("Gemm needs inputs A and B")
	}
	a, b := in[0], in[1]
	var c *Tensor
	if len(in) > 2 {
		c = in[2]
	}
	if len(a.Shape) != 2 || len(b.Shape) != 2 {
		return fmt.Errorf("Gemm needs 2-D A and B, got shapes %s and %s", ShapeString(a.Shape), ShapeString(b.Shape))
	}
	if a.DType != b.DType || (c != nil && c.DType != a.DType) {
		return fmt.Errorf("Gemm operand types differ")
	}
	m, ka := a.Shape[0], a.Shape[1]
	if k.transA {
		m, ka = ka, m
	}
	kb, n := b.Shape[0], b.Shape[1]
	if k.transB {
		kb, n = n, kb
	}
	if ka != kb {
		return fmt.Errorf("Gemm inner dimensions differ: op(A) is %dx%d, op(B) is %dx%d", m, ka, kb, n)
	}
	beta := k.beta
	if c == nil {
		beta = 0
	} else if mn := [2]int{m, n}; !broadcastsTo(c.Shape, mn[:]) ||
		(len(c.Shape) >= 1 && c.Shape[len(c.Shape)-1] != n && c.Shape[len(c.Shape)-1] != 1) ||
		(len(c.Shape) == 2 && c.Shape[0] != m && c.Shape[0] != 1) {
		return fmt.Errorf("Gemm C of shape %s does not broadcast to [%d %d]", ShapeString(c.Shape), m, n)
	}
	y := ec.Empty(a.DType, m, n)
	out[0] = y
	switch a.DType {
	case Float:
		yd := y.Float32s()
		if beta != 0 {
			if err := BroadcastTo(yd, y.Shape, c.Float32s(), c.Shape); err != nil {
				return err
			}
		}
		if k.packedB != nil && (b == k.constB || sameData(b, k.constB)) {
			sgemmPacked(k.transA, m, k.alpha, a.Float32s(), a.Shape[1], k.packedB, beta, yd, n, ec.Parallel)
		} else {
			sgemm(k.transA, k.transB, m, n, ka, k.alpha, a.Float32s(), a.Shape[1], b.Float32s(), b.Shape[1], beta, yd, n, ec.Parallel)
		}
	case Float16, BFloat16:
		af, bf, yf := ec.Empty(Float, a.Shape...), ec.Empty(Float, b.Shape...), ec.Empty(Float, m, n)
		widenFloat32s(af.Float32s(), a.Data)
		widenFloat32s(bf.Float32s(), b.Data)
		if beta != 0 {
			cf := ec.Empty(Float, c.Shape...)
			widenFloat32s(cf.Float32s(), c.Data)
			if err := BroadcastTo(yf.Float32s(), yf.Shape, cf.Float32s(), cf.Shape); err != nil {
				return err
			}
			ec.Release(cf)
		}
		sgemm(k.transA, k.transB, m, n, ka, k.alpha, af.Float32s(), a.Shape[1], bf.Float32s(), b.Shape[1], beta, yf.Float32s(), n, ec.Parallel)
		narrowFloat32s(y.Data, yf.Float32s())
		ec.Release(af)
		ec.Release(bf)
		ec.Release(yf)
	case Double:
		return gemmGeneric(k, m, n, ka, a, b, c, beta, y, a.Float64s(), b.Float64s(), y.Float64s())
	case Int32:
		return gemmGeneric(k, m, n, ka, a, b, c, beta, y, a.Int32s(), b.Int32s(), y.Int32s())
	case Int64:
		return gemmGeneric(k, m, n, ka, a, b, c, beta, y, a.Int64s(), b.Int64s(), y.Int64s())
	case Uint32:
		return gemmGeneric(k, m, n, ka, a, b, c, beta, y, a.Data.([]uint32), b.Data.([]uint32), y.Data.([]uint32))
	case Uint64:
		return gemmGeneric(k, m, n, ka, a, b, c, beta, y, a.Data.([]uint64), b.Data.([]uint64), y.Data.([]uint64))
	default:
		return fmt.Errorf("Gemm does not support %s", a.DType)
	}
	return nil
}

// gemmGeneric is the plain Gemm for element types without a fast kernel.
func gemmGeneric[T Number](k *gemmKernel, m, n, kk int, a, b, c *Tensor, beta float32, y *Tensor, ad, bd, yd []T) error {
	lda, ldb := a.Shape[1], b.Shape[1]
	if beta != 0 {
		if err := BroadcastTo(yd, y.Shape, c.Data.([]T), c.Shape); err != nil {
			return err
		}
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s T
			for p := 0; p < kk; p++ {
				var av, bv T
				if k.transA {
					av = ad[p*lda+i]
				} else {
					av = ad[i*lda+p]
				}
				if k.transB {
					bv = bd[j*ldb+p]
				} else {
					bv = bd[p*ldb+j]
				}
				s += av * bv
			}
			v := float64(k.alpha) * float64(s)
			if beta != 0 {
				v += float64(beta) * float64(yd[i*n+j])
			}
			yd[i*n+j] = T(v)
		}
	}
	return nil
}

// detKernel computes the determinant of square matrices (Det).
type detKernel struct{}

func (detKernel) Run(ec *Context, in, out []*Tensor) error {
	x := in[0]
	r := len(x.Shape)
	if r < 2 || x.Shape[r-1] != x.Shape[r-2] {
		return fmt.Errorf("Det needs square matrices in the last two dimensions, got shape %s", ShapeString(x.Shape))
	}
	if !x.DType.IsFloat() {
		return fmt.Errorf("Det does not support %s", x.DType)
	}
	n := x.Shape[r-1]
	vals, err := x.AsFloat64s()
	if err != nil {
		return err
	}
	batch := NumElements(x.Shape[:r-2])
	y := ec.Empty(x.DType, x.Shape[:r-2]...)
	res := make([]float64, batch)
	work := make([]float64, n*n)
	for t := 0; t < batch; t++ {
		copy(work, vals[t*n*n:(t+1)*n*n])
		res[t] = luDet(work, n)
	}
	switch d := y.Data.(type) {
	case []float32:
		for i, v := range res {
			d[i] = float32(v)
		}
	case []float64:
		copy(d, res)
	case []F16:
		for i, v := range res {
			d[i] = F16From(float32(v))
		}
	case []BF16:
		for i, v := range res {
			d[i] = BF16From(float32(v))
		}
	default:
		ec.Release(y)
		return fmt.Errorf("Det does not support %s", x.DType)
	}
	out[0] = y
	return nil
}

// luDet returns the determinant of the n×n matrix a (destroyed) by Gaussian
// elimination with partial pivoting.
func luDet(a []float64, n int) float64 {
	det := 1.0
	for col := 0; col < n; col++ {
		piv := col
		for r := col + 1; r < n; r++ {
			if math.Abs(a[r*n+col]) > math.Abs(a[piv*n+col]) {
				piv = r
			}
		}
		if a[piv*n+col] == 0 {
			return 0
		}
		if piv != col {
			for j := 0; j < n; j++ {
				a[col*n+j], a[piv*n+j] = a[piv*n+j], a[col*n+j]
			}
			det = -det
		}
		p := a[col*n+col]
		det *= p
		for r := col + 1; r < n; r++ {
			f := a[r*n+col] / p
			if f == 0 {
				continue
			}
			for j := col + 1; j < n; j++ {
				a[r*n+j] -= f * a[col*n+j]
			}
		}
	}
	return det
}
