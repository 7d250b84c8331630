// attention.cu: fused multi-head scaled dot-product attention, one thread
// block per (query row, head, batch).
#include "common.cuh"

namespace agate {

// Shared memory: the scaled query (d floats), the row of scores and then
// probabilities (skv floats) and the reduction scratch (one float per warp,
// at most 32, plus slack).
__global__ void attention_kernel(const float *__restrict__ q, int64_t q_ld, const float *__restrict__ k, int64_t k_ld,
                                 const float *__restrict__ v, int64_t v_ld, const float *__restrict__ mask,
                                 int64_t ms_b, int64_t ms_h, int64_t ms_q, int64_t ms_k, float *__restrict__ y,
                                 int64_t y_ld, int sq, int skv, int d, float scale) {
	extern __shared__ float smem[];
	float *qs = smem;
	float *p = smem + d;
	float *scratch = p + skv;
	const int i = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
	const int tid = threadIdx.x, nt = blockDim.x;

	const float *qr = q + ((int64_t)b * sq + i) * q_ld + (int64_t)h * d;
	for (int c = tid; c < d; c += nt) {
		qs[c] = qr[c] * scale;
	}
	__syncthreads();

	const float *kb = k + (int64_t)b * skv * k_ld + (int64_t)h * d;
	const float *mr = mask != nullptr ? mask + b * ms_b + h * ms_h + i * ms_q : nullptr;
	float m = -INFINITY;
	for (int j = tid; j < skv; j += nt) {
		const float *kr = kb + (int64_t)j * k_ld;
		float acc = 0.f;
		for (int c = 0; c < d; c++) {
			acc += qs[c] * kr[c];
		}
		if (mr != nullptr) {
			acc += mr[j * ms_k];
		}
		p[j] = acc;
		m = fmaxf(m, acc);
	}
	m = block_max(m, scratch);
	float s = 0.f;
	for (int j = tid; j < skv; j += nt) {
		const float e = expf(p[j] - m);
		p[j] = e;
		s += e;
	}
	// block_sum synchronises: every p[j] is written before it returns.
	const float inv = 1.f / block_sum(s, scratch);

	const float *vb = v + (int64_t)b * skv * v_ld + (int64_t)h * d;
	float *yr = y + ((int64_t)b * sq + i) * y_ld + (int64_t)h * d;
	for (int c = tid; c < d; c += nt) {
		float acc = 0.f;
		for (int j = 0; j < skv; j++) {
			acc += p[j] * vb[(int64_t)j * v_ld + c];
		}
		yr[c] = acc * inv;
	}
}

} // namespace agate

extern "C" {

cudaError_t agate_attention_f32(agate_launch l, cudaStream_t s, const float *q, int64_t q_ld, const float *k,
                                int64_t k_ld, const float *v, int64_t v_ld, const float *mask, int64_t ms_b,
                                int64_t ms_h, int64_t ms_q, int64_t ms_k, float *y, int64_t y_ld, int sq, int skv,
                                int d, float scale) {
	if (l.bx % 32 != 0 || (size_t)l.shared < sizeof(float) * ((size_t)d + (size_t)skv + (size_t)(l.bx / 32))) {
		return cudaErrorInvalidConfiguration;
	}
	agate::Geometry g = agate::geometry(l);
	agate::attention_kernel<<<g.grid, g.block, g.shared, s>>>(q, q_ld, k, k_ld, v, v_ld, mask, ms_b, ms_h, ms_q, ms_k,
	                                                          y, y_ld, sq, skv, d, scale);
	return cudaGetLastError();
}

} // extern "C"
