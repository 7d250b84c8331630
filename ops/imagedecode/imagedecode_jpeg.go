package imagedecode

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// This file holds a decoder for baseline and extended sequential
// (Huffman-coded, 8-bit) JPEG whose integer inverse DCT (the Loeffler,
// Ligtenberg and Moschytz factorization in 13-bit fixed point) produces the
// same samples as libjpeg's default "islow" method, so that decoded images
// match the reference decoders exactly. Other JPEG flavors (progressive,
// arithmetic-coded, 12-bit, CMYK, unusual sampling) report errJPEGFallback
// and are decoded with the standard library instead.

var errJPEGFallback = errors.New("JPEG variant left to the standard library")

// jpegZigzag maps zigzag order to natural (row-major) order.
var jpegZigzag = [64]int{
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
}

// jpegHuff is a canonical Huffman table (JPEG Annex C).
type jpegHuff struct {
	maxcode [18]int32 // largest code of each length, -1 if none
	valptr  [17]int32 // index in vals of the first code of each length
	mincode [17]int32
	vals    []uint8
	set     bool
}

func (h *jpegHuff) build(counts []uint8, vals []uint8) error {
	h.vals = append(h.vals[:0], vals...)
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		n := int32(counts[l-1])
		h.valptr[l] = k
		h.mincode[l] = code
		code += n
		k += n
		if n > 0 {
			h.maxcode[l] = code - 1
		} else {
			h.maxcode[l] = -1
		}
		if code > 1<<l {
			return fmt.Errorf("invalid JPEG Huffman table")
		}
		code <<= 1
	}
	h.maxcode[17] = 1 << 30 // sentinel
	h.set = true
	return nil
}

// jpegBits reads entropy-coded data, undoing 0xFF byte stuffing and
// supplying zero bits past a marker (as libjpeg does).
type jpegBits struct {
	data   []byte
	pos    int
	acc    uint32
	n      int
	marker bool
}

func (r *jpegBits) fill() {
	for r.n <= 24 {
		var b byte
		if !r.marker && r.pos < len(r.data) {
			b = r.data[r.pos]
			if b == 0xff {
				if r.pos+1 < len(r.data) && r.data[r.pos+1] == 0 {
					r.pos += 2
				} else {
					r.marker = true
					b = 0
				}
			} else {
				r.pos++
			}
		}
		r.acc |= uint32(b) << (24 - r.n)
		r.n += 8
	}
}

func (r *jpegBits) bits(n int) int32 {
	if n == 0 {
		return 0
	}
	if r.n < n {
		r.fill()
	}
	v := int32(r.acc >> (32 - n))
	r.acc <<= n
	r.n -= n
	return v
}

func (r *jpegBits) decode(h *jpegHuff) (uint8, error) {
	code := r.bits(1)
	for l := 1; l <= 16; l++ {
		if code <= h.maxcode[l] {
			i := h.valptr[l] + code - h.mincode[l]
			if i < 0 || int(i) >= len(h.vals) {
				break
			}
			return h.vals[i], nil
		}
		code = code<<1 | r.bits(1)
	}
	return 0, fmt.Errorf("corrupt JPEG Huffman code")
}

// receive reads an s-bit magnitude and sign-extends it (JPEG F.2.2.1).
func (r *jpegBits) receive(s int) int32 {
	if s == 0 {
		return 0
	}
	v := r.bits(s)
	if v < 1<<(s-1) {
		v += -1<<s + 1
	}
	return v
}

// restart discards buffered bits and skips an RSTn marker.
func (r *jpegBits) restart() error {
	r.acc, r.n = 0, 0
	r.marker = false
	for r.pos+1 < len(r.data) && !(r.data[r.pos] == 0xff && r.data[r.pos+1] >= 0xd0 && r.data[r.pos+1] <= 0xd7) {
		r.pos++
	}
	if r.pos+1 >= len(r.data) {
		return fmt.Errorf("missing JPEG restart marker")
	}
	r.pos += 2
	return nil
}

