package ops

import (
	"fmt"
	"math"
)

// This file implements the linear quantization operators: QuantizeLinear,
// DequantizeLinear and DynamicQuantizeLinear, with per-tensor, per-axis and
// blocked scales, over the integer, float8 and float4 quantized types.

func registerQuant(r *Registry) {
	r.Add("", "QuantizeLinear", 10, newQuantizeLinear)
	r.Add("", "DequantizeLinear", 10, newDequantizeLinear)
	r.AddKernel("", "DynamicQuantizeLinear", 11, dynQuantKernel{})
	r.Add("", "MatMulInteger", 10, newMatMulInteger)
	r.Add("", "QLinearMatMul", 10, newQLinearMatMul)
}

// quantRange returns the representable range of an integer quantized type.
func quantRange(dt DType) (lo, hi float64, ok bool) {
	switch dt {
	case Uint8:
		return 0, 255, true
	case Int8:
		return -128, 127, true
	case Uint16:
		return 0, 65535, true
	case Int16:
		return -32768, 32767, true
	case Uint4:
		return 0, 15, true
	case Int4:
		return -8, 7, true
	case Uint2:
		return 0, 3, true
	case Int2:
		return -2, 1, true
	}
	return 0, 0, false
}

// quantFloatType reports whether dt is a float8 or float4 quantized type.
func quantFloatType(dt DType) bool {
	switch dt {
	case Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ, Float4E2M1:
		return true
	}
	return false
}

// quantParams maps an element of x to the index of its scale (and zero
// point) for per-tensor, per-axis and blocked quantization.
type quantParams struct {
	mode   int // 0 per tensor, 1 per axis, 2 blocked
	dim    int // x.Shape[axis]
	inner  int // product of the dims after axis
	block  int
	blocks int // number of blocks along axis
}

// newQuantParams validates the scale shape against x and the attributes.
func newQuantParams(x []int, scale []int, axis, block int) (quantParams, error) {
	n := NumElements(scale)
	if len(scale) == 0 || (n == 1 && block == 0) {
		return quantParams{}, nil
	}
	ax, err := NormalizeAxis(axis, len(x))
	if err != nil {
		return quantParams{}, err
	}
	p := quantParams{dim: x[ax], inner: NumElements(x[ax+1:])}
	if block <= 0 {
		if len(scale) != 1 || scale[0] != x[ax] {
			return p, fmt.Errorf("scale of shape %s does not match axis %d of input shape %s", ShapeString(scale), axis, ShapeString(x))
		}
		p.mode = 1
		return p, nil
	}
	p.mode, p.block = 2, block
	p.blocks = (x[ax] + block - 1) / block
	if len(scale) != len(x) {
		return p, fmt.Errorf("blocked scale of shape %s must have the rank of input shape %s", ShapeString(scale), ShapeString(x))
	}
	for i := range x {
		want := x[i]
		if i == ax {
			want = p.blocks
		}
		if scale[i] != want {
			return p, fmt.Errorf("blocked scale of shape %s does not match input shape %s with block_size %d on axis %d", ShapeString(scale), ShapeString(x), block, axis)
		}
	}
	return p, nil
}

// index returns the parameter index of element i of x.
func (p *quantParams) index(i int) int {
	switch p.mode {
	case 1:
		return (i / p.inner) % p.dim
	case 2:
		in := i % p.inner
		d := (i / p.inner) % p.dim
		o := i / (p.inner * p.dim)
		return (o*p.blocks+d/p.block)*p.inner + in
	}
	return 0
}

// floatValues returns t's elements as float32 (allocating through ec when a
// conversion is needed; release reports whether the caller must release).
func floatValues(ec *Context, t *Tensor) ([]float32, *Tensor, error) {
	if s, ok := t.Data.([]float32); ok {
		return s, nil, nil
	}
	tmp := ec.Empty(Float, t.Shape...)
	d := tmp.Float32s()
	switch s := t.Data.(type) {
	case []float64:
		for i, v := range s {
			d[i] = float32(v)
		}
	case []F16, []BF16:
		widenFloat32s(d, t.Data)
	case []int8:
		for i, v := range s {
			d[i] = float32(v)
		}
	case []int16:
		for i, v := range s {
			d[i] = float32(v)
		}
	case []int32:
		for i, v := range s {
			d[i] = float32(v)
		}
	case []uint16:
		for i, v := range s {
			d[i] = float32(v)
		}
	case []uint8:
		if quantFloatType(t.DType) {
			if err := ewDecodeF32(d, s, t.DType); err != nil {
				ec.Release(tmp)
				return nil, nil, err
			}
		} else {
			for i, v := range s {
				d[i] = float32(v)
			}
		}
	default:
		ec.Release(tmp)
		return nil, nil, fmt.Errorf("unsupported element type %s", t.DType)
	}
	return d, tmp, nil
}

