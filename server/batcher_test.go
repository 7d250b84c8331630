package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func double(ctx context.Context, in []int) ([]int, error) {
	out := make([]int, len(in))
	for i, v := range in {
		out[i] = 2 * v
	}
	return out, nil
}

func TestBatcherMerges(t *testing.T) {
	var sizes []int
	var mu sync.Mutex
	b := newBatcher(BatchConfig{MaxSize: 8, MaxDelay: 20 * time.Millisecond, QueueSize: 64, Workers: 1}, double, nil,
		func(n int, _ time.Duration) { mu.Lock(); sizes = append(sizes, n); mu.Unlock() })
	defer b.Close()
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := b.Submit(context.Background(), []int{i, i + 100}, 0)
			if err != nil || len(out) != 2 || out[0] != 2*i || out[1] != 2*(i+100) {
				t.Errorf("job %d: %v %v", i, out, err)
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	total, biggest := 0, 0
	for _, s := range sizes {
		total += s
		biggest = max(biggest, s)
		if s > 8 {
			t.Errorf("batch of %d items, max 8", s)
		}
	}
	if total != 32 || biggest < 4 {
		t.Errorf("batches %v: want 32 items in merged batches", sizes)
	}
}

func TestBatcherTokenCap(t *testing.T) {
	var sizes []int
	var mu sync.Mutex
	b := newBatcher(BatchConfig{MaxSize: 100, MaxDelay: 30 * time.Millisecond, MaxTokens: 100, QueueSize: 100, Workers: 1}, double, nil,
		func(n int, _ time.Duration) { mu.Lock(); sizes = append(sizes, n); mu.Unlock() })
	defer b.Close()
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.Submit(context.Background(), []int{i}, 40); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, s := range sizes {
		if s*40 > 100 {
			t.Errorf("batch of %d items × 40 tokens exceeds 100: %v", s, sizes)
		}
	}
}

func TestBatcherQueueFullAndCancel(t *testing.T) {
	release := make(chan struct{})
	var runs atomic.Int32
	b := newBatcher(BatchConfig{MaxSize: 1, QueueSize: 2, Workers: 1}, func(ctx context.Context, in []int) ([]int, error) {
		runs.Add(1)
		<-release
		return in, nil
	}, func(int64) {}, nil)
	errc := make(chan error, 3)
	go func() { _, err := b.Submit(context.Background(), []int{1}, 0); errc <- err }()
	for runs.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, err := b.Submit(ctx, []int{2, 3}, 0); errc <- err }()
	for b.queued.Load() != 2 {
		time.Sleep(time.Millisecond)
	}
	if _, err := b.Submit(context.Background(), []int{4}, 0); !errors.Is(err, ErrQueueFull) {
		t.Errorf("full queue: %v", err)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled job: %v", err)
	}
	close(release)
	if err := <-errc; err != nil {
		t.Errorf("first job: %v", err)
	}
	b.Close()
	b.Close() // idempotent
	if _, err := b.Submit(context.Background(), []int{1}, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if out, err := b.Submit(context.Background(), nil, 0); out != nil || err != nil {
		t.Error("empty submit")
	}
}

func TestBatcherOversizedJobAndErrors(t *testing.T) {
	b := newBatcher(BatchConfig{MaxSize: 2, QueueSize: 3, Workers: 1}, double, nil, nil)
	// A job larger than the queue is admitted into an empty queue.
	if out, err := b.Submit(context.Background(), []int{1, 2, 3, 4, 5}, 0); err != nil || len(out) != 5 {
		t.Errorf("oversized job: %v %v", out, err)
	}
	b.Close()
	for name, run := range map[string]runFunc[int, int]{
		"error": func(context.Context, []int) ([]int, error) { return nil, errors.New("boom") },
		"panic": func(context.Context, []int) ([]int, error) { panic("bad") },
		"count": func(context.Context, []int) ([]int, error) { return []int{1}, nil },
	} {
		b := newBatcher(BatchConfig{MaxSize: 4, QueueSize: 4}, run, nil, nil)
		if _, err := b.Submit(context.Background(), []int{1, 2}, 0); err == nil {
			t.Errorf("%s: want an error", name)
		}
		b.Close()
	}
}

func TestBatcherDrainsOnClose(t *testing.T) {
	started := make(chan struct{}, 1)
	b := newBatcher(BatchConfig{MaxSize: 1, QueueSize: 8, Workers: 1}, func(ctx context.Context, in []int) ([]int, error) {
		select {
		case started <- struct{}{}:
		default:
		}
		time.Sleep(20 * time.Millisecond)
		return in, nil
	}, nil, nil)
	var wg sync.WaitGroup
	var ok atomic.Int32
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.Submit(context.Background(), []int{i}, 0); err == nil {
				ok.Add(1)
			}
		}()
	}
	<-started
	for b.queued.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	b.Close()
	wg.Wait()
	if ok.Load() != 4 {
		t.Errorf("%d of 4 queued jobs finished after Close", ok.Load())
	}
}

func TestBatcherExpiredJobSkipped(t *testing.T) {
	var runs atomic.Int32
	release := make(chan struct{})
	b := newBatcher(BatchConfig{MaxSize: 1, QueueSize: 4, Workers: 1}, func(ctx context.Context, in []int) ([]int, error) {
		runs.Add(1)
		<-release
		return in, nil
	}, nil, nil)
	defer b.Close()
	go b.Submit(context.Background(), []int{1}, 0)
	for runs.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := b.Submit(ctx, []int{2}, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("expired: %v", err)
	}
	close(release)
	time.Sleep(20 * time.Millisecond)
	if runs.Load() != 1 {
		t.Errorf("the expired job ran (%d runs)", runs.Load())
	}
}
