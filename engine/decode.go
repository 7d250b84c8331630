package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"github.com/agate-ml/agate/engine/internal/onnxpb"
	"github.com/agate-ml/agate/ops"
	"google.golang.org/protobuf/proto"
)

// maxModelSize bounds how much DecodeReader will read (protobuf itself
// limits messages to 2 GiB; larger weights live in external data files).
const maxModelSize int64 = 2 << 30

// decodeModel parses a serialized ModelProto.
func decodeModel(b []byte) (*onnxpb.ModelProto, error) {
	if len(b) == 0 {
		return nil, errors.New("empty model data")
	}
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("decoding ONNX ModelProto (truncated or not an ONNX file?): %w", err)
	}
	if m.Graph == nil {
		return nil, errors.New("ONNX model has no graph (not an ONNX model file?)")
	}
	return m, nil
}

func readAllLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxModelSize+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > maxModelSize {
		return nil, fmt.Errorf("model larger than %d bytes: store weights as external data", maxModelSize)
	}
	return b, nil
}

// externalLoader reads tensors stored outside the model file, relative to
// the model's directory. An empty dir forbids external data. With files
// set (LoadFile), external files are mapped and tensors view them in place.
type externalLoader struct {
	dir   string
	files *mappedFiles
}

// read returns the want bytes of t's external data (want < 0: the length
// the tensor declares). The file must be a regular file inside the model
// folder (no symbolic link leading out of it, no device, FIFO or folder),
// and only the tensor's bytes are read, unless the file is mapped (then
// the result is a slice of the mapping).
func (l *externalLoader) read(t *onnxpb.TensorProto, want int64) ([]byte, error) {
	var location string
	offset, length := int64(0), int64(-1)
	for _, kv := range t.ExternalData {
		switch kv.GetKey() {
		case "location":
			location = kv.GetValue()
		case "offset":
			v, err := strconv.ParseInt(kv.GetValue(), 10, 64)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("bad external data offset %q", kv.GetValue())
			}
			offset = v
		case "length":
			v, err := strconv.ParseInt(kv.GetValue(), 10, 64)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("bad external data length %q", kv.GetValue())
			}
			length = v
		}
	}
	if location == "" {
		return nil, errors.New("external data without a location")
	}
	if l == nil || l.dir == "" {
		return nil, fmt.Errorf("tensor stored in external file %q, but the model was not loaded from a file (use LoadFile or WithBaseDir)", location)
	}
	clean := filepath.Clean(filepath.FromSlash(location))
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("external data location %q escapes the model directory", location)
	}
	if want >= 0 && length >= 0 && length != want {
		return nil, fmt.Errorf("external data %q: %d bytes declared, the tensor's type and shape need %d", location, length, want)
	}
	if length < 0 {
		length = want
	}
	path, err := l.resolve(clean, location)
	if err != nil {
		return nil, err
	}
	// stat before opening: opening a FIFO would block
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading external data: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("external data %q is not a regular file (%s)", location, st.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading external data: %w", err)
	}
	defer f.Close()
	// The file checked above may have been replaced since: check the one
	// opened.
	if st, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("reading external data: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("external data %q is not a regular file (%s)", location, st.Mode().Type())
	}
	size := st.Size()
	if offset > size {
		return nil, fmt.Errorf("external data offset %d beyond the end of %q (%d bytes)", offset, location, size)
	}
	if length < 0 {
		length = size - offset
	}
	if length > size-offset {
		return nil, fmt.Errorf("external data %q: %d bytes requested at offset %d, only %d present", location, length, offset, size-offset)
	}
	if b, ok := l.files.mapFile(path, f, size); ok {
		return b[offset : offset+length : offset+length], nil
	}
	data := make([]byte, length)
	if _, err := f.ReadAt(data, offset); err != nil && !(errors.Is(err, io.EOF) && length == 0) {
		return nil, fmt.Errorf("reading external data %q: %w", location, err)
	}
	return data, nil
}

// resolve returns the path of the external file clean, refusing one whose
// symbolic links lead out of the model folder.
func (l *externalLoader) resolve(clean, location string) (string, error) {
	path := filepath.Join(l.dir, clean)
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("reading external data: %w", err)
	}
	dir, err := filepath.EvalSymlinks(l.dir)
	if err != nil {
		return "", fmt.Errorf("reading external data: %w", err)
	}
	if rel, err := filepath.Rel(dir, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", fmt.Errorf("external data location %q is a link out of the model directory", location)
	}
	return real, nil
}

