//go:build amd64 && !purego

#include "textflag.h"

// AVX-512 tree walks over the compact layout of tree_compact.go. A lane is
// one walk: its position is a qword (an int64 node index), four vectors of
// eight lanes advance together so that their gathers overlap. One step of a
// lane, with N the node's 8 bytes (threshold | feature<<32 | jm1<<48):
//
//	x    = the lane's input at N.feature
//	pos += 1, plus jm1 where x <= threshold (ordered: NaN is false)
//
// The comparison works on the even dwords of the qwords (the threshold and
// the value), with K7 selecting them; jm1 is added to the low dword of the
// position, which never carries (positions are below 2^31).

DATA treeMask16<>+0(SB)/8, $0xffff
GLOBL treeMask16<>(SB), RODATA|NOPTR, $8

// TCMP advances lanes I whose nodes' qwords are in N (scratch S, X),
// reading the input from the table in Z30:Z31 (VPERMT2PS uses the index's
// low 5 bits, the feature; the odd dwords' lookups are ignored). It leaves
// in K2 the lanes that took their true branch (even bits), and in S each
// lane's jm1 in its low dword (-1: the lane is on a leaf) and 0 above.
#define TCMP(I, N, S, X) \
	VPSRLQ $32, N, S; \
	VMOVAPS Z30, X; \
	VPERMT2PS Z31, S, X; \
	VCMPPS $18, N, X, K7, K2; \
	VPSRAD $16, S, S; \
	VPADDQ Z29, I, I; \
	VPADDD S, I, K2, I

// TSTEP is one step of lanes I: gather their nodes, then TCMP.
#define TSTEP(I, N, S, X) \
	KXNORW K0, K0, K1; \
	VPGATHERQQ 0(SI)(I*8), K1, N; \
	TCMP(I, N, S, X)

// TTOP is the first two steps of lanes I without gathers: their roots sit
// at R9+OFF, and the roots' false and true children 256 and 512 bytes
// further (a leaf root stands for its own children). K4 widens K2 to
// whole qwords for the masked load of the true children.
#define TTOP(OFF, I, N, S, X) \
	VMOVDQU64 OFF(R9), N; \
	TCMP(I, N, S, X); \
	KSHIFTLW $1, K2, K4; \
	KORW K2, K4, K4; \
	VMOVDQU64 (OFF+256)(R9), N; \
	VMOVDQU32 (OFF+512)(R9), K4, N; \
	TCMP(I, N, S, X)

// GSTEP is TSTEP reading the input at DX + 4*feature by a gather.
#define GSTEP(I, N, S, X) \
	KXNORW K0, K0, K1; \
	VPGATHERQQ 0(SI)(I*8), K1, N; \
	VPSRLQ $32, N, S; \
	VPANDQ Z27, S, X; \
	KXNORW K0, K0, K2; \
	VGATHERQPS 0(DX)(X*4), K2, Y28; \
	VPMOVZXDQ Y28, X; \
	VCMPPS $18, N, X, K7, K3; \
	VPSRAD $16, S, S; \
	VPADDQ Z29, I, I; \
	VPADDD S, I, K3, I

// ALLLEAVES sets the flags to "equal" when every lane of the four vectors
// just read a leaf (their S vectors hold jm1 = -1, a qword of 0xffffffff,
// which Z26 holds): every walk of the group has then reached its leaf and
// the remaining steps would not move it.
#define ALLLEAVES(S0, S1, S2, S3) \
	VPANDD S0, S1, Z16; \
	VPANDD S2, S3, Z17; \
	VPANDD Z16, Z17, Z16; \
	VPCMPEQQ Z26, Z16, K3; \
	KMOVW K3, AX; \
	CMPL AX, $0xff

// func treeWalkTableAVX512(nodes *treeCNode, idx *int64, ngroups int, steps *int32, table *float32, top *treeCNode)
TEXT ·treeWalkTableAVX512(SB), NOSPLIT, $0-48
	MOVQ nodes+0(FP), SI
	MOVQ idx+8(FP), DI
	MOVQ ngroups+16(FP), CX
	MOVQ steps+24(FP), DX
	MOVQ table+32(FP), AX
	MOVQ top+40(FP), R9
	VMOVUPS 0(AX), Z30
	VMOVUPS 64(AX), Z31
	MOVQ $1, BX
	VPBROADCASTQ BX, Z29
	MOVL $0xffffffff, BX
	VPBROADCASTQ BX, Z26
	MOVL $0x5555, BX
	KMOVW BX, K7
