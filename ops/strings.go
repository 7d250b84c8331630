package ops

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// registerStrings registers the string operators: StringNormalizer,
// StringConcat, StringSplit, RegexFullMatch and TfIdfVectorizer.
func registerStrings(r *Registry) {
	r.Add("", "StringNormalizer", 10, newStringNormalizer)
	r.AddKernel("", "StringConcat", 20, KernelFunc(strConcat))
	r.Add("", "StringSplit", 20, newStringSplit)
	r.Add("", "RegexFullMatch", 20, newRegexFullMatch)
	r.Add("", "TfIdfVectorizer", 9, newTfIdfVectorizer)
}

// strInput returns the backing slice of in[i], which must be a string tensor.
func strInput(in []*Tensor, i int, name string) ([]string, error) {
	if i >= len(in) || in[i] == nil {
		return nil, fmt.Errorf("input %s is required", name)
	}
	s, ok := in[i].Data.([]string)
	if !ok {
		return nil, fmt.Errorf("input %s must be a string tensor, got %s", name, in[i].DType)
	}
	return s, nil
}

// strNormalizer implements StringNormalizer: stop-word removal followed by
// an optional case change. The locale attribute is accepted but casing
// follows Unicode's simple case mappings whatever its value.
type strNormalizer struct {
	caseChange    string // "LOWER", "UPPER" or "NONE"
	caseSensitive bool
	stop          map[string]struct{} // lower-cased when !caseSensitive
}

func newStringNormalizer(n *Node) (any, error) {
	k := &strNormalizer{
		caseChange:    n.Attrs.String("case_change_action", "NONE"),
		caseSensitive: n.Attrs.Int("is_case_sensitive", 0) != 0,
	}
	switch k.caseChange {
	case "LOWER", "UPPER", "NONE":
	default:
		return nil, fmt.Errorf("attribute \"case_change_action\": expected LOWER, UPPER or NONE, got %q", k.caseChange)
	}
	_ = n.Attrs.String("locale", "")
	if words, ok := n.Attrs.Strings("stopwords"); ok && len(words) > 0 {
		k.stop = make(map[string]struct{}, len(words))
		for _, w := range words {
			if !k.caseSensitive {
				w = strings.ToLower(w)
			}
			k.stop[w] = struct{}{}
		}
	}
	return k, nil
}

func (k *strNormalizer) isStopword(s string) bool {
	if k.stop == nil {
		return false
	}
	if !k.caseSensitive {
		s = strings.ToLower(s)
	}
	_, ok := k.stop[s]
	return ok
}

func (k *strNormalizer) Run(ec *Context, in, out []*Tensor) error {
	x, err := strInput(in, 0, "X")
	if err != nil {
		return err
	}
	shape := in[0].Shape
	twoDim := false
	switch {
	case len(shape) == 1:
	case len(shape) == 2 && shape[0] == 1:
		twoDim = true
	default:
		return fmt.Errorf("input X must have shape [C] or [1, C], got %v", shape)
	}
	kept := 0
	for _, s := range x {
		if !k.isStopword(s) {
			kept++
		}
	}
	n := kept
	if n == 0 {
		n = 1 // all dropped: a single empty string
	}
	var y *Tensor
	if twoDim {
		y = ec.Empty(String, 1, n)
	} else {
		y = ec.Empty(String, n)
	}
	dst := y.Data.([]string)
	if kept == 0 {
		dst[0] = ""
		out[0] = y
		return nil
	}
	j := 0
	for _, s := range x {
		if k.isStopword(s) {
			continue
		}
		switch k.caseChange {
		case "LOWER":
			s = strings.ToLower(s)
		case "UPPER":
			s = strings.ToUpper(s)
		}
		dst[j] = s
		j++
	}
	out[0] = y
	return nil
}

// strConcat implements StringConcat: elementwise concatenation with numpy
// broadcasting.
func strConcat(ec *Context, in, out []*Tensor) error {
	x, err := strInput(in, 0, "X")
	if err != nil {
		return err
	}
	y, err := strInput(in, 1, "Y")
	if err != nil {
		return err
	}
	shape, err := BroadcastShapes(in[0].Shape, in[1].Shape)
	if err != nil {
		return err
	}
	z := ec.Empty(String, shape...)
	if err := Binary(z.Data.([]string), shape, x, in[0].Shape, y, in[1].Shape, func(a, b string) string { return a + b }); err != nil {
		return err
	}
	out[0] = z
	return nil
}

