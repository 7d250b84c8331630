package ops

import (
	"fmt"
	"math"
)

// Element-wise preprocessing operators of the ai.onnx.ml domain: Scaler,
// Normalizer, Binarizer and Imputer.

func registerMLPreprocess(r *Registry) {
	r.Add(DomainML, "Scaler", 1, newMLScaler)
	r.Add(DomainML, "Normalizer", 1, newMLNormalizer)
	r.Add(DomainML, "Binarizer", 1, newMLBinarizer)
	r.Add(DomainML, "Imputer", 1, newMLImputer)
}

// mlFeatureDim returns the feature (last) dimension of x for the
// per-feature attributes of Scaler and Imputer: the only dimension of a 1-D
// tensor, else the second.
func mlFeatureDim(x *Tensor) (int, error) {
	switch len(x.Shape) {
	case 0:
		return 1, nil
	case 1:
		return x.Shape[0], nil
	case 2:
		return x.Shape[1], nil
	}
	return 0, fmt.Errorf("input must have rank at most 2, got shape %v", x.Shape)
}

// ---------------------------------------------------------------------------
// Scaler: Y = (X - offset) * scale, per feature, in float32.

type mlScaler struct{ offset, scale []float32 }

func newMLScaler(n *Node) (any, error) {
	offset, _ := n.Attrs.Floats("offset")
	scale, _ := n.Attrs.Floats("scale")
	if len(offset) == 0 {
		offset = []float32{0}
	}
	if len(scale) == 0 {
		scale = []float32{1}
	}
	if len(offset) != 1 && len(scale) != 1 && len(offset) != len(scale) {
		return nil, fmt.Errorf("offset has %d elements and scale %d: they must have the same length (or 1)", len(offset), len(scale))
	}
	return &mlScaler{offset: offset, scale: scale}, nil
}

func (k *mlScaler) Run(ec *Context, in, out []*Tensor) error {
	x := in[0]
	c, err := mlFeatureDim(x)
	if err != nil {
		return err
	}
	for _, a := range [][]float32{k.offset, k.scale} {
		if len(a) != 1 && len(a) != c {
			return fmt.Errorf("offset/scale have %d elements but the input has %d features", len(a), c)
		}
	}
	data, tmp, err := mlFloat32Input(ec, x)
	if err != nil {
		return err
	}
	y := ec.Empty(Float, x.Shape...)
	yd := y.Data.([]float32)
	off, sc := k.offset, k.scale
	if len(off) == 1 && len(sc) == 1 {
		o, s := off[0], sc[0]
		for i, v := range data {
			yd[i] = (v - o) * s
		}
	} else {
		for r := 0; r+c <= len(data) && c > 0; r += c {
			row, dst := data[r:r+c], yd[r:r+c]
			for j, v := range row {
				o, s := off[0], sc[0]
				if len(off) > 1 {
					o = off[j]
				}
				if len(sc) > 1 {
					s = sc[j]
				}
				dst[j] = (v - o) * s
			}
		}
	}
	if tmp != nil {
		ec.Release(tmp)
	}
	out[0] = y
	return nil
}

// ---------------------------------------------------------------------------
// Normalizer: each row divided by its MAX, L1 or L2 norm, in float32.

type mlNormalizer struct{ norm string }

func newMLNormalizer(n *Node) (any, error) {
	norm := n.Attrs.String("norm", "MAX")
	switch norm {
	case "MAX", "L1", "L2":
	default:
		return nil, fmt.Errorf("norm %q is not one of MAX, L1, L2", norm)
	}
	return &mlNormalizer{norm: norm}, nil
}

func (k *mlNormalizer) Run(ec *Context, in, out []*Tensor) error {
	x := in[0]
	n, c, err := mlInput2D(x)
	if err != nil {
		return err
	}
	y := ec.Empty(Float, x.Shape...)
	yd := y.Data.([]float32)
	switch d := x.Data.(type) {
	case []float32:
		mlNormalizeRows(k.norm, d, yd, n, c)
	case []float64:
		mlNormalizeRows(k.norm, d, yd, n, c)
	case []int64:
		mlNormalizeRows(k.norm, d, yd, n, c)
	case []int32:
		mlNormalizeRows(k.norm, d, yd, n, c)
	default:
		ec.Release(y)
		return fmt.Errorf("unsupported input type %s", x.DType)
	}
	out[0] = y
	return nil
}

