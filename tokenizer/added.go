package tokenizer

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// addedToken is an entry of tokenizer.json's added_tokens.
type addedToken struct {
	content    string
	id         int
	special    bool
	normalized bool
	lstrip     bool
	rstrip     bool
	singleWord bool
	match      string // what is searched for: content, normalized when normalized is set
}

// addedMatcher finds added tokens in text, leftmost first and longest first.
type addedMatcher struct {
	tokens []addedToken // sorted by decreasing match length
	first  [256]bool    // first bytes of the matches
}

func newAddedMatcher(tokens []addedToken) *addedMatcher {
	m := &addedMatcher{}
	for _, t := range tokens {
		if t.match != "" {
			m.tokens = append(m.tokens, t)
			m.first[t.match[0]] = true
		}
	}
	if len(m.tokens) == 0 {
		return nil
	}
	sort.SliceStable(m.tokens, func(i, j int) bool { return len(m.tokens[i].match) > len(m.tokens[j].match) })
	return m
}

// segment is a run of text [start, end) of the string being split, either
// plain text (tok == nil) or an added token.
type segment struct {
	start, end int
	tok        *addedToken
}

func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r)
}

// split cuts s into plain and added-token segments. lstrip/rstrip tokens
// swallow the whitespace next to them; single-word tokens only match when
// not inside a word.
func (m *addedMatcher) split(s string) []segment {
	if m == nil {
		return []segment{{0, len(s), nil}}
	}
	var segs []segment
	plain := 0
	for i := 0; i < len(s); {
		if !m.first[s[i]] {
			i++
			continue
		}
		var hit *addedToken
		for k := range m.tokens {
			t := &m.tokens[k]
			if !strings.HasPrefix(s[i:], t.match) {
				continue
			}
			if t.singleWord {
				before, _ := utf8.DecodeLastRuneInString(s[:i])
				after, _ := utf8.DecodeRuneInString(s[i+len(t.match):])
				if (i > 0 && isWordRune(before)) || (i+len(t.match) < len(s) && isWordRune(after)) {
					continue
				}
			}
			hit = t
			break
		}
		if hit == nil {
			i++
			continue
		}
		start, end := i, i+len(hit.match)
		if hit.lstrip {
			for start > plain {
				r, size := utf8.DecodeLastRuneInString(s[:start])
				if !unicode.IsSpace(r) {
					break
				}
				start -= size
			}
		}
		if hit.rstrip {
			for end < len(s) {
				r, size := utf8.DecodeRuneInString(s[end:])
				if !unicode.IsSpace(r) {
					break
				}
				end += size
			}
		}
		if plain < start {
			segs = append(segs, segment{plain, start, nil})
		}
		segs = append(segs, segment{start, end, hit})
		plain, i = end, end
	}
	if plain < len(s) {
		segs = append(segs, segment{plain, len(s), nil})
	}
	return segs
}
