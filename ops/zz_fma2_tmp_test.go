package ops

import (
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"testing"
)

func TestZZRatio(t *testing.T) {
	if os.Getenv("GEMMCPU") == "" {
		t.Skip()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ar := sgemmArchs()[0]
	if os.Getenv("ARCH") == "avx2" {
		ar = sgemmArchs()[1]
	}
	m, k, n := 128, 384, 1536
	r := rand.New(rand.NewSource(1))
	x, w := randSlice(r, m*k), randSlice(r, k*n)
	pb := packBPar(ar, make([]float32, packedBLenFor(ar, k, n)), false, k, n, w, n, nil)
	c := make([]float32, m*n)
	for rep := 0; rep < 6; rep++ {
		nf := 10_000_000
		t0 := threadCPU()
		zzFMALoop(nf)
		peak := float64(nf) * 24 * 32 / (threadCPU() - t0).Seconds() / 1e9
		iters := 60
		t0 = threadCPU()
		for i := 0; i < iters; i++ {
			sgemmPacked(false, m, 1, x, k, &pb, 0, c, n, nil)
		}
		g := 2 * float64(m*n*k) * float64(iters) / (threadCPU() - t0).Seconds() / 1e9
		fmt.Printf("peak %.1f  sgemm %.1f  ratio %.2f\n", peak, g, g/peak)
	}
}
