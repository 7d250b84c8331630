// Package imagedecode implements the ONNX ImageDecoder operator: JPEG
// (sequential JPEG decoded the way libjpeg decodes it, so pixels match
// libjpeg-based decoders), PNG, GIF, BMP, the portable any-maps and baseline
// TIFF into height x width x channels uint8 tensors.
//
// Image decoding runs once per input ahead of a network and is here for the
// completeness of the ONNX operator set (its conformance tests), so it lives
// outside package ops, which holds the engine's kernels. Its cost to a binary
// is this package and the standard library's image codecs. engine's default
// registry includes it; a registry built from ops.DefaultRegistry does not
// until Register adds it.
package imagedecode

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"

	"github.com/agate-ml/agate/ops"
)

// Register adds ImageDecoder (ai.onnx, from opset 20) to r.
func Register(r *ops.Registry) {
	r.Add("", "ImageDecoder", 20, newImageDecoder)
}

// imgFormat is ImageDecoder's pixel_format.
type imgFormat int

const (
	imgRGB imgFormat = iota
	imgBGR
	imgGray
)

// imageDecoder implements ImageDecoder for JPEG, PNG, GIF, BMP, the
// portable any-map formats (PBM, PGM, PPM) and uncompressed or PackBits
// baseline TIFF. Sequential JPEG is decoded with libjpeg's integer inverse
// DCT, its chroma upsampled with the interpolation the operator specifies
// (libjpeg's "fancy" upsampling) and converted to RGB with libjpeg's
// fixed-point arithmetic, so that pixels match libjpeg-based decoders. As the operator specifies, a
// stream that cannot be decoded (including JPEG 2000 and WebP, which are
// not supported) yields an empty (0, 0, channels) image rather than an
// error.
type imageDecoder struct{ format imgFormat }

func newImageDecoder(n *ops.Node) (any, error) {
	switch f := n.Attrs.String("pixel_format", "RGB"); f {
	case "RGB":
		return &imageDecoder{format: imgRGB}, nil
	case "BGR":
		return &imageDecoder{format: imgBGR}, nil
	case "Grayscale":
		return &imageDecoder{format: imgGray}, nil
	default:
		return nil, fmt.Errorf("attribute \"pixel_format\": expected RGB, BGR or Grayscale, got %q", f)
	}
}

func (k *imageDecoder) Run(ec *ops.Context, in, out []*ops.Tensor) error {
	if len(in) == 0 || in[0] == nil {
		return fmt.Errorf("input encoded_stream is required")
	}
	data, ok := in[0].Data.([]uint8)
	if !ok || in[0].DType != ops.Uint8 {
		return fmt.Errorf("encoded_stream must be a uint8 tensor, got %s", in[0].DType)
	}
	channels := 3
	if k.format == imgGray {
		channels = 1
	}
	pix, w, h, gray, err := imgDecode(data)
	if err != nil {
		out[0] = ec.Empty(ops.Uint8, 0, 0, channels)
		return nil
	}
	y := ec.Empty(ops.Uint8, h, w, channels)
	dst := y.Data.([]uint8)
	switch {
	case k.format == imgGray && gray:
		copy(dst, pix)
	case k.format == imgGray:
		for i := range dst {
			p := pix[3*i : 3*i+3]
			dst[i] = imgLuma(p[0], p[1], p[2])
		}
	case gray:
		for i, v := range pix {
			dst[3*i], dst[3*i+1], dst[3*i+2] = v, v, v
		}
	case k.format == imgBGR:
		for i := 0; i < w*h; i++ {
			dst[3*i], dst[3*i+1], dst[3*i+2] = pix[3*i+2], pix[3*i+1], pix[3*i]
		}
	default:
		copy(dst, pix)
	}
	out[0] = y
	return nil
}

// imgLuma converts RGB to 8-bit luma with ITU-R 601-2 weights in 16-bit
// fixed point, rounding to nearest.
func imgLuma(r, g, b uint8) uint8 {
	return uint8((uint32(r)*19595 + uint32(g)*38470 + uint32(b)*7471 + 0x8000) >> 16)
}