// roundToType rounds a float32 to the precision of a float type (float16 or
// bfloat16), as numpy arithmetic in that type would.
func roundToType(v float32, dt DType) float32 {
	switch dt {
	case Float16:
		return F16From(v).Float32()
	case BFloat16:
		return BF16From(v).Float32()
	}
	return v
}

type quantizeKernel struct {
	axis, block int
	saturate    bool
	outType     DType // from output_dtype; 0 when absent
	precision   DType
}

func newQuantizeLinear(n *Node) (any, error) {
	k := &quantizeKernel{axis: int(n.Attrs.Int("axis", 1)), saturate: n.Attrs.Int("saturate", 1) != 0}
	k.block = int(n.Attrs.Int("block_size", 0))
	if k.block < 0 {
		return nil, fmt.Errorf("block_size must not be negative, got %d", k.block)
	}
	if od := DType(n.Attrs.Int("output_dtype", 0)); od != 0 {
		if _, _, ok := quantRange(od); !ok && !quantFloatType(od) {
			return nil, fmt.Errorf("output_dtype %s is not a quantized type", od)
		}
		k.outType = od
	}
	k.precision = DType(n.Attrs.Int("precision", 0))
	if k.precision != 0 && !k.precision.IsFloat() {
		return nil, fmt.Errorf("precision %s is not a float type", k.precision)
	}
	return k, nil
}

func (k *quantizeKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return fmt.Errorf("QuantizeLinear needs x and y_scale")
	}
	x, scale := in[0], in[1]
	var zp *Tensor
	if len(in) > 2 {
		zp = in[2]
	}
	if !x.DType.IsFloat() && x.DType != Int32 {
		return fmt.Errorf("QuantizeLinear input must be a float tensor, got %s", x.DType)
	}
	outType := Uint8
	if k.outType != 0 {
		outType = k.outType
	}
	if zp != nil {
		if k.outType != 0 && zp.DType != k.outType {
			return fmt.Errorf("output_dtype %s differs from the zero point type %s", k.outType, zp.DType)
		}
		outType = zp.DType
	}
	lo, hi, isInt := quantRange(outType)
	if !isInt && !quantFloatType(outType) {
		return fmt.Errorf("QuantizeLinear cannot produce %s", outType)
	}
	qp, err := newQuantParams(x.Shape, scale.Shape, k.axis, k.block)
	if err != nil {
		return err
	}
	if zp != nil && !EqualShapes(zp.Shape, scale.Shape) && NumElements(zp.Shape) != NumElements(scale.Shape) {
		return fmt.Errorf("zero point shape %s differs from scale shape %s", ShapeString(zp.Shape), ShapeString(scale.Shape))
	}
	xs, xt, err := floatValues(ec, x)
	if err != nil {
		return err
	}
	defer ec.Release(xt)
	ss, st, err := floatValues(ec, scale)
	if err != nil {
		return err
	}
	defer ec.Release(st)
	var zs []float32
	if zp != nil {
		var zt *Tensor
		zs, zt, err = floatValues(ec, zp)
		if err != nil {
			return err
		}
		defer ec.Release(zt)
	}
	// The quotient is computed in the input's precision (or the precision
	// attribute's) as numpy does.
	prec := x.DType
	if k.precision != 0 {
		prec = k.precision
	}
	y := ec.Empty(outType, x.Shape...)
	out[0] = y
	q := ec.Empty(Float, x.Shape...)
	defer ec.Release(q)
	qs := q.Float32s()
	ec.Parallel(len(xs), 16384, func(from, to int) {
		for i := from; i < to; i++ {
			j := qp.index(i)
			v := roundToType(xs[i]/ss[j], prec)
			if isInt {
				r := math.RoundToEven(float64(v))
				if zs != nil {
					r += float64(zs[j])
				}
				qs[i] = float32(max(lo, min(hi, r)))
				if r != r {
					qs[i] = 0
				}
			} else {
				if outType == Float4E2M1 && zs != nil {
					v += zs[j]
				}
				qs[i] = v
			}
		}
	})
	if isInt {
		storeInts(y, qs)
		return nil
	}
	sat := k.saturate || outType == Float4E2M1
	return ewEncodeF32(y.Data, outType, qs, sat, 0)
}

// storeInts writes integral float32 values into an integer tensor.
func storeInts(y *Tensor, v []float32) {
	switch d := y.Data.(type) {
	case []uint8:
		for i, x := range v {
			d[i] = uint8(x)
		}
	case []int8:
		for i, x := range v {
			d[i] = int8(x)
		}
	case []uint16:
		for i, x := range v {
			d[i] = uint16(x)
		}
	case []int16:
		for i, x := range v {
			d[i] = int16(x)
		}
	case []int32:
		for i, x := range v {
			d[i] = int32(x)
		}
	}
}

