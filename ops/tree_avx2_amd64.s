//go:build amd64 && !purego

#include "textflag.h"

// Tree kernels for amd64 machines without AVX-512 (tree_amd64.s holds the
// AVX-512 ones): the bitvector kernels of tree_qs.go in AVX2, and a scalar
// walk of the compact layout (tree_compact.go) that needs no vector unit.

// The AVX2 bitvector kernels take the blocks of 16 rows as two ymm halves
// (rows 0-7 and 8-15), a bitvector word at a time: the word starts from
// its init value and stays in registers while its splits (12 bytes:
// threshold, byte offset of the feature's column in cols, mask) are
// applied. A split fails for the rows where !(x <= threshold), computed
// as !(threshold >= x) (predicate NGE_UQ: NaN fails). AVX2 has no
// VPTERNLOGD: the bits a failing split clears are ~mask & fail (VPANDN),
// and the word keeps ~cleared & word (VPANDN again). Words and masks are
// broadcast with VBROADCASTSS, which moves the same 32 bits: on Zen 3
// VPBROADCASTD from memory measured slower (BenchmarkTreeQSKernels,
// depth 5: 2.1-2.2 -> 1.7-1.9 ns per split and block; depth 6 about
// equal).

// QSWORD2 applies the BX splits at SI (advancing SI) to the word whose
// rows 0-7 are in WL and rows 8-15 in WH, with DX the columns.
#define QSWORD2(WL, WH, LOOP, DONE) \
	TESTL BX, BX; \
	JEQ DONE; \
LOOP: \
	MOVL 4(SI), AX; \
	VBROADCASTSS (SI), Y6; \
	VBROADCASTSS 8(SI), Y7; \
	VCMPPS $0x19, (DX)(AX*1), Y6, Y8; \
	VCMPPS $0x19, 32(DX)(AX*1), Y6, Y9; \
	VPANDN Y8, Y7, Y8; \
	VPANDN Y9, Y7, Y9; \
	VPANDN WL, Y8, WL; \
	VPANDN WH, Y9, WH; \
	ADDQ $12, SI; \
	DECL BX; \
	JNZ LOOP; \
DONE:

// func treeQSScanAVX2(nodes *treeQSNode, count *int32, nwords int, init *uint32, cols *float32, bv *uint32)
TEXT ·treeQSScanAVX2(SB), NOSPLIT, $0-48
	MOVQ nodes+0(FP), SI
	MOVQ count+8(FP), R8
	MOVQ nwords+16(FP), CX
	MOVQ init+24(FP), R9
	MOVQ cols+32(FP), DX
	MOVQ bv+40(FP), DI
a2scan:
	VBROADCASTSS (R9), Y1
	VMOVDQA Y1, Y2
	MOVL (R8), BX
	QSWORD2(Y1, Y2, a2scannode, a2scanstore)
	VMOVDQU Y1, (DI)
	VMOVDQU Y2, 32(DI)
	ADDQ $64, DI
	ADDQ $4, R9
	ADDQ $4, R8
	DECQ CX
	JNZ a2scan
	VZEROUPPER
	RET

// The summing kernels then read, in each lane, the value of the leaf its
// lowest set bit numbers from vals (64 per tree) and add it to the lane's
// sum, tree by tree as the scalar sums do. AVX2 has no VPLZCNTD: the
// lowest set bit, isolated (w & -w), is converted to float32, exact for a
// power of two (bit 31 reads as -2^31), and its biased exponent, 127 +
// the bit, taken from the float's bits: VGATHERDPS reads from vals -
// 127*4 so that the exponent indexes the leaf. A bitvector is never zero
// (the leaf the walk reaches keeps its bit).

DATA treeQSHi<>+0(SB)/4, $32
GLOBL treeQSHi<>(SB), RODATA|NOPTR, $4

// QSBIT2 sets B to 127 plus the index of the lowest set bit of each dword
// of W, with Y15 zero.
#define QSBIT2(W, B) \
	VPSUBD W, Y15, B; \
	VPAND W, B, B; \
	VCVTDQ2PS B, B; \
	VPSLLD $1, B, B; \
	VPSRLD $24, B, B

// QSBIT2W sets B to 127 plus the index of the lowest set bit of the
// 64-bit bitvectors whose low words are in L and high words in H (32
// more where the low word is zero), with Y14 holding 32 and T scratch.
#define QSBIT2W(L, H, B, T) \
	QSBIT2(L, B); \
	QSBIT2(H, T); \
	VPADDD Y14, T, T; \
	VPCMPEQD Y15, L, Y13; \
	VPBLENDVB Y13, T, B, B

// QSGATHER sets D to the values at R10 - 127*4 that the indices in B
// select, with M scratch (the gather clears its mask).
#define QSGATHER(B, D, M) \
	VPCMPEQD M, M, M; \
	VGATHERDPS M, -508(R10)(B*4), D