// strSplit implements StringSplit, following Python's str.split: with a
// delimiter, consecutive delimiters delimit empty strings; without one (or
// with ""), runs of whitespace separate and surrounding whitespace is
// dropped. maxsplit < 0 means unlimited.
type strSplit struct {
	delim    string
	maxsplit int
}

func newStringSplit(n *Node) (any, error) {
	k := &strSplit{delim: n.Attrs.String("delimiter", ""), maxsplit: -1}
	if n.Attrs.Has("maxsplit") {
		k.maxsplit = int(n.Attrs.Int("maxsplit", -1))
	}
	if k.maxsplit < 0 {
		k.maxsplit = -1
	}
	return k, nil
}

// split appends the pieces of s to dst.
func (k *strSplit) split(dst []string, s string) []string {
	if k.delim != "" {
		return append(dst, strings.SplitN(s, k.delim, k.maxsplitN())...)
	}
	splits := 0
	i := 0
	for {
		// Skip leading whitespace.
		for i < len(s) {
			r, size := utf8.DecodeRuneInString(s[i:])
			if !unicode.IsSpace(r) {
				break
			}
			i += size
		}
		if i >= len(s) {
			return dst
		}
		if k.maxsplit >= 0 && splits == k.maxsplit {
			return append(dst, s[i:])
		}
		j := i
		for j < len(s) {
			r, size := utf8.DecodeRuneInString(s[j:])
			if unicode.IsSpace(r) {
				break
			}
			j += size
		}
		dst = append(dst, s[i:j])
		splits++
		i = j
	}
}

func (k *strSplit) maxsplitN() int {
	if k.maxsplit < 0 {
		return -1
	}
	return k.maxsplit + 1
}

func (k *strSplit) Run(ec *Context, in, out []*Tensor) error {
	x, err := strInput(in, 0, "X")
	if err != nil {
		return err
	}
	counts := ec.Empty(Int64, in[0].Shape...)
	cnt := counts.Data.([]int64)
	width := 0
	var buf []string
	offsets := make([]int, len(x)+1)
	for i, s := range x {
		buf = k.split(buf, s)
		offsets[i+1] = len(buf)
		c := offsets[i+1] - offsets[i]
		cnt[i] = int64(c)
		width = max(width, c)
	}
	yShape := append(append(make([]int, 0, len(in[0].Shape)+1), in[0].Shape...), width)
	y := ec.Empty(String, yShape...)
	dst := y.Data.([]string)
	for i := range x {
		row := dst[i*width : (i+1)*width]
		n := copy(row, buf[offsets[i]:offsets[i+1]])
		for j := n; j < width; j++ {
			row[j] = ""
		}
	}
	out[0] = y
	if len(out) > 1 {
		out[1] = counts
	} else {
		ec.Release(counts)
	}
	return nil
}

// strRegexFullMatch implements RegexFullMatch with Go's RE2-syntax regexp
// package, anchored at both ends.
type strRegexFullMatch struct{ re *regexp.Regexp }

func newRegexFullMatch(n *Node) (any, error) {
	if !n.Attrs.Has("pattern") {
		return nil, fmt.Errorf("attribute \"pattern\" is required")
	}
	p := n.Attrs.String("pattern", "")
	re, err := regexp.Compile(`\A(?:` + p + `)\z`)
	if err != nil {
		return nil, fmt.Errorf("attribute \"pattern\": %w", err)
	}
	return &strRegexFullMatch{re: re}, nil
}

func (k *strRegexFullMatch) Run(ec *Context, in, out []*Tensor) error {
	x, err := strInput(in, 0, "X")
	if err != nil {
		return err
	}
	y := ec.Empty(Bool, in[0].Shape...)
	dst := y.Data.([]bool)
	for i, s := range x {
		dst[i] = k.re.MatchString(s)
	}
	out[0] = y
	return nil
}
