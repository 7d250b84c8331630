package ops

import (
	"fmt"
	"strings"
)

// This file implements Einsum: the equation is parsed at plan time into
// integer labels (letters, plus one label per ellipsis dimension); at run
// time repeated labels become diagonals, labels no one else needs are
// summed out early, and operands are contracted pairwise as batched matrix
// products.

func registerEinsum(r *Registry) {
	r.Add("", "Einsum", 12, newEinsum)
}

const einsumEllipsisBase = 1000 // label of the first (outermost) ellipsis dim

// einsumTerm is one operand's subscript: letter labels and the position of
// the ellipsis (-1 when absent).
type einsumTerm struct {
	letters  []int
	ellipsis int
}

type einsumKernel struct {
	inputs   []einsumTerm
	output   einsumTerm
	explicit bool
}

func einsumLabel(c rune) (int, bool) {
	switch {
	case c >= 'a' && c <= 'z':
		return int(c - 'a'), true
	case c >= 'A' && c <= 'Z':
		return 26 + int(c-'A'), true
	}
	return 0, false
}

func parseEinsumTerm(s string) (einsumTerm, error) {
	t := einsumTerm{ellipsis: -1}
	for i := 0; i < len(s); {
		c := rune(s[i])
		if c == '.' {
			if !strings.HasPrefix(s[i:], "...") || t.ellipsis >= 0 {
				return t, fmt.Errorf("bad ellipsis in subscript %q", s)
			}
			t.ellipsis = len(t.letters)
			i += 3
			continue
		}
		l, ok := einsumLabel(c)
		if !ok {
			return t, fmt.Errorf("invalid character %q in subscript %q", c, s)
		}
		t.letters = append(t.letters, l)
		i++
	}
	return t, nil
}

func newEinsum(n *Node) (any, error) {
	eq := strings.ReplaceAll(n.Attrs.String("equation", ""), " ", "")
	if eq == "" {
		return nil, fmt.Errorf("missing equation attribute")
	}
	k := &einsumKernel{}
	lhs, rhs, explicit := strings.Cut(eq, "->")
	k.explicit = explicit
	for _, s := range strings.Split(lhs, ",") {
		t, err := parseEinsumTerm(s)
		if err != nil {
			return nil, err
		}
		k.inputs = append(k.inputs, t)
	}
	if len(n.Inputs) > 0 && len(n.Inputs) != len(k.inputs) {
		return nil, fmt.Errorf("equation %q has %d operands, node has %d inputs", eq, len(k.inputs), len(n.Inputs))
	}
	if explicit {
		t, err := parseEinsumTerm(rhs)
		if err != nil {
			return nil, err
		}
		seen := map[int]bool{}
		for _, l := range t.letters {
			if seen[l] {
				return nil, fmt.Errorf("output subscript %q repeats a label", rhs)
			}
			seen[l] = true
			found := false
			for _, in := range k.inputs {
				for _, x := range in.letters {
					found = found || x == l
				}
			}
			if !found {
				return nil, fmt.Errorf("output label %c does not appear in the inputs", rune(labelChar(l)))
			}
		}
		k.output = t
	} else {
		// Implicit output: ellipsis first, then the labels that appear
		// exactly once, in alphabetical order.
		count := map[int]int{}
		hasEll := false
		for _, in := range k.inputs {
			for _, l := range in.letters {
				count[l]++
			}
			hasEll = hasEll || in.ellipsis >= 0
		}
		t := einsumTerm{ellipsis: -1}
		if hasEll {
			t.ellipsis = 0
		}
		for l := 0; l < 52; l++ {
			if count[l] == 1 {
				t.letters = append(t.letters, l)
			}
		}
		k.output = t
	}
	return k, nil
}

func labelChar(l int) int {
	if l < 26 {
		return 'a' + l
	}
	return 'A' + l - 26
}

