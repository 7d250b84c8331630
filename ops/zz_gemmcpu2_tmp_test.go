package ops

import (
	"fmt"
	"os"
	"runtime"
	"testing"
)

func TestZZMicroCPU(t *testing.T) {
	if os.Getenv("GEMMCPU") == "" {
		t.Skip()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, kb := range []int{64, 256} {
		for _, rows := range []int{12, 8, 4} {
			a := make([]float32, 12*kb)
			b := make([]float32, 32*kb)
			c := make([]float32, 12*32)
			best := 0.0
			for rep := 0; rep < 5; rep++ {
				iters := 20000
				t0 := threadCPU()
				for i := 0; i < iters; i++ {
					sgemmMicroAVX512(kb, a, 1, 12, b, c, 32, rows, 32, 1, 0, false)
				}
				cpu := threadCPU() - t0
				best = max(best, 2*float64(rows*32*kb)*float64(iters)/cpu.Seconds()/1e9)
			}
			fmt.Printf("micro k=%d rows=%d: %.1f GFLOP/cpu-s\n", kb, rows, best)
		}
	}
}
