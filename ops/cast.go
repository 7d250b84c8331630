package ops

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unsafe"
)

// registerCast registers Cast, CastLike and BitCast.
func registerCast(r *Registry) {
	r.Add("", "Cast", 1, newCastKernel)
	r.Add("", "CastLike", 15, newCastKernel)
	r.Add("", "BitCast", 26, newBitCastKernel)
}

// castKernel implements Cast and CastLike (which takes its target type from
// its second input).
type castKernel struct {
	to       DType // Undefined for CastLike
	saturate bool
	round    ewE8M0Round
}

func newCastKernel(n *Node) (any, error) {
	k := &castKernel{saturate: n.Attrs.Int("saturate", 1) != 0}
	rm, err := ewParseE8M0Round(n.Attrs.String("round_mode", "up"))
	if err != nil {
		return nil, err
	}
	k.round = rm
	if n.OpType == "CastLike" {
		if len(n.Inputs) != 2 {
			return nil, fmt.Errorf("CastLike expects 2 inputs, got %d", len(n.Inputs))
		}
		return k, nil
	}
	at := n.Attrs.Get("to")
	if at == nil {
		return nil, fmt.Errorf("missing required attribute \"to\"")
	}
	switch at.Type {
	case AttrInt:
		k.to = DType(at.I)
	case AttrString: // Cast-1 names the type
		k.to = ewDTypeByName(at.S)
	default:
		return nil, fmt.Errorf("attribute \"to\": expected int, got %s", at.Type)
	}
	if !k.to.Valid() || k.to == Complex64 || k.to == Complex128 {
		return nil, fmt.Errorf("attribute \"to\": cannot cast to %s", k.to)
	}
	return k, nil
}

// ewDTypeByName maps a TensorProto.DataType name (FLOAT, INT64, ...) to its
// type, or Undefined.
func ewDTypeByName(s string) DType {
	names := map[string]DType{
		"FLOAT": Float, "UINT8": Uint8, "INT8": Int8, "UINT16": Uint16, "INT16": Int16,
		"INT32": Int32, "INT64": Int64, "STRING": String, "BOOL": Bool, "FLOAT16": Float16,
		"DOUBLE": Double, "UINT32": Uint32, "UINT64": Uint64, "BFLOAT16": BFloat16,
	}
	return names[strings.ToUpper(s)]
}

func (k *castKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) == 0 || in[0] == nil {
		return fmt.Errorf("missing input")
	}
	x := in[0]
	to := k.to
	if to == Undefined {
		if len(in) < 2 || in[1] == nil {
			return fmt.Errorf("missing target_type input")
		}
		to = in[1].DType
	}
	if x.DType == Complex64 || x.DType == Complex128 || to == Complex64 || to == Complex128 {
		return fmt.Errorf("cannot cast %s to %s", x.DType, to)
	}
	y := ec.Empty(to, x.Shape...)
	if err := ewCast(ec, y, x, k.saturate, k.round); err != nil {
		ec.Release(y)
		return err
	}
	out[0] = y
	return nil
}

// ewPlain reports whether dt is stored in its natural Go type with its
// natural value (so a Go conversion implements Cast); the sub-byte integer
// types qualify since they are stored unpacked and sign-extended.
func ewPlain(dt DType) bool {
	switch dt {
	case Float, Double, Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64, Bool,
		Int4, Int2, Uint4, Uint2:
		return true
	}
	return false
}

