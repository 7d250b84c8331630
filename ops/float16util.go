package ops

import "fmt"

// Most kernels compute float16 and bfloat16 tensors in float32 (a few in
// float64): the helpers in this file widen such data to the working
// precision and narrow results back, rounding to nearest even. They are the
// one place that converts between the float backing types; kernels should
// call them rather than write the loops again.

// widenFloat32s writes the values of data, a []float32, []float64, []F16 or
// []BF16 of len(dst) or fewer elements, into dst as float32. It reports
// false, writing nothing, when data has another type.
func widenFloat32s(dst []float32, data any) bool {
	switch s := data.(type) {
	case []float32:
		copy(dst, s)
	case []F16:
		for i, v := range s {
			dst[i] = v.Float32()
		}
	case []BF16:
		for i, v := range s {
			dst[i] = v.Float32()
		}
	case []float64:
		for i, v := range s {
			dst[i] = float32(v)
		}
	default:
		return false
	}
	return true
}

// narrowFloat32s writes src into data, a []float32, []float64, []F16 or
// []BF16 of at least len(src) elements, rounding to its element type. It
// reports false, writing nothing, when data has another type.
func narrowFloat32s(data any, src []float32) bool {
	switch d := data.(type) {
	case []float32:
		if len(d) > 0 && len(src) > 0 && &d[0] == &src[0] {
			return true
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
	case []float64:
		for i, v := range src {
			d[i] = float64(v)
		}
	default:
		return false
	}
	return true
}

// widenFloat64s writes the values of data, a []float64, []float32, []F16 or
// []BF16 of len(dst) or fewer elements, into dst as float64. It reports
// false, writing nothing, when data has another type.
func widenFloat64s(dst []float64, data any) bool {
	switch s := data.(type) {
	case []float64:
		copy(dst, s)
	case []float32:
		for i, v := range s {
			dst[i] = float64(v)
		}
	case []F16:
		for i, v := range s {
			dst[i] = float64(v.Float32())
		}
	case []BF16:
		for i, v := range s {
			dst[i] = float64(v.Float32())
		}
	default:
		return false
	}
	return true
}

// narrowFloat64s writes src into data, a []float64, []float32, []F16 or
// []BF16 of at least len(src) elements, rounding to its element type
// (float16 and bfloat16 through float32). It reports false, writing
// nothing, when data has another type.
func narrowFloat64s(data any, src []float64) bool {
	switch d := data.(type) {
	case []float64:
		if len(d) > 0 && len(src) > 0 && &d[0] == &src[0] {
			return true
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
	default:
		return false
	}
	return true
}

// float32Data returns the elements of t, a float32, float16 or bfloat16
// tensor, as float32: t's own slice when t is float32 (it must not be
// modified), else a converted temporary returned in tmp, which the caller
// gives back with ec.Release.
func float32Data(ec *Context, t *Tensor) (data []float32, tmp *Tensor, err error) {
	switch d := t.Data.(type) {
	case []float32:
		return d, nil, nil
	case []F16, []BF16:
		tmp = ec.Empty(Float, t.Shape...)
		widenFloat32s(tmp.Float32s(), d)
		return tmp.Float32s(), tmp, nil
	}
	return nil, nil, fmt.Errorf("expected a float32, float16 or bfloat16 tensor, got %s", t.DType)
}

// float64Data returns the elements of t, a float64, float32, float16 or
// bfloat16 tensor, as float64: t's own slice when t is float64 (it must not
// be modified), else a converted temporary returned in tmp, which the
// caller gives back with ec.Release.
func float64Data(ec *Context, t *Tensor) (data []float64, tmp *Tensor, err error) {
	switch d := t.Data.(type) {
	case []float64:
		return d, nil, nil
	case []float32, []F16, []BF16:
		tmp = ec.Empty(Double, t.Shape...)
		widenFloat64s(tmp.Float64s(), d)
		return tmp.Float64s(), tmp, nil
	}
	return nil, nil, fmt.Errorf("expected a float tensor, got %s", t.DType)
}

// halfToFloat32s returns a newly allocated float32 copy of data, a []F16 or
// []BF16 (nil for other types).
func halfToFloat32s(data any) []float32 {
	var n int
	switch s := data.(type) {
	case []F16:
		n = len(s)
	case []BF16:
		n = len(s)
	default:
		return nil
	}
	out := make([]float32, n)
	widenFloat32s(out, data)
	return out
}
