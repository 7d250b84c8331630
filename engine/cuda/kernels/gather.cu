// gather.cu: row gather along axis 0 (embedding lookups).
#include "common.cuh"

namespace agate {

__global__ void gather_rows_kernel(const float *__restrict__ data, int64_t dim0, int64_t row_len,
                                   const int64_t *__restrict__ idx64, const int32_t *__restrict__ idx32, int64_t nidx,
                                   float *__restrict__ y, int *err) {
	const int64_t n = nidx * row_len;
	for (int64_t e = global_index(); e < n; e += grid_stride()) {
		const int64_t i = e / row_len, c = e - i * row_len;
		int64_t r = idx64 != nullptr ? idx64[i] : (int64_t)idx32[i];
		if (r < 0) {
			r += dim0;
		}
		if (r < 0 || r >= dim0) {
			y[e] = 0.f;
			if (err != nullptr && c == 0) {
				*err = 1;
			}
			continue;
		}
		y[e] = data[r * row_len + c];
	}
}

} // namespace agate

extern "C" {

cudaError_t agate_gather_rows_f32(agate_launch l, cudaStream_t s, const float *data, int64_t dim0, int64_t row_len,
                                  const int64_t *idx64, const int32_t *idx32, int64_t nidx, float *y, int *err) {
	if ((idx64 == nullptr) == (idx32 == nullptr) || row_len <= 0) {
		return cudaErrorInvalidValue;
	}
	agate::Geometry g = agate::geometry(l);
	agate::gather_rows_kernel<<<g.grid, g.block, g.shared, s>>>(data, dim0, row_len, idx64, idx32, nidx, y, err);
	return cudaGetLastError();
}

} // extern "C"
