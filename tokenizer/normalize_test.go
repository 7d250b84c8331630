package tokenizer

import (
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// TestDecomposeMatchesNorm checks decompose, which reads the decomposition
// tables one character at a time, against golang.org/x/text's NFD and NFKD
// for every character and for texts whose marks need reordering.
func TestDecomposeMatchesNorm(t *testing.T) {
	texts := []string{
		"a\u0301\u0323", "a\u0323\u0301", "\u1e0b\u0323", "q\u0307\u0323 \u00e9\u0323", "\u0958\u0301",
		"한국어 텍스트 각 힣", "ﬁ ½ Ⅻ ｶ ㌀", "Ce commentaire est vraiment méchant", "\u0344\u0301",
	}
	for _, f := range []norm.Form{norm.NFD, norm.NFKD} {
		bad := 0
		for r := rune(0); r <= utf8.MaxRune; r++ {
			if !utf8.ValidRune(r) {
				continue
			}
			s := string(r)
			if got, want := ncharString(decompose(toNChars(s, 0, len(s), nil), f)), f.String(s); got != want {
				if bad++; bad <= 5 {
					t.Errorf("form %v: decompose(%U) = %+q, want %+q", f, r, got, want)
				}
			}
		}
		for _, s := range texts {
			if got, want := ncharString(decompose(toNChars(s, 0, len(s), nil), f)), f.String(s); got != want {
				t.Errorf("form %v: decompose(%+q) = %+q, want %+q", f, s, got, want)
			}
		}
	}
}
