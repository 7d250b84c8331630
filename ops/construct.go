package ops

import (
	"fmt"
	"math"
)

// registerConstruct registers the ops that build tensors from attributes
// and shapes: Constant, ConstantOfShape, Range, EyeLike and OneHot.
func registerConstruct(r *Registry) {
	r.Add("", "Constant", 1, newCoConstant)
	r.Add("", "ConstantOfShape", 9, newCoConstantOfShape)
	r.AddKernel("", "Range", 11, KernelFunc(coRange))
	r.Add("", "EyeLike", 9, newCoEyeLike)
	r.Add("", "OneHot", 9, newCoOneHot)
}

// coConstant implements Constant: it returns a copy of its attribute value
// (the engine folds it at plan time).
type coConstant struct{ value *Tensor }

func newCoConstant(n *Node) (any, error) {
	var t *Tensor
	found := 0
	for _, name := range n.Attrs.Names() {
		at := n.Attrs.Get(name)
		switch name {
		case "value":
			t = n.Attrs.Tensor(name)
		case "value_float":
			t = Scalar(n.Attrs.Float(name, 0))
		case "value_floats":
			v, _ := n.Attrs.Floats(name)
			t = FromSlice(Float, append([]float32{}, v...), len(v))
		case "value_int":
			t = Scalar(n.Attrs.Int(name, 0))
		case "value_ints":
			v, _ := n.Attrs.Ints(name)
			t = FromSlice(Int64, append([]int64{}, v...), len(v))
		case "value_string":
			t = Scalar(n.Attrs.String(name, ""))
		case "value_strings":
			v, _ := n.Attrs.Strings(name)
			t = FromSlice(String, append([]string{}, v...), len(v))
		case "sparse_value":
			// the decoder densifies sparse tensors
			t = n.Attrs.Tensor(name)
		default:
			continue
		}
		if err := n.Attrs.Err(); err != nil {
			return nil, err
		}
		if t == nil {
			return nil, fmt.Errorf("attribute %q has type %s", name, at.Type)
		}
		found++
	}
	if found != 1 {
		return nil, fmt.Errorf("exactly one value attribute is required, got %d", found)
	}
	if t.Data == nil || SliceLen(t.Data) != t.Len() {
		return nil, fmt.Errorf("value tensor %s has no data", t)
	}
	return &coConstant{value: t}, nil
}

func (k *coConstant) Run(ec *Context, _, out []*Tensor) error {
	y := ec.Empty(k.value.DType, k.value.Shape...)
	CopySlice(y.Data, k.value.Data)
	out[0] = y
	return nil
}

// coConstantOfShape implements ConstantOfShape.
type coConstantOfShape struct{ value *Tensor }

func newCoConstantOfShape(n *Node) (any, error) {
	v := n.Attrs.Tensor("value")
	if v == nil {
		v = Scalar(float32(0))
	}
	if v.Len() != 1 || SliceLen(v.Data) != 1 {
		return nil, fmt.Errorf("attribute \"value\" must hold one element, got %s", v)
	}
	return &coConstantOfShape{value: v}, nil
}

func (k *coConstantOfShape) Run(ec *Context, in, out []*Tensor) error {
	spec, err := shInts(shOptional(in, 0), "input")
	if err != nil {
		return err
	}
	var buf [maxRank]int
	shape := buf[:0]
	for _, s := range spec {
		if s < 0 {
			return fmt.Errorf("shape %v has a negative dimension", spec)
		}
		shape = append(shape, int(s))
	}
	y := ec.Empty(k.value.DType, shape...)
	shFill(y.Data, k.value.Data)
	out[0] = y
	return nil
}

// coRange implements Range for every numeric type.
func coRange(ec *Context, in, out []*Tensor) error {
	var ts [3]*Tensor
	for i, name := range []string{"start", "limit", "delta"} {
		t, err := shInput(in, i, name)
		if err != nil {
			return err
		}
		if t.Len() != 1 {
			return fmt.Errorf("%s must be a scalar, got shape %s", name, ShapeString(t.Shape))
		}
		if i > 0 && t.DType != ts[0].DType {
			return fmt.Errorf("%s has type %s, start %s", name, t.DType, ts[0].DType)
		}
		ts[i] = t
	}
	dt := ts[0].DType
	if dt.IsInteger() {
		v := [3]int64{}
		for i, t := range ts {
			x, err := t.AsInt64s()
			if err != nil {
				return err
			}
			v[i] = x[0]
		}
		start, limit, delta := v[0], v[1], v[2]
		if delta == 0 {
			return fmt.Errorf("delta must not be zero")
		}
		n := int64(0)
		if delta > 0 && limit > start {
			n = (limit - start + delta - 1) / delta
		} else if delta < 0 && limit < start {
			n = (start - limit - delta - 1) / -delta
		}
		y := ec.Empty(dt, int(n))
		out[0] = y
		switch d := y.Data.(type) {
		case []int8:
			coFillRange(d, start, delta)
		case []int16:
			coFillRange(d, start, delta)
		case []int32:
			coFillRange(d, start, delta)
		case []int64:
			coFillRange(d, start, delta)
		case []uint8:
			coFillRange(d, start, delta)
		case []uint16:
			coFillRange(d, start, delta)
		case []uint32:
			coFillRange(d, start, delta)
		case []uint64:
			coFillRange(d, start, delta)
		default:
			return fmt.Errorf("unsupported type %s", dt)
		}
		return nil
	}
	v := [3]float64{}
	for i, t := range ts {
		x, err := t.AsFloat64s()
		if err != nil {
			return err
		}
		v[i] = x[0]
	}
	start, limit, delta := v[0], v[1], v[2]
	if delta == 0 || math.IsNaN(delta) {
		return fmt.Errorf("delta must be a nonzero number")
	}
	cnt := math.Ceil((limit - start) / delta)
	if math.IsNaN(cnt) || math.IsInf(cnt, 0) || cnt > 1<<40 {
		return fmt.Errorf("range [%v, %v) by %v is too large", start, limit, delta)
	}
	n := max(int(cnt), 0)
	y := ec.Empty(dt, n)
	out[0] = y
	switch d := y.Data.(type) {
	case []float32:
		s, dl := float32(start), float32(delta)
		for i := range d {
			d[i] = s + float32(i)*dl
		}
	case []float64:
		for i := range d {
			d[i] = start + float64(i)*delta
		}
	case []F16:
		s, dl := float32(start), float32(delta)
		for i := range d {
			d[i] = F16From(s + float32(i)*dl)
		}
	case []BF16:
		s, dl := float32(start), float32(delta)
		for i := range d {
			d[i] = BF16From(s + float32(i)*dl)
		}
	default:
		return fmt.Errorf("unsupported type %s", dt)
	}
	return nil
}

