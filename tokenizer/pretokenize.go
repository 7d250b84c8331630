package tokenizer

import (
	"slices"
	"unicode"
	"unicode/utf8"
)

// preTokenizer cuts a normalized piece into smaller pieces ("words"),
// appending them to dst. Pieces may share memory with the input.
type preTokenizer interface {
	split(piece []nchar, dst [][]nchar) [][]nchar
}

// preTokenizerSeq applies each member to every piece the previous one produced.
type preTokenizerSeq []preTokenizer

func (s preTokenizerSeq) split(piece []nchar, dst [][]nchar) [][]nchar {
	cur := [][]nchar{piece}
	for _, p := range s {
		var next [][]nchar
		for _, c := range cur {
			next = p.split(c, next)
		}
		cur = next
	}
	return append(dst, cur...)
}

// behavior says what happens to the delimiters a split finds.
type behavior int

const (
	behaviorRemoved behavior = iota
	behaviorIsolated
	behaviorMergedWithPrevious
	behaviorMergedWithNext
	behaviorContiguous
)

func parseBehavior(s string) (behavior, bool) {
	switch s {
	case "Removed":
		return behaviorRemoved, true
	case "Isolated", "":
		return behaviorIsolated, true
	case "MergedWithPrevious":
		return behaviorMergedWithPrevious, true
	case "MergedWithNext":
		return behaviorMergedWithNext, true
	case "Contiguous":
		return behaviorContiguous, true
	}
	return 0, false
}

// splitRanges cuts piece around the delimiter ranges (character index pairs,
// sorted, not overlapping) according to b, dropping empty pieces.
func splitRanges(piece []nchar, delims [][2]int, b behavior, dst [][]nchar) [][]nchar {
	if len(delims) == 0 {
		if len(piece) > 0 {
			dst = append(dst, piece)
		}
		return dst
	}
	if b == behaviorContiguous {
		merged := delims[:0:0]
		for _, d := range delims {
			if n := len(merged); n > 0 && merged[n-1][1] == d[0] {
				merged[n-1][1] = d[1]
				continue
			}
			merged = append(merged, d)
		}
		delims = merged
		b = behaviorIsolated
	}
	add := func(a, z int) {
		if a < z {
			dst = append(dst, piece[a:z])
		}
	}
	prev := 0 // start of the pending piece
	for _, d := range delims {
		switch b {
		case behaviorRemoved:
			add(prev, d[0])
			prev = d[1]
		case behaviorIsolated:
			add(prev, d[0])
			add(d[0], d[1])
			prev = d[1]
		case behaviorMergedWithPrevious:
			add(prev, d[1])
			prev = d[1]
		case behaviorMergedWithNext:
			add(prev, d[0])
			prev = d[0]
		}
	}
	add(prev, len(piece))
	return dst
}

// charRanges returns one range per character for which is returns true.
func charRanges(piece []nchar, is func(rune) bool) [][2]int {
	var out [][2]int
	for i, c := range piece {
		if is(c.r) {
			out = append(out, [2]int{i, i + 1})
		}
	}
	return out
}

// bertPreTokenizer splits on whitespace (dropped) and isolates punctuation.
type bertPreTokenizer struct{}

