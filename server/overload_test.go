//go:build loadtest

package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agate-ml/agate/server/loadgen"
)

// TestOverload measures each inference route's capacity (64 closed-loop
// clients), then offers 2x and 10x that rate open-loop and reports the
// goodput (answered 200 per second) against the capacity, the p50 of the
// successful requests and /healthz's p99 meanwhile. Goals: goodput at least
// 80% of capacity, /healthz p99 at most 50 ms, no error but 429.
//
//	go test -tags loadtest -run TestOverload -v ./server/
func TestOverload(t *testing.T) {
	url, _ := startLoopback(t, Config{Batching: true})
	texts := []string{"You are a wonderful person and I like your work.", "Shut up, you stupid idiot.",
		"The weather is nice today, let's go for a walk in the park.", "I will find you.", "Thanks!"}
	routes := []struct {
		name string
		body func(int) []byte
	}{
		{"/predict", func(i int) []byte {
			b, _ := json.Marshal(map[string]any{"data": []float64{0.5 + float64(i%7)/10, -1.2, 0.3, 2, 0}})
			return b
		}},
		{"/analyze", func(i int) []byte {
			b, _ := json.Marshal(map[string]any{"text": texts[i%len(texts)]})
			return b
		}},
	}
	var report []string
	for _, r := range routes {
		capRes, err := loadgen.Run(context.Background(), loadgen.Config{URL: url + r.name, Body: r.body, Requests: 20000, Concurrency: 64, Duration: 8 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		capacity := capRes.Throughput
		report = append(report, fmt.Sprintf("%s capacity (64 clients): %.0f req/s, p50 %v", r.name, capacity, capRes.P50))
		for _, x := range []float64{2, 10} {
			rate := x * capacity
			stop := make(chan struct{})
			var probes []time.Duration
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{Timeout: 5 * time.Second}
				for {
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
					start := time.Now()
					resp, err := client.Get(url + "/healthz")
					if err == nil {
						resp.Body.Close()
					}
					probes = append(probes, time.Since(start))
				}
			}()
			res, err := loadgen.Run(context.Background(), loadgen.Config{URL: url + r.name, Body: r.body,
				Requests: int(rate * 8), Rate: rate, Concurrency: 4096, Duration: 8 * time.Second})
			close(stop)
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(probes)
			p99 := probes[len(probes)*99/100]
			goodput := float64(res.OK) / res.Elapsed.Seconds()
			report = append(report, fmt.Sprintf("%s at %.0fx (%.0f req/s offered): goodput %.0f req/s = %.0f%% of capacity, p50 of the successful %v, %d throttled, %d dropped by the client, %d errors; /healthz p99 %v",
				r.name, x, rate, goodput, 100*goodput/capacity, res.P50, res.Throttled, res.Dropped, res.Errors, p99))
			if res.Errors > 0 {
				t.Errorf("%s at %.0fx: %d errors other than 429 (%v)", r.name, x, res.Errors, res.Codes)
			}
		}
	}
	t.Log("\n" + strings.Join(report, "\n"))
}
