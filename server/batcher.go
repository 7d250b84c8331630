package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ErrQueueFull is returned when a model's queue cannot take a request; the
// client gets 429 with Retry-After.
var ErrQueueFull = errors.New("queue full")

// ErrClosed is returned once the batcher is shutting down.
var ErrClosed = errors.New("batcher closed")

// BatchConfig controls dynamic batching for one model.
type BatchConfig struct {
	// MaxSize is the most items (texts or rows) in one model run; 1
	// disables merging requests. A single request larger than MaxSize runs
	// on its own.
	MaxSize int
	// MaxDelay is how long the first request of a batch waits for others;
	// 0 batches greedily: whatever is queued when a worker frees up.
	MaxDelay time.Duration
	// MaxTokens caps a text batch's padded size (items × longest item);
	// 0 means no cap.
	MaxTokens int
	// QueueSize bounds the items waiting; past it Submit fails fast with
	// ErrQueueFull.
	QueueSize int
	// Workers is the number of batches run concurrently.
	Workers int
}

// runFunc runs the model on the concatenated items of a batch and returns
// one output per item.
type runFunc[In, Out any] func(ctx context.Context, items []In) ([]Out, error)

type result[Out any] struct {
	out []Out
	err error
}

type job[In, Out any] struct {
	ctx   context.Context
	items []In
	width int // longest item (tokens), for MaxTokens
	done  chan result[Out]
}

// batcher groups concurrent requests for one model into model runs.
type batcher[In, Out any] struct {
	cfg     BatchConfig
	run     runFunc[In, Out]
	queue   chan *job[In, Out]
	queued  atomic.Int64
	onDepth func(int64)
	onBatch func(items int, d time.Duration)
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.RWMutex // guards closed against concurrent Submit
	closed  bool
}

func newBatcher[In, Out any](cfg BatchConfig, run runFunc[In, Out], onDepth func(int64), onBatch func(int, time.Duration)) *batcher[In, Out] {
	cfg.MaxSize = max(cfg.MaxSize, 1)
	cfg.QueueSize = max(cfg.QueueSize, 1)
	cfg.Workers = max(cfg.Workers, 1)
	b := &batcher[In, Out]{cfg: cfg, run: run, queue: make(chan *job[In, Out], cfg.QueueSize),
		onDepth: onDepth, onBatch: onBatch, stop: make(chan struct{})}
	b.wg.Add(cfg.Workers)
	for range cfg.Workers {
		go b.worker()
	}
	return b
}

// Submit queues items (of the given token width, 0 for rows) and waits for
// their outputs. It fails fast with ErrQueueFull when the queue holds
// QueueSize items, and returns ctx's error if ctx ends first.
func (b *batcher[In, Out]) Submit(ctx context.Context, items []In, width int) ([]Out, error) {
	if len(items) == 0 {
		return nil, nil
	}
	n := int64(len(items))
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return nil, ErrClosed
	}
	// A request larger than the whole queue is admitted only into an empty
	// queue, so it cannot starve forever.
	if q := b.queued.Add(n); q > int64(b.cfg.QueueSize) && q != n {
		b.queued.Add(-n)
		b.mu.RUnlock()
		return nil, ErrQueueFull
	}
	j := &job[In, Out]{ctx: ctx, items: items, width: width, done: make(chan result[Out], 1)}
	select {
	case b.queue <- j:
	default: // more jobs than QueueSize items cannot happen, but never block
		b.queued.Add(-n)
		b.mu.RUnlock()
		return nil, ErrQueueFull
	}
	b.mu.RUnlock()
	b.depth()
	select {
	case r := <-j.done:
		return r.out, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// WouldRefuse reports whether Submit would refuse n more items now because
// the queue is full: a caller checks it before costly preparation.
func (b *batcher[In, Out]) WouldRefuse(n int) bool {
	q := b.queued.Load()
	return q > 0 && q+int64(n) > int64(b.cfg.QueueSize)
}

func (b *batcher[In, Out]) depth() {
	if b.onDepth != nil {
		b.onDepth(b.queued.Load())
	}
}

// Close stops accepting work, lets the workers finish every queued job and
// waits for them.
func (b *batcher[In, Out]) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	close(b.stop)
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *batcher[In, Out]) take(j *job[In, Out]) {
	b.queued.Add(-int64(len(j.items)))
	b.depth()
}

