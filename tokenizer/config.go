package tokenizer

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/text/unicode/norm"
)

// tokenizerFile is the part of a Hugging Face tokenizer.json this package reads.
type tokenizerFile struct {
	Truncation *struct {
		Direction string `json:"direction"`
		MaxLength int    `json:"max_length"`
		Strategy  string `json:"strategy"`
	} `json:"truncation"`
	Padding *struct {
		Direction string `json:"direction"`
		PadID     int    `json:"pad_id"`
		PadTypeID int    `json:"pad_type_id"`
		PadToken  string `json:"pad_token"`
	} `json:"padding"`
	AddedTokens   []addedTokenJSON `json:"added_tokens"`
	Normalizer    json.RawMessage  `json:"normalizer"`
	PreTokenizer  json.RawMessage  `json:"pre_tokenizer"`
	PostProcessor json.RawMessage  `json:"post_processor"`
	Model         json.RawMessage  `json:"model"`
}

type addedTokenJSON struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// isNull reports whether a raw JSON value is absent or null.
func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// pattern is the {"String": ...} or {"Regex": ...} object of Replace and Split.
type pattern struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

func (p pattern) compile() (string, matcher, error) {
	switch {
	case p.String != nil:
		return *p.String, nil, nil
	case p.Regex != nil:
		re, err := compileRegex(*p.Regex)
		if err != nil {
			return "", nil, fmt.Errorf("regex %q is not supported: %w", *p.Regex, err)
		}
		return "", re, nil
	}
	return "", nil, errors.New("pattern has neither String nor Regex")
}

