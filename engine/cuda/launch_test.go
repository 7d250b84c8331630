package cuda

import "testing"

func TestElementwiseLaunch(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 257, 1 << 20, 1 << 30} {
		l := ElementwiseLaunch(n)
		if err := l.Validate(); err != nil {
			t.Fatal(err)
		}
		if l.Threads() < min(n, elementwiseMaxGrid*elementwiseBlock) {
			t.Fatalf("n=%d: %d threads", n, l.Threads())
		}
	}
}

func TestRowLaunch(t *testing.T) {
	for _, c := range []struct{ rows, cols, threads int }{
		{1, 1, 32}, {128, 384, 96}, {128, 768, 192}, {3, 1024, 256}, {1, 1 << 20, 1024},
	} {
		l := RowLaunch(c.rows, c.cols)
		if err := l.Validate(); err != nil {
			t.Fatal(err)
		}
		if l.Block.X != c.threads || l.Block.X%32 != 0 || l.Grid.X != max(c.rows, 1) {
			t.Fatalf("%d×%d: %+v", c.rows, c.cols, l)
		}
		if l.Shared != 8*l.Block.X/32 {
			t.Fatalf("shared %d for %d threads", l.Shared, l.Block.X)
		}
	}
}

func TestAttentionLaunch(t *testing.T) {
	l, err := AttentionLaunch(8, 12, 128, 128, 64)
	if err != nil {
		t.Fatal(err)
	}
	if l.Grid != (Dim3{128, 12, 8}) || l.Block.X%32 != 0 || l.Shared != 4*(64+128+64) {
		t.Fatalf("%+v", l)
	}
	// The kernel's check: shared >= 4*(d + skv + warps).
	if l.Shared < 4*(64+128+l.Block.X/32) {
		t.Fatal("shared memory too small for the kernel")
	}
	if _, err := AttentionLaunch(1, 1, 1, 16000, 64); err == nil {
		t.Fatal("a 16000-long row of scores does not fit in 48 KiB")
	}
	if _, err := AttentionLaunch(1, 1, 0, 1, 1); err == nil {
		t.Fatal("empty attention accepted")
	}
}

func TestForestLaunch(t *testing.T) {
	for _, c := range []struct{ rows, trees int }{
		{1, 1}, {1, 100}, {1000, 500}, {100000, 100}, {1 << 20, 3000}, {5, 70000 * forestMinTrees},
	} {
		l, per := ForestLaunch(c.rows, c.trees)
		if err := l.Validate(); err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if l.Grid.X*l.Block.X < c.rows {
			t.Fatalf("%+v: rows not covered by %+v", c, l)
		}
		if l.Grid.Y*per < c.trees || (l.Grid.Y-1)*per >= c.trees {
			t.Fatalf("%+v: %d blocks of %d trees", c, l.Grid.Y, per)
		}
	}
	// Large batches walk every tree in one block; small ones split them.
	if l, _ := ForestLaunch(1<<20, 500); l.Grid.Y != 1 {
		t.Fatalf("large batch split into %d tree blocks", l.Grid.Y)
	}
	if l, _ := ForestLaunch(100, 500); l.Grid.Y < 8 {
		t.Fatalf("small batch kept in %d tree blocks", l.Grid.Y)
	}
}