func (bertPreTokenizer) split(piece []nchar, dst [][]nchar) [][]nchar {
	start := -1
	for i, c := range piece {
		r := c.r
		space := r == ' ' || (r >= 0x9 && r <= 0xd) || (r >= 0x80 && unicode.IsSpace(r))
		if space || isPunct(r) {
			if start >= 0 {
				dst = append(dst, piece[start:i])
				start = -1
			}
			if !space {
				dst = append(dst, piece[i:i+1])
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		dst = append(dst, piece[start:])
	}
	return dst
}

// whitespaceSplit splits on whitespace, dropping it.
type whitespaceSplit struct{}

func (whitespaceSplit) split(piece []nchar, dst [][]nchar) [][]nchar {
	return splitRanges(piece, charRanges(piece, unicode.IsSpace), behaviorRemoved, dst)
}

// whitespacePreTokenizer keeps runs of word characters and runs of other
// non-space characters (the pattern \w+|[^\w\s]+).
type whitespacePreTokenizer struct{}

func isWordChar(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r) ||
		unicode.Is(unicode.Pc, r) || unicode.Is(unicode.Nl, r) || r == 0x200C || r == 0x200D
}

func (whitespacePreTokenizer) split(piece []nchar, dst [][]nchar) [][]nchar {
	start, kind := -1, 0
	for i, c := range piece {
		k := 2
		if unicode.IsSpace(c.r) {
			k = 0
		} else if isWordChar(c.r) {
			k = 1
		}
		if k != kind && start >= 0 {
			dst = append(dst, piece[start:i])
			start = -1
		}
		if k != 0 && start < 0 {
			start = i
		}
		kind = k
	}
	if start >= 0 {
		dst = append(dst, piece[start:])
	}
	return dst
}

// punctuationPreTokenizer splits on punctuation characters.
type punctuationPreTokenizer struct{ behavior behavior }

func (p punctuationPreTokenizer) split(piece []nchar, dst [][]nchar) [][]nchar {
	return splitRanges(piece, charRanges(piece, isPunct), p.behavior, dst)
}

// digitsPreTokenizer isolates digits, one by one or in runs.
type digitsPreTokenizer struct{ individual bool }

func (d digitsPreTokenizer) split(piece []nchar, dst [][]nchar) [][]nchar {
	b := behaviorContiguous
	if d.individual {
		b = behaviorIsolated
	}
	return splitRanges(piece, charRanges(piece, unicode.IsDigit), b, dst)
}

// splitPreTokenizer splits on a literal string or a regular expression.
type splitPreTokenizer struct {
	literal  string
	re       matcher
	behavior behavior
	invert   bool
}

func (s splitPreTokenizer) split(piece []nchar, dst [][]nchar) [][]nchar {
	if len(piece) == 0 {
		return dst
	}
	text := ncharString(piece)
	idx := make([]int, len(text)+1)
	ci := 0
	for i := range text {
		idx[i] = ci
		ci++
	}
	idx[len(text)] = ci
	var ranges [][2]int
	if s.re != nil {
		for _, m := range s.re.FindAllStringIndex(text, -1) {
			if m[0] < m[1] {
				ranges = append(ranges, [2]int{idx[m[0]], idx[m[1]]})
			}
		}
	} else if s.literal != "" {
		for i := 0; i+len(s.literal) <= len(text); {
			if text[i:i+len(s.literal)] == s.literal {
				ranges = append(ranges, [2]int{idx[i], idx[i+len(s.literal)]})
				i += len(s.literal)
				continue
			}
			_, size := utf8.DecodeRuneInString(text[i:])
			i += size
		}
	}
	if !s.invert {
		return splitRanges(piece, ranges, s.behavior, dst)
	}
	// Inverted, the matches are the pieces and the text between them the
	// delimiters. Adjacent matches stay apart.
	var segs []segmentFlag
	prev := 0
	for _, r := range ranges {
		if prev < r[0] {
			segs = append(segs, segmentFlag{prev, r[0], true})
		}
		segs = append(segs, segmentFlag{r[0], r[1], false})
		prev = r[1]
	}
	if prev < len(piece) {
		segs = append(segs, segmentFlag{prev, len(piece), true})
	}
	return splitSegments(piece, segs, s.behavior, dst)
}

// segmentFlag is a character range [start, end) of a piece, a delimiter or not.
type segmentFlag struct {
	start, end int
	delim      bool
}

// splitSegments applies b to segments that cover piece in order. Unlike
// splitRanges, which cuts the text between delimiters as one piece, every
// non-delimiter segment stays a piece of its own, as in Hugging Face's
// NormalizedString::split (Contiguous aside, which joins equal neighbours).
func splitSegments(piece []nchar, segs []segmentFlag, b behavior, dst [][]nchar) [][]nchar {
	out := make([][2]int, 0, len(segs))
	prevDelim := false
	switch b {
	case behaviorRemoved:
		for _, g := range segs {
			if !g.delim {
				out = append(out, [2]int{g.start, g.end})
			}
		}
	case behaviorIsolated:
		for _, g := range segs {
			out = append(out, [2]int{g.start, g.end})
		}
	case behaviorMergedWithPrevious, behaviorContiguous:
		for _, g := range segs {
			join := g.delim && !prevDelim
			if b == behaviorContiguous {
				join = g.delim == prevDelim
			}
			if n := len(out); join && n > 0 {
				out[n-1][1] = g.end
			} else {
				out = append(out, [2]int{g.start, g.end})
			}
			prevDelim = g.delim
		}
	case behaviorMergedWithNext:
		for i := len(segs) - 1; i >= 0; i-- {
			g := segs[i]
			if n := len(out); g.delim && !prevDelim && n > 0 {
				out[n-1][0] = g.start
			} else {
				out = append(out, [2]int{g.start, g.end})
			}
			prevDelim = g.delim
		}
		slices.Reverse(out)
	}
	for _, r := range out {
		if r[0] < r[1] {
			dst = append(dst, piece[r[0]:r[1]])
		}
	}
	return dst
}

// metaspacePreTokenizer replaces spaces with a marker (▁ by default),
// optionally prepends one, and splits before each marker.
type metaspacePreTokenizer struct {
	replacement rune
	prepend     string // "always", "first" or "never"
	splitWords  bool
}

func (m metaspacePreTokenizer) split(piece []nchar, dst [][]nchar) [][]nchar {
	if len(piece) == 0 {
		return dst
	}
	out := make([]nchar, 0, len(piece)+1)
	first := piece[0].start == 0
	if (m.prepend == "always" || (m.prepend == "first" && first)) && piece[0].r != ' ' && piece[0].r != m.replacement {
		// Prepended text takes the span of the first character, as Hugging
		// Face's NormalizedString::prepend aligns it.
		out = append(out, nchar{m.replacement, piece[0].start, piece[0].end})
	}
	for _, c := range piece {
		if c.r == ' ' {
			c.r = m.replacement
		}
		out = append(out, c)
	}
	if !m.splitWords {
		return append(dst, out)
	}
	return splitRanges(out, charRanges(out, func(r rune) bool { return r == m.replacement }), behaviorMergedWithNext, dst)
}

// byteLevelPreTokenizer implements GPT-2 style byte-level pre-tokenization:
// an optional prefix space, the GPT-2 split pattern, then every byte mapped
// to a printable character.
type byteLevelPreTokenizer struct {
	addPrefixSpace bool
	useRegex       bool
	table          [256]rune
}

// byteToRuneTable returns GPT-2's reversible byte to printable rune mapping.
func byteToRuneTable() [256]rune {
	var t [256]rune
	var set [256]bool
	for b := '!'; b <= '~'; b++ {
		t[b], set[b] = b, true
	}
	for b := 0xA1; b <= 0xAC; b++ {
		t[b], set[b] = rune(b), true
	}
	for b := 0xAE; b <= 0xFF; b++ {
		t[b], set[b] = rune(b), true
	}
	n := 0
	for b := 0; b < 256; b++ {
		if !set[b] {
			t[b] = rune(256 + n)
			n++
		}
	}
	return t
}

func (b *byteLevelPreTokenizer) split(piece []nchar, dst [][]nchar) [][]nchar {
	if len(piece) == 0 {
		return dst
	}
	if b.addPrefixSpace && piece[0].r != ' ' {
		p := make([]nchar, 0, len(piece)+1)
		p = append(p, nchar{' ', piece[0].start, piece[0].end})
		piece = append(p, piece...)
	}
	var words [][]nchar
	if b.useRegex {
		words = gpt2Split(piece, nil)
	} else {
		words = [][]nchar{piece}
	}
	for _, w := range words {
		out := make([]nchar, 0, len(w)+len(w)/2)
		var buf [4]byte
		for _, c := range w {
			if c.r < utf8.RuneSelf {
				out = append(out, nchar{b.table[c.r], c.start, c.end})
				continue
			}
			n := utf8.EncodeRune(buf[:], c.r)
			for _, x := range buf[:n] {
				out = append(out, nchar{b.table[x], c.start, c.end})
			}
		}
		dst = append(dst, out)
	}
	return dst
}

// gpt2Split cuts piece like the GPT-2 pattern
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
func gpt2Split(piece []nchar, dst [][]nchar) [][]nchar {
	const (
		kSpace = iota
		kLetter
		kNumber
		kOther
	)
	kind := func(r rune) int {
		switch {
		case unicode.IsSpace(r):
			return kSpace
		case unicode.IsLetter(r):
			return kLetter
		case unicode.IsNumber(r):
			return kNumber
		}
		return kOther
	}
	n := len(piece)
	run := func(i, k int) int {
		for i < n && kind(piece[i].r) == k {
			i++
		}
		return i
	}
	for i := 0; i < n; {
		r := piece[i].r
		if r == '\'' && i+1 < n {
			a := piece[i+1].r
			var b rune
			if i+2 < n {
				b = piece[i+2].r
			}
			l := 0
			switch {
			case a == 's' || a == 't' || a == 'm' || a == 'd':
				l = 2
			case (a == 'r' || a == 'v') && b == 'e', a == 'l' && b == 'l':
				l = 3
			}
			if l > 0 {
				dst = append(dst, piece[i:i+l])
				i += l
				continue
			}
		}
		k := kind(r)
		if r == ' ' && i+1 < n {
			if k2 := kind(piece[i+1].r); k2 != kSpace {
				j := run(i+1, k2)
				dst = append(dst, piece[i:j])
				i = j
				continue
			}
		}
		if k != kSpace {
			j := run(i, k)
			dst = append(dst, piece[i:j])
			i = j
			continue
		}
		j := run(i, kSpace)
		if j < n && j-i >= 2 {
			j-- // leave the last space for the following word
		}
		dst = append(dst, piece[i:j])
		i = j
	}
	return dst
}
