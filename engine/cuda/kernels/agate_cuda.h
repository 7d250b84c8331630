/*
 * agate_cuda.h: the C ABI between agate's Go host code (package cuda, built
 * with the cuda tag) and its CUDA kernels (the .cu files of this folder,
 * compiled by nvcc into libagatecuda.a).
 *
 * Every launcher takes the launch geometry computed on the host (Go's
 * Launch), enqueues one kernel on the given stream and returns
 * cudaGetLastError(): launches are asynchronous, so errors of the kernel's
 * execution surface at the next synchronisation.
 *
 * All tensors are dense, row-major float32 unless stated otherwise.
 */
#ifndef AGATE_CUDA_H
#define AGATE_CUDA_H

#include <stdint.h>
#include <cuda_runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Launch geometry: grid (gx, gy, gz), block (bx, by, bz), dynamic shared bytes. */
typedef struct {
	int gx, gy, gz;
	int bx, by, bz;
	int shared;
} agate_launch;

#define AGATE_MAX_RANK 6

/*
 * Broadcast description of a binary op: the output has rank dims of sizes
 * shape[]; astride/bstride are the element strides of a and b along each
 * output dimension (0 where the input is broadcast).
 */
typedef struct {
	int rank;
	int64_t shape[AGATE_MAX_RANK];
	int64_t astride[AGATE_MAX_RANK];
	int64_t bstride[AGATE_MAX_RANK];
} agate_bcast;

/* Unary and activation ops. */
enum {
	AGATE_UNARY_IDENTITY = 0,
	AGATE_UNARY_RELU = 1,
	AGATE_UNARY_GELU = 2,      /* x * Phi(x), erf form */
	AGATE_UNARY_GELU_TANH = 3, /* tanh approximation */
	AGATE_UNARY_TANH = 4,
	AGATE_UNARY_SIGMOID = 5,
	AGATE_UNARY_ERF = 6
};

/* Binary ops. */
enum {
	AGATE_BINARY_ADD = 0,
	AGATE_BINARY_SUB = 1,
	AGATE_BINARY_MUL = 2,
	AGATE_BINARY_DIV = 3
};

/* Tree aggregation, as Go's Aggregate. */
enum {
	AGATE_AGG_SUM = 0,
	AGATE_AGG_AVERAGE = 1,
	AGATE_AGG_MIN = 2,
	AGATE_AGG_MAX = 3
};

/* A tree ensemble in device memory (Go's Forest): all pointers are device pointers. */
typedef struct {
	const int32_t *roots;
	const int32_t *feature;
	const float *threshold;
	const int32_t *true_child;  /* leaf: first vote */
	const int32_t *false_child; /* leaf: number of votes */
	const uint8_t *flags;       /* bits 0-2: split mode (6 = leaf); bit 3: NaN goes true */
	const int32_t *vote_target;
	const float *vote_value;
	const float *base; /* n_targets values */
	int n_trees;
	int n_targets;
	int agg;
} agate_forest;

/* agate_kernels_real returns 1 in the nvcc-built library, 0 in the compile-check stub. */
int agate_kernels_real(void);

/* y[i] = op(x[i]) for i < n (y may equal x). */
cudaError_t agate_unary_f32(agate_launch l, cudaStream_t s, int op, const float *x, float *y, int64_t n);

/*
 * y = a op b. bc == NULL: a and b both have n elements. Otherwise bc
 * describes the broadcast (a host pointer, copied at launch); n is the
 * output's element count. When bmod > 0
 * (and bc == NULL) b is a row of bmod elements repeated (a bias).
 */
cudaError_t agate_binary_f32(agate_launch l, cudaStream_t s, int op, const float *a, const float *b, float *y,
                             int64_t n, int64_t bmod, const agate_bcast *bc);

/* y[r, c] = act(y[r, c] + bias[c]) in place; bias may be NULL. */
cudaError_t agate_bias_act_f32(agate_launch l, cudaStream_t s, int act, float *y, const float *bias, int64_t rows,
                               int64_t cols);

/*
 * Layer normalisation over the last axis of rows × cols:
 *   h = x + skip[r % skip_rows] + bias   (skip and bias may be NULL)
 *   y = (h - mean(h)) / sqrt(var(h) + eps) * gamma + beta   (beta may be NULL)
 * When sum_out is not NULL, h is stored there (SkipLayerNormalization's
 * fourth output). One block per row; shared: 2 floats per warp.
 */
cudaError_t agate_layernorm_f32(agate_launch l, cudaStream_t s, const float *x, const float *skip, int64_t skip_rows,
                                const float *bias, const float *gamma, const float *beta, float *y, float *sum_out,
                                int64_t rows, int64_t cols, float eps);

/* Softmax over the last axis of rows × cols (y may equal x). One block per row. */
cudaError_t agate_softmax_f32(agate_launch l, cudaStream_t s, const float *x, float *y, int64_t rows, int64_t cols);

/*
 * Row gather (Gather along axis 0, embeddings): y[i, :] = data[idx[i], :]
 * with row_len floats per row. Negative indices count from dim0; an index
 * out of [-dim0, dim0) writes a zero row and sets *err to 1 (err may be NULL).
 * Indices are int64 (idx64) or int32 (idx32): exactly one is non-NULL.
 */
cudaError_t agate_gather_rows_f32(agate_launch l, cudaStream_t s, const float *data, int64_t dim0, int64_t row_len,
                                  const int64_t *idx64, const int32_t *idx32, int64_t nidx, float *y, int *err);

/*
 * Fused multi-head attention from the projection layout: q [b, sq, H],
 * k and v [b, skv, H] with H = heads * d (row strides q_ld, k_ld, v_ld),
 * optional additive mask broadcast to [b, heads, sq, skv] through the
 * element strides ms_b, ms_h, ms_q, ms_k (0 along broadcast axes), output y [b, sq, H]
 * (row stride y_ld). Grid (sq, heads, b); shared: 4 * (d + skv + 64) bytes.
 */
cudaError_t agate_attention_f32(agate_launch l, cudaStream_t s, const float *q, int64_t q_ld, const float *k,
                                int64_t k_ld, const float *v, int64_t v_ld, const float *mask,
                                int64_t ms_b, int64_t ms_h, int64_t ms_q, int64_t ms_k, float *y, int64_t y_ld, int sq, int skv, int d, float scale);

/*
 * Tree ensembles, pass 1: grid (row blocks, tree blocks); thread x of row
 * block bx walks row bx * bx_dim + x (rows of cols features) through trees
 * [by * trees_per_block, ...) and writes, for each target, the block's
 * aggregate to partial[(by * rows + row) * n_targets + t] and whether any
 * tree voted to has[same index].
 */
cudaError_t agate_forest_partial_f32(agate_launch l, cudaStream_t s, agate_forest f, const float *x, int64_t rows,
                                     int64_t cols, int trees_per_block, float *partial, uint8_t *has);

/* Tree ensembles, pass 2: y[row, t] from the tree blocks' partials, in block order. */
cudaError_t agate_forest_finalize_f32(agate_launch l, cudaStream_t s, agate_forest f, const float *partial,
                                      const uint8_t *has, int tree_blocks, int64_t rows, float *y);

#ifdef __cplusplus
}
#endif

#endif /* AGATE_CUDA_H */