var errImgFormat = errors.New("unrecognized or unsupported image format")

// imgDecode decodes an encoded image into packed 8-bit pixels: one byte per
// pixel when gray, else three (R, G, B).
func imgDecode(b []byte) (pix []uint8, w, h int, gray bool, err error) {
	switch {
	case bytes.HasPrefix(b, []byte{0xff, 0xd8}):
		if pix, w, h, gray, err := imgDecodeJPEG(b); err == nil {
			return pix, w, h, gray, nil
		}
		// Variants the exact decoder leaves aside (progressive JPEG
		// and others) go through the standard library.
		m, err := jpeg.Decode(bytes.NewReader(b))
		if err != nil {
			return nil, 0, 0, false, err
		}
		if ycc, ok := m.(*image.YCbCr); ok {
			pix, w, h := imgJPEGToRGB(ycc)
			return pix, w, h, false, nil
		}
		return imgFromImage(m)
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		m, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			return nil, 0, 0, false, err
		}
		return imgFromImage(m)
	case bytes.HasPrefix(b, []byte("GIF8")):
		m, err := gif.Decode(bytes.NewReader(b))
		if err != nil {
			return nil, 0, 0, false, err
		}
		return imgFromImage(m)
	case bytes.HasPrefix(b, []byte("BM")):
		return imgDecodeBMP(b)
	case len(b) >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6':
		return imgDecodePNM(b)
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return imgDecodeTIFF(b)
	}
	return nil, 0, 0, false, errImgFormat
}

// imgFromImage packs a decoded standard-library image, dropping alpha
// (straight, not premultiplied, color values are kept).
func imgFromImage(m image.Image) (pix []uint8, w, h int, gray bool, err error) {
	r := m.Bounds()
	w, h = r.Dx(), r.Dy()
	if g, ok := m.(*image.Gray); ok {
		pix = make([]uint8, w*h)
		for y := 0; y < h; y++ {
			copy(pix[y*w:(y+1)*w], g.Pix[y*g.Stride:])
		}
		return pix, w, h, true, nil
	}
	pix = make([]uint8, 3*w*h)
	switch m := m.(type) {
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			src := m.Pix[y*m.Stride:]
			dst := pix[3*y*w:]
			for x := 0; x < w; x++ {
				dst[3*x], dst[3*x+1], dst[3*x+2] = src[4*x], src[4*x+1], src[4*x+2]
			}
		}
		return pix, w, h, false, nil
	case *image.RGBA:
		for y := 0; y < h; y++ {
			src := m.Pix[y*m.Stride:]
			dst := pix[3*y*w:]
			for x := 0; x < w; x++ {
				p := src[4*x : 4*x+4]
				if p[3] != 0xff { // premultiplied: recover straight values
					c := color.NRGBAModel.Convert(color.RGBA{p[0], p[1], p[2], p[3]}).(color.NRGBA)
					dst[3*x], dst[3*x+1], dst[3*x+2] = c.R, c.G, c.B
					continue
				}
				dst[3*x], dst[3*x+1], dst[3*x+2] = p[0], p[1], p[2]
			}
		}
		return pix, w, h, false, nil
	case *image.Paletted:
		var pal [256][3]uint8
		for i, c := range m.Palette {
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			pal[i] = [3]uint8{n.R, n.G, n.B}
		}
		for y := 0; y < h; y++ {
			src := m.Pix[y*m.Stride:]
			dst := pix[3*y*w:]
			for x := 0; x < w; x++ {
				c := pal[src[x]]
				dst[3*x], dst[3*x+1], dst[3*x+2] = c[0], c[1], c[2]
			}
		}
		return pix, w, h, false, nil
	}
	i := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := color.NRGBAModel.Convert(m.At(x, y)).(color.NRGBA)
			pix[i], pix[i+1], pix[i+2] = c.R, c.G, c.B
			i += 3
		}
	}
	return pix, w, h, false, nil
}

