package tokenizer

import (
	"container/heap"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// wordLevel maps whole words to ids.
type wordLevel struct {
	vocab
	unk    string
	unkID  int
	hasUnk bool
}

func (w *wordLevel) tokenize(word []nchar, dst []token) ([]token, error) {
	if len(word) == 0 {
		return dst, nil
	}
	s := ncharString(word)
	if id, ok := w.ids[s]; ok {
		return append(dst, token{id: id, value: s, start: 0, end: len(word)}), nil
	}
	if !w.hasUnk {
		return dst, fmt.Errorf("word %q is not in the vocabulary and there is no unknown token", s)
	}
	return append(dst, token{id: w.unkID, value: w.unk, start: 0, end: len(word)}), nil
}

// bpe is a byte-pair-encoding model: symbols start as single characters and
// the adjacent pair with the best (lowest) merge rank is merged until none
// applies.
type bpe struct {
	vocab
	merges       map[[2]int]bpeMerge
	unk          string
	unkID        int
	hasUnk       bool
	prefix       string // continuing_subword_prefix
	suffix       string // end_of_word_suffix
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
}

type bpeMerge struct{ rank, id int }

func newBPE(raw json.RawMessage) (*bpe, error) {
	var c struct {
		Vocab                   map[string]int    `json:"vocab"`
		Merges                  []json.RawMessage `json:"merges"`
		UnkToken                *string           `json:"unk_token"`
		ContinuingSubwordPrefix *string           `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string           `json:"end_of_word_suffix"`
		FuseUnk                 bool              `json:"fuse_unk"`
		ByteFallback            bool              `json:"byte_fallback"`
		IgnoreMerges            bool              `json:"ignore_merges"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("BPE model: %w", err)
	}
	v, err := newVocab(c.Vocab)
	if err != nil {
		return nil, fmt.Errorf("BPE vocabulary: %w", err)
	}
	b := &bpe{vocab: v, merges: make(map[[2]int]bpeMerge, len(c.Merges)), fuseUnk: c.FuseUnk,
		byteFallback: c.ByteFallback, ignoreMerges: c.IgnoreMerges}
	if c.UnkToken != nil {
		b.unk = *c.UnkToken
		b.unkID, b.hasUnk = c.Vocab[b.unk]
	}
	if c.ContinuingSubwordPrefix != nil {
		b.prefix = *c.ContinuingSubwordPrefix
	}
	if c.EndOfWordSuffix != nil {
		b.suffix = *c.EndOfWordSuffix
	}
	for rank, m := range c.Merges {
		var left, right string
		var pair []string
		if err := json.Unmarshal(m, &pair); err == nil {
			if len(pair) != 2 {
				return nil, fmt.Errorf("BPE merge %d has %d parts", rank, len(pair))
			}
			left, right = pair[0], pair[1]
		} else {
			var s string
			if err := json.Unmarshal(m, &s); err != nil {
				return nil, fmt.Errorf("BPE merge %d: %w", rank, err)
			}
			var ok bool
			left, right, ok = strings.Cut(s, " ")
			if !ok {
				return nil, fmt.Errorf("BPE merge %d %q is not two space-separated symbols", rank, s)
			}
		}
		l, ok1 := c.Vocab[left]
		r, ok2 := c.Vocab[right]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("BPE merge %d (%q, %q) uses a symbol missing from the vocabulary", rank, left, right)
		}
		merged := left + strings.TrimPrefix(right, b.prefix)
		id, ok := c.Vocab[merged]
		if !ok {
			return nil, fmt.Errorf("BPE merge %d: result %q is not in the vocabulary", rank, merged)
		}
		if _, dup := b.merges[[2]int{l, r}]; !dup {
			b.merges[[2]int{l, r}] = bpeMerge{rank: rank, id: id}
		}
	}
	return b, nil
}

// bpeSymbol is a symbol during merging: an id and its character range.
type bpeSymbol struct {
	id         int
	start, end int
}

