package ops

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// miscAttr builds an attribute from a Go value (int, float32, string,
// []int64, []float32, []string).
func miscAttr(name string, v any) *Attr {
	switch x := v.(type) {
	case int:
		return &Attr{Name: name, Type: AttrInt, I: int64(x)}
	case float32:
		return &Attr{Name: name, Type: AttrFloat, F: x}
	case string:
		return &Attr{Name: name, Type: AttrString, S: x}
	case []int64:
		return &Attr{Name: name, Type: AttrInts, Ints: x}
	case []float32:
		return &Attr{Name: name, Type: AttrFloats, Floats: x}
	case []string:
		return &Attr{Name: name, Type: AttrStrings, Strings: x}
	}
	panic(fmt.Sprintf("miscAttr: %T", v))
}

// miscBuild builds the kernel for op in domain at version with the given
// inputs (names; "" omitted), number of outputs and attributes
// (name, value pairs).
func miscBuild(domain, op string, version int, inputs []string, nout int, attrs ...any) (any, error) {
	var list []*Attr
	for i := 0; i < len(attrs); i += 2 {
		list = append(list, miscAttr(attrs[i].(string), attrs[i+1]))
	}
	outs := make([]string, nout)
	for i := range outs {
		outs[i] = fmt.Sprintf("out%d", i)
	}
	return DefaultRegistry().Build(&Node{OpType: op, Domain: domain, Version: version,
		Attrs: NewAttrs(list...), Inputs: inputs, Outputs: outs})
}

// miscRun builds and runs a kernel, returning its outputs.
func miscRun(t *testing.T, domain, op string, version int, in []*Tensor, nout int, attrs ...any) ([]*Tensor, error) {
	t.Helper()
	names := make([]string, len(in))
	for i, x := range in {
		if x != nil {
			names[i] = fmt.Sprintf("in%d", i)
		}
	}
	k, err := miscBuild(domain, op, version, names, nout, attrs...)
	if err != nil {
		return nil, err
	}
	out := make([]*Tensor, nout)
	ec := NewContext(context.Background(), nil, nil)
	if err := k.(Kernel).Run(ec, in, out); err != nil {
		return nil, err
	}
	return out, nil
}

func miscStrings(shape []int, s ...string) *Tensor { return FromSlice(String, s, shape...) }

func miscCheck(t *testing.T, got *Tensor, dt DType, shape []int, data any) {
	t.Helper()
	if got == nil {
		t.Fatalf("output not set")
	}
	if got.DType != dt || !EqualShapes(got.Shape, shape) {
		t.Fatalf("got %v, want %s%v", got, dt, shape)
	}
	if !reflect.DeepEqual(got.Data, data) {
		t.Fatalf("got %v, want %v", got.Data, data)
	}
}

// miscNear fails t unless got and want agree within tol relative to
// 1+|want| element by element.
func miscNear(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol*(1+math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %v, want %v (all: %v)", what, i, got[i], want[i], got)
		}
	}
}

