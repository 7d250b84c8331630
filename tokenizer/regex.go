package tokenizer

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// matcher finds the successive non-overlapping matches of a pattern, as
// regexp.Regexp's FindAllStringIndex does (n < 0: all of them).
type matcher interface {
	FindAllStringIndex(s string, n int) [][]int
}

// Hugging Face compiles the Regex patterns of tokenizer.json with
// Oniguruma. Go's regexp reads most of them alike, with two differences
// this file bridges:
//
//   - Oniguruma's \s and \S are Unicode White_Space and its complement;
//     Go's are ASCII ([\t\n\f\r ]). They are rewritten to classes.
//   - Go has no lookaround. The pre-tokenizers of GPT-4, GPT-4o, Llama 3,
//     Qwen 2 and others hold one lookahead, in the alternative \s+(?!\S)
//     ("a run of whitespace not followed by a non-space"), which
//     spaceRunMatcher implements by hand. Other lookarounds are refused.

// onigSpaceClass is the content of a class matching Unicode White_Space,
// Oniguruma's \s: \t-\r, U+0085 and the Z categories (U+0020, U+00A0,
// U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000).
const onigSpaceClass = `\t\n\v\f\r\x{85}\p{Z}`

// lookaheadSpaceRun is the one lookahead alternative supported.
const lookaheadSpaceRun = `\s+(?!\S)`

// compileRegex compiles a tokenizer.json Regex pattern.
func compileRegex(pattern string) (matcher, error) {
	alts, err := topLevelAlternatives(pattern)
	if err != nil {
		return nil, err
	}
	k := -1
	for i, a := range alts {
		if a == lookaheadSpaceRun && k < 0 {
			k = i
			continue
		}
		if hasLookaround(a) {
			return nil, fmt.Errorf("lookaround in %q is not supported", a)
		}
	}
	if k < 0 {
		return compileGo(alts)
	}
	for _, a := range alts {
		if hasAnchor(a) {
			// The hand-written matcher searches from the middle of
			// the text, where anchors would read differently.
			return nil, fmt.Errorf("anchor in %q next to a lookahead is not supported", a)
		}
	}
	m := &spaceRunMatcher{}
	if m.before, err = compileGo(alts[:k]); err != nil {
		return nil, err
	}
	if m.after, err = compileGo(alts[k+1:]); err != nil {
		return nil, err
	}
	return m, nil
}

// compileGo joins alternatives into one Go regexp, nil when there are none.
func compileGo(alts []string) (*regexp.Regexp, error) {
	if len(alts) == 0 {
		return nil, nil
	}
	var b strings.Builder
	for i, a := range alts {
		if i > 0 {
			b.WriteByte('|')
		}
		t, err := translateEscapes(a)
		if err != nil {
			return nil, err
		}
		b.WriteString(t)
	}
	return regexp.Compile(b.String())
}

// topLevelAlternatives cuts a pattern at the | that are outside groups and
// character classes.
func topLevelAlternatives(p string) ([]string, error) {
	var alts []string
	depth, class, start := 0, false, 0
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\':
			i++ // the escaped byte; multi-byte runes hold no ASCII bytes
		case class:
			if c == ']' {
				class = false
			}
		case c == '[':
			class = true
			if i+1 < len(p) && p[i+1] == ']' {
				i++ // "[]...]": the first ] is literal
			} else if i+2 < len(p) && p[i+1] == '^' && p[i+2] == ']' {
				i += 2
			}
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '|' && depth == 0:
			alts = append(alts, p[start:i])
			start = i + 1
		}
	}
	if depth != 0 || class {
		return nil, errors.New("unbalanced group or class")
	}
	return append(alts, p[start:]), nil
}

func hasLookaround(a string) bool {
	return strings.Contains(a, "(?=") || strings.Contains(a, "(?!") ||
		strings.Contains(a, "(?<=") || strings.Contains(a, "(?<!")
}

// hasAnchor reports whether a holds ^, $ or an escape that tests the
// characters around a position (\b, \B, \A, \z, \Z, \G) outside classes.
func hasAnchor(a string) bool {
	class := false
	for i := 0; i < len(a); i++ {
		switch c := a[i]; {
		case c == '\\' && i+1 < len(a):
			i++
			if !class && strings.IndexByte("bBAzZG", a[i]) >= 0 {
				return true
			}
		case class:
			class = c != ']'
		case c == '[':
			class = true
			if i+1 < len(a) && a[i+1] == '^' {
				i++
			}
			if i+1 < len(a) && a[i+1] == ']' {
				i++
			}
		case c == '^' || c == '$':
			return true
		}
	}
	return false
}

