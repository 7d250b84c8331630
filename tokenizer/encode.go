package tokenizer

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"unicode"
	"unicode/utf8"
)

// ErrInternal marks an unexpected failure (a recovered panic) while encoding.
var ErrInternal = errors.New("tokenizer: internal error")

// Offset is a half-open range [Start, End) of the input text.
type Offset struct {
	Start, End int
}

// Encoding is the tokenization of one text (or text pair), without padding.
// All slices have one element per token.
type Encoding struct {
	// IDs are the token ids, special tokens included.
	IDs []int
	// TypeIDs are the segment ids (token_type_ids): 0 for the first text,
	// 1 for the second of a pair (per the post-processor template).
	TypeIDs []int
	// Tokens are the token strings, as Hugging Face gives them: the
	// vocabulary string of each id, except that an unknown piece of a
	// Unigram model keeps its text ("Ç" where the id is <unk>'s).
	Tokens []string
	// Offsets are byte ranges in the text the token came from (the pair text
	// for tokens of the second sequence); {0, 0} for added special tokens.
	Offsets []Offset
	// RuneOffsets are the same ranges counted in characters (runes), as
	// Python's str indexes them.
	RuneOffsets []Offset
	// SpecialTokensMask is 1 for special tokens, 0 otherwise.
	SpecialTokensMask []int
	// AttentionMask is 1 for every token (padding happens in Batch).
	AttentionMask []int
	// WordIDs is the index of the pre-tokenized word of each token in its
	// sequence, -1 for special tokens added by the post-processor.
	WordIDs []int
	// SequenceIDs is 0 or 1 for tokens of the first or second text, -1 for
	// special tokens added by the post-processor.
	SequenceIDs []int
	// Truncated reports whether tokens were dropped to fit the maximum length.
	Truncated bool
}

// Len is the number of tokens.
func (e *Encoding) Len() int { return len(e.IDs) }

// Options control EncodeBatch.
type Options struct {
	// MaxLength is the maximum number of tokens per row, special tokens
	// included. 0 means the tokenizer's MaxLength; a negative value
	// disables truncation.
	MaxLength int
	// PadToMaxLength pads every row to MaxLength instead of to the longest
	// row of the batch.
	PadToMaxLength bool
	// PadToMultipleOf, when positive, rounds the padded length up to a
	// multiple of it.
	PadToMultipleOf int
	// Pairs, when not nil, holds the second text of each pair (text_pair);
	// it must have the same length as texts.
	Pairs []string
	// NoSpecialTokens leaves out the post-processor's special tokens
	// ([CLS], [SEP], <s>...).
	NoSpecialTokens bool
}

// Batch is a padded batch, ready for a model's input tensors.
type Batch struct {
	// Encodings are the unpadded encodings, one per text.
	Encodings []Encoding
	// Size is the number of rows; SeqLen the padded length of each row.
	Size, SeqLen int
	// InputIDs, AttentionMask and TokenTypeIDs are row-major [Size, SeqLen]
	// matrices: input_ids, attention_mask (1 for tokens, 0 for padding) and
	// token_type_ids.
	InputIDs, AttentionMask, TokenTypeIDs []int64
}

// Shape returns the tensor shape of the batch's matrices: [Size, SeqLen].
func (b *Batch) Shape() []int64 { return []int64{int64(b.Size), int64(b.SeqLen)} }

// Row returns row i of the three matrices (sharing their memory).
func (b *Batch) Row(i int) (inputIDs, attentionMask, tokenTypeIDs []int64) {
	lo, hi := i*b.SeqLen, (i+1)*b.SeqLen
	return b.InputIDs[lo:hi], b.AttentionMask[lo:hi], b.TokenTypeIDs[lo:hi]
}

// Encode tokenizes text with special tokens, truncated to MaxLength.
func (t *Tokenizer) Encode(text string) (Encoding, error) {
	return t.encode(text, nil, Options{})
}

// EncodePair tokenizes a text pair (text, text_pair) with special tokens,
// truncated to MaxLength, longest sequence first.
func (t *Tokenizer) EncodePair(text, pair string) (Encoding, error) {
	return t.encode(text, &pair, Options{})
}

