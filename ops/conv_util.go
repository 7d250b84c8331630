package ops

import (
	"fmt"
	"math"
	"sync"
)

// This file holds helpers shared by the convolution, pooling, resize, image
// and recurrent kernels: float working buffers, attribute parsing of the
// window geometry and a small blocked matrix product. WorkFloat64s and
// StoreFloat64s are exported for the kernel families in packages of their
// own (ops/signal).

// convFloat is the set of element types the spatial kernels compute in.
type convFloat interface {
	float32 | float64
}

// WorkFloat64s returns t's elements as float64 for a kernel that computes in
// double precision: t's own slice when t is float64, else a conversion of any
// numeric type into a temporary from ec, returned in tmp for the caller to
// release (ec.Release(tmp); tmp is nil when nothing was taken).
func WorkFloat64s(ec *Context, t *Tensor) (data []float64, tmp *Tensor, err error) {
	if d, ok := t.Data.([]float64); ok {
		return d, nil, nil
	}
	tmp = ec.Empty(Double, t.Shape...)
	out := tmp.Float64s()
	if widenFloat64s(out, t.Data) {
		return out, tmp, nil
	}
	switch d := t.Data.(type) {
	case []int8:
		convCopyNum(out, d)
	case []uint8:
		convCopyNum(out, d)
	case []int16:
		convCopyNum(out, d)
	case []uint16:
		convCopyNum(out, d)
	case []int32:
		convCopyNum(out, d)
	case []uint32:
		convCopyNum(out, d)
	case []int64:
		convCopyNum(out, d)
	case []uint64:
		convCopyNum(out, d)
	default:
		ec.Release(tmp)
		return nil, nil, fmt.Errorf("expected a numeric tensor, got %s", t.DType)
	}
	return out, tmp, nil
}

func convCopyNum[S Number](dst []float64, src []S) {
	for i, v := range src {
		dst[i] = float64(v)
	}
}

// StoreFloat64s writes src into dst, a numeric tensor of the same element
// count. Integer destinations are rounded half to even and saturated.
func StoreFloat64s(dst *Tensor, src []float64) {
	if narrowFloat64s(dst.Data, src) {
		return
	}
	switch d := dst.Data.(type) {
	case []int8:
		convStoreInt(d, src, math.MinInt8, math.MaxInt8)
	case []uint8:
		convStoreInt(d, src, 0, math.MaxUint8)
	case []int16:
		convStoreInt(d, src, math.MinInt16, math.MaxInt16)
	case []uint16:
		convStoreInt(d, src, 0, math.MaxUint16)
	case []int32:
		convStoreInt(d, src, math.MinInt32, math.MaxInt32)
	case []uint32:
		convStoreInt(d, src, 0, math.MaxUint32)
	case []int64:
		convStoreInt(d, src, math.MinInt64, math.MaxInt64)
	case []uint64:
		convStoreInt(d, src, 0, math.MaxUint64)
	}
}

func convStoreInt[D Number](dst []D, src []float64, lo, hi float64) {
	for i, v := range src {
		v = math.RoundToEven(v)
		switch {
		case v != v:
			v = 0
		case v < lo:
			v = lo
		case v > hi:
			v = hi
		}
		dst[i] = D(v)
	}
}

// convWindow holds the geometry attributes shared by Conv, ConvTranspose
// and the pooling operators.
type convWindow struct {
	autoPad   string
	kernel    []int // kernel_shape (nil when absent)
	strides   []int // nil when absent
	dilations []int // nil when absent
	pads      []int // [begin..., end...]; nil when absent
}

// readConvWindow reads and validates auto_pad, kernel_shape, strides,
// dilations and pads.
func readConvWindow(n *Node) (convWindow, error) {
	var w convWindow
	w.autoPad = n.Attrs.String("auto_pad", "NOTSET")
	switch w.autoPad {
	case "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID":
	case "":
		w.autoPad = "NOTSET"
	default:
		return w, fmt.Errorf("unknown auto_pad %q", w.autoPad)
	}
	w.kernel, _ = n.Attrs.IntsAsInts("kernel_shape")
	w.strides, _ = n.Attrs.IntsAsInts("strides")
	w.dilations, _ = n.Attrs.IntsAsInts("dilations")
	w.pads, _ = n.Attrs.IntsAsInts("pads")
	for _, v := range w.kernel {
		if v <= 0 {
			return w, fmt.Errorf("kernel_shape %v must be positive", w.kernel)
		}
	}
	for _, v := range w.strides {
		if v <= 0 {
			return w, fmt.Errorf("strides %v must be positive", w.strides)
		}
	}
	for _, v := range w.dilations {
		if v <= 0 {
			return w, fmt.Errorf("dilations %v must be positive", w.dilations)
		}
	}
	for _, v := range w.pads {
		if v < 0 {
			return w, fmt.Errorf("pads %v must not be negative", w.pads)
		}
	}
	if w.pads != nil && len(w.pads)%2 != 0 {
		return w, fmt.Errorf("pads %v must have an even length", w.pads)
	}
	if w.kernel != nil {
		k := len(w.kernel)
		if w.strides != nil && len(w.strides) != k {
			return w, fmt.Errorf("strides %v do not match kernel_shape %v", w.strides, w.kernel)
		}
		if w.dilations != nil && len(w.dilations) != k {
			return w, fmt.Errorf("dilations %v do not match kernel_shape %v", w.dilations, w.kernel)
		}
		if w.pads != nil && len(w.pads) != 2*k {
			return w, fmt.Errorf("pads %v do not match kernel_shape %v", w.pads, w.kernel)
		}
	}
	return w, nil
}

