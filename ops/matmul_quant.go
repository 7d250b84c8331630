package ops

import (
	"fmt"
	"math"
)

// This file implements the quantized matrix products: MatMulInteger and
// QLinearMatMul (and, for com.microsoft, MatMulIntegerToFloat and
// DynamicQuantizeMatMul in attention_contrib.go).

// int8Values returns a uint8 or int8 tensor's elements widened to int32 in
// a temporary tensor the caller releases.
func int8Values(ec *Context, t *Tensor) (*Tensor, error) {
	tmp := ec.Empty(Int32, t.Shape...)
	d := tmp.Int32s()
	switch s := t.Data.(type) {
	case []uint8:
		if t.DType != Uint8 {
			ec.Release(tmp)
			return nil, fmt.Errorf("expected an 8-bit integer tensor, got %s", t.DType)
		}
		for i, v := range s {
			d[i] = int32(v)
		}
	case []int8:
		if t.DType != Int8 {
			ec.Release(tmp)
			return nil, fmt.Errorf("expected an 8-bit integer tensor, got %s", t.DType)
		}
		for i, v := range s {
			d[i] = int32(v)
		}
	default:
		ec.Release(tmp)
		return nil, fmt.Errorf("expected an 8-bit integer tensor, got %s", t.DType)
	}
	return tmp, nil
}

// zeroPointValues reads an optional 8-bit zero point as int32s.
func zeroPointValues(ec *Context, zp *Tensor, want DType) ([]int32, *Tensor, error) {
	if zp == nil {
		return nil, nil, nil
	}
	if zp.DType != want {
		return nil, nil, fmt.Errorf("zero point type %s differs from its input's %s", zp.DType, want)
	}
	t, err := int8Values(ec, zp)
	if err != nil {
		return nil, nil, err
	}
	return t.Int32s(), t, nil
}

// subtractZeroPoints subtracts per-tensor or per-row/column zero points
// from the widened matrix data in place. rows and cols are the matrix
// dimensions; perRow selects whether a vector zero point runs along rows
// (A's M axis) or columns (B's N axis).
func subtractZeroPoints(v []int32, zp []int32, rows, cols int, perRow bool) error {
	if len(zp) == 0 {
		return nil
	}
	if len(zp) == 1 {
		z := zp[0]
		for i := range v {
			v[i] -= z
		}
		return nil
	}
	mat := rows * cols
	n := cols
	if perRow {
		n = rows
	}
	if len(zp)%n != 0 || (len(zp) != n && len(zp)*mat/n != len(v)) {
		return fmt.Errorf("zero point of %d elements does not match a %dx%d matrix", len(zp), rows, cols)
	}
	for i := range v {
		r := (i % mat) / cols
		c := i % cols
		b := (i / mat) % (len(zp) / n)
		if perRow {
			v[i] -= zp[b*n+r]
		} else {
			v[i] -= zp[b*n+c]
		}
	}
	return nil
}

// matmulInt32 computes the int32 product of 8-bit operands minus their
// zero points. pb, when not nil, is b packed at plan time. The common
// cases (per-tensor zero point of A, per-tensor or per-column zero point
// of B) run on the 8-bit GEMM kernels; the others widen to int32.
func matmulInt32(ec *Context, d *matmulDims, a, b *Tensor, aShape, bShape []int, azp, bzp *Tensor, pb *qpackedB) (*Tensor, error) {
	if err := matmulShape(d, aShape, bShape); err != nil {
		return nil, err
	}
	if y := matmulInt32Fast(ec, d, a, b, azp, bzp, pb); y != nil {
		return y, nil
	}
	at, err := int8Values(ec, a)
	if err != nil {
		return nil, err
	}
	defer ec.Release(at)
	bt, err := int8Values(ec, b)
	if err != nil {
		return nil, err
	}
	defer ec.Release(bt)
	za, zat, err := zeroPointValues(ec, azp, a.DType)
	if err != nil {
		return nil, err
	}
	defer ec.Release(zat)
	zb, zbt, err := zeroPointValues(ec, bzp, b.DType)
	if err != nil {
		return nil, err
	}
	defer ec.Release(zbt)
	if err := subtractZeroPoints(at.Int32s(), za, d.m, d.k, true); err != nil {
		return nil, fmt.Errorf("a_zero_point: %w", err)
	}
	if err := subtractZeroPoints(bt.Int32s(), zb, d.k, d.n, false); err != nil {
		return nil, fmt.Errorf("b_zero_point: %w", err)
	}
	y := ec.Empty(Int32, d.outShape()...)
	matmulGeneric(ec, d, at.Int32s(), bt.Int32s(), y.Int32s())
	return y, nil
}

