package ops

import (
	"fmt"
	"math"
)

// Helpers shared by the ai.onnx.ml kernels: score post-transforms and the
// conversion of numeric inputs. The post-transforms compute in float32, as
// onnxruntime does, so that results agree to the last bit where possible.

// mlPostTransform is the transform applied to raw scores before output.
type mlPostTransform uint8

const (
	mlPostNone mlPostTransform = iota
	mlPostSoftmax
	mlPostLogistic
	mlPostSoftmaxZero
	mlPostProbit
)

var mlPostTransformNames = map[string]mlPostTransform{
	"NONE": mlPostNone, "SOFTMAX": mlPostSoftmax, "LOGISTIC": mlPostLogistic,
	"SOFTMAX_ZERO": mlPostSoftmaxZero, "PROBIT": mlPostProbit,
}

// mlParsePostTransform reads a string post_transform attribute.
func mlParsePostTransform(a *Attrs) (mlPostTransform, error) {
	s := a.String("post_transform", "NONE")
	p, ok := mlPostTransformNames[s]
	if !ok {
		return 0, fmt.Errorf("post_transform %q is not one of NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT", s)
	}
	return p, nil
}

// mlLogistic is 1/(1+exp(-v)) computed so that it neither overflows nor
// loses precision for large |v|.
func mlLogistic(v float32) float32 {
	e := float32(math.Exp(float64(-mlAbs32(v))))
	p := 1 / (1 + e)
	if v < 0 {
		return 1 - p
	}
	return p
}

func mlAbs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

func mlExp32(v float32) float32 { return float32(math.Exp(float64(v))) }

// mlErfInv is the closed-form approximation of the inverse error function
// (Winitzki's, a = 0.147) that onnxruntime uses for PROBIT.
func mlErfInv(x float32) float32 {
	sgn := float32(1)
	if x < 0 {
		sgn = -1
	}
	x = (1 - x) * (1 + x)
	lg := float32(math.Log(float64(x)))
	v := 2/(float32(math.Pi)*0.147) + 0.5*lg
	v2 := 1 / float32(0.147) * lg
	v3 := -v + float32(math.Sqrt(float64(v*v-v2)))
	return sgn * float32(math.Sqrt(float64(v3)))
}

// mlProbit is the quantile function of the standard normal distribution.
func mlProbit(v float32) float32 { return float32(math.Sqrt2) * mlErfInv(2*v-1) }

// mlSoftmax replaces v with its softmax, computed in float32.
func mlSoftmax(v []float32) {
	mx := float32(-math.MaxFloat32)
	for _, x := range v {
		if x > mx {
			mx = x
		}
	}
	var sum float32
	for i, x := range v {
		e := mlExp32(x - mx)
		v[i] = e
		sum += e
	}
	for i := range v {
		v[i] /= sum
	}
}

// mlSoftmaxZero is softmax that leaves (near-)zero scores at zero weight.
func mlSoftmaxZero(v []float32) {
	mx := float32(-math.MaxFloat32)
	for _, x := range v {
		if x > mx {
			mx = x
		}
	}
	expNegMax := mlExp32(-mx)
	var sum float32
	for i, x := range v {
		if x > 0.0000001 || x < -0.0000001 {
			e := mlExp32(x - mx)
			v[i] = e
			sum += e
		} else {
			v[i] = x * expNegMax
		}
	}
	for i := range v {
		v[i] /= sum
	}
}

// mlApplyPost applies a post-transform to a row of float32 scores in place.
func mlApplyPost(p mlPostTransform, v []float32) {
	switch p {
	case mlPostSoftmax:
		mlSoftmax(v)
	case mlPostSoftmaxZero:
		mlSoftmaxZero(v)
	case mlPostLogistic:
		for i, x := range v {
			v[i] = mlLogistic(x)
		}
	case mlPostProbit:
		for i, x := range v {
			v[i] = mlProbit(x)
		}
	}
}

// mlInput2D interprets t as a batch of feature rows the way the ai.onnx.ml
// operators do: a 1-D tensor is one row, a 2-D tensor [N, C] is N rows.
func mlInput2D(t *Tensor) (n, c int, err error) {
	switch len(t.Shape) {
	case 1:
		return 1, t.Shape[0], nil
	case 2:
		return t.Shape[0], t.Shape[1], nil
	}
	return 0, 0, fmt.Errorf("input must be 1-D or 2-D, got shape %v", t.Shape)
}

// mlFloat32Input returns t's elements as float32, converting (into a
// temporary the caller must release with ec.Release when tmp is non-nil)
// from float64, float16 and integer types.
func mlFloat32Input(ec *Context, t *Tensor) (data []float32, tmp *Tensor, err error) {
	if d, ok := t.Data.([]float32); ok {
		return d, nil, nil
	}
	tmp = ec.Empty(Float, t.Len())
	out := tmp.Data.([]float32)
	switch d := t.Data.(type) {
	case []float64:
		for i, v := range d {
			out[i] = float32(v)
		}
	case []F16:
		for i, v := range d {
			out[i] = v.Float32()
		}
	case []int64:
		for i, v := range d {
			out[i] = float32(v)
		}
	case []int32:
		for i, v := range d {
			out[i] = float32(v)
		}
	default:
		ec.Release(tmp)
		return nil, nil, fmt.Errorf("unsupported input type %s", t.DType)
	}
	return out, tmp, nil
}

// mlAttrFloats64 reads a numeric list attribute that may be given as floats
// or, with the suffix _as_tensor, as a (double) tensor. present reports
// whether either form was set; both at once is an error.
func mlAttrFloats64(a *Attrs, name string) (vals []float64, present bool, err error) {
	fs, okF := a.Floats(name)
	t := a.Tensor(name + "_as_tensor")
	if okF && t != nil && len(fs) > 0 && t.Len() > 0 {
		return nil, false, fmt.Errorf("attributes %s and %s_as_tensor are both set", name, name)
	}
	if t != nil && t.Len() > 0 {
		v, err := t.AsFloat64s()
		if err != nil {
			return nil, false, fmt.Errorf("attribute %s_as_tensor: %v", name, err)
		}
		return v, true, nil
	}
	if okF {
		v := make([]float64, len(fs))
		for i, x := range fs {
			v[i] = float64(x)
		}
		return v, true, nil
	}
	return nil, false, nil
}

// mlTensorAttrFloats64 reads a tensor attribute of any float type as float64.
func mlTensorAttrFloats64(a *Attrs, name string) ([]float64, bool, error) {
	t := a.Tensor(name)
	if t == nil {
		return nil, false, nil
	}
	v, err := t.AsFloat64s()
	if err != nil {
		return nil, false, fmt.Errorf("attribute %s: %v", name, err)
	}
	return v, true, nil
}
