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

