package textfeat

import (
	"testing"
	"unicode/utf8"
)

// FuzzFeaturize checks that any text, valid UTF-8 or not, featurizes
// without a panic, that word offsets stay inside the text, and that
// Featurize and Occurrences count the same features.
func FuzzFeaturize(f *testing.F) {
	for _, s := range []string{"Ce commentaire est vraiment méchant", "\xff", "a\xffb", "mÃªme", "con\u200bnard",
		"👨‍👩‍👧 ok", "ﷺ ﬁ ㍿", "@user http://x", "aaaaaaaa!!!!", "हिन्दी", "e\u0301\u0301\u0301"} {
		f.Add(s)
	}
	spec := testSpec("wce", "c c", "cco", "cna", "wconnard", "c a")
	feat, err := New(spec)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		n := utf8.RuneCountInString(text)
		words := feat.Words(text)
		for _, w := range words {
			if w.Begin < 0 || w.End > n || w.Begin >= w.End || w.Norm == "" {
				t.Fatalf("%q: word %+v outside [0, %d)", text, w, n)
			}
		}
		fs := feat.Featurize(text, Features{})
		_, occ := feat.Occurrences(text)
		counts := map[int64]float32{}
		var lex float32
		for _, o := range occ {
			if o.ID == LexiconID {
				lex++
				continue
			}
			counts[int64(o.ID)]++
		}
		if lex != fs.Lexicon || len(counts) != fs.Len() {
			t.Fatalf("%q: Featurize %+v, occurrences %v (lexicon %v)", text, fs, counts, lex)
		}
		for i, id := range fs.IDs {
			if counts[id] != fs.Counts[i] || (i > 0 && fs.IDs[i-1] >= id) {
				t.Fatalf("%q: Featurize %+v, occurrences %v", text, fs, counts)
			}
		}
	})
}