// expand returns the full label list of a term for an operand of the given
// rank, where the ellipsis spans rank-len(letters) dims and the total
// ellipsis rank is ellRank.
func (t einsumTerm) expand(rank, ellRank int) ([]int, error) {
	if t.ellipsis < 0 {
		if rank != len(t.letters) {
			return nil, fmt.Errorf("subscript has %d labels for an operand of rank %d", len(t.letters), rank)
		}
		return append([]int(nil), t.letters...), nil
	}
	ne := rank - len(t.letters)
	if ne < 0 {
		return nil, fmt.Errorf("subscript has %d labels for an operand of rank %d", len(t.letters), rank)
	}
	out := append([]int(nil), t.letters[:t.ellipsis]...)
	for i := 0; i < ne; i++ {
		out = append(out, einsumEllipsisBase+ellRank-ne+i)
	}
	return append(out, t.letters[t.ellipsis:]...), nil
}

func (k *einsumKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) != len(k.inputs) {
		return fmt.Errorf("Einsum equation has %d operands, got %d inputs", len(k.inputs), len(in))
	}
	for i, t := range in {
		if t == nil {
			return fmt.Errorf("Einsum input %d is missing", i)
		}
		if t.DType != in[0].DType {
			return fmt.Errorf("Einsum inputs have different types %s and %s", in[0].DType, t.DType)
		}
	}
	switch in[0].DType {
	case Float:
		return runEinsum[float32](ec, k, in, out)
	case Double:
		return runEinsum[float64](ec, k, in, out)
	case Int32:
		return runEinsum[int32](ec, k, in, out)
	case Int64:
		return runEinsum[int64](ec, k, in, out)
	case Uint32:
		return runEinsum[uint32](ec, k, in, out)
	case Uint64:
		return runEinsum[uint64](ec, k, in, out)
	case Float16, BFloat16:
		fin := make([]*Tensor, len(in))
		for i, t := range in {
			fin[i] = ec.Empty(Float, t.Shape...)
			widenFloat32s(fin[i].Float32s(), t.Data)
		}
		fout := []*Tensor{nil}
		err := runEinsum[float32](ec, k, fin, fout)
		for _, t := range fin {
			ec.Release(t)
		}
		if err != nil {
			return err
		}
		y := ec.Empty(in[0].DType, fout[0].Shape...)
		narrowFloat32s(y.Data, fout[0].Float32s())
		ec.Release(fout[0])
		out[0] = y
		return nil
	}
	return fmt.Errorf("Einsum does not support %s", in[0].DType)
}

// eop is an intermediate operand: data with one label per dimension.
type eop[T Number] struct {
	data   []T
	shape  []int
	labels []int
}

func runEinsum[T Number](ec *Context, k *einsumKernel, in, out []*Tensor) error {
	dt := in[0].DType
	ellRank := 0
	for i, t := range in {
		if k.inputs[i].ellipsis >= 0 {
			ellRank = max(ellRank, len(t.Shape)-len(k.inputs[i].letters))
		}
	}
	outLabels, err := k.output.expand(len(k.output.letters)+ellRank, ellRank)
	if err != nil {
		return err
	}
	var temps []*Tensor
	defer func() {
		for _, t := range temps {
			ec.Release(t)
		}
	}()
	alloc := func(shape []int) []T {
		t := ec.Empty(dt, shape...)
		temps = append(temps, t)
		return t.Data.([]T)
	}
	// Label sizes (a size of 1 broadcasts).
	size := map[int]int{}
	ops := make([]*eop[T], len(in))
	for i, t := range in {
		labels, err := k.inputs[i].expand(len(t.Shape), ellRank)
		if err != nil {
			return fmt.Errorf("operand %d: %w", i, err)
		}
		for j, l := range labels {
			d := t.Shape[j]
			if s, ok := size[l]; ok && s != d && s != 1 && d != 1 {
				return fmt.Errorf("label %s has sizes %d and %d", labelName(l), s, d)
			}
			if s, ok := size[l]; !ok || s == 1 {
				size[l] = d
			}
		}
		ops[i] = &eop[T]{data: t.Data.([]T), shape: append([]int(nil), t.Shape...), labels: labels}
	}
	// Diagonals, then early sums of labels needed nowhere else.
	needed := func(except int, l int) bool {
		for _, o := range outLabels {
			if o == l {
				return true
			}
		}
		for i, op := range ops {
			if i == except || op == nil {
				continue
			}
			for _, x := range op.labels {
				if x == l {
					return true
				}
			}
		}
		return false
	}
	for i, op := range ops {
		einsumDiagonals(op, alloc)
		for j := len(op.labels) - 1; j >= 0; j-- {
			if !needed(i, op.labels[j]) {
				einsumSum(op, j, alloc)
			}
		}
	}
	cur := ops[0]
	for i := 1; i < len(ops); i++ {
		next := ops[i]
		ops[0], ops[i] = nil, nil
		keep := func(l int) bool {
			for _, o := range outLabels {
				if o == l {
					return true
				}
			}
			for _, op := range ops[i+1:] {
				for _, x := range op.labels {
					if x == l {
						return true
					}
				}
			}
			return false
		}
		cur = einsumContract(ec, cur, next, keep, size, alloc)
		ops[0] = cur
	}
	for j := len(cur.labels) - 1; j >= 0; j-- {
		found := false
		for _, o := range outLabels {
			found = found || o == cur.labels[j]
		}
		if !found {
			einsumSum(cur, j, alloc)
		}
	}
	// Transpose (and broadcast size-1 dims) into the output order.
	outShape := make([]int, len(outLabels))
	perm := make([]int, len(outLabels))
	for i, l := range outLabels {
		outShape[i] = size[l]
		perm[i] = -1
		for j, x := range cur.labels {
			if x == l {
				perm[i] = j
			}
		}
		if perm[i] < 0 {
			return fmt.Errorf("output label %s is missing", labelName(l))
		}
	}
	y := ec.Empty(dt, outShape...)
	src := einsumPermute(cur, perm, alloc)
	srcShape := make([]int, len(perm))
	for i, p := range perm {
		srcShape[i] = cur.shape[p]
	}
	if err := BroadcastTo(y.Data.([]T), outShape, src, srcShape); err != nil {
		ec.Release(y)
		return err
	}
	out[0] = y
	return nil
}

