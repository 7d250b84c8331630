package tokenizer

// Differential tests against github.com/sugarme/tokenizer v0.3.0, an
// independent Go implementation of Hugging Face's tokenizer.json. Where
// sugarme follows Hugging Face, both must give the same ids; where it does
// not (its documented gaps, listed in sugarmeGap), the input is skipped and
// Hugging Face's behaviour, pinned by texts.json and the tests of
// tokenizer_test.go, is what counts.

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	sugarme "github.com/sugarme/tokenizer"
	snorm "github.com/sugarme/tokenizer/normalizer"
	"github.com/sugarme/tokenizer/pretrained"
	"golang.org/x/text/unicode/norm"
)

// loadSugarme reads dir/tokenizer.json (a BERT uncased WordPiece tokenizer)
// with sugarme. sugarme reads BertNormalizer's "strip_accents": null as
// false, where Hugging Face follows "lowercase"; the normalizer is replaced
// by the sequence BertNormalizer (without accent stripping), NFD,
// StripAccents, which strips accents as Hugging Face does.
func loadSugarme(tb testing.TB, dir string) *sugarme.Tokenizer {
	tb.Helper()
	sk, err := pretrained.FromFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		tb.Fatalf("sugarme: %v", err)
	}
	bn, ok := sk.GetNormalizer().(*snorm.BertNormalizer)
	if !ok {
		tb.Fatalf("sugarme: normalizer is %T, want a BertNormalizer", sk.GetNormalizer())
	}
	if bn.Lowercase && !bn.StripAccents {
		sk.WithNormalizer(snorm.NewSequence([]snorm.Normalizer{
			snorm.NewBertNormalizer(bn.CleanText, bn.Lowercase, bn.HandleChineseChars, false),
			snorm.NewNFD(),
			snorm.NewStripAccents(),
		}))
	}
	return sk
}

// sugarmeIDs encodes text with special tokens, turning a panic into an error.
func sugarmeIDs(sk *sugarme.Tokenizer, text string) (ids []int, tokens []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sugarme panicked: %v", r)
		}
	}()
	e, err := sk.EncodeSingle(text, true)
	if err != nil {
		return nil, nil, err
	}
	return e.GetIds(), e.GetTokens(), nil
}

// Gaps of sugarme v0.3.0 (with the normalizer of loadSugarme) on the BERT
// uncased pipeline, where its ids differ from Hugging Face's or it panics.
const (
	// U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F,
	// U+205F, U+3000: Hugging Face maps them to a space; sugarme splits
	// words on ASCII whitespace only and keeps them inside words.
	gapNonASCIISpace = "non-ASCII whitespace"
	// NUL, U+FFFD (and invalid UTF-8), control characters other than tab,
	// newline and carriage return, format (Cf: U+200B, U+FEFF...) and
	// private-use characters: both drop them, but sugarme's alignments
	// after the removal are off, which repeats or loses later words.
	gapDropped = "character removed by clean_text"
	// Characters whose lowercase has another UTF-8 length (İ, Ω (U+2126),
	// K (U+212A), Ⱥ, ẞ...): sugarme lowercases the string without updating
	// its alignments and panics (slice bounds out of range).
	gapCaseLength = "lowercase changes the UTF-8 length"
	// Characters that do not start a normalization segment (combining
	// marks written after their base, as in "e\u0301", and Hangul vowel and
	// final jamo): sugarme's NFD takes every character after the first of
	// a segment for an inserted one, which misaligns the text after it
	// (wrong ids or index out of range).
	gapDecomposed = "combining character in the input"
	// CJK ideographs in a text that NFD changes ("ǖǖ 中", "한 中"):
	// the spaces BertNormalizer puts around ideographs are misaligned by
	// the decomposition, and sugarme repeats or loses words.
	gapCJKDecomposed = "CJK ideograph in a text NFD changes"
	// CJK Extension A ideographs (U+3400-U+4DBF): sugarme's table of CJK
	// blocks is not sorted, so Go's unicode.In misses them and they are not
	// split from the letters around them ("㐀a" is one word).
	gapCJKExtA = "CJK Extension A ideograph"
	// Two or more special tokens written in the text ("[CLS] [PAD]"):
	// sugarme orders the matches of added tokens by id instead of position
	// and misses the earlier ones.
	gapAddedTokens = "several special tokens in the text"
)

