// norm.cu: LayerNormalization, SkipLayerNormalization and softmax, one
// thread block per row.
#include "common.cuh"

namespace agate {

// Two passes over the row (mean, then the centred variance, as the CPU
// kernel computes it), with the row's pre-normalisation values staged in y.
__global__ void layernorm_kernel(const float *x, const float *skip, int64_t skip_rows, const float *bias,
                                 const float *__restrict__ gamma, const float *__restrict__ beta, float *y,
                                 float *sum_out, int64_t rows, int64_t cols, float eps) {
	extern __shared__ float scratch[];
	for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
		const float *xr = x + r * cols;
		const float *sr = skip != nullptr ? skip + (r % skip_rows) * cols : nullptr;
		float *yr = y + r * cols;
		float *hr = sum_out != nullptr ? sum_out + r * cols : nullptr;
		float s = 0.f;
		for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
			float h = xr[c];
			if (sr != nullptr) {
				h += sr[c];
			}
			if (bias != nullptr) {
				h += bias[c];
			}
			// Each thread reads and writes only its own columns, so y
			// may alias x.
			yr[c] = h;
			if (hr != nullptr) {
				hr[c] = h;
			}
			s += h;
		}
		const float mean = block_sum(s, scratch) / (float)cols;
		float s2 = 0.f;
		for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
			const float d = yr[c] - mean;
			s2 += d * d;
		}
		const float inv = rsqrtf(block_sum(s2, scratch) / (float)cols + eps);
		for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
			float v = (yr[c] - mean) * inv * gamma[c];
			if (beta != nullptr) {
				v += beta[c];
			}
			yr[c] = v;
		}
	}
}

__global__ void softmax_kernel(const float *x, float *y, int64_t rows, int64_t cols) {
	extern __shared__ float scratch[];
	for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
		const float *xr = x + r * cols;
		float *yr = y + r * cols;
		float m = -INFINITY;
		for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
			m = fmaxf(m, xr[c]);
		}
		m = block_max(m, scratch);
		float s = 0.f;
		for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
			const float e = expf(xr[c] - m);
			yr[c] = e;
			s += e;
		}
		const float inv = 1.f / block_sum(s, scratch);
		for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
			yr[c] *= inv;
		}
	}
}

} // namespace agate

extern "C" {

cudaError_t agate_layernorm_f32(agate_launch l, cudaStream_t s, const float *x, const float *skip, int64_t skip_rows,
                                const float *bias, const float *gamma, const float *beta, float *y, float *sum_out,
                                int64_t rows, int64_t cols, float eps) {
	if (skip != nullptr && skip_rows <= 0) {
		return cudaErrorInvalidValue;
	}
	agate::Geometry g = agate::geometry(l);
	agate::layernorm_kernel<<<g.grid, g.block, g.shared, s>>>(x, skip, skip_rows, bias, gamma, beta, y, sum_out, rows,
	                                                         cols, eps);
	return cudaGetLastError();
}

cudaError_t agate_softmax_f32(agate_launch l, cudaStream_t s, const float *x, float *y, int64_t rows, int64_t cols) {
	agate::Geometry g = agate::geometry(l);
	agate::softmax_kernel<<<g.grid, g.block, g.shared, s>>>(x, y, rows, cols);
	return cudaGetLastError();
}

} // extern "C"
