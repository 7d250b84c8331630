package ops

// The float32 convolution on the SGEMM kernels: each tile of output
// positions is gathered by im2col straight into the layout the micro-kernel
// reads (packed strips of nr positions, in blocks of kc reduction rows), so
// the product packs nothing more; a 1×1 convolution of stride 1 reads its
// input as the B matrix directly.

// convRunF32 is convRun for float32 (see convRun for the tiling).
func convRunF32(ec *Context, p convParams, x, w, bias, y []float32) {
	g := p.g
	cg, mg := p.c/p.group, p.m/p.group
	ar := gemmImpl().f32
	K := cg * g.kernelSize()
	P := g.outSize()
	inP := g.inSize()
	tile := convTile(K, P)
	tile = max(ar.nr, tile/ar.nr*ar.nr) // whole strips
	tile = min(tile, P)
	sp := newConvSplit(ec, p, tile)
	mBlock := sp.mBlock
	pointwise := g.isPointwise()
	ec.Parallel(sp.items, 1, func(lo, hi int) {
		buf := convGetScratch[float32](packedBLenFor(ar, K, tile))
		defer convPutScratch(buf)
		var pb packedB
		last := -1
		for it := lo; it < hi; it++ {
			b, gi, j0, j1, mi, tileID := sp.at(it)
			xs := x[(b*p.c+gi*cg)*inP : (b*p.c+(gi+1)*cg)*inP]
			if tileID != last {
				if pointwise {
					pb = packBPar(ar, *buf, false, K, j1-j0, xs[j0:], inP, nil)
				} else {
					pb = im2colPacked(*buf, ar, K, xs, &g, cg, j0, j1)
				}
				last = tileID
			}
			m0 := mi * mBlock
			m1 := min(m0+mBlock, mg)
			if m0 >= m1 {
				continue
			}
			c := y[(b*p.m+gi*mg+m0)*P+j0:]
			var beta float32
			if bias != nil {
				for i, v := range bias[gi*mg+m0 : gi*mg+m1] {
					fillFloat32(c[i*P:i*P+j1-j0], v)
				}
				beta = 1
			}
			sgemmPacked(false, m1-m0, 1, w[(gi*mg+m0)*K:], K, &pb, beta, c, P, nil)
			if p.ep.active() {
				r0 := b*p.m + gi*mg + m0
				convApply(&p.ep, y, r0, r0+m1-m0, P, j0, j1-j0)
			}
		}
	})
}

// fillFloat32 sets every element of s to v, doubling copies after the
// first (memmove's wide stores instead of one store per element).
func fillFloat32(s []float32, v float32) {
	if len(s) == 0 {
		return
	}
	s[0] = v
	for k := 1; k < len(s); k *= 2 {
		copy(s[k:], s[:k])
	}
}

// im2colPacked gathers, for output positions [j0, j1), the receptive
// fields (cg channels of x times the kernel positions: K reduction rows)
// into dst in ar's packed-B layout, zero where a window reaches into the
// padding and past the last position of the final strip. Positions are
// taken in runs along an output row within one strip, whose inputs are
// evenly spaced: a copy for stride 1, with the padding cut off each end.
func im2colPacked(dst []float32, ar *gemmArch, K int, x []float32, g *conv3, cg, j0, j1 int) packedB {
	n := j1 - j0
	nr, kc := ar.nr, ar.kc
	npad := roundUp(n, nr)
	pb := packedB{arch: ar, k: K, n: n, npad: npad, data: dst[:K*npad]}
	inP := g.inSize()
	o12 := g.out[1] * g.out[2]
	kk := 0
	for ci := 0; ci < cg; ci++ {
		xc := x[ci*inP : (ci+1)*inP]
		for kz := 0; kz < g.k[0]; kz++ {
			dz := kz*g.d[0] - g.pad[0]
			for ky := 0; ky < g.k[1]; ky++ {
				dy := ky*g.d[1] - g.pad[1]
				for kx := 0; kx < g.k[2]; kx++ {
					dx := kx*g.d[2] - g.pad[2]
					k0 := kk / kc * kc
					kb := min(kc, K-k0)
					row := pb.data[k0*npad+(kk-k0)*nr:]
					stride := nr * kb // from one strip to the next
					// Output columns [oxLo, oxHi) read inside the input row
					// for this kernel column, whatever the output row.
					oxLo, oxHi := convOutRange(dx, g.s[2], g.in[2], g.out[2])
					// The output position of jj, and its strip and lane,
					// advance with each run (no division per run).
					oz, oy, ox := j0/o12, (j0/g.out[2])%g.out[1], j0%g.out[2]
					strip, lane := 0, 0
					for jj := 0; jj < n; {
						run := min(g.out[2]-ox, n-jj, nr-lane)
						d := row[strip*stride+lane:][:run]
						iz, iy := oz*g.s[0]+dz, oy*g.s[1]+dy
						if uint(iz) >= uint(g.in[0]) || uint(iy) >= uint(g.in[1]) {
							clear(d)
						} else {
							src := xc[(iz*g.in[1]+iy)*g.in[2]:][:g.in[2]]
							ix := ox*g.s[2] + dx
							t0 := min(max(oxLo-ox, 0), run) // a window wholly in the padding
							t1 := max(t0, min(oxHi-ox, run))
							clear(d[:t0])
							clear(d[t1:])
							switch {
							case t0 == t1:
							case g.s[2] == 1:
								copy(d[t0:t1], src[ix+t0:ix+t1])
							default:
								s := g.s[2]
								for t := t0; t < t1; t++ {
									d[t] = src[ix+t*s]
								}
							}
						}
						jj += run
						if lane += run; lane == nr {
							strip, lane = strip+1, 0
						}
						if ox += run; ox == g.out[2] {
							ox = 0
							if oy++; oy == g.out[1] {
								oy = 0
								oz++
							}
						}
					}
					if n < npad {
						clear(row[(n/nr)*stride+n%nr:][:npad-n])
					}
					kk++
				}
			}
		}
	}
	return pb
}

