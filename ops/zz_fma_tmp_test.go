package ops

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
)

func zzFMALoop(n int)

func TestZZFMA(t *testing.T) {
	if os.Getenv("GEMMCPU") == "" {
		t.Skip()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for rep := 0; rep < 5; rep++ {
		n := 20_000_000
		t0, w0 := threadCPU(), time.Now()
		zzFMALoop(n)
		cpu := threadCPU() - t0
		wall := time.Since(w0)
		fmt.Printf("fma: %.1f GFLOP/cpu-s, %.1f GFLOP/wall-s\n", float64(n)*24*32/cpu.Seconds()/1e9, float64(n)*24*32/wall.Seconds()/1e9)
	}
}

func zzFMALoopY(n int)

func TestZZFMAY(t *testing.T) {
	if os.Getenv("GEMMCPU") == "" {
		t.Skip()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for rep := 0; rep < 4; rep++ {
		n := 20_000_000
		t0 := threadCPU()
		zzFMALoop(n)
		z := float64(n) * 24 * 32 / (threadCPU() - t0).Seconds() / 1e9
		t0 = threadCPU()
		zzFMALoopY(2 * n)
		y := float64(2*n) * 12 * 16 / (threadCPU() - t0).Seconds() / 1e9
		fmt.Printf("zmm %.1f ymm %.1f GFLOP/cpu-s\n", z, y)
	}
}
