package cuda

import (
	"errors"
	"fmt"

	"github.com/agate-ml/agate/ops"
)

// errUnsupported marks a case (shape, type) a device kernel does not cover
// at run time; the step then runs its CPU kernel.
var errUnsupported = errors.New("not supported on the GPU")

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUnsupported, fmt.Sprintf(format, args...))
}

// maxRank is the rank limit of broadcasting kernels (AGATE_MAX_RANK).
const maxRank = 6

// binaryPlan describes how the binary kernel covers a op b.
type binaryPlan struct {
	out  []int
	n    int
	bmod int // > 0: b is a row of bmod elements repeated over a
	// general broadcast (when bcast is set): per output dimension strides
	bcast            bool
	astride, bstride []int
}

// planBinary chooses the binary kernel's mode for shapes a and b.
func planBinary(a, b []int) (*binaryPlan, error) {
	out, err := ops.BroadcastShapes(a, b)
	if err != nil {
		return nil, err
	}
	p := &binaryPlan{out: out, n: ops.NumElements(out)}
	na, nb := ops.NumElements(a), ops.NumElements(b)
	switch {
	case na == p.n && nb == p.n:
		return p, nil
	case na == p.n && isSuffix(b, out):
		p.bmod = max(nb, 1)
		return p, nil
	}
	if len(out) > maxRank {
		return nil, unsupported("broadcasting at rank %d", len(out))
	}
	p.bcast = true
	p.astride = ops.BroadcastStrides(a, out)
	p.bstride = ops.BroadcastStrides(b, out)
	return p, nil
}

// isSuffix reports whether b, without its leading 1s, equals the trailing
// dimensions of out: b repeats along out's leading dimensions.
func isSuffix(b, out []int) bool {
	for len(b) > 0 && b[0] == 1 {
		b = b[1:]
	}
	if len(b) > len(out) {
		return false
	}
	return ops.EqualShapes(b, out[len(out)-len(b):])
}

// reshapeShape applies a Reshape shape spec (0 copies the input dimension
// unless allowzero, -1 is inferred) to a tensor of shape in.
func reshapeShape(in []int, spec []int64, allowzero bool) ([]int, error) {
	out := make([]int, len(spec))
	infer := -1
	known := 1
	for i, s := range spec {
		switch {
		case s == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("reshape: more than one -1 in %v", spec)
			}
			infer = i
			continue
		case s == 0 && !allowzero:
			if i >= len(in) {
				return nil, fmt.Errorf("reshape: 0 at position %d copies a dimension the input (%v) lacks", i, in)
			}
			out[i] = in[i]
		case s < 0:
			return nil, fmt.Errorf("reshape: invalid dimension %d in %v", s, spec)
		default:
			out[i] = int(s)
		}
		known *= out[i]
	}
	n := ops.NumElements(in)
	if infer >= 0 {
		if known == 0 || n%known != 0 {
			return nil, fmt.Errorf("reshape: cannot infer -1 in %v for %d elements", spec, n)
		}
		out[infer] = n / known
	} else if known != n {
		return nil, fmt.Errorf("reshape: shape %v has %d elements, the input %v has %d", spec, known, in, n)
	}
	return out, nil
}

// matmulPlan is a MatMul as cuBLAS calls: batch products of m×k by k×n,
// the operands strideA and strideB elements apart (0: shared).
type matmulPlan struct {
	out              []int
	batch, m, n, k   int
	strideA, strideB int
}

// planMatMul maps numpy matmul shapes (both of rank 2 or more) onto one
// GEMM (when b is a matrix, a's batch folds into m) or a strided batch,
// where each operand's batch is either full or absent.
func planMatMul(a, b []int) (*matmulPlan, error) {
	if len(a) < 2 || len(b) < 2 {
		return nil, unsupported("MatMul of a rank-1 operand")
	}
	m, k := a[len(a)-2], a[len(a)-1]
	k2, n := b[len(b)-2], b[len(b)-1]
	if k != k2 {
		return nil, fmt.Errorf("MatMul: inner dimensions %v and %v differ", a, b)
	}
	ba, bb := a[:len(a)-2], b[:len(b)-2]
	batchShape, err := ops.BroadcastShapes(ba, bb)
	if err != nil {
		return nil, fmt.Errorf("MatMul: batch dimensions: %w", err)
	}
	p := &matmulPlan{out: append(append([]int{}, batchShape...), m, n), m: m, n: n, k: k}
	nb := ops.NumElements(batchShape)
	na, nbb := ops.NumElements(ba), ops.NumElements(bb)
	switch {
	case nbb == 1:
		// b is one matrix: a's batch folds into the rows.
		p.batch, p.m = 1, nb*m
		if na != nb {
			return nil, unsupported("MatMul broadcasting a %v against b %v", a, b)
		}
	case na == nb && nbb == nb:
		p.batch, p.strideA, p.strideB = nb, m*k, k*n
	case na == 1 && nbb == nb:
		p.batch, p.strideA, p.strideB = nb, 0, k*n
	default:
		return nil, unsupported("MatMul broadcasting a %v against b %v", a, b)
	}
	return p, nil
}

// maskStrides returns the element strides of an additive attention mask
// broadcast to [batch, heads, seqQ, seqKV].
func maskStrides(mask []int, batch, heads, seqQ, seqKV int) ([4]int, error) {
	full := []int{batch, heads, seqQ, seqKV}
	var s [4]int
	if len(mask) > 4 {
		return s, fmt.Errorf("mask shape %v does not broadcast to %v", mask, full)
	}
	if out, err := ops.BroadcastShapes(mask, full); err != nil || !ops.EqualShapes(out, full) {
		return s, fmt.Errorf("mask shape %v does not broadcast to %v", mask, full)
	}
	copy(s[:], ops.BroadcastStrides(mask, full))
	return s, nil
}