// translateEscapes rewrites \s and \S to Unicode White_Space classes.
func translateEscapes(p string) (string, error) {
	if !strings.Contains(p, `\s`) && !strings.Contains(p, `\S`) {
		return p, nil
	}
	var b strings.Builder
	class := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\' && i+1 < len(p):
			e := p[i+1]
			i++
			switch {
			case e == 's' && class:
				b.WriteString(onigSpaceClass)
			case e == 's':
				b.WriteString("[" + onigSpaceClass + "]")
			case e == 'S' && class:
				return "", errors.New(`\S inside a character class is not supported`)
			case e == 'S':
				b.WriteString("[^" + onigSpaceClass + "]")
			default:
				b.WriteByte(c)
				b.WriteByte(e)
			}
			continue
		case class && c == ']':
			class = false
		case !class && c == '[':
			class = true
			b.WriteByte(c)
			if i+1 < len(p) && p[i+1] == '^' {
				b.WriteByte('^')
				i++
			}
			if i+1 < len(p) && p[i+1] == ']' {
				b.WriteByte(']')
				i++
			}
			continue
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

// spaceRunMatcher matches before|\s+(?!\S)|after, where before and after are
// lookaround-free (either may be nil). Like a backtracking engine, it takes
// the leftmost match, and at one position the first alternative that
// matches. \s+(?!\S) matches a whitespace run that ends the text, or all of
// a longer run but its last character (which then belongs to what follows).
type spaceRunMatcher struct {
	before, after *regexp.Regexp
}

func (m *spaceRunMatcher) FindAllStringIndex(s string, n int) [][]int {
	var out [][]int
	// Next match of each part at or after p; a cached match stays valid
	// while it starts at or after p (nothing matched between).
	var next [3][2]int
	for i := range next {
		next[i] = [2]int{-2, -2} // not searched
	}
	find := func(i, p int) [2]int {
		if c := next[i]; c[0] == -1 || c[0] >= p {
			return c
		}
		var r [2]int
		switch i {
		case 0:
			r = findFrom(m.before, s, p)
		case 1:
			r = nextSpaceRun(s, p)
		case 2:
			r = findFrom(m.after, s, p)
		}
		next[i] = r
		return r
	}
	for p := 0; p <= len(s) && (n < 0 || len(out) < n); {
		best := -1
		var hit [2]int
		for i := range next {
			r := find(i, p)
			if r[0] >= 0 && (best < 0 || r[0] < hit[0]) {
				best, hit = i, r
			}
		}
		if best < 0 {
			break
		}
		out = append(out, []int{hit[0], hit[1]})
		p = hit[1]
	}
	return out
}

// findFrom returns the leftmost non-empty match of re in s at or after p,
// or {-1, -1}.
func findFrom(re *regexp.Regexp, s string, p int) [2]int {
	if re == nil {
		return [2]int{-1, -1}
	}
	for p <= len(s) {
		loc := re.FindStringIndex(s[p:])
		if loc == nil {
			break
		}
		if loc[0] < loc[1] {
			return [2]int{p + loc[0], p + loc[1]}
		}
		// An empty match is not a token: look again past it.
		_, size := utf8.DecodeRuneInString(s[p+loc[0]:])
		p += loc[0] + max(size, 1)
	}
	return [2]int{-1, -1}
}

// nextSpaceRun returns the leftmost match of \s+(?!\S) at or after p, or
// {-1, -1}.
func nextSpaceRun(s string, p int) [2]int {
	for p < len(s) {
		r, size := utf8.DecodeRuneInString(s[p:])
		if !unicode.Is(unicode.White_Space, r) {
			p += size
			continue
		}
		// The run [p, q); last is where its last character starts.
		q, last := p+size, p
		for q < len(s) {
			r, size := utf8.DecodeRuneInString(s[q:])
			if !unicode.Is(unicode.White_Space, r) {
				break
			}
			last = q
			q += size
		}
		switch {
		case q == len(s):
			return [2]int{p, q}
		case last > p:
			return [2]int{p, last}
		}
		p = q // one space before a non-space: no match in this run
	}
	return [2]int{-1, -1}
}
