package main

import (
	"strings"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	tests := []struct {
		flag, env string
		container int64
		want      int64
		err       string
	}{
		{"", "", 0, 0, ""},
		{"", "", 2 << 30, 2 << 30 * 9 / 10, ""},
		{"", "1GiB", 2 << 30, 0, ""}, // GOMEMLIMIT is the runtime's own
		{"off", "", 2 << 30, 0, ""},
		{"75%", "", 1000, 750, ""},
		{"512MiB", "", 0, 512 << 20, ""},
		{"1.5GB", "", 0, 1500000000, ""},
		{"900000000", "", 0, 900000000, ""},
		{"80%", "", 0, 0, ""}, // no container limit: none, not an error
		{"150%", "", 1000, 0, "percentage"},
		{"lots", "", 0, 0, "not a size"},
		{"-1GiB", "", 0, 0, "not a size"},
	}
	for _, tt := range tests {
		got, _, err := memoryLimit(tt.flag, tt.env, tt.container)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.flag, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q (env %q, container %d): %d, %v; want %d", tt.flag, tt.env, tt.container, got, err, tt.want)
		}
	}
}

func TestGCPercent(t *testing.T) {
	tests := []struct {
		flag, env string
		limit     bool
		want      int
		err       string
	}{
		{"", "", false, defaultGCPercent, ""},
		{"", "200", false, 0, ""}, // GOGC is the runtime's own
		{"80", "200", false, 80, ""},
		{"off", "", true, -1, ""},
		{"off", "", false, 0, "needs a memory limit"},
		{"0", "", false, 0, "at least 1"},
		{"lots", "", false, 0, "at least 1"},
	}
	for _, tt := range tests {
		got, _, err := gcPercent(tt.flag, tt.env, tt.limit)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.flag, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q (GOGC %q): %d, %v; want %d", tt.flag, tt.env, got, err, tt.want)
		}
	}
}