func (b *bpe) tokenize(word []nchar, dst []token) ([]token, error) {
	if len(word) == 0 {
		return dst, nil
	}
	text := ncharString(word)
	if b.ignoreMerges {
		if id, ok := b.ids[text]; ok {
			return append(dst, token{id: id, value: text, start: 0, end: len(word)}), nil
		}
	}
	syms := make([]bpeSymbol, 0, len(word))
	var key []byte
	var buf [4]byte
	for i, c := range word {
		key = key[:0]
		if i > 0 {
			key = append(key, b.prefix...)
		}
		key = utf8.AppendRune(key, c.r)
		if i == len(word)-1 {
			key = append(key, b.suffix...)
		}
		if id, ok := b.ids[string(key)]; ok {
			syms = append(syms, bpeSymbol{id, i, i + 1})
			continue
		}
		if b.byteFallback {
			n := utf8.EncodeRune(buf[:], c.r)
			all := true
			var fb []int
			for _, x := range buf[:n] {
				id, ok := b.ids[fmt.Sprintf("<0x%02X>", x)]
				if !ok {
					all = false
					break
				}
				fb = append(fb, id)
			}
			if all {
				for _, id := range fb {
					syms = append(syms, bpeSymbol{id, i, i + 1})
				}
				continue
			}
		}
		if !b.hasUnk {
			continue // Hugging Face drops characters it cannot represent
		}
		if n := len(syms); b.fuseUnk && n > 0 && syms[n-1].id == b.unkID && syms[n-1].end == i {
			syms[n-1].end = i + 1
			continue
		}
		syms = append(syms, bpeSymbol{b.unkID, i, i + 1})
	}
	syms = b.merge(syms)
	for _, s := range syms {
		dst = append(dst, token{id: s.id, value: b.tokens[s.id], start: s.start, end: s.end})
	}
	return dst, nil
}

// unigram is a SentencePiece unigram model: the segmentation with the best
// total log-probability, found with the Viterbi algorithm.
type unigram struct {
	vocab
	scores       []float64 // by id
	unkID        int
	hasUnk       bool
	unkScore     float64
	maxPieceLen  int // in characters
	byteFallback bool
	fuseUnk      bool
}