type jpegComp struct {
	id     uint8
	h, v   int
	tq     int
	bw, bh int // blocks per line and column (padded to whole MCUs)
	w, h2  int // sample dimensions (ceil(W*h/hmax), ceil(H*v/vmax))
	coef   []int32
	pix    []uint8
	td, ta int
	dcPred int32
}

type jpegDecoder struct {
	w, h       int
	comps      []jpegComp
	hmax, vmax int
	mcux, mcuy int
	qt         [4][64]int32
	dc, ac     [4]jpegHuff
	restart    int
	adobe      int // Adobe transform flag, -1 if absent
	frame      bool
}

// imgDecodeJPEG decodes sequential JPEG into packed RGB or gray pixels with
// libjpeg-compatible arithmetic.
func imgDecodeJPEG(b []byte) (pix []uint8, w, h int, gray bool, err error) {
	d := &jpegDecoder{adobe: -1}
	if err := d.parse(b); err != nil {
		return nil, 0, 0, false, err
	}
	for i := range d.comps {
		d.idctComponent(&d.comps[i])
	}
	return d.toPixels()
}

func (d *jpegDecoder) parse(b []byte) error {
	pos := 2
	for {
		for pos < len(b) && b[pos] != 0xff {
			pos++
		}
		for pos < len(b) && b[pos] == 0xff {
			pos++
		}
		if pos >= len(b) {
			return fmt.Errorf("truncated JPEG")
		}
		m := b[pos]
		pos++
		if m == 0xd9 { // EOI
			if !d.frame {
				return fmt.Errorf("JPEG without a frame")
			}
			return nil
		}
		if m == 0x01 || (m >= 0xd0 && m <= 0xd7) {
			continue
		}
		if pos+2 > len(b) {
			return fmt.Errorf("truncated JPEG")
		}
		n := int(binary.BigEndian.Uint16(b[pos:]))
		if n < 2 || pos+n > len(b) {
			return fmt.Errorf("truncated JPEG segment")
		}
		seg := b[pos+2 : pos+n]
		pos += n
		var err error
		switch {
		case m == 0xc0 || m == 0xc1:
			err = d.parseSOF(seg)
		case m >= 0xc2 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc:
			return errJPEGFallback // progressive, lossless or arithmetic
		case m == 0xc4:
			err = d.parseDHT(seg)
		case m == 0xdb:
			err = d.parseDQT(seg)
		case m == 0xdd:
			if len(seg) < 2 {
				return fmt.Errorf("bad JPEG DRI segment")
			}
			d.restart = int(binary.BigEndian.Uint16(seg))
		case m == 0xee:
			if len(seg) >= 12 && string(seg[:5]) == "Adobe" {
				d.adobe = int(seg[11])
			}
		case m == 0xda:
			var used int
			used, err = d.parseScan(seg, b[pos:])
			pos += used
		}
		if err != nil {
			return err
		}
	}
}

func (d *jpegDecoder) parseSOF(s []byte) error {
	if d.frame {
		return fmt.Errorf("JPEG with several frames")
	}
	if len(s) < 6 || s[0] != 8 {
		return errJPEGFallback
	}
	d.h = int(binary.BigEndian.Uint16(s[1:]))
	d.w = int(binary.BigEndian.Uint16(s[3:]))
	nc := int(s[5])
	if nc != 1 && nc != 3 {
		return errJPEGFallback
	}
	if len(s) < 6+3*nc {
		return fmt.Errorf("bad JPEG frame header")
	}
	if err := imgCheckSize(d.w, d.h); err != nil {
		return err
	}
	d.comps = make([]jpegComp, nc)
	for i := range d.comps {
		c := &d.comps[i]
		c.id = s[6+3*i]
		c.h, c.v = int(s[7+3*i]>>4), int(s[7+3*i]&15)
		c.tq = int(s[8+3*i])
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 || c.tq > 3 {
			return fmt.Errorf("bad JPEG component parameters")
		}
		d.hmax, d.vmax = max(d.hmax, c.h), max(d.vmax, c.v)
	}
	if nc == 1 { // a lone component is never subsampled
		d.comps[0].h, d.comps[0].v, d.hmax, d.vmax = 1, 1, 1, 1
	}
	d.mcux = (d.w + 8*d.hmax - 1) / (8 * d.hmax)
	d.mcuy = (d.h + 8*d.vmax - 1) / (8 * d.vmax)
	for i := range d.comps {
		c := &d.comps[i]
		// Only 2x horizontal and 2x (or 1x) vertical chroma is handled.
		if fh, fv := d.hmax/c.h, d.vmax/c.v; d.hmax%c.h != 0 || d.vmax%c.v != 0 || fh > 2 || fv > 2 || (fv == 2 && fh != 2) {
			return errJPEGFallback
		}
		c.bw, c.bh = d.mcux*c.h, d.mcuy*c.v
		c.w = (d.w*c.h + d.hmax - 1) / d.hmax
		c.h2 = (d.h*c.v + d.vmax - 1) / d.vmax
		c.coef = make([]int32, c.bw*c.bh*64)
	}
	d.frame = true
	return nil
}

