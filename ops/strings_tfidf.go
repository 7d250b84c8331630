package ops

import (
	"encoding/binary"
	"fmt"
)

// tfidfMode is TfIdfVectorizer's weighting criterion.
type tfidfMode int

const (
	tfidfTF tfidfMode = iota
	tfidfIDF
	tfidfTFIDF
)

// tfidfPrefix marks a map key that is a proper prefix of some pooled n-gram
// but not itself a pooled n-gram of a counted length.
const tfidfPrefix = -1

// tfidfVectorizer implements TfIdfVectorizer. Pooled n-grams are stored in
// one map keyed by the encoding of their items (8 little-endian bytes per
// integer, or a uvarint length followed by the bytes per string); every
// prefix of a pooled n-gram is present too so that scanning stops as soon
// as no longer n-gram can match.
type tfidfVectorizer struct {
	mode        tfidfMode
	minN, maxN  int
	maxSkip     int
	strPool     bool
	grams       map[string]int32 // key -> index into ngramIndex, or tfidfPrefix
	ngramIndex  []int            // output coordinate of each pooled n-gram
	outSize     int
	weights     []float32 // per output coordinate; nil means all ones
	maxKeyBytes int
}

func newTfIdfVectorizer(n *Node) (any, error) {
	for _, name := range []string{"max_gram_length", "max_skip_count", "min_gram_length", "mode", "ngram_counts", "ngram_indexes"} {
		if !n.Attrs.Has(name) {
			return nil, fmt.Errorf("attribute %q is required", name)
		}
	}
	k := &tfidfVectorizer{
		minN:    int(n.Attrs.Int("min_gram_length", 0)),
		maxN:    int(n.Attrs.Int("max_gram_length", 0)),
		maxSkip: int(n.Attrs.Int("max_skip_count", 0)),
	}
	switch m := n.Attrs.String("mode", ""); m {
	case "TF":
		k.mode = tfidfTF
	case "IDF":
		k.mode = tfidfIDF
	case "TFIDF":
		k.mode = tfidfTFIDF
	default:
		return nil, fmt.Errorf("attribute \"mode\": expected TF, IDF or TFIDF, got %q", m)
	}
	if k.minN < 1 || k.maxN < k.minN {
		return nil, fmt.Errorf("gram lengths must satisfy 1 <= min_gram_length (%d) <= max_gram_length (%d)", k.minN, k.maxN)
	}
	if k.maxSkip < 0 {
		return nil, fmt.Errorf("max_skip_count must be >= 0, got %d", k.maxSkip)
	}
	ints, hasInts := n.Attrs.Ints("pool_int64s")
	strs, hasStrs := n.Attrs.Strings("pool_strings")
	if hasInts == hasStrs {
		return nil, fmt.Errorf("exactly one of pool_int64s and pool_strings must be set")
	}
	k.strPool = hasStrs
	poolLen := len(ints)
	if hasStrs {
		poolLen = len(strs)
	}
	counts, _ := n.Attrs.Ints("ngram_counts")
	indexes, _ := n.Attrs.Ints("ngram_indexes")
	if len(indexes) == 0 {
		return nil, fmt.Errorf("attribute \"ngram_indexes\" must not be empty")
	}
	k.ngramIndex = make([]int, len(indexes))
	for i, v := range indexes {
		if v < 0 {
			return nil, fmt.Errorf("ngram_indexes[%d] = %d is negative", i, v)
		}
		k.ngramIndex[i] = int(v)
		k.outSize = max(k.outSize, int(v)+1)
	}
	if w, ok := n.Attrs.Floats("weights"); ok && len(w) > 0 {
		if len(w) < k.outSize {
			return nil, fmt.Errorf("weights has %d elements, need at least %d (one per output coordinate)", len(w), k.outSize)
		}
		k.weights = w
	}

	k.grams = map[string]int32{}
	var key []byte
	id := 0
	for i, start := range counts {
		size := i + 1
		end := int64(poolLen)
		if i+1 < len(counts) {
			end = counts[i+1]
		}
		if start < 0 || end < start || end > int64(poolLen) {
			return nil, fmt.Errorf("ngram_counts %v are not increasing offsets into a pool of %d items", counts, poolLen)
		}
		items := int(end - start)
		if items%size != 0 {
			return nil, fmt.Errorf("the %d-gram section of the pool has %d items, not a multiple of %d", size, items, size)
		}
		for g := 0; g < items/size; g++ {
			if id >= len(k.ngramIndex) {
				return nil, fmt.Errorf("ngram_indexes has %d elements, fewer than the pooled n-grams", len(k.ngramIndex))
			}
			if size >= k.minN && size <= k.maxN {
				key = key[:0]
				for j := 0; j < size; j++ {
					p := int(start) + g*size + j
					if k.strPool {
						key = tfidfAppendString(key, strs[p])
					} else {
						key = tfidfAppendInt(key, ints[p])
					}
					if j < size-1 {
						if _, ok := k.grams[string(key)]; !ok {
							k.grams[string(key)] = tfidfPrefix
						}
					}
				}
				k.grams[string(key)] = int32(id)
				k.maxKeyBytes = max(k.maxKeyBytes, len(key))
			}
			id++
		}
	}
	return k, nil
}

