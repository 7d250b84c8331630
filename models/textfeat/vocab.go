package textfeat

import (
	"fmt"
	"slices"
)

// vocabTable maps feature keys to ids with open addressing on an FNV-1a
// hash of the key, so that a key can be looked up as a prefix byte and a
// byte slice without building the key.
type vocabTable struct {
	keys  []string // id-1 → key
	slots []vocabSlot
	mask  uint64
}

type vocabSlot struct {
	hash uint64
	id   int32 // 0: empty
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func keyHash(kind byte, text []byte) uint64 {
	h := uint64(fnvOffset)
	h = (h ^ uint64(kind)) * fnvPrime
	for _, c := range text {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h ^ h>>29
}

func newVocabTable(keys []string) (*vocabTable, error) {
	size := 16
	for size < 2*len(keys) {
		size *= 2
	}
	t := &vocabTable{keys: keys, slots: make([]vocabSlot, size), mask: uint64(size - 1)}
	for i, k := range keys {
		if k == "" {
			return nil, fmt.Errorf("featurizer: vocabulary entry %d is empty", i)
		}
		text := []byte(k[1:])
		if t.lookup(k[0], text) != 0 {
			return nil, fmt.Errorf("featurizer: vocabulary key %q appears twice", k)
		}
		h := keyHash(k[0], text)
		for j := h & t.mask; ; j = (j + 1) & t.mask {
			if t.slots[j].id == 0 {
				t.slots[j] = vocabSlot{hash: h, id: int32(i + 1)}
				break
			}
		}
	}
	return t, nil
}

// lookup returns the id of the key kind+text, 0 when absent.
func (t *vocabTable) lookup(kind byte, text []byte) int32 {
	h := keyHash(kind, text)
	for j := h & t.mask; ; j = (j + 1) & t.mask {
		s := t.slots[j]
		if s.id == 0 {
			return 0
		}
		if s.hash == h {
			if k := t.keys[s.id-1]; len(k) == len(text)+1 && k[0] == kind && k[1:] == string(text) {
				return s.id
			}
		}
	}
}

// idCounter counts the occurrences of feature ids in one text with a small
// open-addressing table that grows with the text, not with the vocabulary.
type idCounter struct {
	slots []idCount // power-of-two size; id 0 marks an empty slot
	order []int32   // distinct ids, in order of first occurrence
}

type idCount struct {
	id    int32
	count uint32
}

func (c *idCounter) reset() {
	if len(c.order) > 0 {
		clear(c.slots)
	}
	c.order = c.order[:0]
}

func (c *idCounter) add(id int32) {
	if 2*(len(c.order)+1) > len(c.slots) {
		c.grow()
	}
	mask := uint32(len(c.slots) - 1)
	for j := (uint32(id) * 0x9e3779b1) >> 7 & mask; ; j = (j + 1) & mask {
		s := &c.slots[j]
		if s.id == id {
			s.count++
			return
		}
		if s.id == 0 {
			*s = idCount{id: id, count: 1}
			c.order = append(c.order, id)
			return
		}
	}
}

func (c *idCounter) grow() {
	old := c.slots
	c.slots = make([]idCount, max(64, 2*len(old)))
	mask := uint32(len(c.slots) - 1)
	for _, s := range old {
		if s.id == 0 {
			continue
		}
		for j := (uint32(s.id) * 0x9e3779b1) >> 7 & mask; ; j = (j + 1) & mask {
			if c.slots[j].id == 0 {
				c.slots[j] = s
				break
			}
		}
	}
}

func (c *idCounter) countOf(id int32) uint32 {
	mask := uint32(len(c.slots) - 1)
	for j := (uint32(id) * 0x9e3779b1) >> 7 & mask; ; j = (j + 1) & mask {
		if s := c.slots[j]; s.id == id || s.id == 0 {
			return s.count
		}
	}
}

// appendTo writes the distinct ids in increasing order, with their counts,
// into dst (reset first).
func (c *idCounter) appendTo(dst Features) Features {
	slices.Sort(c.order)
	dst.IDs, dst.Counts = slices.Grow(dst.IDs[:0], len(c.order)), slices.Grow(dst.Counts[:0], len(c.order))
	for _, id := range c.order {
		dst.IDs = append(dst.IDs, int64(id))
		dst.Counts = append(dst.Counts, float32(c.countOf(id)))
	}
	return dst
}
