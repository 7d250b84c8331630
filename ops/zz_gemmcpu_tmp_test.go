package ops

import (
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

func threadCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(1 /*RUSAGE_THREAD*/, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestZZGemmCPU(t *testing.T) {
	if os.Getenv("GEMMCPU") == "" {
		t.Skip()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, kcnc := range [][2]int{{256, 16}, {128, 16}, {384, 16}, {256, 4}, {256, 8}, {256, 48}, {128, 48}, {512, 8}} {
		arc := *sgemmArchs()[0]
		arc.kc, arc.ncStrips = kcnc[0], kcnc[1]
		ar := &arc
		fmt.Println(kcnc)
		for _, sh := range [][3]int{{128, 384, 1536}, {128, 1536, 384}, {1024, 384, 1536}} {
			m, k, n := sh[0], sh[1], sh[2]
			r := rand.New(rand.NewSource(1))
			x, w := randSlice(r, m*k), randSlice(r, k*n)
			pb := packBPar(ar, make([]float32, packedBLenFor(ar, k, n)), false, k, n, w, n, nil)
			c := make([]float32, m*n)
			best := 0.0
			for rep := 0; rep < 5; rep++ {
				iters := max(1, int(2e9/float64(2*m*n*k)))
				t0, w0 := threadCPU(), time.Now()
				for i := 0; i < iters; i++ {
					sgemmPacked(false, m, 1, x, k, &pb, 0, c, n, nil)
				}
				cpu := threadCPU() - t0
				_ = w0
				g := 2 * float64(m*n*k) * float64(iters) / cpu.Seconds() / 1e9
				best = max(best, g)
			}
			fmt.Printf("%s %dx%dx%d: %.1f GFLOP/cpu-s\n", ar.name, m, k, n, best)
		}
	}
}
