package tokenizer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rivo/uniseg"
	"golang.org/x/text/unicode/norm"
)

// nchar is one character of a normalized string together with the byte span
// [start, end) of the original text it was derived from. Every normalization
// step keeps these spans, which is how offsets survive normalization.
type nchar struct {
	r          rune
	start, end int32
}

// toNChars splits s[from:to] into characters aligned with their byte spans in s.
// Invalid UTF-8 bytes become U+FFFD, one per byte, as Go's range loop does.
func toNChars(s string, from, to int, dst []nchar) []nchar {
	if cap(dst)-len(dst) < to-from {
		dst = append(make([]nchar, 0, len(dst)+to-from), dst...)
	}
	for i := from; i < to; {
		r, size := utf8.DecodeRuneInString(s[i:to])
		dst = append(dst, nchar{r: r, start: int32(i), end: int32(i + size)})
		i += size
	}
	return dst
}

// ncharString returns the text of cs.
func ncharString(cs []nchar) string {
	var b strings.Builder
	b.Grow(len(cs))
	for _, c := range cs {
		b.WriteRune(c.r)
	}
	return b.String()
}

// normalizer rewrites a normalized string, keeping alignments.
type normalizer interface {
	normalize(in []nchar) []nchar
}

// normalizerSeq applies its members in order.
type normalizerSeq []normalizer

func (s normalizerSeq) normalize(in []nchar) []nchar {
	for _, n := range s {
		in = n.normalize(in)
	}
	return in
}

// bertNormalizer follows Hugging Face's BertNormalizer: clean text, pad CJK
// ideographs with spaces, strip accents, lowercase, in that order.
type bertNormalizer struct {
	cleanText    bool
	chineseChars bool
	stripAccents bool
	lowercase    bool
}

func (b bertNormalizer) normalize(in []nchar) []nchar {
	out := make([]nchar, 0, len(in)+len(in)/4)
	ascii := true
	for _, c := range in {
		r := c.r
		if b.cleanText {
			if r == 0 || r == utf8.RuneError || isBertControl(r) {
				continue
			}
			if isBertWhitespace(r) {
				r = ' '
			}
		}
		if r >= utf8.RuneSelf {
			ascii = false
		}
		if b.chineseChars && isCJK(r) {
			out = append(out, nchar{' ', c.start, c.end}, nchar{r, c.start, c.end}, nchar{' ', c.start, c.end})
			continue
		}
		out = append(out, nchar{r, c.start, c.end})
	}
	if b.stripAccents && !ascii {
		out = stripMarks(decompose(out, norm.NFD), unicode.Mn)
	}
	if b.lowercase {
		out = lowercase(out)
	}
	return out
}

// isBertWhitespace reports whether BERT treats r as a space: tab, newline,
// carriage return and every rune with the Unicode White_Space property
// (which includes U+00A0, U+2000-U+200A, U+3000...).
func isBertWhitespace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r':
		return true
	}
	if r < 0x80 {
		return r == '\v' || r == '\f'
	}
	return unicode.Is(unicode.White_Space, r)
}

// isBertControl reports whether BERT's text cleaning drops r: general
// categories Cc, Cf and Co, except tab, newline and carriage return.
func isBertControl(r rune) bool {
	switch r {
	case '\t', '\n', '\r':
		return false
	}
	if r < 0x20 || r == 0x7f {
		return true
	}
	if r < 0x80 {
		return false
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co)
}

// isCJK reports whether r is in the CJK Unified Ideographs blocks BERT splits on.
func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) ||
		(r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) ||
		(r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) ||
		(r >= 0x2F800 && r <= 0x2FA1F)
}

// isPunct reports whether r is punctuation for BERT: ASCII punctuation
// (which includes symbols such as $ and ^) or Unicode category P.
func isPunct(r rune) bool {
	if r < 0x80 {
		return (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126)
	}
	return unicode.IsPunct(r)
}

// lowercase maps every character to its full lowercase mapping, as Rust's
// char::to_lowercase does (U+0130 becomes "i" + U+0307).
func lowercase(in []nchar) []nchar {
	for i := 0; i < len(in); i++ {
		r := in[i].r
		if r < utf8.RuneSelf {
			if 'A' <= r && r <= 'Z' {
				in[i].r = r + ('a' - 'A')
			}
			continue
		}
		if r == 0x130 {
			c := in[i]
			in = append(in, nchar{})
			copy(in[i+2:], in[i+1:])
			in[i] = nchar{'i', c.start, c.end}
			in[i+1] = nchar{0x307, c.start, c.end}
			i++
			continue
		}
		in[i].r = unicode.ToLower(r)
	}
	return in
}

