package ops

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Pool is a bounded set of worker goroutines for intra-op parallelism.
// A nil *Pool runs everything inline.
type Pool struct {
	workers int
	tasks   chan task
	once    sync.Once
	groups  sync.Pool // *group, reused across calls
}

type task struct {
	fn     func(lo, hi int)
	lo, hi int
	g      *group
}

// group tracks the chunks of one Parallel call that run on workers. state
// holds the number still running plus waitingBit once the caller has given
// up spinning and blocks on wake; the worker that brings the count to zero
// with the bit set sends the one wake-up.
type group struct {
	state atomic.Int64
	wake  chan struct{}
}

const waitingBit = 1 << 32

// done marks one chunk finished.
func (g *group) done() {
	if g.state.Add(-1) == waitingBit {
		g.wake <- struct{}{}
	}
}

// wait returns when every chunk is done: it polls for spinFor (the chunks
// of a parallel section usually finish within microseconds of each other,
// and a parked goroutine takes tens of microseconds to wake), then blocks.
func (g *group) wait() {
	deadline := time.Now().Add(spinFor)
	for i := 0; ; i++ {
		if g.state.Load() == 0 {
			return
		}
		if i%64 == 63 {
			if time.Now().After(deadline) {
				break
			}
			runtime.Gosched()
		}
	}
	if g.state.Add(waitingBit) == waitingBit {
		g.state.Store(0) // every chunk finished before the bit was set
		return
	}
	<-g.wake
	g.state.Store(0)
}

// NewPool starts a pool of n workers (n <= 0 means GOMAXPROCS). The calling
// goroutine counts as one worker, so n-1 goroutines are started.
func NewPool(n int) *Pool {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	p := &Pool{workers: n, tasks: make(chan task, 4*n)}
	for i := 1; i < n; i++ {
		go p.loop()
	}
	return p
}

// spinFor is how long an idle worker polls for the next task before it
// parks: waking a parked goroutine costs tens of microseconds, which would
// dominate the many short parallel sections of a small model run.
const spinFor = 50 * time.Microsecond

func (p *Pool) loop() {
	for {
		var t task
		var ok bool
		select {
		case t, ok = <-p.tasks:
		default:
			t, ok = p.spin()
		}
		if !ok {
			return
		}
		t.fn(t.lo, t.hi)
		t.g.done()
	}
}

// spin polls the task queue for spinFor, then blocks on it.
func (p *Pool) spin() (task, bool) {
	deadline := time.Now().Add(spinFor)
	for i := 0; ; i++ {
		select {
		case t, ok := <-p.tasks:
			return t, ok
		default:
		}
		if i%16 == 15 {
			if time.Now().After(deadline) {
				break
			}
			runtime.Gosched()
		}
	}
	t, ok := <-p.tasks
	return t, ok
}

// Workers returns the number of workers (1 for a nil pool).
func (p *Pool) Workers() int {
	if p == nil {
		return 1
	}
	return p.workers
}

// Close stops the worker goroutines. Parallel must not be called afterwards.
func (p *Pool) Close() {
	if p == nil {
		return
	}
	p.once.Do(func() { close(p.tasks) })
}

// Parallel calls fn over [0, n) split into at most Workers() contiguous
// chunks of at least grain items each, and waits for all of them.
func (p *Pool) Parallel(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	chunks := p.Workers()
	if max := n / grain; max < chunks {
		chunks = max
	}
	if chunks <= 1 {
		fn(0, n)
		return
	}
	g, _ := p.groups.Get().(*group)
	if g == nil {
		g = &group{wake: make(chan struct{}, 1)}
	}
	g.state.Store(int64(chunks - 1))
	size := (n + chunks - 1) / chunks
	lo := size
	for i := 1; i < chunks; i++ {
		hi := lo + size
		if hi > n {
			hi = n
		}
		p.tasks <- task{fn: fn, lo: lo, hi: hi, g: g}
		lo = hi
	}
	fn(0, size)
	g.wait()
	p.groups.Put(g)
}