// maxElements bounds a decoded tensor (guards against absurd dims in corrupt files).
const maxElements = 1 << 34

// decodeTensor converts a TensorProto to an ops.Tensor (a fresh heap copy).
func decodeTensor(t *onnxpb.TensorProto, ext *externalLoader) (*ops.Tensor, error) {
	dt := ops.DType(t.GetDataType())
	if !dt.Valid() {
		return nil, fmt.Errorf("tensor %q: unknown data type %d", t.GetName(), t.GetDataType())
	}
	shape := make([]int, len(t.Dims))
	n := int64(1)
	for i, d := range t.Dims {
		if d < 0 {
			return nil, fmt.Errorf("tensor %q: negative dimension %d", t.GetName(), d)
		}
		shape[i] = int(d)
		if d > 0 && n > maxElements/d {
			return nil, fmt.Errorf("tensor %q: shape %v is too large", t.GetName(), t.Dims)
		}
		n *= d
	}
	if t.Segment != nil {
		return nil, fmt.Errorf("tensor %q: segmented tensors are not supported", t.GetName())
	}
	count := int(n)
	raw := t.RawData
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		want := int64(-1)
		if size := int64(dt.Size()); size > 0 && dt != ops.String {
			per := int64(packedPerByte(dt))
			want = (n*size + per - 1) / per
		}
		var err error
		if raw, err = ext.read(t, want); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", t.GetName(), err)
		}
	} else if raw == nil && hasNoTypedData(t) && count > 0 {
		return nil, fmt.Errorf("tensor %q: %s%v has no data", t.GetName(), dt, shape)
	}
	var data any
	var err error
	if raw != nil || (t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL) {
		data, err = decodeRaw(dt, raw, count)
	} else {
		data, err = decodeTyped(dt, t, count)
	}
	if err != nil {
		return nil, fmt.Errorf("tensor %q (%s%v): %w", t.GetName(), dt, shape, err)
	}
	return &ops.Tensor{DType: dt, Shape: shape, Data: data}, nil
}

func hasNoTypedData(t *onnxpb.TensorProto) bool {
	return len(t.FloatData) == 0 && len(t.Int32Data) == 0 && len(t.StringData) == 0 &&
		len(t.Int64Data) == 0 && len(t.DoubleData) == 0 && len(t.Uint64Data) == 0
}

// packedPerByte returns how many elements share a byte in raw storage.
func packedPerByte(dt ops.DType) int {
	switch dt {
	case ops.Int4, ops.Uint4, ops.Float4E2M1:
		return 2
	case ops.Int2, ops.Uint2:
		return 4
	}
	return 1
}

// littleEndianHost is true where memory order is ONNX's raw_data order.
var littleEndianHost = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// unalignedLoads is true on the architectures whose ordinary loads and
// stores take any address, where a view of raw_data need not be aligned
// for its element type: a mapped file places raw_data at whatever offset
// the writer left it. Go allows misaligned pointers to types without
// pointers (runtime/checkptr.go, go.dev/issue/37298), and agate's
// assembly reads tensors with unaligned loads.
const unalignedLoads = runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64"

// aliasRaw returns raw itself viewed as n elements of dt, without a copy,
// when the host is little-endian, raw is aligned for dt (or need not be)
// and dt's Go element has raw_data's layout; nil otherwise. raw is either
// a byte field of the model's own decoded protobuf, which nothing else
// holds, or a slice of a mapped model or external data file that lives as
// long as the model (mapped.go): either way a BERT-base's 440 MB of
// weights are not copied a second time.
func aliasRaw(dt ops.DType, raw []byte, n int) any {
	if !littleEndianHost || n == 0 {
		return nil
	}
	if !unalignedLoads && uintptr(unsafe.Pointer(&raw[0]))%uintptr(max(dt.Size(), 1)) != 0 {
		return nil
	}
	p := unsafe.Pointer(&raw[0])
	switch dt {
	case ops.Float:
		return unsafe.Slice((*float32)(p), n)
	case ops.Double:
		return unsafe.Slice((*float64)(p), n)
	case ops.Float16:
		return unsafe.Slice((*ops.F16)(p), n)
	case ops.BFloat16:
		return unsafe.Slice((*ops.BF16)(p), n)
	case ops.Int32:
		return unsafe.Slice((*int32)(p), n)
	case ops.Int64:
		return unsafe.Slice((*int64)(p), n)
	}
	return nil
}

