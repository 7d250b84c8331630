package tokenizer

import (
	"context"
	"slices"
	"strings"
	"testing"
)

const benchLong = "Les commentaires haineux n'ont pas leur place sur ce forum, merci de rester courtois avec tout le monde. " +
	"You are an idiot and everyone here hates you. The café's crème brûlée was déjà vu — naïve but delightful! " +
	"Thank you for the thoughtful review, this was really helpful. !!! ??? ... $$$ 1234567890 emoji: 😀 中文 mixed WORDS Here"

// BenchmarkEncode reports single-goroutine encodes per second.
func BenchmarkEncode(b *testing.B) {
	tok := mustLoad(b, sharedPath(b, "models", "transformers", "bert-tiny-6label"))
	for _, bc := range []struct{ name, text string }{
		{"french", "Ce commentaire est vraiment méchant et insultant"},
		{"long", benchLong},
		{"long4x", strings.Repeat(benchLong+" ", 4)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.text)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tok.Encode(bc.text); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "encodes/s")
		})
	}
}

// BenchmarkEncodeBatch encodes and pads 32 texts.
func BenchmarkEncodeBatch(b *testing.B) {
	tok := mustLoad(b, sharedPath(b, "models", "transformers", "bert-tiny-6label"))
	texts := make([]string, 32)
	for i := range texts {
		texts[i] = benchLong[:20+i*5]
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tok.EncodeBatch(ctx, texts, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeVsSugarme compares single-goroutine encodes per second of
// this package and of github.com/sugarme/tokenizer (with the normalizer of
// loadSugarme) on the same BERT uncased tokenizer.json.
func BenchmarkEncodeVsSugarme(b *testing.B) {
	dir := sharedPath(b, "models", "transformers", "bert-tiny-6label")
	tok := mustLoad(b, dir)
	sk := loadSugarme(b, dir)
	for _, bc := range []struct{ name, text string }{
		{"french", "Ce commentaire est vraiment méchant et insultant"},
		{"long", benchLong},
	} {
		e, err := tok.Encode(bc.text)
		if err != nil {
			b.Fatal(err)
		}
		if ids, _, err := sugarmeIDs(sk, bc.text); err != nil || !slices.Equal(ids, e.IDs) {
			b.Fatalf("%s: sugarme gives %v (%v), agate %v", bc.name, ids, err, e.IDs)
		}
		b.Run(bc.name+"/agate", func(b *testing.B) {
			b.SetBytes(int64(len(bc.text)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tok.Encode(bc.text); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "encodes/s")
		})
		b.Run(bc.name+"/sugarme", func(b *testing.B) {
			b.SetBytes(int64(len(bc.text)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sk.EncodeSingle(bc.text, true); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "encodes/s")
		})
	}
}

// BenchmarkEncodeBatch8 encodes and pads 8 texts of very different lengths
// (2 to about 1800 bytes), sequentially. Work and memory follow the total
// text length plus the padded matrices (8 rows of the longest encoding).
func BenchmarkEncodeBatch8(b *testing.B) {
	tok := mustLoad(b, sharedPath(b, "models", "transformers", "bert-tiny-6label"))
	texts := []string{
		"ok",
		"Ce commentaire est vraiment méchant et insultant",
		benchLong[:120],
		"You are an idiot and everyone here hates you.",
		benchLong,
		strings.Repeat(benchLong+" ", 4),
		"Thank you!",
		strings.Repeat(benchLong+" ", 2),
	}
	total := 0
	for _, t := range texts {
		total += len(t)
	}
	ctx := context.Background()
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tok.EncodeBatch(ctx, texts, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(8*float64(b.N)/b.Elapsed().Seconds(), "encodes/s")
}