// EncodeBatch tokenizes texts and pads them into a Batch. The context is
// checked between texts.
func (t *Tokenizer) EncodeBatch(ctx context.Context, texts []string, opts Options) (Batch, error) {
	if opts.Pairs != nil && len(opts.Pairs) != len(texts) {
		return Batch{}, fmt.Errorf("tokenizer: %d pair texts for %d texts", len(opts.Pairs), len(texts))
	}
	b := Batch{Encodings: make([]Encoding, len(texts)), Size: len(texts)}
	for i, text := range texts {
		if err := ctx.Err(); err != nil {
			return Batch{}, fmt.Errorf("tokenizer: batch interrupted at text %d: %w", i, err)
		}
		var pair *string
		if opts.Pairs != nil {
			pair = &opts.Pairs[i]
		}
		e, err := t.encode(text, pair, opts)
		if err != nil {
			return Batch{}, fmt.Errorf("text %d: %w", i, err)
		}
		b.Encodings[i] = e
		b.SeqLen = max(b.SeqLen, len(e.IDs))
	}
	maxLen := t.limit(opts)
	if opts.PadToMaxLength && maxLen > 0 {
		b.SeqLen = max(b.SeqLen, maxLen)
	}
	if m := opts.PadToMultipleOf; m > 0 && b.SeqLen%m != 0 {
		b.SeqLen += m - b.SeqLen%m
	}
	n := b.Size * b.SeqLen
	m := make([]int64, 3*n)
	b.InputIDs, b.AttentionMask, b.TokenTypeIDs = m[:n:n], m[n:2*n:2*n], m[2*n:]
	for i, e := range b.Encodings {
		ids, mask, types := b.Row(i)
		pad := b.SeqLen - len(e.IDs)
		off := 0
		if t.padLeft {
			off = pad
			for j := 0; j < pad; j++ {
				ids[j], types[j] = int64(t.padID), int64(t.padTypeID)
			}
		} else {
			for j := len(e.IDs); j < b.SeqLen; j++ {
				ids[j], types[j] = int64(t.padID), int64(t.padTypeID)
			}
		}
		for j, id := range e.IDs {
			ids[off+j] = int64(id)
			mask[off+j] = 1
			types[off+j] = int64(e.TypeIDs[j])
		}
	}
	return b, nil
}

// limit is the effective maximum length for opts (0: none).
func (t *Tokenizer) limit(opts Options) int {
	switch {
	case opts.MaxLength < 0:
		return 0
	case opts.MaxLength > 0:
		return opts.MaxLength
	}
	return t.maxLength
}

// sequence is the tokenization of one text before post-processing.
type sequence struct {
	ids     []int
	tokens  []string
	offsets []Offset
	words   []int
	special []bool
}

func (s *sequence) len() int { return len(s.ids) }

func (s *sequence) add(id int, tok string, start, end, word int, special bool) {
	s.ids = append(s.ids, id)
	s.tokens = append(s.tokens, tok)
	s.offsets = append(s.offsets, Offset{start, end})
	s.words = append(s.words, word)
	s.special = append(s.special, special)
}

// keep truncates s to n tokens, dropping from the end or, when left is set,
// from the start.
func (s *sequence) keep(n int, left bool) {
	if n >= s.len() {
		return
	}
	if left {
		d := s.len() - n
		s.ids, s.tokens, s.offsets, s.words, s.special = s.ids[d:], s.tokens[d:], s.offsets[d:], s.words[d:], s.special[d:]
		return
	}
	s.ids, s.tokens, s.offsets, s.words, s.special = s.ids[:n], s.tokens[:n], s.offsets[:n], s.words[:n], s.special[:n]
}

func (t *Tokenizer) encode(text string, pair *string, opts Options) (enc Encoding, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: panic while encoding %q: %v\n%s", ErrInternal, text, r, debug.Stack())
		}
	}()
	a, err := t.encodeSequence(text)
	if err != nil {
		return Encoding{}, fmt.Errorf("tokenizer: encode: %w", err)
	}
	var b *sequence
	if pair != nil {
		s, err := t.encodeSequence(*pair)
		if err != nil {
			return Encoding{}, fmt.Errorf("tokenizer: encode pair: %w", err)
		}
		b = &s
	}
	truncated := false
	if limit := t.limit(opts); limit > 0 {
		if !opts.NoSpecialTokens {
			limit -= t.post.specials(b != nil)
		}
		limit = max(limit, 0)
		truncated = t.truncate(&a, b, limit)
	}
	enc = t.postProcess(&a, b, !opts.NoSpecialTokens)
	enc.Truncated = truncated
	enc.RuneOffsets = make([]Offset, len(enc.Offsets))
	ra := newRuneIndex(text)
	var rb runeIndex
	if pair != nil {
		rb = newRuneIndex(*pair)
	}
	for i, o := range enc.Offsets {
		ri := ra
		if enc.SequenceIDs[i] == 1 {
			ri = rb
		}
		enc.RuneOffsets[i] = Offset{ri.at(o.Start), ri.at(o.End)}
	}
	if t.post.trimOffsets {
		t.post.trim(&enc)
	}
	return enc, nil
}

