package ops

import (
	"fmt"
	"math"
)

// Categorical encoders of the ai.onnx.ml domain: LabelEncoder (opsets 1, 2
// and 4), CategoryMapper and OneHotEncoder.

func registerMLEncoders(r *Registry) {
	r.Add(DomainML, "LabelEncoder", 1, newMLLabelEncoderV1)
	r.Add(DomainML, "LabelEncoder", 2, newMLLabelEncoder)
	r.Add(DomainML, "CategoryMapper", 1, newMLCategoryMapper)
	r.Add(DomainML, "OneHotEncoder", 1, newMLOneHotEncoder)
}

// mlKeyIndex maps keys of one type (strings, integers or floats) to positions.
type mlKeyIndex struct {
	dt     DType // the key type inputs must have
	strs   map[string]int
	ints   map[int64]int
	floats map[float64]int
	nan    int  // position of the NaN key, -1 if none
	nanEq  bool // NaN keys match NaN inputs (LabelEncoder opset 4)
}

func newMLKeyIndex(keys *Tensor, nanEq bool) (*mlKeyIndex, error) {
	ki := &mlKeyIndex{dt: keys.DType, nan: -1, nanEq: nanEq}
	switch d := keys.Data.(type) {
	case []string:
		ki.strs = make(map[string]int, len(d))
		for i, k := range d {
			if _, dup := ki.strs[k]; !dup {
				ki.strs[k] = i
			}
		}
	case []int64, []int32, []int16:
		v, _ := keys.AsInt64s()
		ki.ints = make(map[int64]int, len(v))
		for i, k := range v {
			if _, dup := ki.ints[k]; !dup {
				ki.ints[k] = i
			}
		}
	case []float32, []float64:
		v, _ := keys.AsFloat64s()
		ki.floats = make(map[float64]int, len(v))
		for i, k := range v {
			if math.IsNaN(k) {
				if ki.nan < 0 {
					ki.nan = i
				}
				continue
			}
			if _, dup := ki.floats[k]; !dup {
				ki.floats[k] = i
			}
		}
	default:
		return nil, fmt.Errorf("unsupported key type %s", keys.DType)
	}
	return ki, nil
}

// lookup returns, for every element of x, the position of its key or -1.
func (ki *mlKeyIndex) lookup(x *Tensor, pos []int32) error {
	if x.DType != ki.dt {
		return fmt.Errorf("input type %s does not match the key type %s", x.DType, ki.dt)
	}
	find := func(m map[int64]int, v int64) int32 {
		if p, ok := m[v]; ok {
			return int32(p)
		}
		return -1
	}
	switch d := x.Data.(type) {
	case []string:
		for i, v := range d {
			pos[i] = -1
			if p, ok := ki.strs[v]; ok {
				pos[i] = int32(p)
			}
		}
	case []int64:
		for i, v := range d {
			pos[i] = find(ki.ints, v)
		}
	case []int32:
		for i, v := range d {
			pos[i] = find(ki.ints, int64(v))
		}
	case []int16:
		for i, v := range d {
			pos[i] = find(ki.ints, int64(v))
		}
	case []float32:
		for i, v := range d {
			pos[i] = ki.findFloat(float64(v))
		}
	case []float64:
		for i, v := range d {
			pos[i] = ki.findFloat(v)
		}
	}
	return nil
}

func (ki *mlKeyIndex) findFloat(v float64) int32 {
	if v != v {
		if ki.nanEq {
			return int32(ki.nan)
		}
		return -1
	}
	if p, ok := ki.floats[v]; ok {
		return int32(p)
	}
	return -1
}

// mlGatherValues writes values[pos[i]] (or def where pos[i] < 0) to dst.
func mlGatherValues(dst, values, def *Tensor, pos []int32) {
	switch d := dst.Data.(type) {
	case []string:
		mlGatherTyped(d, values.Data.([]string), def.Data.([]string)[0], pos)
	case []int64:
		mlGatherTyped(d, values.Data.([]int64), def.Data.([]int64)[0], pos)
	case []int32:
		mlGatherTyped(d, values.Data.([]int32), def.Data.([]int32)[0], pos)
	case []int16:
		mlGatherTyped(d, values.Data.([]int16), def.Data.([]int16)[0], pos)
	case []float32:
		mlGatherTyped(d, values.Data.([]float32), def.Data.([]float32)[0], pos)
	case []float64:
		mlGatherTyped(d, values.Data.([]float64), def.Data.([]float64)[0], pos)
	}
}

func mlGatherTyped[T any](dst, values []T, def T, pos []int32) {
	for i, p := range pos {
		if p >= 0 {
			dst[i] = values[p]
		} else {
			dst[i] = def
		}
	}
}

// mlMapKernel maps every input element through a mlKeyIndex to a value table.
type mlMapKernel struct {
	keys   *mlKeyIndex
	values *Tensor // 1-D, one value per key
	def    *Tensor // one element, of the values' type
}

