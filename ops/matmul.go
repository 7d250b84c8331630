package ops

import (
	"fmt"
	"unsafe"
)

// This file implements MatMul (numpy matmul semantics: batch broadcasting and
// one-dimensional operands) on top of sgemm, plus the helpers the other
// matrix kernels share.

func registerMatMul(r *Registry) {
	r.Add("", "MatMul", 1, newMatMul)
	r.Add("", "Gemm", 1, newGemm)
	r.Add("", "Det", 11, func(*Node) (any, error) { return detKernel{}, nil })
}

// matmulKernel multiplies two tensors; when the right operand is a constant
// float32 matrix it is packed once at plan time.
type matmulKernel struct {
	constB  *Tensor
	packedB *packedB
}

func newMatMul(n *Node) (any, error) {
	k := &matmulKernel{}
	if len(n.ConstInputs) > 1 {
		if b := n.ConstInputs[1]; b != nil && b.DType == Float && len(b.Shape) == 2 {
			kk, nn := b.Shape[0], b.Shape[1]
			pb := packConstB(n, false, kk, nn, b.Float32s(), nn)
			k.constB, k.packedB = b, &pb
		}
	}
	return k, nil
}

// sameData reports whether two tensors share their backing array and shape,
// which identifies a run-time input as the constant seen at plan time.
func sameData(a, b *Tensor) bool {
	if a == nil || b == nil || a.DType != b.DType || !EqualShapes(a.Shape, b.Shape) {
		return false
	}
	x, ok1 := a.Data.([]float32)
	y, ok2 := b.Data.([]float32)
	if !ok1 || !ok2 || len(x) != len(y) {
		return false
	}
	return len(x) == 0 || unsafe.SliceData(x) == unsafe.SliceData(y)
}

// matmulDims describes a (possibly batched) matrix product. Its shape
// slices point into its own arrays, so a matmulDims on the stack costs no
// allocation.
type matmulDims struct {
	m, k, n  int
	nBatches int
	rank     int // batch rank
	nOut     int // output rank

	outArr, batchArr, aArr, bArr [maxRank]int
}

// outShape is the output shape.
func (d *matmulDims) outShape() []int { return d.outArr[:d.nOut] }

// aBatch is a's batch dims, left-padded with 1 to the batch rank.
func (d *matmulDims) aBatch() []int { return d.aArr[:d.rank] }

// bBatch is b's batch dims, left-padded with 1 to the batch rank.
func (d *matmulDims) bBatch() []int { return d.bArr[:d.rank] }

// matmulShape applies numpy matmul shape rules to a and b, filling d.
func matmulShape(d *matmulDims, a, b []int) error {
	if len(a) == 0 || len(b) == 0 {
		return fmt.Errorf("MatMul operands must not be scalars, got shapes %s and %s", ShapeString(a), ShapeString(b))
	}
	if len(a) > maxRank || len(b) > maxRank {
		return fmt.Errorf("MatMul operands of shapes %s and %s exceed rank %d", ShapeString(a), ShapeString(b), maxRank)
	}
	var aBuf, bBuf [2]int
	aa, bb := a, b
	if len(a) == 1 {
		aBuf = [2]int{1, a[0]}
		aa = aBuf[:]
	}
	if len(b) == 1 {
		bBuf = [2]int{b[0], 1}
		bb = bBuf[:]
	}
	d.m, d.k, d.n = aa[len(aa)-2], aa[len(aa)-1], bb[len(bb)-1]
	if bb[len(bb)-2] != d.k {
		return fmt.Errorf("MatMul inner dimensions differ: shapes %s and %s", ShapeString(a), ShapeString(b))
	}
	ab, bbat := aa[:len(aa)-2], bb[:len(bb)-2]
	d.rank = max(len(ab), len(bbat))
	padLeftInto(d.aArr[:d.rank], ab)
	padLeftInto(d.bArr[:d.rank], bbat)
	d.nBatches = 1
	for i := 0; i < d.rank; i++ {
		x, y := d.aArr[i], d.bArr[i]
		switch {
		case x == y || y == 1:
			d.batchArr[i] = x
		case x == 1:
			d.batchArr[i] = y
		default:
			return fmt.Errorf("MatMul batch dimensions: shapes %s and %s cannot be broadcast together", ShapeString(a), ShapeString(b))
		}
		d.nBatches *= d.batchArr[i]
		d.outArr[i] = d.batchArr[i]
	}
	d.nOut = d.rank
	if len(a) > 1 {
		d.outArr[d.nOut] = d.m
		d.nOut++
	}
	if len(b) > 1 {
		d.outArr[d.nOut] = d.n
		d.nOut++
	}
	return nil
}

// padLeftInto copies s into the end of dst and fills the front with 1.
func padLeftInto(dst, s []int) {
	n := len(dst) - len(s)
	for i := 0; i < n; i++ {
		dst[i] = 1
	}
	copy(dst[n:], s)
}

// offsets returns the element offsets of the a and b matrices of batch t.
func (d *matmulDims) offsets(t int) (int, int) {
	offA, offB := 0, 0
	strideA, strideB := d.m*d.k, d.k*d.n
	for i := d.rank - 1; i >= 0; i-- {
		idx := t % d.batchArr[i]
		t /= d.batchArr[i]
		if d.aArr[i] != 1 {
			offA += idx * strideA
		}
		if d.bArr[i] != 1 {
			offB += idx * strideB
		}
		strideA *= d.aArr[i]
		strideB *= d.bArr[i]
	}
	return offA, offB
}