// qgemmZeroPoints reads the zero points of a qgemm call into the int32
// slice zb (pooled; the caller puts it back) and returns A's, or ok false
// when their shapes need the general path: A's must be a scalar, B's a
// scalar or one per column (n values along B's last axis).
func qgemmZeroPoints(azp, bzp *Tensor, aType, bType DType, n int) (za int32, zb *[]int32, ok bool) {
	if azp != nil {
		v, signed, isInt8 := int8Bytes(azp)
		if !isInt8 || azp.DType != aType || len(v) != 1 {
			return 0, nil, false
		}
		za = int32(byteValueOf(v[0], signed))
	}
	if bzp == nil {
		zb = getInt32s(1)
		(*zb)[0] = 0
		return za, zb, true
	}
	v, signed, isInt8 := int8Bytes(bzp)
	if !isInt8 || bzp.DType != bType || (len(v) != 1 && (len(v) != n || len(bzp.Shape) == 0 || bzp.Shape[len(bzp.Shape)-1] != n)) {
		return 0, nil, false
	}
	zb = getInt32s(len(v))
	for i, x := range v {
		(*zb)[i] = int32(byteValueOf(x, signed))
	}
	return za, zb, true
}

func byteValueOf(b byte, signed bool) int32 {
	if signed {
		return int32(int8(b))
	}
	return int32(b)
}

// qpackRuntime packs the k×n 8-bit matrix b for one call into pooled
// buffers, which release returns.
func qpackRuntime(b []byte, signed bool, k, n int) (pb qpackedB, release func()) {
	ar := gemmImpl().q8
	data := getBytes(qpackedBLen(ar, k, n))
	sums := getInt32s(roundUp(n, ar.nr))
	pb = qpackB(ar, *data, *sums, b, signed, k, n, n)
	return pb, func() {
		qgemmBytePool.Put(data)
		qgemmIntPool.Put(sums)
	}
}

// matmulInt32Fast runs matmulInt32 on the 8-bit GEMM kernels, or returns
// nil when the operands need the general path.
func matmulInt32Fast(ec *Context, d *matmulDims, a, b, azp, bzp *Tensor, pb *qpackedB) *Tensor {
	ab, aSigned, okA := int8Bytes(a)
	bb, bSigned, okB := int8Bytes(b)
	if !okA || !okB {
		return nil
	}
	za, zb, ok := qgemmZeroPoints(azp, bzp, a.DType, b.DType, d.n)
	if !ok {
		return nil
	}
	defer qgemmIntPool.Put(zb)
	y := ec.Empty(Int32, d.outShape()...)
	yd := y.Int32s()
	m, k, n := d.m, d.k, d.n
	if d.bIs2D() && NumElements(d.aBatch()) == d.nBatches {
		if pb == nil {
			p, release := qpackRuntime(bb, bSigned, k, n)
			defer release()
			pb = &p
		}
		qgemm(ab, aSigned, d.nBatches*m, k, za, pb, *zb, qgemmOut{ci: yd, ldc: n}, ec.Parallel)
		return y
	}
	for t := 0; t < d.nBatches; t++ {
		offA, offB := d.offsets(t)
		p, release := qpackRuntime(bb[offB:offB+k*n], bSigned, k, n)
		qgemm(ab[offA:offA+m*k], aSigned, m, k, za, &p, *zb, qgemmOut{ci: yd[t*m*n : (t+1)*m*n], ldc: n}, ec.Parallel)
		release()
	}
	return y
}

// constQpacked packs a constant 2-D 8-bit right operand at plan time, or
// returns nil.
func constQpacked(b *Tensor) *qpackedB {
	if b == nil || len(b.Shape) != 2 {
		return nil
	}
	bb, signed, ok := int8Bytes(b)
	if !ok {
		return nil
	}
	return newQpackedB(bb, signed, b.Shape[0], b.Shape[1], b.Shape[1])
}

