package ops

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// qgemmCase is one 8-bit product: sizes, stride padding, operand types,
// the range of B's values (bits: 8 full range, 7 reduced) and zero points.
type qgemmCase struct {
	m, n, k, pad     int
	aSigned, bSigned bool
	bBits            int
	perColumn        bool
	zeroB            bool // B's zero point is 0 (symmetric weights)
}

func randBytes(r *rand.Rand, n int, signed bool, bits int) []byte {
	s := make([]byte, n)
	for i := range s {
		if signed {
			lim := 1 << (bits - 1)
			s[i] = byte(int8(r.Intn(2*lim) - lim))
		} else {
			lim := 1 << (bits - 1)
			s[i] = byte(128 - lim + r.Intn(2*lim))
		}
	}
	return s
}

func byteValue(b byte, signed bool) int64 {
	if signed {
		return int64(int8(b))
	}
	return int64(b)
}

// checkQgemm runs one case on ar in both output modes and compares with a
// direct int64 evaluation of the definition.
func checkQgemm(t *testing.T, r *rand.Rand, ar *qgemmArch, tc qgemmCase, par parallelFn) {
	t.Helper()
	m, n, k, pad := tc.m, tc.n, tc.k, tc.pad
	lda, ldb, ldc := k+pad, n+pad, n+pad
	a := randBytes(r, m*lda, tc.aSigned, 8)
	b := randBytes(r, k*ldb, tc.bSigned, tc.bBits)
	za := int32(byteValue(randBytes(r, 1, tc.aSigned, 8)[0], tc.aSigned))
	zb := []int32{int32(byteValue(randBytes(r, 1, tc.bSigned, 8)[0], tc.bSigned))}
	if tc.perColumn {
		zb = make([]int32, n)
		for j := range zb {
			zb[j] = int32(byteValue(randBytes(r, 1, tc.bSigned, 8)[0], tc.bSigned))
		}
	}
	if tc.zeroB {
		clear(zb)
	}
	scale := make([]float32, n)
	bias := make([]float32, n)
	for j := range scale {
		scale[j] = r.Float32() * 0.01
		bias[j] = r.Float32() - 0.5
	}
	want := make([]int64, m*ldc)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			zbj := zb[0]
			if len(zb) > 1 {
				zbj = zb[j]
			}
			var s int64
			for p := 0; p < k; p++ {
				s += (byteValue(a[i*lda+p], tc.aSigned) - int64(za)) * (byteValue(b[p*ldb+j], tc.bSigned) - int64(zbj))
			}
			want[i*ldc+j] = s
		}
	}
	pb := qpackB(ar, make([]byte, qpackedBLen(ar, k, n)), make([]int32, roundUp(n, ar.nr)), b, tc.bSigned, k, n, ldb)
	if ar.sat && tc.bBits <= 7 && pb.arch != ar {
		t.Fatalf("%s: 7-bit B fell back to %s", ar.name, pb.arch.name)
	}
	gotI := make([]int32, m*ldc)
	for i := range gotI {
		gotI[i] = -7
	}
	qgemm(a, tc.aSigned, m, lda, za, &pb, zb, qgemmOut{ci: gotI, ldc: ldc}, par)
	gotF := make([]float32, m*ldc)
	qgemm(a, tc.aSigned, m, lda, za, &pb, zb, qgemmOut{cf: gotF, scale: scale, bias: bias, ldc: ldc}, par)
	for i := 0; i < m; i++ {
		for j := 0; j < ldc; j++ {
			x := i*ldc + j
			if j >= n {
				if gotI[x] != -7 || gotF[x] != 0 {
					t.Fatalf("%s %+v: wrote past column %d", ar.name, tc, n)
				}
				continue
			}
			if int64(gotI[x]) != want[x] {
				t.Fatalf("%s %+v par=%v: c[%d,%d]=%d want %d", ar.name, tc, par != nil, i, j, gotI[x], want[x])
			}
			wf := float64(want[x])*float64(scale[j]) + float64(bias[j])
			if d := math.Abs(float64(gotF[x]) - wf); d > 1e-5*math.Abs(wf)+1e-5 {
				t.Fatalf("%s %+v par=%v: float c[%d,%d]=%v want %v", ar.name, tc, par != nil, i, j, gotF[x], wf)
			}
		}
	}
}

func TestQgemm(t *testing.T) {
	pool := NewPool(3)
	defer pool.Close()
	ec := NewContext(context.Background(), pool, nil)
	sizes := [][4]int{
		{1, 1, 1, 0}, {3, 5, 7, 1}, {12, 32, 4, 0}, {13, 33, 5, 2}, {17, 67, 300, 0},
		{64, 64, 64, 3}, {65, 130, 257, 1}, {1, 700, 96, 0}, {5, 3, 600, 0}, {100, 200, 40, 7},
	}
	for _, ar := range qgemmArchs() {
		t.Run(ar.name, func(t *testing.T) {
			r := rand.New(rand.NewSource(1))
			for _, sz := range sizes {
				for _, signs := range [][2]bool{{false, true}, {false, false}, {true, true}, {true, false}} {
					for _, bits := range []int{8, 7} {
						for _, perCol := range []bool{false, true} {
							tc := qgemmCase{sz[0], sz[1], sz[2], sz[3], signs[0], signs[1], bits, perCol, false}
							checkQgemm(t, r, ar, tc, nil)
							checkQgemm(t, r, ar, tc, ec.Parallel)
						}
					}
				}
			}
		})
	}
}

