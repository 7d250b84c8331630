// Package textfeat turns text into the sparse features of agate's linear
// text classifiers: normalised words, word n-grams, character n-grams
// within word boundaries and lexicon hits, counted per text and mapped to
// vocabulary ids. Its Spec is the featuriser's specification, stored as
// featurizer.json beside model.onnx the way tokenizer.json sits beside a
// transformer; the TF-IDF weighting and the linear model itself live in
// model.onnx.
package textfeat

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Normalization says how text is normalised before features are taken.
type Normalization struct {
	// NFKC applies Unicode compatibility composition (ligatures, full-width
	// letters, superscripts).
	NFKC bool `json:"nfkc"`
	// Lowercase folds letters to lower case.
	Lowercase bool `json:"lowercase"`
	// StripAccents removes combining marks after canonical decomposition
	// ("méchant" becomes "mechant").
	StripAccents bool `json:"strip_accents"`
	// CollapseRepeats, when positive, shortens runs of more than that many
	// identical characters to that many ("trooop" → "troop" at 2).
	CollapseRepeats int `json:"collapse_repeats"`
	// URLToken replaces web addresses ("" keeps them as words).
	URLToken string `json:"url_token"`
	// MentionToken replaces @mentions ("" keeps them as words).
	MentionToken string `json:"mention_token"`
	// FixMojibake repairs UTF-8 text that was decoded as Latin-1 or
	// Windows-1252 once ("mÃªme" → "même").
	FixMojibake bool `json:"fix_mojibake"`
}

// Word is one word of a text: its normalised form and where it came from.
type Word struct {
	// Norm is the normalised word (a placeholder for URLs and mentions).
	Norm string
	// Begin and End are code point offsets [Begin, End) into the text the
	// words were taken from (after mojibake repair, which rarely applies).
	Begin, End int
}

// cp1252 maps the Windows-1252 characters of 0x80–0x9F back to their byte.
var cp1252 = map[rune]byte{
	'€': 0x80, '‚': 0x82, 'ƒ': 0x83, '„': 0x84, '…': 0x85, '†': 0x86, '‡': 0x87, 'ˆ': 0x88,
	'‰': 0x89, 'Š': 0x8A, '‹': 0x8B, 'Œ': 0x8C, 'Ž': 0x8E, '‘': 0x91, '’': 0x92, '“': 0x93,
	'”': 0x94, '•': 0x95, '–': 0x96, '—': 0x97, '˜': 0x98, '™': 0x99, 'š': 0x9A, '›': 0x9B,
	'œ': 0x9C, 'ž': 0x9E, 'Ÿ': 0x9F,
}

// FixMojibake undoes one round of UTF-8 bytes read as Windows-1252 (or
// Latin-1): when every character of s fits in one such byte and the bytes
// form valid UTF-8 with at least one multi-byte sequence, it returns the
// decoded string; otherwise s unchanged.
func FixMojibake(s string) string {
	if !strings.ContainsAny(s, "ÃÂâÅÄÆÐðÑ") {
		return s
	}
	b := make([]byte, 0, len(s))
	multi := false
	for _, r := range s {
		switch {
		case r < 0x80:
			b = append(b, byte(r))
		case r < 0x100:
			b = append(b, byte(r))
			multi = true
		default:
			c, ok := cp1252[r]
			if !ok {
				return s
			}
			b = append(b, c)
			multi = true
		}
	}
	if !multi || !utf8.Valid(b) {
		return s
	}
	return string(b)
}

// isURL reports whether a whitespace-delimited piece is a web address.
func isURL(p string) bool {
	l := strings.ToLower(p)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "www.")
}

// isMention reports whether a piece is an @mention (@ then a word character).
func isMention(p string) bool {
	if len(p) < 2 || p[0] != '@' {
		return false
	}
	r, _ := utf8.DecodeRuneInString(p[1:])
	return isWordRune(r)
}

// isWordRune reports whether r belongs in a word: letters, digits, marks,
// and invisible format characters (zero-width spaces and joiners, soft
// hyphens), which normalisation then drops, so that "con\u200bnard" is
// one word.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r) ||
		r == '_' || unicode.Is(unicode.Cf, r)
}

// isSymbolWord reports whether r stands alone as a word: emoji and other
// symbols carry meaning in comments.
func isSymbolWord(r rune) bool {
	return r != utf8.RuneError && unicode.Is(unicode.So, r)
}

// Words splits text into normalised words: URLs and mentions become their
// placeholders, runs of letters, digits and marks become words, and each
// symbol (emoji) is a word of its own. Punctuation separates words.
func (n *Normalization) Words(text string) []Word {
	return n.AppendWords(nil, text)
}

// AppendWords is Words appending to dst.
func (n *Normalization) AppendWords(dst []Word, text string) []Word {
	return n.appendWords(dst, text, &normBuffers{})
}