// convDepthwise3x3 is convDepthwise for the 2-D 3×3 kernels of MobileNet-
// style networks (any stride and padding, no dilation): each output is
// the nine taps summed in a register, one pass over the output instead of
// nine; columns whose window leaves the input take the checked path.
func convDepthwise3x3[T convFloat](ec *Context, p convParams, x, w, bias, y []T) {
	g := p.g
	mg := p.m / p.group
	inH, inW := g.in[1], g.in[2]
	outH, outW := g.out[1], g.out[2]
	sy, sx, py, px := g.s[1], g.s[2], g.pad[1], g.pad[2]
	inP, outP := inH*inW, outH*outW
	ec.Parallel(p.n*p.m, max(1, 16384/max(outP*9, 1)), func(lo, hi int) {
		for it := lo; it < hi; it++ {
			b, m := it/p.m, it%p.m
			c := m / mg
			xs := x[(b*p.c+c)*inP : (b*p.c+c+1)*inP]
			ys := y[it*outP : (it+1)*outP]
			k := w[m*9 : m*9+9]
			var z T
			if bias != nil {
				z = bias[m]
			}
			// Columns whose three inputs ox*sx-px .. +2 all lie in the row.
			x0, x1 := convOutRange(-px, sx, inW-2, outW)
			x0 = min(x0, outW) // an input narrower than the window
			x1 = max(x0, min(x1, outW))
			for oy := 0; oy < outH; oy++ {
				iy := oy*sy - py
				yr := ys[oy*outW : (oy+1)*outW]
				if iy >= 0 && iy+2 < inH && x0 < x1 {
					r0 := xs[iy*inW : (iy+1)*inW]
					r1 := xs[(iy+1)*inW : (iy+2)*inW]
					r2 := xs[(iy+2)*inW : (iy+3)*inW]
					for ox := x0; ox < x1; ox++ {
						ix := ox*sx - px
						a, bb, cc := r0[ix:ix+3], r1[ix:ix+3], r2[ix:ix+3]
						yr[ox] = z + k[0]*a[0] + k[1]*a[1] + k[2]*a[2] +
							k[3]*bb[0] + k[4]*bb[1] + k[5]*bb[2] +
							k[6]*cc[0] + k[7]*cc[1] + k[8]*cc[2]
					}
					convDW3Edge(yr, xs, k, z, iy, inH, inW, sx, px, 0, x0)
					convDW3Edge(yr, xs, k, z, iy, inH, inW, sx, px, max(x1, x0), outW)
					continue
				}
				convDW3Edge(yr, xs, k, z, iy, inH, inW, sx, px, 0, outW)
			}
			if p.ep.active() {
				convApply(&p.ep, y, it, it+1, outP, 0, outP)
			}
		}
	})
}

