package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeJSON marshals v into dir/name and returns the path.
func writeJSON(t testing.TB, dir, name string, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// byteLevelTokenizer builds a small RoBERTa-like byte-level BPE tokenizer.json.
func byteLevelTokenizer(t testing.TB) *Tokenizer {
	t.Helper()
	vocab := map[string]int{"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
	table := byteToRuneTable()
	for _, r := range table {
		vocab[string(r)] = len(vocab)
	}
	merges := [][2]string{{"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"Ġ", "c"}, {"a", "t"}, {"Ġc", "at"}, {"Ã", "©"}}
	for _, m := range merges {
		vocab[m[0]+m[1]] = len(vocab)
	}
	tj := map[string]any{
		"added_tokens": []map[string]any{
			{"id": 0, "content": "<s>", "special": true},
			{"id": 1, "content": "<pad>", "special": true},
			{"id": 2, "content": "</s>", "special": true},
			{"id": 3, "content": "<unk>", "special": true},
		},
		"normalizer":     nil,
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"post_processor": map[string]any{"type": "RobertaProcessing", "sep": []any{"</s>", 2}, "cls": []any{"<s>", 0}, "trim_offsets": true, "add_prefix_space": true},
		"model":          map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": false, "vocab": vocab, "merges": merges},
	}
	tok, err := LoadFile(writeJSON(t, t.TempDir(), "tokenizer.json", tj))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestByteLevelBPE(t *testing.T) {
	tok := byteLevelTokenizer(t)
	if tok.ModelType() != "BPE" || tok.PadToken() != "<pad>" || tok.PadID() != 1 {
		t.Fatalf("model %q pad %q/%d", tok.ModelType(), tok.PadToken(), tok.PadID())
	}
	e, err := tok.Encode("the cat  é")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"<s>", "Ġthe", "Ġcat", "Ġ", "Ġ", "Ã©", "</s>"}; !slices.Equal(e.Tokens, want) {
		t.Errorf("tokens = %q, want %q", e.Tokens, want)
	}
	if want := []Offset{{}, {0, 3}, {4, 7}, {8, 8}, {9, 9}, {9, 11}, {}}; !slices.Equal(e.Offsets, want) {
		t.Errorf("offsets = %v, want %v", e.Offsets, want) // trimmed like Hugging Face's trim_offsets
	}
	// trim_offsets counts the spaces in the token string (Ġ), as Hugging
	// Face does: a newline token keeps its offsets, and so does the space
	// of the first token when the processor adds a prefix space.
	e, err = tok.Encode(" the\nthe")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"<s>", "Ġthe", "Ċ", "t", "he", "</s>"}; !slices.Equal(e.Tokens, want) {
		t.Errorf("tokens = %q, want %q", e.Tokens, want)
	}
	if want := []Offset{{}, {0, 4}, {4, 5}, {5, 6}, {6, 8}, {}}; !slices.Equal(e.Offsets, want) {
		t.Errorf("offsets = %v, want %v", e.Offsets, want)
	}
	// Trimming takes one unit per space: a byte in Offsets (Hugging
	// Face's Rust encode), a character in RuneOffsets (its Python and Node
	// bindings), so the lone prefix space before "é" ends inside "é" in
	// bytes and is empty in characters.
	e, err = tok.Encode("é the")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"<s>", "Ġ", "Ã©", "Ġthe", "</s>"}; !slices.Equal(e.Tokens, want) {
		t.Errorf("tokens = %q, want %q", e.Tokens, want)
	}
	if want := []Offset{{}, {0, 1}, {0, 2}, {3, 6}, {}}; !slices.Equal(e.Offsets, want) {
		t.Errorf("offsets = %v, want %v", e.Offsets, want)
	}
	if want := []Offset{{}, {0, 0}, {0, 1}, {2, 5}, {}}; !slices.Equal(e.RuneOffsets, want) {
		t.Errorf("rune offsets = %v, want %v", e.RuneOffsets, want)
	}
	p, err := tok.EncodePair("the", "cat")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"<s>", "Ġthe", "</s>", "</s>", "Ġcat", "</s>"}; !slices.Equal(p.Tokens, want) {
		t.Errorf("pair tokens = %q, want %q", p.Tokens, want)
	}
	// Contractions and digits split as GPT-2 does.
	w := gpt2Split(toNChars(" it's 2024!!  ok", 0, 16, nil), nil)
	var got []string
	for _, x := range w {
		got = append(got, ncharString(x))
	}
	if want := []string{" it", "'s", " 2024", "!!", " ", " ok"}; !slices.Equal(got, want) {
		t.Errorf("gpt2Split = %q, want %q", got, want)
	}
}

// unigramTokenizer builds a small XLM-R-like Unigram tokenizer.json.
func unigramTokenizer(t testing.TB) *Tokenizer {
	t.Helper()
	vocab := [][]any{{"<s>", 0}, {"<pad>", 0}, {"</s>", 0}, {"<unk>", 0},
		{"▁", -2}, {"▁hello", -1}, {"▁he", -2}, {"llo", -2}, {"h", -4}, {"e", -4}, {"l", -4}, {"o", -4},
		{"▁world", -1.5}, {"w", -4}, {"r", -4}, {"d", -4}, {"<0x41>", -5}}
	tj := map[string]any{
		"added_tokens": []map[string]any{
			{"id": 0, "content": "<s>", "special": true},
			{"id": 1, "content": "<pad>", "special": true},
			{"id": 2, "content": "</s>", "special": true},
			{"id": 3, "content": "<unk>", "special": true},
		},
		"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "NFKC"},
			map[string]any{"type": "Replace", "pattern": map[string]any{"Regex": " {2,}"}, "content": " "},
			map[string]any{"type": "Lowercase"},
		}},
		"pre_tokenizer": map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true},
		"post_processor": map[string]any{"type": "TemplateProcessing",
			"single":         []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}, map[string]any{"SpecialToken": map[string]any{"id": "</s>", "type_id": 0}}},
			"pair":           []any{map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "B", "type_id": 1}}},
			"special_tokens": map[string]any{"<s>": map[string]any{"id": "<s>", "ids": []int{0}, "tokens": []string{"<s>"}}, "</s>": map[string]any{"id": "</s>", "ids": []int{2}, "tokens": []string{"</s>"}}},
		},
		"model": map[string]any{"type": "Unigram", "unk_id": 3, "vocab": vocab, "byte_fallback": false},
	}
	dir := t.TempDir()
	writeJSON(t, dir, "tokenizer.json", tj)
	writeJSON(t, dir, "config.json", map[string]any{"model_type": "xlm-roberta", "max_position_embeddings": 514,
		"id2label": map[string]string{"1": "toxic", "0": "ok"}, "problem_type": "single_label_classification"})
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestUnigram(t *testing.T) {
	tok := unigramTokenizer(t)
	if tok.MaxLength() != 512 || !slices.Equal(tok.Labels(), []string{"ok", "toxic"}) || tok.ProblemType() != "single_label_classification" {
		t.Fatalf("MaxLength %d labels %q problem %q", tok.MaxLength(), tok.Labels(), tok.ProblemType())
	}
	// Full-width letters fold under NFKC; runs of spaces collapse.
	e, err := tok.Encode("ＨＥＬＬＯ   world xx")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"<s>", "▁hello", "▁world", "▁", "xx", "</s>"}; !slices.Equal(e.Tokens, want) {
		t.Fatalf("tokens = %q, want %q", e.Tokens, want)
	}
	// "ＨＥＬＬＯ" is 15 bytes, 5 runes; "▁world" includes its (collapsed)
	// spaces; the unknown "xx" is fused.
	if want := []Offset{{}, {0, 15}, {15, 23}, {23, 24}, {24, 26}, {}}; !slices.Equal(e.Offsets, want) {
		t.Errorf("offsets = %v, want %v", e.Offsets, want)
	}
	if want := []Offset{{}, {0, 5}, {5, 13}, {13, 14}, {14, 16}, {}}; !slices.Equal(e.RuneOffsets, want) {
		t.Errorf("rune offsets = %v, want %v", e.RuneOffsets, want)
	}
	// The ▁ that Metaspace puts before a word takes the span of the
	// word's first character (Hugging Face's prepend), also when it stands
	// alone as a token.
	e, err = tok.Encode("xx hello")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"<s>", "▁", "xx", "▁hello", "</s>"}; !slices.Equal(e.Tokens, want) {
		t.Fatalf("tokens = %q, want %q", e.Tokens, want)
	}
	if want := []Offset{{}, {0, 1}, {0, 2}, {2, 8}, {}}; !slices.Equal(e.Offsets, want) {
		t.Errorf("offsets = %v, want %v", e.Offsets, want)
	}
	e, err = tok.Encode("helo")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"<s>", "▁he", "l", "o", "</s>"}; !slices.Equal(e.Tokens, want) {
		t.Errorf("helo tokens = %q, want %q", e.Tokens, want)
	}
}