// bIs2D reports whether b has no batch dimensions, so the batches of a can
// be stacked into one tall matrix.
func (d *matmulDims) bIs2D() bool {
	for _, x := range d.bBatch() {
		if x != 1 {
			return false
		}
	}
	return true
}

func (k *matmulKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return fmt.Errorf("MatMul needs two inputs")
	}
	a, b := in[0], in[1]
	if a.DType != b.DType {
		return fmt.Errorf("MatMul operand types differ: %s and %s", a.DType, b.DType)
	}
	var d matmulDims
	if err := matmulShape(&d, a.Shape, b.Shape); err != nil {
		return err
	}
	y := ec.Empty(a.DType, d.outShape()...)
	out[0] = y
	var pb *packedB
	if k.packedB != nil && k.isConstB(b) {
		pb = k.packedB
	}
	return matmulAny(ec, &d, a, b, y, pb)
}

// isConstB reports whether b is the constant packed at plan time: the
// same tensor (whose elements the engine may have dropped, see
// PacksInput) or one sharing its data.
func (k *matmulKernel) isConstB(b *Tensor) bool {
	return b == k.constB || sameData(b, k.constB)
}

// PacksInput reports that B, when packed at plan time, is read at run
// time for its shape only.
func (k *matmulKernel) PacksInput(i int) bool { return i == 1 && k.packedB != nil }

// matmulAny computes y = a @ b for any supported element type.
func matmulAny(ec *Context, d *matmulDims, a, b, y *Tensor, pb *packedB) error {
	switch a.DType {
	case Float:
		matmulF32(ec, d, a.Float32s(), b.Float32s(), y.Float32s(), pb)
	case Float16, BFloat16:
		af, bf := ec.Empty(Float, a.Shape...), ec.Empty(Float, b.Shape...)
		yf := ec.Empty(Float, y.Shape...)
		widenFloat32s(af.Float32s(), a.Data)
		widenFloat32s(bf.Float32s(), b.Data)
		matmulF32(ec, d, af.Float32s(), bf.Float32s(), yf.Float32s(), nil)
		narrowFloat32s(y.Data, yf.Float32s())
		ec.Release(af)
		ec.Release(bf)
		ec.Release(yf)
	case Double:
		matmulGeneric(ec, d, a.Float64s(), b.Float64s(), y.Float64s())
	case Int32:
		matmulGeneric(ec, d, a.Int32s(), b.Int32s(), y.Int32s())
	case Int64:
		matmulGeneric(ec, d, a.Int64s(), b.Int64s(), y.Int64s())
	case Uint32:
		matmulGeneric(ec, d, a.Data.([]uint32), b.Data.([]uint32), y.Data.([]uint32))
	case Uint64:
		matmulGeneric(ec, d, a.Data.([]uint64), b.Data.([]uint64), y.Data.([]uint64))
	default:
		return fmt.Errorf("MatMul does not support %s", a.DType)
	}
	return nil
}

// matmulF32 runs the batched float32 product.
func matmulF32(ec *Context, d *matmulDims, a, b, y []float32, pb *packedB) {
	m, kk, n := d.m, d.k, d.n
	if d.bIs2D() {
		// Stack a's batches into one tall matrix (a's batch dims may be
		// broadcast against nothing, so a is contiguous).
		rows := d.nBatches * m
		if NumElements(d.aBatch()) != d.nBatches {
			// a is broadcast over batch dims b lacks: cannot happen when
			// b has no batch dims, but keep the general path safe.
			rows = 0
		}
		if rows > 0 {
			if pb != nil {
				sgemmPacked(false, rows, 1, a, kk, pb, 0, y, n, ec.Parallel)
			} else {
				sgemm(false, false, rows, n, kk, 1, a, kk, b, n, 0, y, n, ec.Parallel)
			}
			return
		}
	}
	per := m * n * kk
	workers := ec.Workers.Workers()
	if d.nBatches >= workers && workers > 1 && per < 1<<21 {
		dd := *d // captured by the workers; d itself stays on the caller's stack
		ec.Parallel(d.nBatches, 1, func(lo, hi int) {
			for t := lo; t < hi; t++ {
				offA, offB := dd.offsets(t)
				sgemm(false, false, m, n, kk, 1, a[offA:], kk, b[offB:], n, 0, y[t*m*n:], n, nil)
			}
		})
		return
	}
	for t := 0; t < d.nBatches; t++ {
		offA, offB := d.offsets(t)
		sgemm(false, false, m, n, kk, 1, a[offA:], kk, b[offB:], n, 0, y[t*m*n:], n, ec.Parallel)
	}
}

// matmulGeneric is the straightforward batched product for element types
// without a dedicated kernel.
func matmulGeneric[T Number](ec *Context, d *matmulDims, a, b, y []T) {
	m, kk, n := d.m, d.k, d.n
	dd := *d
	ec.Parallel(d.nBatches*m, max(1, 32768/max(1, kk*n)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			t, i := r/m, r%m
			offA, offB := dd.offsets(t)
			row := y[t*m*n+i*n : t*m*n+i*n+n]
			clear(row)
			ar := a[offA+i*kk : offA+i*kk+kk]
			for p, av := range ar {
				br := b[offB+p*n : offB+p*n+n]
				for j, bv := range br {
					row[j] += av * bv
				}
			}
		}
	})
}