func (d *jpegDecoder) parseDHT(s []byte) error {
	for len(s) > 0 {
		if len(s) < 17 {
			return fmt.Errorf("bad JPEG DHT segment")
		}
		class, id := s[0]>>4, int(s[0]&15)
		if class > 1 || id > 3 {
			return fmt.Errorf("bad JPEG Huffman table id")
		}
		total := 0
		for _, c := range s[1:17] {
			total += int(c)
		}
		if total > 256 || len(s) < 17+total {
			return fmt.Errorf("bad JPEG DHT segment")
		}
		t := &d.dc[id]
		if class == 1 {
			t = &d.ac[id]
		}
		if err := t.build(s[1:17], s[17:17+total]); err != nil {
			return err
		}
		s = s[17+total:]
	}
	return nil
}

func (d *jpegDecoder) parseDQT(s []byte) error {
	for len(s) > 0 {
		prec, id := s[0]>>4, int(s[0]&15)
		if id > 3 || prec > 1 {
			return fmt.Errorf("bad JPEG quantization table")
		}
		size := 64 * (1 + int(prec))
		if len(s) < 1+size {
			return fmt.Errorf("bad JPEG DQT segment")
		}
		for k := 0; k < 64; k++ {
			var q int32
			if prec == 0 {
				q = int32(s[1+k])
			} else {
				q = int32(binary.BigEndian.Uint16(s[1+2*k:]))
			}
			d.qt[id][jpegZigzag[k]] = q
		}
		s = s[1+size:]
	}
	return nil
}

