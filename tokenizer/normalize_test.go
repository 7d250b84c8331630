package tokenizer

import (
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/sugarme/tokenizer/spm"
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

// TestNormalizerAlignments pins the character spans the normalizers give
// when they change the number of characters. The expected rune spans are
// Hugging Face tokenizers 0.23.2's (its Node binding, npm "tokenizers"),
// read as the offsets of a tokenizer that isolates every normalized
// character: composed characters keep the span of the first source
// character, reordered marks keep their positions, added characters share
// the span of the character they came from. (The Precompiled rows ran with
// t5-small's charsmap there and with SentencePiece's nmt_nfkc here, the map
// t5-small was built with; they agree on these texts.)
func TestNormalizerAlignments(t *testing.T) {
	pc, err := newPrecompiled(spm.NmtNfkc())
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string]normalizer{
		"NFC": composeForm{norm.NFC}, "NFKC": composeForm{norm.NFKC},
		"NFD": decomposeForm{norm.NFD}, "Precompiled": pc,
	}
	for _, c := range []struct {
		form, text string
		want       []Offset // rune spans, one per normalized character
	}{
		{"NFC", "xe\u0301y", []Offset{{0, 1}, {1, 2}, {3, 4}}},
		{"NFC", "e\u0301\u0323", []Offset{{0, 1}, {2, 3}}}, // ẹ + U+0301
		{"NFC", "e\u0323\u0301", []Offset{{0, 1}, {2, 3}}},
		{"NFC", "\u1100\u1161\u11a8", []Offset{{0, 1}}},
		{"NFC", "\u0958", []Offset{{0, 1}, {0, 1}}}, // excluded from composition
		{"NFKC", "e\u0301\ufb01", []Offset{{0, 1}, {2, 3}, {2, 3}}},
		{"NFKC", "\uff76\uff9e", []Offset{{0, 1}}},
		{"NFD", "e\u0301\u0323", []Offset{{0, 1}, {1, 2}, {2, 3}}},
		{"Precompiled", "xe\u0301y", []Offset{{0, 1}, {1, 2}, {3, 4}}},
		{"Precompiled", "a\u0308\u0304", []Offset{{0, 1}}},
		{"Precompiled", "x\ufb01y", []Offset{{0, 1}, {1, 2}, {1, 2}, {2, 3}}},
	} {
		out := forms[c.form].normalize(toNChars(c.text, 0, len(c.text), nil))
		ri := newRuneIndex(c.text)
		var got []Offset
		for _, ch := range out {
			got = append(got, Offset{ri.at(int(ch.start)), ri.at(int(ch.end))})
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s(%+q) = %+q spans %v, want %v", c.form, c.text, ncharString(out), got, c.want)
		}
	}
}
