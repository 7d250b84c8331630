// Package loadgen is a small HTTP load generator for agate's service:
// closed-loop (a fixed number of concurrent clients) or open-loop (a fixed
// arrival rate), always bounded by a request count and a duration. It
// reports latency percentiles and counts errors, keeping 429 (load
// shedding) apart from real failures.
package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Config describes one run.
type Config struct {
	// URL and Method of every request (Method defaults to POST).
	URL, Method string
	// Body returns the body of request i (JSON).
	Body func(i int) []byte `json:"-"`
	// Requests bounds the number of requests sent (required).
	Requests int
	// Duration bounds the run's time (default 30s).
	Duration time.Duration
	// Concurrency is the number of clients in closed-loop mode, and the
	// most requests in flight in open-loop mode (default 8).
	Concurrency int
	// Rate, when positive, sends requests at this many per second
	// (open loop); requests that would exceed Concurrency in flight are
	// counted as Dropped.
	Rate float64
	// Client sends the requests (default: a client with keep-alive and
	// enough idle connections).
	Client *http.Client `json:"-"`
}

// Result summarizes a run.
type Result struct {
	Sent, OK, Throttled, Errors, Dropped int
	P50, P90, P99, Max                   time.Duration
	Elapsed                              time.Duration
	// Throughput is successful requests per second.
	Throughput float64
	// Codes counts responses by status (0: transport error).
	Codes map[int]int
}

// String formats the result on one line.
func (r Result) String() string {
	return fmt.Sprintf("sent %d ok %d 429 %d errors %d dropped %d | p50 %v p90 %v p99 %v max %v | %.0f req/s",
		r.Sent, r.OK, r.Throttled, r.Errors, r.Dropped, r.P50.Round(time.Microsecond), r.P90.Round(time.Microsecond),
		r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond), r.Throughput)
}

// Run executes the load described by cfg.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Requests <= 0 || cfg.URL == "" || cfg.Body == nil {
		return Result{}, errors.New("loadgen: URL, Body and a positive Requests are required")
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodPost
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 30 * time.Second
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{MaxIdleConns: cfg.Concurrency * 2, MaxIdleConnsPerHost: cfg.Concurrency * 2}}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var (
		mu   sync.Mutex
		lats []time.Duration
		res  = Result{Codes: map[int]int{}}
	)
	one := func(i int) {
		req, err := http.NewRequestWithContext(ctx, cfg.Method, cfg.URL, bytes.NewReader(cfg.Body(i)))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := client.Do(req)
		code := 0
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			code = resp.StatusCode
		}
		d := time.Since(start)
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil && code == 0 {
			return // cut off by the run's end: not counted
		}
		res.Sent++
		res.Codes[code]++
		switch {
		case code >= 200 && code < 300:
			res.OK++
			lats = append(lats, d)
		case code == http.StatusTooManyRequests:
			res.Throttled++
		default:
			res.Errors++
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	if cfg.Rate <= 0 {
		next := make(chan int)
		for range cfg.Concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					one(i)
				}
			}()
		}
	feed:
		for i := 0; i < cfg.Requests; i++ {
			select {
			case next <- i:
			case <-ctx.Done():
				break feed
			}
		}
		close(next)
	} else {
		// Each tick sends every request due by then, so the offered rate
		// holds even when the timer fires late (it does under load).
		slots := make(chan struct{}, cfg.Concurrency)
		interval := max(time.Duration(float64(time.Second)/cfg.Rate), 100*time.Microsecond)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		i := 0
	send:
		for i < cfg.Requests {
			select {
			case <-tick.C:
			case <-ctx.Done():
				break send
			}
			due := min(cfg.Requests, int(time.Since(start).Seconds()*cfg.Rate))
			for ; i < due; i++ {
				select {
				case slots <- struct{}{}:
					wg.Add(1)
					go func() {
						defer wg.Done()
						defer func() { <-slots }()
						one(i)
					}()
				default:
					mu.Lock()
					res.Dropped++
					mu.Unlock()
				}
			}
		}
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	slices.Sort(lats)
	pct := func(p float64) time.Duration {
		if len(lats) == 0 {
			return 0
		}
		return lats[min(len(lats)-1, int(p*float64(len(lats))))]
	}
	res.P50, res.P90, res.P99 = pct(0.50), pct(0.90), pct(0.99)
	if len(lats) > 0 {
		res.Max = lats[len(lats)-1]
	}
	res.Throughput = float64(res.OK) / res.Elapsed.Seconds()
	return res, nil
}