tgroup:
	VMOVDQU64 0(DI), Z0
	VMOVDQU64 64(DI), Z1
	VMOVDQU64 128(DI), Z8
	VMOVDQU64 192(DI), Z9
	TTOP(0, Z0, Z2, Z4, Z6)
	TTOP(64, Z1, Z3, Z5, Z7)
	TTOP(128, Z8, Z10, Z12, Z14)
	TTOP(192, Z9, Z11, Z13, Z15)
	ADDQ $768, R9
	MOVL (DX), BX
	SUBL $2, BX
	JLE tstore
tstep:
	TSTEP(Z0, Z2, Z4, Z6)
	TSTEP(Z1, Z3, Z5, Z7)
	TSTEP(Z8, Z10, Z12, Z14)
	TSTEP(Z9, Z11, Z13, Z15)
	ALLLEAVES(Z4, Z5, Z12, Z13)
	JEQ tstore
	DECL BX
	JNZ tstep
tstore:
	VMOVDQU64 Z0, 0(DI)
	VMOVDQU64 Z1, 64(DI)
	VMOVDQU64 Z8, 128(DI)
	VMOVDQU64 Z9, 192(DI)
	ADDQ $256, DI
	ADDQ $4, DX
	DECQ CX
	JNZ tgroup
	VZEROUPPER
	RET

// func treeWalkGatherAVX512(nodes *treeCNode, idx *int64, ngroups int, steps *int32, x *float32)
TEXT ·treeWalkGatherAVX512(SB), NOSPLIT, $0-40
	MOVQ nodes+0(FP), SI
	MOVQ idx+8(FP), DI
	MOVQ ngroups+16(FP), CX
	MOVQ steps+24(FP), R8
	MOVQ x+32(FP), DX
	MOVQ $1, BX
	VPBROADCASTQ BX, Z29
	MOVL $0xffffffff, BX
	VPBROADCASTQ BX, Z26
	VPBROADCASTQ treeMask16<>(SB), Z27
	MOVL $0x5555, BX
	KMOVW BX, K7
ggroup:
	VMOVDQU64 0(DI), Z0
	VMOVDQU64 64(DI), Z1
	VMOVDQU64 128(DI), Z8
	VMOVDQU64 192(DI), Z9
	MOVL (R8), BX
	TESTL BX, BX
	JEQ gstore
gstep:
	GSTEP(Z0, Z2, Z4, Z6)
	GSTEP(Z1, Z3, Z5, Z7)
	GSTEP(Z8, Z10, Z12, Z14)
	GSTEP(Z9, Z11, Z13, Z15)
	ALLLEAVES(Z4, Z5, Z12, Z13)
	JEQ gstore
	DECL BX
	JNZ gstep
gstore:
	VMOVDQU64 Z0, 0(DI)
	VMOVDQU64 Z1, 64(DI)
	VMOVDQU64 Z8, 128(DI)
	VMOVDQU64 Z9, 192(DI)
	ADDQ $256, DI
	ADDQ $4, R8
	DECQ CX
	JNZ ggroup
	VZEROUPPER
	RET


// Bitvector kernels of tree_qs.go, for blocks of 16 rows (one per dword
// lane), a bitvector word at a time: the word starts from its init value
// and stays in a register while its splits (12 bytes: threshold, byte
// offset of the feature's column in cols, mask) are applied. A split
// fails for the rows where !(x <= threshold), computed as
// !(threshold >= x) (predicate NGE_UQ: NaN fails), and its mask is ANDed
// into their words.

// QSWORD applies the BX splits at SI (advancing SI) to the word whose
// rows 0-7 are in WL and rows 8-15 in WH. The comparisons write vectors
// (VEX VCMPPS), not mask registers, and VPTERNLOGD $0xd0 computes
// w & (mask | ^fail): masked AVX-512 operations measured slower.
#define QSWORD(WL, WH, LOOP, DONE) \
	TESTL BX, BX; \
	JEQ DONE; \
LOOP: \
	MOVL 4(SI), AX; \
	VBROADCASTSS (SI), Y6; \
	VPBROADCASTD 8(SI), Y7; \
	VCMPPS $0x19, (DX)(AX*1), Y6, Y8; \
	VCMPPS $0x19, 32(DX)(AX*1), Y6, Y9; \
	VPTERNLOGD $0xd0, Y8, Y7, WL; \
	VPTERNLOGD $0xd0, Y9, Y7, WH; \
	ADDQ $12, SI; \
	DECL BX; \
	JNZ LOOP; \
DONE:

