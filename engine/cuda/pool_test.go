package cuda

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

// mockAllocator hands out fake addresses and fails beyond a capacity, like
// cudaMalloc on a full GPU.
type mockAllocator struct {
	mu       sync.Mutex
	next     DevicePtr
	live     map[DevicePtr]int
	capacity int
	used     int
	allocs   int
	frees    int
}

func newMockAllocator(capacity int) *mockAllocator {
	return &mockAllocator{next: 1 << 20, live: map[DevicePtr]int{}, capacity: capacity}
}

func (m *mockAllocator) Alloc(n int) (DevicePtr, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.capacity > 0 && m.used+n > m.capacity {
		return 0, errors.New("cudaErrorMemoryAllocation")
	}
	p := m.next
	m.next += DevicePtr(n+255) &^ 255
	m.live[p] = n
	m.used += n
	m.allocs++
	return p, nil
}

func (m *mockAllocator) Free(p DevicePtr) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.live[p]
	if !ok {
		return fmt.Errorf("free of unknown %#x", uintptr(p))
	}
	delete(m.live, p)
	m.used -= n
	m.frees++
	return nil
}

func TestBlockSize(t *testing.T) {
	for _, c := range []struct{ n, want int }{
		{0, 256}, {1, 256}, {256, 256}, {257, 512}, {1000, 1024}, {4096, 4096},
		{4097, 4608}, {1 << 20, 1 << 20}, {1<<20 + 1, 1<<20 + 1<<17},
	} {
		if got := BlockSize(c.n); got != c.want {
			t.Errorf("BlockSize(%d) = %d, want %d", c.n, got, c.want)
		}
	}
	for n := 1; n < 1<<22; n = n*3/2 + 1 {
		b := BlockSize(n)
		if b < n || b%256 != 0 || (n > 4096 && float64(b-n) > 0.125*float64(n)) {
			t.Fatalf("BlockSize(%d) = %d", n, b)
		}
		if BlockSize(b) != b {
			t.Fatalf("BlockSize is not idempotent at %d", b)
		}
	}
}

func TestPoolReuse(t *testing.T) {
	m := newMockAllocator(0)
	p := NewPool(m, 0)
	a, err := p.Get(1000)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Put(a); err != nil {
		t.Fatal(err)
	}
	b, err := p.Get(900) // same size class
	if err != nil {
		t.Fatal(err)
	}
	if a != b || m.allocs != 1 {
		t.Fatalf("block not reused: %#x %#x, %d allocations", a, b, m.allocs)
	}
	s := p.Stats()
	if s.InUse != 1024 || s.Cached != 0 || s.Reuses != 1 || s.Blocks != 1 {
		t.Fatalf("stats %+v", s)
	}
	if err := p.Put(b); err != nil {
		t.Fatal(err)
	}
	if err := p.Put(b); err == nil {
		t.Fatal("double Put accepted")
	}
	if err := p.Put(12345); err == nil {
		t.Fatal("foreign block accepted")
	}
	if err := p.Trim(); err != nil {
		t.Fatal(err)
	}
	if len(m.live) != 0 || p.Stats().Cached != 0 || p.Stats().Blocks != 0 {
		t.Fatalf("trim left %d live blocks, stats %+v", len(m.live), p.Stats())
	}
}

func TestPoolOutOfMemoryTrimsAndRetries(t *testing.T) {
	m := newMockAllocator(4096)
	p := NewPool(m, 0)
	a, _ := p.Get(2048)
	b, _ := p.Get(2048)
	if err := p.Put(a); err != nil {
		t.Fatal(err)
	}
	// A different size class: the cached 2 KiB block must be freed first.
	c, err := p.Get(1024)
	if err != nil {
		t.Fatalf("retry after trim failed: %v", err)
	}
	if s := p.Stats(); s.Failures != 1 || s.Cached != 0 || s.InUse != 3072 {
		t.Fatalf("stats %+v", s)
	}
	_ = c
	if _, err := p.Get(4096); !errors.Is(err, ErrOutOfMemory) {
		t.Fatalf("got %v, want ErrOutOfMemory", err)
	}
	_ = b
}

func TestPoolLimit(t *testing.T) {
	p := NewPool(newMockAllocator(0), 2048)
	if _, err := p.Get(2048); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Get(1); !errors.Is(err, ErrOutOfMemory) {
		t.Fatalf("got %v, want ErrOutOfMemory", err)
	}
}

func TestPoolCloseReportsLeaks(t *testing.T) {
	m := newMockAllocator(0)
	p := NewPool(m, 0)
	a, _ := p.Get(10)
	b, _ := p.Get(10)
	_ = p.Put(a)
	err := p.Close()
	if err == nil {
		t.Fatal("leak not reported")
	}
	if len(m.live) != 0 {
		t.Fatalf("%d blocks not freed", len(m.live))
	}
	_ = b
}

func TestFrameDefersReturnUntilFlush(t *testing.T) {
	m := newMockAllocator(0)
	p := NewPool(m, 0)
	f := p.NewFrame()
	a, _ := f.Get(5000)
	if err := f.Release(a); err != nil {
		t.Fatal(err)
	}
	// Another run must not see the block before the frame is flushed.
	other, _ := p.Get(5000)
	if other == a {
		t.Fatal("a released block reached the pool before Flush")
	}
	b, _ := f.Get(4900)
	if b != a {
		t.Fatal("the run did not reuse its own released block")
	}
	if err := f.Release(other); err == nil {
		t.Fatal("a frame accepted a block it did not allocate")
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.InUse != int64(BlockSize(5000)) || s.Cached != int64(BlockSize(5000)) {
		t.Fatalf("after flush: %+v", s)
	}
	c, _ := p.Get(5000)
	if c != a {
		t.Fatal("the flushed block was not reused")
	}
}

func TestPoolConcurrent(t *testing.T) {
	m := newMockAllocator(0)
	p := NewPool(m, 0)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				f := p.NewFrame()
				for j := range 5 {
					b, err := f.Get(256 * (1 + (g+i+j)%7))
					if err != nil {
						t.Error(err)
						return
					}
					if j%2 == 0 {
						_ = f.Release(b)
					}
				}
				if err := f.Flush(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if s := p.Stats(); s.InUse != 0 {
		t.Fatalf("blocks still in use: %+v", s)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if len(m.live) != 0 {
		t.Fatalf("%d blocks leaked", len(m.live))
	}
}
