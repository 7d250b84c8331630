// Package tokenizer turns text into the integer inputs of transformer models,
// reading Hugging Face tokenizer folders (tokenizer.json, tokenizer_config.json,
// config.json).
//
// The WordPiece (BERT, DistilBERT, MiniLM...), BPE (byte-level, as in
// RoBERTa/GPT-2), Unigram (XLM-R, SentencePiece exports) and WordLevel
// models, the normalizers, pre-tokenizers, special tokens, truncation,
// padding and offsets are implemented here and reproduce Hugging Face's ids
// and offsets. github.com/sugarme/tokenizer is not used at run time: its
// alignment code panics on some inputs (index out of range), it reads
// BertNormalizer's strip_accents: null as false ("méchant" becomes [UNK]) and
// it does not treat non-ASCII whitespace as Hugging Face does. The tests use it as a differential
// reference where it is right (see sugarme_test.go) and take SentencePiece
// test data from it.
//
// A Tokenizer is immutable after loading and safe for concurrent use.
package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DefaultMaxLength is the maximum sequence length used when neither the
// tokenizer files nor the model configuration give one.
const DefaultMaxLength = 512

// Tokenizer encodes text for one model. Create it with Load or LoadFile.
type Tokenizer struct {
	model      model
	modelType  string
	normalizer normalizer
	pre        preTokenizer
	post       *postProcessor

	addedRaw  *addedMatcher // added tokens matched on the original text
	addedNorm *addedMatcher // added tokens matched on normalized text
	specialID map[int]bool

	maxLength int
	truncLeft bool
	padLeft   bool
	padID     int
	padTypeID int
	padToken  string
	clsToken  string
	sepToken  string
	unkToken  string

	labels      []string
	problemType string

	vocabSize, typeVocabSize int // from config.json, 0 when absent
}

// Load reads a Hugging Face model folder: tokenizer.json (or, failing that, a
// BERT vocab.txt), and when present tokenizer_config.json and config.json for
// the maximum length, padding side, special tokens, lowercasing, labels and
// problem type.
func Load(dir string) (*Tokenizer, error) {
	cfg, err := readJSONFile[tokenizerConfig](filepath.Join(dir, "tokenizer_config.json"))
	if err != nil {
		return nil, fmt.Errorf("tokenizer: load %s: %w", dir, err)
	}
	mcfg, err := readJSONFile[modelConfig](filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("tokenizer: load %s: %w", dir, err)
	}
	var t *Tokenizer
	path := filepath.Join(dir, "tokenizer.json")
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		t, err = parse(data)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
		}
	case errors.Is(err, fs.ErrNotExist):
		vpath := filepath.Join(dir, "vocab.txt")
		v, verr := os.ReadFile(vpath)
		if verr != nil {
			return nil, fmt.Errorf("tokenizer: load %s: no tokenizer.json and no vocab.txt: %w", dir, verr)
		}
		t, err = fromVocabTxt(v, cfg)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", vpath, err)
		}
	default:
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if err := t.configure(cfg, mcfg); err != nil {
		return nil, fmt.Errorf("tokenizer: load %s: %w", dir, err)
	}
	return t, nil
}

// LoadFile reads a single tokenizer.json. Without the configuration files the
// maximum length comes from the file's truncation section (or
// DefaultMaxLength) and there are no labels.
func LoadFile(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	if err := t.configure(nil, nil); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	return t, nil
}

// readJSONFile decodes an optional JSON file; a missing file gives nil.
func readJSONFile[T any](path string) (*T, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v := new(T)
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// parse builds a Tokenizer from tokenizer.json content.
func parse(data []byte) (*Tokenizer, error) {
	var f tokenizerFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("decoding tokenizer.json: %w", err)
	}
	m, typ, err := parseModel(f.Model)
	if err != nil {
		return nil, err
	}
	n, err := parseNormalizer(f.Normalizer)
	if err != nil {
		return nil, err
	}
	p, err := parsePreTokenizer(f.PreTokenizer)
	if err != nil {
		return nil, err
	}
	t := &Tokenizer{model: m, modelType: typ, normalizer: n, pre: p, specialID: map[int]bool{}}
	var raw, normed []addedToken
	for _, a := range f.AddedTokens {
		at := addedToken{content: a.Content, id: a.ID, special: a.Special, normalized: a.Normalized,
			lstrip: a.LStrip, rstrip: a.RStrip, singleWord: a.SingleWord, match: a.Content}
		if a.Special {
			t.specialID[a.ID] = true
		}
		if a.Normalized && n != nil {
			at.match = ncharString(n.normalize(toNChars(a.Content, 0, len(a.Content), nil)))
			normed = append(normed, at)
		} else {
			raw = append(raw, at)
		}
	}
	t.addedRaw = newAddedMatcher(raw)
	t.addedNorm = newAddedMatcher(normed)
	t.post, err = parsePostProcessor(f.PostProcessor, t)
	if err != nil {
		return nil, err
	}
	if f.Truncation != nil {
		t.maxLength = f.Truncation.MaxLength
		t.truncLeft = f.Truncation.Direction == "Left"
	}
	if f.Padding != nil {
		t.padLeft = f.Padding.Direction == "Left"
		t.padID, t.padTypeID, t.padToken = f.Padding.PadID, f.Padding.PadTypeID, f.Padding.PadToken
	}
	return t, nil
}

