package ops

import (
	"math"
	"math/rand"
	"testing"
)

func naiveGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			v := float64(alpha) * s
			if beta != 0 {
				v += float64(beta) * float64(c[i*ldc+j])
			}
			c[i*ldc+j] = float32(v)
		}
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

func TestSgemm(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	pool := NewPool(3)
	defer pool.Close()
	ec := NewContext(nil, pool, nil)
	shapes := [][3]int{{1, 1, 1}, {3, 5, 7}, {2, 4, 8}, {17, 33, 300}, {64, 64, 64}, {65, 130, 257}, {128, 96, 512}, {1, 700, 300}, {3, 1100, 70}, {5, 3, 600}}
	for _, sh := range shapes {
		m, n, k := sh[0], sh[1], sh[2]
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			for _, ab := range [][2]float32{{1, 0}, {0.5, 1}, {2, -0.5}} {
				ta, tb := tr[0], tr[1]
				a := randSlice(r, m*k)
				b := randSlice(r, k*n)
				lda, ldb := k, n
				if ta {
					lda = m
				}
				if tb {
					ldb = k
				}
				c0 := randSlice(r, m*n)
				want := append([]float32(nil), c0...)
				naiveGemm(ta, tb, m, n, k, ab[0], a, lda, b, ldb, ab[1], want, n)
				for _, par := range []parallelFn{nil, ec.Parallel} {
					got := append([]float32(nil), c0...)
					if ab[1] == 0 {
						for i := range got {
							got[i] = float32(math.NaN())
						}
					}
					sgemm(ta, tb, m, n, k, ab[0], a, lda, b, ldb, ab[1], got, n, par)
					for i := range got {
						if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*float64(k) || d != d {
							t.Fatalf("m=%d n=%d k=%d trans=%v alpha,beta=%v par=%v: c[%d]=%v want %v", m, n, k, tr, ab, par != nil, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

func TestSgemmPackedStrided(t *testing.T) {
	// C with a row stride larger than n, prepacked B.
	r := rand.New(rand.NewSource(2))
	m, n, k, ldc := 37, 45, 290, 50
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	buf := make([]float32, packedBLen(k, n))
	pb := packB(buf, false, k, n, b, n)
	got := make([]float32, m*ldc)
	want := make([]float32, m*ldc)
	for i := range got {
		got[i], want[i] = 7, 7
	}
	sgemmPacked(false, m, 1, a, k, &pb, 0, got, ldc, nil)
	naiveGemm(false, false, m, n, k, 1, a, k, b, n, 0, want, ldc)
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > 1e-3 {
			t.Fatalf("c[%d]=%v want %v", i, got[i], want[i])
		}
	}
}

// BenchmarkSgemm measures the BERT-base feed-forward shape 128x384x1536
// (m=128 tokens, k=384, n=1536) on the default worker pool.
func BenchmarkSgemm(b *testing.B) {
	const m, k, n = 128, 384, 1536
	r := rand.New(rand.NewSource(1))
	x, w := randSlice(r, m*k), randSlice(r, k*n)
	c := make([]float32, m*n)
	pool := NewPool(0)
	defer pool.Close()
	ec := NewContext(nil, pool, nil)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sgemm(false, false, m, n, k, 1, x, k, w, n, 0, c, n, ec.Parallel)
	}
	b.ReportMetric(2*m*n*k*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkSgemmPacked is BenchmarkSgemm with B packed ahead of time, as
// MatMul does for constant weights.
func BenchmarkSgemmPacked(b *testing.B) {
	const m, k, n = 128, 384, 1536
	r := rand.New(rand.NewSource(1))
	x, w := randSlice(r, m*k), randSlice(r, k*n)
	pb := packB(make([]float32, packedBLen(k, n)), false, k, n, w, n)
	c := make([]float32, m*n)
	pool := NewPool(0)
	defer pool.Close()
	ec := NewContext(nil, pool, nil)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sgemmPacked(false, m, 1, x, k, &pb, 0, c, n, ec.Parallel)
	}
	b.ReportMetric(2*m*n*k*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