// ewCast converts src into dst (same element count) following Cast's rules.
func ewCast(ec *Context, dst, src *Tensor, saturate bool, round ewE8M0Round) error {
	sdt, ddt := src.DType, dst.DType
	if sdt == ddt {
		CopySlice(dst.Data, src.Data)
		return nil
	}
	if sdt == String {
		return ewCastFromString(ec, dst, src.Strings(), saturate, round)
	}
	if ddt == String {
		return ewCastToString(dst.Strings(), src)
	}
	n := SliceLen(src.Data)
	data := src.Data
	if ewSmallFloat(sdt) {
		// Fast paths for the common half-precision conversions.
		if ddt == Float {
			return ewDecodeF32(dst.Float32s(), data, sdt)
		}
		if sdt == Float16 && ddt == BFloat16 || sdt == BFloat16 && ddt == Float16 ||
			ewSmallFloat(ddt) {
			tmp := ec.Empty(Float, n)
			defer ec.Release(tmp)
			if err := ewDecodeF32(tmp.Float32s(), data, sdt); err != nil {
				return err
			}
			return ewEncodeF32(dst.Data, ddt, tmp.Float32s(), saturate, round)
		}
		tmp := ec.Empty(Float, n)
		defer ec.Release(tmp)
		if err := ewDecodeF32(tmp.Float32s(), data, sdt); err != nil {
			return err
		}
		data = tmp.Data
	} else if !ewPlain(sdt) {
		return fmt.Errorf("cannot cast from %s", sdt)
	}
	switch {
	case ddt == Int4 || ddt == Int2 || ddt == Uint4 || ddt == Uint2:
		tmp := ec.Empty(Int64, n)
		defer ec.Release(tmp)
		ewCastPlain(tmp.Data, data)
		ewWrapBits(dst.Data, ddt, tmp.Int64s())
		return nil
	case ewPlain(ddt):
		ewCastPlain(dst.Data, data)
		return nil
	case ewSmallFloat(ddt):
		if f, ok := data.([]float32); ok {
			return ewEncodeF32(dst.Data, ddt, f, saturate, round)
		}
		if f, ok := data.([]float64); ok {
			return ewEncodeF64(dst.Data, ddt, f, saturate, round)
		}
		tmp := ec.Empty(Double, n)
		defer ec.Release(tmp)
		ewCastPlain(tmp.Data, data)
		return ewEncodeF64(dst.Data, ddt, tmp.Float64s(), saturate, round)
	}
	return fmt.Errorf("cannot cast to %s", ddt)
}

// ewWrapBits keeps the low bits of each value, as a cast to a sub-byte
// integer type does.
func ewWrapBits(dst any, dt DType, src []int64) {
	switch dt {
	case Int4:
		d := dst.([]int8)
		for i, v := range src {
			d[i] = int8(uint8(v)<<4) >> 4
		}
	case Int2:
		d := dst.([]int8)
		for i, v := range src {
			d[i] = int8(uint8(v)<<6) >> 6
		}
	case Uint4:
		d := dst.([]uint8)
		for i, v := range src {
			d[i] = uint8(v) & 0xf
		}
	case Uint2:
		d := dst.([]uint8)
		for i, v := range src {
			d[i] = uint8(v) & 0x3
		}
	}
}

// ewCastPlain converts between natively stored slices ([]float32, []float64,
// the integer slices and []bool).
func ewCastPlain(dst, src any) {
	switch s := src.(type) {
	case []float32:
		ewCastFloatTo(dst, s)
	case []float64:
		ewCastFloatTo(dst, s)
	case []int8:
		ewCastIntTo(dst, s)
	case []int16:
		ewCastIntTo(dst, s)
	case []int32:
		ewCastIntTo(dst, s)
	case []int64:
		ewCastIntTo(dst, s)
	case []uint8:
		ewCastIntTo(dst, s)
	case []uint16:
		ewCastIntTo(dst, s)
	case []uint32:
		ewCastIntTo(dst, s)
	case []uint64:
		ewCastIntTo(dst, s)
	case []bool:
		ewCastBoolTo(dst, s)
	default:
		panic(fmt.Sprintf("ops: ewCastPlain from %T", src))
	}
}

func ewConvert[S, D Number](dst []D, src []S) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = D(v)
	}
}

func ewNonZero[S Number](dst []bool, src []S) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = v != 0
	}
}

// ewFloatToInt converts like a C cast through int64, which gives the
// two's-complement wrap numpy shows for out-of-range values on common
// hardware instead of Go's implementation-defined result.
func ewFloatToInt[S ~float32 | ~float64, D Number](dst []D, src []S) {
	dst = dst[:len(src)]
	for i, v := range src {
		f := float64(v)
		if f >= 9223372036854775808.0 {
			dst[i] = D(uint64(f))
		} else {
			dst[i] = D(int64(f))
		}
	}
}