// convDepthwise3x3F32 is convDepthwise3x3 in float32 on a zero-padded copy
// of each channel, so that no window needs a bounds check: with stride 1
// the padded channel is convolved as one long row (outputs computed at the
// padded width, the two extra columns dropped), eight outputs per
// vectorised step; other strides sum the nine taps per output.
func convDepthwise3x3F32(ec *Context, p convParams, x, w, bias, y []float32) {
	g := p.g
	mg := p.m / p.group
	inH, inW := g.in[1], g.in[2]
	outH, outW := g.out[1], g.out[2]
	sy, sx, py, px := g.s[1], g.s[2], g.pad[1], g.pad[2]
	inP, outP := inH*inW, outH*outW
	// The padded channel covers every window: rows -py .. (outH-1)·sy-py+2,
	// columns likewise; pw is its width.
	ph, pw := (outH-1)*sy+3, (outW-1)*sx+3
	vm := vecmath()
	ec.Parallel(p.n*p.m, max(1, 16384/max(outP*9, 1)), func(lo, hi int) {
		// Padded channel, plus (stride 1) the outputs at the padded width;
		// the slack lets the last vector step read past the last row.
		pbuf := getGemmBuf(ph*pw + 8 + outH*pw)
		defer gemmBufPool.Put(pbuf)
		pad := (*pbuf)[:ph*pw+8]
		wide := (*pbuf)[ph*pw+8:]
		clear(pad[ph*pw:])
		for it := lo; it < hi; it++ {
			b, m := it/p.m, it%p.m
			c := m / mg
			xs := x[(b*p.c+c)*inP : (b*p.c+c+1)*inP]
			ys := y[it*outP : (it+1)*outP]
			k := w[m*9 : m*9+9]
			var z float32
			if bias != nil {
				z = bias[m]
			}
			for r := 0; r < ph; r++ {
				row := pad[r*pw : (r+1)*pw]
				iy := r - py
				if iy < 0 || iy >= inH {
					clear(row)
					continue
				}
				// Columns -px .. pw-px-1 of input row iy.
				c0, c1 := min(px, pw), min(max(px+inW, 0), pw)
				c0 = max(c0, 0)
				clear(row[:c0])
				if c1 > c0 {
					src := xs[iy*inW:]
					copy(row[c0:c1], src[c0-px:c1-px])
				}
				clear(row[max(c1, c0):])
			}
			if sx == 1 && sy == 1 {
				n := outH * pw
				done := 0
				if vm.dw3Row != nil {
					done = vm.dw3Row(wide[:n], pad, pad[pw:], pad[2*pw:], k, z)
				}
				for i := done; i < n; i++ {
					r0, r1, r2 := pad[i:i+3], pad[i+pw:i+pw+3], pad[i+2*pw:i+2*pw+3]
					wide[i] = z + k[0]*r0[0] + k[1]*r0[1] + k[2]*r0[2] +
						k[3]*r1[0] + k[4]*r1[1] + k[5]*r1[2] +
						k[6]*r2[0] + k[7]*r2[1] + k[8]*r2[2]
				}
				for oy := 0; oy < outH; oy++ {
					copy(ys[oy*outW:(oy+1)*outW], wide[oy*pw:oy*pw+outW])
				}
			} else {
				for oy := 0; oy < outH; oy++ {
					yr := ys[oy*outW : (oy+1)*outW]
					base := oy * sy * pw
					r0, r1, r2 := pad[base:base+pw], pad[base+pw:base+2*pw], pad[base+2*pw:base+3*pw]
					for ox := range yr {
						ix := ox * sx
						a, bb, cc := r0[ix:ix+3], r1[ix:ix+3], r2[ix:ix+3]
						yr[ox] = z + k[0]*a[0] + k[1]*a[1] + k[2]*a[2] +
							k[3]*bb[0] + k[4]*bb[1] + k[5]*bb[2] +
							k[6]*cc[0] + k[7]*cc[1] + k[8]*cc[2]
					}
				}
			}
			if p.ep.active() {
				convApply(&p.ep, y, it, it+1, outP, 0, outP)
			}
		}
	})
}

// convDW3Edge computes outputs [o0, o1) of one row of a 3×3 depthwise
// convolution with every tap checked against the input's bounds.
func convDW3Edge[T convFloat](yr, xs, k []T, z T, iy, inH, inW, sx, px, o0, o1 int) {
	for ox := o0; ox < o1; ox++ {
		acc := z
		ix := ox*sx - px
		for ky := 0; ky < 3; ky++ {
			r := iy + ky
			if uint(r) >= uint(inH) {
				continue
			}
			row := xs[r*inW : (r+1)*inW]
			for kx := 0; kx < 3; kx++ {
				if c := ix + kx; uint(c) < uint(inW) {
					acc += k[ky*3+kx] * row[c]
				}
			}
		}
		yr[ox] = acc
	}
}
