package engine

import (
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultTensorBudget is the default cap on one tensor's bytes: half of the
// Go soft memory limit (GOMEMLIMIT, agate serve --memory-limit) when one is
// set, else half of the machine's physical memory, else 4 GiB.
func DefaultTensorBudget() int64 {
	if lim := debug.SetMemoryLimit(-1); lim > 0 && lim < math.MaxInt64 {
		return lim / 2
	}
	if mem := physicalMemory(); mem > 0 {
		return mem / 2
	}
	return 4 << 30
}

// physicalMemory reads MemTotal from /proc/meminfo (0 when unknown).
func physicalMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
