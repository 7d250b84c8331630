/*
 * stub.c: the compile-check stand-in for libagatecuda.a. make cuda-check
 * compiles it with gcc where nvcc is absent, so that the cgo host code of
 * package cuda links; every launcher fails with cudaErrorNotSupported and
 * agate_kernels_real reports 0, which Open turns into a clear error.
 * It must define every function agate_cuda.h declares (a Go test checks).
 */
#include "agate_cuda.h"

int agate_kernels_real(void) { return 0; }

cudaError_t agate_unary_f32(agate_launch l, cudaStream_t s, int op, const float *x, float *y, int64_t n) {
	return cudaErrorNotSupported;
}

cudaError_t agate_binary_f32(agate_launch l, cudaStream_t s, int op, const float *a, const float *b, float *y,
                             int64_t n, int64_t bmod, const agate_bcast *bc) {
	return cudaErrorNotSupported;
}

cudaError_t agate_bias_act_f32(agate_launch l, cudaStream_t s, int act, float *y, const float *bias, int64_t rows,
                               int64_t cols) {
	return cudaErrorNotSupported;
}

cudaError_t agate_layernorm_f32(agate_launch l, cudaStream_t s, const float *x, const float *skip, int64_t skip_rows,
                                const float *bias, const float *gamma, const float *beta, float *y, float *sum_out,
                                int64_t rows, int64_t cols, float eps) {
	return cudaErrorNotSupported;
}

cudaError_t agate_softmax_f32(agate_launch l, cudaStream_t s, const float *x, float *y, int64_t rows, int64_t cols) {
	return cudaErrorNotSupported;
}

cudaError_t agate_gather_rows_f32(agate_launch l, cudaStream_t s, const float *data, int64_t dim0, int64_t row_len,
                                  const int64_t *idx64, const int32_t *idx32, int64_t nidx, float *y, int *err) {
	return cudaErrorNotSupported;
}

cudaError_t agate_attention_f32(agate_launch l, cudaStream_t s, const float *q, int64_t q_ld, const float *k,
                                int64_t k_ld, const float *v, int64_t v_ld, const float *mask, int64_t ms_b,
                                int64_t ms_h, int64_t ms_q, int64_t ms_k, float *y, int64_t y_ld, int sq, int skv,
                                int d, float scale) {
	return cudaErrorNotSupported;
}

cudaError_t agate_forest_partial_f32(agate_launch l, cudaStream_t s, agate_forest f, const float *x, int64_t rows,
                                     int64_t cols, int trees_per_block, float *partial, uint8_t *has) {
	return cudaErrorNotSupported;
}

cudaError_t agate_forest_finalize_f32(agate_launch l, cudaStream_t s, agate_forest f, const float *partial,
                                      const uint8_t *has, int tree_blocks, int64_t rows, float *y) {
	return cudaErrorNotSupported;
}