func TestWordPieceSmall(t *testing.T) {
	tj := map[string]any{
		"normalizer":     map[string]any{"type": "BertNormalizer", "lowercase": false, "strip_accents": false},
		"pre_tokenizer":  map[string]any{"type": "Sequence", "pretokenizers": []any{map[string]any{"type": "WhitespaceSplit"}, map[string]any{"type": "Punctuation", "behavior": "Isolated"}, map[string]any{"type": "Digits", "individual_digits": true}}},
		"post_processor": map[string]any{"type": "BertProcessing", "sep": []any{"[SEP]", 2}, "cls": []any{"[CLS]", 1}},
		"model":          map[string]any{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": map[string]int{"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "Un": 3, "##able": 4, "!": 5, "1": 6, "2": 7, "é": 8}},
	}
	tok, err := LoadFile(writeJSON(t, t.TempDir(), "tokenizer.json", tj))
	if err != nil {
		t.Fatal(err)
	}
	e, err := tok.Encode("Unable! 12 é unable")
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{1, 3, 4, 5, 6, 7, 8, 0, 2}; !slices.Equal(e.IDs, want) {
		t.Errorf("ids = %v (%q), want %v", e.IDs, e.Tokens, want)
	}
}

// TestLargeInputs guards against quadratic behavior on long words.
func TestLargeInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	big := strings.Repeat("thecat", 20000)
	for name, tok := range map[string]*Tokenizer{"bpe": byteLevelTokenizer(t), "unigram": unigramTokenizer(t)} {
		start := time.Now()
		e, err := tok.Encode(big)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: %d-byte word took %v", name, len(big), d)
		}
		if e.Len() != tok.MaxLength() {
			t.Errorf("%s: %d tokens, want %d", name, e.Len(), tok.MaxLength())
		}
	}
}
