//go:build amd64 && !purego

#include "textflag.h"

// Vectorised float32 math for the transformer hot paths (AVX2 + FMA):
// GELU (erf form, Abramowitz–Stegun 7.1.26 erf) and exp(x-m) with its sum
// (the softmax inner loop). Constants are 8 copies each, 32-byte aligned.

#define CONST8(name, bits) \
	DATA name<>+0(SB)/4, $bits; \
	DATA name<>+4(SB)/4, $bits; \
	DATA name<>+8(SB)/4, $bits; \
	DATA name<>+12(SB)/4, $bits; \
	DATA name<>+16(SB)/4, $bits; \
	DATA name<>+20(SB)/4, $bits; \
	DATA name<>+24(SB)/4, $bits; \
	DATA name<>+28(SB)/4, $bits; \
	GLOBL name<>(SB), RODATA|NOPTR, $32

CONST8(vmInvSqrt2, 0x3f3504f3)  // 0.70710678
CONST8(vmAbsMask, 0x7fffffff)
CONST8(vmOne, 0x3f800000)
CONST8(vmHalf, 0x3f000000)
CONST8(vmP, 0x3ea7ba05)         // 0.3275911
CONST8(vmA1, 0x3e827906)        // 0.254829592
CONST8(vmA2, 0xbe91a98e)        // -0.284496736
CONST8(vmA3, 0x3fb5f0e3)        // 1.421413741
CONST8(vmA4, 0xbfba00e3)        // -1.453152027
CONST8(vmA5, 0x3f87dc22)        // 1.061405429
CONST8(vmExpLo, 0xc2a00000)     // -80
CONST8(vmLog2e, 0x3fb8aa3b)     // 1.44269504
CONST8(vmLn2Hi, 0x3f317200)     // 0.693145752
CONST8(vmLn2Lo, 0x35bfbe8e)     // 1.42860677e-06
CONST8(vmC2, 0x3f000000)        // 1/2
CONST8(vmC3, 0x3e2aaaab)        // 1/6
CONST8(vmC4, 0x3d2aaaab)        // 1/24
CONST8(vmC5, 0x3c088889)        // 1/120
CONST8(vmC6, 0x3ab60b61)        // 1/720

// EXP computes Y_out = exp(Y_in) for Y_in in [-80, 0] (clamped below),
// clobbering Y12-Y14.
#define EXP(in, out) \
	VMAXPS vmExpLo<>(SB), in, in; \
	VMULPS vmLog2e<>(SB), in, Y12; \
	VROUNDPS $0, Y12, Y12; \
	VMOVAPS in, Y13; \
	VFNMADD231PS vmLn2Hi<>(SB), Y12, Y13; \
	VFNMADD231PS vmLn2Lo<>(SB), Y12, Y13; \
	VMOVAPS vmC6<>(SB), out; \
	VFMADD213PS vmC5<>(SB), Y13, out; \
	VFMADD213PS vmC4<>(SB), Y13, out; \
	VFMADD213PS vmC3<>(SB), Y13, out; \
	VFMADD213PS vmC2<>(SB), Y13, out; \
	VFMADD213PS vmOne<>(SB), Y13, out; \
	VFMADD213PS vmOne<>(SB), Y13, out; \
	VCVTPS2DQ Y12, Y14; \
	VPSLLD $23, Y14, Y14; \
	VPADDD Y14, out, out

// func geluAVX2(dst, src *float32, n int)
// n is a multiple of 8.
TEXT ·geluAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   gelu_done

gelu_loop:
	VMOVUPS (SI), Y0                    // x
	VMULPS  vmInvSqrt2<>(SB), Y0, Y1    // z
	VANDPS  vmAbsMask<>(SB), Y1, Y2     // |z|
	VMOVAPS vmOne<>(SB), Y3
	VFMADD231PS vmP<>(SB), Y2, Y3       // 1 + p|z|
	VMOVAPS vmOne<>(SB), Y4
	VDIVPS  Y3, Y4, Y3                  // t = 1/(1+p|z|)
	VMOVAPS vmA5<>(SB), Y4
	VFMADD213PS vmA4<>(SB), Y3, Y4
	VFMADD213PS vmA3<>(SB), Y3, Y4
	VFMADD213PS vmA2<>(SB), Y3, Y4
	VFMADD213PS vmA1<>(SB), Y3, Y4
	VMULPS  Y3, Y4, Y4                  // poly(t)
	VMULPS  Y2, Y2, Y5
	VXORPS  Y6, Y6, Y6
	VSUBPS  Y5, Y6, Y5                  // -z²
	EXP(Y5, Y7)                         // exp(-z²)
	VMULPS  Y4, Y7, Y7                  // erfc(|z|)
	VMULPS  vmHalf<>(SB), Y0, Y8        // x/2
	VMULPS  Y7, Y8, Y8                  // h = x·erfc/2  (the result for x < 0)
	VSUBPS  Y8, Y0, Y9                  // x − h         (the result for x ≥ 0)
	VBLENDVPS Y0, Y8, Y9, Y10           // sign(x) ? h : x−h
	VMOVUPS Y10, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     gelu_loop

