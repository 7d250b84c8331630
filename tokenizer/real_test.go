package tokenizer

// Real tokenizer.json files of published models (testdata/real, see its
// README.md for their sources and licences), checked against the ids,
// tokens and offsets Hugging Face's own tokenizers library gives for them
// (testdata/real/golden.json, written by golden.cjs through its Node
// binding) and against ids that transformers.js publishes in its tests.

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

const realDir = "testdata/real"

// realTokenizerJSON returns the tokenizer.json of a real tokenizer:
// testdata/real/<name>/tokenizer.json.gz, or for "gpt2-roberta" the GPT-2
// file with RoBERTa's processing (robertaVariant).
func realTokenizerJSON(tb testing.TB, name string) []byte {
	tb.Helper()
	file := name
	if name == "gpt2-roberta" {
		file = "gpt2"
	}
	f, err := os.Open(filepath.Join(realDir, file, "tokenizer.json.gz"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	if name == "gpt2-roberta" {
		data = robertaVariant(tb, data)
	}
	return data
}

// robertaVariant gives a byte-level tokenizer.json RoBERTa's pre- and
// post-processing: a prefix space, the first special token around the
// text, trimmed offsets. golden.cjs builds the same variant.
func robertaVariant(tb testing.TB, data []byte) []byte {
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		tb.Fatal(err)
	}
	cfg["pre_tokenizer"] = map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}
	cfg["post_processor"] = map[string]any{"type": "RobertaProcessing",
		"sep": []any{"<|endoftext|>", 50256}, "cls": []any{"<|endoftext|>", 50256},
		"trim_offsets": true, "add_prefix_space": true}
	out, err := json.Marshal(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func loadReal(tb testing.TB, name string) *Tokenizer {
	tb.Helper()
	data := realTokenizerJSON(tb, name)
	path := filepath.Join(tb.TempDir(), "tokenizer.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	tok, err := LoadFile(path)
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return tok
}

// realGolden is golden.json.
type realGolden struct {
	Oracle     string `json:"oracle"`
	Tokenizers map[string]struct {
		Single []goldenEncoding `json:"single"`
		Pair   []goldenEncoding `json:"pair"`
	} `json:"tokenizers"`
}

type goldenEncoding struct {
	IDs     []int    `json:"ids"`
	Tokens  []string `json:"tokens"`
	Offsets [][2]int `json:"offsets"` // in characters
	TypeIDs []int    `json:"type_ids"`
}

type realTexts struct {
	Texts []string    `json:"texts"`
	Pairs [][2]string `json:"pairs"`
}

func readRealJSON(tb testing.TB, name string, v any) {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(realDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
}

// checkGolden compares an encoding with Hugging Face's.
func checkGolden(t *testing.T, what string, e Encoding, want goldenEncoding) {
	t.Helper()
	if !slices.Equal(e.IDs, want.IDs) {
		t.Errorf("%s\n ids    %v\n want   %v\n tokens %q\n want   %q", what, e.IDs, want.IDs, e.Tokens, want.Tokens)
		return
	}
	if !slices.Equal(e.Tokens, want.Tokens) {
		t.Errorf("%s\n tokens %q\n want   %q", what, e.Tokens, want.Tokens)
	}
	offsets := make([][2]int, len(e.RuneOffsets))
	for i, o := range e.RuneOffsets {
		offsets[i] = [2]int{o.Start, o.End}
	}
	if !slices.Equal(offsets, want.Offsets) {
		t.Errorf("%s: tokens %q\n offsets %v\n want    %v", what, e.Tokens, offsets, want.Offsets)
	}
	if want.TypeIDs != nil && !slices.Equal(e.TypeIDs, want.TypeIDs) {
		t.Errorf("%s: type ids %v, want %v", what, e.TypeIDs, want.TypeIDs)
	}
}

// TestRealTokenizers encodes texts.json (French and accented text, emojis,
// runs of spaces and newlines, CJK, scripts from Greek to Devanagari,
// decomposed accents, special tokens written in the text, a long
// paragraph) with every real tokenizer and compares ids, tokens and
// character offsets with Hugging Face's.
func TestRealTokenizers(t *testing.T) {
	var golden realGolden
	var texts realTexts
	readRealJSON(t, "golden.json", &golden)
	readRealJSON(t, "texts.json", &texts)
	want := []string{"gpt2", "gpt2-roberta", "mistral-7b", "qwen2.5", "t5-small"}
	if got := sortedKeys(golden.Tokenizers); !slices.Equal(got, want) {
		t.Fatalf("golden.json holds %q, want %q", got, want)
	}
	for _, name := range want {
		t.Run(name, func(t *testing.T) {
			g := golden.Tokenizers[name]
			checkRealSet(t, loadReal(t, name), texts, g.Single, g.Pair)
		})
	}
}

// checkRealSet encodes texts.json with tok and compares with golden values.
func checkRealSet(t *testing.T, tok *Tokenizer, texts realTexts, single, pair []goldenEncoding) {
	t.Helper()
	if len(single) != len(texts.Texts) || len(pair) != len(texts.Pairs) {
		t.Fatalf("%d/%d golden encodings for %d texts and %d pairs: run golden.cjs again",
			len(single), len(pair), len(texts.Texts), len(texts.Pairs))
	}
	for i, text := range texts.Texts {
		e, err := tok.Encode(text)
		if err != nil {
			t.Errorf("Encode(%+q): %v", text, err)
			continue
		}
		checkGolden(t, "Encode("+quote(text)+")", e, single[i])
	}
	for i, p := range texts.Pairs {
		e, err := tok.EncodePair(p[0], p[1])
		if err != nil {
			t.Errorf("EncodePair(%+q, %+q): %v", p[0], p[1], err)
			continue
		}
		checkGolden(t, "EncodePair("+quote(p[0])+", "+quote(p[1])+")", e, pair[i])
	}
}

func quote(s string) string {
	if r := []rune(s); len(r) > 60 {
		return strconv.QuoteToGraphic(string(r[:60])) + "..."
	}
	return strconv.QuoteToGraphic(s)
}

// TestRealPublishedIDs checks ids that transformers.js publishes for the
// GPT-2 tokenizer (Xenova/gpt2) in
// packages/transformers/tests/models/gpt2/test_tokenization_gpt2.js
// (huggingface/transformers.js, commit 5ed4c5c0d3c5), which it takes from
// Python transformers.
func TestRealPublishedIDs(t *testing.T) {
	tok := loadReal(t, "gpt2")
	for _, c := range []struct {
		text string
		ids  []int
	}{
		{"How are you doing?", []int{2437, 389, 345, 1804, 30}},
		{"0123456789 0 1 2 3 4 5 6 7 8 9 10 100 1000", []int{486, 1954, 2231, 3134, 4531, 657, 352, 362, 513, 604, 642, 718, 767, 807, 860, 838, 1802, 8576}},
		{"A\n'll !!to?'d''d of, can't.", []int{32, 198, 1183, 37867, 1462, 8348, 67, 7061, 67, 286, 11, 460, 470, 13}},
		{"def main():\n\tpass", []int{4299, 1388, 33529, 198, 197, 6603}},
		{"UNwant\u00e9d,running", []int{4944, 42949, 2634, 67, 11, 20270}},
		{"1\u00002\uFFFD3", []int{16, 188, 17, 4210, 18}},
		{"生活的真谛是", []int{37955, 162, 112, 119, 21410, 40367, 253, 164, 108, 249, 42468}},
		{"   leading space", []int{220, 220, 3756, 2272}},
		{"trailing space   ", []int{9535, 4386, 2272, 220, 220, 220}},
		{"test $1 R2 #3 €4 £5 ¥6 ₣7 ₹8 ₱9 test", []int{9288, 720, 16, 371, 17, 1303, 18, 10432, 19, 4248, 20, 38221, 21, 2343, 224, 96, 22, 2343, 224, 117, 23, 2343, 224, 109, 24, 1332}},
		{"you\u2026\u00a0\u00a0you\u2026\u00a0\u00a0", []int{5832, 1399, 1849, 1849, 5832, 1399, 4603}},
		{"weird \uFF5E edge \uFF5E case", []int{732, 1447, 27332, 121, 252, 5743, 27332, 121, 252, 1339}},
		{" </s> test </s> ", []int{7359, 82, 29, 1332, 7359, 82, 29, 220}},
	} {
		e, err := tok.Encode(c.text)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(e.IDs, c.ids) {
			t.Errorf("Encode(%+q)\n got  %v %q\n want %v", c.text, e.IDs, e.Tokens, c.ids)
		}
	}
}

// TestRealT5PublishedIDs checks t5-small's SentencePiece Unigram
// tokenizer (Precompiled charsmap, Metaspace, unknown pieces, no "type" in
// its model; TestRealTokenizers compares it with Hugging Face) against the
// ids transformers.js publishes for it in
// packages/transformers/tests/models/t5/test_tokenization_t5.js
// (huggingface/transformers.js, commit 5ed4c5c0d3c5, "Xenova/t5-small",
// also run there on google-t5/t5-small).
func TestRealT5PublishedIDs(t *testing.T) {
	tok := loadReal(t, "t5-small")
	if tok.ModelType() != "Unigram" {
		t.Errorf("model type %q, want Unigram", tok.ModelType())
	}
	for _, c := range []struct {
		text string
		ids  []int
	}{
		{"How are you doing?", []int{571, 33, 25, 692, 58, 1}},
		{"You should've done this", []int{148, 225, 31, 162, 612, 48, 1}},
		{"0123456789 0 1 2 3 4 5 6 7 8 9 10 100 1000", []int{7088, 2773, 2128, 3708, 3914, 3, 632, 209, 204, 220, 314, 305, 431, 489, 505, 668, 335, 910, 5580, 1}},
		{"A\n'll !!to?'d''d of, can't.", []int{71, 3, 31, 195, 3, 1603, 235, 58, 31, 26, 31, 31, 26, 13, 6, 54, 31, 17, 5, 1}},
		{"UNwant\u00e9d,running", []int{4417, 3877, 2229, 26, 6, 24549, 1}},
		{"1\u00002\uFFFD3", []int{209, 2, 357, 220, 1}},
		{"生活的真谛是", []int{3, 2, 1}},
		{"test $1 R2 #3 €4 £5 ¥6 ₣7 ₹8 ₱9 test", []int{794, 1970, 391, 357, 20206, 3416, 591, 23978, 3, 2, 948, 3, 2, 940, 3, 2, 927, 3, 2, 1298, 794, 1}},
		{"you\u2026\u00a0\u00a0", []int{25, 233, 1}},
		{"weird \uFF5E edge \uFF5E case", []int{10088, 3, 2, 3023, 3, 2, 495, 1}},
		{"\u2581This \u2581is \u2581a \u2581test \u2581.", []int{100, 19, 3, 9, 794, 3, 5, 1}},
		{"<s>\n", []int{3, 2, 7, 3155, 1}},
		{" </s> test </s> ", []int{1, 794, 1, 1}},
		{"Hey </s>. how are you", []int{9459, 1, 3, 5, 149, 33, 25, 1}},
	} {
		e, err := tok.Encode(c.text)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(e.IDs, c.ids) {
			t.Errorf("Encode(%+q)\n got  %v %q\n want %v", c.text, e.IDs, e.Tokens, c.ids)
		}
	}
}

// BenchmarkEncodeReal encodes a 440-character English paragraph (the
// longest text of texts.json) with each real tokenizer.
func BenchmarkEncodeReal(b *testing.B) {
	var texts realTexts
	readRealJSON(b, "texts.json", &texts)
	text := ""
	for _, s := range texts.Texts {
		if len(s) > len(text) {
			text = s
		}
	}
	for _, name := range []string{"gpt2", "mistral-7b", "qwen2.5"} {
		b.Run(name, func(b *testing.B) {
			tok := loadReal(b, name)
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tok.Encode(text); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
