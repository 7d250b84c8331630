//go:build cuda

package cuda

/*
#include <cublas_v2.h>
#include <cublasLt.h>

// agate_lt_matmul computes the row-major product C[m, n] = A[m, k] · B[k, n],
// plus bias[n] and a ReLU when asked, with one cuBLASLt call: in column-major
// terms Cᵀ = Bᵀ · Aᵀ, whose rows are the bias's elements.
static cublasStatus_t agate_lt_matmul(cublasLtHandle_t lt, cudaStream_t s, int relu, const float *A, const float *B,
                                      const float *bias, float *C, int m, int n, int k, void *ws, size_t ws_bytes) {
	cublasLtMatmulDesc_t op = NULL;
	cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
	cublasLtMatmulPreference_t pref = NULL;
	cublasLtMatmulHeuristicResult_t res;
	int found = 0;
	float alpha = 1.f, beta = 0.f;
	cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
	if (bias != NULL) {
		epi = relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS;
	} else if (relu) {
		epi = CUBLASLT_EPILOGUE_RELU;
	}
	cublasStatus_t st = cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
	if (st == CUBLAS_STATUS_SUCCESS) {
		st = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi);
	}
	if (st == CUBLAS_STATUS_SUCCESS && bias != NULL) {
		st = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias);
	}
	if (st == CUBLAS_STATUS_SUCCESS) {
		st = cublasLtMatrixLayoutCreate(&lb, CUDA_R_32F, n, k, n);
	}
	if (st == CUBLAS_STATUS_SUCCESS) {
		st = cublasLtMatrixLayoutCreate(&la, CUDA_R_32F, k, m, k);
	}
	if (st == CUBLAS_STATUS_SUCCESS) {
		st = cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, n, m, n);
	}
	if (st == CUBLAS_STATUS_SUCCESS) {
		st = cublasLtMatmulPreferenceCreate(&pref);
	}
	if (st == CUBLAS_STATUS_SUCCESS) {
		st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes,
		                                          sizeof ws_bytes);
	}
	if (st == CUBLAS_STATUS_SUCCESS) {
		st = cublasLtMatmulAlgoGetHeuristic(lt, op, lb, la, lc, lc, pref, 1, &res, &found);
	}
	if (st == CUBLAS_STATUS_SUCCESS && found == 0) {
		st = CUBLAS_STATUS_NOT_SUPPORTED;
	}
	if (st == CUBLAS_STATUS_SUCCESS) {
		st = cublasLtMatmul(lt, op, &alpha, B, lb, A, la, &beta, C, lc, C, lc, &res.algo, ws, ws_bytes, s);
	}
	if (pref != NULL) {
		cublasLtMatmulPreferenceDestroy(pref);
	}
	if (lc != NULL) {
		cublasLtMatrixLayoutDestroy(lc);
	}
	if (la != NULL) {
		cublasLtMatrixLayoutDestroy(la);
	}
	if (lb != NULL) {
		cublasLtMatrixLayoutDestroy(lb);
	}
	if (op != NULL) {
		cublasLtMatmulDescDestroy(op);
	}
	return st;
}
*/
import "C"

// gemm computes the row-major C[m, n] = alpha · op(A) · op(B) + beta · C
// with cuBLAS, where op(A) is m×k and op(B) is k×n (transposed when ta,
// tb). In column-major terms it computes Cᵀ = op(B)ᵀ · op(A)ᵀ.
func (ln *lane) gemm(ta, tb bool, m, n, k int, alpha float32, a, b DevicePtr, beta float32, c DevicePtr) error {
	opA, lda := C.cublasOperation_t(C.CUBLAS_OP_N), k
	if ta {
		opA, lda = C.CUBLAS_OP_T, m
	}
	opB, ldb := C.cublasOperation_t(C.CUBLAS_OP_N), n
	if tb {
		opB, ldb = C.CUBLAS_OP_T, k
	}
	al, be := C.float(alpha), C.float(beta)
	return checkBlas("cublasSgemm", C.cublasSgemm(ln.blas, opB, opA, C.int(n), C.int(m), C.int(k),
		&al, (*C.float)(ptr(b)), C.int(ldb), (*C.float)(ptr(a)), C.int(lda), &be, (*C.float)(ptr(c)), C.int(n)))
}

// gemmBatched computes batch row-major products C_i[m, n] = A_i[m, k] ·
// B_i[k, n], the operands strideA, strideB and strideC elements apart (a
// stride of 0 broadcasts an operand).
func (ln *lane) gemmBatched(batch, m, n, k int, a DevicePtr, strideA int, b DevicePtr, strideB int, c DevicePtr, strideC int) error {
	al, be := C.float(1), C.float(0)
	return checkBlas("cublasSgemmStridedBatched", C.cublasSgemmStridedBatched(ln.blas, C.CUBLAS_OP_N, C.CUBLAS_OP_N,
		C.int(n), C.int(m), C.int(k), &al,
		(*C.float)(ptr(b)), C.int(n), C.longlong(strideB),
		(*C.float)(ptr(a)), C.int(k), C.longlong(strideA), &be,
		(*C.float)(ptr(c)), C.int(n), C.longlong(strideC), C.int(batch)))
}

// matmulBias computes C[m, n] = A[m, k] · B[k, n] + bias[n] (bias may be 0),
// followed by a ReLU when relu is set, in one cuBLASLt call. It reports
// whether cuBLASLt handled the case; when it did not, the caller uses gemm
// and the bias kernel.
func (ln *lane) matmulBias(relu bool, m, n, k int, a, b, bias, c DevicePtr) (bool, error) {
	r := C.int(0)
	if relu {
		r = 1
	}
	st := C.agate_lt_matmul(ln.lt, ln.stream, r, (*C.float)(ptr(a)), (*C.float)(ptr(b)), (*C.float)(ptr(bias)),
		(*C.float)(ptr(c)), C.int(m), C.int(n), C.int(k), ptr(ln.ws), C.size_t(ln.wsBytes))
	if st == C.CUBLAS_STATUS_NOT_SUPPORTED {
		return false, nil
	}
	return true, checkBlas("cublasLtMatmul", st)
}