func ewCastFloatTo[S ~float32 | ~float64](dst any, src []S) {
	switch d := dst.(type) {
	case []float32:
		ewConvert(d, src)
	case []float64:
		ewConvert(d, src)
	case []int8:
		ewFloatToInt(d, src)
	case []int16:
		ewFloatToInt(d, src)
	case []int32:
		ewFloatToInt(d, src)
	case []int64:
		ewFloatToInt(d, src)
	case []uint8:
		ewFloatToInt(d, src)
	case []uint16:
		ewFloatToInt(d, src)
	case []uint32:
		ewFloatToInt(d, src)
	case []uint64:
		ewFloatToInt(d, src)
	case []bool:
		ewNonZero(d, src)
	default:
		panic(fmt.Sprintf("ops: ewCastPlain to %T", dst))
	}
}

func ewCastIntTo[S ~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64](dst any, src []S) {
	switch d := dst.(type) {
	case []float32:
		ewConvert(d, src)
	case []float64:
		ewConvert(d, src)
	case []int8:
		ewConvert(d, src)
	case []int16:
		ewConvert(d, src)
	case []int32:
		ewConvert(d, src)
	case []int64:
		ewConvert(d, src)
	case []uint8:
		ewConvert(d, src)
	case []uint16:
		ewConvert(d, src)
	case []uint32:
		ewConvert(d, src)
	case []uint64:
		ewConvert(d, src)
	case []bool:
		ewNonZero(d, src)
	default:
		panic(fmt.Sprintf("ops: ewCastPlain to %T", dst))
	}
}

func ewBoolTo[D Number](dst []D, src []bool) {
	dst = dst[:len(src)]
	for i, v := range src {
		if v {
			dst[i] = 1
		} else {
			dst[i] = 0
		}
	}
}

func ewCastBoolTo(dst any, src []bool) {
	switch d := dst.(type) {
	case []float32:
		ewBoolTo(d, src)
	case []float64:
		ewBoolTo(d, src)
	case []int8:
		ewBoolTo(d, src)
	case []int16:
		ewBoolTo(d, src)
	case []int32:
		ewBoolTo(d, src)
	case []int64:
		ewBoolTo(d, src)
	case []uint8:
		ewBoolTo(d, src)
	case []uint16:
		ewBoolTo(d, src)
	case []uint32:
		ewBoolTo(d, src)
	case []uint64:
		ewBoolTo(d, src)
	case []bool:
		copy(d, src)
	default:
		panic(fmt.Sprintf("ops: ewCastPlain to %T", dst))
	}
}

// ewCastFromString parses numbers (plain or scientific notation, INF, NaN)
// into dst.
func ewCastFromString(ec *Context, dst *Tensor, src []string, saturate bool, round ewE8M0Round) error {
	n := len(src)
	if dst.DType.IsInteger() || dst.DType == Bool {
		tmp := ec.Empty(Int64, n)
		defer ec.Release(tmp)
		iv := tmp.Int64s()
		for i, s := range src {
			v, err := ewParseIntString(s)
			if err != nil {
				return err
			}
			iv[i] = v
		}
		return ewCast(ec, dst, tmp, saturate, round)
	}
	tmp := ec.Empty(Double, n)
	defer ec.Release(tmp)
	fv := tmp.Float64s()
	for i, s := range src {
		v, err := ewParseFloatString(s)
		if err != nil {
			return err
		}
		fv[i] = v
	}
	return ewCast(ec, dst, tmp, saturate, round)
}

func ewParseFloatString(s string) (float64, error) {
	t := strings.TrimSpace(s)
	v, err := strconv.ParseFloat(t, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return v, nil // ±Inf or ±0, as strtod gives
		}
		switch strings.ToLower(t) {
		case "true":
			return 1, nil
		case "false":
			return 0, nil
		}
		return 0, fmt.Errorf("cannot parse %q as a number", s)
	}
	return v, nil
}

func ewParseIntString(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if v, err := strconv.ParseInt(t, 10, 64); err == nil {
		return v, nil
	}
	if v, err := strconv.ParseUint(t, 10, 64); err == nil {
		return int64(v), nil
	}
	f, err := ewParseFloatString(t)
	if err != nil {
		return 0, err
	}
	if f != f {
		return 0, fmt.Errorf("cannot convert %q to an integer", s)
	}
	if f >= 9223372036854775808.0 {
		return int64(uint64(f)), nil
	}
	return int64(f), nil
}

