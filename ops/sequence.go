package ops

import "fmt"

// registerSequence adds the sequence and optional operators. Sequences are
// immutable values: every op builds a new Sequence and shares the tensors.
func registerSequence(r *Registry) {
	r.Add("", "SequenceEmpty", 11, newSequenceEmpty)
	r.Add("", "SequenceConstruct", 11, func(*Node) (any, error) { return seqConstruct{}, nil })
	r.Add("", "SequenceInsert", 11, func(*Node) (any, error) { return seqInsert{}, nil })
	r.Add("", "SequenceAt", 11, func(*Node) (any, error) { return seqAt{}, nil })
	r.Add("", "SequenceErase", 11, func(*Node) (any, error) { return seqErase{}, nil })
	r.Add("", "SequenceLength", 11, func(*Node) (any, error) { return seqLength{}, nil })
	r.Add("", "SplitToSequence", 11, newSplitToSequence)
	r.Add("", "ConcatFromSequence", 11, newConcatFromSequence)
	r.Add("", "Optional", 15, newOptional)
	r.Add("", "OptionalHasElement", 15, func(*Node) (any, error) { return optHas{}, nil })
	r.Add("", "OptionalGetElement", 15, func(*Node) (any, error) { return optGet{}, nil })
}

func seqArg(v Value, what string) (*Sequence, error) {
	s, ok := v.(*Sequence)
	if !ok {
		if o, isOpt := v.(*Optional); isOpt {
			if s, ok = o.Elem.(*Sequence); ok {
				return s, nil
			}
		}
		return nil, fmt.Errorf("%s must be a sequence, got %T", what, v)
	}
	return s, nil
}

func tensorArg(v Value, what string) (*Tensor, error) {
	t, ok := v.(*Tensor)
	if !ok {
		return nil, fmt.Errorf("%s must be a tensor, got %T", what, v)
	}
	return t, nil
}

// seqPosition reads a scalar position and normalizes it against n (n+1
// slots are valid when inserting).
func seqPosition(v Value, n int, inserting bool) (int, error) {
	t, err := tensorArg(v, "position")
	if err != nil {
		return 0, err
	}
	p, err := t.AsInt64s()
	if err != nil || len(p) != 1 {
		return 0, fmt.Errorf("position must be an integer scalar")
	}
	pos := int(p[0])
	limit := n
	if inserting {
		limit = n + 1
	}
	if pos < 0 {
		pos += n
	}
	if pos < 0 || pos >= limit {
		return 0, fmt.Errorf("position %d out of range for a sequence of %d", p[0], n)
	}
	return pos, nil
}

type seqEmpty struct{ dt DType }

func newSequenceEmpty(n *Node) (any, error) {
	return seqEmpty{dt: DType(n.Attrs.Int("dtype", int64(Float)))}, nil
}

func (k seqEmpty) RunValues(_ *Context, _, out []Value) error {
	out[0] = &Sequence{ElemType: &Type{Kind: KindTensor, DType: k.dt}}
	return nil
}

type seqConstruct struct{}

func (seqConstruct) RunValues(_ *Context, in, out []Value) error {
	s := &Sequence{}
	for i, v := range in {
		t, err := tensorArg(v, fmt.Sprintf("input %d", i))
		if err != nil {
			return err
		}
		if i > 0 && t.DType != s.Values[0].(*Tensor).DType {
			return fmt.Errorf("sequence elements must share a type: %s and %s", s.Values[0].(*Tensor).DType, t.DType)
		}
		s.Values = append(s.Values, t)
	}
	if len(s.Values) > 0 {
		s.ElemType = &Type{Kind: KindTensor, DType: s.Values[0].(*Tensor).DType}
	}
	out[0] = s
	return nil
}

type seqInsert struct{}

func (seqInsert) RunValues(_ *Context, in, out []Value) error {
	s, err := seqArg(in[0], "input_sequence")
	if err != nil {
		return err
	}
	t, err := tensorArg(in[1], "tensor")
	if err != nil {
		return err
	}
	if s.ElemType != nil && s.ElemType.DType.Valid() && s.ElemType.DType != t.DType {
		return fmt.Errorf("cannot insert a %s tensor into a sequence of %s", t.DType, s.ElemType.DType)
	}
	pos := len(s.Values)
	if len(in) > 2 && in[2] != nil {
		if pos, err = seqPosition(in[2], len(s.Values), true); err != nil {
			return err
		}
	}
	vals := make([]Value, 0, len(s.Values)+1)
	vals = append(vals, s.Values[:pos]...)
	vals = append(vals, t)
	vals = append(vals, s.Values[pos:]...)
	et := s.ElemType
	if et == nil {
		et = &Type{Kind: KindTensor, DType: t.DType}
	}
	out[0] = &Sequence{ElemType: et, Values: vals}
	return nil
}

