package ops

import "fmt"

// Feature-layout operators of the ai.onnx.ml domain: ArrayFeatureExtractor,
// FeatureVectorizer, ZipMap (tensor to a sequence of maps) and
// DictVectorizer (map to tensor).

func registerMLFeatures(r *Registry) {
	r.AddKernel(DomainML, "ArrayFeatureExtractor", 1, KernelFunc(mlArrayFeatureExtractor))
	r.Add(DomainML, "FeatureVectorizer", 1, newMLFeatureVectorizer)
	r.Add(DomainML, "ZipMap", 1, newMLZipMap)
	r.Add(DomainML, "DictVectorizer", 1, newMLDictVectorizer)
}

// mlArrayFeatureExtractor selects, along the last axis of X, the positions
// listed in Y. A 1-D X gives a [1, len(Y)] result.
func mlArrayFeatureExtractor(ec *Context, in, out []*Tensor) error {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return fmt.Errorf("ArrayFeatureExtractor needs inputs X and Y")
	}
	x := in[0]
	if len(x.Shape) == 0 {
		return fmt.Errorf("input X must have at least one dimension")
	}
	idx, err := in[1].AsInt64s()
	if err != nil {
		return fmt.Errorf("input Y: %v", err)
	}
	if len(idx) == 0 {
		return fmt.Errorf("input Y is empty")
	}
	stride := x.Shape[len(x.Shape)-1]
	for i, v := range idx {
		if v < 0 || v >= int64(stride) {
			return fmt.Errorf("index Y[%d] = %d out of range [0, %d)", i, v, stride)
		}
	}
	var shape []int
	if len(x.Shape) == 1 {
		shape = []int{1, len(idx)}
	} else {
		shape = append(append([]int(nil), x.Shape[:len(x.Shape)-1]...), len(idx))
	}
	y := ec.Empty(x.DType, shape...)
	rows := 1
	if stride > 0 {
		rows = x.Len() / stride
	}
	switch d := x.Data.(type) {
	case []float32:
		mlExtractColumns(d, y.Data.([]float32), idx, rows, stride)
	case []float64:
		mlExtractColumns(d, y.Data.([]float64), idx, rows, stride)
	case []int64:
		mlExtractColumns(d, y.Data.([]int64), idx, rows, stride)
	case []int32:
		mlExtractColumns(d, y.Data.([]int32), idx, rows, stride)
	case []string:
		mlExtractColumns(d, y.Data.([]string), idx, rows, stride)
	default:
		ec.Release(y)
		return fmt.Errorf("unsupported input type %s", x.DType)
	}
	out[0] = y
	return nil
}

func mlExtractColumns[T any](x, y []T, idx []int64, rows, stride int) {
	k := 0
	for r := 0; r < rows; r++ {
		row := x[r*stride : r*stride+stride]
		for _, j := range idx {
			y[k] = row[j]
			k++
		}
	}
}

// ---------------------------------------------------------------------------
// FeatureVectorizer: concatenates the rows of its inputs, each truncated or
// zero-padded to its entry in inputdimensions, into float32 rows.

type mlFeatureVectorizer struct {
	dims  []int
	total int
}

func newMLFeatureVectorizer(n *Node) (any, error) {
	dims, _ := n.Attrs.IntsAsInts("inputdimensions")
	k := &mlFeatureVectorizer{dims: dims}
	for i, d := range dims {
		if d < 0 {
			return nil, fmt.Errorf("inputdimensions[%d] = %d is negative", i, d)
		}
		k.total += d
	}
	if len(n.Inputs) != len(dims) {
		return nil, fmt.Errorf("%d inputs but %d inputdimensions", len(n.Inputs), len(dims))
	}
	return k, nil
}

func (k *mlFeatureVectorizer) Run(ec *Context, in, out []*Tensor) error {
	if len(in) != len(k.dims) {
		return fmt.Errorf("%d inputs but %d inputdimensions", len(in), len(k.dims))
	}
	n := -1
	for i, x := range in {
		if x == nil {
			return fmt.Errorf("input %d is missing", i)
		}
		rows := 1
		if len(x.Shape) > 1 {
			rows = x.Shape[0]
		}
		if n >= 0 && rows != n {
			return fmt.Errorf("input %d has %d rows, input 0 has %d", i, rows, n)
		}
		n = rows
	}
	if n < 0 {
		n = 1
	}
	y := ec.New(Float, n, k.total)
	yd := y.Data.([]float32)
	off := 0
	for i, x := range in {
		width := x.Len()
		if len(x.Shape) > 1 && n > 0 {
			width = x.Len() / n
		}
		cp := min(width, k.dims[i])
		var err error
		switch d := x.Data.(type) {
		case []float32:
			mlVectorize(d, yd, n, width, cp, off, k.total)
		case []float64:
			mlVectorize(d, yd, n, width, cp, off, k.total)
		case []int64:
			mlVectorize(d, yd, n, width, cp, off, k.total)
		case []int32:
			mlVectorize(d, yd, n, width, cp, off, k.total)
		default:
			err = fmt.Errorf("input %d: unsupported type %s", i, x.DType)
		}
		if err != nil {
			ec.Release(y)
			return err
		}
		off += k.dims[i]
	}
	out[0] = y
	return nil
}

