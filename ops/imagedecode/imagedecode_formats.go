package imagedecode

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// imgMaxPixels bounds the images the hand-written decoders accept, so that
// a corrupt header cannot request an enormous allocation.
const imgMaxPixels = 1 << 28

func imgCheckSize(w, h int) error {
	if w <= 0 || h <= 0 || w > imgMaxPixels/h {
		return fmt.Errorf("invalid image size %dx%d", w, h)
	}
	return nil
}

var errImgTruncated = errors.New("truncated image data")

// imgDecodeBMP decodes an uncompressed Windows bitmap of 1, 4, 8, 24 or 32
// bits per pixel (32-bit with BI_RGB or the default BGRA bitfields).
func imgDecodeBMP(b []byte) (pix []uint8, w, h int, gray bool, err error) {
	if len(b) < 14+40 {
		return nil, 0, 0, false, errImgTruncated
	}
	le := binary.LittleEndian
	off := int(le.Uint32(b[10:]))
	hdr := int(le.Uint32(b[14:]))
	if hdr < 40 || 14+hdr > len(b) {
		return nil, 0, 0, false, fmt.Errorf("unsupported BMP header size %d", hdr)
	}
	w = int(int32(le.Uint32(b[18:])))
	hs := int(int32(le.Uint32(b[22:])))
	bpp := int(le.Uint16(b[28:]))
	comp := le.Uint32(b[30:])
	topDown := hs < 0
	h = hs
	if topDown {
		h = -hs
	}
	if err := imgCheckSize(w, h); err != nil {
		return nil, 0, 0, false, err
	}
	if comp != 0 && !(comp == 3 && bpp == 32) {
		return nil, 0, 0, false, fmt.Errorf("unsupported BMP compression %d", comp)
	}
	var palette [][3]uint8
	if bpp <= 8 {
		switch bpp {
		case 1, 4, 8:
		default:
			return nil, 0, 0, false, fmt.Errorf("unsupported BMP depth %d", bpp)
		}
		n := int(le.Uint32(b[46:]))
		if n == 0 {
			n = 1 << bpp
		}
		p := 14 + hdr
		if n > 256 || p+4*n > len(b) {
			return nil, 0, 0, false, errImgTruncated
		}
		palette = make([][3]uint8, n)
		for i := range palette {
			q := b[p+4*i:]
			palette[i] = [3]uint8{q[2], q[1], q[0]}
		}
	} else if bpp != 24 && bpp != 32 {
		return nil, 0, 0, false, fmt.Errorf("unsupported BMP depth %d", bpp)
	}
	stride := ((w*bpp + 31) / 32) * 4
	if off < 0 || off+stride*h > len(b) {
		return nil, 0, 0, false, errImgTruncated
	}
	pix = make([]uint8, 3*w*h)
	for y := 0; y < h; y++ {
		src := y
		if !topDown {
			src = h - 1 - y
		}
		row := b[off+src*stride:]
		dst := pix[3*y*w:]
		for x := 0; x < w; x++ {
			var c [3]uint8
			switch bpp {
			case 24, 32:
				q := row[x*bpp/8:]
				c = [3]uint8{q[2], q[1], q[0]}
			default:
				bit := x * bpp
				idx := int(row[bit/8]>>(8-bpp-bit%8)) & (1<<bpp - 1)
				if idx >= len(palette) {
					return nil, 0, 0, false, fmt.Errorf("BMP palette index %d out of range", idx)
				}
				c = palette[idx]
			}
			dst[3*x], dst[3*x+1], dst[3*x+2] = c[0], c[1], c[2]
		}
	}
	return pix, w, h, false, nil
}

