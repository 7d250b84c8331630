package ops

import (
	"context"
	"fmt"
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

// gemmCase is one sgemm problem; pad adds unused elements to every row
// stride.
type gemmCase struct {
	m, n, k, pad int
}

// checkSgemm runs one product on ar and compares it with naiveGemm; the
// elements of C outside the m×n block (the stride padding) must not change.
func checkSgemm(t *testing.T, r *rand.Rand, ar *gemmArch, tc gemmCase, ta, tb bool, alpha, beta float32, par parallelFn) {
	t.Helper()
	m, n, k, pad := tc.m, tc.n, tc.k, tc.pad
	lda, ldb, ldc := k+pad, n+pad, n+pad
	arows, brows := m, k
	if ta {
		lda, arows = m+pad, k
	}
	if tb {
		ldb, brows = k+pad, n
	}
	a := randSlice(r, arows*lda)
	b := randSlice(r, brows*ldb)
	c0 := randSlice(r, m*ldc)
	want := append([]float32(nil), c0...)
	naiveGemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, want, ldc)
	got := append([]float32(nil), c0...)
	if beta == 0 {
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				got[i*ldc+j] = float32(math.NaN())
			}
		}
	}
	sgemmWith(ar, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, got, ldc, par)
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*float64(k+1) || d != d {
			t.Fatalf("%s m=%d n=%d k=%d pad=%d transA=%v transB=%v alpha=%v beta=%v par=%v: c[%d,%d]=%v want %v",
				ar.name, m, n, k, pad, ta, tb, alpha, beta, par != nil, i/ldc, i%ldc, got[i], want[i])
		}
	}
}

func TestSgemm(t *testing.T) {
	pool := NewPool(3)
	defer pool.Close()
	ec := NewContext(context.Background(), pool, nil)
	cases := []gemmCase{
		{1, 1, 1, 0}, {3, 5, 7, 0}, {2, 4, 8, 1}, {17, 33, 300, 0}, {64, 64, 64, 3},
		{65, 130, 257, 1}, {128, 96, 512, 0}, {1, 700, 300, 0}, {3, 1100, 70, 2},
		{5, 3, 600, 0}, {13, 67, 33, 5}, {25, 49, 513, 0}, {12, 32, 256, 0}, {100, 200, 40, 7},
	}
	for _, ar := range sgemmArchs() {
		t.Run(ar.name, func(t *testing.T) {
			r := rand.New(rand.NewSource(1))
			for _, tc := range cases {
				for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
					for _, ab := range [][2]float32{{1, 0}, {0.5, 1}, {2, -0.5}} {
						for _, par := range []parallelFn{nil, ec.Parallel} {
							checkSgemm(t, r, ar, tc, tr[0], tr[1], ab[0], ab[1], par)
						}
					}
				}
			}
		})
	}
}

// TestSgemmEdges sweeps every small m, n and k so that each tile height,
// column mask and depth remainder of every kernel runs.
func TestSgemmEdges(t *testing.T) {
	for _, ar := range sgemmArchs() {
		t.Run(ar.name, func(t *testing.T) {
			r := rand.New(rand.NewSource(3))
			for m := 1; m <= 26; m++ {
				for n := 1; n <= 67; n += 1 + n/8 {
					for _, k := range []int{1, 2, 3, 17, 67} {
						tr := [2]bool{m%2 == 0, n%3 == 0}
						beta := float32(0)
						if k%2 == 1 {
							beta = 0.75
						}
						checkSgemm(t, r, ar, gemmCase{m, n, k, m % 3}, tr[0], tr[1], 1.5, beta, nil)
					}
				}
			}
		})
	}
}