func labelName(l int) string {
	if l >= einsumEllipsisBase {
		return fmt.Sprintf("...[%d]", l-einsumEllipsisBase)
	}
	return string(rune(labelChar(l)))
}

// einsumDiagonals replaces every repeated label by the diagonal.
func einsumDiagonals[T Number](op *eop[T], alloc func([]int) []T) {
	for {
		a, b := -1, -1
		for i := 0; i < len(op.labels) && a < 0; i++ {
			for j := i + 1; j < len(op.labels); j++ {
				if op.labels[i] == op.labels[j] {
					a, b = i, j
					break
				}
			}
		}
		if a < 0 {
			return
		}
		n := min(op.shape[a], op.shape[b])
		newShape := append(append([]int(nil), op.shape[:b]...), op.shape[b+1:]...)
		newShape[a] = n
		dst := alloc(newShape)
		st := Strides(op.shape)
		idx := make([]int, len(newShape))
		for o := range dst {
			off := 0
			for d, v := range idx {
				od := d
				if d >= b {
					od = d + 1
				}
				off += v * st[od]
				if d == a {
					off += v * st[b]
				}
			}
			dst[o] = op.data[off]
			for d := len(idx) - 1; d >= 0; d-- {
				idx[d]++
				if idx[d] < newShape[d] {
					break
				}
				idx[d] = 0
			}
		}
		op.data, op.shape = dst, newShape
		op.labels = append(append([]int(nil), op.labels[:b]...), op.labels[b+1:]...)
	}
}

// einsumSum sums dimension j away.
func einsumSum[T Number](op *eop[T], j int, alloc func([]int) []T) {
	outer := NumElements(op.shape[:j])
	n := op.shape[j]
	inner := NumElements(op.shape[j+1:])
	newShape := append(append([]int(nil), op.shape[:j]...), op.shape[j+1:]...)
	dst := alloc(newShape)
	clear(dst)
	for o := 0; o < outer; o++ {
		d := dst[o*inner : (o+1)*inner]
		for i := 0; i < n; i++ {
			s := op.data[(o*n+i)*inner:][:inner]
			for x, v := range s {
				d[x] += v
			}
		}
	}
	op.data, op.shape = dst, newShape
	op.labels = append(append([]int(nil), op.labels[:j]...), op.labels[j+1:]...)
}

