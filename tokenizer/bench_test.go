package tokenizer

import (
	"context"
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
