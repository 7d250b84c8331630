package tokenizer

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/text/unicode/norm"
	"google.golang.org/protobuf/encoding/protowire"
)

// textsFixture is texts.json of the transformer fixtures.
type textsFixture struct {
	Texts      []string `json:"texts"`
	InputIDs   [][]int  `json:"input_ids"`
	InputShape []int    `json:"input_shape"`
	Inputs     []string `json:"inputs"`
}

func readTexts(t *testing.T, dir string) textsFixture {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "texts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f textsFixture
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Texts) == 0 || len(f.Texts) != len(f.InputIDs) {
		t.Fatalf("texts.json: %d texts, %d id lists", len(f.Texts), len(f.InputIDs))
	}
	return f
}

var transformerModels = []string{"bert-tiny-6label", "minilm-l6-h384-6label"}

// tokenizerDirs lists every folder whose tokenizer must reproduce texts.json
// (all share the BERT uncased vocabulary).
func tokenizerDirs(t *testing.T) []string {
	var dirs []string
	for _, m := range transformerModels {
		dirs = append(dirs, sharedPath(t, "models", "transformers", m))
	}
	for _, m := range []string{"toxic-bert", "all-MiniLM-L6-v2"} {
		dirs = append(dirs, sharedPath(t, "models", "tokenizers", m))
	}
	return dirs
}

func mustLoad(t testing.TB, dir string) *Tokenizer {
	t.Helper()
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTextsJSONIDs(t *testing.T) {
	for _, m := range transformerModels {
		fx := readTexts(t, sharedPath(t, "models", "transformers", m))
		for _, dir := range tokenizerDirs(t) {
			tok := mustLoad(t, dir)
			for i, text := range fx.Texts {
				e, err := tok.Encode(text)
				if err != nil {
					t.Fatalf("%s: Encode(%q): %v", dir, text, err)
				}
				if !slices.Equal(e.IDs, fx.InputIDs[i]) {
					t.Errorf("%s (%s texts): Encode(%q)\n got %v\nwant %v\ntokens %q", filepath.Base(dir), m, text, e.IDs, fx.InputIDs[i], e.Tokens)
				}
			}
		}
	}
}

func TestLoadFileMatchesLoad(t *testing.T) {
	dir := sharedPath(t, "models", "transformers", "bert-tiny-6label")
	fx := readTexts(t, dir)
	tok, err := LoadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Labels() != nil || tok.ProblemType() != "" {
		t.Errorf("LoadFile: labels %v, problem type %q; want none", tok.Labels(), tok.ProblemType())
	}
	if tok.MaxLength() != DefaultMaxLength {
		t.Errorf("LoadFile: MaxLength = %d, want %d", tok.MaxLength(), DefaultMaxLength)
	}
	for i, text := range fx.Texts {
		e, err := tok.Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(e.IDs, fx.InputIDs[i]) {
			t.Errorf("Encode(%q) = %v, want %v", text, e.IDs, fx.InputIDs[i])
		}
	}
}

func TestVocabTxtFallback(t *testing.T) {
	src := sharedPath(t, "models", "transformers", "bert-tiny-6label")
	fx := readTexts(t, src)
	dir := t.TempDir()
	for _, f := range []string{"vocab.txt", "config.json"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tok := mustLoad(t, dir)
	for i, text := range fx.Texts {
		e, err := tok.Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(e.IDs, fx.InputIDs[i]) {
			t.Errorf("vocab.txt: Encode(%q) = %v, want %v", text, e.IDs, fx.InputIDs[i])
		}
	}
}

func TestConfig(t *testing.T) {
	tok := mustLoad(t, sharedPath(t, "models", "transformers", "bert-tiny-6label"))
	if got, want := tok.Labels(), []string{"toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"}; !slices.Equal(got, want) {
		t.Errorf("Labels = %q, want %q", got, want)
	}
	if got := tok.ProblemType(); got != "multi_label_classification" {
		t.Errorf("ProblemType = %q", got)
	}
	if tok.MaxLength() != 512 || tok.PadID() != 0 || tok.PadToken() != "[PAD]" || tok.PaddingSide() != "right" {
		t.Errorf("MaxLength %d PadID %d PadToken %q PaddingSide %q", tok.MaxLength(), tok.PadID(), tok.PadToken(), tok.PaddingSide())
	}
	if tok.ClsToken() != "[CLS]" || tok.SepToken() != "[SEP]" || tok.UnkToken() != "[UNK]" || tok.ModelType() != "WordPiece" {
		t.Errorf("cls %q sep %q unk %q model %q", tok.ClsToken(), tok.SepToken(), tok.UnkToken(), tok.ModelType())
	}
	if tok.VocabSize() != 30522 {
		t.Errorf("VocabSize = %d", tok.VocabSize())
	}

	real := mustLoad(t, sharedPath(t, "models", "tokenizers", "toxic-bert"))
	if got, want := real.Labels(), []string{"toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"}; !slices.Equal(got, want) {
		t.Errorf("toxic-bert Labels = %q, want %q", got, want)
	}
	// all-MiniLM-L6-v2's tokenizer.json truncates at 128, but
	// tokenizer_config.json's model_max_length wins, as in transformers.
	mini := mustLoad(t, sharedPath(t, "models", "tokenizers", "all-MiniLM-L6-v2"))
	if mini.MaxLength() != 512 || mini.Labels() != nil {
		t.Errorf("all-MiniLM-L6-v2: MaxLength %d labels %v", mini.MaxLength(), mini.Labels())
	}
}

// readTensorPB reads the dims and int64 data of an ONNX TensorProto.
func readTensorPB(t *testing.T, path string) ([]int64, []int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dims, vals []int64
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("%s: bad tag", path)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			dims, b = append(dims, int64(v)), b[n:]
			continue
		case num == 1 && typ == protowire.BytesType:
			p, n := protowire.ConsumeBytes(b)
			for len(p) > 0 {
				v, k := protowire.ConsumeVarint(p)
				dims, p = append(dims, int64(v)), p[k:]
			}
			b = b[n:]
			continue
		case num == 9 && typ == protowire.BytesType:
			p, n := protowire.ConsumeBytes(b)
			for i := 0; i+8 <= len(p); i += 8 {
				vals = append(vals, int64(binary.LittleEndian.Uint64(p[i:])))
			}
			b = b[n:]
			continue
		case num == 7 && typ == protowire.BytesType:
			p, n := protowire.ConsumeBytes(b)
			for len(p) > 0 {
				v, k := protowire.ConsumeVarint(p)
				vals, p = append(vals, int64(v)), p[k:]
			}
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			t.Fatalf("%s: bad field %d", path, num)
		}
		b = b[n:]
	}
	return dims, vals
}

