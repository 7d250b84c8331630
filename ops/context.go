package ops

import (
	"context"
	"math/bits"
	"sync"
)

// Context is handed to kernels for one node execution: the caller's
// context.Context, the worker pool for intra-op parallelism and the run's
// buffer arena.
type Context struct {
	Ctx     context.Context
	Workers *Pool
	arena   *Arena

	// Scope is private to the engine (control-flow kernels reach enclosing
	// graph values through it).
	Scope any

	// MaxTensorBytes, when positive, caps every tensor New and Empty
	// return: a larger request panics with a *BudgetError, which the
	// engine reports as the step's error (see RecoverBudget).
	MaxTensorBytes int64
}

// NewContext returns a kernel context whose tensors are heap-allocated
// (arena may be nil) and whose Parallel runs on pool (which may be nil).
func NewContext(ctx context.Context, pool *Pool, arena *Arena) *Context {
	if ctx == nil {
		ctx = context.Background()
	}
	return &Context{Ctx: ctx, Workers: pool, arena: arena}
}

// Arena returns the run's arena (nil for heap allocation).
func (c *Context) Arena() *Arena { return c.arena }

// New returns a zeroed tensor of the given type and shape.
func (c *Context) New(dt DType, shape ...int) *Tensor {
	t := c.Empty(dt, shape...)
	if c.arena != nil && (t.buf == nil || t.buf.reused) {
		ClearSlice(t.Data) // a reused buffer, or bound storage
	}
	return t
}

// Empty returns a tensor whose contents are unspecified; the kernel must
// write every element.
func (c *Context) Empty(dt DType, shape ...int) *Tensor {
	c.checkBudget(dt, shape)
	if c.arena == nil {
		return &Tensor{DType: dt, Shape: append(make([]int, 0, len(shape)), shape...), Data: MakeSlice(dt, NumElements(shape))}
	}
	return c.arena.alloc(dt, shape)
}

// View returns a tensor sharing t's data with a new shape (same element
// count; the caller checks). Use it for Reshape-like ops and to pass an
// input through unchanged.
func (c *Context) View(t *Tensor, shape ...int) *Tensor {
	if c.arena == nil {
		return &Tensor{DType: t.DType, Shape: append(make([]int, 0, len(shape)), shape...), Data: t.Data}
	}
	return c.arena.view(t, shape)
}

// Parallel calls fn over [0, n) split into contiguous chunks of at least
// grain items, on the worker pool. It runs inline when the pool is absent,
// has one worker, or the work is smaller than two grains.
func (c *Context) Parallel(n, grain int, fn func(lo, hi int)) {
	c.Workers.Parallel(n, grain, fn)
}

// Err reports the context's cancellation error.
func (c *Context) Err() error { return c.Ctx.Err() }

// buffer is an arena-owned backing slice shared by a tensor and its views.
type buffer struct {
	data   any
	dt     DType
	cap    int
	refs   int
	reused bool

	// view caches the boxed data[:viewLen], so that a steady-state run,
	// which asks for the same sizes again, allocates nothing.
	view    any
	viewLen int

	lastRun uint64 // the arena run that last released it
}

// bytes is the buffer's size in bytes.
func (b *buffer) bytes() int64 { return int64(b.cap) * int64(max(b.dt.Size(), 1)) }

// Arena recycles tensor buffers within and across runs of one plan. It is
// not safe for concurrent use: each Run owns one arena at a time.
//
// With a limit (SetLimit), the buffers it keeps between runs stay bounded:
// when they hold more than the limit, Trim drops those no run used
// recently, so that a stream of ever new shapes (texts of every length)
// does not keep a buffer for each size it has seen. A run's own working set
// is kept even above the limit.
type Arena struct {
	free     map[arenaKey]*[]*buffer // one lookup per allocation or release
	tensors  []*Tensor
	bound    []*Tensor // offered by Bind, not yet taken
	limit    int64     // bytes kept between runs; 0: no limit
	retained int64     // bytes in free
	run      uint64    // runs started
}

// SetLimit bounds the bytes the arena keeps between runs (0: no limit).
func (a *Arena) SetLimit(bytes int64) { a.limit = bytes }

// Retained returns the bytes of the buffers the arena keeps for reuse.
func (a *Arena) Retained() int64 { return a.retained }

// StartRun marks the start of a run: when the arena keeps more than its
// limit, it first drops the buffers that neither the previous run nor this
// one released.
func (a *Arena) StartRun() {
	a.run++
	if a.limit <= 0 || a.retained <= a.limit {
		return
	}
	for k, p := range a.free {
		list := *p
		kept := list[:0]
		for _, b := range list {
			if b.lastRun+1 < a.run && a.retained > a.limit {
				a.retained -= b.bytes()
				continue
			}
			kept = append(kept, b)
		}
		clear(list[len(kept):])
		if len(kept) == 0 {
			delete(a.free, k)
		} else {
			*p = kept
		}
	}
}

// arenaKey is a buffer's element type (top byte) and capacity: one word,
// which the map hashes faster than a struct.
type arenaKey uint64

func makeArenaKey(dt DType, c int) arenaKey { return arenaKey(uint64(dt)<<56 | uint64(c)) }

// NewArena returns an empty arena.
func NewArena() *Arena { return &Arena{free: map[arenaKey]*[]*buffer{}} }

// sizeClass rounds n up so that buffers of similar sizes are shared: exact
// below 64 elements, then to a quarter-power-of-two step.
func sizeClass(n int) int {
	if n <= 64 {
		return n
	}
	shift := bits.Len(uint(n)) - 3
	step := 1 << shift
	return (n + step - 1) &^ (step - 1)
}