// parseScan decodes one scan whose entropy-coded data starts at data and
// returns how many bytes of data it used.
func (d *jpegDecoder) parseScan(s []byte, data []byte) (int, error) {
	if !d.frame {
		return 0, fmt.Errorf("JPEG scan before the frame header")
	}
	if len(s) < 1 {
		return 0, fmt.Errorf("bad JPEG scan header")
	}
	ns := int(s[0])
	if ns < 1 || ns > len(d.comps) || len(s) < 1+2*ns+3 {
		return 0, fmt.Errorf("bad JPEG scan header")
	}
	comps := make([]*jpegComp, ns)
	for i := 0; i < ns; i++ {
		id := s[1+2*i]
		for j := range d.comps {
			if d.comps[j].id == id {
				comps[i] = &d.comps[j]
			}
		}
		if comps[i] == nil {
			return 0, fmt.Errorf("JPEG scan names an unknown component")
		}
		comps[i].td, comps[i].ta = int(s[2+2*i]>>4), int(s[2+2*i]&15)
		if comps[i].td > 3 || comps[i].ta > 3 || !d.dc[comps[i].td].set || !d.ac[comps[i].ta].set {
			return 0, fmt.Errorf("JPEG scan uses an undefined Huffman table")
		}
		comps[i].dcPred = 0
	}
	r := &jpegBits{data: data}
	var blk [64]int32
	decodeBlock := func(c *jpegComp, bx, by int) error {
		if bx >= c.bw || by >= c.bh {
			return nil
		}
		clear(blk[:])
		t, err := r.decode(&d.dc[c.td])
		if err != nil {
			return err
		}
		if t > 11 {
			return fmt.Errorf("corrupt JPEG DC coefficient")
		}
		c.dcPred += r.receive(int(t))
		blk[0] = c.dcPred
		for k := 1; k < 64; k++ {
			rs, err := r.decode(&d.ac[c.ta])
			if err != nil {
				return err
			}
			run, size := int(rs>>4), int(rs&15)
			if size == 0 {
				if run != 15 {
					break
				}
				k += 15
				continue
			}
			k += run
			if k > 63 {
				return fmt.Errorf("corrupt JPEG AC coefficients")
			}
			blk[jpegZigzag[k]] = r.receive(size)
		}
		copy(c.coef[(by*c.bw+bx)*64:], blk[:])
		return nil
	}
	var units, ux int
	if ns == 1 {
		c := comps[0]
		ux = (c.w + 7) / 8
		units = ux * ((c.h2 + 7) / 8)
	} else {
		ux = d.mcux
		units = d.mcux * d.mcuy
	}
	for u := 0; u < units; u++ {
		if d.restart > 0 && u > 0 && u%d.restart == 0 {
			if err := r.restart(); err != nil {
				return 0, err
			}
			for _, c := range comps {
				c.dcPred = 0
			}
		}
		mx, my := u%ux, u/ux
		if ns == 1 {
			if err := decodeBlock(comps[0], mx, my); err != nil {
				return 0, err
			}
			continue
		}
		for _, c := range comps {
			for v := 0; v < c.v; v++ {
				for h := 0; h < c.h; h++ {
					if err := decodeBlock(c, mx*c.h+h, my*c.v+v); err != nil {
						return 0, err
					}
				}
			}
		}
	}
	// Resume marker parsing after the entropy-coded data.
	pos := r.pos
	for pos+1 < len(data) && !(data[pos] == 0xff && data[pos+1] != 0 && (data[pos+1] < 0xd0 || data[pos+1] > 0xd7)) {
		pos++
	}
	return pos, nil
}

// Fixed-point constants of the islow inverse DCT: round(x * 2^13).
const (
	jFix0298631336 = 2446
	jFix0390180644 = 3196
	jFix0541196100 = 4433
	jFix0765366865 = 6270
	jFix0899976223 = 7373
	jFix1175875602 = 9633
	jFix1501321110 = 12299
	jFix1847759065 = 15137
	jFix1961570560 = 16069
	jFix2053119869 = 16819
	jFix2562915447 = 20995
	jFix3072711026 = 25172
	jConstBits     = 13
	jPass1Bits     = 2
)

func jDescale(x int32, n uint) int32 { return (x + 1<<(n-1)) >> n }

// jRangeLimit maps a descaled IDCT output to a sample the way libjpeg's
// range-limit table does (clamping, and wrapping far out-of-range values).
func jRangeLimit(x int32) uint8 {
	v := x & 1023
	switch {
	case v < 128:
		return uint8(v + 128)
	case v < 640:
		return 255
	case v < 896:
		return 0
	}
	return uint8(v - 896)
}

// jIDCT1D runs one 8-point pass of the islow IDCT on in[0], in[s], ...
// (already dequantized, with in0 and in4 possibly pre-biased) and returns
// the eight undescaled outputs.
func jIDCT1D(i0, i1, i2, i3, i4, i5, i6, i7 int32) (o [8]int32) {
	// Even part.
	z1 := (i2 + i6) * jFix0541196100
	tmp2 := z1 + i6*(-jFix1847759065)
	tmp3 := z1 + i2*jFix0765366865
	tmp0 := (i0 + i4) << jConstBits
	tmp1 := (i0 - i4) << jConstBits
	tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
	tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2
	// Odd part.
	t0, t1, t2, t3 := i7, i5, i3, i1
	z1 = t0 + t3
	z2 := t1 + t2
	z3 := t0 + t2
	z4 := t1 + t3
	z5 := (z3 + z4) * jFix1175875602
	t0 *= jFix0298631336
	t1 *= jFix2053119869
	t2 *= jFix3072711026
	t3 *= jFix1501321110
	z1 *= -jFix0899976223
	z2 *= -jFix2562915447
	z3 = z3*(-jFix1961570560) + z5
	z4 = z4*(-jFix0390180644) + z5
	t0 += z1 + z3
	t1 += z2 + z4
	t2 += z2 + z3
	t3 += z1 + z4
	return [8]int32{tmp10 + t3, tmp11 + t2, tmp12 + t1, tmp13 + t0, tmp13 - t0, tmp12 - t1, tmp11 - t2, tmp10 - t3}
}