// convWindowGeom is the resolved geometry of a sliding-window operator over
// the spatial dimensions of one input.
type convWindowGeom struct {
	in, out, kernel, stride, dilation, padBegin, padEnd []int
}

// resolve computes the output sizes and pads for the spatial input sizes
// in, with kernel the effective kernel shape. ceil selects ceil_mode
// rounding (pooling).
func (w *convWindow) resolve(in, kernel []int, ceil bool) (convWindowGeom, error) {
	k := len(in)
	g := convWindowGeom{
		in: in, kernel: kernel,
		out: make([]int, k), stride: make([]int, k), dilation: make([]int, k),
		padBegin: make([]int, k), padEnd: make([]int, k),
	}
	if len(kernel) != k {
		return g, fmt.Errorf("kernel shape %v does not match %d spatial dimensions", kernel, k)
	}
	if w.strides != nil && len(w.strides) != k {
		return g, fmt.Errorf("strides %v do not match %d spatial dimensions", w.strides, k)
	}
	if w.dilations != nil && len(w.dilations) != k {
		return g, fmt.Errorf("dilations %v do not match %d spatial dimensions", w.dilations, k)
	}
	if w.pads != nil && len(w.pads) != 2*k {
		return g, fmt.Errorf("pads %v do not match %d spatial dimensions", w.pads, k)
	}
	for i := 0; i < k; i++ {
		g.stride[i], g.dilation[i] = 1, 1
		if w.strides != nil {
			g.stride[i] = w.strides[i]
		}
		if w.dilations != nil {
			g.dilation[i] = w.dilations[i]
		}
		eff := (kernel[i]-1)*g.dilation[i] + 1
		s := g.stride[i]
		switch w.autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			g.out[i] = (in[i] + s - 1) / s
			total := (g.out[i]-1)*s + eff - in[i]
			if total < 0 {
				total = 0
			}
			if w.autoPad == "SAME_UPPER" {
				g.padBegin[i] = total / 2
			} else {
				g.padBegin[i] = total - total/2
			}
			g.padEnd[i] = total - g.padBegin[i]
		case "VALID":
			if in[i] < eff {
				g.out[i] = 0
			} else {
				g.out[i] = (in[i]-eff)/s + 1
			}
		default:
			if w.pads != nil {
				g.padBegin[i], g.padEnd[i] = w.pads[i], w.pads[k+i]
			}
			span := in[i] + g.padBegin[i] + g.padEnd[i] - eff
			if span < 0 {
				g.out[i] = 0
				break
			}
			if ceil {
				g.out[i] = (span+s-1)/s + 1
				// The last window must start inside the input or the
				// leading padding.
				if (g.out[i]-1)*s >= in[i]+g.padBegin[i] {
					g.out[i]--
				}
			} else {
				g.out[i] = span/s + 1
			}
		}
	}
	return g, nil
}

// convGemmNT computes C = A·Bᵀ (+ C when acc) for row-major A (m×k, row stride
// lda), B (n×k, row stride ldb) and C (m×n, row stride ldc). When bias is
// non-nil and acc is false, bias[i] is added to row i. float32 runs on the
// SGEMM kernels (assembly where the CPU has it), float64 on convGemmNTGo.
func convGemmNT[T convFloat](m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, bias []T, acc bool) {
	af, ok := any(a).([]float32)
	if !ok {
		convGemmNTGo(m, n, k, a, lda, b, ldb, c, ldc, bias, acc)
		return
	}
	if m == 0 || n == 0 {
		return
	}
	bf, cf := any(b).([]float32), any(c).([]float32)
	var beta float32
	if acc {
		beta = 1
	} else if bias != nil {
		bs := any(bias).([]float32)
		for i := 0; i < m; i++ {
			row := cf[i*ldc : i*ldc+n]
			for j := range row {
				row[j] = bs[i]
			}
		}
		beta = 1
	}
	sgemm(false, true, m, n, k, 1, af, lda, bf, ldb, beta, cf, ldc, nil)
}

