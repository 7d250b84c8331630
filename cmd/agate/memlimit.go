package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// cgroupMemoryFile holds the container's memory limit (cgroup v2).
const cgroupMemoryFile = "/sys/fs/cgroup/memory.max"

// parseSize reads a byte count: a plain number of bytes, or one with a
// unit (KB, MB, GB, KiB, MiB, GiB; case-insensitive).
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"TIB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	up := strings.ToUpper(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(up, u.suffix) {
			up, mult = strings.TrimSpace(strings.TrimSuffix(up, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(up, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q is not a size such as 1GiB, 512MiB or 900000000", s)
	}
	return int64(v * float64(mult)), nil
}

// containerMemory returns the cgroup memory limit, 0 when there is none.
func containerMemory(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	v := strings.TrimSpace(string(b))
	if v == "max" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// memoryLimit resolves --memory-limit: a size, a percentage of the
// container's memory limit ("90%"), "off", or "" for the default (the
// GOMEMLIMIT environment variable when set, which the Go runtime already
// applies, else 90% of the container's limit when there is one). It
// returns the limit to set (0: leave the runtime's) and a description.
func memoryLimit(flag, gomemlimit string, container int64) (int64, string, error) {
	switch {
	case flag == "off":
		return 0, "no soft memory limit", nil
	case flag == "" && gomemlimit != "":
		return 0, "GOMEMLIMIT=" + gomemlimit, nil
	case flag == "" && container == 0:
		return 0, "no soft memory limit (no container limit found)", nil
	case flag == "":
		flag = "90%"
	}
	if p, ok := strings.CutSuffix(flag, "%"); ok {
		pct, err := strconv.ParseFloat(p, 64)
		if err != nil || pct <= 0 || pct > 100 {
			return 0, "", fmt.Errorf("--memory-limit: %q is not a percentage between 0 and 100", flag)
		}
		if container == 0 {
			// the same manifest may run with and without a limit: no
			// limit to take a share of is not an error
			return 0, fmt.Sprintf("none: %s of the container's limit, but there is none (%s)", flag, cgroupMemoryFile), nil
		}
		limit := int64(float64(container) * pct / 100)
		return limit, fmt.Sprintf("%s of the container's %d bytes", flag, container), nil
	}
	n, err := parseSize(flag)
	if err != nil {
		return 0, "", fmt.Errorf("--memory-limit: %w", err)
	}
	return n, flag, nil
}

// applyMemoryLimit sets the Go runtime's soft memory limit.
func applyMemoryLimit(limit int64) {
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
}

// defaultGCPercent is serve's garbage-collection target when neither
// --gc-percent nor GOGC says otherwise: the heap may grow by half its
// live size between collections instead of doubling. Over a 4-minute
// soak with bert-tiny (server/soak_test.go) the resident set's p90 went
// from 337 MB at Go's 100 to 265 MB, at the same request rate.
const defaultGCPercent = 50

// gcPercent resolves --gc-percent: a percentage (≥ 1), "off", or "" for
// the default (the GOGC environment variable when set, which the Go
// runtime already applies, else defaultGCPercent). It returns the value
// for debug.SetGCPercent (0: leave the runtime's; -1: off) and a
// description. "off" needs a memory limit (haveLimit: --memory-limit,
// $GOMEMLIMIT or the container's), or the heap would never be collected.
func gcPercent(flag, gogc string, haveLimit bool) (int, string, error) {
	switch {
	case flag == "" && gogc != "":
		return 0, "GOGC=" + gogc, nil
	case flag == "":
		return defaultGCPercent, strconv.Itoa(defaultGCPercent) + "% (default)", nil
	case flag == "off" && !haveLimit:
		return 0, "", fmt.Errorf("--gc-percent off needs a memory limit (--memory-limit, $GOMEMLIMIT or a container limit), or nothing would be collected")
	case flag == "off":
		return -1, "off (collections only at the memory limit)", nil
	}
	n, err := strconv.Atoi(flag)
	if err != nil || n < 1 {
		return 0, "", fmt.Errorf("--gc-percent: %q is not a percentage of at least 1, or off", flag)
	}
	return n, flag + "%", nil
}