func tfidfAppendInt(key []byte, v int64) []byte {
	return binary.LittleEndian.AppendUint64(key, uint64(v))
}

func tfidfAppendString(key []byte, s string) []byte {
	key = binary.AppendUvarint(key, uint64(len(s)))
	return append(key, s...)
}

func (k *tfidfVectorizer) Run(ec *Context, in, out []*Tensor) error {
	if len(in) == 0 || in[0] == nil {
		return fmt.Errorf("input X is required")
	}
	x := in[0]
	var rows, cols int
	var yShape []int
	switch len(x.Shape) {
	case 0:
		rows, cols = 1, 1
		yShape = []int{k.outSize}
	case 1:
		rows, cols = 1, x.Shape[0]
		yShape = []int{k.outSize}
	case 2:
		rows, cols = x.Shape[0], x.Shape[1]
		yShape = []int{rows, k.outSize}
	default:
		return fmt.Errorf("input X must have shape [C] or [N, C], got %v", x.Shape)
	}
	var item func(key []byte, i int) []byte
	switch d := x.Data.(type) {
	case []int64:
		if k.strPool {
			return fmt.Errorf("input X is int64 but the pool holds strings")
		}
		item = func(key []byte, i int) []byte { return tfidfAppendInt(key, d[i]) }
	case []int32:
		if k.strPool {
			return fmt.Errorf("input X is int32 but the pool holds strings")
		}
		item = func(key []byte, i int) []byte { return tfidfAppendInt(key, int64(d[i])) }
	case []string:
		if !k.strPool {
			return fmt.Errorf("input X is a string tensor but the pool holds integers")
		}
		item = func(key []byte, i int) []byte { return tfidfAppendString(key, d[i]) }
	default:
		return fmt.Errorf("input X must be int32, int64 or string, got %s", x.DType)
	}
	y := ec.New(Float, yShape...)
	dst := y.Data.([]float32)
	key := make([]byte, 0, k.maxKeyBytes+16)
	for r := 0; r < rows; r++ {
		row := dst[r*k.outSize : (r+1)*k.outSize]
		base := r * cols
		startN := k.minN
		for dist := 1; dist <= k.maxSkip+1; dist++ {
			for s := 0; s < cols; s++ {
				if s+dist*(startN-1) >= cols {
					break
				}
				key = key[:0]
				for n, p := 1, s; n <= k.maxN && p < cols; n, p = n+1, p+dist {
					key = item(key, base+p)
					id, ok := k.grams[string(key)]
					if !ok {
						break
					}
					if n >= startN && id != tfidfPrefix {
						row[k.ngramIndex[id]]++
					}
				}
			}
			// Unigrams do not depend on the skip distance: count them once.
			if startN == 1 {
				startN = 2
				if startN > k.maxN {
					break
				}
			}
		}
		k.weigh(row)
	}
	out[0] = y
	return nil
}

// weigh turns the counts of one output row into the mode's weights.
func (k *tfidfVectorizer) weigh(row []float32) {
	switch k.mode {
	case tfidfIDF:
		for i, c := range row {
			if c > 0 {
				row[i] = 1
				if k.weights != nil {
					row[i] = k.weights[i]
				}
			}
		}
	case tfidfTFIDF:
		if k.weights != nil {
			for i := range row {
				row[i] *= k.weights[i]
			}
		}
	}
}