func (a *Arena) newTensor() *Tensor {
	if k := len(a.tensors); k > 0 {
		t := a.tensors[k-1]
		a.tensors = a.tensors[:k-1]
		return t
	}
	return &Tensor{Shape: make([]int, 0, 6), pooled: true}
}

// Bind offers t's storage to the next allocation of exactly t's type and
// shape, which then writes into it instead of an arena buffer: the engine
// binds a caller's output tensor (RunInto) around the step that computes
// that output, so the result lands in place without a copy. The tensor
// handed out owns no arena buffer; Unbind withdraws what was not taken.
func (a *Arena) Bind(t *Tensor) { a.bound = append(a.bound, t) }

// Unbind withdraws the storage offered by Bind and not taken.
func (a *Arena) Unbind() {
	clear(a.bound)
	a.bound = a.bound[:0]
}

// takeBound returns a tensor over the first bound storage of type dt and
// the given shape, or nil.
func (a *Arena) takeBound(dt DType, shape []int) *Tensor {
	for i, b := range a.bound {
		if b.DType != dt || !EqualShapes(b.Shape, shape) || b.Len() != NumElements(shape) {
			continue
		}
		a.bound = append(a.bound[:i], a.bound[i+1:]...)
		t := a.newTensor()
		t.DType = dt
		t.Shape = append(t.Shape[:0], shape...)
		t.Data = b.Data
		return t
	}
	return nil
}

func (a *Arena) alloc(dt DType, shape []int) *Tensor {
	if len(a.bound) > 0 {
		if t := a.takeBound(dt, shape); t != nil {
			return t
		}
	}
	n := NumElements(shape)
	c := sizeClass(n)
	var b *buffer
	if p := a.free[makeArenaKey(dt, c)]; p != nil && len(*p) > 0 {
		list := *p
		b = list[len(list)-1]
		*p = list[:len(list)-1]
		b.reused = true
		a.retained -= b.bytes()
	} else {
		b = &buffer{data: MakeSlice(dt, c), dt: dt, cap: c}
	}
	b.refs = 1
	t := a.newTensor()
	t.DType = dt
	t.Shape = append(t.Shape[:0], shape...)
	if b.view == nil || b.viewLen != n {
		b.view, b.viewLen = Subslice(b.data, 0, n), n
	}
	t.Data = b.view
	t.buf = b
	return t
}

func (a *Arena) view(src *Tensor, shape []int) *Tensor {
	t := a.newTensor()
	t.DType = src.DType
	t.Shape = append(t.Shape[:0], shape...)
	t.Data = src.Data
	t.buf = src.buf
	if t.buf != nil {
		t.buf.refs++
	}
	return t
}

// Release returns t (and its buffer, once no view uses it) to the arena.
// It must be called once per tensor the arena produced, after its last use.
func (a *Arena) Release(t *Tensor) {
	if b := t.buf; b != nil {
		b.refs--
		if b.refs == 0 {
			if b.dt == String {
				ClearSlice(b.data) // let the strings be collected
			}
			k := makeArenaKey(b.dt, b.cap)
			p := a.free[k]
			if p == nil {
				p = new([]*buffer)
				a.free[k] = p
			}
			*p = append(*p, b)
			b.lastRun = a.run
			a.retained += b.bytes()
		}
	}
	t.buf = nil
	t.Data = nil
	a.tensors = append(a.tensors, t)
}

// Detach hands t's data to the caller for good: the arena forgets t and will
// not recycle its buffer. It reports false when the buffer is shared with a
// live view (the caller should copy instead).
func (a *Arena) Detach(t *Tensor) bool {
	b := t.buf
	if b == nil {
		return false
	}
	if b.refs != 1 {
		return false
	}
	t.buf = nil
	return true
}

// Owns reports whether t was produced by an arena (and so must be released).
func (t *Tensor) Owned() bool { return t.buf != nil }

// Recyclable reports whether Release should see t: it owns an arena buffer
// or its header came from an arena (a view of an input or a constant).
func (t *Tensor) Recyclable() bool { return t.buf != nil || t.pooled }

// Release gives back a temporary tensor a kernel allocated with New or Empty
// and does not output. Outputs are released by the engine, never by kernels.
func (c *Context) Release(t *Tensor) {
	if c.arena != nil && t != nil {
		c.arena.Release(t)
	}
}

// parJob is a parallel job whose state S is copied in by value and whose
// function value is bound once, so that dispatching it to the worker pool
// allocates nothing (a closure over the kernel's locals would escape to
// the heap on every call).
type parJob[S any] struct {
	s  S
	fn func(lo, hi int)
}

// parJobs is a pool of parJob[S] running body.
type parJobs[S any] struct{ p sync.Pool }

// newParJobs returns a pool of jobs that run body(state, lo, hi).
func newParJobs[S any](body func(s *S, lo, hi int)) *parJobs[S] {
	j := &parJobs[S]{}
	j.p.New = func() any {
		job := new(parJob[S])
		job.fn = func(lo, hi int) { body(&job.s, lo, hi) }
		return job
	}
	return j
}

// run executes the job with state s over [0, n) in chunks of at least
// grain, like Context.Parallel.
func (j *parJobs[S]) run(ec *Context, n, grain int, s S) {
	job := j.p.Get().(*parJob[S])
	job.s = s
	ec.Parallel(n, grain, job.fn)
	var zero S
	job.s = zero
	j.p.Put(job)
}
