//go:build loadtest

package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/server/loadgen"
)

// TestSoak runs the agate binary with its default flags and the bert-tiny
// fixture behind /analyze, sends mixed traffic (single texts of 1-300
// words, half with spans; batches of 1-16 texts; KServe v2 BYTES batches
// of 1-8) from 8 closed-loop clients, samples the server's RSS every 15 s,
// and checks the bars: after a minute of warm-up RSS grows at most
// 15% (median of the last quarter of the samples against the first's: a
// trend, not one collection's swing), and 90% of the samples stay at most
// $AGATE_SOAK_MAX_MB (default 300).
//
//	AGATE_SOAK_DURATION=10m go test -tags loadtest -run TestSoak -v -timeout 20m ./server/
func TestSoak(t *testing.T) {
	dur := 3 * time.Minute
	if v := os.Getenv("AGATE_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		dur = d
	}
	maxMB := 300.0
	if v := os.Getenv("AGATE_SOAK_MAX_MB"); v != "" {
		maxMB, _ = strconv.ParseFloat(v, 64)
	}
	model := shared.Path(t, "models", "transformers", "bert-tiny-6label")
	bin := filepath.Join(t.TempDir(), "agate")
	build := exec.Command("go", "build", "-o", bin, "../cmd/agate")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve", "--addr", addr, "--model-dir", model, "--cache-dir", t.TempDir(), "--log-level", "warn")
	cmd.Env = append(os.Environ(), "GOMEMLIMIT=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	url := "http://" + addr
	deadline := time.Now().Add(3 * time.Minute)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not turn ready")
		}
		time.Sleep(200 * time.Millisecond)
	}

	words := strings.Fields("you are such a wonderful person and I really like the work you did today but some people are stupid idiots who should shut up and go away forever")
	text := func(r *rand.Rand) string {
		n := 1 + r.IntN(300)
		w := make([]string, n)
		for i := range w {
			w[i] = words[r.IntN(len(words))]
		}
		return strings.Join(w, " ")
	}
	routes := []struct {
		path string
		body func(r *rand.Rand) []byte
	}{
		{"/analyze", func(r *rand.Rand) []byte {
			b, _ := json.Marshal(map[string]any{"text": text(r), "spans": r.IntN(2) == 0})
			return b
		}},
		{"/analyze", func(r *rand.Rand) []byte {
			texts := make([]string, 1+r.IntN(16))
			for i := range texts {
				texts[i] = text(r)
			}
			b, _ := json.Marshal(map[string]any{"texts": texts})
			return b
		}},
		{"/v2/models/bert-tiny-6label/infer", func(r *rand.Rand) []byte {
			texts := make([]string, 1+r.IntN(8))
			for i := range texts {
				texts[i] = text(r)
			}
			b, _ := json.Marshal(map[string]any{"inputs": []map[string]any{{"name": "text", "shape": []int{len(texts)}, "datatype": "BYTES", "data": texts}}})
			return b
		}},
	}
	rss := func() float64 {
		f, err := os.Open(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		if err != nil {
			return 0
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var wg sync.WaitGroup
	results := make([]loadgen.Result, len(routes))
	for i, rt := range routes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mu sync.Mutex
			r := rand.New(rand.NewPCG(uint64(i), 1))
			res, err := loadgen.Run(ctx, loadgen.Config{URL: url + rt.path, Requests: 1 << 30, Duration: dur, Concurrency: []int{3, 3, 2}[i],
				Body: func(int) []byte { mu.Lock(); defer mu.Unlock(); return rt.body(r) }})
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = res
		}()
	}
	var samples []float64
	start := time.Now()
	for time.Since(start) < dur {
		time.Sleep(15 * time.Second)
		samples = append(samples, rss())
		t.Logf("%4.0f s: RSS %.0f MB", time.Since(start).Seconds(), samples[len(samples)-1])
	}
	cancel()
	wg.Wait()
	for i, res := range results {
		t.Logf("%s: %d ok, %d 429, %d errors, %.1f req/s, p50 %v, codes %v", routes[i].path, res.OK, res.Throttled, res.Errors, res.Throughput, res.P50, res.Codes)
		if res.Errors > 0 {
			t.Errorf("%s: %d errors", routes[i].path, res.Errors)
		}
	}
	warm := 4 // a minute of samples
	if len(samples) < warm+8 {
		t.Fatalf("%d samples: run at least three minutes", len(samples))
	}
	// Growth is a trend, not one GC cycle's swing: the median of the last
	// quarter of the samples after warm-up against the first quarter's.
	after := samples[warm:]
	q := len(after) / 4
	median := func(v []float64) float64 {
		v = slices.Clone(v)
		slices.Sort(v)
		return v[len(v)/2]
	}
	first, last := median(after[:q]), median(after[len(after)-q:])
	sorted := slices.Clone(after)
	slices.Sort(sorted)
	peak, p90 := sorted[len(sorted)-1], sorted[len(sorted)*9/10]
	t.Logf("after warm-up: median %.0f MB first quarter, %.0f MB last quarter (%+.0f%%); p90 %.0f MB, peak %.0f MB",
		first, last, 100*(last/first-1), p90, peak)
	if last > 1.15*first {
		t.Errorf("RSS grew %.0f%% after warm-up (bar 15%%)", 100*(last/first-1))
	}
	if p90 > maxMB {
		t.Errorf("RSS p90 %.0f MB (bar %.0f MB)", p90, maxMB)
	}
}