type dequantizeKernel struct {
	axis, block int
	outType     DType
}

func newDequantizeLinear(n *Node) (any, error) {
	k := &dequantizeKernel{axis: int(n.Attrs.Int("axis", 1)), block: int(n.Attrs.Int("block_size", 0))}
	if k.block < 0 {
		return nil, fmt.Errorf("block_size must not be negative, got %d", k.block)
	}
	if od := DType(n.Attrs.Int("output_dtype", 0)); od != 0 {
		switch od {
		case Float, Float16, BFloat16, Double:
		default:
			return nil, fmt.Errorf("output_dtype %s is not a float type", od)
		}
		k.outType = od
	}
	return k, nil
}

func (k *dequantizeKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return fmt.Errorf("DequantizeLinear needs x and x_scale")
	}
	x, scale := in[0], in[1]
	var zp *Tensor
	if len(in) > 2 {
		zp = in[2]
	}
	isFloat8 := quantFloatType(x.DType)
	if _, _, ok := quantRange(x.DType); !ok && !isFloat8 && x.DType != Int32 {
		return fmt.Errorf("DequantizeLinear cannot read %s", x.DType)
	}
	if !scale.DType.IsFloat() {
		return fmt.Errorf("x_scale must be a float tensor, got %s", scale.DType)
	}
	if zp != nil && zp.DType != x.DType {
		return fmt.Errorf("zero point type %s differs from input type %s", zp.DType, x.DType)
	}
	qp, err := newQuantParams(x.Shape, scale.Shape, k.axis, k.block)
	if err != nil {
		return err
	}
	if zp != nil && NumElements(zp.Shape) != NumElements(scale.Shape) {
		return fmt.Errorf("zero point shape %s differs from scale shape %s", ShapeString(zp.Shape), ShapeString(scale.Shape))
	}
	xs, xt, err := floatValues(ec, x)
	if err != nil {
		return err
	}
	defer ec.Release(xt)
	ss, st, err := floatValues(ec, scale)
	if err != nil {
		return err
	}
	defer ec.Release(st)
	var zs []float32
	if zp != nil && x.DType != Float4E2M1 && !isFloat8 {
		var zt *Tensor
		zs, zt, err = floatValues(ec, zp)
		if err != nil {
			return err
		}
		defer ec.Release(zt)
	}
	outType := scale.DType
	if k.outType != 0 {
		outType = k.outType
	}
	y := ec.Empty(outType, x.Shape...)
	out[0] = y
	compute := func(dst []float32) {
		ec.Parallel(len(xs), 16384, func(from, to int) {
			for i := from; i < to; i++ {
				j := qp.index(i)
				v := xs[i]
				if zs != nil {
					v -= zs[j]
				}
				dst[i] = v * ss[j]
			}
		})
	}
	if d, ok := y.Data.([]float32); ok {
		compute(d)
		return nil
	}
	tmp := ec.Empty(Float, x.Shape...)
	compute(tmp.Float32s())
	narrowFloat32s(y.Data, tmp.Float32s())
	ec.Release(tmp)
	return nil
}

// dynQuantKernel implements DynamicQuantizeLinear: uint8 asymmetric
// quantization with a scale and zero point computed from the data range.
type dynQuantKernel struct{}

func (dynQuantKernel) Run(ec *Context, in, out []*Tensor) error {
	x := in[0]
	xs, ok := x.Data.([]float32)
	if !ok {
		return fmt.Errorf("DynamicQuantizeLinear needs a float32 input, got %s", x.DType)
	}
	y := ec.Empty(Uint8, x.Shape...)
	scale, zp := dynQuantizeU8(ec, y.Data.([]uint8), xs)
	out[0] = y
	if len(out) > 1 {
		s := ec.Empty(Float)
		s.Float32s()[0] = scale
		out[1] = s
	}
	if len(out) > 2 {
		z := ec.Empty(Uint8)
		z.Data.([]uint8)[0] = uint8(zp)
		out[2] = z
	}
	return nil
}

// dynQuantGrain is the number of elements below which the dynamic
// quantization runs on one goroutine.
const dynQuantGrain = 32768

