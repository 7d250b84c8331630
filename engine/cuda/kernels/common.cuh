// common.cuh: device helpers shared by agate's CUDA kernels.
#ifndef AGATE_COMMON_CUH
#define AGATE_COMMON_CUH

#include <math.h>
#include <stdint.h>

#include "agate_cuda.h"

namespace agate {

// Launch geometry from the host's description.
struct Geometry {
	dim3 grid, block;
	size_t shared;
};

static inline Geometry geometry(agate_launch l) {
	return Geometry{dim3(l.gx, l.gy, l.gz), dim3(l.bx, l.by, l.bz), (size_t)l.shared};
}

// Index of the calling thread in a one-dimensional grid, and the stride
// of a grid-stride loop.
__device__ __forceinline__ int64_t global_index() {
	return (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_stride() {
	return (int64_t)gridDim.x * blockDim.x;
}

__device__ __forceinline__ float warp_sum(float v) {
	for (int o = 16; o > 0; o >>= 1) {
		v += __shfl_xor_sync(0xffffffffu, v, o);
	}
	return v;
}

__device__ __forceinline__ float warp_max(float v) {
	for (int o = 16; o > 0; o >>= 1) {
		v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
	}
	return v;
}

// block_sum returns the sum of v over the block to every thread. The block
// size must be a multiple of 32; scratch holds one float per warp. It
// synchronises the block, so every write made before the call is visible
// to all threads after it.
__device__ __forceinline__ float block_sum(float v, float *scratch) {
	const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
	v = warp_sum(v);
	__syncthreads(); // scratch may still be read by a previous reduction
	if (lane == 0) {
		scratch[warp] = v;
	}
	__syncthreads();
	if (warp == 0) {
		v = lane < warps ? scratch[lane] : 0.f;
		v = warp_sum(v);
		if (lane == 0) {
			scratch[0] = v;
		}
	}
	__syncthreads();
	return scratch[0];
}

// block_max is block_sum for the maximum.
__device__ __forceinline__ float block_max(float v, float *scratch) {
	const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
	v = warp_max(v);
	__syncthreads();
	if (lane == 0) {
		scratch[warp] = v;
	}
	__syncthreads();
	if (warp == 0) {
		v = lane < warps ? scratch[lane] : -INFINITY;
		v = warp_max(v);
		if (lane == 0) {
			scratch[0] = v;
		}
	}
	__syncthreads();
	return scratch[0];
}

__device__ __forceinline__ float activate(int op, float x) {
	switch (op) {
	case AGATE_UNARY_RELU:
		return x > 0.f ? x : 0.f;
	case AGATE_UNARY_GELU:
		return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
	case AGATE_UNARY_GELU_TANH: {
		const float k = 0.79788456080286536f; // sqrt(2/pi)
		return 0.5f * x * (1.f + tanhf(k * (x + 0.044715f * x * x * x)));
	}
	case AGATE_UNARY_TANH:
		return tanhf(x);
	case AGATE_UNARY_SIGMOID:
		return 1.f / (1.f + expf(-x));
	case AGATE_UNARY_ERF:
		return erff(x);
	default:
		return x;
	}
}

} // namespace agate

#endif // AGATE_COMMON_CUH