// ewCastToString formats numbers as numpy does (float repr with the
// shortest round-tripping digits, True/False for booleans).
func ewCastToString(dst []string, src *Tensor) error {
	switch s := src.Data.(type) {
	case []float32:
		for i, v := range s {
			dst[i] = ewFormatFloat(float64(v), 32)
		}
	case []float64:
		for i, v := range s {
			dst[i] = ewFormatFloat(v, 64)
		}
	case []F16:
		for i, v := range s {
			dst[i] = ewFormatMini(float64(v.Float32()), ewF16)
		}
	case []BF16:
		for i, v := range s {
			dst[i] = ewFormatMini(float64(v.Float32()), ewBF16)
		}
	case []bool:
		for i, v := range s {
			if v {
				dst[i] = "True"
			} else {
				dst[i] = "False"
			}
		}
	case []int8:
		ewFormatInts(dst, s)
	case []int16:
		ewFormatInts(dst, s)
	case []int32:
		ewFormatInts(dst, s)
	case []int64:
		ewFormatInts(dst, s)
	case []uint16:
		ewFormatUints(dst, s)
	case []uint32:
		ewFormatUints(dst, s)
	case []uint64:
		ewFormatUints(dst, s)
	case []uint8:
		f, tab := ewFormat8(src.DType)
		switch {
		case src.DType == Float8E8M0:
			for i, v := range s {
				dst[i] = ewFormatFloat(float64(tab[v]), 32)
			}
		case f != nil:
			for i, v := range s {
				dst[i] = ewFormatMini(float64(tab[v]), f)
			}
		default:
			ewFormatUints(dst, s)
		}
	default:
		return fmt.Errorf("cannot cast %s to string", src.DType)
	}
	return nil
}

func ewFormatInts[T ~int8 | ~int16 | ~int32 | ~int64](dst []string, src []T) {
	for i, v := range src {
		dst[i] = strconv.FormatInt(int64(v), 10)
	}
}

func ewFormatUints[T ~uint8 | ~uint16 | ~uint32 | ~uint64](dst []string, src []T) {
	for i, v := range src {
		dst[i] = strconv.FormatUint(uint64(v), 10)
	}
}

// ewFormatFloat formats x like Python's repr of a float of the given bit
// size: the shortest digits that round-trip, positional notation for
// exponents in [-4, 16), scientific otherwise.
func ewFormatFloat(x float64, bitSize int) string {
	switch {
	case x != x:
		return "nan"
	case math.IsInf(x, 1):
		return "inf"
	case math.IsInf(x, -1):
		return "-inf"
	}
	return ewReprDigits(strconv.FormatFloat(x, 'e', -1, bitSize))
}

// ewFormatMini formats a value of a small float format with the fewest
// digits that convert back to the same value.
func ewFormatMini(x float64, f *ewMiniFloat) string {
	if x != x || math.IsInf(x, 0) {
		return ewFormatFloat(x, 64)
	}
	want := f.encode(x, false)
	for prec := 0; prec < 17; prec++ {
		s := strconv.FormatFloat(x, 'e', prec, 64)
		v, _ := strconv.ParseFloat(s, 64)
		if f.encode(v, false) == want {
			return ewReprDigits(s)
		}
	}
	return ewFormatFloat(x, 64)
}

// ewReprDigits rewrites Go's "d.ddde±XX" as Python's float repr.
func ewReprDigits(e string) string {
	neg := strings.HasPrefix(e, "-")
	if neg {
		e = e[1:]
	}
	mant, expStr, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	digits = strings.TrimRight(digits, "0")
	if digits == "" {
		digits = "0"
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	if digits == "0" {
		b.WriteString("0.0")
		return b.String()
	}
	if exp < -4 || exp >= 16 {
		b.WriteByte(digits[0])
		if len(digits) > 1 {
			b.WriteByte('.')
			b.WriteString(digits[1:])
		}
		b.WriteByte('e')
		if exp < 0 {
			b.WriteByte('-')
			exp = -exp
		} else {
			b.WriteByte('+')
		}
		if exp < 10 {
			b.WriteByte('0')
		}
		b.WriteString(strconv.Itoa(exp))
		return b.String()
	}
	if exp < 0 {
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -exp-1))
		b.WriteString(digits)
		return b.String()
	}
	if len(digits) <= exp+1 {
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", exp+1-len(digits)))
		b.WriteString(".0")
		return b.String()
	}
	b.WriteString(digits[:exp+1])
	b.WriteByte('.')
	b.WriteString(digits[exp+1:])
	return b.String()
}

