package imagedecode

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/agate-ml/agate/ops"
)

// miscImage is a 3x2 RGB test picture, row-major.
var miscImage = []uint8{
	255, 0, 0, 0, 255, 0, 0, 0, 255,
	10, 20, 30, 200, 100, 50, 255, 255, 255,
}

func miscBMP() []byte {
	const w, h = 3, 2
	stride := (w*3 + 3) &^ 3
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("BM")
	binary.Write(&b, le, uint32(54+stride*h))
	binary.Write(&b, le, uint32(0))
	binary.Write(&b, le, uint32(54))
	binary.Write(&b, le, []uint32{40, w, h})
	binary.Write(&b, le, []uint16{1, 24})
	binary.Write(&b, le, []uint32{0, uint32(stride * h), 2835, 2835, 0, 0})
	for y := h - 1; y >= 0; y-- { // bottom-up rows, BGR
		row := make([]byte, stride)
		for x := 0; x < w; x++ {
			p := miscImage[3*(y*w+x):]
			row[3*x], row[3*x+1], row[3*x+2] = p[2], p[1], p[0]
		}
		b.Write(row)
	}
	return b.Bytes()
}

func miscTIFF() []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("II*\x00")
	binary.Write(&b, le, uint32(8))
	type entry struct {
		tag, typ uint16
		n, val   uint32
	}
	bpsOff := uint32(8 + 2 + 9*12 + 4)
	dataOff := bpsOff + 6
	entries := []entry{
		{256, 3, 1, 3}, {257, 3, 1, 2}, {258, 3, 3, bpsOff}, {259, 3, 1, 1}, {262, 3, 1, 2},
		{273, 4, 1, dataOff}, {277, 3, 1, 3}, {278, 3, 1, 2}, {279, 4, 1, uint32(len(miscImage))},
	}
	binary.Write(&b, le, uint16(len(entries)))
	for _, e := range entries {
		binary.Write(&b, le, e.tag)
		binary.Write(&b, le, e.typ)
		binary.Write(&b, le, e.n)
		binary.Write(&b, le, e.val)
	}
	binary.Write(&b, le, uint32(0))
	binary.Write(&b, le, []uint16{8, 8, 8})
	b.Write(miscImage)
	return b.Bytes()
}