// imgDecodePNM decodes the portable any-map formats P1-P6 with a maximum
// value up to 255 (values are rescaled to 0-255).
func imgDecodePNM(b []byte) (pix []uint8, w, h int, gray bool, err error) {
	kind := b[1]
	pos := 2
	// skip passes whitespace and comments.
	skip := func() {
		for pos < len(b) {
			c := b[pos]
			if c == '#' {
				for pos < len(b) && b[pos] != '\n' && b[pos] != '\r' {
					pos++
				}
				continue
			}
			if c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\v' && c != '\f' {
				return
			}
			pos++
		}
	}
	// token reads the next decimal header field or sample.
	token := func() (int, error) {
		skip()
		start := pos
		v := 0
		for pos < len(b) && b[pos] >= '0' && b[pos] <= '9' {
			v = v*10 + int(b[pos]-'0')
			if v > 1<<30 {
				return 0, fmt.Errorf("PNM header value too large")
			}
			pos++
		}
		if pos == start {
			return 0, fmt.Errorf("malformed PNM header")
		}
		return v, nil
	}
	if w, err = token(); err != nil {
		return nil, 0, 0, false, err
	}
	if h, err = token(); err != nil {
		return nil, 0, 0, false, err
	}
	if err := imgCheckSize(w, h); err != nil {
		return nil, 0, 0, false, err
	}
	maxval := 1
	if kind != '1' && kind != '4' {
		if maxval, err = token(); err != nil {
			return nil, 0, 0, false, err
		}
		if maxval < 1 || maxval > 255 {
			return nil, 0, 0, false, fmt.Errorf("unsupported PNM maximum value %d", maxval)
		}
	}
	channels := 1
	if kind == '3' || kind == '6' {
		channels = 3
	}
	n := w * h * channels
	pix = make([]uint8, n)
	scale := func(v int) uint8 { return uint8((v*255 + maxval/2) / maxval) }
	switch kind {
	case '4': // packed bitmap, 1 = black
		pos++ // the single whitespace byte after the header
		stride := (w + 7) / 8
		if pos+stride*h > len(b) {
			return nil, 0, 0, false, errImgTruncated
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				if b[pos+y*stride+x/8]&(0x80>>(x%8)) == 0 {
					pix[y*w+x] = 255
				}
			}
		}
	case '5', '6':
		pos++
		if pos+n > len(b) {
			return nil, 0, 0, false, errImgTruncated
		}
		for i := range pix {
			pix[i] = scale(int(b[pos+i]))
		}
	default: // ASCII P1, P2, P3
		for i := range pix {
			if kind == '1' {
				skip()
				if pos >= len(b) || (b[pos] != '0' && b[pos] != '1') {
					return nil, 0, 0, false, errImgTruncated
				}
				if b[pos] == '0' {
					pix[i] = 255
				}
				pos++
				continue
			}
			v, err := token()
			if err != nil {
				return nil, 0, 0, false, err
			}
			if v > maxval {
				return nil, 0, 0, false, fmt.Errorf("PNM sample %d exceeds maximum %d", v, maxval)
			}
			pix[i] = scale(v)
		}
	}
	return pix, w, h, channels == 1, nil
}