// matmulIntegerKernel implements MatMulInteger; a constant B is packed at
// plan time.
type matmulIntegerKernel struct {
	constB *Tensor
	packed *qpackedB
}

func newMatMulInteger(n *Node) (any, error) {
	k := &matmulIntegerKernel{}
	if len(n.ConstInputs) > 1 {
		if k.packed = constQpacked(n.ConstInputs[1]); k.packed != nil {
			k.constB = n.ConstInputs[1]
		}
	}
	return k, nil
}

func (k *matmulIntegerKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return fmt.Errorf("MatMulInteger needs A and B")
	}
	var azp, bzp *Tensor
	if len(in) > 2 {
		azp = in[2]
	}
	if len(in) > 3 {
		bzp = in[3]
	}
	var pb *qpackedB
	if k.packed != nil && sameInt8(in[1], k.constB) {
		pb = k.packed
	}
	var d matmulDims
	y, err := matmulInt32(ec, &d, in[0], in[1], in[0].Shape, in[1].Shape, azp, bzp, pb)
	if err != nil {
		return err
	}
	out[0] = y
	return nil
}

// qlinearMatMulKernel implements QLinearMatMul; a constant B is packed at
// plan time.
type qlinearMatMulKernel struct {
	constB *Tensor
	packed *qpackedB
}

func newQLinearMatMul(n *Node) (any, error) {
	k := &qlinearMatMulKernel{}
	if len(n.ConstInputs) > 3 {
		if k.packed = constQpacked(n.ConstInputs[3]); k.packed != nil {
			k.constB = n.ConstInputs[3]
		}
	}
	return k, nil
}

func (k *qlinearMatMulKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 8 {
		return fmt.Errorf("QLinearMatMul needs 8 inputs, got %d", len(in))
	}
	for i, name := range []string{"a", "a_scale", "", "b", "b_scale", "", "y_scale"} {
		if name != "" && in[i] == nil {
			return fmt.Errorf("QLinearMatMul input %s is missing", name)
		}
	}
	a, as, azp, b, bs, bzp, ys, yzp := in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7]
	var pb *qpackedB
	if k.packed != nil && sameInt8(b, k.constB) {
		pb = k.packed
	}
	var dims matmulDims
	d := &dims
	c, err := matmulInt32(ec, d, a, b, a.Shape, b.Shape, azp, bzp, pb)
	if err != nil {
		return err
	}
	defer ec.Release(c)
	outType := a.DType
	if yzp != nil {
		outType = yzp.DType
	}
	lo, hi, ok := quantRange(outType)
	if !ok {
		return fmt.Errorf("QLinearMatMul cannot produce %s", outType)
	}
	asv, at, err := floatValues(ec, as)
	if err != nil {
		return err
	}
	defer ec.Release(at)
	bsv, bt, err := floatValues(ec, bs)
	if err != nil {
		return err
	}
	defer ec.Release(bt)
	ysv, yt, err := floatValues(ec, ys)
	if err != nil {
		return err
	}
	defer ec.Release(yt)
	var yz float64
	if yzp != nil {
		zv, zt, err := floatValues(ec, yzp)
		if err != nil {
			return err
		}
		yz = float64(zv[0])
		ec.Release(zt)
	}
	if len(asv) != 1 && len(asv) != d.m || len(bsv) != 1 && len(bsv) != d.n || len(ysv) != 1 {
		return fmt.Errorf("QLinearMatMul scales must be scalars or per-row (a) / per-column (b) vectors")
	}
	sdt := as.DType
	cv := c.Int32s()
	q := ec.Empty(Float, c.Shape...)
	defer ec.Release(q)
	qv := q.Float32s()
	m, n := d.m, d.n
	for i, v := range cv {
		ai, bi := 0, 0
		if len(asv) > 1 {
			ai = (i / n) % m
		}
		if len(bsv) > 1 {
			bi = i % n
		}
		mult := roundToType(roundToType(asv[ai]*bsv[bi], sdt)/ysv[0], sdt)
		r := math.RoundToEven(float64(v)*float64(mult) + yz)
		qv[i] = float32(max(lo, min(hi, r)))
	}
	y := ec.Empty(outType, c.Shape...)
	storeInts(y, qv)
	out[0] = y
	return nil
}
