package server

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// postPredict posts body to /predict on s and returns the status, without
// the test's T (it runs on goroutines of its own).
func postPredict(s *Server, body string) int {
	req := httptest.NewRequest("POST", "/predict", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	return w.Code
}

func TestAdmissionLine(t *testing.T) {
	a := newAdmission(1, 2, time.Second)
	if err := a.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	// two wait, in order; a third finds the line full
	got := make(chan int, 2)
	for i := range 2 {
		go func() {
			if err := a.acquire(context.Background()); err != nil {
				t.Error(err)
				got <- -1
				return
			}
			got <- i
		}()
		waitFor(t, func() bool { return a.queued() == i+1 })
	}
	if err := a.acquire(context.Background()); !errors.Is(err, errLineFull) {
		t.Fatalf("third waiter: %v, want errLineFull", err)
	}
	for want := range 2 {
		a.release()
		if i := <-got; i != want {
			t.Fatalf("admitted waiter %d, want %d (first come, first served)", i, want)
		}
	}
	if a.queued() != 0 || a.inFlight() != 1 {
		t.Fatalf("queued %d in flight %d, want 0 and 1", a.queued(), a.inFlight())
	}

	// a waiter gives up at its deadline or when its client leaves, and
	// leaves no slot taken
	short := newAdmission(1, 4, 20*time.Millisecond)
	if err := short.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := short.acquire(context.Background()); !errors.Is(err, errWaitedTooLong) {
		t.Fatalf("waited past the limit: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(5 * time.Millisecond); cancel() }()
	if err := newAdmissionHeld(t).acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("client gone: %v", err)
	}
	if short.queued() != 0 || short.inFlight() != 1 {
		t.Fatalf("queued %d in flight %d, want 0 and 1", short.queued(), short.inFlight())
	}
}

// newAdmissionHeld is an admission whose one slot is taken and whose
// waiters never time out.
func newAdmissionHeld(t *testing.T) *admission {
	a := newAdmission(1, 4, time.Hour)
	if err := a.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestAdmissionWaits: a request past MaxInFlight waits in line and is
// served when a slot frees; one past the line, or one that waits too long,
// gets 429 naming the limits.
func TestAdmissionWaits(t *testing.T) {
	e := newEnv(t, Config{MaxInFlight: 1, MaxQueued: 1, MaxQueueWait: 300 * time.Millisecond}, false)
	release := make(chan struct{})
	e.blockingRows(BatchConfig{MaxSize: 1, QueueSize: 8, Workers: 1}, func(ctx context.Context, rows [][]float64) ([]rowResult, error) {
		<-release
		return make([]rowResult, len(rows)), nil
	})
	body := `{"data": [0.5, 1.2, -0.3, 0.8, 2.0]}`
	codes := make(chan int, 2)
	for i := range 2 {
		go func() { codes <- postPredict(e.s, body) }()
		waitFor(t, func() bool { return e.s.admission.inFlight() == 1 && e.s.admission.queued() == i })
	}
	w, _ := e.do("POST", "/predict", body)
	if w.Code != 429 || !strings.Contains(w.Body.String(), "1 more are waiting") {
		t.Errorf("past the line: %d %s", w.Code, w.Body)
	}
	close(release)
	for range 2 {
		if code := <-codes; code != 200 {
			t.Errorf("a request admitted or waiting: %d", code)
		}
	}

	// nothing frees the slot within MaxQueueWait: 429 after the wait
	block := make(chan struct{})
	defer close(block)
	e2 := newEnv(t, Config{MaxInFlight: 1, MaxQueued: 1, MaxQueueWait: 50 * time.Millisecond}, false)
	e2.blockingRows(BatchConfig{MaxSize: 1, QueueSize: 8, Workers: 1}, func(ctx context.Context, rows [][]float64) ([]rowResult, error) {
		<-block
		return make([]rowResult, len(rows)), nil
	})
	go postPredict(e2.s, body)
	waitFor(t, func() bool { return e2.s.admission.inFlight() == 1 })
	start := time.Now()
	w, _ = e2.do("POST", "/predict", body)
	if w.Code != 429 || w.Header().Get("Retry-After") != "1" || !strings.Contains(w.Body.String(), "waited 50ms") || time.Since(start) < 50*time.Millisecond {
		t.Errorf("waited too long: %d %s after %v", w.Code, w.Body, time.Since(start))
	}
}
