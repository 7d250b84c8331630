// forest.cu: tree-ensemble regression for large batches. Pass 1: one thread
// per row and tree block (grid.y) walks its row through the block's trees
// and writes the block's aggregate per target; pass 2 combines the blocks
// in order, so results do not depend on scheduling.
#include "common.cuh"

namespace agate {

enum { SPLIT_LEQ = 0, SPLIT_LT, SPLIT_GTE, SPLIT_GT, SPLIT_EQ, SPLIT_NEQ, SPLIT_LEAF };
const uint8_t FLAG_MISSING_TRUE = 8;

__device__ __forceinline__ bool split_true(uint8_t flags, float v, float thr) {
	bool c;
	switch (flags & 7) {
	case SPLIT_LEQ:
		c = v <= thr;
		break;
	case SPLIT_LT:
		c = v < thr;
		break;
	case SPLIT_GTE:
		c = v >= thr;
		break;
	case SPLIT_GT:
		c = v > thr;
		break;
	case SPLIT_EQ:
		c = v == thr;
		break;
	default:
		c = v != thr;
		break;
	}
	if (!c && (flags & FLAG_MISSING_TRUE) != 0 && isnan(v)) {
		c = true;
	}
	return c;
}

// leaf_of returns the leaf tree t reaches for the row xr.
__device__ __forceinline__ int32_t leaf_of(const agate_forest &f, int t, const float *__restrict__ xr) {
	int32_t i = __ldg(f.roots + t);
	uint8_t fl = __ldg(f.flags + i);
	while ((fl & 7) != SPLIT_LEAF) {
		const float v = xr[__ldg(f.feature + i)];
		i = split_true(fl, v, __ldg(f.threshold + i)) ? __ldg(f.true_child + i) : __ldg(f.false_child + i);
		fl = __ldg(f.flags + i);
	}
	return i;
}

__device__ __forceinline__ float combine(int agg, float s, float w) {
	switch (agg) {
	case AGATE_AGG_MIN:
		return fminf(s, w);
	case AGATE_AGG_MAX:
		return fmaxf(s, w);
	default:
		return s + w;
	}
}

__global__ void forest_partial_kernel(agate_forest f, const float *__restrict__ x, int64_t rows, int64_t cols,
                                      int trees_per_block, float *__restrict__ partial, uint8_t *__restrict__ has) {
	const int64_t row = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (row >= rows) {
		return;
	}
	const int t0 = blockIdx.y * trees_per_block;
	const int t1 = min(t0 + trees_per_block, f.n_trees);
	const float *xr = x + row * cols;
	const int64_t o = ((int64_t)blockIdx.y * rows + row) * f.n_targets;
	if (f.n_targets == 1) {
		// Every leaf of a single-target forest has exactly one vote.
		float s = 0.f;
		bool h = false;
		for (int t = t0; t < t1; t++) {
			const int32_t leaf = leaf_of(f, t, xr);
			const float w = __ldg(f.vote_value + __ldg(f.true_child + leaf));
			s = h ? combine(f.agg, s, w) : w;
			h = true;
		}
		partial[o] = s;
		has[o] = h ? 1 : 0;
		return;
	}
	// This thread owns partial[o : o + n_targets]: aggregate in place.
	for (int j = 0; j < f.n_targets; j++) {
		partial[o + j] = 0.f;
		has[o + j] = 0;
	}
	for (int t = t0; t < t1; t++) {
		const int32_t leaf = leaf_of(f, t, xr);
		const int32_t v0 = __ldg(f.true_child + leaf), nv = __ldg(f.false_child + leaf);
		for (int32_t k = v0; k < v0 + nv; k++) {
			const int32_t j = __ldg(f.vote_target + k);
			const float w = __ldg(f.vote_value + k);
			partial[o + j] = has[o + j] ? combine(f.agg, partial[o + j], w) : w;
			has[o + j] = 1;
		}
	}
}

__global__ void forest_finalize_kernel(agate_forest f, const float *__restrict__ partial,
                                       const uint8_t *__restrict__ has, int tree_blocks, int64_t rows,
                                       float *__restrict__ y) {
	const int nt = f.n_targets;
	const int64_t n = rows * nt;
	for (int64_t e = global_index(); e < n; e += grid_stride()) {
		const int64_t row = e / nt;
		const int j = (int)(e - row * nt);
		float s = 0.f;
		bool h = false;
		for (int b = 0; b < tree_blocks; b++) {
			const int64_t o = ((int64_t)b * rows + row) * nt + j;
			if (has[o] == 0) {
				continue;
			}
			s = h ? combine(f.agg, s, partial[o]) : partial[o];
			h = true;
		}
		if (!h) {
			// A target no tree voted for reads 0, as in onnxruntime.
			y[e] = 0.f;
			continue;
		}
		if (f.agg == AGATE_AGG_AVERAGE) {
			s /= (float)f.n_trees;
		}
		y[e] = s + f.base[j];
	}
}

} // namespace agate

extern "C" {

cudaError_t agate_forest_partial_f32(agate_launch l, cudaStream_t s, agate_forest f, const float *x, int64_t rows,
                                     int64_t cols, int trees_per_block, float *partial, uint8_t *has) {
	if (trees_per_block <= 0 || f.n_targets <= 0) {
		return cudaErrorInvalidValue;
	}
	agate::Geometry g = agate::geometry(l);
	agate::forest_partial_kernel<<<g.grid, g.block, g.shared, s>>>(f, x, rows, cols, trees_per_block, partial, has);
	return cudaGetLastError();
}

cudaError_t agate_forest_finalize_f32(agate_launch l, cudaStream_t s, agate_forest f, const float *partial,
                                      const uint8_t *has, int tree_blocks, int64_t rows, float *y) {
	agate::Geometry g = agate::geometry(l);
	agate::forest_finalize_kernel<<<g.grid, g.block, g.shared, s>>>(f, partial, has, tree_blocks, rows, y);
	return cudaGetLastError();
}

} // extern "C"
