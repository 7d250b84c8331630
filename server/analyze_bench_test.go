package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/models"
	"github.com/agate-ml/agate/models/toxicity"
	"github.com/agate-ml/agate/server/loadgen"
)

const benchComment = `{"text": "Franchement ce commentaire est vraiment méchant et insultant, tu devrais avoir honte de parler comme ça aux autres"}`

// BenchmarkAnalyzeLoopback serves the embedded toxicity model on a
// loopback port and sends /analyze requests for one 20-word comment, one
// at a time; it reports the p50 and p99 latency a client sees.
func BenchmarkAnalyzeLoopback(b *testing.B) {
	e := newDefaultEnvTB(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: e.s.Handler()}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/analyze"
	body := []byte(benchComment)
	// warm up the connection and the model
	if _, err := loadgen.Run(context.Background(), loadgen.Config{URL: url, Body: func(int) []byte { return body }, Requests: 200, Concurrency: 1}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	res, err := loadgen.Run(context.Background(), loadgen.Config{URL: url, Body: func(int) []byte { return body },
		Requests: b.N, Concurrency: 1, Duration: 5 * time.Minute})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.OK != b.N {
		b.Fatalf("%d of %d requests succeeded: %v", res.OK, b.N, res.Codes)
	}
	b.ReportMetric(float64(res.P50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(res.P99.Microseconds()), "p99-µs")
}

// BenchmarkEmbeddedModelMemory loads the embedded toxicity model and
// scores texts with it, and reports how much the process's resident set
// and live heap grew (after a GC).
func BenchmarkEmbeddedModelMemory(b *testing.B) {
	for b.Loop() {
		runtime.GC()
		debug.FreeOSMemory()
		rss0, heap0 := rssBytes(b), liveHeap()
		m, err := models.LoadFS(toxicity.Default(), "embedded", models.LoadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		texts := make([]string, 32)
		for i := range texts {
			texts[i] = strings.Repeat(fmt.Sprintf("commentaire numéro %d vraiment méchant ", i), 1+i%8)
		}
		for range 20 {
			if _, err := m.Text.Classify(context.Background(), texts); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		rss1, heap1 := rssBytes(b), liveHeap()
		b.ReportMetric(float64(rss1-rss0)/(1<<20), "rss-MiB")
		b.ReportMetric(float64(heap1-heap0)/(1<<20), "heap-MiB")
		runtime.KeepAlive(m)
		m.Close()
	}
}

func liveHeap() int64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// rssBytes reads the resident set size from /proc/self/status.
func rssBytes(tb testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Skip("no /proc/self/status:", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	tb.Skip("no VmRSS line")
	return 0
}

// BenchmarkAnalyzeVsClassify measures what the HTTP service adds to a
// model run: one French comment scored by the MiniLM-sized fixture
// in-process (TextClassifier.Classify) and through /analyze over loopback
// (JSON, batching queue, response), one call at a time; each reports its
// p50 and p99 latency. The goal is loopback p50 ≤ 1.2× in-process
// p50.
func BenchmarkAnalyzeVsClassify(b *testing.B) {
	dir := shared.Path(b, "models", "transformers", "minilm-l6-h384-6label")
	man := &models.Manifest{Name: "minilm", Version: "bench", Task: models.TaskTextClassification,
		Source: models.Source{Kind: models.SourceBuiltin}, Languages: []string{"fr", "en"}, MaxLength: 128}
	m, err := models.Load(dir, models.LoadOptions{Manifest: man})
	if err != nil {
		b.Fatal(err)
	}
	reg := models.NewRegistry()
	if err := reg.Add(m); err != nil {
		b.Fatal(err)
	}
	s, err := New(reg, Config{Batching: true, AnalyzeModel: "minilm", Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	s.SetReady(true)
	defer func() { s.Close(); reg.Close() }()
	const text = "Franchement ce commentaire est vraiment méchant et insultant, tu devrais avoir honte de parler comme ça aux autres"

	b.Run("classify", func(b *testing.B) {
		ctx := context.Background()
		for range 20 {
			if _, err := m.Text.Classify(ctx, []string{text}); err != nil {
				b.Fatal(err)
			}
		}
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			start := time.Now()
			if _, err := m.Text.Classify(ctx, []string{text}); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	})
	b.Run("loopback", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: s.Handler()}
		go srv.Serve(ln)
		defer srv.Close()
		url := "http://" + ln.Addr().String() + "/analyze"
		body, _ := json.Marshal(map[string]string{"text": text})
		cfg := loadgen.Config{URL: url, Body: func(int) []byte { return body }, Requests: 20, Concurrency: 1}
		if _, err := loadgen.Run(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		cfg.Requests, cfg.Duration = b.N, 5*time.Minute
		res, err := loadgen.Run(context.Background(), cfg)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if res.OK != b.N {
			b.Fatalf("%d of %d requests succeeded: %v", res.OK, b.N, res.Codes)
		}
		b.ReportMetric(float64(res.P50.Microseconds()), "p50-µs")
		b.ReportMetric(float64(res.P99.Microseconds()), "p99-µs")
	})
}