// sugarmeGap returns the gap of sugarme that text falls into, or "" when
// sugarme is expected to agree with Hugging Face on it. Runs of spaces,
// leading and trailing whitespace, tabs and newlines are not gaps for ids
// (only sugarme's offsets differ there), so they are compared.
func sugarmeGap(text string) string {
	for _, r := range text {
		switch {
		case r >= utf8.RuneSelf && unicode.Is(unicode.White_Space, r):
			return gapNonASCIISpace
		case r == 0 || r == utf8.RuneError ||
			(r != '\t' && r != '\n' && r != '\r' && unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co)):
			return gapDropped
		case utf8.RuneLen(unicode.ToLower(r)) != utf8.RuneLen(r):
			return gapCaseLength
		case r >= 0x300 && !norm.NFD.PropertiesString(string(r)).BoundaryBefore():
			return gapDecomposed
		case r >= 0x3400 && r <= 0x4DBF:
			return gapCJKExtA
		}
	}
	if strings.ContainsFunc(text, isCJK) && !norm.NFD.IsNormalString(text) {
		return gapCJKDecomposed
	}
	n := 0
	for _, special := range []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"} {
		n += strings.Count(text, special)
	}
	if n > 1 {
		return gapAddedTokens
	}
	return ""
}

// sugarmeTexts are compared by TestAgainstSugarme and seed FuzzAgainstSugarme.
var sugarmeTexts = []string{
	"Ce commentaire est vraiment méchant et insultant",
	"CE COMMENTAIRE EST VRAIMENT MÉCHANT ET INSULTANT",
	"Ça, c'est l'été à Noël: «déjà-vu» — où ça?",
	"Straße, Ærøskøbing, Œuvre, ĲSSEL, Ångström, Łódź, Şişli, Ğ",
	"naïve façade résumé coöperate jalapeño São Paulo Zürich",
	"Ελληνικά: Αθήνα, ώρα, ΐ; Русский: Ёлка, Москва!",
	"العربية: مرحبا بالعالم، שלום עולם",
	"हिंदी: का कि की कु के को कौ", // Devanagari vowel signs: Mc kept, Mn stripped
	"கொ ಕೊ ภาษาไทย กำ ສະບາຍດີ ქართული Հայերեն",
	"中文字符和日本語のテキスト、カタカナ",
	"한국어 텍스트",
	"emoji 😀👍🏽 ❤️ 🇫🇷 and symbols ∑ ≠ ± § ¶ © ® ™ € £ ¥ ₿",
	"!!! ??? ... $$$ ^^^ ``` ~~~ ||| \\\\ @@@ ### %%% &&& *** ((( ))) ___ +++ === {{{ }}} [[[ ]]] ;;; ::: \"\"\" ''' <<< >>> ,,, ///",
	"¡¿‽⁉ «» ‹› „“ ‚‘ 【】 「」 『』 〈〉 ·•… ‐‑‒–—―",
	"1234567890 3.14159 1,000,000 42nd 1st 2²  ½ ¾ ①②③ Ⅻ ٣٤٥ ४५६",
	"hello  world   with    runs     of      spaces",
	"  leading and trailing whitespace  \t\n",
	"tabs\tand\nnewlines\r\nand\t\tmore",
	"[CLS] starts here",
	"inline special tokens[MASK]x",
	"[mask] [Mask] [ MASK ] [MASK",
	"don't won't it's 'quoted' \"double\" (paren) [bracket] {brace}",
	"https://example.com/path?query=1&x=y#frag user@example.com",
	"C++ C# F# .NET node.js x86-64 e-mail co-operate",
	strings.Repeat("a", 99) + " " + strings.Repeat("b", 100) + " " + strings.Repeat("c", 101),
	strings.Repeat("é", 101) + " " + strings.Repeat("ab", 51),
	"supercalifragilisticexpialidocious antidisestablishmentarianism",
	"ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ １２３ ｶﾀｶﾅ",
	"ﬁ ﬂ ﬃ ǆ Ǆ ǅ ß ſ ı ℌ ℍ ℎ",
	"ok",
	"",
	" ",
}

func TestAgainstSugarme(t *testing.T) {
	dir := sharedPath(t, "models", "transformers", "bert-tiny-6label")
	tok := mustLoad(t, dir)
	sk := loadSugarme(t, dir)

	texts := append(readTexts(t, dir).Texts, sugarmeTexts...)
	// Random texts over an alphabet that mixes what both handle alike
	// with what sugarme gets wrong; a fixed seed keeps the test stable.
	alphabet := []rune("aAbBeEzZ09 ,.!?'-$^`\t\néÉèàçñüÖøßæœ中文日本한αΩБжकाि😀€½ﬁİ\u00a0\u200b\u0301\u3000")
	rng := rand.New(rand.NewPCG(7, 11))
	for range 3000 {
		rs := make([]rune, rng.IntN(16))
		for i := range rs {
			rs[i] = alphabet[rng.IntN(len(alphabet))]
		}
		texts = append(texts, string(rs))
	}

	compared, panics := 0, 0
	gaps := map[string]int{}
	for _, text := range texts {
		if gap := sugarmeGap(text); gap != "" {
			gaps[gap]++
			continue
		}
		want, wantTokens, err := sugarmeIDs(sk, text)
		if err != nil {
			// A panic outside the known gaps: a new sugarme bug; agate
			// must still encode the text.
			panics++
			t.Logf("%+q: %v", text, err)
			if _, err := tok.Encode(text); err != nil {
				t.Errorf("Encode(%+q): %v", text, err)
			}
			continue
		}
		compared++
		e, err := tok.Encode(text)
		if err != nil {
			t.Errorf("Encode(%+q): %v", text, err)
			continue
		}
		if !slices.Equal(e.IDs, want) {
			t.Errorf("Encode(%+q)\n agate   %v %q\n sugarme %v %q", text, e.IDs, e.Tokens, want, wantTokens)
		}
	}
	t.Logf("%d texts: %d compared, %d sugarme panics, skipped %v", len(texts), compared, panics, gaps)
	if compared < len(texts)/3 {
		t.Errorf("only %d of %d texts compared", compared, len(texts))
	}
	for _, text := range sugarmeTexts {
		if gap := sugarmeGap(text); gap != "" {
			t.Errorf("hand-written text %+q hits the sugarme gap %q: it compares nothing", text, gap)
		}
	}
}