func (n *Normalization) appendWords(dst []Word, text string, buf *normBuffers) []Word {
	if n.FixMojibake {
		if fixed := FixMojibake(text); fixed != text {
			first := len(dst)
			dst = n.splitText(dst, fixed, buf)
			mojibakeOffsets(dst[first:], fixed)
			return dst
		}
	}
	return n.splitText(dst, text, buf)
}

// mojibakeOffsets maps the offsets of words taken from the repaired text
// back to the text as sent: each repaired character came from as many
// characters as its UTF-8 encoding has bytes.
func mojibakeOffsets(words []Word, fixed string) {
	orig := make([]int, 0, len(fixed)+1) // repaired code point → original one
	o := 0
	for _, r := range fixed {
		orig = append(orig, o)
		o += utf8.RuneLen(r)
	}
	orig = append(orig, o)
	for i := range words {
		words[i].Begin, words[i].End = orig[words[i].Begin], orig[words[i].End]
	}
}

func (n *Normalization) splitText(dst []Word, text string, buf *normBuffers) []Word {
	pos := 0 // code point index of text[i]
	i := 0
	for i < len(text) {
		r, size := utf8.DecodeRuneInString(text[i:])
		if unicode.IsSpace(r) {
			i += size
			pos++
			continue
		}
		// a whitespace-delimited piece
		j, end := i, pos
		for j < len(text) {
			r2, s2 := utf8.DecodeRuneInString(text[j:])
			if unicode.IsSpace(r2) {
				break
			}
			j += s2
			end++
		}
		piece := text[i:j]
		switch {
		case n.URLToken != "" && isURL(piece):
			dst = append(dst, Word{Norm: n.URLToken, Begin: pos, End: end})
		case n.MentionToken != "" && isMention(piece):
			dst = append(dst, Word{Norm: n.MentionToken, Begin: pos, End: end})
		default:
			dst = n.splitPiece(dst, buf, piece, pos)
		}
		i, pos = j, end
	}
	return dst
}

// splitPiece appends the words of one whitespace-free piece starting at
// code point pos.
func (n *Normalization) splitPiece(dst []Word, buf *normBuffers, piece string, pos int) []Word {
	start, startPos := -1, 0
	p := pos
	flush := func(endByte, endPos int) {
		if start < 0 {
			return
		}
		buf.out = buf.out[:0]
		n.appendNorm(buf, piece[start:endByte])
		if len(buf.out) > 0 {
			dst = append(dst, Word{Norm: string(buf.out), Begin: startPos, End: endPos})
		}
		start = -1
	}
	for k, r := range piece {
		switch {
		case isWordRune(r):
			if start < 0 {
				start, startPos = k, p
			}
		case isSymbolWord(r):
			flush(k, p)
			_, width := utf8.DecodeRuneInString(piece[k:]) // 1 for an invalid byte
			buf.out = buf.out[:0]
			n.appendNorm(buf, piece[k:k+width])
			if len(buf.out) > 0 {
				dst = append(dst, Word{Norm: string(buf.out), Begin: p, End: p + 1})
			}
		default:
			flush(k, p)
		}
		p++
	}
	flush(len(piece), p)
	return dst
}

// normBuffers are a word normalisation's scratch space.
type normBuffers struct {
	out, nfkc, nfd []byte
}

// appendNorm appends the normalised form of one word to b.out.
func (n *Normalization) appendNorm(b *normBuffers, w string) {
	src := w
	var bs []byte
	ascii := isASCII(w)
	if n.NFKC && !ascii {
		b.nfkc = norm.NFKC.AppendString(b.nfkc[:0], w)
		bs, src = b.nfkc, ""
	}
	if n.StripAccents && !ascii {
		if bs != nil {
			b.nfd = norm.NFD.Append(b.nfd[:0], bs...)
		} else {
			b.nfd = norm.NFD.AppendString(b.nfd[:0], w)
		}
		bs, src = b.nfd, ""
	}
	var last rune = -1
	run := 0
	var base rune // the last character that is not a mark
	emit := func(r rune) {
		if unicode.Is(unicode.Cf, r) {
			return // zero-width and other invisible format characters
		}
		if unicode.Is(unicode.Mn, r) {
			// accents of Latin, Greek and Cyrillic letters; marks of other
			// scripts (viramas, vowel signs) are part of the spelling
			if n.StripAccents && base < 0x530 {
				return
			}
		} else {
			base = r
		}
		if n.Lowercase {
			r = unicode.ToLower(r)
		}
		if unicode.IsSpace(r) {
			return // NFKC may turn a character into a spaced sequence
		}
		if r == last {
			run++
		} else {
			last, run = r, 1
		}
		if n.CollapseRepeats > 0 && run > n.CollapseRepeats {
			return
		}
		b.out = utf8.AppendRune(b.out, r)
	}
	if bs != nil {
		for i := 0; i < len(bs); {
			r, size := utf8.DecodeRune(bs[i:])
			emit(r)
			i += size
		}
		return
	}
	for _, r := range src {
		emit(r)
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