// imgJPEGToRGB converts a decoded JPEG's YCbCr planes to packed RGB,
// upsampling 4:2:0 and 4:2:2 chroma by linear interpolation (3/4 of the
// nearer and 1/4 of the farther sample, rounding alternately down and up)
// and converting with libjpeg's fixed-point coefficients.
func imgJPEGToRGB(m *image.YCbCr) ([]uint8, int, int) {
	r := m.Bounds()
	w, h := r.Dx(), r.Dy()
	pix := make([]uint8, 3*w*h)
	cb := make([]int32, w)
	cr := make([]int32, w)
	cw := (w + 1) / 2
	ch := (h + 1) / 2
	for y := 0; y < h; y++ {
		yrow := m.Y[y*m.YStride:]
		switch m.SubsampleRatio {
		case image.YCbCrSubsampleRatio420:
			cy := y / 2
			ny := cy - 1 // the farther chroma row: above for even rows
			if y%2 == 1 {
				ny = cy + 1
			}
			ny = min(max(ny, 0), ch-1)
			imgUpsampleH2V2(cb, m.Cb[cy*m.CStride:], m.Cb[ny*m.CStride:], cw, w)
			imgUpsampleH2V2(cr, m.Cr[cy*m.CStride:], m.Cr[ny*m.CStride:], cw, w)
		case image.YCbCrSubsampleRatio422:
			imgUpsampleH2V1(cb, m.Cb[y*m.CStride:], cw, w)
			imgUpsampleH2V1(cr, m.Cr[y*m.CStride:], cw, w)
		default:
			for x := 0; x < w; x++ {
				o := m.COffset(x+r.Min.X, y+r.Min.Y)
				cb[x], cr[x] = int32(m.Cb[o]), int32(m.Cr[o])
			}
		}
		for x := 0; x < w; x++ {
			R, G, B := imgYCCToRGB(int32(yrow[x]), cb[x], cr[x])
			p := pix[3*(y*w+x):]
			p[0], p[1], p[2] = R, G, B
		}
	}
	return pix, w, h
}

// imgUpsampleH2V2 interpolates one output row of 2x2-subsampled chroma from
// the nearer (near) and farther (far) chroma rows of cw samples.
func imgUpsampleH2V2(dst []int32, near, far []uint8, cw, w int) {
	sum := func(i int) int32 {
		i = min(max(i, 0), cw-1)
		return 3*int32(near[i]) + int32(far[i])
	}
	for x := 0; x < w; x++ {
		i := x / 2
		this := sum(i)
		if x%2 == 0 {
			dst[x] = (3*this + sum(i-1) + 8) >> 4
		} else {
			dst[x] = (3*this + sum(i+1) + 7) >> 4
		}
	}
}

// imgUpsampleH2V1 interpolates one output row of horizontally 2x-subsampled
// chroma.
func imgUpsampleH2V1(dst []int32, row []uint8, cw, w int) {
	at := func(i int) int32 { return int32(row[min(max(i, 0), cw-1)]) }
	for x := 0; x < w; x++ {
		i := x / 2
		if x%2 == 0 {
			dst[x] = (3*at(i) + at(i-1) + 1) >> 2
		} else {
			dst[x] = (3*at(i) + at(i+1) + 2) >> 2
		}
	}
}

// imgYCCToRGB converts JFIF YCbCr to RGB in 16-bit fixed point.
func imgYCCToRGB(y, cb, cr int32) (uint8, uint8, uint8) {
	const half = 1 << 15
	cb -= 128
	cr -= 128
	r := y + ((91881*cr + half) >> 16)
	g := y + ((-22554*cb - 46802*cr + half) >> 16)
	b := y + ((116130*cb + half) >> 16)
	return imgClamp(r), imgClamp(g), imgClamp(b)
}

func imgClamp(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}