// truncate fits a (and b) into limit tokens, longest first, as Hugging
// Face's LongestFirst strategy. It reports whether tokens were dropped.
func (t *Tokenizer) truncate(a, b *sequence, limit int) bool {
	if b == nil {
		if a.len() <= limit {
			return false
		}
		a.keep(limit, t.truncLeft)
		return true
	}
	n1, n2 := a.len(), b.len()
	if n1+n2 <= limit {
		return false
	}
	// Only the longer sequence is cut when the shorter one fits in half
	// the limit; otherwise both get half (the longer one the odd token).
	short := min(n1, n2)
	keepShort, keepLong := short, limit-short
	if 2*short > limit {
		keepShort = limit / 2
		keepLong = keepShort + limit%2
	}
	if n1 > n2 {
		a.keep(keepLong, t.truncLeft)
		b.keep(keepShort, t.truncLeft)
	} else {
		a.keep(keepShort, t.truncLeft)
		b.keep(keepLong, t.truncLeft)
	}
	return true
}

// postProcess applies the template and builds the Encoding.
func (t *Tokenizer) postProcess(a, b *sequence, special bool) Encoding {
	var tmpl []templatePiece
	switch {
	case !special && b == nil:
		tmpl = []templatePiece{{seq: 0}}
	case !special:
		tmpl = []templatePiece{{seq: 0}, {seq: 1, typeID: 1}}
	case b == nil:
		tmpl = t.post.single
	default:
		tmpl = t.post.pair
	}
	n := a.len() + t.post.specials(b != nil)
	if b != nil {
		n += b.len()
	}
	// The six int slices share one allocation; each is capped at n so that
	// appending to one never writes into another.
	ints := make([]int, 6*n)
	part := func(i int) []int { return ints[i*n : i*n : (i+1)*n] }
	e := Encoding{
		IDs: part(0), TypeIDs: part(1), Tokens: make([]string, 0, n),
		Offsets: make([]Offset, 0, n), SpecialTokensMask: part(2), AttentionMask: part(3),
		WordIDs: part(4), SequenceIDs: part(5),
	}
	for _, p := range tmpl {
		if p.seq < 0 {
			for k, id := range p.ids {
				e.IDs = append(e.IDs, id)
				e.TypeIDs = append(e.TypeIDs, p.typeID)
				e.Tokens = append(e.Tokens, p.tokens[k])
				e.Offsets = append(e.Offsets, Offset{})
				e.SpecialTokensMask = append(e.SpecialTokensMask, 1)
				e.AttentionMask = append(e.AttentionMask, 1)
				e.WordIDs = append(e.WordIDs, -1)
				e.SequenceIDs = append(e.SequenceIDs, -1)
			}
			continue
		}
		s := a
		if p.seq == 1 {
			if b == nil {
				continue
			}
			s = b
		}
		for k, id := range s.ids {
			e.IDs = append(e.IDs, id)
			e.TypeIDs = append(e.TypeIDs, p.typeID)
			e.Tokens = append(e.Tokens, s.tokens[k])
			e.Offsets = append(e.Offsets, s.offsets[k])
			sp := 0
			if s.special[k] {
				sp = 1
			}
			e.SpecialTokensMask = append(e.SpecialTokensMask, sp)
			e.AttentionMask = append(e.AttentionMask, 1)
			e.WordIDs = append(e.WordIDs, s.words[k])
			e.SequenceIDs = append(e.SequenceIDs, p.seq)
		}
	}
	return e
}

// encodeSequence runs added-token splitting, normalization,
// pre-tokenization and the model on one text.
func (t *Tokenizer) encodeSequence(text string) (sequence, error) {
	var s sequence
	if n := len(text)/3 + 4; n > 0 {
		s.ids, s.tokens, s.offsets = make([]int, 0, n), make([]string, 0, n), make([]Offset, 0, n)
		s.words, s.special = make([]int, 0, n), make([]bool, 0, n)
	}
	word := 0
	var chars []nchar
	var words [][]nchar
	var toks []token
	for _, sg := range t.addedRaw.split(text) {
		if sg.tok != nil {
			s.add(sg.tok.id, sg.tok.content, sg.start, sg.end, word, sg.tok.special)
			word++
			continue
		}
		chars = toNChars(text, sg.start, sg.end, chars[:0])
		cs := chars
		if t.normalizer != nil {
			cs = t.normalizer.normalize(cs)
		}
		for _, part := range t.splitNormalizedAdded(cs) {
			if part.tok != nil {
				start, end := spanOf(part.chars)
				s.add(part.tok.id, part.tok.content, int(start), int(end), word, part.tok.special)
				word++
				continue
			}
			words = words[:0]
			if t.pre != nil {
				words = t.pre.split(part.chars, words)
			} else if len(part.chars) > 0 {
				words = append(words, part.chars)
			}
			for _, w := range words {
				var err error
				toks, err = t.model.tokenize(w, toks[:0])
				if err != nil {
					return sequence{}, err
				}
				for _, tk := range toks {
					if tk.start < 0 || tk.end > len(w) || tk.start >= tk.end {
						return sequence{}, fmt.Errorf("model returned token %q with range [%d,%d) in a %d-character word", tk.value, tk.start, tk.end, len(w))
					}
					start, end := spanOf(w[tk.start:tk.end])
					s.add(tk.id, tk.value, int(start), int(end), word, false)
				}
				word++
			}
		}
	}
	return s, nil
}

