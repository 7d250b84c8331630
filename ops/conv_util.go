package ops

import (
	"fmt"
	"math"
)

// This file holds helpers shared by the convolution, pooling, resize, image,
// recurrent and signal kernels: float working buffers, attribute parsing of
// the window geometry and a small blocked matrix product.

// convFloat is the set of element types the spatial kernels compute in.
type convFloat interface {
	float32 | float64
}

// floatWork returns t's elements as float32 when t is a float32, float16 or
// bfloat16 tensor. For float32 input the data is returned as is (it must not
// be modified); otherwise a converted temporary is returned in tmp, which
// the caller releases.
func floatWork32(ec *Context, t *Tensor) (data []float32, tmp *Tensor, err error) {
	switch d := t.Data.(type) {
	case []float32:
		return d, nil, nil
	case []F16:
		tmp = ec.Empty(Float, t.Shape...)
		out := tmp.Float32s()
		for i, v := range d {
			out[i] = v.Float32()
		}
		return out, tmp, nil
	case []BF16:
		tmp = ec.Empty(Float, t.Shape...)
		out := tmp.Float32s()
		for i, v := range d {
			out[i] = v.Float32()
		}
		return out, tmp, nil
	}
	return nil, nil, fmt.Errorf("expected a float32, float16 or bfloat16 tensor, got %s", t.DType)
}

