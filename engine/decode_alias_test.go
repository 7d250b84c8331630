package engine

import (
	"encoding/binary"
	"math"
	"testing"
	"unsafe"

	"github.com/agate-ml/agate/ops"
)

// TestDecodeRawAlias: aligned raw_data is viewed in place, unaligned raw
// data too where loads take any address (else it is copied), and both read
// the same values.
func TestDecodeRawAlias(t *testing.T) {
	buf := make([]byte, 4*5+1)
	for _, off := range []int{0, 1} {
		raw := buf[off : off+20]
		for i := 0; i < 5; i++ {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(i)+0.5))
		}
		v, err := decodeRaw(ops.Float, raw, 5)
		if err != nil {
			t.Fatal(err)
		}
		f := v.([]float32)
		for i, x := range f {
			if x != float32(i)+0.5 {
				t.Fatalf("offset %d: element %d = %v", off, i, x)
			}
		}
		aliased := unsafe.Pointer(&f[0]) == unsafe.Pointer(&raw[0])
		if want := (off == 0 || unalignedLoads) && littleEndianHost; aliased != want {
			t.Errorf("offset %d: aliased %v, want %v", off, aliased, want)
		}
	}
}