func decodeRaw(dt ops.DType, raw []byte, n int) (any, error) {
	if dt == ops.String {
		return nil, errors.New("string tensors cannot use raw_data")
	}
	if per := packedPerByte(dt); per > 1 {
		want := (n + per - 1) / per
		if len(raw) != want {
			return nil, fmt.Errorf("raw data has %d bytes, want %d", len(raw), want)
		}
		return unpackSubByte(dt, raw, n), nil
	}
	size := dt.Size()
	if len(raw) != n*size {
		return nil, fmt.Errorf("raw data has %d bytes, want %d", len(raw), n*size)
	}
	if v := aliasRaw(dt, raw, n); v != nil {
		return v, nil
	}
	le := binary.LittleEndian
	switch dt {
	case ops.Float:
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
		return out, nil
	case ops.Double:
		out := make([]float64, n)
		for i := range out {
			out[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
		}
		return out, nil
	case ops.Float16:
		out := make([]ops.F16, n)
		for i := range out {
			out[i] = ops.F16(le.Uint16(raw[2*i:]))
		}
		return out, nil
	case ops.BFloat16:
		out := make([]ops.BF16, n)
		for i := range out {
			out[i] = ops.BF16(le.Uint16(raw[2*i:]))
		}
		return out, nil
	case ops.Int8:
		out := make([]int8, n)
		for i := range out {
			out[i] = int8(raw[i])
		}
		return out, nil
	case ops.Uint8, ops.Float8E4M3FN, ops.Float8E4M3FNUZ, ops.Float8E5M2, ops.Float8E5M2FNUZ, ops.Float8E8M0:
		return append([]uint8(nil), raw...), nil
	case ops.Bool:
		out := make([]bool, n)
		for i := range out {
			out[i] = raw[i] != 0
		}
		return out, nil
	case ops.Int16:
		out := make([]int16, n)
		for i := range out {
			out[i] = int16(le.Uint16(raw[2*i:]))
		}
		return out, nil
	case ops.Uint16:
		out := make([]uint16, n)
		for i := range out {
			out[i] = le.Uint16(raw[2*i:])
		}
		return out, nil
	case ops.Int32:
		out := make([]int32, n)
		for i := range out {
			out[i] = int32(le.Uint32(raw[4*i:]))
		}
		return out, nil
	case ops.Uint32:
		out := make([]uint32, n)
		for i := range out {
			out[i] = le.Uint32(raw[4*i:])
		}
		return out, nil
	case ops.Int64:
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(le.Uint64(raw[8*i:]))
		}
		return out, nil
	case ops.Uint64:
		out := make([]uint64, n)
		for i := range out {
			out[i] = le.Uint64(raw[8*i:])
		}
		return out, nil
	case ops.Complex64:
		out := make([]complex64, n)
		for i := range out {
			out[i] = complex(math.Float32frombits(le.Uint32(raw[8*i:])), math.Float32frombits(le.Uint32(raw[8*i+4:])))
		}
		return out, nil
	case ops.Complex128:
		out := make([]complex128, n)
		for i := range out {
			out[i] = complex(math.Float64frombits(le.Uint64(raw[16*i:])), math.Float64frombits(le.Uint64(raw[16*i+8:])))
		}
		return out, nil
	}
	return nil, fmt.Errorf("raw data of type %s is not supported", dt)
}

// unpackSubByte expands 4-bit and 2-bit elements (low bits first) to one
// element per byte, sign-extending the signed types.
func unpackSubByte(dt ops.DType, raw []byte, n int) any {
	per := packedPerByte(dt)
	bitsPer := 8 / per
	mask := byte(1<<bitsPer - 1)
	signed := dt == ops.Int4 || dt == ops.Int2
	if signed {
		out := make([]int8, n)
		for i := range out {
			v := (raw[i/per] >> (uint(i%per) * uint(bitsPer))) & mask
			out[i] = int8(v<<(8-bitsPer)) >> (8 - bitsPer)
		}
		return out
	}
	out := make([]uint8, n)
	for i := range out {
		out[i] = (raw[i/per] >> (uint(i%per) * uint(bitsPer))) & mask
	}
	return out
}