// fromVocabTxt builds a BERT WordPiece tokenizer from a vocab.txt file.
func fromVocabTxt(data []byte, cfg *tokenizerConfig) (*Tokenizer, error) {
	ids := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		tok := strings.TrimRight(sc.Text(), "\r")
		if _, dup := ids[tok]; !dup {
			ids[tok] = len(ids)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading vocabulary: %w", err)
	}
	unk, cls, sep := "[UNK]", "[CLS]", "[SEP]"
	if cfg != nil {
		unk = cmpOr(tokenString(cfg.UnkToken), unk)
		cls = cmpOr(tokenString(cfg.ClsToken), cls)
		sep = cmpOr(tokenString(cfg.SepToken), sep)
	}
	m, err := newWordPiece(ids, unk, "##", 100)
	if err != nil {
		return nil, err
	}
	t := &Tokenizer{model: m, modelType: "WordPiece", specialID: map[int]bool{},
		normalizer: bertNormalizer{cleanText: true, chineseChars: true, stripAccents: true, lowercase: true},
		pre:        bertPreTokenizer{}}
	var raw []addedToken
	for _, s := range []string{"[PAD]", unk, cls, sep, "[MASK]"} {
		if id, ok := ids[s]; ok {
			raw = append(raw, addedToken{content: s, id: id, special: true, match: s})
			t.specialID[id] = true
		}
	}
	t.addedRaw = newAddedMatcher(raw)
	clsID, ok1 := ids[cls]
	sepID, ok2 := ids[sep]
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("vocabulary lacks %q or %q", cls, sep)
	}
	c := templatePiece{seq: -1, ids: []int{clsID}, tokens: []string{cls}}
	s0 := templatePiece{seq: -1, ids: []int{sepID}, tokens: []string{sep}}
	s1 := s0
	s1.typeID = 1
	t.post = &postProcessor{
		single: []templatePiece{c, {seq: 0}, s0},
		pair:   []templatePiece{c, {seq: 0}, s0, {seq: 1, typeID: 1}, s1},
	}
	return t, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// configure applies tokenizer_config.json and config.json (both optional).
func (t *Tokenizer) configure(cfg *tokenizerConfig, mcfg *modelConfig) error {
	if cfg != nil {
		if cfg.DoLowerCase != nil {
			if b, ok := t.normalizer.(bertNormalizer); ok {
				// As transformers' BertTokenizerFast: the config wins.
				if b.lowercase != *cfg.DoLowerCase || (cfg.TokenizeChineseChars != nil && b.chineseChars != *cfg.TokenizeChineseChars) ||
					(cfg.StripAccents != nil && b.stripAccents != *cfg.StripAccents) {
					b.lowercase = *cfg.DoLowerCase
					b.stripAccents = b.lowercase
					if cfg.StripAccents != nil {
						b.stripAccents = *cfg.StripAccents
					}
					if cfg.TokenizeChineseChars != nil {
						b.chineseChars = *cfg.TokenizeChineseChars
					}
					t.normalizer = b
				}
			}
		}
		if cfg.ModelMaxLength != nil && *cfg.ModelMaxLength > 0 && *cfg.ModelMaxLength < 1e7 {
			t.maxLength = int(*cfg.ModelMaxLength)
		}
		switch cfg.PaddingSide {
		case "left":
			t.padLeft = true
		case "right":
			t.padLeft = false
		}
		switch cfg.TruncationSide {
		case "left":
			t.truncLeft = true
		case "right":
			t.truncLeft = false
		}
		if s := tokenString(cfg.PadToken); s != "" {
			if id, ok := t.TokenToID(s); ok {
				t.padToken, t.padID = s, id
			}
		}
		t.clsToken = tokenString(cfg.ClsToken)
		t.sepToken = tokenString(cfg.SepToken)
		t.unkToken = tokenString(cfg.UnkToken)
	}
	if mcfg != nil {
		t.vocabSize, t.typeVocabSize = mcfg.VocabSize, mcfg.TypeVocabSize
		if limit := mcfg.MaxPositionEmbeddings; limit > 0 {
			switch mcfg.ModelType {
			case "roberta", "xlm-roberta", "camembert", "longformer", "xlm-roberta-xl", "bart", "mbart":
				if limit > 2 {
					limit -= 2 // positions start after the padding index
				}
			}
			if t.maxLength <= 0 || t.maxLength > limit {
				t.maxLength = limit
			}
		}
		if t.padToken == "" && mcfg.PadTokenID != nil {
			t.padID = *mcfg.PadTokenID
			t.padToken, _ = t.IDToToken(t.padID)
		}
		labels, err := mcfg.labels()
		if err != nil {
			return fmt.Errorf("config.json: %w", err)
		}
		t.labels = labels
		t.problemType = mcfg.ProblemType
	}
	if t.maxLength <= 0 {
		t.maxLength = DefaultMaxLength
	}
	if t.padToken == "" {
		for _, s := range []string{"[PAD]", "<pad>"} {
			if id, ok := t.TokenToID(s); ok {
				t.padToken, t.padID = s, id
				break
			}
		}
	}
	if t.clsToken == "" || t.sepToken == "" {
		if n := len(t.post.single); n > 0 {
			if p := t.post.single[0]; t.clsToken == "" && p.seq < 0 && len(p.tokens) > 0 {
				t.clsToken = p.tokens[0]
			}
			if p := t.post.single[n-1]; t.sepToken == "" && p.seq < 0 && len(p.tokens) > 0 {
				t.sepToken = p.tokens[0]
			}
		}
	}
	if t.unkToken == "" {
		if wp, ok := t.model.(*wordPiece); ok {
			t.unkToken = wp.unk
		}
	}
	return nil
}