// imgDecodeTIFF decodes the first image of a baseline TIFF: 8-bit
// grayscale or RGB(A), chunky, uncompressed or PackBits, in strips.
func imgDecodeTIFF(b []byte) (pix []uint8, w, h int, gray bool, err error) {
	var bo binary.ByteOrder = binary.LittleEndian
	if b[0] == 'M' {
		bo = binary.BigEndian
	}
	if len(b) < 8 {
		return nil, 0, 0, false, errImgTruncated
	}
	ifd := int(bo.Uint32(b[4:]))
	if ifd < 8 || ifd+2 > len(b) {
		return nil, 0, 0, false, errImgTruncated
	}
	count := int(bo.Uint16(b[ifd:]))
	if ifd+2+12*count > len(b) {
		return nil, 0, 0, false, errImgTruncated
	}
	tags := map[uint16][]int{}
	for i := 0; i < count; i++ {
		e := b[ifd+2+12*i:]
		tag, typ, n := bo.Uint16(e), bo.Uint16(e[2:]), int(bo.Uint32(e[4:]))
		size := map[uint16]int{1: 1, 3: 2, 4: 4}[typ]
		if size == 0 || n < 0 || n > len(b) {
			continue // a type the baseline fields do not use
		}
		data := e[8:12]
		if size*n > 4 {
			p := int(bo.Uint32(e[8:]))
			if p < 0 || p+size*n > len(b) {
				return nil, 0, 0, false, errImgTruncated
			}
			data = b[p:]
		}
		vals := make([]int, n)
		for j := range vals {
			switch size {
			case 1:
				vals[j] = int(data[j])
			case 2:
				vals[j] = int(bo.Uint16(data[2*j:]))
			default:
				vals[j] = int(bo.Uint32(data[4*j:]))
			}
		}
		tags[tag] = vals
	}
	one := func(tag uint16, def int) int {
		if v, ok := tags[tag]; ok && len(v) > 0 {
			return v[0]
		}
		return def
	}
	w, h = one(256, 0), one(257, 0)
	if err := imgCheckSize(w, h); err != nil {
		return nil, 0, 0, false, err
	}
	spp := one(277, 1)
	photometric := one(262, -1)
	compression := one(259, 1)
	for _, bits := range tags[258] {
		if bits != 8 {
			return nil, 0, 0, false, fmt.Errorf("unsupported TIFF bit depth %d", bits)
		}
	}
	if one(284, 1) != 1 {
		return nil, 0, 0, false, fmt.Errorf("unsupported TIFF planar configuration")
	}
	if compression != 1 && compression != 32773 {
		return nil, 0, 0, false, fmt.Errorf("unsupported TIFF compression %d", compression)
	}
	switch {
	case (photometric == 0 || photometric == 1) && spp >= 1:
		gray = true
	case photometric == 2 && spp >= 3:
	default:
		return nil, 0, 0, false, fmt.Errorf("unsupported TIFF photometric interpretation %d with %d samples", photometric, spp)
	}
	offsets, counts := tags[273], tags[279]
	if len(offsets) == 0 || len(offsets) != len(counts) {
		return nil, 0, 0, false, fmt.Errorf("missing TIFF strip offsets or byte counts")
	}
	raw := make([]uint8, 0, w*h*spp)
	for i, o := range offsets {
		c := counts[i]
		if o < 0 || c < 0 || o+c > len(b) {
			return nil, 0, 0, false, errImgTruncated
		}
		strip := b[o : o+c]
		if compression == 1 {
			raw = append(raw, strip...)
		} else if raw, err = imgUnpackBits(raw, strip, w*h*spp); err != nil {
			return nil, 0, 0, false, err
		}
	}
	if len(raw) < w*h*spp {
		return nil, 0, 0, false, errImgTruncated
	}
	channels := 3
	if gray {
		channels = 1
	}
	pix = make([]uint8, w*h*channels)
	for i := 0; i < w*h; i++ {
		for c := 0; c < channels; c++ {
			v := raw[i*spp+c]
			if photometric == 0 {
				v = 255 - v // WhiteIsZero
			}
			pix[i*channels+c] = v
		}
	}
	return pix, w, h, gray, nil
}

// imgUnpackBits appends the PackBits decoding of src to dst, stopping at
// limit bytes in all.
func imgUnpackBits(dst, src []uint8, limit int) ([]uint8, error) {
	for i := 0; i < len(src) && len(dst) < limit; {
		n := int(int8(src[i]))
		i++
		switch {
		case n >= 0:
			if i+n+1 > len(src) {
				return nil, errImgTruncated
			}
			dst = append(dst, src[i:i+n+1]...)
			i += n + 1
		case n != -128:
			if i >= len(src) {
				return nil, errImgTruncated
			}
			for j := 0; j < 1-n; j++ {
				dst = append(dst, src[i])
			}
			i++
		}
	}
	return dst, nil
}