// dynQuantizeU8 quantizes xs into dst as DynamicQuantizeLinear does and
// returns the scale and zero point, splitting large inputs across ec's
// workers.
func dynQuantizeU8(ec *Context, dst []uint8, xs []float32) (scale, zp float32) {
	blocks := min(ec.Workers.Workers(), len(xs)/dynQuantGrain)
	if blocks <= 1 {
		scale, zp = dynQuantParams(xs)
		quantizeU8(dst, xs, scale, zp)
		return scale, zp
	}
	size := (len(xs) + blocks - 1) / blocks
	part := ec.Empty(Float, 2*blocks)
	pv := part.Float32s()
	dynRangeJobs.run(ec, blocks, 1, dynQuantState{xs: xs, part: pv, size: size})
	var lo, hi float32
	for b := range blocks {
		lo, hi = min(lo, pv[2*b]), max(hi, pv[2*b+1])
	}
	ec.Release(part)
	scale, zp = dynQuantRange(lo, hi)
	dynQuantJobs.run(ec, len(xs), dynQuantGrain/2, dynQuantState{xs: xs, dst: dst, scale: scale, zp: zp})
	return scale, zp
}

// dynQuantState is one parallel pass of dynQuantizeU8: per-block ranges
// into part, or the quantization of xs into dst.
type dynQuantState struct {
	xs, part  []float32
	dst       []uint8
	size      int
	scale, zp float32
}

var (
	dynRangeJobs = newParJobs(func(s *dynQuantState, lo, hi int) {
		for b := lo; b < hi; b++ {
			s.part[2*b], s.part[2*b+1] = minMax32(s.xs[b*s.size : min(len(s.xs), (b+1)*s.size)])
		}
	})
	dynQuantJobs = newParJobs(func(s *dynQuantState, lo, hi int) {
		quantizeU8(s.dst[lo:hi], s.xs[lo:hi], s.scale, s.zp)
	})
)

// dynQuantParams returns DynamicQuantizeLinear's scale and zero point for xs
// (the range always includes 0), computed in float32.
func dynQuantParams(xs []float32) (scale, zp float32) {
	lo, hi := minMax32(xs)
	return dynQuantRange(lo, hi)
}

// dynQuantRange returns the scale and zero point for the range [lo, hi]
// (lo <= 0 <= hi).
func dynQuantRange(lo, hi float32) (scale, zp float32) {
	scale = 1
	if hi != lo {
		scale = hi - lo
	}
	scale /= 255
	z := 0 - lo/scale
	z = max(0, min(255, z))
	return scale, float32(math.RoundToEven(float64(z)))
}

// minMax32 returns min(0, xs...) and max(0, xs...), ignoring NaNs.
func minMax32(xs []float32) (lo, hi float32) {
	return vecmath().minMax(xs)
}

// minMaxGo is the portable minMax32.
func minMaxGo(xs []float32) (lo, hi float32) {
	var l0, l1, l2, l3, h0, h1, h2, h3 float32
	i := 0
	for ; i+4 <= len(xs); i += 4 {
		v := xs[i : i+4 : i+4]
		if v[0] < l0 {
			l0 = v[0]
		}
		if v[0] > h0 {
			h0 = v[0]
		}
		if v[1] < l1 {
			l1 = v[1]
		}
		if v[1] > h1 {
			h1 = v[1]
		}
		if v[2] < l2 {
			l2 = v[2]
		}
		if v[2] > h2 {
			h2 = v[2]
		}
		if v[3] < l3 {
			l3 = v[3]
		}
		if v[3] > h3 {
			h3 = v[3]
		}
	}
	for ; i < len(xs); i++ {
		if xs[i] < l0 {
			l0 = xs[i]
		}
		if xs[i] > h0 {
			h0 = xs[i]
		}
	}
	return min(l0, l1, l2, l3), max(h0, h1, h2, h3)
}

// roundMagic is 1.5·2^23: for |x| <= 2^22, float32(x+roundMagic)-roundMagic
// is x rounded to an integer, ties to even (the float32 addition does the
// rounding).
const roundMagic = 12582912

// quantizeU8 computes dst = saturate(round(x/scale) + zp) into uint8, with
// round half to even. zp must be an integer in [0, 255].
func quantizeU8(dst []uint8, xs []float32, scale, zp float32) {
	vecmath().quantizeU8(dst, xs, scale, zp)
}

// quantizeU8Go is the portable quantizeU8.
func quantizeU8Go(dst []uint8, xs []float32, scale, zp float32) {
	dst = dst[:len(xs)]
	for i, v := range xs {
		x := v / scale
		// Bound x first so that the rounding trick holds (and NaN maps
		// to the low end, deterministically).
		if !(x > -512) {
			x = -512
		} else if x > 512 {
			x = 512
		}
		r := float32(x+roundMagic) - roundMagic + zp
		if r < 0 {
			r = 0
		} else if r > 255 {
			r = 255
		}
		dst[i] = uint8(r)
	}
}