// func treeQSSum1AVX2(nodes *treeQSNode, count *int32, ntrees int, init *uint32, cols *float32, vals *float32, sums *float32)
TEXT ·treeQSSum1AVX2(SB), NOSPLIT, $0-56
	MOVQ nodes+0(FP), SI
	MOVQ count+8(FP), R8
	MOVQ ntrees+16(FP), CX
	MOVQ init+24(FP), R9
	MOVQ cols+32(FP), DX
	MOVQ vals+40(FP), R10
	MOVQ sums+48(FP), DI
	VPXOR Y15, Y15, Y15
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
a2s1tree:
	VBROADCASTSS (R9), Y1
	VMOVDQA Y1, Y2
	MOVL (R8), BX
	QSWORD2(Y1, Y2, a2s1node, a2s1leaf)
	QSBIT2(Y1, Y6)
	QSBIT2(Y2, Y7)
	QSGATHER(Y6, Y8, Y10)
	QSGATHER(Y7, Y9, Y11)
	VADDPS Y8, Y4, Y4
	VADDPS Y9, Y5, Y5
	ADDQ $256, R10
	ADDQ $4, R9
	ADDQ $4, R8
	DECQ CX
	JNZ a2s1tree
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, 32(DI)
	VZEROUPPER
	RET

// func treeQSSum2AVX2(nodes *treeQSNode, count *int32, ntrees int, init *uint32, cols *float32, vals *float32, sums *float32)
TEXT ·treeQSSum2AVX2(SB), NOSPLIT, $0-56
	MOVQ nodes+0(FP), SI
	MOVQ count+8(FP), R8
	MOVQ ntrees+16(FP), CX
	MOVQ init+24(FP), R9
	MOVQ cols+32(FP), DX
	MOVQ vals+40(FP), R10
	MOVQ sums+48(FP), DI
	VPXOR Y15, Y15, Y15
	VPBROADCASTD treeQSHi<>(SB), Y14
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
a2s2tree:
	VBROADCASTSS (R9), Y0
	VMOVDQA Y0, Y1
	VBROADCASTSS 4(R9), Y2
	VMOVDQA Y2, Y3
	MOVL (R8), BX
	QSWORD2(Y0, Y1, a2s2lo, a2s2lodone)
	MOVL 4(R8), BX
	QSWORD2(Y2, Y3, a2s2hi, a2s2leaf)
	QSBIT2W(Y0, Y2, Y6, Y7)
	QSBIT2W(Y1, Y3, Y8, Y9)
	QSGATHER(Y6, Y10, Y12)
	QSGATHER(Y8, Y11, Y13)
	VADDPS Y10, Y4, Y4
	VADDPS Y11, Y5, Y5
	ADDQ $256, R10
	ADDQ $8, R9
	ADDQ $8, R8
	DECQ CX
	JNZ a2s2tree
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, 32(DI)
	VZEROUPPER
	RET

// The dense summing kernels add k votes per leaf: vals holds, per tree, k
// runs of 64 values (target by target), and sums k runs of 16 sums, which
// stay in memory (zeroed first) and are added to target by target, tree
// by tree: the same order as the scalar sums.

// QSKSUM2 adds, for each of the R11 targets, the votes that the leaf bits
// in BL (rows 0-7) and BH (rows 8-15) select from R10 (advanced past the
// tree's k runs) to the sums at DI.
#define QSKSUM2(BL, BH, LOOP) \
	MOVQ R11, R12; \
	MOVQ DI, R13; \
LOOP: \
	QSGATHER(BL, Y10, Y12); \
	QSGATHER(BH, Y11, Y13); \
	VADDPS (R13), Y10, Y10; \
	VADDPS 32(R13), Y11, Y11; \
	VMOVUPS Y10, (R13); \
	VMOVUPS Y11, 32(R13); \
	ADDQ $256, R10; \
	ADDQ $64, R13; \
	DECQ R12; \
	JNZ LOOP

// QSKZERO2 zeroes the R11 runs of sums at DI, with Y15 zero.
#define QSKZERO2(LOOP) \
	MOVQ R11, R12; \
	MOVQ DI, R13; \
LOOP: \
	VMOVUPS Y15, (R13); \
	VMOVUPS Y15, 32(R13); \
	ADDQ $64, R13; \
	DECQ R12; \
	JNZ LOOP

// func treeQSSumK1AVX2(nodes *treeQSNode, count *int32, ntrees int, init *uint32, cols *float32, vals *float32, k int, sums *float32)
TEXT ·treeQSSumK1AVX2(SB), NOSPLIT, $0-64
	MOVQ nodes+0(FP), SI
	MOVQ count+8(FP), R8
	MOVQ ntrees+16(FP), CX
	MOVQ init+24(FP), R9
	MOVQ cols+32(FP), DX
	MOVQ vals+40(FP), R10
	MOVQ k+48(FP), R11
	MOVQ sums+56(FP), DI
	VPXOR Y15, Y15, Y15
	QSKZERO2(a2k1zero)