// miscF64 returns x's elements as float64.
func miscF64(t *testing.T, x *Tensor) []float64 {
	t.Helper()
	v, err := x.AsFloat64s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestStringNormalizer(t *testing.T) {
	days := []string{"Monday", "tuesday", "WEDNESDAY", "monday"}
	for _, tc := range []struct {
		name  string
		shape []int
		attrs []any
		want  []string
		wantS []int
	}{
		{"noop", []int{4}, nil, days, []int{4}},
		{"lower", []int{4}, []any{"case_change_action", "LOWER"}, []string{"monday", "tuesday", "wednesday", "monday"}, []int{4}},
		{"upper", []int{1, 4}, []any{"case_change_action", "UPPER"}, []string{"MONDAY", "TUESDAY", "WEDNESDAY", "MONDAY"}, []int{1, 4}},
		{"sensitive", []int{4}, []any{"is_case_sensitive", 1, "stopwords", []string{"monday"}}, []string{"Monday", "tuesday", "WEDNESDAY"}, []int{3}},
		{"insensitive", []int{1, 4}, []any{"stopwords", []string{"MONDAY", "Tuesday"}, "case_change_action", "LOWER"}, []string{"wednesday"}, []int{1, 1}},
		{"all dropped 1d", []int{4}, []any{"stopwords", []string{"monday", "tuesday", "wednesday"}}, []string{""}, []int{1}},
		{"all dropped 2d", []int{1, 4}, []any{"stopwords", []string{"monday", "tuesday", "wednesday"}}, []string{""}, []int{1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := miscRun(t, "", "StringNormalizer", 10, []*Tensor{miscStrings(tc.shape, days...)}, 1, tc.attrs...)
			if err != nil {
				t.Fatal(err)
			}
			miscCheck(t, out[0], String, tc.wantS, tc.want)
		})
	}
	if _, err := miscBuild("", "StringNormalizer", 10, []string{"x"}, 1, "case_change_action", "TITLE"); err == nil {
		t.Errorf("bad case_change_action accepted")
	}
	if _, err := miscRun(t, "", "StringNormalizer", 10, []*Tensor{miscStrings([]int{2, 2}, "a", "b", "c", "d")}, 1); err == nil {
		t.Errorf("[2, 2] input accepted")
	}
	if _, err := miscRun(t, "", "StringNormalizer", 10, []*Tensor{FromSlice(Int64, []int64{1}, 1)}, 1); err == nil {
		t.Errorf("int64 input accepted")
	}
}

func TestStringConcat(t *testing.T) {
	out, err := miscRun(t, "", "StringConcat", 20, []*Tensor{miscStrings([]int{2, 1}, "a", "b"), miscStrings([]int{3}, "x", "", "的")}, 1)
	if err != nil {
		t.Fatal(err)
	}
	miscCheck(t, out[0], String, []int{2, 3}, []string{"ax", "a", "a的", "bx", "b", "b的"})
	out, err = miscRun(t, "", "StringConcat", 20, []*Tensor{miscStrings(nil, "cat"), miscStrings(nil, "s")}, 1)
	if err != nil {
		t.Fatal(err)
	}
	miscCheck(t, out[0], String, []int{}, []string{"cats"})
	if _, err := miscRun(t, "", "StringConcat", 20, []*Tensor{miscStrings([]int{2}, "a", "b"), miscStrings([]int{3}, "x", "y", "z")}, 1); err == nil {
		t.Errorf("incompatible shapes accepted")
	}
}

func TestStringSplit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     []string
		shape  []int
		attrs  []any
		want   []string
		wantS  []int
		counts []int64
	}{
		{"delimiter", []string{"a.b", "c..d.", ""}, []int{3}, []any{"delimiter", "."},
			[]string{"a", "b", "", "", "c", "", "d", "", "", "", "", ""}, []int{3, 4}, []int64{2, 4, 1}},
		{"whitespace", []string{"  hello \t world ! ", "", "   "}, []int{3}, nil,
			[]string{"hello", "world", "!", "", "", "", "", "", ""}, []int{3, 3}, []int64{3, 0, 0}},
		{"maxsplit whitespace", []string{" o n  n x ", "ab"}, []int{1, 2}, []any{"maxsplit", 2},
			[]string{"o", "n", "n x ", "ab", "", ""}, []int{1, 2, 3}, []int64{3, 1}},
		{"maxsplit delimiter", []string{"a-b-c-d"}, []int{1}, []any{"delimiter", "-", "maxsplit", 1},
			[]string{"a", "b-c-d"}, []int{1, 2}, []int64{2}},
		{"multi-byte delimiter", []string{"a<>b<>"}, []int{1}, []any{"delimiter", "<>"},
			[]string{"a", "b", ""}, []int{1, 3}, []int64{3}},
		{"empty", nil, []int{0}, nil, []string{}, []int{0, 0}, []int64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if in == nil {
				in = []string{}
			}
			out, err := miscRun(t, "", "StringSplit", 20, []*Tensor{miscStrings(tc.shape, in...)}, 2, tc.attrs...)
			if err != nil {
				t.Fatal(err)
			}
			miscCheck(t, out[0], String, tc.wantS, tc.want)
			miscCheck(t, out[1], Int64, tc.shape, tc.counts)
		})
	}
}