func parseNormalizer(raw json.RawMessage) (normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var n struct {
		Type                string            `json:"type"`
		CleanText           *bool             `json:"clean_text"`
		HandleChineseChars  *bool             `json:"handle_chinese_chars"`
		StripAccents        *bool             `json:"strip_accents"`
		Lowercase           *bool             `json:"lowercase"`
		Normalizers         []json.RawMessage `json:"normalizers"`
		Pattern             pattern           `json:"pattern"`
		Content             string            `json:"content"`
		Prepend             string            `json:"prepend"`
		StripLeft           bool              `json:"strip_left"`
		StripRight          bool              `json:"strip_right"`
		PrecompiledCharsmap *string           `json:"precompiled_charsmap"`
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	switch n.Type {
	case "BertNormalizer":
		b := bertNormalizer{cleanText: true, chineseChars: true, lowercase: true}
		if n.CleanText != nil {
			b.cleanText = *n.CleanText
		}
		if n.HandleChineseChars != nil {
			b.chineseChars = *n.HandleChineseChars
		}
		if n.Lowercase != nil {
			b.lowercase = *n.Lowercase
		}
		b.stripAccents = b.lowercase // strip_accents: null follows lowercase
		if n.StripAccents != nil {
			b.stripAccents = *n.StripAccents
		}
		return b, nil
	case "Sequence":
		var seq normalizerSeq
		for i, sub := range n.Normalizers {
			s, err := parseNormalizer(sub)
			if err != nil {
				return nil, fmt.Errorf("normalizer sequence item %d: %w", i, err)
			}
			if s != nil {
				seq = append(seq, s)
			}
		}
		return seq, nil
	case "Lowercase":
		return lowercaseNormalizer{}, nil
	case "StripAccents":
		return stripAccentsNormalizer{}, nil
	case "NFD":
		return decomposeForm{norm.NFD}, nil
	case "NFKD":
		return decomposeForm{norm.NFKD}, nil
	case "NFC":
		return composeForm{norm.NFC}, nil
	case "NFKC":
		return composeForm{norm.NFKC}, nil
	case "Strip":
		return stripNormalizer{left: n.StripLeft, right: n.StripRight}, nil
	case "Prepend":
		return prependNormalizer{prefix: n.Prepend}, nil
	case "Replace":
		lit, re, err := n.Pattern.compile()
		if err != nil {
			return nil, fmt.Errorf("Replace normalizer: %w", err)
		}
		return replaceNormalizer{literal: lit, re: re, content: n.Content}, nil
	case "Nmt":
		return nmtNormalizer{}, nil
	case "Precompiled":
		if n.PrecompiledCharsmap == nil || *n.PrecompiledCharsmap == "" {
			return normalizerSeq(nil), nil
		}
		data, err := base64.StdEncoding.DecodeString(*n.PrecompiledCharsmap)
		if err != nil {
			return nil, fmt.Errorf("Precompiled normalizer: charsmap: %w", err)
		}
		p, err := newPrecompiled(data)
		if err != nil {
			return nil, fmt.Errorf("Precompiled normalizer: %w", err)
		}
		return p, nil
	}
	return nil, fmt.Errorf("normalizer type %q is not supported", n.Type)
}

func parsePreTokenizer(raw json.RawMessage) (preTokenizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var p struct {
		Type             string            `json:"type"`
		PreTokenizers    []json.RawMessage `json:"pretokenizers"`
		Behavior         string            `json:"behavior"`
		IndividualDigits bool              `json:"individual_digits"`
		Pattern          pattern           `json:"pattern"`
		Invert           bool              `json:"invert"`
		Replacement      string            `json:"replacement"`
		AddPrefixSpace   *bool             `json:"add_prefix_space"`
		PrependScheme    string            `json:"prepend_scheme"`
		Split            *bool             `json:"split"`
		UseRegex         *bool             `json:"use_regex"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	switch p.Type {
	case "BertPreTokenizer":
		return bertPreTokenizer{}, nil
	case "Whitespace":
		return whitespacePreTokenizer{}, nil
	case "WhitespaceSplit":
		return whitespaceSplit{}, nil
	case "Punctuation":
		b, ok := parseBehavior(p.Behavior)
		if !ok {
			return nil, fmt.Errorf("Punctuation pre_tokenizer: unknown behavior %q", p.Behavior)
		}
		return punctuationPreTokenizer{behavior: b}, nil
	case "Digits":
		return digitsPreTokenizer{individual: p.IndividualDigits}, nil
	case "Split":
		b, ok := parseBehavior(p.Behavior)
		if !ok {
			return nil, fmt.Errorf("Split pre_tokenizer: unknown behavior %q", p.Behavior)
		}
		lit, re, err := p.Pattern.compile()
		if err != nil {
			return nil, fmt.Errorf("Split pre_tokenizer: %w", err)
		}
		return splitPreTokenizer{literal: lit, re: re, behavior: b, invert: p.Invert}, nil
	case "Metaspace":
		m := metaspacePreTokenizer{replacement: '▁', prepend: "always", splitWords: true}
		if p.Replacement != "" {
			r := []rune(p.Replacement)
			if len(r) != 1 {
				return nil, fmt.Errorf("Metaspace pre_tokenizer: replacement %q is not one character", p.Replacement)
			}
			m.replacement = r[0]
		}
		if p.AddPrefixSpace != nil && !*p.AddPrefixSpace {
			m.prepend = "never"
		}
		switch p.PrependScheme {
		case "always", "first", "never":
			m.prepend = p.PrependScheme
		case "":
		default:
			return nil, fmt.Errorf("Metaspace pre_tokenizer: unknown prepend_scheme %q", p.PrependScheme)
		}
		if p.Split != nil {
			m.splitWords = *p.Split
		}
		return m, nil
	case "ByteLevel":
		b := &byteLevelPreTokenizer{addPrefixSpace: true, useRegex: true, table: byteToRuneTable()}
		if p.AddPrefixSpace != nil {
			b.addPrefixSpace = *p.AddPrefixSpace
		}
		if p.UseRegex != nil {
			b.useRegex = *p.UseRegex
		}
		return b, nil
	case "Sequence":
		var seq preTokenizerSeq
		for i, sub := range p.PreTokenizers {
			s, err := parsePreTokenizer(sub)
			if err != nil {
				return nil, fmt.Errorf("pre_tokenizer sequence item %d: %w", i, err)
			}
			if s != nil {
				seq = append(seq, s)
			}
		}
		return seq, nil
	}
	return nil, fmt.Errorf("pre_tokenizer type %q is not supported", p.Type)
}

// templatePiece is one element of a post-processing template: either a
// special token sequence or the A/B input sequence.
type templatePiece struct {
	seq    int // 0 for A, 1 for B, -1 for a special token
	typeID int
	ids    []int
	tokens []string
}

// postProcessor adds special tokens around one or two sequences.
type postProcessor struct {
	single, pair []templatePiece
	trimOffsets  bool // byte-level: drop leading/trailing spaces from offsets
	prefixSpace  bool // byte-level add_prefix_space: keep the first token's space
}

// specials returns how many special tokens the template for n sequences adds.
func (p *postProcessor) specials(pair bool) int {
	t := p.single
	if pair {
		t = p.pair
	}
	n := 0
	for _, piece := range t {
		if piece.seq < 0 {
			n += len(piece.ids)
		}
	}
	return n
}

func parsePostProcessor(raw json.RawMessage, v interface{ TokenToID(string) (int, bool) }) (*postProcessor, error) {
	if isNull(raw) {
		return &postProcessor{
			single: []templatePiece{{seq: 0}},
			pair:   []templatePiece{{seq: 0}, {seq: 1, typeID: 1}},
		}, nil
	}
	var p struct {
		Type          string            `json:"type"`
		Single        []json.RawMessage `json:"single"`
		Pair          []json.RawMessage `json:"pair"`
		SpecialTokens map[string]struct {
			ID     string   `json:"id"`
			IDs    []int    `json:"ids"`
			Tokens []string `json:"tokens"`
		} `json:"special_tokens"`
		Sep         []json.RawMessage `json:"sep"`
		Cls         []json.RawMessage `json:"cls"`
		TrimOffsets *bool             `json:"trim_offsets"`
		PrefixSpace *bool             `json:"add_prefix_space"`
		Processors  []json.RawMessage `json:"processors"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("post_processor: %w", err)
	}
	tuple := func(name string, t []json.RawMessage) (templatePiece, error) {
		if len(t) != 2 {
			return templatePiece{}, fmt.Errorf("%s: want [token, id], got %d items", name, len(t))
		}
		var tok string
		var id int
		if err := json.Unmarshal(t[0], &tok); err != nil {
			return templatePiece{}, fmt.Errorf("%s token: %w", name, err)
		}
		if err := json.Unmarshal(t[1], &id); err != nil {
			return templatePiece{}, fmt.Errorf("%s id: %w", name, err)
		}
		return templatePiece{seq: -1, ids: []int{id}, tokens: []string{tok}}, nil
	}
	switch p.Type {
	case "TemplateProcessing":
		parse := func(items []json.RawMessage) ([]templatePiece, error) {
			var out []templatePiece
			for _, it := range items {
				var e struct {
					SpecialToken *struct {
						ID     string `json:"id"`
						TypeID int    `json:"type_id"`
					} `json:"SpecialToken"`
					Sequence *struct {
						ID     string `json:"id"`
						TypeID int    `json:"type_id"`
					} `json:"Sequence"`
				}
				if err := json.Unmarshal(it, &e); err != nil {
					return nil, fmt.Errorf("template item: %w", err)
				}
				switch {
				case e.SpecialToken != nil:
					st, ok := p.SpecialTokens[e.SpecialToken.ID]
					if !ok {
						if id, ok2 := v.TokenToID(e.SpecialToken.ID); ok2 {
							out = append(out, templatePiece{seq: -1, typeID: e.SpecialToken.TypeID, ids: []int{id}, tokens: []string{e.SpecialToken.ID}})
							continue
						}
						return nil, fmt.Errorf("template special token %q is not defined", e.SpecialToken.ID)
					}
					if len(st.IDs) != len(st.Tokens) {
						return nil, fmt.Errorf("template special token %q: %d ids for %d tokens", e.SpecialToken.ID, len(st.IDs), len(st.Tokens))
					}
					out = append(out, templatePiece{seq: -1, typeID: e.SpecialToken.TypeID, ids: st.IDs, tokens: st.Tokens})
				case e.Sequence != nil:
					seq := 0
					if e.Sequence.ID == "B" {
						seq = 1
					}
					out = append(out, templatePiece{seq: seq, typeID: e.Sequence.TypeID})
				default:
					return nil, errors.New("template item is neither SpecialToken nor Sequence")
				}
			}
			return out, nil
		}
		single, err := parse(p.Single)
		if err != nil {
			return nil, fmt.Errorf("post_processor single template: %w", err)
		}
		pair, err := parse(p.Pair)
		if err != nil {
			return nil, fmt.Errorf("post_processor pair template: %w", err)
		}
		return &postProcessor{single: single, pair: pair}, nil
	case "BertProcessing", "RobertaProcessing":
		sep, err := tuple("sep", p.Sep)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Type, err)
		}
		cls, err := tuple("cls", p.Cls)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Type, err)
		}
		sep1 := sep
		sep1.typeID = 1
		pp := &postProcessor{single: []templatePiece{cls, {seq: 0}, sep}}
		if p.Type == "BertProcessing" {
			pp.pair = []templatePiece{cls, {seq: 0}, sep, {seq: 1, typeID: 1}, sep1}
		} else {
			pp.pair = []templatePiece{cls, {seq: 0}, sep, sep, {seq: 1}, sep}
			pp.trimOffsets = p.TrimOffsets == nil || *p.TrimOffsets
			pp.prefixSpace = p.PrefixSpace == nil || *p.PrefixSpace
		}
		return pp, nil
	case "ByteLevel":
		pp, _ := parsePostProcessor(nil, v)
		pp.trimOffsets = p.TrimOffsets == nil || *p.TrimOffsets
		pp.prefixSpace = p.PrefixSpace == nil || *p.PrefixSpace
		return pp, nil
	case "Sequence":
		// Combine: byte-level offset trimming plus the last template found.
		out, _ := parsePostProcessor(nil, v)
		trim, prefixSpace := false, false
		for i, sub := range p.Processors {
			s, err := parsePostProcessor(sub, v)
			if err != nil {
				return nil, fmt.Errorf("post_processor sequence item %d: %w", i, err)
			}
			if s.trimOffsets {
				trim, prefixSpace = true, s.prefixSpace
			}
			if s.specials(false) > 0 || s.specials(true) > 0 {
				out = s
			}
		}
		out.trimOffsets, out.prefixSpace = trim, prefixSpace
		return out, nil
	}
	return nil, fmt.Errorf("post_processor type %q is not supported", p.Type)
}