// einsumPermute returns op's data with its dimensions reordered by perm.
func einsumPermute[T Number](op *eop[T], perm []int, alloc func([]int) []T) []T {
	identity := true
	for i, p := range perm {
		identity = identity && p == i
	}
	if identity {
		return op.data
	}
	shape := make([]int, len(perm))
	for i, p := range perm {
		shape[i] = op.shape[p]
	}
	st := Strides(op.shape)
	dst := alloc(shape)
	idx := make([]int, len(shape))
	off := 0
	for o := range dst {
		dst[o] = op.data[off]
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			off += st[perm[d]]
			if idx[d] < shape[d] {
				break
			}
			off -= idx[d] * st[perm[d]]
			idx[d] = 0
		}
	}
	return dst
}

// einsumContract multiplies two operands, summing the labels they share
// that keep rejects and keeping the others.
func einsumContract[T Number](ec *Context, a, b *eop[T], keep func(int) bool, size map[int]int, alloc func([]int) []T) *eop[T] {
	has := func(op *eop[T], l int) bool {
		for _, x := range op.labels {
			if x == l {
				return true
			}
		}
		return false
	}
	// Sum labels private to one side and not kept.
	for j := len(a.labels) - 1; j >= 0; j-- {
		if !has(b, a.labels[j]) && !keep(a.labels[j]) {
			einsumSum(a, j, alloc)
		}
	}
	for j := len(b.labels) - 1; j >= 0; j-- {
		if !has(a, b.labels[j]) && !keep(b.labels[j]) {
			einsumSum(b, j, alloc)
		}
	}
	var batch, contr, aOnly, bOnly []int
	for _, l := range a.labels {
		switch {
		case has(b, l) && keep(l):
			batch = append(batch, l)
		case has(b, l):
			contr = append(contr, l)
		default:
			aOnly = append(aOnly, l)
		}
	}
	for _, l := range b.labels {
		if !has(a, l) {
			bOnly = append(bOnly, l)
		}
	}
	// Arrange a as [batch, aOnly, contr] and b as [batch, contr, bOnly],
	// broadcasting shared size-1 dims.
	arrange := func(op *eop[T], order []int) []T {
		perm := make([]int, len(order))
		shape := make([]int, len(order))
		full := make([]int, len(order))
		bcast := false
		for i, l := range order {
			for j, x := range op.labels {
				if x == l {
					perm[i] = j
				}
			}
			shape[i] = op.shape[perm[i]]
			full[i] = shape[i]
			if has(a, l) && has(b, l) {
				full[i] = size[l]
				if shape[i] != full[i] {
					bcast = true
				}
			}
		}
		data := einsumPermute(op, perm, alloc)
		if bcast {
			dst := alloc(full)
			_ = BroadcastTo(dst, full, data, shape)
			data = dst
		}
		return data
	}
	ad := arrange(a, concatInts(batch, aOnly, contr))
	bd := arrange(b, concatInts(batch, contr, bOnly))
	prod := func(ls []int, op *eop[T]) int {
		n := 1
		for _, l := range ls {
			if has(a, l) && has(b, l) {
				n *= size[l]
				continue
			}
			for j, x := range op.labels {
				if x == l {
					n *= op.shape[j]
				}
			}
		}
		return n
	}
	nb, m, kk, n := prod(batch, a), prod(aOnly, a), prod(contr, a), prod(bOnly, b)
	var shape []int
	for _, l := range batch {
		shape = append(shape, size[l])
	}
	for _, l := range aOnly {
		for j, x := range a.labels {
			if x == l {
				shape = append(shape, a.shape[j])
			}
		}
	}
	for _, l := range bOnly {
		for j, x := range b.labels {
			if x == l {
				shape = append(shape, b.shape[j])
			}
		}
	}
	dst := alloc(shape)
	d := &matmulDims{m: m, k: kk, n: n, nBatches: nb, rank: 1}
	d.batchArr[0], d.aArr[0], d.bArr[0] = nb, nb, nb
	if f, ok := any(dst).([]float32); ok {
		matmulF32(ec, d, any(ad).([]float32), any(bd).([]float32), f, nil)
	} else {
		matmulGeneric(ec, d, ad, bd, dst)
	}
	return &eop[T]{data: dst, shape: shape, labels: concatInts(batch, aOnly, bOnly)}
}

func concatInts(parts ...[]int) []int {
	var out []int
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