func mlNormalizeRows[T float32 | float64 | int64 | int32](norm string, x []T, y []float32, n, c int) {
	for r := 0; r < n; r++ {
		row, dst := x[r*c:r*c+c], y[r*c:r*c+c]
		switch norm {
		case "MAX":
			mx := float32(-math.MaxFloat32)
			for _, v := range row {
				mx = max(mx, float32(v))
			}
			for j, v := range row {
				if mx != 0 {
					dst[j] = float32(v) / mx
				} else {
					dst[j] = float32(v)
				}
			}
		case "L1":
			var sum float32
			for _, v := range row {
				sum += mlAbs32(float32(v))
			}
			for j, v := range row {
				if sum != 0 {
					dst[j] = float32(v) / sum
				} else {
					dst[j] = float32(v)
				}
			}
		case "L2":
			var sum float32
			for j, v := range row {
				sq := float32(v * v) // squared in the input type, as onnxruntime does
				dst[j] = sq
				sum += sq
			}
			for j, v := range row {
				if sum == 0 {
					dst[j] = float32(v)
					continue
				}
				s := float32(math.Sqrt(float64(dst[j] / sum)))
				if v < 0 {
					s = -s
				}
				dst[j] = s
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Binarizer: 1 where X > threshold, else 0, in X's type.

type mlBinarizer struct{ threshold float32 }

func newMLBinarizer(n *Node) (any, error) {
	return &mlBinarizer{threshold: n.Attrs.Float("threshold", 0)}, nil
}

func (k *mlBinarizer) Run(ec *Context, in, out []*Tensor) error {
	x := in[0]
	y := ec.Empty(x.DType, x.Shape...)
	switch d := x.Data.(type) {
	case []float32:
		mlBinarize(d, y.Data.([]float32), k.threshold)
	case []float64:
		mlBinarize(d, y.Data.([]float64), float64(k.threshold))
	case []int64:
		mlBinarize(d, y.Data.([]int64), float64(k.threshold))
	case []int32:
		mlBinarize(d, y.Data.([]int32), float64(k.threshold))
	default:
		ec.Release(y)
		return fmt.Errorf("unsupported input type %s", x.DType)
	}
	out[0] = y
	return nil
}

func mlBinarize[T float32 | float64 | int64 | int32, U float32 | float64](x, y []T, thr U) {
	for i, v := range x {
		if U(v) > thr {
			y[i] = 1
		} else {
			y[i] = 0
		}
	}
}

// ---------------------------------------------------------------------------
// Imputer: replaces a marker value (or NaN) with a per-feature value.

type mlImputer struct {
	floats     []float32
	ints       []int64
	replacedF  float32
	replacedI  int64
	floatsMode bool
}

func newMLImputer(n *Node) (any, error) {
	a := n.Attrs
	k := &mlImputer{}
	k.floats, _ = a.Floats("imputed_value_floats")
	k.ints, _ = a.Ints("imputed_value_int64s")
	k.replacedF = a.Float("replaced_value_float", 0)
	k.replacedI = a.Int("replaced_value_int64", 0)
	switch {
	case len(k.floats) > 0 && len(k.ints) > 0:
		return nil, fmt.Errorf("only one of imputed_value_floats and imputed_value_int64s may be set")
	case len(k.floats) > 0:
		k.floatsMode = true
	case len(k.ints) == 0:
		return nil, fmt.Errorf("one of imputed_value_floats and imputed_value_int64s must be set")
	}
	return k, nil
}

func (k *mlImputer) Run(ec *Context, in, out []*Tensor) error {
	x := in[0]
	c, err := mlFeatureDim(x)
	if err != nil {
		return err
	}
	nvals := len(k.ints)
	if k.floatsMode {
		nvals = len(k.floats)
	}
	if nvals != 1 && nvals != c {
		return fmt.Errorf("%d imputed values for %d features", nvals, c)
	}
	y := ec.Empty(x.DType, x.Shape...)
	switch d := x.Data.(type) {
	case []float32:
		if !k.floatsMode {
			ec.Release(y)
			return fmt.Errorf("float input needs imputed_value_floats")
		}
		mlImputeFloat(d, y.Data.([]float32), k.floats, k.replacedF, c)
	case []float64:
		if !k.floatsMode {
			ec.Release(y)
			return fmt.Errorf("double input needs imputed_value_floats")
		}
		mlImputeFloat(d, y.Data.([]float64), k.floats, k.replacedF, c)
	case []int64:
		if k.floatsMode {
			ec.Release(y)
			return fmt.Errorf("integer input needs imputed_value_int64s")
		}
		mlImputeInt(d, y.Data.([]int64), k.ints, k.replacedI, c)
	case []int32:
		if k.floatsMode {
			ec.Release(y)
			return fmt.Errorf("integer input needs imputed_value_int64s")
		}
		mlImputeInt(d, y.Data.([]int32), k.ints, k.replacedI, c)
	default:
		ec.Release(y)
		return fmt.Errorf("unsupported input type %s", x.DType)
	}
	out[0] = y
	return nil
}

func mlImputeFloat[T float32 | float64](x, y []T, vals []float32, replaced float32, c int) {
	nanMarker := replaced != replaced
	for i, v := range x {
		if (nanMarker && v != v) || (!nanMarker && v == T(replaced)) {
			if len(vals) == 1 {
				y[i] = T(vals[0])
			} else {
				y[i] = T(vals[i%c])
			}
		} else {
			y[i] = v
		}
	}
}

func mlImputeInt[T int64 | int32](x, y []T, vals []int64, replaced int64, c int) {
	for i, v := range x {
		if int64(v) == replaced {
			if len(vals) == 1 {
				y[i] = T(vals[0])
			} else {
				y[i] = T(vals[i%c])
			}
		} else {
			y[i] = v
		}
	}
}
