package textfeat

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// Format names the featurizer.json format this package reads and writes.
const Format = "agate.textfeat/1"

// FileName is the featuriser specification's name in a model folder.
const FileName = "featurizer.json"

// Feature key prefixes: a key is one prefix byte followed by its text.
const (
	prefixWord    = 'w' // word n-gram: words joined by one space
	prefixChar    = 'c' // character n-gram within a word padded by spaces
	prefixLexicon = 'L' // the lexicon-hit count (no text)
)

// LexiconKey is the key VisitKeys reports for a lexicon hit; lexicon hits
// are counted in Features.Lexicon, not in the vocabulary.
const LexiconKey = "L"

// Spec is the featuriser's specification: normalisation, which n-grams
// become features, the lexicon and the vocabulary. Feature id i+1 is
// Vocabulary[i]; id 0 is padding.
type Spec struct {
	Format        string        `json:"format"`
	Normalization Normalization `json:"normalization"`
	// WordNgrams is the [min, max] length of word n-grams ([0, 0]: none).
	WordNgrams [2]int `json:"word_ngrams"`
	// MinWordRunes drops shorter words from word n-grams (character
	// n-grams still see them), as scikit-learn's default token pattern does.
	MinWordRunes int `json:"min_word_runes"`
	// CharNgrams is the [min, max] length of character n-grams taken inside
	// each word padded with a space on both sides ([0, 0]: none).
	CharNgrams [2]int `json:"char_ngrams"`
	// Lexicon holds normalised entries (words joined by one space); every
	// occurrence in a text adds one to Features.Lexicon.
	Lexicon []string `json:"lexicon,omitempty"`
	// Vocabulary lists the feature keys; a key's id is its index plus one.
	Vocabulary []string `json:"vocabulary"`
}

// Validate checks the specification's ranges.
func (s *Spec) Validate() error {
	if s.Format != Format {
		return fmt.Errorf("featurizer: format %q, want %q", s.Format, Format)
	}
	for _, r := range []struct {
		name string
		v    [2]int
	}{{"word_ngrams", s.WordNgrams}, {"char_ngrams", s.CharNgrams}} {
		if r.v[0] < 0 || r.v[1] < r.v[0] || r.v[1] > 8 || (r.v[0] == 0) != (r.v[1] == 0) {
			return fmt.Errorf("featurizer: %s %v is not a range [min, max] within 1..8 (or [0, 0])", r.name, r.v)
		}
	}
	if s.Normalization.CollapseRepeats < 0 {
		return fmt.Errorf("featurizer: collapse_repeats is %d, want 0 or more", s.Normalization.CollapseRepeats)
	}
	return nil
}