func mlVectorize[T float32 | float64 | int64 | int32](x []T, y []float32, n, width, cp, off, total int) {
	for r := 0; r < n; r++ {
		src := x[r*width : r*width+cp]
		dst := y[r*total+off : r*total+off+cp]
		for j, v := range src {
			dst[j] = float32(v)
		}
	}
}

// ---------------------------------------------------------------------------
// ZipMap: each row of class scores becomes a map from class label to score.

type mlZipMap struct {
	strs []string
	ints []int64
	typ  *Type
}

func newMLZipMap(n *Node) (any, error) {
	strs, _ := n.Attrs.Strings("classlabels_strings")
	ints, _ := n.Attrs.Ints("classlabels_int64s")
	k := &mlZipMap{strs: strs, ints: ints}
	switch {
	case len(strs) > 0 && len(ints) > 0:
		return nil, fmt.Errorf("only one of classlabels_strings and classlabels_int64s may be set")
	case len(strs) > 0:
		k.typ = &Type{Kind: KindMap, DType: String, Elem: &Type{Kind: KindTensor, DType: Float}}
	case len(ints) > 0:
		k.typ = &Type{Kind: KindMap, DType: Int64, Elem: &Type{Kind: KindTensor, DType: Float}}
	default:
		return nil, fmt.Errorf("one of classlabels_strings and classlabels_int64s must be set")
	}
	return k, nil
}

func (k *mlZipMap) RunValues(ec *Context, in, out []Value) error {
	x, ok := in[0].(*Tensor)
	if !ok || x == nil {
		return fmt.Errorf("input must be a tensor, got %T", in[0])
	}
	d, ok := x.Data.([]float32)
	if !ok {
		return fmt.Errorf("input must be float32, got %s", x.DType)
	}
	n, c, err := mlInput2D(x)
	if err != nil {
		return err
	}
	labels := max(len(k.strs), len(k.ints))
	if c != labels {
		return fmt.Errorf("input has %d columns but there are %d class labels", c, labels)
	}
	// The maps outlive the run: their values live on the heap, in one block,
	// and all maps share the (read-only) key list.
	vals := append([]float32(nil), d...)
	seq := &Sequence{ElemType: k.typ, Values: make([]Value, n)}
	for r := 0; r < n; r++ {
		m := &Map{KeyType: k.typ.DType, ValueType: Float,
			Values: &Tensor{DType: Float, Shape: []int{c}, Data: vals[r*c : r*c+c : r*c+c]}}
		if k.strs != nil {
			m.StrKeys = k.strs
		} else {
			m.Int64Keys = k.ints
		}
		seq.Values[r] = m
	}
	out[0] = seq
	return nil
}

// ---------------------------------------------------------------------------
// DictVectorizer: a map becomes a [1, len(vocabulary)] tensor holding, at
// each vocabulary position, the map's value for that key (zero if absent).

type mlDictVectorizer struct {
	strIdx map[string]int
	intIdx map[int64]int
	n      int
}

func newMLDictVectorizer(n *Node) (any, error) {
	strs, _ := n.Attrs.Strings("string_vocabulary")
	ints, _ := n.Attrs.Ints("int64_vocabulary")
	k := &mlDictVectorizer{}
	switch {
	case len(strs) > 0 && len(ints) > 0:
		return nil, fmt.Errorf("only one of string_vocabulary and int64_vocabulary may be set")
	case len(strs) > 0:
		k.n = len(strs)
		k.strIdx = make(map[string]int, len(strs))
		for i, s := range strs {
			if _, dup := k.strIdx[s]; !dup {
				k.strIdx[s] = i
			}
		}
	case len(ints) > 0:
		k.n = len(ints)
		k.intIdx = make(map[int64]int, len(ints))
		for i, v := range ints {
			if _, dup := k.intIdx[v]; !dup {
				k.intIdx[v] = i
			}
		}
	default:
		return nil, fmt.Errorf("one of string_vocabulary and int64_vocabulary must be set")
	}
	return k, nil
}

func (k *mlDictVectorizer) RunValues(ec *Context, in, out []Value) error {
	m, ok := in[0].(*Map)
	if !ok || m == nil {
		return fmt.Errorf("input must be a map, got %T", in[0])
	}
	if m.Values == nil || m.Values.Len() != m.Len() {
		return fmt.Errorf("malformed map: %d keys", m.Len())
	}
	pos := make([]int, m.Len())
	switch {
	case m.KeyType == String && k.strIdx != nil:
		for i, key := range m.StrKeys {
			p, ok := k.strIdx[key]
			if !ok {
				p = -1
			}
			pos[i] = p
		}
	case m.KeyType == Int64 && k.intIdx != nil:
		for i, key := range m.Int64Keys {
			p, ok := k.intIdx[key]
			if !ok {
				p = -1
			}
			pos[i] = p
		}
	default:
		return fmt.Errorf("map keys are %s but the vocabulary is not", m.KeyType)
	}
	switch m.Values.DType {
	case Float, Double, Int64, String:
	default:
		return fmt.Errorf("unsupported map value type %s", m.Values.DType)
	}
	y := ec.New(m.Values.DType, 1, k.n)
	for i, p := range pos {
		if p >= 0 {
			CopySlice(Subslice(y.Data, p, p+1), Subslice(m.Values.Data, i, i+1))
		}
	}
	out[0] = y
	return nil
}