func TestBatchMatchesFixtureTensors(t *testing.T) {
	for _, m := range transformerModels {
		dir := sharedPath(t, "models", "transformers", m)
		fx := readTexts(t, dir)
		tok := mustLoad(t, dir)
		b, err := tok.EncodeBatch(context.Background(), fx.Texts, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Shape(); !slices.Equal(got, []int64{int64(fx.InputShape[0]), int64(fx.InputShape[1])}) {
			t.Errorf("%s: shape %v, want %v", m, got, fx.InputShape)
		}
		mats := map[string][]int64{"input_ids": b.InputIDs, "attention_mask": b.AttentionMask, "token_type_ids": b.TokenTypeIDs}
		for i, name := range fx.Inputs {
			dims, vals := readTensorPB(t, filepath.Join(dir, "test_data_set_0", "input_"+string(rune('0'+i))+".pb"))
			if !slices.Equal(dims, b.Shape()) {
				t.Errorf("%s %s: fixture dims %v, batch %v", m, name, dims, b.Shape())
			}
			if !slices.Equal(vals, mats[name]) {
				t.Errorf("%s %s differs from the fixture tensor", m, name)
			}
		}
	}
}

func TestBatchPaddingTruncation(t *testing.T) {
	dir := sharedPath(t, "models", "transformers", "bert-tiny-6label")
	tok := mustLoad(t, dir)
	ctx := context.Background()
	texts := []string{"ok", "You are an idiot and everyone here hates you."}

	b, err := tok.EncodeBatch(ctx, texts, Options{MaxLength: 6})
	if err != nil {
		t.Fatal(err)
	}
	if b.SeqLen != 6 {
		t.Fatalf("SeqLen = %d, want 6", b.SeqLen)
	}
	ids, _, _ := b.Row(1)
	if want := []int64{101, 2017, 2024, 2019, 10041, 102}; !slices.Equal(ids, want) {
		t.Errorf("truncated row = %v, want %v", ids, want)
	}
	if !b.Encodings[1].Truncated || b.Encodings[0].Truncated {
		t.Errorf("Truncated flags = %v, %v", b.Encodings[0].Truncated, b.Encodings[1].Truncated)
	}
	ids, mask, types := b.Row(0)
	if !slices.Equal(ids, []int64{101, 7929, 102, 0, 0, 0}) || !slices.Equal(mask, []int64{1, 1, 1, 0, 0, 0}) || !slices.Equal(types, []int64{0, 0, 0, 0, 0, 0}) {
		t.Errorf("padded row: ids %v mask %v types %v", ids, mask, types)
	}

	b, err = tok.EncodeBatch(ctx, texts[:1], Options{PadToMaxLength: true, MaxLength: 16})
	if err != nil || b.SeqLen != 16 {
		t.Fatalf("PadToMaxLength: SeqLen %d, err %v", b.SeqLen, err)
	}
	b, err = tok.EncodeBatch(ctx, texts[:1], Options{PadToMultipleOf: 8})
	if err != nil || b.SeqLen != 8 {
		t.Fatalf("PadToMultipleOf: SeqLen %d, err %v", b.SeqLen, err)
	}
	b, err = tok.EncodeBatch(ctx, texts[:1], Options{NoSpecialTokens: true})
	if err != nil || !slices.Equal(b.InputIDs, []int64{7929}) {
		t.Fatalf("NoSpecialTokens: %v, err %v", b.InputIDs, err)
	}

	// Default truncation at model_max_length.
	long := strings.Repeat("word ", 600)
	e, err := tok.Encode(long)
	if err != nil {
		t.Fatal(err)
	}
	if e.Len() != 512 || e.IDs[0] != 101 || e.IDs[511] != 102 || !e.Truncated {
		t.Errorf("long text: len %d first %d last %d truncated %v", e.Len(), e.IDs[0], e.IDs[e.Len()-1], e.Truncated)
	}
	b, err = tok.EncodeBatch(ctx, []string{long}, Options{MaxLength: -1})
	if err != nil || b.SeqLen != 602 {
		t.Errorf("MaxLength -1: SeqLen %d, err %v", b.SeqLen, err)
	}

	// Empty batch and cancelled context.
	b, err = tok.EncodeBatch(ctx, nil, Options{})
	if err != nil || b.Size != 0 || len(b.InputIDs) != 0 {
		t.Errorf("empty batch: %+v, %v", b, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := tok.EncodeBatch(cctx, texts, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled batch: err = %v", err)
	}
	if _, err := tok.EncodeBatch(ctx, texts, Options{Pairs: []string{"x"}}); err == nil {
		t.Error("mismatched Pairs: no error")
	}
}

func TestPaddingSideLeft(t *testing.T) {
	src := sharedPath(t, "models", "tokenizers", "toxic-bert")
	dir := t.TempDir()
	for _, f := range []string{"tokenizer.json", "config.json"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := `{"do_lower_case": true, "model_max_length": 64, "padding_side": "left", "truncation_side": "left", "pad_token": {"content": "[PAD]"}}`
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	tok := mustLoad(t, dir)
	if tok.PaddingSide() != "left" || tok.MaxLength() != 64 {
		t.Fatalf("PaddingSide %q MaxLength %d", tok.PaddingSide(), tok.MaxLength())
	}
	b, err := tok.EncodeBatch(context.Background(), []string{"ok", "thank you"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids, mask, _ := b.Row(0)
	if !slices.Equal(ids, []int64{0, 101, 7929, 102}) || !slices.Equal(mask, []int64{0, 1, 1, 1}) {
		t.Errorf("left padding: ids %v mask %v", ids, mask)
	}
	e, err := tok.EncodeBatch(context.Background(), []string{"You are an idiot and everyone here hates you."}, Options{MaxLength: 5})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{101, 16424, 2017, 1012, 102}; !slices.Equal(e.InputIDs, want) {
		t.Errorf("left truncation: %v, want %v", e.InputIDs, want)
	}
}

func TestDoLowerCaseOverride(t *testing.T) {
	src := sharedPath(t, "models", "tokenizers", "toxic-bert")
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(src, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"do_lower_case": false}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tok := mustLoad(t, dir)
	e, err := tok.Encode("Hello")
	if err != nil {
		t.Fatal(err)
	}
	// The uncased vocabulary has no "Hello": cased input splits differently.
	lower, _ := mustLoad(t, src).Encode("Hello")
	if slices.Equal(e.IDs, lower.IDs) {
		t.Errorf("do_lower_case=false gave the lowercased ids %v", e.IDs)
	}
}

func TestPairs(t *testing.T) {
	tok := mustLoad(t, sharedPath(t, "models", "transformers", "bert-tiny-6label"))
	e, err := tok.EncodePair("ok", "thank you")
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{101, 7929, 102, 4067, 2017, 102}; !slices.Equal(e.IDs, want) {
		t.Errorf("pair ids = %v, want %v", e.IDs, want)
	}
	if want := []int{0, 0, 0, 1, 1, 1}; !slices.Equal(e.TypeIDs, want) {
		t.Errorf("pair type ids = %v, want %v", e.TypeIDs, want)
	}
	if want := []int{-1, 0, -1, 1, 1, -1}; !slices.Equal(e.SequenceIDs, want) {
		t.Errorf("sequence ids = %v, want %v", e.SequenceIDs, want)
	}
	if want := []Offset{{}, {0, 2}, {}, {0, 5}, {6, 9}, {}}; !slices.Equal(e.Offsets, want) {
		t.Errorf("pair offsets = %v, want %v", e.Offsets, want)
	}
	// Longest-first truncation: 3 specials + 7 tokens.
	b, err := tok.EncodeBatch(context.Background(), []string{"ok"}, Options{
		MaxLength: 10, Pairs: []string{"you are an idiot and everyone here hates you"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{101, 7929, 102, 2017, 2024, 2019, 10041, 1998, 3071, 102}; !slices.Equal(b.InputIDs, want) {
		t.Errorf("truncated pair = %v, want %v", b.InputIDs, want)
	}
	if want := []int64{0, 0, 0, 1, 1, 1, 1, 1, 1, 1}; !slices.Equal(b.TokenTypeIDs, want) {
		t.Errorf("truncated pair types = %v", b.TokenTypeIDs)
	}
}

// foldForCompare lowercases and strips accents, as the uncased normalizer does.
func foldForCompare(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if unicode.Is(unicode.M, r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

func TestOffsets(t *testing.T) {
	dir := sharedPath(t, "models", "transformers", "bert-tiny-6label")
	fx := readTexts(t, dir)
	tok := mustLoad(t, dir)
	for _, text := range append(fx.Texts, "Ça\u00a0va?  Très   bien\tmerci\n", "İstanbul ÉCOLE") {
		e, err := tok.Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		runes := []rune(text)
		for i, o := range e.Offsets {
			ro := e.RuneOffsets[i]
			if e.SpecialTokensMask[i] == 1 {
				if o != (Offset{}) || ro != (Offset{}) {
					t.Errorf("%q: special token %q has offsets %v %v", text, e.Tokens[i], o, ro)
				}
				continue
			}
			piece := text[o.Start:o.End]
			if got := string(runes[ro.Start:ro.End]); got != piece {
				t.Errorf("%q: token %q: rune offsets %v give %q, byte offsets %v give %q", text, e.Tokens[i], ro, got, o, piece)
			}
			if e.Tokens[i] == "[UNK]" {
				continue
			}
			if want := strings.TrimPrefix(e.Tokens[i], "##"); foldForCompare(piece) != want {
				t.Errorf("%q: token %q covers %q", text, e.Tokens[i], piece)
			}
		}
	}
	// "méchant": bytes vs characters.
	e, err := tok.Encode("Ce commentaire est vraiment méchant")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"[CLS]", "ce", "comment", "##aire", "est", "vr", "##ai", "##ment", "me", "##chan", "##t", "[SEP]"}; !slices.Equal(e.Tokens, want) {
		t.Fatalf("tokens = %q, want %q", e.Tokens, want)
	}
	if got, want := e.Offsets[8:11], []Offset{{28, 31}, {31, 35}, {35, 36}}; !slices.Equal(got, want) {
		t.Errorf("byte offsets = %v, want %v", got, want)
	}
	if got, want := e.RuneOffsets[8:11], []Offset{{28, 30}, {30, 34}, {34, 35}}; !slices.Equal(got, want) {
		t.Errorf("rune offsets = %v, want %v", got, want)
	}
	if want := []int{-1, 0, 1, 1, 2, 3, 3, 3, 4, 4, 4, -1}; !slices.Equal(e.WordIDs, want) {
		t.Errorf("word ids = %v, want %v", e.WordIDs, want)
	}
}

func TestNormalizationEdgeCases(t *testing.T) {
	tok := mustLoad(t, sharedPath(t, "models", "transformers", "bert-tiny-6label"))
	ids := func(s string) []int {
		t.Helper()
		e, err := tok.Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		return e.IDs
	}
	same := [][2]string{
		{"hello world", "hello\u00a0world"},      // no-break space
		{"hello world", "hello\u2003world"},      // em space
		{"hello world", "hello\u3000world"},      // ideographic space
		{"hello world", "  hello    world \n\t"}, // runs of whitespace
		{"hello world", "hel\u200blo world"},     // zero-width space (Cf) is dropped
		{"hello world", "hel\x00lo wor\ufffdld"}, // NUL and U+FFFD are dropped
		{"hello world", "HELLO World"},
		{"cafe creme", "café crème"},
		{"cafe creme", "cafe\u0301 cre\u0300me"}, // decomposed accents
		{"naive", "NAÏVE"},
	}
	for _, p := range same {
		if a, b := ids(p[0]), ids(p[1]); !slices.Equal(a, b) {
			t.Errorf("%q -> %v but %q -> %v", p[0], a, p[1], b)
		}
	}
	// Special tokens written in the text are recognized.
	if got := ids("hello [MASK] world"); !slices.Contains(got, 103) {
		t.Errorf("[MASK] not recognized: %v", got)
	}
	// Empty and whitespace-only texts give [CLS] [SEP].
	for _, s := range []string{"", " ", "\u00a0\n", "\x00"} {
		if got := ids(s); !slices.Equal(got, []int{101, 102}) {
			t.Errorf("%q -> %v", s, got)
		}
	}
	// A word longer than max_input_chars_per_word is one [UNK].
	if got := ids(strings.Repeat("a", 101)); !slices.Equal(got, []int{101, 100, 102}) {
		t.Errorf("long word -> %v", got)
	}
	// Invalid UTF-8 does not fail.
	if _, err := tok.Encode("ab\xffcd\xc3"); err != nil {
		t.Errorf("invalid UTF-8: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "absent")); err == nil {
		t.Error("Load of a missing folder: no error")
	}
	if _, err := LoadFile(filepath.Join(dir, "absent.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadFile of a missing file: %v", err)
	}
	cases := map[string]string{
		"bad json":         `{"model": `,
		"no model":         `{"normalizer": null}`,
		"unknown model":    `{"model": {"type": "Magic", "vocab": {}}}`,
		"bad normalizer":   `{"normalizer": {"type": "Shout"}, "model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0}}}`,
		"bad pretokenizer": `{"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(?!x)"}, "behavior": "Isolated"}, "model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0}}}`,
		"unk missing":      `{"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"a": 0}}}`,
		"bad template":     `{"post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "[X]", "type_id": 0}}], "pair": [], "special_tokens": {}}, "model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0}}}`,
		"bad merges":       `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}`,
	}
	for name, content := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".json")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadFile(p); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// Bad config.json next to a good tokenizer.json.
	src := sharedPath(t, "models", "tokenizers", "toxic-bert", "tokenizer.json")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "tokenizer.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "config.json"), []byte(`{"id2label": {"x": "a"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil {
		t.Error("bad id2label: no error")
	}
	if err := os.WriteFile(filepath.Join(bad, "config.json"), []byte(`{`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil {
		t.Error("bad config.json: no error")
	}
}

func TestConcurrentUse(t *testing.T) {
	dir := sharedPath(t, "models", "transformers", "bert-tiny-6label")
	fx := readTexts(t, dir)
	tok := mustLoad(t, dir)
	done := make(chan error)
	for g := 0; g < 4; g++ {
		go func() {
			for k := 0; k < 50; k++ {
				for i, text := range fx.Texts {
					e, err := tok.Encode(text)
					if err != nil {
						done <- err
						return
					}
					if !reflect.DeepEqual(e.IDs, fx.InputIDs[i]) {
						done <- errors.New("ids differ under concurrency")
						return
					}
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