a2k1tree:
	VBROADCASTSS (R9), Y1
	VMOVDQA Y1, Y2
	MOVL (R8), BX
	QSWORD2(Y1, Y2, a2k1node, a2k1leaf)
	QSBIT2(Y1, Y4)
	QSBIT2(Y2, Y5)
	QSKSUM2(Y4, Y5, a2k1target)
	ADDQ $4, R9
	ADDQ $4, R8
	DECQ CX
	JNZ a2k1tree
	VZEROUPPER
	RET

// func treeQSSumK2AVX2(nodes *treeQSNode, count *int32, ntrees int, init *uint32, cols *float32, vals *float32, k int, sums *float32)
TEXT ·treeQSSumK2AVX2(SB), NOSPLIT, $0-64
	MOVQ nodes+0(FP), SI
	MOVQ count+8(FP), R8
	MOVQ ntrees+16(FP), CX
	MOVQ init+24(FP), R9
	MOVQ cols+32(FP), DX
	MOVQ vals+40(FP), R10
	MOVQ k+48(FP), R11
	MOVQ sums+56(FP), DI
	VPXOR Y15, Y15, Y15
	VPBROADCASTD treeQSHi<>(SB), Y14
	QSKZERO2(a2k2zero)
a2k2tree:
	VBROADCASTSS (R9), Y0
	VMOVDQA Y0, Y1
	VBROADCASTSS 4(R9), Y2
	VMOVDQA Y2, Y3
	MOVL (R8), BX
	QSWORD2(Y0, Y1, a2k2lo, a2k2lodone)
	MOVL 4(R8), BX
	QSWORD2(Y2, Y3, a2k2hi, a2k2leaf)
	QSBIT2W(Y0, Y2, Y4, Y6)
	QSBIT2W(Y1, Y3, Y5, Y7)
	QSKSUM2(Y4, Y5, a2k2target)
	ADDQ $8, R9
	ADDQ $8, R8
	DECQ CX
	JNZ a2k2tree
	VZEROUPPER
	RET

// The scalar walk advances eight walks of one row (eight trees, a
// position each in R8-R15) in lockstep: their loads overlap. One step of
// a walk at position P, with N the node's 8 bytes (threshold | feature<<32
// | jm1<<48):
//
//	P += 1, plus jm1 where x[feature] <= threshold
//
// computed as threshold >= x (UCOMISS leaves the carry clear exactly
// then: NaN sets it) and a conditional move. BX collects the jm1 that the
// step read (AND): -1 when all eight walks stand on a leaf, where the
// group stops.

// WSTEP is one step of the walk at P (nodes at SI, row at DX).
#define WSTEP(P) \
	MOVWQSX 6(SI)(P*8), CX; \
	MOVWLZX 4(SI)(P*8), AX; \
	MOVSS (SI)(P*8), X0; \
	ANDQ CX, BX; \
	LEAQ 1(P)(CX*1), CX; \
	INCQ P; \
	UCOMISS (DX)(AX*4), X0; \
	CMOVQCC CX, P

// func treeWalkScalar(nodes *treeCNode, idx *int64, ngroups int, steps *int32, x *float32)
TEXT ·treeWalkScalar(SB), NOSPLIT, $8-40
	MOVQ nodes+0(FP), SI
	MOVQ idx+8(FP), DI
	MOVQ x+32(FP), DX
wgroup:
	MOVQ 0(DI), R8
	MOVQ 8(DI), R9
	MOVQ 16(DI), R10
	MOVQ 24(DI), R11
	MOVQ 32(DI), R12
	MOVQ 40(DI), R13
	MOVQ 48(DI), R14
	MOVQ 56(DI), R15
	MOVQ steps+24(FP), AX
	MOVL (AX), AX
	TESTL AX, AX
	JEQ wstore
	MOVL AX, left-8(SP)
wstep:
	MOVQ $-1, BX
	WSTEP(R8)
	WSTEP(R9)
	WSTEP(R10)
	WSTEP(R11)
	WSTEP(R12)
	WSTEP(R13)
	WSTEP(R14)
	WSTEP(R15)
	CMPQ BX, $-1
	JEQ wstore
	DECL left-8(SP)
	JNZ wstep
wstore:
	MOVQ R8, 0(DI)
	MOVQ R9, 8(DI)
	MOVQ R10, 16(DI)
	MOVQ R11, 24(DI)
	MOVQ R12, 32(DI)
	MOVQ R13, 40(DI)
	MOVQ R14, 48(DI)
	MOVQ R15, 56(DI)
	ADDQ $64, DI
	ADDQ $4, steps+24(FP)
	DECQ ngroups+16(FP)
	JNZ wgroup
	RET