// func treeQSScanAVX512(nodes *treeQSNode, count *int32, nwords int, init *uint32, cols *float32, bv *uint32)
TEXT ·treeQSScanAVX512(SB), NOSPLIT, $0-48
	MOVQ nodes+0(FP), SI
	MOVQ count+8(FP), R8
	MOVQ nwords+16(FP), CX
	MOVQ init+24(FP), R9
	MOVQ cols+32(FP), DX
	MOVQ bv+40(FP), DI
qscan:
	VPBROADCASTD (R9), Y1
	VMOVDQA Y1, Y2
	MOVL (R8), BX
	QSWORD(Y1, Y2, qscannode, qscanstore)
	VMOVDQU Y1, (DI)
	VMOVDQU Y2, 32(DI)
	ADDQ $64, DI
	ADDQ $4, R9
	ADDQ $4, R8
	DECQ CX
	JNZ qscan
	VZEROUPPER
	RET

// The summing kernels then read, in each lane, the value of the leaf its
// lowest set bit numbers (bit = 31 - lzcnt of the isolated lowest bit, 32
// more in the high word where the low one is zero) from vals (64 per
// tree) and add it to the lane's sum: the sums run over the trees in
// order, as the scalar ones do. A bitvector is never zero (the leaf the
// walk reaches keeps its bit).

DATA treeQS31<>+0(SB)/4, $31
GLOBL treeQS31<>(SB), RODATA|NOPTR, $4
DATA treeQS63<>+0(SB)/4, $63
GLOBL treeQS63<>(SB), RODATA|NOPTR, $4

// QSBIT sets B to the index of the lowest set bit of the words in W, plus
// the offset in C (Z31: 31, Z29: 63), with Z30 zero.
#define QSBIT(W, B, C) \
	VPSUBD W, Z30, B; \
	VPANDD W, B, B; \
	VPLZCNTD B, B; \
	VPSUBD B, C, B

// func treeQSSum1AVX512(nodes *treeQSNode, count *int32, ntrees int, init *uint32, cols *float32, vals *float32, sums *float32)
TEXT ·treeQSSum1AVX512(SB), NOSPLIT, $0-56
	MOVQ nodes+0(FP), SI
	MOVQ count+8(FP), R8
	MOVQ ntrees+16(FP), CX
	MOVQ init+24(FP), R9
	MOVQ cols+32(FP), DX
	MOVQ vals+40(FP), R10
	MOVQ sums+48(FP), DI
	VPBROADCASTD treeQS31<>(SB), Z31
	VPXORD Z30, Z30, Z30
	VPXORD Z5, Z5, Z5
s1tree:
	VPBROADCASTD (R9), Y1
	VMOVDQA Y1, Y2
	MOVL (R8), BX
	QSWORD(Y1, Y2, s1node, s1leaf)
	VINSERTI64X4 $1, Y2, Z1, Z1
	QSBIT(Z1, Z3, Z31)
	KXNORW K0, K0, K2
	VGATHERDPS (R10)(Z3*4), K2, Z4
	VADDPS Z4, Z5, Z5
	ADDQ $256, R10
	ADDQ $4, R9
	ADDQ $4, R8
	DECQ CX
	JNZ s1tree
	VMOVUPS Z5, (DI)
	VZEROUPPER
	RET

// func treeQSSum2AVX512(nodes *treeQSNode, count *int32, ntrees int, init *uint32, cols *float32, vals *float32, sums *float32)
TEXT ·treeQSSum2AVX512(SB), NOSPLIT, $0-56
	MOVQ nodes+0(FP), SI
	MOVQ count+8(FP), R8
	MOVQ ntrees+16(FP), CX
	MOVQ init+24(FP), R9
	MOVQ cols+32(FP), DX
	MOVQ vals+40(FP), R10
	MOVQ sums+48(FP), DI
	VPBROADCASTD treeQS31<>(SB), Z31
	VPBROADCASTD treeQS63<>(SB), Z29
	VPXORD Z30, Z30, Z30
	VPXORD Z5, Z5, Z5
s2tree:
	VPBROADCASTD (R9), Y1
	VMOVDQA Y1, Y2
	VPBROADCASTD 4(R9), Y3
	VMOVDQA Y3, Y4
	MOVL (R8), BX
	QSWORD(Y1, Y2, s2lo, s2lodone)
	MOVL 4(R8), BX
	QSWORD(Y3, Y4, s2hi, s2leaf)
	VINSERTI64X4 $1, Y2, Z1, Z1
	VINSERTI64X4 $1, Y4, Z3, Z2
	QSBIT(Z1, Z3, Z31)
	QSBIT(Z2, Z4, Z29)
	VPTESTMD Z1, Z1, K3
	VMOVDQA32 Z3, K3, Z4
	KXNORW K0, K0, K2
	VGATHERDPS (R10)(Z4*4), K2, Z3
	VADDPS Z3, Z5, Z5
	ADDQ $256, R10
	ADDQ $8, R9
	ADDQ $8, R8
	DECQ CX
	JNZ s2tree
	VMOVUPS Z5, (DI)
	VZEROUPPER
	RET