// TestSugarmeGaps pins each documented gap of sugarme to an example, so
// that the skip list of sugarmeGap stays honest: agate gives Hugging Face's
// ids (from the normalizer's definition), sugarme does not.
func TestSugarmeGaps(t *testing.T) {
	dir := sharedPath(t, "models", "transformers", "bert-tiny-6label")
	tok := mustLoad(t, dir)
	sk := loadSugarme(t, dir)
	for _, c := range []struct {
		text, gap string
		want      []int
	}{
		{"hello\u00a0world", gapNonASCIISpace, []int{101, 7592, 2088, 102}},
		{"hello\u3000world", gapNonASCIISpace, []int{101, 7592, 2088, 102}},
		{"\u4e2d\u200b", gapDropped, []int{101, 1746, 102}},
		{"\u00e9 \u4e2d!c \u200b", gapDropped, []int{101, 1041, 1746, 999, 1039, 102}},
		{"İ", gapCaseLength, []int{101, 1045, 102}},
		{"\u2126", gapCaseLength, []int{101, 1179, 102}},
		{"c\u0301 \u1f04", gapDecomposed, []int{101, 1039, 1155, 102}},
		{"\u00e9 \u11bc", gapDecomposed, []int{101, 1041, 1489, 102}},
		{"\u01d6\u01d6 \u4e2d", gapCJKDecomposed, []int{101, 1057, 2226, 1746, 102}},
		{"\ud55c \u4e2d", gapCJKDecomposed, []int{101, 1469, 30006, 30021, 1746, 102}},
		{"\u3400a", gapCJKExtA, []int{101, 100, 1037, 102}},
		{"a\u404c", gapCJKExtA, []int{101, 1037, 100, 102}},
		{"[CLS] [PAD]", gapAddedTokens, []int{101, 101, 0, 102}},
		{"[MASK] [PAD]", gapAddedTokens, []int{101, 103, 0, 102}},
	} {
		if got := sugarmeGap(c.text); got != c.gap {
			t.Errorf("sugarmeGap(%+q) = %q, want %q", c.text, got, c.gap)
		}
		e, err := tok.Encode(c.text)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(e.IDs, c.want) {
			t.Errorf("Encode(%+q) = %v %q, want %v", c.text, e.IDs, e.Tokens, c.want)
		}
		if ids, _, err := sugarmeIDs(sk, c.text); err == nil && slices.Equal(ids, c.want) {
			t.Errorf("sugarme now encodes %+q right (%v): the gap %q may be gone", c.text, ids, c.gap)
		}
	}
}

// FuzzAgainstSugarme looks for texts outside sugarme's gaps on which the two
// tokenizers disagree. A reported text needs checking against Hugging Face:
// either agate is wrong, or sugarme has a gap to add to sugarmeGap.
func FuzzAgainstSugarme(f *testing.F) {
	for _, s := range sugarmeTexts {
		f.Add(s)
	}
	dir := sharedPath(f, "models", "transformers", "bert-tiny-6label")
	tok := mustLoad(f, dir)
	sk := loadSugarme(f, dir)
	f.Fuzz(func(t *testing.T, text string) {
		e, err := tok.Encode(text)
		if err != nil {
			t.Fatalf("Encode(%+q): %v", text, err)
		}
		if gap := sugarmeGap(text); gap != "" {
			t.Skip(gap)
		}
		want, wantTokens, err := sugarmeIDs(sk, text)
		if err != nil {
			t.Skip(err)
		}
		if !slices.Equal(e.IDs, want) {
			t.Errorf("Encode(%+q)\n agate   %v %q\n sugarme %v %q", text, e.IDs, e.Tokens, want, wantTokens)
		}
	})
}