func coFillRange[T Number](d []T, start, delta int64) {
	v := start
	for i := range d {
		d[i] = T(v)
		v += delta
	}
}

// coEyeLike implements EyeLike.
type coEyeLike struct {
	dtype DType // Undefined: the input's type
	k     int
}

func newCoEyeLike(n *Node) (any, error) {
	k := &coEyeLike{k: int(n.Attrs.Int("k", 0))}
	if n.Attrs.Has("dtype") {
		k.dtype = DType(n.Attrs.Int("dtype", 0))
		if _, err := shScalarOf(k.dtype, 1); err != nil || k.dtype == String {
			return nil, fmt.Errorf("unsupported dtype %s", k.dtype)
		}
	}
	return k, nil
}

func (k *coEyeLike) Run(ec *Context, in, out []*Tensor) error {
	x, err := shInput(in, 0, "input")
	if err != nil {
		return err
	}
	if len(x.Shape) != 2 {
		return fmt.Errorf("input must be 2-D, got %s", ShapeString(x.Shape))
	}
	dt := k.dtype
	if dt == Undefined {
		dt = x.DType
	}
	one, err := shScalarOf(dt, 1)
	if err != nil {
		return err
	}
	rows, cols := x.Shape[0], x.Shape[1]
	y := ec.New(dt, rows, cols)
	out[0] = y
	for i := range rows {
		if j := i + k.k; j >= 0 && j < cols {
			CopySlice(Subslice(y.Data, i*cols+j, i*cols+j+1), one)
		}
	}
	return nil
}

// coOneHot implements OneHot.
type coOneHot struct{ axis int }

func newCoOneHot(n *Node) (any, error) {
	return &coOneHot{axis: int(n.Attrs.Int("axis", -1))}, nil
}

func (k *coOneHot) Run(ec *Context, in, out []*Tensor) error {
	ind, err := shInput(in, 0, "indices")
	if err != nil {
		return err
	}
	dt, err := shInput(in, 1, "depth")
	if err != nil {
		return err
	}
	vals, err := shInput(in, 2, "values")
	if err != nil {
		return err
	}
	if vals.Len() != 2 {
		return fmt.Errorf("values must hold two elements, got shape %s", ShapeString(vals.Shape))
	}
	dv, err := dt.AsFloat64s()
	if err != nil {
		return fmt.Errorf("depth: %w", err)
	}
	if len(dv) != 1 || dv[0] < 1 {
		return fmt.Errorf("depth must be a positive scalar")
	}
	depth := int(dv[0])
	iv, err := ind.AsFloat64s()
	if err != nil {
		return fmt.Errorf("indices: %w", err)
	}
	r := len(ind.Shape) + 1
	axis := k.axis
	if axis < 0 {
		axis += r
	}
	if axis < 0 || axis >= r {
		return fmt.Errorf("axis %d out of range for output rank %d", k.axis, r)
	}
	shape := make([]int, 0, r)
	shape = append(shape, ind.Shape[:axis]...)
	shape = append(shape, depth)
	shape = append(shape, ind.Shape[axis:]...)
	y := ec.Empty(vals.DType, shape...)
	out[0] = y
	shFill(y.Data, vals.Data)
	on := Subslice(vals.Data, 1, 2)
	inner := NumElements(ind.Shape[axis:])
	for p, f := range iv {
		j := int(f)
		if j < 0 {
			j += depth
		}
		if j < 0 || j >= depth {
			continue // out-of-range indices leave the row all off
		}
		o, i := p/inner, p%inner
		at := (o*depth+j)*inner + i
		CopySlice(Subslice(y.Data, at, at+1), on)
	}
	return nil
}