// The dense summing kernels add k votes per leaf: vals holds, per tree, k
// runs of 64 values (target by target), and sums k vectors of 16 sums,
// which stay in memory (zeroed first) and are added to target by target,
// tree by tree: the same order as the scalar sums.

// QSKSUM adds, for each of the R11 targets, the votes that the leaf bits
// in B select from R10 (advanced past the tree's k runs) to the sums at DI.
#define QSKSUM(B, LOOP) \
	MOVQ R11, R12; \
	MOVQ DI, R13; \
LOOP: \
	KXNORW K0, K0, K2; \
	VGATHERDPS (R10)(B*4), K2, Z5; \
	VADDPS (R13), Z5, Z5; \
	VMOVUPS Z5, (R13); \
	ADDQ $256, R10; \
	ADDQ $64, R13; \
	DECQ R12; \
	JNZ LOOP

// QSKZERO zeroes the R11 vectors of sums at DI.
#define QSKZERO(LOOP) \
	MOVQ R11, R12; \
	MOVQ DI, R13; \
LOOP: \
	VMOVUPS Z30, (R13); \
	ADDQ $64, R13; \
	DECQ R12; \
	JNZ LOOP

// func treeQSSumK1AVX512(nodes *treeQSNode, count *int32, ntrees int, init *uint32, cols *float32, vals *float32, k int, sums *float32)
TEXT ·treeQSSumK1AVX512(SB), NOSPLIT, $0-64
	MOVQ nodes+0(FP), SI
	MOVQ count+8(FP), R8
	MOVQ ntrees+16(FP), CX
	MOVQ init+24(FP), R9
	MOVQ cols+32(FP), DX
	MOVQ vals+40(FP), R10
	MOVQ k+48(FP), R11
	MOVQ sums+56(FP), DI
	VPBROADCASTD treeQS31<>(SB), Z31
	VPXORD Z30, Z30, Z30
	QSKZERO(k1zero)
k1tree:
	VPBROADCASTD (R9), Y1
	VMOVDQA Y1, Y2
	MOVL (R8), BX
	QSWORD(Y1, Y2, k1node, k1leaf)
	VINSERTI64X4 $1, Y2, Z1, Z1
	QSBIT(Z1, Z3, Z31)
	QSKSUM(Z3, k1target)
	ADDQ $4, R9
	ADDQ $4, R8
	DECQ CX
	JNZ k1tree
	VZEROUPPER
	RET

// func treeQSSumK2AVX512(nodes *treeQSNode, count *int32, ntrees int, init *uint32, cols *float32, vals *float32, k int, sums *float32)
TEXT ·treeQSSumK2AVX512(SB), NOSPLIT, $0-64
	MOVQ nodes+0(FP), SI
	MOVQ count+8(FP), R8
	MOVQ ntrees+16(FP), CX
	MOVQ init+24(FP), R9
	MOVQ cols+32(FP), DX
	MOVQ vals+40(FP), R10
	MOVQ k+48(FP), R11
	MOVQ sums+56(FP), DI
	VPBROADCASTD treeQS31<>(SB), Z31
	VPBROADCASTD treeQS63<>(SB), Z29
	VPXORD Z30, Z30, Z30
	QSKZERO(k2zero)
k2tree:
	VPBROADCASTD (R9), Y1
	VMOVDQA Y1, Y2
	VPBROADCASTD 4(R9), Y3
	VMOVDQA Y3, Y4
	MOVL (R8), BX
	QSWORD(Y1, Y2, k2lo, k2lodone)
	MOVL 4(R8), BX
	QSWORD(Y3, Y4, k2hi, k2leaf)
	VINSERTI64X4 $1, Y2, Z1, Z1
	VINSERTI64X4 $1, Y4, Z3, Z2
	QSBIT(Z1, Z3, Z31)
	QSBIT(Z2, Z4, Z29)
	VPTESTMD Z1, Z1, K3
	VMOVDQA32 Z3, K3, Z4
	QSKSUM(Z4, k2target)
	ADDQ $8, R9
	ADDQ $8, R8
	DECQ CX
	JNZ k2tree
	VZEROUPPER
	RET
