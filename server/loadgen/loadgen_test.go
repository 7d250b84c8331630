package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) % 10 {
		case 0:
			w.WriteHeader(http.StatusTooManyRequests)
		case 5:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	body := func(int) []byte { return []byte(`{}`) }
	r, err := Run(context.Background(), Config{URL: srv.URL, Body: body, Requests: 100, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 100 || r.Throttled != 10 || r.Errors != 10 || r.OK != 80 || r.P50 <= 0 || r.P99 < r.P50 {
		t.Errorf("closed loop: %v", r)
	}
	r, err = Run(context.Background(), Config{URL: srv.URL, Body: body, Requests: 50, Rate: 1000, Duration: 5 * time.Second})
	if err != nil || r.Sent+r.Dropped != 50 || !strings.Contains(r.String(), "req/s") {
		t.Errorf("open loop: %v %v", r, err)
	}
	if _, err := Run(context.Background(), Config{}); err == nil {
		t.Error("empty config: want an error")
	}
}