// convGemmNTGo is convGemmNT in Go: both operands are read along k, so the
// 4×4 register tile streams eight contiguous rows per step.
func convGemmNTGo[T convFloat](m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, bias []T, acc bool) {
	if m == 0 || n == 0 {
		return
	}
	i := 0
	for ; i+4 <= m; i += 4 {
		a0 := a[i*lda : i*lda+k]
		a1 := a[(i+1)*lda:]
		a1 = a1[:len(a0)]
		a2 := a[(i+2)*lda:]
		a2 = a2[:len(a0)]
		a3 := a[(i+3)*lda:]
		a3 = a3[:len(a0)]
		var z [4]T
		if bias != nil && !acc {
			z = [4]T{bias[i], bias[i+1], bias[i+2], bias[i+3]}
		}
		j := 0
		for ; j+4 <= n; j += 4 {
			b0 := b[j*ldb:]
			b0 = b0[:len(a0)]
			b1 := b[(j+1)*ldb:]
			b1 = b1[:len(a0)]
			b2 := b[(j+2)*ldb:]
			b2 = b2[:len(a0)]
			b3 := b[(j+3)*ldb:]
			b3 = b3[:len(a0)]
			var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 T
			for p, y := range a0 {
				x0, x1, x2, x3 := b0[p], b1[p], b2[p], b3[p]
				c00 += y * x0
				c01 += y * x1
				c02 += y * x2
				c03 += y * x3
				y = a1[p]
				c10 += y * x0
				c11 += y * x1
				c12 += y * x2
				c13 += y * x3
				y = a2[p]
				c20 += y * x0
				c21 += y * x1
				c22 += y * x2
				c23 += y * x3
				y = a3[p]
				c30 += y * x0
				c31 += y * x1
				c32 += y * x2
				c33 += y * x3
			}
			convGemmStore4(c[i*ldc+j:], acc, z[0], c00, c01, c02, c03)
			convGemmStore4(c[(i+1)*ldc+j:], acc, z[1], c10, c11, c12, c13)
			convGemmStore4(c[(i+2)*ldc+j:], acc, z[2], c20, c21, c22, c23)
			convGemmStore4(c[(i+3)*ldc+j:], acc, z[3], c30, c31, c32, c33)
		}
		for ; j < n; j++ {
			b0 := b[j*ldb:]
			b0 = b0[:len(a0)]
			var c0, c1, c2, c3 T
			for p, x := range b0 {
				c0 += a0[p] * x
				c1 += a1[p] * x
				c2 += a2[p] * x
				c3 += a3[p] * x
			}
			for r, v := range [4]T{c0, c1, c2, c3} {
				if acc {
					c[(i+r)*ldc+j] += v
				} else {
					c[(i+r)*ldc+j] = v + z[r]
				}
			}
		}
	}
	for ; i < m; i++ {
		a0 := a[i*lda : i*lda+k]
		var z T
		if bias != nil && !acc {
			z = bias[i]
		}
		for j := 0; j < n; j++ {
			b0 := b[j*ldb:]
			b0 = b0[:len(a0)]
			var s T
			for p, x := range b0 {
				s += a0[p] * x
			}
			if acc {
				c[i*ldc+j] += s
			} else {
				c[i*ldc+j] = s + z
			}
		}
	}
}

// convGemmStore4 writes (or adds, when acc) four results to the front of c,
// offset by z when writing.
func convGemmStore4[T convFloat](c []T, acc bool, z, v0, v1, v2, v3 T) {
	c = c[:4]
	if acc {
		c[0] += v0
		c[1] += v1
		c[2] += v2
		c[3] += v3
		return
	}
	c[0], c[1], c[2], c[3] = v0+z, v1+z, v2+z, v3+z
}

// Scratch buffers for the per-worker im2col tiles, reused across runs.
var convScratchPool32, convScratchPool64 sync.Pool

// convGetScratch returns a scratch slice of n elements (contents undefined);
// release it with convPutScratch.
func convGetScratch[T convFloat](n int) *[]T {
	var p *sync.Pool
	var z T
	if _, ok := any(z).(float32); ok {
		p = &convScratchPool32
	} else {
		p = &convScratchPool64
	}
	if v, ok := p.Get().(*[]T); ok && cap(*v) >= n {
		*v = (*v)[:n]
		return v
	}
	s := make([]T, n)
	return &s
}

func convPutScratch[T convFloat](s *[]T) {
	var z T
	if _, ok := any(z).(float32); ok {
		convScratchPool32.Put(s)
	} else {
		convScratchPool64.Put(s)
	}
}

// convTransposeMat writes the transpose of the rows×cols row-major matrix src
// (row stride lds) into dst (cols×rows, row stride ldd).
func convTransposeMat[T any](dst []T, ldd int, src []T, lds, rows, cols int) {
	const blk = 32
	for i0 := 0; i0 < rows; i0 += blk {
		i1 := min(i0+blk, rows)
		for j0 := 0; j0 < cols; j0 += blk {
			j1 := min(j0+blk, cols)
			for i := i0; i < i1; i++ {
				row := src[i*lds : i*lds+j1]
				for j := j0; j < j1; j++ {
					dst[j*ldd+i] = row[j]
				}
			}
		}
	}
}