// floatWork64 returns t's elements as float64, converting any numeric type
// into a temporary (returned in tmp, for the caller to release) unless t is
// already float64.
func floatWork64(ec *Context, t *Tensor) (data []float64, tmp *Tensor, err error) {
	if d, ok := t.Data.([]float64); ok {
		return d, nil, nil
	}
	tmp = ec.Empty(Double, t.Shape...)
	out := tmp.Float64s()
	switch d := t.Data.(type) {
	case []float32:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []F16:
		for i, v := range d {
			out[i] = float64(v.Float32())
		}
	case []BF16:
		for i, v := range d {
			out[i] = float64(v.Float32())
		}
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

// storeFloat32 writes src into dst, a float32, float16 or bfloat16 tensor of
// the same element count (a no-op when dst already holds src).
func storeFloat32(dst *Tensor, src []float32) {
	switch d := dst.Data.(type) {
	case []float32:
		if len(d) > 0 && len(src) > 0 && &d[0] == &src[0] {
			return
		}
		copy(d, src)
	case []F16:
		for i, v := range src {
			d[i] = F16From(v)
		}
	case []BF16:
		for i, v := range src {
			d[i] = BF16From(v)
		}
	}
}

// storeFloat64 writes src into dst, a numeric tensor of the same element
// count. Integer destinations are rounded half to even and saturated.
func storeFloat64(dst *Tensor, src []float64) {
	switch d := dst.Data.(type) {
	case []float64:
		if len(d) > 0 && len(src) > 0 && &d[0] == &src[0] {
			return
		}
		copy(d, src)
	case []float32:
		for i, v := range src {
			d[i] = float32(v)
		}
	case []F16:
		for i, v := range src {
			d[i] = F16From(float32(v))
		}
	case []BF16:
		for i, v := range src {
			d[i] = BF16From(float32(v))
		}
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

// isHalfFloat reports whether dt is computed through float32 working buffers.
func isHalfFloat(dt DType) bool { return dt == Float16 || dt == BFloat16 }

// windowAttrs holds the geometry attributes shared by Conv, ConvTranspose
// and the pooling operators.
type windowAttrs struct {
	autoPad   string
	kernel    []int // kernel_shape (nil when absent)
	strides   []int // nil when absent
	dilations []int // nil when absent
	pads      []int // [begin..., end...]; nil when absent
}

// readWindowAttrs reads and validates auto_pad, kernel_shape, strides,
// dilations and pads.
func readWindowAttrs(n *Node) (windowAttrs, error) {
	var w windowAttrs
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

// windowGeom is the resolved geometry of a sliding-window operator over
// the spatial dimensions of one input.
type windowGeom struct {
	in, out, kernel, stride, dilation, padBegin, padEnd []int
}

// resolve computes the output sizes and pads for the spatial input sizes
// in, with kernel the effective kernel shape. ceil selects ceil_mode
// rounding (pooling).
func (w *windowAttrs) resolve(in, kernel []int, ceil bool) (windowGeom, error) {
	k := len(in)
	g := windowGeom{
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

// gemmNT computes C = A·Bᵀ (+ C when acc) for row-major A (m×k, row stride
// lda), B (n×k, row stride ldb) and C (m×n, row stride ldc). When bias is
// non-nil and acc is false, bias[i] is added to row i.
func gemmNT[T convFloat](m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, bias []T, acc bool) {
	if m == 0 || n == 0 {
		return
	}
	i := 0
	for ; i+4 <= m; i += 4 {
		a0 := a[i*lda : i*lda+k]
		a1 := a[(i+1)*lda : (i+1)*lda+k]
		a2 := a[(i+2)*lda : (i+2)*lda+k]
		a3 := a[(i+3)*lda : (i+3)*lda+k]
		var z0, z1, z2, z3 T
		if bias != nil && !acc {
			z0, z1, z2, z3 = bias[i], bias[i+1], bias[i+2], bias[i+3]
		}
		j := 0
		for ; j+2 <= n; j += 2 {
			b0 := b[j*ldb : j*ldb+k]
			b1 := b[(j+1)*ldb : (j+1)*ldb+k]
			var c00, c01, c10, c11, c20, c21, c30, c31 T
			for p := 0; p < k; p++ {
				x0, x1 := b0[p], b1[p]
				y := a0[p]
				c00 += y * x0
				c01 += y * x1
				y = a1[p]
				c10 += y * x0
				c11 += y * x1
				y = a2[p]
				c20 += y * x0
				c21 += y * x1
				y = a3[p]
				c30 += y * x0
				c31 += y * x1
			}
			r0 := c[i*ldc+j : i*ldc+j+2]
			r1 := c[(i+1)*ldc+j : (i+1)*ldc+j+2]
			r2 := c[(i+2)*ldc+j : (i+2)*ldc+j+2]
			r3 := c[(i+3)*ldc+j : (i+3)*ldc+j+2]
			if acc {
				r0[0] += c00
				r0[1] += c01
				r1[0] += c10
				r1[1] += c11
				r2[0] += c20
				r2[1] += c21
				r3[0] += c30
				r3[1] += c31
			} else {
				r0[0], r0[1] = c00+z0, c01+z0
				r1[0], r1[1] = c10+z1, c11+z1
				r2[0], r2[1] = c20+z2, c21+z2
				r3[0], r3[1] = c30+z3, c31+z3
			}
		}
		for ; j < n; j++ {
			b0 := b[j*ldb : j*ldb+k]
			var c0, c1, c2, c3 T
			for p := 0; p < k; p++ {
				x := b0[p]
				c0 += a0[p] * x
				c1 += a1[p] * x
				c2 += a2[p] * x
				c3 += a3[p] * x
			}
			if acc {
				c[i*ldc+j] += c0
				c[(i+1)*ldc+j] += c1
				c[(i+2)*ldc+j] += c2
				c[(i+3)*ldc+j] += c3
			} else {
				c[i*ldc+j] = c0 + z0
				c[(i+1)*ldc+j] = c1 + z1
				c[(i+2)*ldc+j] = c2 + z2
				c[(i+3)*ldc+j] = c3 + z3
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
			b0 := b[j*ldb : j*ldb+k]
			var s T
			for p := 0; p < k; p++ {
				s += a0[p] * b0[p]
			}
			if acc {
				c[i*ldc+j] += s
			} else {
				c[i*ldc+j] = s + z
			}
		}
	}
}

// transposeInto writes the transpose of the rows×cols row-major matrix src
// (row stride lds) into dst (cols×rows, row stride ldd).
func transposeInto[T any](dst []T, ldd int, src []T, lds, rows, cols int) {
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