type seqAt struct{}

func (seqAt) RunValues(_ *Context, in, out []Value) error {
	s, err := seqArg(in[0], "input_sequence")
	if err != nil {
		return err
	}
	pos, err := seqPosition(in[1], len(s.Values), false)
	if err != nil {
		return err
	}
	v := s.Values[pos]
	if t, ok := v.(*Tensor); ok {
		v = &Tensor{DType: t.DType, Shape: t.Shape, Data: t.Data}
	}
	out[0] = v
	return nil
}

type seqErase struct{}

func (seqErase) RunValues(_ *Context, in, out []Value) error {
	s, err := seqArg(in[0], "input_sequence")
	if err != nil {
		return err
	}
	pos := len(s.Values) - 1
	if len(in) > 1 && in[1] != nil {
		if pos, err = seqPosition(in[1], len(s.Values), false); err != nil {
			return err
		}
	} else if pos < 0 {
		return fmt.Errorf("cannot erase from an empty sequence")
	}
	vals := make([]Value, 0, len(s.Values))
	vals = append(vals, s.Values[:pos]...)
	vals = append(vals, s.Values[pos+1:]...)
	out[0] = &Sequence{ElemType: s.ElemType, Values: vals}
	return nil
}

type seqLength struct{}

func (seqLength) RunValues(_ *Context, in, out []Value) error {
	s, err := seqArg(in[0], "input_sequence")
	if err != nil {
		return err
	}
	out[0] = Scalar(int64(len(s.Values)))
	return nil
}

type splitToSequence struct {
	axis     int
	keepdims bool
}

func newSplitToSequence(n *Node) (any, error) {
	return splitToSequence{axis: int(n.Attrs.Int("axis", 0)), keepdims: n.Attrs.Int("keepdims", 1) != 0}, nil
}

func (k splitToSequence) RunValues(ec *Context, in, out []Value) error {
	t, err := tensorArg(in[0], "input")
	if err != nil {
		return err
	}
	axis, err := NormalizeAxis(k.axis, len(t.Shape))
	if err != nil {
		return err
	}
	dim := t.Shape[axis]
	var sizes []int
	squeeze := false
	if len(in) > 1 && in[1] != nil {
		st, err := tensorArg(in[1], "split")
		if err != nil {
			return err
		}
		sp, err := st.AsInt64s()
		if err != nil {
			return fmt.Errorf("split: %w", err)
		}
		if len(st.Shape) == 0 {
			if sp[0] <= 0 {
				return fmt.Errorf("split size %d must be positive", sp[0])
			}
			for left := dim; left > 0; left -= int(sp[0]) {
				sizes = append(sizes, min(int(sp[0]), left))
			}
		} else {
			total := 0
			for _, v := range sp {
				if v < 0 {
					return fmt.Errorf("negative split size %d", v)
				}
				sizes = append(sizes, int(v))
				total += int(v)
			}
			if total != dim {
				return fmt.Errorf("split sizes sum to %d, axis %d has %d", total, axis, dim)
			}
		}
	} else {
		for i := 0; i < dim; i++ {
			sizes = append(sizes, 1)
		}
		squeeze = !k.keepdims
	}
	outer := NumElements(t.Shape[:axis])
	inner := NumElements(t.Shape[axis+1:])
	s := &Sequence{ElemType: &Type{Kind: KindTensor, DType: t.DType}}
	off := 0
	for _, sz := range sizes {
		shape := append([]int(nil), t.Shape...)
		shape[axis] = sz
		part := &Tensor{DType: t.DType, Shape: shape, Data: MakeSlice(t.DType, outer*sz*inner)}
		for o := 0; o < outer; o++ {
			src := (o*dim + off) * inner
			CopySlice(Subslice(part.Data, o*sz*inner, (o+1)*sz*inner), Subslice(t.Data, src, src+sz*inner))
		}
		if squeeze {
			part.Shape = append(shape[:axis:axis], shape[axis+1:]...)
		}
		s.Values = append(s.Values, part)
		off += sz
	}
	out[0] = s
	return nil
}