func (k *mlMapKernel) Run(ec *Context, in, out []*Tensor) error {
	x := in[0]
	pt := ec.Empty(Int32, x.Len())
	defer ec.Release(pt)
	pos := pt.Data.([]int32)
	if err := k.keys.lookup(x, pos); err != nil {
		return err
	}
	y := ec.Empty(k.values.DType, x.Shape...)
	mlGatherValues(y, k.values, k.def, pos)
	out[0] = y
	return nil
}

// ---------------------------------------------------------------------------
// LabelEncoder opset 1: strings to their index in classes_strings, or
// indices back to strings.

type mlLabelEncoderV1 struct {
	toInt  *mlMapKernel
	toStr  []string
	defStr string
}

func newMLLabelEncoderV1(n *Node) (any, error) {
	classes, _ := n.Attrs.Strings("classes_strings")
	ki, err := newMLKeyIndex(FromSlice(String, classes, len(classes)), false)
	if err != nil {
		return nil, err
	}
	idx := make([]int64, len(classes))
	for i := range idx {
		idx[i] = int64(i)
	}
	return &mlLabelEncoderV1{
		toInt:  &mlMapKernel{keys: ki, values: FromSlice(Int64, idx, len(idx)), def: Scalar(n.Attrs.Int("default_int64", -1))},
		toStr:  classes,
		defStr: n.Attrs.String("default_string", "_Unused"),
	}, nil
}

func (k *mlLabelEncoderV1) Run(ec *Context, in, out []*Tensor) error {
	x := in[0]
	if x.DType == String {
		return k.toInt.Run(ec, in, out)
	}
	ids, ok := x.Data.([]int64)
	if !ok {
		return fmt.Errorf("input must be string or int64, got %s", x.DType)
	}
	y := ec.Empty(String, x.Shape...)
	ys := y.Data.([]string)
	for i, v := range ids {
		if v >= 0 && v < int64(len(k.toStr)) {
			ys[i] = k.toStr[v]
		} else {
			ys[i] = k.defStr
		}
	}
	out[0] = y
	return nil
}

// ---------------------------------------------------------------------------
// LabelEncoder opsets 2 and 4: a general key -> value map.

// mlLabelAttrList reads keys_* or values_* (prefix) from its list or tensor
// attribute.
func mlLabelAttrList(a *Attrs, prefix string) (*Tensor, error) {
	var found []*Tensor
	if v, ok := a.Strings(prefix + "_strings"); ok {
		found = append(found, FromSlice(String, v, len(v)))
	}
	if v, ok := a.Ints(prefix + "_int64s"); ok {
		found = append(found, FromSlice(Int64, v, len(v)))
	}
	if at := a.Get(prefix + "_floats"); at != nil {
		v, _ := a.Floats(prefix + "_floats")
		found = append(found, FromSlice(Float, v, len(v)))
	}
	if t := a.Tensor(prefix + "_tensor"); t != nil {
		flat := &Tensor{DType: t.DType, Shape: []int{t.Len()}, Data: t.Data}
		found = append(found, flat)
	}
	// Exporters sometimes leave unused lists empty: prefer a non-empty one.
	var nonEmpty []*Tensor
	for _, t := range found {
		if t.Len() > 0 {
			nonEmpty = append(nonEmpty, t)
		}
	}
	if len(nonEmpty) > 0 {
		found = nonEmpty
	} else if len(found) > 1 {
		found = found[:1]
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("one of %[1]s_strings, %[1]s_int64s, %[1]s_floats, %[1]s_tensor must be set", prefix)
	case 1:
		switch found[0].DType {
		case String, Int64, Int32, Int16, Float, Double:
			return found[0], nil
		}
		return nil, fmt.Errorf("attribute %s_tensor has unsupported type %s", prefix, found[0].DType)
	}
	return nil, fmt.Errorf("only one of %[1]s_strings, %[1]s_int64s, %[1]s_floats, %[1]s_tensor may be set", prefix)
}

func newMLLabelEncoder(n *Node) (any, error) {
	a := n.Attrs
	keys, err := mlLabelAttrList(a, "keys")
	if err != nil {
		return nil, err
	}
	values, err := mlLabelAttrList(a, "values")
	if err != nil {
		return nil, err
	}
	if keys.Len() != values.Len() {
		return nil, fmt.Errorf("%d keys but %d values", keys.Len(), values.Len())
	}
	ki, err := newMLKeyIndex(keys, n.Version >= 4)
	if err != nil {
		return nil, err
	}
	def := NewTensor(values.DType, 1)
	if t := a.Tensor("default_tensor"); t != nil && n.Version >= 4 {
		if t.DType != values.DType || t.Len() != 1 {
			return nil, fmt.Errorf("default_tensor must hold one %s, got %s with %d elements", values.DType, t.DType, t.Len())
		}
		CopySlice(def.Data, t.Data)
	} else {
		switch d := def.Data.(type) {
		case []string:
			d[0] = a.String("default_string", "_Unused")
		case []int64:
			d[0] = a.Int("default_int64", -1)
		case []int32:
			d[0] = int32(a.Int("default_int64", -1))
		case []int16:
			d[0] = int16(a.Int("default_int64", -1))
		case []float32:
			d[0] = a.Float("default_float", float32(math.Copysign(0, -1)))
		case []float64:
			d[0] = float64(a.Float("default_float", float32(math.Copysign(0, -1))))
		}
	}
	return &mlMapKernel{keys: ki, values: values, def: def}, nil
}