// stripMarks removes the characters of category marks, in place.
// BertNormalizer removes nonspacing marks only (unicode.Mn), so spacing
// vowel signs such as Devanagari U+093E survive; the StripAccents normalizer
// removes every combining mark (unicode.M).
func stripMarks(in []nchar, marks *unicode.RangeTable) []nchar {
	out := in[:0]
	for _, c := range in {
		if c.r >= 0x300 && unicode.Is(marks, c.r) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// decompose applies the decomposing form f (NFD or NFKD) one character at a
// time, then puts runs of combining marks in canonical order. Every produced
// character keeps the span of the character it came from.
func decompose(in []nchar, f norm.Form) []nchar {
	out := make([]nchar, 0, len(in)+len(in)/4)
	var buf [utf8.UTFMax]byte
	changed := false
	for _, c := range in {
		if c.r < 0xA0 {
			out = append(out, c)
			continue
		}
		if c.r >= hangulBase && c.r < hangulBase+hangulCount {
			out = appendHangul(out, c)
			continue
		}
		// The tables hold the full decomposition of each character.
		p := f.Properties(buf[:utf8.EncodeRune(buf[:], c.r)])
		d := p.Decomposition()
		if d == nil {
			out = append(out, c)
			changed = changed || p.CCC() != 0
			continue
		}
		changed = true
		for len(d) > 0 {
			r, size := utf8.DecodeRune(d)
			out = append(out, nchar{r, c.start, c.end})
			d = d[size:]
		}
	}
	if changed {
		canonicalOrder(out, f)
	}
	return out
}

// Hangul syllables decompose algorithmically (Unicode section 3.12).
const (
	hangulBase  = 0xAC00
	hangulCount = 11172
	jamoLBase   = 0x1100
	jamoVBase   = 0x1161
	jamoTBase   = 0x11A7
	jamoTCount  = 28
	jamoNCount  = 21 * jamoTCount
)

// appendHangul appends the leading consonant, vowel and, when present,
// trailing consonant of the Hangul syllable c.
func appendHangul(out []nchar, c nchar) []nchar {
	i := c.r - hangulBase
	out = append(out, nchar{jamoLBase + i/jamoNCount, c.start, c.end}, nchar{jamoVBase + i%jamoNCount/jamoTCount, c.start, c.end})
	if t := i % jamoTCount; t != 0 {
		out = append(out, nchar{jamoTBase + t, c.start, c.end})
	}
	return out
}

// canonicalOrder stably sorts each run of non-starters by combining class.
// Only the characters move: the spans stay in place, as Hugging Face aligns
// the decomposed text position by position.
func canonicalOrder(cs []nchar, f norm.Form) {
	var buf [4]byte
	ccc := func(r rune) uint8 {
		if r < 0x300 {
			return 0 // no combining marks below U+0300
		}
		n := utf8.EncodeRune(buf[:], r)
		return f.Properties(buf[:n]).CCC()
	}
	for i := 1; i < len(cs); i++ {
		r := cs[i].r
		cc := ccc(r)
		if cc == 0 {
			continue
		}
		j := i
		for j > 0 {
			prev := ccc(cs[j-1].r)
			if prev == 0 || prev <= cc {
				break
			}
			cs[j].r = cs[j-1].r
			j--
		}
		cs[j].r = r
	}
}

// composeForm applies a composing form (NFC or NFKC). Text is cut into
// normalization segments, each aligned as Hugging Face aligns it (see
// alignComposed).
type composeForm struct{ form norm.Form }

func (c composeForm) normalize(in []nchar) []nchar {
	return applyForm(in, c.form)
}

// decomposeForm applies a decomposing form (NFD or NFKD).
type decomposeForm struct{ form norm.Form }

func (d decomposeForm) normalize(in []nchar) []nchar {
	return decompose(in, d.form)
}

func applyForm(in []nchar, f norm.Form) []nchar {
	s := ncharString(in)
	if f.IsNormalString(s) {
		return in
	}
	out := make([]nchar, 0, len(in))
	var seg []byte
	ci := 0 // index into in of the next character
	for pos := 0; pos < len(s); {
		n := f.NextBoundaryInString(s[pos:], true)
		if n <= 0 {
			n = len(s) - pos
		}
		part := s[pos : pos+n]
		count := utf8.RuneCountInString(part)
		first, last := ci, ci+count-1
		if last >= len(in) {
			last = len(in) - 1
		}
		seg = f.AppendString(seg[:0], part)
		out = alignComposed(out, string(seg), in[first:last+1], true)
		ci += count
		pos += n
	}
	return out
}

// alignComposed appends the characters of rep, which replaces the characters
// src, giving each the span of one of src, position by position. When rep is
// longer, its extra characters take the span of the last of src (Hugging
// Face aligns an inserted character with the one before). When it is
// shorter, the characters of src left over are dropped: after the first
// (firstAbsorbs, Hugging Face's NFC and NFKC: "e\u0301\u0323" gives "ẹ" on
// the e and U+0301 on U+0323) or at the end (the Precompiled normalizer).
// Hugging Face can differ where a segment both decomposes and composes
// with several marks: NFC of "İ\u0323\u0323" spans 0, 2, 2 there and 0, 1,
// 2 here, NFKC of "½\u0323" puts 1⁄2 on ½ there; the ids are the same.
func alignComposed(out []nchar, rep string, src []nchar, firstAbsorbs bool) []nchar {
	n, m := utf8.RuneCountInString(rep), len(src)
	k := 0
	for _, r := range rep {
		j := min(k, m-1)
		if n < m && firstAbsorbs && k > 0 {
			j = k + m - n
		}
		out = append(out, nchar{r, src[j].start, src[j].end})
		k++
	}
	return out
}

// spanOf returns the smallest original span covering cs.
func spanOf(cs []nchar) (int32, int32) {
	if len(cs) == 0 {
		return 0, 0
	}
	start, end := cs[0].start, cs[0].end
	for _, c := range cs[1:] {
		start = min(start, c.start)
		end = max(end, c.end)
	}
	return start, end
}

// lowercaseNormalizer is the Lowercase normalizer.
type lowercaseNormalizer struct{}

func (lowercaseNormalizer) normalize(in []nchar) []nchar { return lowercase(in) }

// stripAccentsNormalizer is the StripAccents normalizer (it expects NFD input).
type stripAccentsNormalizer struct{}

func (stripAccentsNormalizer) normalize(in []nchar) []nchar { return stripMarks(in, unicode.M) }

// stripNormalizer removes leading and/or trailing whitespace.
type stripNormalizer struct{ left, right bool }

func (s stripNormalizer) normalize(in []nchar) []nchar {
	if s.left {
		for len(in) > 0 && unicode.IsSpace(in[0].r) {
			in = in[1:]
		}
	}
	if s.right {
		for len(in) > 0 && unicode.IsSpace(in[len(in)-1].r) {
			in = in[:len(in)-1]
		}
	}
	return in
}

// prependNormalizer prepends a string to non-empty input; the new characters
// are aligned with the first character.
type prependNormalizer struct{ prefix string }

func (p prependNormalizer) normalize(in []nchar) []nchar {
	if len(in) == 0 {
		return in
	}
	out := make([]nchar, 0, len(in)+len(p.prefix))
	for _, r := range p.prefix {
		out = append(out, nchar{r, in[0].start, in[0].end})
	}
	return append(out, in...)
}

// replaceNormalizer replaces every match of a pattern with content. Replacing
// characters are aligned with the span of the match.
type replaceNormalizer struct {
	literal string
	re      matcher
	content string
}

func (p replaceNormalizer) normalize(in []nchar) []nchar {
	if len(in) == 0 {
		return in
	}
	s := ncharString(in)
	var locs [][]int
	if p.re != nil {
		locs = p.re.FindAllStringIndex(s, -1)
	} else if p.literal != "" {
		for i := 0; i < len(s); {
			j := strings.Index(s[i:], p.literal)
			if j < 0 {
				break
			}
			locs = append(locs, []int{i + j, i + j + len(p.literal)})
			i += j + len(p.literal)
		}
	}
	if len(locs) == 0 {
		return in
	}
	// Map byte positions of s to character indexes of in.
	idx := make([]int, len(s)+1)
	ci := 0
	for i := range s {
		idx[i] = ci
		ci++
	}
	idx[len(s)] = ci
	out := make([]nchar, 0, len(in))
	prev := 0
	for _, loc := range locs {
		a, b := idx[loc[0]], idx[loc[1]]
		out = append(out, in[prev:a]...)
		var start, end int32
		if a < b {
			start, end = spanOf(in[a:b])
		} else if a < len(in) {
			start, end = in[a].start, in[a].start
		} else {
			start, end = in[len(in)-1].end, in[len(in)-1].end
		}
		for _, r := range p.content {
			out = append(out, nchar{r, start, end})
		}
		prev = b
	}
	return append(out, in[prev:]...)
}

// nmtNormalizer is the NMT normalizer of SentencePiece: it drops control
// characters and maps a few separators to a plain space.
type nmtNormalizer struct{}

func (nmtNormalizer) normalize(in []nchar) []nchar {
	out := in[:0]
	for _, c := range in {
		switch r := c.r; {
		case r >= 0x1 && r <= 0x8, r == 0xB, r >= 0xE && r <= 0x1F, r == 0x7F, r == 0x8F, r == 0x9F:
			continue
		case r == 0x9, r == 0xA, r == 0xC, r == 0xD, r == 0x1680, r >= 0x200B && r <= 0x200F,
			r == 0x2028, r == 0x2029, r == 0x2581, r == 0xFEFF, r == 0xFFFD:
			c.r = ' '
		}
		out = append(out, c)
	}
	return out
}

// precompiledNormalizer applies a SentencePiece precompiled character map:
// each grapheme shorter than 6 bytes is looked up whole, otherwise (or when
// absent) each of its characters is looked up.
type precompiledNormalizer struct {
	trie       []uint32
	normalized string
}

// newPrecompiled parses SentencePiece's precompiled_charsmap: a little-endian
// uint32 trie size in bytes, the double-array trie, then NUL-separated
// replacement strings.
func newPrecompiled(data []byte) (*precompiledNormalizer, error) {
	if len(data) < 4 {
		return nil, fmt.Errorf("precompiled charsmap: %d bytes is too short", len(data))
	}
	size := int(uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16 | uint32(data[3])<<24)
	if size%4 != 0 || size > len(data)-4 {
		return nil, fmt.Errorf("precompiled charsmap: trie size %d does not fit in %d bytes", size, len(data))
	}
	trie := make([]uint32, size/4)
	for i := range trie {
		b := data[4+4*i:]
		trie[i] = uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
	}
	return &precompiledNormalizer{trie: trie, normalized: string(data[4+size:])}, nil
}

// lookup returns the replacement of the shortest prefix of key present in
// the trie (the double-array layout of darts-clone).
func (p *precompiledNormalizer) lookup(key string) (string, bool) {
	if len(p.trie) == 0 {
		return "", false
	}
	offset := func(u uint32) int { return int((u >> 10) << ((u & (1 << 9)) >> 6)) }
	pos := offset(p.trie[0])
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c == 0 {
			break
		}
		pos ^= int(c)
		if pos < 0 || pos >= len(p.trie) {
			return "", false
		}
		u := p.trie[pos]
		if int(u&((1<<31)|0xff)) != int(c) { // label
			return "", false
		}
		pos ^= offset(u)
		if pos < 0 || pos >= len(p.trie) {
			return "", false
		}
		if (u>>8)&1 == 1 { // has leaf
			v := int(p.trie[pos] & ((1 << 31) - 1))
			if v < 0 || v > len(p.normalized) {
				return "", false
			}
			end := strings.IndexByte(p.normalized[v:], 0)
			if end < 0 {
				end = len(p.normalized) - v
			}
			return p.normalized[v : v+end], true
		}
	}
	return "", false
}

func (p *precompiledNormalizer) normalize(in []nchar) []nchar {
	if len(in) == 0 {
		return in
	}
	s := ncharString(in)
	out := make([]nchar, 0, len(in))
	ci := 0
	state := -1
	rest := s
	for len(rest) > 0 {
		var g string
		g, rest, _, state = uniseg.FirstGraphemeClusterInString(rest, state)
		count := utf8.RuneCountInString(g)
		chars := in[ci : ci+count]
		ci += count
		if len(g) < 6 {
			if rep, ok := p.lookup(g); ok {
				if rep != "" {
					out = alignComposed(out, rep, chars, false)
				}
				continue
			}
		}
		k := 0
		for _, r := range g {
			c := chars[k]
			k++
			var buf [4]byte
			n := utf8.EncodeRune(buf[:], r)
			if rep, ok := p.lookup(string(buf[:n])); ok {
				for _, rr := range rep {
					out = append(out, nchar{rr, c.start, c.end})
				}
				continue
			}
			out = append(out, c)
		}
	}
	return out
}