type concatFromSequence struct {
	axis    int
	newAxis bool
}

func newConcatFromSequence(n *Node) (any, error) {
	if !n.Attrs.Has("axis") {
		return nil, fmt.Errorf("attribute axis is required")
	}
	return concatFromSequence{axis: int(n.Attrs.Int("axis", 0)), newAxis: n.Attrs.Int("new_axis", 0) != 0}, nil
}

func (k concatFromSequence) RunValues(ec *Context, in, out []Value) error {
	s, err := seqArg(in[0], "input_sequence")
	if err != nil {
		return err
	}
	if len(s.Values) == 0 {
		return fmt.Errorf("cannot concatenate an empty sequence")
	}
	parts := make([]*Tensor, len(s.Values))
	for i, v := range s.Values {
		if parts[i], err = tensorArg(v, "sequence element"); err != nil {
			return err
		}
	}
	first := parts[0]
	rank := len(first.Shape)
	if k.newAxis {
		rank++
	}
	axis, err := NormalizeAxis(k.axis, rank)
	if err != nil {
		return err
	}
	// With new_axis every element gains a dimension of 1 at axis.
	shapeOf := func(t *Tensor) []int {
		if !k.newAxis {
			return t.Shape
		}
		sh := append([]int(nil), t.Shape[:axis]...)
		sh = append(sh, 1)
		return append(sh, t.Shape[axis:]...)
	}
	base := shapeOf(first)
	total := 0
	for i, p := range parts {
		sh := shapeOf(p)
		if p.DType != first.DType || len(sh) != len(base) {
			return fmt.Errorf("element %d is %s, element 0 %s", i, p, first)
		}
		for d := range sh {
			if d != axis && sh[d] != base[d] {
				return fmt.Errorf("element %d has shape %v, incompatible with %v on axis %d", i, p.Shape, first.Shape, axis)
			}
		}
		total += sh[axis]
	}
	shape := append([]int(nil), base...)
	shape[axis] = total
	res := ec.Empty(first.DType, shape...)
	outer := NumElements(base[:axis])
	inner := NumElements(base[axis+1:])
	off := 0
	for _, p := range parts {
		sz := shapeOf(p)[axis]
		for o := 0; o < outer; o++ {
			dst := (o*total + off) * inner
			CopySlice(Subslice(res.Data, dst, dst+sz*inner), Subslice(p.Data, o*sz*inner, (o+1)*sz*inner))
		}
		off += sz
	}
	out[0] = res
	return nil
}

type optionalKernel struct{ typ *Type }

func newOptional(n *Node) (any, error) {
	var typ *Type
	if a := n.Attrs.Get("type"); a != nil {
		typ = a.TP
	}
	return optionalKernel{typ: typ}, nil
}

func (k optionalKernel) RunValues(_ *Context, in, out []Value) error {
	if len(in) == 0 || in[0] == nil {
		if k.typ == nil {
			return fmt.Errorf("an empty Optional needs the type attribute")
		}
		out[0] = &Optional{ElemType: k.typ}
		return nil
	}
	out[0] = &Optional{ElemType: TypeOfValue(in[0]), Elem: in[0]}
	return nil
}

type optHas struct{}

func (optHas) RunValues(_ *Context, in, out []Value) error {
	has := false
	if len(in) > 0 && in[0] != nil {
		if o, ok := in[0].(*Optional); ok {
			has = o.Elem != nil
		} else {
			has = true
		}
	}
	out[0] = Scalar(has)
	return nil
}

type optGet struct{}

func (optGet) RunValues(_ *Context, in, out []Value) error {
	if len(in) == 0 || in[0] == nil {
		return fmt.Errorf("input is missing")
	}
	v := in[0]
	if o, ok := v.(*Optional); ok {
		if o.Elem == nil {
			return fmt.Errorf("the optional is empty")
		}
		v = o.Elem
	}
	if t, ok := v.(*Tensor); ok {
		v = &Tensor{DType: t.DType, Shape: t.Shape, Data: t.Data}
	}
	out[0] = v
	return nil
}
