package tokenizer

import (
	"testing"

	"github.com/sugarme/tokenizer/spm"
)

// TestPrecompiled runs SentencePiece's nmt_nfkc character map (test data
// shipped with github.com/sugarme/tokenizer) through the local parser.
func TestPrecompiled(t *testing.T) {
	p, err := newPrecompiled(spm.NmtNfkc())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ in, want string }{
		{"\u0627\u0653", "\u0622"}, // a two-rune grapheme composed
		{"เขาไม่ได้พูดสักคำ", "เขาไม\u0e48ได\u0e49พ\u0e39ดส\u0e31กค\u0e4dา"}, // SARA AM decomposes
		{"ड़ी दुख", "ड़ी दुख"},
		{"ＡＢＣ１２３", "ABC123"},
		{"plain ascii", "plain ascii"},
	} {
		got := p.normalize(toNChars(c.in, 0, len(c.in), nil))
		if s := ncharString(got); s != c.want {
			t.Errorf("normalize(%q) = %q, want %q", c.in, s, c.want)
		}
		for _, ch := range got {
			if ch.start < 0 || ch.end > int32(len(c.in)) || ch.start > ch.end {
				t.Errorf("normalize(%q): bad span %v", c.in, ch)
			}
		}
	}
	if _, err := newPrecompiled([]byte{1, 2}); err == nil {
		t.Error("short charsmap: no error")
	}
	if _, err := newPrecompiled([]byte{0xff, 0, 0, 0, 1}); err == nil {
		t.Error("oversized trie: no error")
	}
}
