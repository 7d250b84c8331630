package tokenizer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkEncoding verifies the invariants every encoding of text must hold.
func checkEncoding(t *testing.T, tok *Tokenizer, text string, e Encoding) {
	t.Helper()
	n := len(e.IDs)
	if n > tok.MaxLength() {
		t.Fatalf("%q: %d tokens > max length %d", text, n, tok.MaxLength())
	}
	for _, l := range []int{len(e.TypeIDs), len(e.Tokens), len(e.Offsets), len(e.RuneOffsets), len(e.SpecialTokensMask), len(e.AttentionMask), len(e.WordIDs), len(e.SequenceIDs)} {
		if l != n {
			t.Fatalf("%q: slice lengths differ: %d vs %d", text, l, n)
		}
	}
	runes := utf8.RuneCountInString(text)
	for i, o := range e.Offsets {
		if o.Start < 0 || o.Start > o.End || o.End > len(text) {
			t.Fatalf("%q: token %d %q has byte offsets %v", text, i, e.Tokens[i], o)
		}
		if ro := e.RuneOffsets[i]; ro.Start < 0 || ro.Start > ro.End || ro.End > runes {
			t.Fatalf("%q: token %d %q has rune offsets %v", text, i, e.Tokens[i], ro)
		}
		if u, ok := tok.model.(*unigram); ok && u.hasUnk && e.IDs[i] == u.unkID && e.Tokens[i] != "" {
			continue // an unknown Unigram piece keeps its text, as in Hugging Face
		}
		if tokStr, ok := tok.IDToToken(e.IDs[i]); !ok || tokStr != e.Tokens[i] {
			t.Fatalf("%q: token %d: id %d is %q, encoding says %q", text, i, e.IDs[i], tokStr, e.Tokens[i])
		}
	}
}

func FuzzEncode(f *testing.F) {
	for _, s := range []string{
		"Ce commentaire est vraiment méchant et insultant",
		"!!! ??? ... $$$ 1234567890 emoji: 😀 中文 mixed WORDS Here",
		"", " ", "\u00a0", "İ", "ﬁ", "\u0301", "a\u0301\u0323", "[CLS][SEP] [MASK]", "\xff\xfe", "e\u200d",
		"the cat  é", "ＨＥＬＬＯ   world xx", strings.Repeat("ab", 80),
	} {
		f.Add(s)
	}
	var toks []*Tokenizer
	// The real BERT tokenizer when the shared fixtures are present; the
	// synthetic byte-level BPE and Unigram ones always.
	if dir, err := findShared(); err == nil {
		toks = append(toks, mustLoad(f, filepath.Join(dir, "models", "tokenizers", "toxic-bert")))
	} else if os.Getenv("CI") == "true" {
		f.Fatalf("shared fixtures required in CI: %v", err)
	}
	toks = append(toks, byteLevelTokenizer(f), unigramTokenizer(f))
	f.Fuzz(func(t *testing.T, text string) {
		for _, tok := range toks {
			e, err := tok.Encode(text)
			if errors.Is(err, ErrInternal) {
				t.Fatalf("Encode(%q): %v", text, err)
			}
			if err != nil {
				continue
			}
			checkEncoding(t, tok, text, e)
			p, err := tok.EncodePair(text, text)
			if err != nil {
				t.Fatalf("EncodePair(%q): %v", text, err)
			}
			checkEncoding(t, tok, text, p)
			if _, err := tok.EncodeBatch(context.Background(), []string{text, "x"}, Options{MaxLength: 8}); err != nil {
				t.Fatalf("EncodeBatch(%q): %v", text, err)
			}
		}
	})
}
