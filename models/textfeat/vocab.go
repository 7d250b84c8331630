package textfeat

import "fmt"

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
