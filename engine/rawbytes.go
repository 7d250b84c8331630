package engine

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/agate-ml/agate/ops"
)

// rawBytes serializes a tensor's elements little-endian as ONNX raw_data.
func rawBytes(t *ops.Tensor) ([]byte, error) {
	le := binary.LittleEndian
	switch d := t.Data.(type) {
	case []float32:
		b := make([]byte, 4*len(d))
		for i, v := range d {
			le.PutUint32(b[4*i:], math.Float32bits(v))
		}
		return b, nil
	case []float64:
		b := make([]byte, 8*len(d))
		for i, v := range d {
			le.PutUint64(b[8*i:], math.Float64bits(v))
		}
		return b, nil
	case []int64:
		b := make([]byte, 8*len(d))
		for i, v := range d {
			le.PutUint64(b[8*i:], uint64(v))
		}
		return b, nil
	case []uint64:
		b := make([]byte, 8*len(d))
		for i, v := range d {
			le.PutUint64(b[8*i:], v)
		}
		return b, nil
	case []int32:
		b := make([]byte, 4*len(d))
		for i, v := range d {
			le.PutUint32(b[4*i:], uint32(v))
		}
		return b, nil
	case []uint32:
		b := make([]byte, 4*len(d))
		for i, v := range d {
			le.PutUint32(b[4*i:], v)
		}
		return b, nil
	case []int16:
		b := make([]byte, 2*len(d))
		for i, v := range d {
			le.PutUint16(b[2*i:], uint16(v))
		}
		return b, nil
	case []uint16:
		b := make([]byte, 2*len(d))
		for i, v := range d {
			le.PutUint16(b[2*i:], v)
		}
		return b, nil
	case []ops.F16:
		b := make([]byte, 2*len(d))
		for i, v := range d {
			le.PutUint16(b[2*i:], uint16(v))
		}
		return b, nil
	case []ops.BF16:
		b := make([]byte, 2*len(d))
		for i, v := range d {
			le.PutUint16(b[2*i:], uint16(v))
		}
		return b, nil
	case []int8:
		if per := packedPerByte(t.DType); per > 1 {
			u := make([]uint8, len(d))
			for i, v := range d {
				u[i] = uint8(v)
			}
			return packSubByte(t.DType, u), nil
		}
		b := make([]byte, len(d))
		for i, v := range d {
			b[i] = byte(v)
		}
		return b, nil
	case []uint8:
		if packedPerByte(t.DType) > 1 {
			return packSubByte(t.DType, d), nil
		}
		return append([]byte(nil), d...), nil
	case []bool:
		b := make([]byte, len(d))
		for i, v := range d {
			if v {
				b[i] = 1
			}
		}
		return b, nil
	case []complex64:
		b := make([]byte, 8*len(d))
		for i, v := range d {
			le.PutUint32(b[8*i:], math.Float32bits(real(v)))
			le.PutUint32(b[8*i+4:], math.Float32bits(imag(v)))
		}
		return b, nil
	case []complex128:
		b := make([]byte, 16*len(d))
		for i, v := range d {
			le.PutUint64(b[16*i:], math.Float64bits(real(v)))
			le.PutUint64(b[16*i+8:], math.Float64bits(imag(v)))
		}
		return b, nil
	}
	return nil, fmt.Errorf("cannot serialize %s tensor", t.DType)
}

func packSubByte(dt ops.DType, d []uint8) []byte {
	per := packedPerByte(dt)
	bitsPer := 8 / per
	mask := uint8(1<<bitsPer - 1)
	b := make([]byte, (len(d)+per-1)/per)
	for i, v := range d {
		b[i/per] |= (v & mask) << (uint(i%per) * uint(bitsPer))
	}
	return b
}