func checkCount(got, want int) error {
	if got != want {
		return fmt.Errorf("%d values stored, shape needs %d", got, want)
	}
	return nil
}

func decodeTyped(dt ops.DType, t *onnxpb.TensorProto, n int) (any, error) {
	switch dt {
	case ops.Float:
		if err := checkCount(len(t.FloatData), n); err != nil {
			return nil, err
		}
		return append([]float32(nil), t.FloatData...), nil
	case ops.Double:
		if err := checkCount(len(t.DoubleData), n); err != nil {
			return nil, err
		}
		return append([]float64(nil), t.DoubleData...), nil
	case ops.Int64:
		if err := checkCount(len(t.Int64Data), n); err != nil {
			return nil, err
		}
		return append([]int64(nil), t.Int64Data...), nil
	case ops.Uint32:
		if err := checkCount(len(t.Uint64Data), n); err != nil {
			return nil, err
		}
		out := make([]uint32, n)
		for i, v := range t.Uint64Data {
			out[i] = uint32(v)
		}
		return out, nil
	case ops.Uint64:
		if err := checkCount(len(t.Uint64Data), n); err != nil {
			return nil, err
		}
		return append([]uint64(nil), t.Uint64Data...), nil
	case ops.String:
		if err := checkCount(len(t.StringData), n); err != nil {
			return nil, err
		}
		out := make([]string, n)
		for i, s := range t.StringData {
			out[i] = string(s)
		}
		return out, nil
	case ops.Complex64:
		if err := checkCount(len(t.FloatData), 2*n); err != nil {
			return nil, err
		}
		out := make([]complex64, n)
		for i := range out {
			out[i] = complex(t.FloatData[2*i], t.FloatData[2*i+1])
		}
		return out, nil
	case ops.Complex128:
		if err := checkCount(len(t.DoubleData), 2*n); err != nil {
			return nil, err
		}
		out := make([]complex128, n)
		for i := range out {
			out[i] = complex(t.DoubleData[2*i], t.DoubleData[2*i+1])
		}
		return out, nil
	}
	// Everything else is carried in int32_data; sub-byte types are packed
	// there one byte per int32.
	src := t.Int32Data
	if per := packedPerByte(dt); per > 1 {
		want := (n + per - 1) / per
		if len(src) != want && len(src) != n {
			return nil, fmt.Errorf("%d values stored, shape needs %d packed bytes", len(src), want)
		}
		if len(src) == want {
			raw := make([]byte, len(src))
			for i, v := range src {
				raw[i] = byte(v)
			}
			return unpackSubByte(dt, raw, n), nil
		}
	}
	if err := checkCount(len(src), n); err != nil {
		return nil, err
	}
	switch dt {
	case ops.Int32:
		return append([]int32(nil), src...), nil
	case ops.Int16:
		return convertInt32[int16](src), nil
	case ops.Int8, ops.Int4, ops.Int2:
		return convertInt32[int8](src), nil
	case ops.Uint16:
		return convertInt32[uint16](src), nil
	case ops.Uint8, ops.Uint4, ops.Uint2, ops.Float8E4M3FN, ops.Float8E4M3FNUZ, ops.Float8E5M2, ops.Float8E5M2FNUZ, ops.Float8E8M0, ops.Float4E2M1:
		return convertInt32[uint8](src), nil
	case ops.Float16:
		return convertInt32[ops.F16](src), nil
	case ops.BFloat16:
		return convertInt32[ops.BF16](src), nil
	case ops.Bool:
		out := make([]bool, n)
		for i, v := range src {
			out[i] = v != 0
		}
		return out, nil
	}
	return nil, fmt.Errorf("typed data of type %s is not supported", dt)
}

func convertInt32[T ~int8 | ~int16 | ~uint8 | ~uint16](src []int32) []T {
	out := make([]T, len(src))
	for i, v := range src {
		out[i] = T(v)
	}
	return out
}

