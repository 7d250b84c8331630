package ops

import (
	"math"
	"runtime"
	"syscall"
	"testing"
	"unsafe"
)

func threadCPU() int64 {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

// cpuBench runs body in b.Loop and reports thread CPU ns per row.
func cpuBench(b *testing.B, rows int, body func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	body()
	b.ResetTimer()
	t0 := threadCPU()
	n := 0
	for b.Loop() {
		body()
		n++
	}
	b.ReportMetric(float64(threadCPU()-t0)/float64(n)/float64(rows), "cpuns/row")
}

type pNode struct {
	thr  float32
	feat uint16
	jump int16
}

type pForest struct {
	nodes  []pNode
	roots  []int32
	depth  []int32 // per tree
	gdepth []int32 // per group of 8
	c      int
}

func protoCompile(f *treeForest[float32], c int) *pForest {
	p := &pForest{c: c}
	// re-layout from the wide forest: same order
	idx := make([]int32, len(f.nodes))
	for i := range f.nodes {
		idx[i] = int32(i)
	}
	p.nodes = make([]pNode, len(f.nodes))
	for i, nd := range f.nodes {
		if nd.isLeaf() {
			p.nodes[i] = pNode{thr: nd.thr, feat: uint16(c), jump: 0}
		} else {
			p.nodes[i] = pNode{thr: nd.thr, feat: uint16(nd.feature), jump: int16(nd.jump)}
		}
	}
	var depth func(i int32) int32
	depth = func(i int32) int32 {
		if f.nodes[i].isLeaf() {
			return 0
		}
		return 1 + max(depth(i+1), depth(i+f.nodes[i].jump))
	}
	p.roots = f.roots
	for _, r := range f.roots {
		p.depth = append(p.depth, depth(r))
	}
	for g := 0; g < len(p.roots); g += 8 {
		d := int32(0)
		for _, v := range p.depth[g:min(g+8, len(p.roots))] {
			d = max(d, v)
		}
		p.gdepth = append(p.gdepth, d)
	}
	return p
}

func pStep(nodes []pNode, i int32, x []float32) int32 {
	n := &nodes[i]
	nx := i + 1
	if x[n.feat] <= n.thr {
		nx = i + int32(n.jump)
	}
	return nx
}

func pStepMask(nodes []pNode, i int32, x []float32) int32 {
	n := &nodes[i]
	return i + 1 + (int32(n.jump)-1)&-treeB2I32(x[n.feat] <= n.thr)
}

func (p *pForest) row8(x []float32) float32 {
	nodes := p.nodes
	var s float32
	t := 0
	nt := len(p.roots)
	for g := 0; t+8 <= nt; g, t = g+1, t+8 {
		r := p.roots[t : t+8]
		i0, i1, i2, i3, i4, i5, i6, i7 := r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]
		for d := p.gdepth[g]; d > 0; d-- {
			i0 = pStep(nodes, i0, x)
			i1 = pStep(nodes, i1, x)
			i2 = pStep(nodes, i2, x)
			i3 = pStep(nodes, i3, x)
			i4 = pStep(nodes, i4, x)
			i5 = pStep(nodes, i5, x)
			i6 = pStep(nodes, i6, x)
			i7 = pStep(nodes, i7, x)
		}
		s += nodes[i0].thr
		s += nodes[i1].thr
		s += nodes[i2].thr
		s += nodes[i3].thr
		s += nodes[i4].thr
		s += nodes[i5].thr
		s += nodes[i6].thr
		s += nodes[i7].thr
	}
	for ; t < nt; t++ {
		i := p.roots[t]
		for d := p.depth[t]; d > 0; d-- {
			i = pStep(nodes, i, x)
		}
		s += nodes[i].thr
	}
	return s
}

func (p *pForest) row8m(x []float32) float32 {
	nodes := p.nodes
	var s float32
	t := 0
	nt := len(p.roots)
	for g := 0; t+8 <= nt; g, t = g+1, t+8 {
		r := p.roots[t : t+8]
		i0, i1, i2, i3, i4, i5, i6, i7 := r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]
		for d := p.gdepth[g]; d > 0; d-- {
			i0 = pStepMask(nodes, i0, x)
			i1 = pStepMask(nodes, i1, x)
			i2 = pStepMask(nodes, i2, x)
			i3 = pStepMask(nodes, i3, x)
			i4 = pStepMask(nodes, i4, x)
			i5 = pStepMask(nodes, i5, x)
			i6 = pStepMask(nodes, i6, x)
			i7 = pStepMask(nodes, i7, x)
		}
		s += nodes[i0].thr
		s += nodes[i1].thr
		s += nodes[i2].thr
		s += nodes[i3].thr
		s += nodes[i4].thr
		s += nodes[i5].thr
		s += nodes[i6].thr
		s += nodes[i7].thr
	}
	for ; t < nt; t++ {
		i := p.roots[t]
		for d := p.depth[t]; d > 0; d-- {
			i = pStep(nodes, i, x)
		}
		s += nodes[i].thr
	}
	return s
}