// ---------------------------------------------------------------------------
// CategoryMapper: strings to integers and back, through parallel lists.

type mlCategoryMapper struct {
	toInt, toStr *mlMapKernel
}

func newMLCategoryMapper(n *Node) (any, error) {
	a := n.Attrs
	ints, _ := a.Ints("cats_int64s")
	strs, _ := a.Strings("cats_strings")
	if len(ints) != len(strs) {
		return nil, fmt.Errorf("cats_int64s has %d elements and cats_strings %d: they must match", len(ints), len(strs))
	}
	it := FromSlice(Int64, ints, len(ints))
	st := FromSlice(String, strs, len(strs))
	kiS, err := newMLKeyIndex(st, false)
	if err != nil {
		return nil, err
	}
	kiI, err := newMLKeyIndex(it, false)
	if err != nil {
		return nil, err
	}
	return &mlCategoryMapper{
		toInt: &mlMapKernel{keys: kiS, values: it, def: Scalar(a.Int("default_int64", -1))},
		toStr: &mlMapKernel{keys: kiI, values: st, def: Scalar(a.String("default_string", "_Unused"))},
	}, nil
}

func (k *mlCategoryMapper) Run(ec *Context, in, out []*Tensor) error {
	switch in[0].DType {
	case String:
		return k.toInt.Run(ec, in, out)
	case Int64:
		return k.toStr.Run(ec, in, out)
	}
	return fmt.Errorf("input must be string or int64, got %s", in[0].DType)
}

// ---------------------------------------------------------------------------
// OneHotEncoder: each element becomes a one-hot float vector over the
// categories (a trailing dimension).

type mlOneHotEncoder struct {
	strs    *mlKeyIndex
	ints    *mlKeyIndex
	n       int
	zeros   bool // unknown categories give all zeros (else an error)
	strCats bool
}

func newMLOneHotEncoder(n *Node) (any, error) {
	a := n.Attrs
	ints, okI := a.Ints("cats_int64s")
	strs, okS := a.Strings("cats_strings")
	k := &mlOneHotEncoder{zeros: a.Int("zeros", 1) != 0}
	var err error
	switch {
	case len(ints) > 0 && len(strs) > 0:
		return nil, fmt.Errorf("only one of cats_int64s and cats_strings may be set")
	case len(strs) > 0 || (okS && !okI):
		k.strCats, k.n = true, len(strs)
		k.strs, err = newMLKeyIndex(FromSlice(String, strs, len(strs)), false)
	case okI:
		k.n = len(ints)
		k.ints, err = newMLKeyIndex(FromSlice(Int64, ints, len(ints)), false)
	default:
		return nil, fmt.Errorf("one of cats_int64s and cats_strings must be set")
	}
	return k, err
}

func (k *mlOneHotEncoder) Run(ec *Context, in, out []*Tensor) error {
	x := in[0]
	pt := ec.Empty(Int32, x.Len())
	defer ec.Release(pt)
	pos := pt.Data.([]int32)
	if x.DType == String {
		if !k.strCats {
			return fmt.Errorf("string input but the categories are integers")
		}
		if err := k.strs.lookup(x, pos); err != nil {
			return err
		}
	} else {
		if k.strCats {
			return fmt.Errorf("%s input but the categories are strings", x.DType)
		}
		var ids []int64
		switch d := x.Data.(type) {
		case []int64:
			ids = d
		case []int32:
			ids = convertSlice[int32, int64](d)
		case []float32:
			ids = make([]int64, len(d))
			for i, v := range d {
				ids[i] = int64(v)
			}
		case []float64:
			ids = make([]int64, len(d))
			for i, v := range d {
				ids[i] = int64(v)
			}
		default:
			return fmt.Errorf("unsupported input type %s", x.DType)
		}
		if err := k.ints.lookup(FromSlice(Int64, ids, len(ids)), pos); err != nil {
			return err
		}
	}
	if !k.zeros {
		for i, p := range pos {
			if p < 0 {
				return fmt.Errorf("element %d is not a known category and zeros is 0", i)
			}
		}
	}
	shape := append(append([]int(nil), x.Shape...), k.n)
	y := ec.New(Float, shape...)
	yd := y.Data.([]float32)
	for i, p := range pos {
		if p >= 0 {
			yd[i*k.n+int(p)] = 1
		}
	}
	out[0] = y
	return nil
}