// ReadSpec reads a featurizer.json file.
func ReadSpec(path string) (*Spec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("featurizer: %w", err)
	}
	defer f.Close()
	s, err := DecodeSpec(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// DecodeSpec reads a specification from JSON.
func DecodeSpec(r io.Reader) (*Spec, error) {
	var s Spec
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("featurizer: decoding: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Encode writes the specification as JSON, one vocabulary key per line so
// that the file diffs well.
func (s *Spec) Encode(w io.Writer) error {
	vocab := s.Vocabulary
	head := *s
	head.Vocabulary = nil
	b, err := json.MarshalIndent(head, "", "  ")
	if err != nil {
		return err
	}
	// reopen the object to append the vocabulary array by hand
	b = b[:len(b)-2] // drop "\n}"
	if strings.HasSuffix(string(b), `"vocabulary": null`) {
		b = b[:len(b)-len(`"vocabulary": null`)]
	}
	var sb strings.Builder
	sb.Write(b)
	sb.WriteString("\"vocabulary\": [")
	for i, k := range vocab {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("\n    ")
		kb, err := json.Marshal(k)
		if err != nil {
			return err
		}
		sb.Write(kb)
	}
	sb.WriteString("\n  ]\n}\n")
	_, err = io.WriteString(w, sb.String())
	return err
}

// Occurrence is one feature occurrence in a text: its kind (the key's
// prefix byte), its text (the key without the prefix) and the words
// (indexes into the text's words, first to last) it was taken from. Text
// is only valid during the callback.
type Occurrence struct {
	Kind        byte
	Text        []byte
	First, Last int
}

// AppendKey appends the occurrence's vocabulary key (kind then text).
func (o Occurrence) AppendKey(dst []byte) []byte {
	return append(append(dst, o.Kind), o.Text...)
}

// Lexicon reports whether the occurrence is a lexicon hit.
func (o Occurrence) Lexicon() bool { return o.Kind == prefixLexicon }

// scratch holds a featurisation's reusable buffers.
type scratch struct {
	words []Word
	key   []byte
	runes []int // byte offsets of a padded word's code points
	kept  []int // words long enough for word n-grams
	ids   idCounter
	lex   []byte // lexicon phrase being matched
	norm  normBuffers
}

func (s *Spec) visit(words []Word, sc *scratch, lx *lexicon, fn func(Occurrence)) {
	key := sc.key[:0]
	if lo, hi := s.WordNgrams[0], s.WordNgrams[1]; hi > 0 {
		// word n-grams over the words long enough to count
		kept := sc.kept[:0]
		for i := range words {
			if utf8.RuneCountInString(words[i].Norm) >= s.MinWordRunes {
				kept = append(kept, i)
			}
		}
		for a := range kept {
			for n := lo; n <= hi && a+n <= len(kept); n++ {
				key = key[:0]
				for k := a; k < a+n; k++ {
					if k > a {
						key = append(key, ' ')
					}
					key = append(key, words[kept[k]].Norm...)
				}
				fn(Occurrence{Kind: prefixWord, Text: key, First: kept[a], Last: kept[a+n-1]})
			}
		}
		sc.kept = kept
	}
	if lo, hi := s.CharNgrams[0], s.CharNgrams[1]; hi > 0 {
		for i := range words {
			key = append(key[:0], ' ')
			key = append(key, words[i].Norm...)
			key = append(key, ' ')
			offs := sc.runes[:0]
			for k := range string(key) {
				offs = append(offs, k)
			}
			nr := len(offs)
			offs = append(offs, len(key))
			sc.runes = offs
			// the n-grams are sub-slices of the padded word
			for n := lo; n <= hi; n++ {
				if nr <= n {
					fn(Occurrence{Kind: prefixChar, Text: key, First: i, Last: i})
					break
				}
				for a := 0; a+n <= nr; a++ {
					fn(Occurrence{Kind: prefixChar, Text: key[offs[a]:offs[a+n]], First: i, Last: i})
				}
			}
		}
	}
	sc.key = key
	if lx != nil && len(lx.set) > 0 {
		sc.lex = lx.visit(words, sc.lex, fn)
	}
}

// Featurizer maps texts to feature ids and counts with a Spec. It is safe
// for concurrent use.
type Featurizer struct {
	spec  *Spec
	vocab *vocabTable
	lex   *lexicon
	pool  sync.Pool
}

// New builds a featuriser from a validated specification.
func New(s *Spec) (*Featurizer, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	vocab, err := newVocabTable(s.Vocabulary)
	if err != nil {
		return nil, err
	}
	f := &Featurizer{spec: s, vocab: vocab}
	f.lex = newLexicon(s.Lexicon)
	f.pool.New = func() any { return &scratch{} }
	return f, nil
}

// Spec returns the featuriser's specification (not to be modified).
func (f *Featurizer) Spec() *Spec { return f.spec }

// Size is the number of feature ids, padding included (vocabulary + 1).
func (f *Featurizer) Size() int { return len(f.spec.Vocabulary) + 1 }

// ID returns the id of a feature key, 0 when it is not in the vocabulary.
func (f *Featurizer) ID(key string) int32 {
	if key == "" {
		return 0
	}
	return f.vocab.lookup(key[0], []byte(key[1:]))
}

// Words splits and normalises text as the featuriser does.
func (f *Featurizer) Words(text string) []Word { return f.spec.Normalization.Words(text) }

// Features are one text's features: distinct vocabulary ids in increasing
// order, how often each occurs, and how many lexicon entries the text
// holds.
type Features struct {
	IDs     []int64
	Counts  []float32
	Lexicon float32
}

// Len is the number of distinct features.
func (fs Features) Len() int { return len(fs.IDs) }

// VisitKeys calls fn for every feature occurrence of text, in or out of
// the vocabulary (a trainer builds its vocabulary with it). The text bytes
// are only valid during the call.
func (f *Featurizer) VisitKeys(text string, fn func(Occurrence)) {
	sc := f.pool.Get().(*scratch)
	sc.words = f.spec.Normalization.appendWords(sc.words[:0], text, &sc.norm)
	f.spec.visit(sc.words, sc, f.lex, fn)
	clear(sc.words)
	f.pool.Put(sc)
}

// Featurize returns the features of text, appended to dst's slices
// (reset to length 0 first).
func (f *Featurizer) Featurize(text string, dst Features) Features {
	sc := f.pool.Get().(*scratch)
	sc.words = f.spec.Normalization.appendWords(sc.words[:0], text, &sc.norm)
	ids := &sc.ids
	ids.reset()
	dst.Lexicon = 0
	f.spec.visit(sc.words, sc, f.lex, func(o Occurrence) {
		if o.Kind == prefixLexicon {
			dst.Lexicon++
		} else if id := f.vocab.lookup(o.Kind, o.Text); id != 0 {
			ids.add(id)
		}
	})
	dst = ids.appendTo(dst)
	clear(sc.words)
	f.pool.Put(sc)
	return dst
}

// WordOccurrence is a vocabulary feature (or, with ID LexiconID, a
// lexicon entry) found in a text with the words it came from.
type WordOccurrence struct {
	ID          int32
	First, Last int
}

// LexiconID marks a lexicon hit among occurrences.
const LexiconID = -1

// Occurrences returns the text's words and every occurrence of a
// vocabulary feature in it, for attributions.
func (f *Featurizer) Occurrences(text string) ([]Word, []WordOccurrence) {
	words := f.spec.Normalization.Words(text)
	var occ []WordOccurrence
	sc := &scratch{}
	f.spec.visit(words, sc, f.lex, func(o Occurrence) {
		if o.Kind == prefixLexicon {
			occ = append(occ, WordOccurrence{ID: LexiconID, First: o.First, Last: o.Last})
		} else if id := f.vocab.lookup(o.Kind, o.Text); id != 0 {
			occ = append(occ, WordOccurrence{ID: id, First: o.First, Last: o.Last})
		}
	})
	return words, occ
}

// lexicon is a Spec's lexicon prepared for matching.
type lexicon struct {
	set      map[string]bool
	prefixes map[string]bool // word prefixes of the multi-word entries
	maxWords int             // most words in an entry
}

func newLexicon(entries []string) *lexicon {
	lx := &lexicon{set: make(map[string]bool, len(entries)), prefixes: map[string]bool{}}
	for _, e := range entries {
		lx.set[e] = true
		lx.maxWords = max(lx.maxWords, strings.Count(e, " ")+1)
		for i := range len(e) {
			if e[i] == ' ' {
				lx.prefixes[e[:i]] = true
			}
		}
	}
	return lx
}

// visit reports one LexiconKey occurrence per entry found as consecutive
// words; buf is scratch space, returned for reuse.
func (lx *lexicon) visit(words []Word, buf []byte, fn func(Occurrence)) []byte {
	for a := range words {
		b := buf[:0]
		for n := 1; n <= lx.maxWords && a+n <= len(words); n++ {
			if n > 1 {
				b = append(b, ' ')
			}
			b = append(b, words[a+n-1].Norm...)
			if lx.set[string(b)] {
				fn(Occurrence{Kind: prefixLexicon, First: a, Last: a + n - 1})
			}
			if !lx.prefixes[string(b)] {
				break // no longer entry starts with these words
			}
		}
		buf = b
	}
	return buf
}

// NormalizeLexicon normalises raw lexicon entries with the specification's
// normalisation, joins each entry's words with one space, and returns them
// sorted without duplicates (entries with no word are dropped).
func (s *Spec) NormalizeLexicon(raw []string) []string {
	var out []string
	for _, e := range raw {
		ws := s.Normalization.Words(e)
		if len(ws) == 0 {
			continue
		}
		parts := make([]string, len(ws))
		for i, w := range ws {
			parts[i] = w.Norm
		}
		out = append(out, strings.Join(parts, " "))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