func TestRegexFullMatch(t *testing.T) {
	out, err := miscRun(t, "", "RegexFullMatch", 20, []*Tensor{miscStrings([]int{2, 2}, "www.google.com", "www.bbc.co.uk", "xwww.a.com", "")}, 1,
		"pattern", `www\.[\w.-]+\.\bcom\b`)
	if err != nil {
		t.Fatal(err)
	}
	miscCheck(t, out[0], Bool, []int{2, 2}, []bool{true, false, false, false})
	// Alternation must be anchored as a whole.
	out, err = miscRun(t, "", "RegexFullMatch", 20, []*Tensor{miscStrings([]int{3}, "ab", "abc", "c")}, 1, "pattern", "ab|c")
	if err != nil {
		t.Fatal(err)
	}
	miscCheck(t, out[0], Bool, []int{3}, []bool{true, false, true})
	if _, err := miscBuild("", "RegexFullMatch", 20, []string{"x"}, 1, "pattern", "(unclosed"); err == nil {
		t.Errorf("invalid pattern accepted")
	}
	if _, err := miscBuild("", "RegexFullMatch", 20, []string{"x"}, 1); err == nil {
		t.Errorf("missing pattern accepted")
	}
}

func TestTfIdfVectorizer(t *testing.T) {
	// Pool: unigrams 2 3 5 4, bigrams (5 6) (7 8) (6 7).
	base := []any{"max_skip_count", 0, "min_gram_length", 1, "max_gram_length", 2, "mode", "TF",
		"ngram_counts", []int64{0, 4}, "ngram_indexes", []int64{0, 1, 2, 3, 4, 5, 6},
		"pool_int64s", []int64{2, 3, 5, 4, 5, 6, 7, 8, 6, 7}}
	with := func(extra ...any) []any {
		a := append([]any(nil), base...)
		for i := 0; i < len(extra); i += 2 {
			replaced := false
			for j := 0; j < len(a); j += 2 {
				if a[j] == extra[i] {
					a[j+1] = extra[i+1]
					replaced = true
				}
			}
			if !replaced {
				a = append(a, extra[i], extra[i+1])
			}
		}
		return a
	}
	x := FromSlice(Int32, []int32{1, 1, 3, 3, 3, 7, 8, 6, 7, 5, 6, 8}, 12)
	for _, tc := range []struct {
		name  string
		x     *Tensor
		attrs []any
		want  []float32
		shape []int
	}{
		// Unigrams: 3 x3, 5 x1; bigrams (7 8) x1, (6 7) x1, (5 6) x1.
		{"uni and bigrams", x, base, []float32{0, 3, 1, 0, 1, 1, 1}, []int{7}},
		{"bigrams only", x, with("min_gram_length", 2), []float32{0, 0, 0, 0, 1, 1, 1}, []int{7}},
		// Distance 1 finds (6 7), distance 2 (5 _ 6) and (7 _ 8); distance 3
		// nothing pooled.
		{"skip 2", FromSlice(Int64, []int64{5, 1, 6, 7, 9, 8}, 6), with("max_skip_count", 2, "min_gram_length", 2),
			[]float32{0, 0, 0, 0, 1, 1, 1}, []int{7}},
		{"skip 1 only", FromSlice(Int64, []int64{5, 1, 6, 7, 9, 8}, 6), with("max_skip_count", 1, "min_gram_length", 2),
			[]float32{0, 0, 0, 0, 1, 1, 1}, []int{7}},
		{"no skip", FromSlice(Int64, []int64{5, 1, 6, 7, 9, 8}, 6), with("min_gram_length", 2),
			[]float32{0, 0, 0, 0, 0, 0, 1}, []int{7}},
		// Unigrams are counted once whatever the skip count.
		{"unigrams with skips", FromSlice(Int64, []int64{3, 3}, 2), with("max_skip_count", 3),
			[]float32{0, 2, 0, 0, 0, 0, 0}, []int{7}},
		{"batch", FromSlice(Int64, []int64{2, 2, 5, 6, 4, 4, 4, 4}, 2, 4), base,
			[]float32{2, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 0, 0, 0}, []int{2, 7}},
		{"idf", x, with("mode", "IDF"), []float32{0, 1, 1, 0, 1, 1, 1}, []int{7}},
		{"idf weights", x, with("mode", "IDF", "weights", []float32{1, 2, 3, 4, 5, 6, 7}), []float32{0, 2, 3, 0, 5, 6, 7}, []int{7}},
		{"tfidf weights", x, with("mode", "TFIDF", "weights", []float32{1, 2, 3, 4, 5, 6, 7}), []float32{0, 6, 3, 0, 5, 6, 7}, []int{7}},
		{"permuted indexes", x, with("ngram_indexes", []int64{6, 5, 4, 3, 2, 1, 0}), []float32{1, 1, 1, 0, 1, 3, 0}, []int{7}},
		{"strings", miscStrings([]int{5}, "a", "b", "a", "b", "c"),
			[]any{"max_skip_count", 0, "min_gram_length", 1, "max_gram_length", 2, "mode", "TF",
				"ngram_counts", []int64{0, 2}, "ngram_indexes", []int64{0, 1, 2},
				"pool_strings", []string{"a", "c", "a", "b"}},
			[]float32{2, 1, 2}, []int{3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := miscRun(t, "", "TfIdfVectorizer", 9, []*Tensor{tc.x}, 1, tc.attrs...)
			if err != nil {
				t.Fatal(err)
			}
			miscCheck(t, out[0], Float, tc.shape, tc.want)
		})
	}
	for _, tc := range []struct {
		name  string
		attrs []any
	}{
		{"bad mode", with("mode", "BM25")},
		{"counts past pool", with("ngram_counts", []int64{0, 11})},
		{"ragged bigrams", with("ngram_counts", []int64{0, 5})},
		{"few indexes", with("ngram_indexes", []int64{0, 1})},
		{"short weights", with("weights", []float32{1})},
		{"min > max", with("min_gram_length", 3)},
	} {
		if _, err := miscBuild("", "TfIdfVectorizer", 9, []string{"x"}, 1, tc.attrs...); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if _, err := miscRun(t, "", "TfIdfVectorizer", 9, []*Tensor{miscStrings([]int{1}, "a")}, 1, base...); err == nil ||
		!strings.Contains(err.Error(), "string") {
		t.Errorf("string input with an integer pool: err = %v", err)
	}
}

func BenchmarkTfIdfVectorizer(b *testing.B) {
	pool := make([]int64, 0, 3000)
	for i := int64(0); i < 1000; i++ {
		pool = append(pool, i)
	}
	for i := int64(0); i < 1000; i++ {
		pool = append(pool, i, (i*7)%1000)
	}
	idx := make([]int64, 2000)
	for i := range idx {
		idx[i] = int64(i)
	}
	k, err := miscBuild("", "TfIdfVectorizer", 9, []string{"x"}, 1, "max_skip_count", 2, "min_gram_length", 1,
		"max_gram_length", 2, "mode", "TF", "ngram_counts", []int64{0, 1000}, "ngram_indexes", idx, "pool_int64s", pool)
	if err != nil {
		b.Fatal(err)
	}
	x := make([]int64, 64*256)
	for i := range x {
		x[i] = int64(i*31) % 1000
	}
	in := []*Tensor{FromSlice(Int64, x, 64, 256)}
	out := make([]*Tensor, 1)
	ec := NewContext(context.Background(), nil, NewArena())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := k.(Kernel).Run(ec, in, out); err != nil {
			b.Fatal(err)
		}
		ec.Release(out[0])
	}
}