// MaxLength is the default maximum number of tokens per encoding, special
// tokens included: model_max_length, capped by the model's position limit.
func (t *Tokenizer) MaxLength() int { return t.maxLength }

// PadID is the id used to pad batches.
func (t *Tokenizer) PadID() int { return t.padID }

// PadToken is the token used to pad batches ("" when unknown).
func (t *Tokenizer) PadToken() string { return t.padToken }

// PaddingSide is "right" or "left".
func (t *Tokenizer) PaddingSide() string {
	if t.padLeft {
		return "left"
	}
	return "right"
}

// ClsToken is the classification (start) token, such as [CLS] or <s>.
func (t *Tokenizer) ClsToken() string { return t.clsToken }

// SepToken is the separator (end) token, such as [SEP] or </s>.
func (t *Tokenizer) SepToken() string { return t.sepToken }

// UnkToken is the unknown-token string, when the model has one.
func (t *Tokenizer) UnkToken() string { return t.unkToken }

// ModelType is the tokenizer model: "WordPiece", "BPE", "Unigram" or "WordLevel".
func (t *Tokenizer) ModelType() string { return t.modelType }

// Labels returns the model's class names ordered by output index (from
// config.json's id2label), or nil when unknown.
func (t *Tokenizer) Labels() []string { return append([]string(nil), t.labels...) }

// ProblemType is config.json's problem_type, such as
// "multi_label_classification" (sigmoid per label) or
// "single_label_classification" (softmax); "" when absent.
func (t *Tokenizer) ProblemType() string { return t.problemType }

// VocabSize is the number of entries in the model's vocabulary.
func (t *Tokenizer) VocabSize() int { return t.model.vocabSize() }

// IDLimit is one past the largest token id the model embeds: config.json's
// vocab_size when given, else one past the largest id of the vocabulary
// and the added tokens.
func (t *Tokenizer) IDLimit() int {
	if t.vocabSize > 0 {
		return t.vocabSize
	}
	n := t.model.vocabSize()
	for _, m := range []*addedMatcher{t.addedRaw, t.addedNorm} {
		if m == nil {
			continue
		}
		for _, a := range m.tokens {
			n = max(n, a.id+1)
		}
	}
	return n
}

// TypeVocabSize is config.json's type_vocab_size (the token_type_ids a
// model embeds), 0 when unknown.
func (t *Tokenizer) TypeVocabSize() int { return t.typeVocabSize }

// TokenToID returns the id of a vocabulary or added token.
func (t *Tokenizer) TokenToID(tok string) (int, bool) {
	if id, ok := t.model.tokenToID(tok); ok {
		return id, true
	}
	for _, m := range []*addedMatcher{t.addedRaw, t.addedNorm} {
		if m == nil {
			continue
		}
		for _, a := range m.tokens {
			if a.content == tok {
				return a.id, true
			}
		}
	}
	return 0, false
}

// IDToToken returns the token string of an id.
func (t *Tokenizer) IDToToken(id int) (string, bool) {
	for _, m := range []*addedMatcher{t.addedRaw, t.addedNorm} {
		if m == nil {
			continue
		}
		for _, a := range m.tokens {
			if a.id == id {
				return a.content, true
			}
		}
	}
	return t.model.idToToken(id)
}