func (b *batcher[In, Out]) worker() {
	defer b.wg.Done()
	var next *job[In, Out]
	for {
		first := next
		next = nil
		if first == nil {
			select {
			case first = <-b.queue:
			case <-b.stop:
				// Drain: nothing more can be queued once stop is closed.
				for {
					select {
					case j := <-b.queue:
						b.take(j)
						b.execute([]*job[In, Out]{j})
					default:
						return
					}
				}
			}
			b.take(first)
		}
		batch := []*job[In, Out]{first}
		items, width := len(first.items), first.width
		fits := func(j *job[In, Out]) bool {
			if items+len(j.items) > b.cfg.MaxSize {
				return false
			}
			return b.cfg.MaxTokens <= 0 || (items+len(j.items))*max(width, j.width) <= b.cfg.MaxTokens
		}
		full := func() bool {
			return items >= b.cfg.MaxSize || (b.cfg.MaxTokens > 0 && items*width >= b.cfg.MaxTokens)
		}
		var timer <-chan time.Time
		var stopTimer func() bool
		if b.cfg.MaxDelay > 0 && b.cfg.MaxSize > 1 {
			t := time.NewTimer(b.cfg.MaxDelay)
			timer, stopTimer = t.C, t.Stop
		}
	collect:
		for b.cfg.MaxSize > 1 && !full() {
			var j *job[In, Out]
			if timer == nil {
				select {
				case j = <-b.queue:
				default:
					break collect
				}
			} else {
				select {
				case j = <-b.queue:
				case <-timer:
					break collect
				case <-b.stop:
					break collect
				}
			}
			b.take(j)
			if !fits(j) {
				next = j
				break
			}
			batch = append(batch, j)
			items += len(j.items)
			width = max(width, j.width)
		}
		if stopTimer != nil {
			stopTimer()
		}
		b.execute(batch)
	}
}

// execute runs one batch and hands every job its outputs.
func (b *batcher[In, Out]) execute(batch []*job[In, Out]) {
	live := batch[:0]
	var deadline time.Time
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.done <- result[Out]{err: err}
			continue
		}
		live = append(live, j)
		if d, ok := j.ctx.Deadline(); ok && d.After(deadline) {
			deadline = d
		}
	}
	if len(live) == 0 {
		return
	}
	var all []In
	if len(live) == 1 {
		all = live[0].items
	} else {
		for _, j := range live {
			all = append(all, j.items...)
		}
	}
	// The run outlives any single request's cancellation but not the
	// latest deadline among them.
	ctx := context.WithoutCancel(live[0].ctx)
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	start := time.Now()
	out, err := safeRun(ctx, b.run, all)
	if err == nil && len(out) != len(all) {
		err = fmt.Errorf("model returned %d outputs for %d items", len(out), len(all))
	}
	if b.onBatch != nil {
		b.onBatch(len(all), time.Since(start))
	}
	off := 0
	for _, j := range live {
		if err != nil {
			j.done <- result[Out]{err: err}
			continue
		}
		j.done <- result[Out]{out: out[off : off+len(j.items) : off+len(j.items)]}
		off += len(j.items)
	}
}

// safeRun turns a panic in the model call into an error, so one bad batch
// cannot kill the worker.
func safeRun[In, Out any](ctx context.Context, run runFunc[In, Out], items []In) (out []Out, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("panic in model run: %v", r)
		}
	}()
	return run(ctx, items)
}