// decodeSparse densifies a SparseTensorProto.
func decodeSparse(sp *onnxpb.SparseTensorProto, ext *externalLoader) (*ops.Tensor, error) {
	if sp.Values == nil {
		return nil, errors.New("sparse tensor without values")
	}
	vals, err := decodeTensor(sp.Values, ext)
	if err != nil {
		return nil, err
	}
	shape := make([]int, len(sp.Dims))
	for i, d := range sp.Dims {
		if d < 0 {
			return nil, fmt.Errorf("sparse tensor: negative dimension %d", d)
		}
		shape[i] = int(d)
	}
	dense := ops.NewTensor(vals.DType, shape...)
	total := dense.Len()
	nnz := vals.Len()
	var idx []int64
	if sp.Indices != nil {
		it, err := decodeTensor(sp.Indices, ext)
		if err != nil {
			return nil, err
		}
		if idx, err = it.AsInt64s(); err != nil {
			return nil, fmt.Errorf("sparse tensor indices: %w", err)
		}
		// [nnz, rank] coordinates become linear indices
		if len(it.Shape) == 2 {
			rank := it.Shape[1]
			if rank != len(shape) {
				return nil, fmt.Errorf("sparse tensor indices have rank %d, dense rank %d", rank, len(shape))
			}
			strides := ops.Strides(shape)
			lin := make([]int64, it.Shape[0])
			for i := range lin {
				for d := 0; d < rank; d++ {
					lin[i] += idx[i*rank+d] * int64(strides[d])
				}
			}
			idx = lin
		}
	}
	if len(idx) != nnz {
		return nil, fmt.Errorf("sparse tensor: %d indices for %d values", len(idx), nnz)
	}
	for i, p := range idx {
		if p < 0 || p >= int64(total) {
			return nil, fmt.Errorf("sparse tensor index %d out of range [0, %d)", p, total)
		}
		ops.CopySlice(ops.Subslice(dense.Data, int(p), int(p)+1), ops.Subslice(vals.Data, i, i+1))
	}
	return dense, nil
}

// decodeType converts a TypeProto.
func decodeType(tp *onnxpb.TypeProto) (*ops.Type, error) {
	if tp == nil {
		return nil, nil
	}
	switch v := tp.Value.(type) {
	case *onnxpb.TypeProto_TensorType:
		t := &ops.Type{Kind: ops.KindTensor, DType: ops.DType(v.TensorType.GetElemType())}
		if s := v.TensorType.Shape; s != nil {
			t.HasShape = true
			t.Shape = decodeDims(s)
		}
		return t, nil
	case *onnxpb.TypeProto_SparseTensorType:
		t := &ops.Type{Kind: ops.KindSparseTensor, DType: ops.DType(v.SparseTensorType.GetElemType())}
		if s := v.SparseTensorType.Shape; s != nil {
			t.HasShape = true
			t.Shape = decodeDims(s)
		}
		return t, nil
	case *onnxpb.TypeProto_SequenceType:
		e, err := decodeType(v.SequenceType.ElemType)
		if err != nil {
			return nil, err
		}
		return &ops.Type{Kind: ops.KindSequence, Elem: e}, nil
	case *onnxpb.TypeProto_MapType:
		e, err := decodeType(v.MapType.ValueType)
		if err != nil {
			return nil, err
		}
		return &ops.Type{Kind: ops.KindMap, DType: ops.DType(v.MapType.GetKeyType()), Elem: e}, nil
	case *onnxpb.TypeProto_OptionalType:
		e, err := decodeType(v.OptionalType.ElemType)
		if err != nil {
			return nil, err
		}
		return &ops.Type{Kind: ops.KindOptional, Elem: e}, nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("unsupported type %T", tp.Value)
}

func decodeDims(s *onnxpb.TensorShapeProto) []ops.Dim {
	dims := make([]ops.Dim, len(s.Dim))
	for i, d := range s.Dim {
		switch v := d.Value.(type) {
		case *onnxpb.TensorShapeProto_Dimension_DimValue:
			dims[i] = ops.Dim{Value: v.DimValue}
		case *onnxpb.TensorShapeProto_Dimension_DimParam:
			dims[i] = ops.Dim{Value: -1, Param: v.DimParam}
		default:
			dims[i] = ops.Dim{Value: -1}
		}
	}
	return dims
}