// TestQgemmEdges sweeps small sizes so that every tile height, column mask
// and depth remainder runs.
func TestQgemmEdges(t *testing.T) {
	for _, ar := range qgemmArchs() {
		t.Run(ar.name, func(t *testing.T) {
			r := rand.New(rand.NewSource(2))
			for m := 1; m <= 26; m++ {
				for n := 1; n <= 67; n += 1 + n/8 {
					for _, k := range []int{1, 3, 4, 9, 67, 601} {
						tc := qgemmCase{m, n, k, m % 3, m%2 == 0, n%2 == 0, 7 + n%2, k%2 == 1, false}
						checkQgemm(t, r, ar, tc, nil)
					}
				}
			}
		})
	}
}

// TestQgemmDirectA covers the products whose A the kernel reads in place:
// uint8 A, symmetric int8 B (zero point 0), depth a multiple of 4.
func TestQgemmDirectA(t *testing.T) {
	pool := NewPool(2)
	defer pool.Close()
	ec := NewContext(context.Background(), pool, nil)
	for _, ar := range qgemmArchs() {
		t.Run(ar.name, func(t *testing.T) {
			r := rand.New(rand.NewSource(3))
			for _, m := range []int{1, 5, 12, 13, 40, 128} {
				for _, n := range []int{1, 17, 32, 64, 100} {
					for _, k := range []int{4, 64, 384, 1536} {
						tc := qgemmCase{m, n, k, m % 5, false, true, 8, n%2 == 0, true}
						checkQgemm(t, r, ar, tc, ec.Parallel)
					}
				}
			}
		})
	}
}

// BenchmarkQgemm measures the 8-bit kernels on the 128x384x1536 product
// (uint8 A, int8 B, float output as in DynamicQuantizeMatMul), with 7-bit
// weights so that the AVX2 kernel does not fall back; the metric counts a
// multiply-add as two operations.
func BenchmarkQgemm(b *testing.B) {
	for _, ar := range qgemmArchs() {
		for _, sh := range gemmBenchShapes[:2] {
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%dx%dx%d/t%d", ar.name, sh[0], sh[1], sh[2], threads), func(b *testing.B) {
					m, k, n := sh[0], sh[1], sh[2]
					r := rand.New(rand.NewSource(1))
					a := randBytes(r, m*k, false, 8)
					w := randBytes(r, k*n, true, 7)
					pb := qpackB(ar, make([]byte, qpackedBLen(ar, k, n)), make([]int32, roundUp(n, ar.nr)), w, true, k, n, n)
					c := make([]float32, m*n)
					pool := NewPool(threads)
					defer pool.Close()
					ec := NewContext(context.Background(), pool, nil)
					out := qgemmOut{cf: c, scale: []float32{0.01}, ldc: n}
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						qgemm(a, false, m, k, 3, &pb, []int32{0}, out, ec.Parallel)
					}
					b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOP/s")
				})
			}
		}
	}
}

// TestQgemmExtremes runs every kernel on the operands that saturate int16
// pair sums (A at 255, 129 and 128 against B at -128 and 127, signed and
// unsigned), where only an exact kernel or fallback gives the right sums.
func TestQgemmExtremes(t *testing.T) {
	const m, k, n = 5, 40, 19
	for _, ar := range qgemmArchs() {
		for _, av := range []byte{255, 129, 128, 1} {
			for _, bv := range []int8{-128, 127, -127} {
				for _, bSigned := range []bool{true, false} {
					a := make([]byte, m*k)
					b := make([]byte, k*n)
					for i := range a {
						a[i] = av
						if i%7 == 3 {
							a[i] = 0
						}
					}
					want := make([]int64, m*n)
					for p := 0; p < k; p++ {
						for j := 0; j < n; j++ {
							v := bv
							if (p+j)%5 == 4 {
								v = -v / 2
							}
							b[p*n+j] = byte(v)
							if !bSigned {
								b[p*n+j] = byte(int(v) + 128)
							}
						}
					}
					for i := 0; i < m; i++ {
						for j := 0; j < n; j++ {
							var s int64
							for p := 0; p < k; p++ {
								s += byteValue(a[i*k+p], false) * byteValue(b[p*n+j], bSigned)
							}
							want[i*n+j] = s
						}
					}
					pb := qpackB(ar, make([]byte, qpackedBLen(ar, k, n)), make([]int32, roundUp(n, ar.nr)), b, bSigned, k, n, n)
					got := make([]int32, m*n)
					qgemm(a, false, m, k, 0, &pb, nil, qgemmOut{ci: got, ldc: n}, nil)
					for x := range got {
						if int64(got[x]) != want[x] {
							t.Fatalf("%s (ran %s) a=%d b=%d signed=%v: c[%d]=%d want %d", ar.name, pb.arch.name, av, bv, bSigned, x, got[x], want[x])
						}
					}
				}
			}
		}
	}
}