// bitCastKernel implements BitCast: the same bits read as another type of
// the same width.
type bitCastKernel struct{ to DType }

func newBitCastKernel(n *Node) (any, error) {
	if !n.Attrs.Has("to") {
		return nil, fmt.Errorf("missing required attribute \"to\"")
	}
	to := DType(n.Attrs.Int("to", 0))
	if !to.Valid() || to == String {
		return nil, fmt.Errorf("attribute \"to\": cannot bitcast to %s", to)
	}
	return &bitCastKernel{to: to}, nil
}

// ewBitWidth returns the number of bits of one element of dt.
func ewBitWidth(dt DType) int {
	switch dt {
	case Int4, Uint4, Float4E2M1:
		return 4
	case Int2, Uint2:
		return 2
	case Bool:
		return 8
	}
	return dt.Size() * 8
}

// ewRawBytes returns the memory of a backing slice as bytes.
func ewRawBytes(data any) []byte {
	n := SliceLen(data)
	if n == 0 {
		return nil
	}
	var p unsafe.Pointer
	var size int
	switch d := data.(type) {
	case []float32:
		p, size = unsafe.Pointer(&d[0]), 4
	case []float64:
		p, size = unsafe.Pointer(&d[0]), 8
	case []F16:
		p, size = unsafe.Pointer(&d[0]), 2
	case []BF16:
		p, size = unsafe.Pointer(&d[0]), 2
	case []int8:
		p, size = unsafe.Pointer(&d[0]), 1
	case []int16:
		p, size = unsafe.Pointer(&d[0]), 2
	case []int32:
		p, size = unsafe.Pointer(&d[0]), 4
	case []int64:
		p, size = unsafe.Pointer(&d[0]), 8
	case []uint8:
		p, size = unsafe.Pointer(&d[0]), 1
	case []uint16:
		p, size = unsafe.Pointer(&d[0]), 2
	case []uint32:
		p, size = unsafe.Pointer(&d[0]), 4
	case []uint64:
		p, size = unsafe.Pointer(&d[0]), 8
	case []bool:
		p, size = unsafe.Pointer(&d[0]), 1
	case []complex64:
		p, size = unsafe.Pointer(&d[0]), 8
	case []complex128:
		p, size = unsafe.Pointer(&d[0]), 16
	default:
		return nil
	}
	return unsafe.Slice((*byte)(p), n*size)
}

func (k *bitCastKernel) Run(ec *Context, in, out []*Tensor) error {
	x := in[0]
	if x == nil {
		return fmt.Errorf("missing input")
	}
	if x.DType == String {
		return fmt.Errorf("cannot bitcast a string tensor")
	}
	if ewBitWidth(x.DType) != ewBitWidth(k.to) {
		return fmt.Errorf("cannot bitcast %s (%d bits) to %s (%d bits)", x.DType, ewBitWidth(x.DType), k.to, ewBitWidth(k.to))
	}
	y := ec.Empty(k.to, x.Shape...)
	switch {
	case k.to == Bool:
		d := y.Bools()
		for i, b := range ewRawBytes(x.Data) {
			d[i] = b != 0
		}
	case k.to == Int4 || k.to == Int2:
		// Reinterpret the low bits as a signed value.
		d := y.Data.([]int8)
		shift := 8 - ewBitWidth(k.to)
		for i, b := range ewRawBytes(x.Data) {
			d[i] = int8(b<<shift) >> shift
		}
	case k.to == Uint4 || k.to == Uint2 || k.to == Float4E2M1:
		d := y.Data.([]uint8)
		mask := byte(1)<<ewBitWidth(k.to) - 1
		for i, b := range ewRawBytes(x.Data) {
			d[i] = b & mask
		}
	default:
		copy(ewRawBytes(y.Data), ewRawBytes(x.Data))
	}
	out[0] = y
	return nil
}