func newUnigram(raw json.RawMessage) (*unigram, error) {
	var c struct {
		UnkID        *int              `json:"unk_id"`
		Vocab        []json.RawMessage `json:"vocab"`
		ByteFallback bool              `json:"byte_fallback"`
		FuseUnk      *bool             `json:"fuse_unk"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("Unigram model: %w", err)
	}
	u := &unigram{scores: make([]float64, len(c.Vocab)), byteFallback: c.ByteFallback, fuseUnk: true}
	if c.FuseUnk != nil {
		u.fuseUnk = *c.FuseUnk
	}
	ids := make(map[string]int, len(c.Vocab))
	minScore := math.Inf(1)
	for i, e := range c.Vocab {
		var pair [2]json.RawMessage
		if err := json.Unmarshal(e, &pair); err != nil {
			return nil, fmt.Errorf("Unigram vocabulary entry %d: %w", i, err)
		}
		var piece string
		var score float64
		if err := json.Unmarshal(pair[0], &piece); err != nil {
			return nil, fmt.Errorf("Unigram vocabulary entry %d piece: %w", i, err)
		}
		if err := json.Unmarshal(pair[1], &score); err != nil {
			return nil, fmt.Errorf("Unigram vocabulary entry %d score: %w", i, err)
		}
		if _, dup := ids[piece]; !dup {
			ids[piece] = i
		}
		u.scores[i] = score
		minScore = min(minScore, score)
		u.maxPieceLen = max(u.maxPieceLen, utf8.RuneCountInString(piece))
	}
	v, err := newVocab(ids)
	if err != nil {
		return nil, fmt.Errorf("Unigram vocabulary: %w", err)
	}
	u.vocab = v
	if c.UnkID != nil {
		if *c.UnkID < 0 || *c.UnkID >= len(c.Vocab) {
			return nil, fmt.Errorf("Unigram unk_id %d is outside the vocabulary", *c.UnkID)
		}
		u.unkID, u.hasUnk = *c.UnkID, true
	}
	u.unkScore = minScore - 10
	return u, nil
}

func (u *unigram) tokenize(word []nchar, dst []token) ([]token, error) {
	n := len(word)
	if n == 0 {
		return dst, nil
	}
	text := ncharString(word)
	bounds := make([]int, n+1) // byte offset of each character in text
	k := 0
	for i := range text {
		bounds[k] = i
		k++
	}
	bounds[n] = len(text)
	type node struct {
		score float64
		from  int // start character of the best piece ending here; -1 if none
		id    int // -1 for unknown
	}
	best := make([]node, n+1)
	for i := 1; i <= n; i++ {
		best[i].from = -1
	}
	for start := 0; start < n; start++ {
		if start > 0 && best[start].from < 0 {
			continue
		}
		base := best[start].score
		single := false
		for l := 1; l <= u.maxPieceLen && start+l <= n; l++ {
			id, ok := u.ids[text[bounds[start]:bounds[start+l]]]
			if !ok {
				continue
			}
			if l == 1 {
				single = true
			}
			end := start + l
			sc := base + u.scores[id]
			if best[end].from < 0 || sc > best[end].score {
				best[end] = node{score: sc, from: start, id: id}
			}
		}
		if !single {
			end := start + 1
			sc := base + u.unkScore
			if best[end].from < 0 || sc > best[end].score {
				best[end] = node{score: sc, from: start, id: -1}
			}
		}
	}
	// Walk back, then emit in order.
	var rev []token
	for end := n; end > 0; {
		nd := best[end]
		rev = append(rev, token{id: nd.id, start: nd.from, end: end})
		end = nd.from
	}
	mark := len(dst)
	for i := len(rev) - 1; i >= 0; i-- {
		t := rev[i]
		if t.id < 0 && u.fuseUnk {
			if m := len(dst); m > mark && dst[m-1].id < 0 && dst[m-1].end == t.start {
				dst[m-1].end = t.end
				continue
			}
		}
		dst = append(dst, t)
	}
	// Resolve unknown pieces: byte fallback or the unknown token.
	out := dst[:mark]
	tail := append([]token(nil), dst[mark:]...)
	for _, t := range tail {
		if t.id >= 0 {
			t.value = u.tokens[t.id]
			out = append(out, t)
			continue
		}
		piece := text[bounds[t.start]:bounds[t.end]]
		if u.byteFallback {
			var fb []token
			ok := true
			for i := 0; i < len(piece); i++ {
				v := fmt.Sprintf("<0x%02X>", piece[i])
				id, found := u.ids[v]
				if !found {
					ok = false
					break
				}
				fb = append(fb, token{id: id, value: v, start: t.start, end: t.end})
			}
			if ok {
				out = append(out, fb...)
				continue
			}
		}
		if !u.hasUnk {
			return dst[:mark], fmt.Errorf("unigram: %q cannot be represented and there is no unknown token", piece)
		}
		// Hugging Face's Unigram keeps the text of an unknown piece as the
		// token string (the id is the unknown token's).
		t.id, t.value = u.unkID, piece
		out = append(out, t)
	}
	return out, nil
}

// bpeCandidate is a possible merge of the symbol at pos with its successor.
type bpeCandidate struct {
	rank, pos   int
	left, right int // ids expected at pos and its successor
}

// bpeQueue is a min-heap of candidates by rank, then position.
type bpeQueue []bpeCandidate

func (q bpeQueue) Len() int { return len(q) }
func (q bpeQueue) Less(i, j int) bool {
	return q[i].rank < q[j].rank || (q[i].rank == q[j].rank && q[i].pos < q[j].pos)
}
func (q bpeQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *bpeQueue) Push(x any)   { *q = append(*q, x.(bpeCandidate)) }
func (q *bpeQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// merge applies merges lowest rank first (leftmost on ties) in
// O(n log n), using a linked list of symbols and a heap with lazy deletion.
func (b *bpe) merge(syms []bpeSymbol) []bpeSymbol {
	n := len(syms)
	if n < 2 {
		return syms
	}
	next := make([]int, n)
	prev := make([]int, n)
	alive := make([]bool, n)
	for i := range syms {
		next[i], prev[i], alive[i] = i+1, i-1, true
	}
	next[n-1] = -1
	q := make(bpeQueue, 0, n)
	push := func(i int) {
		if i < 0 || next[i] < 0 {
			return
		}
		l, r := syms[i].id, syms[next[i]].id
		if m, ok := b.merges[[2]int{l, r}]; ok {
			heap.Push(&q, bpeCandidate{rank: m.rank, pos: i, left: l, right: r})
		}
	}
	for i := 0; i+1 < n; i++ {
		push(i)
	}
	for q.Len() > 0 {
		c := heap.Pop(&q).(bpeCandidate)
		i := c.pos
		if !alive[i] || next[i] < 0 || syms[i].id != c.left || syms[next[i]].id != c.right {
			continue // stale
		}
		j := next[i]
		m := b.merges[[2]int{c.left, c.right}]
		syms[i] = bpeSymbol{m.id, syms[i].start, syms[j].end}
		alive[j] = false
		next[i] = next[j]
		if next[j] >= 0 {
			prev[next[j]] = i
		}
		push(prev[i])
		push(i)
	}
	out := syms[:0]
	for i := 0; i >= 0 && i < n; i = next[i] {
		out = append(out, syms[i])
	}
	return out
}