func (p *pForest) row4(x []float32) float32 {
	nodes := p.nodes
	var s float32
	t := 0
	nt := len(p.roots)
	for ; t+4 <= nt; t += 4 {
		r := p.roots[t : t+4]
		i0, i1, i2, i3 := r[0], r[1], r[2], r[3]
		d := max(p.depth[t], p.depth[t+1], p.depth[t+2], p.depth[t+3])
		for ; d > 0; d-- {
			i0 = pStep(nodes, i0, x)
			i1 = pStep(nodes, i1, x)
			i2 = pStep(nodes, i2, x)
			i3 = pStep(nodes, i3, x)
		}
		s += nodes[i0].thr
		s += nodes[i1].thr
		s += nodes[i2].thr
		s += nodes[i3].thr
	}
	for ; t < nt; t++ {
		i := p.roots[t]
		for d := p.depth[t]; d > 0; d-- {
			i = pStep(nodes, i, x)
		}
		s += nodes[i].thr
	}
	return s
}

func (p *pForest) row1(x []float32) float32 {
	nodes := p.nodes
	var s float32
	for t, i := range p.roots {
		for d := p.depth[t]; d > 0; d-- {
			i = pStep(nodes, i, x)
		}
		s += nodes[i].thr
	}
	return s
}

func BenchmarkScratchB1(b *testing.B) {
	def, x, c := scratchLoad(b, "rf_regressor_5f")
	f, _ := compileForest[float32](def)
	p := protoCompile(f, c)
	row := make([]float32, c+1)
	copy(row, x[:c])
	row[c] = float32(math.Inf(-1))
	y := NewTensor(Float, 1, 1)
	want := float64(0)
	{
		treeRegressionRows(f, x[:c], c, y, 0, 1)
		want = float64(y.Float32s()[0])
	}
	for _, v := range []struct {
		name string
		fn   func([]float32) float32
	}{{"row8", p.row8}, {"row8m", p.row8m}, {"row4", p.row4}, {"row1", p.row1}} {
		got := float64(v.fn(row))
		if math.Abs(got-want) > 1e-5 {
			b.Fatalf("%s: got %v want %v", v.name, got, want)
		}
	}
	for i := 0; i < 3; i++ {
		b.Run("cur", func(b *testing.B) { cpuBench(b, 1, func() { treeRegressionRows(f, x[:c], c, y, 0, 1) }) })
		b.Run("row8", func(b *testing.B) { cpuBench(b, 1, func() { sink = p.row8(row) }) })
		b.Run("row8m", func(b *testing.B) { cpuBench(b, 1, func() { sink = p.row8m(row) }) })
		b.Run("row4", func(b *testing.B) { cpuBench(b, 1, func() { sink = p.row4(row) }) })
		b.Run("row1", func(b *testing.B) { cpuBench(b, 1, func() { sink = p.row1(row) }) })
	}
}

func pStepC(nodes []pNode, i int32, x []float32) int32 {
	n := &nodes[i]
	nx := i + 1
	j := i + int32(n.jump)
	if x[n.feat] <= n.thr {
		nx = j
	}
	return nx
}

func pStepU(base unsafe.Pointer, i int32, x unsafe.Pointer) int32 {
	n := (*pNode)(unsafe.Add(base, uintptr(i)*8))
	nx := i + 1
	j := i + int32(n.jump)
	if *(*float32)(unsafe.Add(x, uintptr(n.feat)*4)) <= n.thr {
		nx = j
	}
	return nx
}

