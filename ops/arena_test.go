package ops

import "testing"

// TestArenaLimit: with a limit, buffers of sizes no recent run used are
// given back, the current working set is kept, and a steady workload
// reuses its buffers.
func TestArenaLimit(t *testing.T) {
	a := NewArena()
	a.SetLimit(1 << 20) // 1 MiB
	// 200 runs, each with a new size: without a limit the arena would keep
	// one buffer per size (about 40 MiB)
	for run := range 200 {
		a.StartRun()
		x := a.alloc(Float, []int{1000 + 500*run})
		a.Release(x)
	}
	if r := a.Retained(); r > 1<<20+4*(1000+500*199)*2 {
		t.Errorf("retained %d bytes after 200 sizes, limit 1 MiB", r)
	}
	// a steady working set larger than the limit is kept and reused
	b := NewArena()
	b.SetLimit(1 << 10)
	for range 3 {
		b.StartRun()
		x := b.alloc(Float, []int{4096})
		y := b.alloc(Float, []int{8192})
		b.Release(x)
		b.Release(y)
	}
	b.StartRun()
	x := b.alloc(Float, []int{4096})
	if x.buf == nil || !x.buf.reused {
		t.Error("the working set was dropped between runs")
	}
	// no limit: everything is kept
	c := NewArena()
	want := int64(0)
	classes := map[int]bool{}
	for run := range 10 {
		c.StartRun()
		n := 1000 * (run + 1)
		c.Release(c.alloc(Float, []int{n}))
		if k := sizeClass(n); !classes[k] {
			classes[k] = true
			want += 4 * int64(k)
		}
	}
	if c.Retained() != want {
		t.Errorf("no limit: retained %d, want %d", c.Retained(), want)
	}
}
