package cuda

import (
	"errors"
	"fmt"
	"math/bits"
	"sort"
	"sync"
)

// DevicePtr is an address in device memory. It is never dereferenced on
// the host.
type DevicePtr uintptr

// Allocator obtains and returns raw device memory: cudaMalloc and cudaFree
// on a GPU, a mock in tests.
type Allocator interface {
	Alloc(bytes int) (DevicePtr, error)
	Free(p DevicePtr) error
}

// ErrOutOfMemory is wrapped by Pool.Get when neither the allocator nor the
// pool's limit allows the request, even after the cache is emptied.
var ErrOutOfMemory = errors.New("cuda: out of device memory")

// minBlock is the smallest block the pool hands out, and the alignment of
// every block size (cudaMalloc itself aligns to 256 bytes).
const minBlock = 256

// BlockSize returns the size class a request of n bytes is rounded up to:
// a multiple of 256 bytes, then steps of an eighth of a power of two, so
// that a cached block wastes at most 12.5% and similar sizes share blocks.
func BlockSize(n int) int {
	if n <= minBlock {
		return minBlock
	}
	n = (n + minBlock - 1) &^ (minBlock - 1)
	shift := bits.Len(uint(n)) - 4
	if shift < 8 {
		return n
	}
	step := 1 << shift
	return (n + step - 1) &^ (step - 1)
}

// PoolStats describes a Pool's state.
type PoolStats struct {
	InUse    int64 // bytes handed out and not yet returned
	Cached   int64 // bytes held in free lists
	Peak     int64 // highest InUse+Cached seen
	Allocs   int64 // calls to the allocator
	Reuses   int64 // requests served from the cache
	Blocks   int   // live blocks, in use or cached
	Failures int64 // allocator failures (each followed by a trim and a retry)
}

// Pool caches device blocks by size class so that steady-state runs do not
// call cudaMalloc or cudaFree, which synchronise the device. It is safe for
// concurrent use. Blocks must be returned only when no queued GPU work
// still uses them (see Frame).
type Pool struct {
	mu    sync.Mutex
	alloc Allocator
	limit int64
	free  map[int][]DevicePtr
	size  map[DevicePtr]int  // every live block -> its size class
	used  map[DevicePtr]bool // blocks handed out
	stats PoolStats
}

// NewPool returns a pool over a. limit caps the bytes held (0: none).
func NewPool(a Allocator, limit int64) *Pool {
	return &Pool{alloc: a, limit: limit, free: map[int][]DevicePtr{}, size: map[DevicePtr]int{}, used: map[DevicePtr]bool{}}
}

// Get returns a block of at least n bytes. When the allocator fails or the
// limit would be exceeded, the cache is released and the request retried
// once.
func (p *Pool) Get(n int) (DevicePtr, error) {
	if n < 0 {
		return 0, fmt.Errorf("cuda: negative allocation of %d bytes", n)
	}
	c := BlockSize(n)
	p.mu.Lock()
	defer p.mu.Unlock()
	if list := p.free[c]; len(list) > 0 {
		ptr := list[len(list)-1]
		p.free[c] = list[:len(list)-1]
		p.used[ptr] = true
		p.stats.Cached -= int64(c)
		p.stats.InUse += int64(c)
		p.stats.Reuses++
		return ptr, nil
	}
	ptr, err := p.allocLocked(c)
	if err != nil {
		p.stats.Failures++
		if terr := p.trimLocked(); terr != nil {
			return 0, errors.Join(err, terr)
		}
		ptr, err = p.allocLocked(c)
		if err != nil {
			return 0, err
		}
	}
	p.size[ptr] = c
	p.used[ptr] = true
	p.stats.InUse += int64(c)
	p.stats.Blocks++
	p.stats.Peak = max(p.stats.Peak, p.stats.InUse+p.stats.Cached)
	return ptr, nil
}

func (p *Pool) allocLocked(c int) (DevicePtr, error) {
	if p.limit > 0 && p.stats.InUse+p.stats.Cached+int64(c) > p.limit {
		return 0, fmt.Errorf("%w: %d bytes requested, %d in use, %d cached, limit %d",
			ErrOutOfMemory, c, p.stats.InUse, p.stats.Cached, p.limit)
	}
	p.stats.Allocs++
	ptr, err := p.alloc.Alloc(c)
	if err != nil {
		return 0, fmt.Errorf("%w: allocating %d bytes: %w", ErrOutOfMemory, c, err)
	}
	if _, dup := p.size[ptr]; dup || ptr == 0 {
		return 0, fmt.Errorf("cuda: allocator returned block %#x, which is null or already live", uintptr(ptr))
	}
	return ptr, nil
}