func miscPNG(t *testing.T) []byte {
	m := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	for i := 0; i < 6; i++ {
		p := miscImage[3*i:]
		m.Set(i%3, i/3, color.NRGBA{p[0], p[1], p[2], 128})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// miscEncoded returns the test picture as an opaque RGBA PNG, a paletted
// PNG and a GIF.
func miscEncoded(t *testing.T) map[string][]byte {
	rgba := image.NewRGBA(image.Rect(0, 0, 3, 2))
	var palette color.Palette
	for i := 0; i < 6; i++ {
		p := miscImage[3*i:]
		c := color.RGBA{p[0], p[1], p[2], 255}
		rgba.Set(i%3, i/3, c)
		palette = append(palette, c)
	}
	pal := image.NewPaletted(rgba.Rect, palette)
	for i := 0; i < 6; i++ {
		pal.Pix[i] = uint8(i)
	}
	res := map[string][]byte{}
	var b1, b2, b3 bytes.Buffer
	if err := png.Encode(&b1, rgba); err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(&b2, pal); err != nil {
		t.Fatal(err)
	}
	if err := gif.Encode(&b3, pal, nil); err != nil {
		t.Fatal(err)
	}
	res["png rgba"], res["png paletted"], res["gif"] = b1.Bytes(), b2.Bytes(), b3.Bytes()
	return res
}

func miscDecode(t *testing.T, data []byte, format string) *ops.Tensor {
	t.Helper()
	out, err := miscRun(t, "", "ImageDecoder", 20, []*ops.Tensor{ops.FromSlice(ops.Uint8, data, len(data))}, 1, "pixel_format", format)
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

func TestImageDecoder(t *testing.T) {
	bgr := make([]uint8, len(miscImage))
	gray := make([]uint8, 6)
	for i := 0; i < 6; i++ {
		p := miscImage[3*i:]
		bgr[3*i], bgr[3*i+1], bgr[3*i+2] = p[2], p[1], p[0]
		gray[i] = imgLuma(p[0], p[1], p[2])
	}
	ppm := append([]byte("P6\n# comment\n3 2\n255\n"), miscImage...)
	ascii := []byte("P3 3 2 255\n255 0 0 0 255 0 0 0 255\n10 20 30 200 100 50 255 255 255\n")
	enc := miscEncoded(t)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"png", miscPNG(t)},
		{"png rgba", enc["png rgba"]},
		{"png paletted", enc["png paletted"]},
		{"gif", enc["gif"]},
		{"bmp", miscBMP()},
		{"ppm", ppm},
		{"ppm ascii", ascii},
		{"tiff", miscTIFF()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			miscCheck(t, miscDecode(t, tc.data, "RGB"), ops.Uint8, []int{2, 3, 3}, miscImage)
			miscCheck(t, miscDecode(t, tc.data, "BGR"), ops.Uint8, []int{2, 3, 3}, bgr)
			miscCheck(t, miscDecode(t, tc.data, "Grayscale"), ops.Uint8, []int{2, 3, 1}, gray)
		})
	}
	// A gray image keeps its values and is replicated for RGB.
	pgm := []byte("P5 2 1 255\n\x07\xfe")
	miscCheck(t, miscDecode(t, pgm, "Grayscale"), ops.Uint8, []int{1, 2, 1}, []uint8{7, 254})
	miscCheck(t, miscDecode(t, pgm, "RGB"), ops.Uint8, []int{1, 2, 3}, []uint8{7, 7, 7, 254, 254, 254})
	pgm15 := []byte("P2 2 1 15\n0 15")
	miscCheck(t, miscDecode(t, pgm15, "Grayscale"), ops.Uint8, []int{1, 2, 1}, []uint8{0, 255})

	// JPEG is lossy: a flat color survives to within a unit or two.
	m := image.NewRGBA(image.Rect(0, 0, 17, 9))
	for i := 0; i < len(m.Pix); i += 4 {
		copy(m.Pix[i:], []uint8{200, 100, 50, 255})
	}
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, m, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	y := miscDecode(t, jb.Bytes(), "RGB")
	if !ops.EqualShapes(y.Shape, []int{9, 17, 3}) {
		t.Fatalf("jpeg shape %v", y.Shape)
	}
	for i, v := range y.Data.([]uint8) {
		want := []int{200, 100, 50}[i%3]
		if d := int(v) - want; d < -3 || d > 3 {
			t.Fatalf("jpeg element %d = %d, want about %d", i, v, want)
		}
	}

	// Undecodable streams give an empty image.
	for _, data := range [][]byte{{1, 2, 3}, []byte("BM"), []byte("P6 3 2 255\n\x01"), {0xff, 0xd8, 0}, []byte("RIFF....WEBPVP8 ")} {
		miscCheck(t, miscDecode(t, data, "RGB"), ops.Uint8, []int{0, 0, 3}, []uint8{})
		miscCheck(t, miscDecode(t, data, "Grayscale"), ops.Uint8, []int{0, 0, 1}, []uint8{})
	}
	if _, err := miscBuild("", "ImageDecoder", 20, []string{"x"}, 1, "pixel_format", "RGBA"); err == nil {
		t.Errorf("RGBA pixel format accepted")
	}
	if _, err := miscRun(t, "", "ImageDecoder", 20, []*ops.Tensor{ops.FromSlice(ops.Int8, []int8{1}, 1)}, 1); err == nil {
		t.Errorf("int8 stream accepted")
	}
}

func TestImageJPEGUpsampling(t *testing.T) {
	// Chroma 0 255 upsampled 2x: the inner samples blend 3:1, rounding
	// down on even and up on odd outputs; the ends are replicated.
	dst := make([]int32, 4)
	imgUpsampleH2V1(dst, []uint8{0, 255}, 2, 4)
	if want := []int32{0, 64, 191, 255}; !equalInt32s(dst, want) {
		t.Errorf("h2v1: got %v, want %v", dst, want)
	}
	imgUpsampleH2V2(dst, []uint8{0, 255}, []uint8{0, 255}, 2, 4)
	if want := []int32{0, 64, 191, 255}; !equalInt32s(dst, want) {
		t.Errorf("h2v2: got %v, want %v", dst, want)
	}
	if r, g, b := imgYCCToRGB(128, 128, 128); r != 128 || g != 128 || b != 128 {
		t.Errorf("gray converts to %d %d %d", r, g, b)
	}
	if r, g, b := imgYCCToRGB(76, 85, 255); r != 254 || g != 0 || b != 0 {
		t.Errorf("red converts to %d %d %d", r, g, b)
	}
}