// trim narrows the offsets of byte-level tokens to leave out the
// spaces they start or end with, as Hugging Face's ByteLevel and
// RobertaProcessing post-processors (trim_offsets) do: the spaces are
// counted in the token string (Ġ, the byte-level space, or whitespace) and
// taken off the offsets one unit each, in bytes for Offsets (as its Rust
// encode does) and in characters for RuneOffsets (as its Python and Node
// bindings do, which convert to characters before post-processing). The
// space of a sequence's first token is kept when the processor adds a
// prefix space.
func (p *postProcessor) trim(e *Encoding) {
	var seen [2]int // tokens of each sequence so far
	for k, tok := range e.Tokens {
		seq := e.SequenceIDs[k]
		if seq < 0 {
			continue // added by the template, after trimming
		}
		i := seen[seq]
		seen[seq]++
		lead, trail := countSpaces(tok, false), countSpaces(tok, true)
		if lead == 0 && trail == 0 {
			continue
		}
		for _, o := range []*Offset{&e.Offsets[k], &e.RuneOffsets[k]} {
			l := lead
			if l > 0 {
				if (i == 0 || o.Start == 0) && p.prefixSpace && l == 1 {
					l = 0
				}
				o.Start = min(o.Start+l, o.End)
			}
			if trail > 0 && o.End >= trail {
				o.End = max(o.End-trail, o.Start)
			}
		}
	}
}

// countSpaces counts the spaces at the start (or, with fromEnd, the end) of
// a byte-level token.
func countSpaces(tok string, fromEnd bool) int {
	n := 0
	for len(tok) > 0 {
		var r rune
		var size int
		if fromEnd {
			r, size = utf8.DecodeLastRuneInString(tok)
			tok = tok[:len(tok)-size]
		} else {
			r, size = utf8.DecodeRuneInString(tok)
			tok = tok[size:]
		}
		if r != 'Ġ' && !unicode.IsSpace(r) {
			break
		}
		n++
	}
	return n
}

// normPart is a piece of normalized text, or an added token found in it.
type normPart struct {
	chars []nchar
	tok   *addedToken
}

func (t *Tokenizer) splitNormalizedAdded(cs []nchar) []normPart {
	if t.addedNorm == nil {
		return []normPart{{chars: cs}}
	}
	s := ncharString(cs)
	segs := t.addedNorm.split(s)
	if len(segs) == 1 && segs[0].tok == nil {
		return []normPart{{chars: cs}}
	}
	idx := make([]int, len(s)+1)
	ci := 0
	for i := range s {
		idx[i] = ci
		ci++
	}
	idx[len(s)] = ci
	out := make([]normPart, 0, len(segs))
	for _, sg := range segs {
		out = append(out, normPart{chars: cs[idx[sg.start]:idx[sg.end]], tok: sg.tok})
	}
	return out
}

// runeIndex converts byte offsets of a text to rune offsets.
type runeIndex struct {
	ascii bool
	idx   []int32 // rune index of each byte offset, len(text)+1 entries
}

func newRuneIndex(text string) runeIndex {
	ascii := true
	for i := 0; i < len(text); i++ {
		if text[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return runeIndex{ascii: true}
	}
	idx := make([]int32, len(text)+1)
	n := int32(0)
	for i := 0; i < len(text); {
		_, size := utf8.DecodeRuneInString(text[i:])
		for k := 0; k < size; k++ {
			idx[i+k] = n
		}
		i += size
		n++
	}
	idx[len(text)] = n
	return runeIndex{idx: idx}
}

func (r runeIndex) at(off int) int {
	if r.ascii || off < 0 || off >= len(r.idx) {
		return off
	}
	return int(r.idx[off])
}