// Put returns a block obtained from Get to the cache.
func (p *Pool) Put(ptr DevicePtr) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.size[ptr]
	if !ok {
		return fmt.Errorf("cuda: block %#x does not belong to the pool", uintptr(ptr))
	}
	if !p.used[ptr] {
		return fmt.Errorf("cuda: block %#x returned twice", uintptr(ptr))
	}
	delete(p.used, ptr)
	p.free[c] = append(p.free[c], ptr)
	p.stats.InUse -= int64(c)
	p.stats.Cached += int64(c)
	return nil
}

// Trim frees every cached block.
func (p *Pool) Trim() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.trimLocked()
}

func (p *Pool) trimLocked() error {
	var errs []error
	classes := make([]int, 0, len(p.free))
	for c := range p.free {
		classes = append(classes, c)
	}
	sort.Ints(classes)
	for _, c := range classes {
		for _, ptr := range p.free[c] {
			if err := p.alloc.Free(ptr); err != nil {
				errs = append(errs, fmt.Errorf("cuda: freeing block %#x: %w", uintptr(ptr), err))
			}
			delete(p.size, ptr)
			p.stats.Cached -= int64(c)
			p.stats.Blocks--
		}
		delete(p.free, c)
	}
	return errors.Join(errs...)
}

// Close frees the cache and reports blocks still in use as an error (they
// are freed too: the caller must have finished with the device).
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.trimLocked()
	if len(p.used) == 0 {
		return err
	}
	leaked := len(p.used)
	for ptr := range p.used {
		if ferr := p.alloc.Free(ptr); ferr != nil {
			err = errors.Join(err, ferr)
		}
		delete(p.size, ptr)
	}
	clear(p.used)
	p.stats.InUse, p.stats.Blocks = 0, 0
	return errors.Join(err, fmt.Errorf("cuda: %d blocks were still in use when the pool closed", leaked))
}

// Stats returns a snapshot of the pool's counters.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Frame is one run's view of a Pool. Blocks a run no longer needs are
// reused by later steps of the same run, whose work is queued on the same
// stream and so ordered after their last use; they go back to the shared
// pool only in Flush, which the run calls after synchronising its stream,
// so that another run's stream can never touch a block still in use. A
// Frame is not safe for concurrent use.
type Frame struct {
	pool  *Pool
	free  map[int][]DevicePtr
	held  []DevicePtr
	class map[DevicePtr]int
}

// NewFrame returns an empty frame over p.
func (p *Pool) NewFrame() *Frame {
	return &Frame{pool: p, free: map[int][]DevicePtr{}, class: map[DevicePtr]int{}}
}

// Get returns a block of at least n bytes, reusing one the run released.
func (f *Frame) Get(n int) (DevicePtr, error) {
	c := BlockSize(n)
	if list := f.free[c]; len(list) > 0 {
		ptr := list[len(list)-1]
		f.free[c] = list[:len(list)-1]
		return ptr, nil
	}
	ptr, err := f.pool.Get(n)
	if err != nil {
		return 0, err
	}
	f.held = append(f.held, ptr)
	f.class[ptr] = c
	return ptr, nil
}

// Release makes ptr, a block from f.Get, available to later steps of the run.
func (f *Frame) Release(ptr DevicePtr) error {
	c, ok := f.class[ptr]
	if !ok {
		return fmt.Errorf("cuda: block %#x was not allocated by this run", uintptr(ptr))
	}
	f.free[c] = append(f.free[c], ptr)
	return nil
}

// Flush returns every block the run obtained to the pool. Call it only
// after the run's stream has been synchronised.
func (f *Frame) Flush() error {
	var errs []error
	for _, ptr := range f.held {
		if err := f.pool.Put(ptr); err != nil {
			errs = append(errs, err)
		}
	}
	f.held = f.held[:0]
	clear(f.free)
	clear(f.class)
	return errors.Join(errs...)
}