func (p *pForest) row8c(x []float32) float32 {
	nodes := p.nodes
	var s float32
	t := 0
	nt := len(p.roots)
	for g := 0; t+8 <= nt; g, t = g+1, t+8 {
		r := p.roots[t : t+8]
		i0, i1, i2, i3, i4, i5, i6, i7 := r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]
		for d := p.gdepth[g]; d > 0; d-- {
			i0 = pStepC(nodes, i0, x)
			i1 = pStepC(nodes, i1, x)
			i2 = pStepC(nodes, i2, x)
			i3 = pStepC(nodes, i3, x)
			i4 = pStepC(nodes, i4, x)
			i5 = pStepC(nodes, i5, x)
			i6 = pStepC(nodes, i6, x)
			i7 = pStepC(nodes, i7, x)
		}
		s += nodes[i0].thr
		s += nodes[i1].thr
		s += nodes[i2].thr
		s += nodes[i3].thr
		s += nodes[i4].thr
		s += nodes[i5].thr
		s += nodes[i6].thr
		s += nodes[i7].thr
	}
	for ; t < nt; t++ {
		i := p.roots[t]
		for d := p.depth[t]; d > 0; d-- {
			i = pStepC(nodes, i, x)
		}
		s += nodes[i].thr
	}
	return s
}

func (p *pForest) row8u(x []float32) float32 {
	nodes := p.nodes
	base := unsafe.Pointer(&nodes[0])
	xp := unsafe.Pointer(&x[0])
	var s float32
	t := 0
	nt := len(p.roots)
	for g := 0; t+8 <= nt; g, t = g+1, t+8 {
		r := p.roots[t : t+8]
		i0, i1, i2, i3, i4, i5, i6, i7 := r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]
		for d := p.gdepth[g]; d > 0; d-- {
			i0 = pStepU(base, i0, xp)
			i1 = pStepU(base, i1, xp)
			i2 = pStepU(base, i2, xp)
			i3 = pStepU(base, i3, xp)
			i4 = pStepU(base, i4, xp)
			i5 = pStepU(base, i5, xp)
			i6 = pStepU(base, i6, xp)
			i7 = pStepU(base, i7, xp)
		}
		s += nodes[i0].thr
		s += nodes[i1].thr
		s += nodes[i2].thr
		s += nodes[i3].thr
		s += nodes[i4].thr
		s += nodes[i5].thr
		s += nodes[i6].thr
		s += nodes[i7].thr
	}
	for ; t < nt; t++ {
		i := p.roots[t]
		for d := p.depth[t]; d > 0; d-- {
			i = pStepC(nodes, i, x)
		}
		s += nodes[i].thr
	}
	return s
}

func BenchmarkScratchB1Rot(b *testing.B) {
	def, x, c := scratchLoad(b, "rf_regressor_5f")
	f, _ := compileForest[float32](def)
	p := protoCompile(f, c)
	nr := len(x) / c
	rows := make([]float32, nr*(c+1))
	for r := 0; r < nr; r++ {
		copy(rows[r*(c+1):], x[r*c:r*c+c])
		rows[r*(c+1)+c] = float32(math.Inf(-1))
	}
	y := NewTensor(Float, 1, 1)
	for r := 0; r < nr; r++ {
		treeRegressionRows(f, x[r*c:r*c+c], c, y, 0, 1)
		want := float64(y.Float32s()[0])
		row := rows[r*(c+1) : r*(c+1)+c+1]
		for _, v := range []struct {
			name string
			fn   func([]float32) float32
		}{{"row8", p.row8}, {"row8m", p.row8m}, {"row8c", p.row8c}, {"row8u", p.row8u}} {
			got := float64(v.fn(row))
			if math.Abs(got-want) > 1e-5 {
				b.Fatalf("%s: row %d got %v want %v", v.name, r, got, want)
			}
		}
	}
	rot := func(fn func([]float32) float32) func() {
		r := 0
		return func() {
			sink = fn(rows[r*(c+1) : r*(c+1)+c+1])
			if r++; r == nr {
				r = 0
			}
		}
	}
	for i := 0; i < 2; i++ {
		b.Run("cur", func(b *testing.B) {
			r := 0
			cpuBench(b, 1, func() {
				treeRegressionRows(f, x[r*c:r*c+c], c, y, 0, 1)
				if r++; r == nr {
					r = 0
				}
			})
		})
		b.Run("row8", func(b *testing.B) { cpuBench(b, 1, rot(p.row8)) })
		b.Run("row8m", func(b *testing.B) { cpuBench(b, 1, rot(p.row8m)) })
		b.Run("row8c", func(b *testing.B) { cpuBench(b, 1, rot(p.row8c)) })
		b.Run("row8u", func(b *testing.B) { cpuBench(b, 1, rot(p.row8u)) })
	}
}

