package tokenizer

import (
	"fmt"
	"sort"
	"unicode/utf8"
)

// token is a model output: an id, its vocabulary string and the character
// range [start, end) it covers in the word it came from.
type token struct {
	id         int
	value      string
	start, end int
}

// model turns one pre-tokenized word into tokens.
type model interface {
	tokenize(word []nchar, dst []token) ([]token, error)
	tokenToID(tok string) (int, bool)
	idToToken(id int) (string, bool)
	vocabSize() int
}

// vocab is a bidirectional token table.
type vocab struct {
	ids    map[string]int
	tokens []string // by id; "" where unused
}

func newVocab(ids map[string]int) (vocab, error) {
	maxID := -1
	for tok, id := range ids {
		if id < 0 {
			return vocab{}, fmt.Errorf("token %q has negative id %d", tok, id)
		}
		maxID = max(maxID, id)
	}
	if maxID > 1<<24 {
		return vocab{}, fmt.Errorf("token id %d is implausibly large", maxID)
	}
	tokens := make([]string, maxID+1)
	for tok, id := range ids {
		tokens[id] = tok
	}
	return vocab{ids: ids, tokens: tokens}, nil
}

func (v vocab) tokenToID(tok string) (int, bool) {
	id, ok := v.ids[tok]
	return id, ok
}

func (v vocab) idToToken(id int) (string, bool) {
	if id < 0 || id >= len(v.tokens) || v.tokens[id] == "" {
		return "", false
	}
	return v.tokens[id], true
}

func (v vocab) vocabSize() int { return len(v.ids) }

// wordPiece is a greedy longest-match-first WordPiece model, as in BERT.
type wordPiece struct {
	vocab
	unk      string
	unkID    int
	prefix   string
	maxChars int
}

func newWordPiece(ids map[string]int, unk, prefix string, maxChars int) (*wordPiece, error) {
	v, err := newVocab(ids)
	if err != nil {
		return nil, fmt.Errorf("wordpiece vocabulary: %w", err)
	}
	unkID, ok := ids[unk]
	if !ok {
		return nil, fmt.Errorf("wordpiece: unknown token %q is not in the vocabulary", unk)
	}
	if maxChars <= 0 {
		maxChars = 100
	}
	return &wordPiece{vocab: v, unk: unk, unkID: unkID, prefix: prefix, maxChars: maxChars}, nil
}

func (w *wordPiece) tokenize(word []nchar, dst []token) ([]token, error) {
	if len(word) == 0 {
		return dst, nil
	}
	if len(word) > w.maxChars {
		return append(dst, token{id: w.unkID, value: w.unk, start: 0, end: len(word)}), nil
	}
	// Encode the word as UTF-8 with a character boundary table.
	var stack [64]byte
	buf := stack[:0]
	var bstack [33]int
	bounds := bstack[:0] // byte offset of each character, then the total length
	for _, c := range word {
		bounds = append(bounds, len(buf))
		buf = utf8.AppendRune(buf, c.r)
	}
	bounds = append(bounds, len(buf))
	var kstack [80]byte
	key := kstack[:0]
	mark := len(dst)
	for start := 0; start < len(word); {
		end := len(word)
		found := false
		for ; end > start; end-- {
			key = key[:0]
			if start > 0 {
				key = append(key, w.prefix...)
			}
			key = append(key, buf[bounds[start]:bounds[end]]...)
			if id, ok := w.ids[string(key)]; ok {
				dst = append(dst, token{id: id, value: w.tokens[id], start: start, end: end})
				found = true
				break
			}
		}
		if !found {
			dst = append(dst[:mark], token{id: w.unkID, value: w.unk, start: 0, end: len(word)})
			return dst, nil
		}
		start = end
	}
	return dst, nil
}

// sortedKeys returns the keys of m in increasing order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