gelu_done:
	VZEROUPPER
	RET

// func expSubSumAVX2(dst, src *float32, n int, m float32) float32
// dst[i] = exp(src[i] - m) for src[i] <= m; returns the sum. n is a
// multiple of 8.
TEXT ·expSubSumAVX2(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS m+24(FP), Y9
	VXORPS Y10, Y10, Y10               // running sum
	SHRQ $3, CX
	JZ   exp_done

exp_loop:
	VMOVUPS (SI), Y0
	VSUBPS  Y9, Y0, Y0
	EXP(Y0, Y1)
	VMOVUPS Y1, (DI)
	VADDPS  Y1, Y10, Y10
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     exp_loop

exp_done:
	VEXTRACTF128 $1, Y10, X11
	VADDPS  X11, X10, X10
	VHADDPS X10, X10, X10
	VHADDPS X10, X10, X10
	VMOVSS  X10, ret+32(FP)
	VZEROUPPER
	RET

CONST8(vmNeg512, 0xc4000000)    // -512
CONST8(vmPos512, 0x44000000)    // 512
CONST8(vm255, 0x437f0000)       // 255

// func minMaxAVX2(xs *float32, n int) (lo, hi float32)
// Min and max of xs and 0, ignoring NaN; n is a multiple of 8.
TEXT ·minMaxAVX2(SB), NOSPLIT, $0-24
	MOVQ xs+0(FP), SI
	MOVQ n+8(FP), CX
	VXORPS Y0, Y0, Y0                   // running min
	VXORPS Y1, Y1, Y1                   // running max
	SHRQ $3, CX
	JZ   mm_done

mm_loop:
	VMOVUPS (SI), Y2
	VMINPS  Y0, Y2, Y0                  // NaN in xs keeps the running value
	VMAXPS  Y1, Y2, Y1
	ADDQ    $32, SI
	DECQ    CX
	JNZ     mm_loop

mm_done:
	VEXTRACTF128 $1, Y0, X2
	VMINPS  X2, X0, X0
	VPERMILPS $0x4e, X0, X2
	VMINPS  X2, X0, X0
	VPERMILPS $0xb1, X0, X2
	VMINPS  X2, X0, X0
	VEXTRACTF128 $1, Y1, X3
	VMAXPS  X3, X1, X1
	VPERMILPS $0x4e, X1, X3
	VMAXPS  X3, X1, X1
	VPERMILPS $0xb1, X1, X3
	VMAXPS  X3, X1, X1
	VMOVSS  X0, lo+16(FP)
	VMOVSS  X1, hi+20(FP)
	VZEROUPPER
	RET

// func quantizeU8AVX2(dst *uint8, xs *float32, n int, scale, zp float32)
// dst[i] = clamp(roundEven(clamp(xs[i]/scale, ±512)) + zp, 0, 255), NaN to
// the low end, exactly as quantizeU8; n is a multiple of 8.
TEXT ·quantizeU8AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ xs+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS scale+24(FP), Y8
	VBROADCASTSS zp+28(FP), Y9
	VXORPS Y10, Y10, Y10
	SHRQ $3, CX
	JZ   q_done

q_loop:
	VMOVUPS (SI), Y0
	VDIVPS  Y8, Y0, Y0
	VMAXPS  vmNeg512<>(SB), Y0, Y0      // NaN becomes -512
	VMINPS  vmPos512<>(SB), Y0, Y0
	VROUNDPS $0, Y0, Y0                 // to nearest, ties to even
	VADDPS  Y9, Y0, Y0
	VMAXPS  Y10, Y0, Y0
	VMINPS  vm255<>(SB), Y0, Y0
	VCVTTPS2DQ Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPACKUSDW X1, X0, X0                // 8 x uint16
	VPACKUSWB X0, X0, X0                // 8 x uint8 in the low half
	VMOVQ   X0, (DI)
	ADDQ    $32, SI
	ADDQ    $8, DI
	DECQ    CX
	JNZ     q_loop

q_done:
	VZEROUPPER
	RET

// func divAddAVX2(row, mask *float32, n int, div float32)
// row[i] = row[i]/div + mask[i] (mask may be nil: then only the division);
// n is a multiple of 8.
TEXT ·divAddAVX2(SB), NOSPLIT, $0-28
	MOVQ row+0(FP), DI
	MOVQ mask+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS div+24(FP), Y8
	SHRQ $3, CX
	JZ   da_done
	TESTQ SI, SI
	JZ   da_nomask

da_loop:
	VMOVUPS (DI), Y0
	VDIVPS  Y8, Y0, Y0
	VADDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	DECQ    CX
	JNZ     da_loop
	JMP     da_done

da_nomask:
	VMOVUPS (DI), Y0
	VDIVPS  Y8, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	DECQ    CX
	JNZ     da_nomask

da_done:
	VZEROUPPER
	RET

// func maxAVX2(xs *float32, n int) float32
// The maximum of xs (n a positive multiple of 8); NaN elements are skipped
// unless every element is NaN.
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ xs+0(FP), SI
	MOVQ n+8(FP), CX
	VMOVUPS (SI), Y0
	SHRQ $3, CX
	ADDQ $32, SI
	DECQ CX
	JZ   mx_done

mx_loop:
	VMAXPS  (SI), Y0, Y0
	ADDQ    $32, SI
	DECQ    CX
	JNZ     mx_loop

mx_done:
	VEXTRACTF128 $1, Y0, X1
	VMAXPS  X1, X0, X0
	VPERMILPS $0x4e, X0, X1
	VMAXPS  X1, X0, X0
	VPERMILPS $0xb1, X0, X1
	VMAXPS  X1, X0, X0
	VMOVSS  X0, ret+16(FP)
	VZEROUPPER
	RET

// func scaleAVX2(xs *float32, n int, s float32)
// xs[i] *= s; n is a multiple of 8.
TEXT ·scaleAVX2(SB), NOSPLIT, $0-20
	MOVQ xs+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS s+16(FP), Y8
	SHRQ $3, CX
	JZ   sc_done

sc_loop:
	VMULPS  (SI), Y8, Y0
	VMOVUPS Y0, (SI)
	ADDQ    $32, SI
	DECQ    CX
	JNZ     sc_loop

sc_done:
	VZEROUPPER
	RET

// func addSumAVX2(dst, a, b, bias *float32, n int) float64
// dst[i] = a[i] + b[i] (+ bias[i] when bias is not nil), each sum rounded
// to float32 in that order, and returns the float64 sum of dst (four
// double lanes per half, reduced at the end). n is a multiple of 8.
TEXT ·addSumAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ bias+24(FP), BX
	MOVQ n+32(FP), CX
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	SHRQ $3, CX
	JZ   as_done
	TESTQ BX, BX
	JZ   as_nobias

as_loop:
	VMOVUPS (SI), Y0
	VADDPS  (DX), Y0, Y0
	VADDPS  (BX), Y0, Y0
	VMOVUPS Y0, (DI)
	VCVTPS2PD X0, Y1
	VEXTRACTF128 $1, Y0, X2
	VCVTPS2PD X2, Y2
	VADDPD  Y1, Y4, Y4
	VADDPD  Y2, Y5, Y5
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, BX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     as_loop
	JMP     as_done

as_nobias:
	VMOVUPS (SI), Y0
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	VCVTPS2PD X0, Y1
	VEXTRACTF128 $1, Y0, X2
	VCVTPS2PD X2, Y2
	VADDPD  Y1, Y4, Y4
	VADDPD  Y2, Y5, Y5
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     as_nobias

as_done:
	VADDPD  Y5, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VADDPD  X5, X4, X4
	VPERMILPD $1, X4, X5
	VADDSD  X5, X4, X4
	VMOVSD  X4, ret+40(FP)
	VZEROUPPER
	RET

// func sqDevAVX2(x *float32, n int, mean float64) float64
// The float64 sum of (x[i]-mean)²; n is a multiple of 8.
TEXT ·sqDevAVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSD mean+16(FP), Y6
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	SHRQ $3, CX
	JZ   sd_done

sd_loop:
	VCVTPS2PD (SI), Y1
	VCVTPS2PD 16(SI), Y2
	VSUBPD  Y6, Y1, Y1
	VSUBPD  Y6, Y2, Y2
	VFMADD231PD Y1, Y1, Y4
	VFMADD231PD Y2, Y2, Y5
	ADDQ    $32, SI
	DECQ    CX
	JNZ     sd_loop

sd_done:
	VADDPD  Y5, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VADDPD  X5, X4, X4
	VPERMILPD $1, X4, X5
	VADDSD  X5, X4, X4
	VMOVSD  X4, ret+24(FP)
	VZEROUPPER
	RET

// func normAffineAVX2(y, x, gamma, beta *float32, n int, mean, inv float64)
// y[i] = float32((x[i]-mean)·inv)·gamma[i] + beta[i] (beta nil: no
// addition), the product and sum rounded separately; n is a multiple of 8.
TEXT ·normAffineAVX2(SB), NOSPLIT, $0-56
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ gamma+16(FP), DX
	MOVQ beta+24(FP), BX
	MOVQ n+32(FP), CX
	VBROADCASTSD mean+40(FP), Y6
	VBROADCASTSD inv+48(FP), Y7
	SHRQ $3, CX
	JZ   na_done

na_loop:
	VCVTPS2PD (SI), Y1
	VCVTPS2PD 16(SI), Y2
	VSUBPD  Y6, Y1, Y1
	VSUBPD  Y6, Y2, Y2
	VMULPD  Y7, Y1, Y1
	VMULPD  Y7, Y2, Y2
	VCVTPD2PSY Y1, X1
	VCVTPD2PSY Y2, X2
	VINSERTF128 $1, X2, Y1, Y1
	VMULPS  (DX), Y1, Y1
	TESTQ   BX, BX
	JZ      na_store
	VADDPS  (BX), Y1, Y1
	ADDQ    $32, BX

na_store:
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     na_loop

na_done:
	VZEROUPPER
	RET

// func clampAVX2(xs *float32, n int, lo, hi float32)
// xs[i] = min(max(xs[i], lo), hi), NaN kept (the element is the operand
// MAXPS and MINPS return when unordered); n is a multiple of 8.
TEXT ·clampAVX2(SB), NOSPLIT, $0-24
	MOVQ xs+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS lo+16(FP), Y8
	VBROADCASTSS hi+20(FP), Y9
	SHRQ $3, CX
	JZ   cl_done

cl_loop:
	VMOVUPS (SI), Y0
	VMAXPS  Y0, Y8, Y0
	VMINPS  Y0, Y9, Y0
	VMOVUPS Y0, (SI)
	ADDQ    $32, SI
	DECQ    CX
	JNZ     cl_loop

cl_done:
	VZEROUPPER
	RET

CONST8(vmSignMask, 0x80000000)

// SIGMOID sets out = 1/(1+exp(-x)) from exp(-|x|), keeping x; t1 and t2
// are scratch, and EXP clobbers Y12-Y14.
#define SIGMOID(x, out, t1, t2) \
	VANDPS vmAbsMask<>(SB), x, t1; \
	VXORPS t2, t2, t2; \
	VSUBPS t1, t2, t1; \
	EXP(t1, out); \
	VADDPS vmOne<>(SB), out, t1; \
	VMOVAPS vmOne<>(SB), t2; \
	VDIVPS t1, t2, t2; \
	VMULPS t2, out, t1; \
	VBLENDVPS x, t1, t2, out

// TANH sets out = tanh(x) = sign(x)·(1-e)/(1+e) with e = exp(-2|x|),
// keeping x; t1 and t2 are scratch, and EXP clobbers Y12-Y14.
#define TANH(x, out, t1, t2) \
	VANDPS vmAbsMask<>(SB), x, t1; \
	VADDPS t1, t1, t1; \
	VXORPS t2, t2, t2; \
	VSUBPS t1, t2, t1; \
	EXP(t1, out); \
	VMOVAPS vmOne<>(SB), t1; \
	VSUBPS out, t1, t2; \
	VADDPS t1, out, t1; \
	VDIVPS t1, t2, t2; \
	VANDPS vmSignMask<>(SB), x, t1; \
	VORPS t1, t2, out

// func lstmCellAVX2(xg, hg, c, h *float32, stride, n int)
// One LSTM step for n hidden units (a multiple of 8) with the default
// activations: the gates i, o, f, g are xg[k·stride+j] + hg[k·stride+j]
// for k = 0..3; c[j] = σ(f)·c[j] + σ(i)·tanh(g), h[j] = σ(o)·tanh(c[j]).
TEXT ·lstmCellAVX2(SB), NOSPLIT, $0-48
	MOVQ xg+0(FP), SI
	MOVQ hg+8(FP), DI
	MOVQ c+16(FP), R8
	MOVQ h+24(FP), R9
	MOVQ stride+32(FP), DX
	SHLQ $2, DX
	MOVQ n+40(FP), CX
	SHRQ $3, CX
	JZ   lc_done

lc_loop:
	MOVQ    SI, R10
	MOVQ    DI, R11
	VMOVUPS (R10), Y0
	VADDPS  (R11), Y0, Y0             // i
	ADDQ    DX, R10
	ADDQ    DX, R11
	VMOVUPS (R10), Y1
	VADDPS  (R11), Y1, Y1             // o
	ADDQ    DX, R10
	ADDQ    DX, R11
	VMOVUPS (R10), Y2
	VADDPS  (R11), Y2, Y2             // f
	ADDQ    DX, R10
	ADDQ    DX, R11
	VMOVUPS (R10), Y3
	VADDPS  (R11), Y3, Y3             // g
	SIGMOID(Y0, Y4, Y8, Y9)           // σ(i)
	SIGMOID(Y2, Y5, Y8, Y9)           // σ(f)
	TANH(Y3, Y6, Y8, Y9)              // tanh(g)
	VMULPS  Y6, Y4, Y4                // σ(i)·tanh(g)
	VMOVUPS (R8), Y7
	VFMADD231PS Y7, Y5, Y4            // c = σ(f)·c + σ(i)·tanh(g)
	VMOVUPS Y4, (R8)
	SIGMOID(Y1, Y5, Y8, Y9)           // σ(o)
	TANH(Y4, Y6, Y8, Y9)              // tanh(c)
	VMULPS  Y6, Y5, Y5
	VMOVUPS Y5, (R9)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, R8
	ADDQ    $32, R9
	DECQ    CX
	JNZ     lc_loop

lc_done:
	VZEROUPPER
	RET

// func dup2AVX2(dst, src *float32, n int)
// dst[2i] = dst[2i+1] = src[i] for i < n, n a multiple of 8.
TEXT ·dup2AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   dup_done

dup_loop:
	VMOVUPS    (SI), Y0
	VUNPCKLPS  Y0, Y0, Y1             // a0 a0 a1 a1 | a4 a4 a5 a5
	VUNPCKHPS  Y0, Y0, Y2             // a2 a2 a3 a3 | a6 a6 a7 a7
	VPERM2F128 $0x20, Y2, Y1, Y3      // a0 a0 a1 a1 a2 a2 a3 a3
	VPERM2F128 $0x31, Y2, Y1, Y4      // a4 a4 a5 a5 a6 a6 a7 a7
	VMOVUPS    Y3, (DI)
	VMOVUPS    Y4, 32(DI)
	ADDQ       $32, SI
	ADDQ       $64, DI
	DECQ       CX
	JNZ        dup_loop

dup_done:
	VZEROUPPER
	RET

// func dw3RowAVX2(y, r0, r1, r2, k *float32, z float32, n int)
// One output row of a stride-1 3×3 depthwise convolution, n outputs (a
// multiple of 8) whose windows lie inside the input: y[i] = z +
// Σ k[3a+b]·ra[i+b] over rows a = 0..2 and taps b = 0..2.
TEXT ·dw3RowAVX2(SB), NOSPLIT, $0-56
	MOVQ y+0(FP), DI
	MOVQ r0+8(FP), SI
	MOVQ r1+16(FP), R8
	MOVQ r2+24(FP), R9
	MOVQ k+32(FP), AX
	MOVQ n+48(FP), CX
	VBROADCASTSS 0(AX), Y0
	VBROADCASTSS 4(AX), Y1
	VBROADCASTSS 8(AX), Y2
	VBROADCASTSS 12(AX), Y3
	VBROADCASTSS 16(AX), Y4
	VBROADCASTSS 20(AX), Y5
	VBROADCASTSS 24(AX), Y6
	VBROADCASTSS 28(AX), Y7
	VBROADCASTSS 32(AX), Y8
	VBROADCASTSS z+40(FP), Y9
	SHRQ $3, CX
	JZ   dw3_done

dw3_loop:
	VMOVAPS     Y9, Y10
	VFMADD231PS (SI), Y0, Y10
	VFMADD231PS 4(SI), Y1, Y10
	VFMADD231PS 8(SI), Y2, Y10
	VMULPS      (R8), Y3, Y11
	VFMADD231PS 4(R8), Y4, Y11
	VFMADD231PS 8(R8), Y5, Y11
	VMULPS      (R9), Y6, Y12
	VFMADD231PS 4(R9), Y7, Y12
	VFMADD231PS 8(R9), Y8, Y12
	VADDPS      Y11, Y10, Y10
	VADDPS      Y12, Y10, Y10
	VMOVUPS     Y10, (DI)
	ADDQ        $32, SI
	ADDQ        $32, R8
	ADDQ        $32, R9
	ADDQ        $32, DI
	DECQ        CX
	JNZ         dw3_loop

dw3_done:
	VZEROUPPER
	RET