// TestSgemmKernelTable checks that the dispatched kernel is one this
// machine supports, and the pure-Go one under AGATE_NOASM.
func TestSgemmKernelTable(t *testing.T) {
	got := gemmImpl().f32
	want := append(asmSgemmArchs(detectCPU()), &sgemmArchGo)[0]
	if got != want {
		t.Fatalf("dispatched kernel %s, want %s", got.name, want.name)
	}
	t.Logf("float kernel %s, 8-bit kernel %s", got.name, gemmImpl().q8.name)
}

// TestSgemmBias checks the bias folded into the write-back, across depth
// blocks (k > kc) and partial tiles, with and without beta.
func TestSgemmBias(t *testing.T) {
	pool := NewPool(2)
	defer pool.Close()
	ec := NewContext(context.Background(), pool, nil)
	for _, ar := range sgemmArchs() {
		r := rand.New(rand.NewSource(5))
		for _, tc := range []gemmCase{{1, 1, 1, 0}, {13, 45, 7, 2}, {30, 70, 600, 1}, {128, 96, 300, 0}, {25, 33, 513, 3}} {
			for _, beta := range []float32{0, 0.5} {
				for _, par := range []parallelFn{nil, ec.Parallel} {
					m, n, k, ldc := tc.m, tc.n, tc.k, tc.n+tc.pad
					a, b, bias := randSlice(r, m*k), randSlice(r, k*n), randSlice(r, n)
					c0 := randSlice(r, m*ldc)
					want := append([]float32(nil), c0...)
					naiveGemm(true, false, m, n, k, 1.5, a, m, b, n, beta, want, ldc)
					for i := 0; i < m; i++ {
						for j := 0; j < n; j++ {
							want[i*ldc+j] += bias[j]
						}
					}
					got := append([]float32(nil), c0...)
					pb := packBPar(ar, make([]float32, packedBLenFor(ar, k, n)), false, k, n, b, n, nil)
					sgemmPackedBias(true, m, 1.5, a, m, &pb, bias, beta, got, ldc, par)
					for i := range got {
						if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*float64(k+1) || d != d {
							t.Fatalf("%s %+v beta=%v par=%v: c[%d,%d]=%v want %v", ar.name, tc, beta, par != nil, i/ldc, i%ldc, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

func TestSgemmPackedStrided(t *testing.T) {
	// C with a row stride larger than n, prepacked B.
	for _, ar := range sgemmArchs() {
		r := rand.New(rand.NewSource(2))
		m, n, k, ldc := 37, 45, 290, 50
		a, b := randSlice(r, m*k), randSlice(r, k*n)
		pb := packBPar(ar, make([]float32, packedBLenFor(ar, k, n)), false, k, n, b, n, nil)
		got := make([]float32, m*ldc)
		want := make([]float32, m*ldc)
		for i := range got {
			got[i], want[i] = 7, 7
		}
		sgemmPacked(false, m, 1, a, k, &pb, 0, got, ldc, nil)
		naiveGemm(false, false, m, n, k, 1, a, k, b, n, 0, want, ldc)
		for i := range got {
			if math.Abs(float64(got[i]-want[i])) > 1e-3 {
				t.Fatalf("%s: c[%d]=%v want %v", ar.name, i, got[i], want[i])
			}
		}
	}
}

func TestSgemmNoAlloc(t *testing.T) {
	pool := NewPool(2)
	defer pool.Close()
	ec := NewContext(context.Background(), pool, nil)
	r := rand.New(rand.NewSource(4))
	const m, n, k = 64, 256, 128
	a, b, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	pb := packB(make([]float32, packedBLen(k, n)), false, k, n, b, n)
	sgemmPacked(false, m, 1, a, k, &pb, 0, c, n, ec.Parallel)
	// Only the pool's own dispatch may allocate.
	base := testing.AllocsPerRun(20, func() { ec.Parallel(2, 1, func(lo, hi int) {}) })
	if allocs := testing.AllocsPerRun(20, func() {
		sgemmPacked(false, m, 1, a, k, &pb, 0, c, n, ec.Parallel)
	}); allocs > base {
		t.Fatalf("sgemmPacked allocates %v times per call, the pool %v", allocs, base)
	}
	if allocs := testing.AllocsPerRun(20, func() {
		sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n, ec.Parallel)
	}); allocs > 2*base {
		t.Fatalf("sgemm allocates %v times per call, the pool %v", allocs, base)
	}
}

// gemmBenchShapes are the transformer shapes (m tokens, k, n): the BERT
// feed-forward 128x384x1536 first, then MiniLM's projections at 128 and
// 1024 tokens.
var gemmBenchShapes = [][3]int{
	{128, 384, 1536}, {128, 1536, 384}, {128, 384, 384}, {128, 384, 1152},
	{1024, 384, 1536}, {16, 384, 1536}, {16, 1536, 384}, {16, 384, 384}, {64, 384, 384},
}

// BenchmarkSgemm measures every kernel on the transformer shapes with B
// packed ahead of time (as MatMul does for constant weights), on one and
// on two workers: BenchmarkSgemm/<kernel>/<m>x<k>x<n>/t<threads>.
func BenchmarkSgemm(b *testing.B) {
	for _, ar := range sgemmArchs() {
		benchPackedGemm(b, ar.name, func(k, n int, w []float32) packedB {
			return packBPar(ar, make([]float32, packedBLenFor(ar, k, n)), false, k, n, w, n, nil)
		})
	}
}

// benchPackedGemm times sgemmPacked on the transformer shapes with B packed
// by pack, on one and two workers: <name>/<m>x<k>x<n>/t<threads>.
func benchPackedGemm(b *testing.B, name string, pack func(k, n int, w []float32) packedB) {
	for _, sh := range gemmBenchShapes {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/%dx%dx%d/t%d", name, sh[0], sh[1], sh[2], threads), func(b *testing.B) {
				m, k, n := sh[0], sh[1], sh[2]
				r := rand.New(rand.NewSource(1))
				x, w := randSlice(r, m*k), randSlice(r, k*n)
				pb := pack(k, n, w)
				c := make([]float32, m*n)
				pool := NewPool(threads)
				defer pool.Close()
				ec := NewContext(context.Background(), pool, nil)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					sgemmPacked(false, m, 1, x, k, &pb, 0, c, n, ec.Parallel)
				}
				b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkSgemmUnpacked is the 128x384x1536 product with B packed on
// every call (a run-time right operand).
func BenchmarkSgemmUnpacked(b *testing.B) {
	const m, k, n = 128, 384, 1536
	for _, ar := range sgemmArchs() {
		b.Run(ar.name, func(b *testing.B) {
			r := rand.New(rand.NewSource(1))
			x, w := randSlice(r, m*k), randSlice(r, k*n)
			c := make([]float32, m*n)
			pool := NewPool(0)
			defer pool.Close()
			ec := NewContext(context.Background(), pool, nil)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				sgemmWith(ar, false, false, m, n, k, 1, x, k, w, n, 0, c, n, ec.Parallel)
			}
			b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkSgemmColdB multiplies by 48 different packed weight matrices in
// turn (113 MB in all, more than the last-level cache), the way a
// transformer streams its weights once per run at short sequences.
func BenchmarkSgemmColdB(b *testing.B) {
	const k, n, mats = 384, 1536, 48
	ar := gemmImpl().f32
	r := rand.New(rand.NewSource(1))
	w := randSlice(r, k*n)
	pbs := make([]packedB, mats)
	for i := range pbs {
		pbs[i] = packBPar(ar, make([]float32, packedBLenFor(ar, k, n)), false, k, n, w, n, nil)
	}
	for _, m := range []int{16, 64, 128} {
		b.Run(fmt.Sprintf("m%d", m), func(b *testing.B) {
			x, c := randSlice(r, m*k), make([]float32, m*n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				sgemmPacked(false, m, 1, x, k, &pbs[i%mats], 0, c, n, nil)
			}
			b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