func equalInt32s(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func BenchmarkImageDecoderPNG(b *testing.B) {
	m := image.NewRGBA(image.Rect(0, 0, 256, 256))
	for i := range m.Pix {
		m.Pix[i] = uint8(i * 7)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		b.Fatal(err)
	}
	k, err := miscBuild("", "ImageDecoder", 20, []string{"x"}, 1)
	if err != nil {
		b.Fatal(err)
	}
	in := []*ops.Tensor{ops.FromSlice(ops.Uint8, buf.Bytes(), buf.Len())}
	ec := ops.NewContext(context.Background(), nil, ops.NewArena())
	out := make([]*ops.Tensor, 1)
	for i := 0; i < b.N; i++ {
		if err := k.(ops.Kernel).Run(ec, in, out); err != nil {
			b.Fatal(err)
		}
		ec.Release(out[0])
	}
}

func TestImageJPEGDecoder(t *testing.T) {
	// Compare the exact decoder with the standard library's on pictures of
	// several sizes, qualities and color models: they differ only by IDCT
	// rounding.
	seed := uint32(1)
	rnd := func() uint8 {
		seed = seed*1664525 + 1013904223
		return uint8(seed >> 24)
	}
	for _, tc := range []struct {
		w, h, q int
		gray    bool
	}{
		{32, 32, 75, false}, {17, 9, 90, false}, {1, 1, 50, false}, {33, 15, 100, false}, {40, 23, 60, true},
	} {
		var m image.Image
		if tc.gray {
			g := image.NewGray(image.Rect(0, 0, tc.w, tc.h))
			for i := range g.Pix {
				g.Pix[i] = rnd()/2 + uint8(i%64)
			}
			m = g
		} else {
			c := image.NewRGBA(image.Rect(0, 0, tc.w, tc.h))
			for i := range c.Pix {
				c.Pix[i] = rnd()/4 + uint8(i%128)
			}
			m = c
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: tc.q}); err != nil {
			t.Fatal(err)
		}
		pix, w, h, gray, err := imgDecodeJPEG(buf.Bytes())
		if err != nil {
			t.Fatalf("%dx%d: %v", tc.w, tc.h, err)
		}
		want, ww, wh, wgray, err := imgDecodeStdJPEG(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if w != ww || h != wh || gray != wgray || len(pix) != len(want) {
			t.Fatalf("%dx%d: got %dx%d gray=%v, standard library %dx%d gray=%v", tc.w, tc.h, w, h, gray, ww, wh, wgray)
		}
		for i := range pix {
			if d := int(pix[i]) - int(want[i]); d < -4 || d > 4 {
				t.Fatalf("%dx%d q%d: element %d = %d, standard library %d", tc.w, tc.h, tc.q, i, pix[i], want[i])
			}
		}
		// Damaged streams must fail cleanly (or decode), never panic.
		b := buf.Bytes()
		for n := 0; n < len(b); n += 7 {
			imgDecodeJPEG(b[:n])
		}
		for i := 2; i < len(b); i += 5 {
			c := append([]byte(nil), b...)
			c[i] ^= 0x5a
			imgDecodeJPEG(c)
		}
	}
}

// imgDecodeStdJPEG decodes with the standard library, converting with the
// same upsampling and color arithmetic.
func imgDecodeStdJPEG(b []byte) ([]uint8, int, int, bool, error) {
	m, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, 0, 0, false, err
	}
	if ycc, ok := m.(*image.YCbCr); ok {
		pix, w, h := imgJPEGToRGB(ycc)
		return pix, w, h, false, nil
	}
	return imgFromImage(m)
}

func TestImageJPEGIDCT(t *testing.T) {
	// A lone DC coefficient gives a flat block.
	d := &jpegDecoder{}
	for i := range d.qt[0] {
		d.qt[0][i] = 1
	}
	c := &jpegComp{bw: 1, bh: 1, coef: make([]int32, 64)}
	c.coef[0] = 80 // DC 80 -> 80/8 = 10 above mid-gray
	d.idctComponent(c)
	for i, v := range c.pix {
		if v != 138 {
			t.Fatalf("sample %d = %d, want 138", i, v)
		}
	}
	for _, tc := range []struct {
		in   int32
		want uint8
	}{{-128, 0}, {0, 128}, {127, 255}, {500, 255}, {-300, 0}} {
		if got := jRangeLimit(tc.in); got != tc.want {
			t.Errorf("jRangeLimit(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
