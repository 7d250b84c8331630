package tokenizer

import (
	"slices"
	"strings"
	"testing"
)

// llama3Split is the Split pattern of the Llama 3 and Qwen 2 tokenizers
// (GPT-4's cl100k_base pattern); it holds the lookahead \s+(?!\S).
const llama3Split = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

func regexPieces(t *testing.T, pattern, text string) []string {
	t.Helper()
	m, err := compileRegex(pattern)
	if err != nil {
		t.Fatalf("compileRegex(%q): %v", pattern, err)
	}
	var out []string
	prev := 0
	for _, loc := range m.FindAllStringIndex(text, -1) {
		if loc[0] < prev || loc[0] >= loc[1] {
			t.Fatalf("%q: bad match %v after %d", text, loc, prev)
		}
		if prev < loc[0] {
			out = append(out, "<"+text[prev:loc[0]]+">") // unmatched text
		}
		out = append(out, text[loc[0]:loc[1]])
		prev = loc[1]
	}
	if prev < len(text) {
		out = append(out, "<"+text[prev:]+">")
	}
	return out
}

// TestRegexLookahead pins \s+(?!\S) as a backtracking engine reads it: a
// whitespace run before a word leaves its last space to the word, a run at
// the end is matched whole. The expected pieces follow from the pattern;
// the Llama 3, Qwen 2.5 and GPT-4o tokenizers of TestRealTokenizers check
// the same against Hugging Face.
func TestRegexLookahead(t *testing.T) {
	for _, c := range []struct {
		text string
		want []string
	}{
		{"Hi  Hello", []string{"Hi", " ", " Hello"}},
		{"hello   world  ", []string{"hello", "  ", " world", "  "}},
		{"   leading", []string{"  ", " leading"}},
		{"a \n\n b", []string{"a", " \n\n", " b"}},
		{"x\t\ty", []string{"x", "\t", "\ty"}},
		{"it's 2024!!  ok", []string{"it", "'s", " ", "202", "4", "!!", " ", " ok"}},
		// Oniguruma's \s is Unicode White_Space: U+00A0 and U+3000 count.
		{"you\u2026\u00a0\u00a0you", []string{"you", "\u2026", "\u00a0", "\u00a0you"}},
		{"a\u3000\u3000", []string{"a", "\u3000\u3000"}},
		{" ", []string{" "}},
		{"", nil},
	} {
		if got := regexPieces(t, llama3Split, c.text); !slices.Equal(got, c.want) {
			t.Errorf("%+q: got %+q, want %+q", c.text, got, c.want)
		}
	}
	// Without the lookahead the pattern is a plain Go regexp.
	if got := regexPieces(t, `\s+|\p{L}+`, "a\u00a0b"); !slices.Equal(got, []string{"a", "\u00a0", "b"}) {
		t.Errorf(`\s+ on U+00A0: got %+q`, got)
	}
	for _, p := range []string{`a(?=b)`, `(?<!x)y`, `^\s+(?!\S)|a`, `\s+(?!\S)|\bfoo`, `[\S]`, `(a|b`} {
		if _, err := compileRegex(p); err == nil {
			t.Errorf("compileRegex(%q): no error", p)
		}
	}
	// Anchors inside classes are literal characters, not anchors.
	if got := regexPieces(t, `[^$\s]+|\s+(?!\S)|\s+`, "a$  b"); !slices.Equal(got, []string{"a", "<$>", " ", " ", "b"}) {
		t.Errorf("class with $: got %+q", got)
	}
}

// TestSplitInvert checks that an inverted Split keeps adjacent matches
// apart, as GPT-4o's pre-tokenizer (Split with invert and Removed) needs:
// "0123456789" is 012|345|678|9, not one word.
func TestSplitInvert(t *testing.T) {
	pieces := func(p splitPreTokenizer, text string) []string {
		var out []string
		for _, w := range p.split(toNChars(text, 0, len(text), nil), nil) {
			out = append(out, ncharString(w))
		}
		return out
	}
	re, err := compileRegex(`\p{N}{1,3}|\p{L}+`)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		b    behavior
		want string
	}{
		{behaviorRemoved, "012|345|678|9|ab"},
		{behaviorIsolated, "012|345|678|9| |ab|!"},
		{behaviorMergedWithPrevious, "012|345|678|9 |ab!"},
		{behaviorMergedWithNext, "012|345|678| 9|!ab"},
		{behaviorContiguous, "0123456789| |ab|!"},
	} {
		got := strings.Join(pieces(splitPreTokenizer{re: re, behavior: c.b, invert: true}, "0123456789 ab!"), "|")
		if c.b == behaviorMergedWithNext {
			got = strings.Join(pieces(splitPreTokenizer{re: re, behavior: c.b, invert: true}, "012345678 9!ab"), "|")
		}
		if got != c.want {
			t.Errorf("behavior %d: got %q, want %q", c.b, got, c.want)
		}
	}
}
