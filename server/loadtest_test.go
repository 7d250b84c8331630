//go:build loadtest

package server

// The load test runs a real server on loopback and reports latency
// percentiles, throughput and errors for /predict (demo random forest) and
// /analyze (the tiny BERT from the shared fixtures), with dynamic batching
// on and off, then offers twice the sustainable rate and counts every
// non-429 error. It is bounded in requests and time. Run it with
//
//	go test -tags loadtest -run TestLoad -v ./server/

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agate-ml/agate/models"
	"github.com/agate-ml/agate/server/loadgen"
)

func startLoopback(t *testing.T, cfg Config) (string, *Server) {
	t.Helper()
	e := newEnv(t, cfg, true)
	ctx, cancel := context.WithCancel(context.Background())
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { e.s.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String(), e.s
}

func p50(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test skipped in -short mode")
	}
	row := []float64{0.5, -1.2, 0.3, 2, 0}
	predictBody := func(i int) []byte {
		b, _ := json.Marshal(map[string]any{"data": []float64{row[0] + float64(i%7)/10, row[1], row[2], row[3], row[4]}})
		return b
	}
	texts := []string{"You are a wonderful person and I like your work.", "Shut up, you stupid idiot.",
		"The weather is nice today, let's go for a walk in the park.", "I will find you.", "Thanks!"}
	analyzeBody := func(i int) []byte {
		b, _ := json.Marshal(map[string]any{"text": texts[i%len(texts)]})
		return b
	}

	// Direct engine call: the same single-row prediction without HTTP.
	reg := models.NewRegistry()
	loadDemo(t, reg)
	m, _ := reg.Get("demo-rf")
	var direct []time.Duration
	for i := 0; i < 3000; i++ {
		start := time.Now()
		if _, _, err := m.Tabular.Predict(context.Background(), [][]float64{row}); err != nil {
			t.Fatal(err)
		}
		direct = append(direct, time.Since(start))
	}
	directP50 := p50(direct)
	reg.Close()

	var report []string
	add := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		report = append(report, line)
		t.Log(line)
	}
	add("direct engine call, 1 row: p50 %v", directP50)

	for _, batching := range []bool{false, true} {
		mode := map[bool]string{false: "batching off", true: "batching on"}[batching]
		url, s := startLoopback(t, Config{Batching: batching})
		// In-process handler (no TCP) and loopback HTTP, one client.
		var inproc []time.Duration
		for i := 0; i < 3000; i++ {
			req := httptest.NewRequest("POST", "/predict", strings.NewReader(string(predictBody(0))))
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			start := time.Now()
			s.Handler().ServeHTTP(w, req)
			inproc = append(inproc, time.Since(start))
			if w.Code != 200 {
				t.Fatalf("in-process /predict: %d %s", w.Code, w.Body)
			}
		}
		seq, err := loadgen.Run(context.Background(), loadgen.Config{URL: url + "/predict", Body: predictBody, Requests: 3000, Concurrency: 1, Duration: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		add("[%s] /predict in-process handler, 1 client: p50 %v (overhead %+.0f%% vs direct)", mode, p50(inproc),
			100*(float64(p50(inproc))/float64(directP50)-1))
		add("[%s] /predict loopback HTTP, 1 client: %v (overhead %+.0f%% vs direct)", mode, seq,
			100*(float64(seq.P50)/float64(directP50)-1))
		for _, c := range []struct {
			name     string
			path     string
			body     func(int) []byte
			requests int
		}{
			{"/predict", "/predict", predictBody, 6000},
			{"/analyze", "/analyze", analyzeBody, 1500},
		} {
			closed, err := loadgen.Run(context.Background(), loadgen.Config{URL: url + c.path, Body: c.body, Requests: c.requests, Concurrency: 32, Duration: 20 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			add("[%s] %s 32 clients: %v", mode, c.name, closed)
			rate := 2 * closed.Throughput
			open, err := loadgen.Run(context.Background(), loadgen.Config{URL: url + c.path, Body: c.body,
				Requests: int(rate * 4), Rate: rate, Concurrency: 2048, Duration: 12 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			add("[%s] %s open loop at 2x (%.0f req/s): %v", mode, c.name, rate, open)
			if open.Errors > 0 {
				t.Errorf("[%s] %s at 2x the sustainable rate: %d non-429 errors (%v)", mode, c.name, open.Errors, open.Codes)
			}
		}
	}
	t.Log("\n" + strings.Join(report, "\n"))
}
