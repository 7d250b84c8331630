package cuda

import "fmt"

// Dim3 is a CUDA grid or block shape.
type Dim3 struct{ X, Y, Z int }

// Launch is the configuration of one kernel launch, computed on the host
// and passed to the C launchers as is.
type Launch struct {
	Grid, Block Dim3
	Shared      int // dynamic shared memory, bytes
}

// Limits of the targeted GPUs (compute capability 7.0 and later).
const (
	maxThreadsPerBlock = 1024
	maxGridX           = 1<<31 - 1
	maxGridYZ          = 65535
	maxSharedDefault   = 48 << 10 // without opting in to more per kernel
	warpSize           = 32

	// elementwiseBlock is the block size of elementwise kernels.
	elementwiseBlock = 256
	// elementwiseMaxGrid bounds their grid: the kernels loop (grid stride)
	// over what one pass does not cover.
	elementwiseMaxGrid = 65536
)

// Threads returns the total number of threads of the launch.
func (l Launch) Threads() int {
	return l.Grid.X * l.Grid.Y * l.Grid.Z * l.Block.X * l.Block.Y * l.Block.Z
}

// Validate reports a configuration the hardware would reject.
func (l Launch) Validate() error {
	for _, d := range []int{l.Grid.X, l.Grid.Y, l.Grid.Z, l.Block.X, l.Block.Y, l.Block.Z} {
		if d < 1 {
			return fmt.Errorf("cuda: launch %+v has an empty dimension", l)
		}
	}
	switch {
	case l.Block.X*l.Block.Y*l.Block.Z > maxThreadsPerBlock:
		return fmt.Errorf("cuda: launch %+v: more than %d threads per block", l, maxThreadsPerBlock)
	case l.Grid.X > maxGridX || l.Grid.Y > maxGridYZ || l.Grid.Z > maxGridYZ:
		return fmt.Errorf("cuda: launch %+v: grid too large", l)
	case l.Shared > maxSharedDefault || l.Shared < 0:
		return fmt.Errorf("cuda: launch %+v: %d bytes of shared memory (limit %d)", l, l.Shared, maxSharedDefault)
	}
	return nil
}

// ElementwiseLaunch covers n independent elements with 256-thread blocks;
// the kernels use a grid-stride loop, so the grid is capped.
func ElementwiseLaunch(n int) Launch {
	g := (n + elementwiseBlock - 1) / elementwiseBlock
	g = min(max(g, 1), elementwiseMaxGrid)
	return Launch{Grid: Dim3{g, 1, 1}, Block: Dim3{elementwiseBlock, 1, 1}}
}

// rowThreads picks the block size of a row kernel: about one thread per
// four elements, a multiple of the warp size, between 32 and 1024.
func rowThreads(cols int) int {
	t := (cols + 3) / 4
	t = (t + warpSize - 1) / warpSize * warpSize
	return min(max(t, warpSize), maxThreadsPerBlock)
}

// RowLaunch is the configuration of the row kernels (LayerNorm,
// SkipLayerNorm, softmax): one block per row, block-wide reductions through
// one float pair per warp in shared memory. Rows beyond the grid limit are
// covered by a grid-stride loop over rows.
func RowLaunch(rows, cols int) Launch {
	t := rowThreads(cols)
	g := min(max(rows, 1), maxGridX)
	return Launch{Grid: Dim3{g, 1, 1}, Block: Dim3{t, 1, 1}, Shared: 2 * 4 * (t / warpSize)}
}

// AttentionLaunch configures the fused attention kernel: one block per
// (query row, head, batch) with its query vector, its row of scores and the
// reduction scratch in shared memory. It fails when a row of scores does
// not fit; the caller then runs attention unfused (cuBLAS batched GEMM and
// the softmax kernel).
func AttentionLaunch(batch, heads, seqQ, seqKV, headDim int) (Launch, error) {
	if batch < 1 || heads < 1 || seqQ < 1 || seqKV < 1 || headDim < 1 {
		return Launch{}, fmt.Errorf("cuda: attention with an empty dimension (batch %d, heads %d, seq %d×%d, head size %d)",
			batch, heads, seqQ, seqKV, headDim)
	}
	t := 128
	if seqKV >= 512 || headDim > 128 {
		t = 256
	}
	l := Launch{
		Grid:   Dim3{seqQ, heads, batch},
		Block:  Dim3{t, 1, 1},
		Shared: 4 * (headDim + seqKV + 2*warpSize),
	}
	if err := l.Validate(); err != nil {
		return Launch{}, fmt.Errorf("cuda: fused attention does not fit (sequence %d, head size %d): %w", seqKV, headDim, err)
	}
	return l, nil
}

// Forest kernel parameters: each thread walks one row through a block of
// trees, so a launch has rows/forestRowsPerBlock × treeBlocks blocks.
const (
	forestRowsPerBlock = 128
	// forestTargetBlocks is how many thread blocks a launch aims at: a few
	// waves on a GPU of ~132 SMs.
	forestTargetBlocks = 1024
	// forestMinTrees keeps tree blocks large enough to amortise the
	// partial-result traffic.
	forestMinTrees = 16
)

// ForestLaunch configures the tree-ensemble kernel for rows × trees: one
// thread per row, with the trees split into blocks along the grid's Y axis
// when the rows alone do not fill the GPU. It returns the launch and the
// number of trees per block; the partial results hold
// ceil(trees/treesPerBlock) × rows × targets floats.
func ForestLaunch(rows, trees int) (Launch, int) {
	rows, trees = max(rows, 1), max(trees, 1)
	rowBlocks := (rows + forestRowsPerBlock - 1) / forestRowsPerBlock
	treeBlocks := 1
	if rowBlocks < forestTargetBlocks {
		treeBlocks = min(forestTargetBlocks/rowBlocks, (trees+forestMinTrees-1)/forestMinTrees, maxGridYZ)
		treeBlocks = max(treeBlocks, 1)
	}
	per := (trees + treeBlocks - 1) / treeBlocks
	treeBlocks = (trees + per - 1) / per
	return Launch{Grid: Dim3{rowBlocks, treeBlocks, 1}, Block: Dim3{forestRowsPerBlock, 1, 1}}, per
}

// ForestFinalizeLaunch covers rows × targets outputs, one thread each.
func ForestFinalizeLaunch(rows, targets int) Launch {
	return ElementwiseLaunch(rows * targets)
}