// idctComponent dequantizes and inverse-transforms every block of c into
// its sample plane.
func (d *jpegDecoder) idctComponent(c *jpegComp) {
	q := &d.qt[c.tq]
	stride := c.bw * 8
	c.pix = make([]uint8, stride*c.bh*8)
	var ws [64]int32
	for by := 0; by < c.bh; by++ {
		for bx := 0; bx < c.bw; bx++ {
			blk := c.coef[(by*c.bw+bx)*64:][:64]
			for col := 0; col < 8; col++ {
				o := jIDCT1D(blk[col]*q[col], blk[8+col]*q[8+col], blk[16+col]*q[16+col], blk[24+col]*q[24+col],
					blk[32+col]*q[32+col], blk[40+col]*q[40+col], blk[48+col]*q[48+col], blk[56+col]*q[56+col])
				for row := 0; row < 8; row++ {
					ws[row*8+col] = jDescale(o[row], jConstBits-jPass1Bits)
				}
			}
			for row := 0; row < 8; row++ {
				w := ws[row*8:][:8]
				o := jIDCT1D(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7])
				dst := c.pix[(by*8+row)*stride+bx*8:][:8]
				for i := range dst {
					dst[i] = jRangeLimit(jDescale(o[i], jConstBits+jPass1Bits+3))
				}
			}
		}
	}
}

// toPixels upsamples chroma and converts the planes to packed pixels.
func (d *jpegDecoder) toPixels() (pix []uint8, w, h int, gray bool, err error) {
	w, h = d.w, d.h
	if len(d.comps) == 1 {
		c := &d.comps[0]
		pix = make([]uint8, w*h)
		for y := 0; y < h; y++ {
			copy(pix[y*w:(y+1)*w], c.pix[y*c.bw*8:])
		}
		return pix, w, h, true, nil
	}
	// Planes are YCbCr unless an Adobe marker or R, G, B component ids say
	// RGB.
	rgb := d.adobe == 0 || (d.adobe < 0 && d.comps[0].id == 'R' && d.comps[1].id == 'G' && d.comps[2].id == 'B')
	pix = make([]uint8, 3*w*h)
	rows := [3][]int32{make([]int32, w), make([]int32, w), make([]int32, w)}
	for y := 0; y < h; y++ {
		for i := range d.comps {
			c := &d.comps[i]
			stride := c.bw * 8
			fh, fv := d.hmax/c.h, d.vmax/c.v
			dst := rows[i]
			switch {
			case fh == 1:
				src := c.pix[y*stride:]
				for x := range dst {
					dst[x] = int32(src[x])
				}
			case fv == 1:
				imgUpsampleH2V1(dst, c.pix[y*stride:], c.w, w)
			default:
				cy := y / 2
				ny := cy - 1
				if y%2 == 1 {
					ny = cy + 1
				}
				ny = min(max(ny, 0), c.h2-1)
				imgUpsampleH2V2(dst, c.pix[cy*stride:], c.pix[ny*stride:], c.w, w)
			}
		}
		for x := 0; x < w; x++ {
			p := pix[3*(y*w+x):]
			if rgb {
				p[0], p[1], p[2] = uint8(rows[0][x]), uint8(rows[1][x]), uint8(rows[2][x])
			} else {
				p[0], p[1], p[2] = imgYCCToRGB(rows[0][x], rows[1][x], rows[2][x])
			}
		}
	}
	return pix, w, h, false, nil
}
