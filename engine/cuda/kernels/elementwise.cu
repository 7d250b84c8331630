// elementwise.cu: unary ops and activations, broadcasting binary ops and
// the bias-plus-activation epilogue of fused matrix products.
#include "common.cuh"

namespace agate {

__global__ void unary_kernel(int op, const float *x, float *y, int64_t n) {
	for (int64_t i = global_index(); i < n; i += grid_stride()) {
		y[i] = activate(op, x[i]);
	}
}

__device__ __forceinline__ float binary(int op, float a, float b) {
	switch (op) {
	case AGATE_BINARY_ADD:
		return a + b;
	case AGATE_BINARY_SUB:
		return a - b;
	case AGATE_BINARY_MUL:
		return a * b;
	default:
		return a / b;
	}
}

// Same shapes, or b a row of bmod elements repeated (a bias).
__global__ void binary_flat_kernel(int op, const float *a, const float *b, float *y, int64_t n, int64_t bmod) {
	for (int64_t i = global_index(); i < n; i += grid_stride()) {
		const int64_t j = bmod > 0 ? i % bmod : i;
		y[i] = binary(op, a[i], b[j]);
	}
}

// General broadcasting through per-dimension strides.
__global__ void binary_bcast_kernel(int op, const float *a, const float *b, float *y, int64_t n, agate_bcast bc) {
	for (int64_t i = global_index(); i < n; i += grid_stride()) {
		int64_t rem = i, ao = 0, bo = 0;
		for (int d = bc.rank - 1; d >= 0; d--) {
			const int64_t k = rem % bc.shape[d];
			rem /= bc.shape[d];
			ao += k * bc.astride[d];
			bo += k * bc.bstride[d];
		}
		y[i] = binary(op, a[ao], b[bo]);
	}
}

__global__ void bias_act_kernel(int act, float *y, const float *__restrict__ bias, int64_t rows, int64_t cols) {
	const int64_t n = rows * cols;
	for (int64_t i = global_index(); i < n; i += grid_stride()) {
		float v = y[i];
		if (bias != nullptr) {
			v += bias[i % cols];
		}
		y[i] = activate(act, v);
	}
}

} // namespace agate

extern "C" {

int agate_kernels_real(void) { return 1; }

cudaError_t agate_unary_f32(agate_launch l, cudaStream_t s, int op, const float *x, float *y, int64_t n) {
	agate::Geometry g = agate::geometry(l);
	agate::unary_kernel<<<g.grid, g.block, g.shared, s>>>(op, x, y, n);
	return cudaGetLastError();
}

cudaError_t agate_binary_f32(agate_launch l, cudaStream_t s, int op, const float *a, const float *b, float *y,
                             int64_t n, int64_t bmod, const agate_bcast *bc) {
	agate::Geometry g = agate::geometry(l);
	if (bc != nullptr) {
		agate::binary_bcast_kernel<<<g.grid, g.block, g.shared, s>>>(op, a, b, y, n, *bc);
	} else {
		agate::binary_flat_kernel<<<g.grid, g.block, g.shared, s>>>(op, a, b, y, n, bmod);
	}
	return cudaGetLastError();
}

cudaError_t agate_bias_act_f32(agate_launch l, cudaStream_t s, int act, float *y, const float *bias, int64_t rows,
                               int64_t cols) {
	agate::Geometry g = agate::geometry(l);
	agate::bias_act_kernel<<<g.grid, g.block, g.shared, s>>>(act, y, bias, rows, cols);
	return cudaGetLastError();
}

} // extern "C"