// parseModel builds the model of tokenizer.json.
func parseModel(raw json.RawMessage) (model, string, error) {
	if isNull(raw) {
		return nil, "", errors.New("tokenizer.json has no model")
	}
	var head struct {
		Type                    string          `json:"type"`
		UnkToken                *string         `json:"unk_token"`
		ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
		MaxInputCharsPerWord    *int            `json:"max_input_chars_per_word"`
		Vocab                   json.RawMessage `json:"vocab"`
		Merges                  json.RawMessage `json:"merges"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, "", fmt.Errorf("model: %w", err)
	}
	typ := head.Type
	if typ == "" {
		switch {
		case !isNull(head.Merges):
			typ = "BPE"
		case bytes.HasPrefix(bytes.TrimSpace(head.Vocab), []byte("[")):
			typ = "Unigram"
		case head.ContinuingSubwordPrefix != nil || head.MaxInputCharsPerWord != nil:
			typ = "WordPiece"
		default:
			typ = "WordLevel"
		}
	}
	switch typ {
	case "WordPiece":
		var ids map[string]int
		if err := json.Unmarshal(head.Vocab, &ids); err != nil {
			return nil, "", fmt.Errorf("WordPiece vocab: %w", err)
		}
		unk, prefix, maxChars := "[UNK]", "##", 100
		if head.UnkToken != nil {
			unk = *head.UnkToken
		}
		if head.ContinuingSubwordPrefix != nil {
			prefix = *head.ContinuingSubwordPrefix
		}
		if head.MaxInputCharsPerWord != nil {
			maxChars = *head.MaxInputCharsPerWord
		}
		m, err := newWordPiece(ids, unk, prefix, maxChars)
		if err != nil {
			return nil, "", err
		}
		return m, typ, nil
	case "BPE":
		m, err := newBPE(raw)
		if err != nil {
			return nil, "", err
		}
		return m, typ, nil
	case "Unigram":
		m, err := newUnigram(raw)
		if err != nil {
			return nil, "", err
		}
		return m, typ, nil
	case "WordLevel":
		var ids map[string]int
		if err := json.Unmarshal(head.Vocab, &ids); err != nil {
			return nil, "", fmt.Errorf("WordLevel vocab: %w", err)
		}
		v, err := newVocab(ids)
		if err != nil {
			return nil, "", fmt.Errorf("WordLevel vocabulary: %w", err)
		}
		w := &wordLevel{vocab: v}
		if head.UnkToken != nil {
			w.unk = *head.UnkToken
			w.unkID, w.hasUnk = ids[w.unk]
		}
		return w, typ, nil
	}
	return nil, "", fmt.Errorf("model type %q is not supported", typ)
}

// tokenizerConfig is the part of tokenizer_config.json this package reads.
type tokenizerConfig struct {
	ModelMaxLength       *float64        `json:"model_max_length"`
	PaddingSide          string          `json:"padding_side"`
	TruncationSide       string          `json:"truncation_side"`
	DoLowerCase          *bool           `json:"do_lower_case"`
	StripAccents         *bool           `json:"strip_accents"`
	TokenizeChineseChars *bool           `json:"tokenize_chinese_chars"`
	PadToken             json.RawMessage `json:"pad_token"`
	ClsToken             json.RawMessage `json:"cls_token"`
	SepToken             json.RawMessage `json:"sep_token"`
	UnkToken             json.RawMessage `json:"unk_token"`
	MaskToken            json.RawMessage `json:"mask_token"`
}

// tokenString reads a special token written either as a string or as an
// object with a "content" field.
func tokenString(raw json.RawMessage) string {
	if isNull(raw) {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		Content string `json:"content"`
	}
	if json.Unmarshal(raw, &o) == nil {
		return o.Content
	}
	return ""
}

// modelConfig is the part of a model's config.json this package reads.
type modelConfig struct {
	ModelType             string            `json:"model_type"`
	MaxPositionEmbeddings int               `json:"max_position_embeddings"`
	VocabSize             int               `json:"vocab_size"`
	TypeVocabSize         int               `json:"type_vocab_size"`
	PadTokenID            *int              `json:"pad_token_id"`
	ID2Label              map[string]string `json:"id2label"`
	ProblemType           string            `json:"problem_type"`
}

// labels orders id2label by id; missing ids are named LABEL_<id>.
func (c *modelConfig) labels() ([]string, error) {
	if len(c.ID2Label) == 0 {
		return nil, nil
	}
	maxID := -1
	byID := make(map[int]string, len(c.ID2Label))
	for _, k := range sortedKeys(c.ID2Label) {
		id, err := strconv.Atoi(k)
		if err != nil || id < 0 || id > 1<<20 {
			return nil, fmt.Errorf("id2label key %q is not a label index", k)
		}
		byID[id] = c.ID2Label[k]
		maxID = max(maxID, id)
	}
	out := make([]string, maxID+1)
	for i := range out {
		if l, ok := byID[i]; ok {
			out[i] = l
		} else {
			out[i] = "LABEL_" + strconv.Itoa(i)
		}
	}
	return out, nil
}
