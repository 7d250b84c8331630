package ops

import (
	"encoding/gob"
	"math"
	"os"
	"testing"
)

type scratchDump struct {
	Op     string
	Attrs  []*Attr
	Scaler []*Attr
	X      []float32
	Shape  []int
}

func scratchLoad(tb testing.TB, name string) (*treeDef, []float32, int) {
	f, err := os.Open("/tmp/tp/" + name + ".gob")
	if err != nil {
		tb.Skip(err)
	}
	defer f.Close()
	var d scratchDump
	if err := gob.NewDecoder(f).Decode(&d); err != nil {
		tb.Fatal(err)
	}
	a := NewAttrs(d.Attrs...)
	var def *treeDef
	if d.Op == "TreeEnsembleRegressor" {
		def, err = parseTreeDefV3(a, "target", int(a.Int("n_targets", 0)))
	} else {
		ints, _ := a.Ints("classlabels_int64s")
		strs, _ := a.Strings("classlabels_strings")
		def, err = parseTreeDefV3(a, "class", max(len(ints), len(strs)))
	}
	if err != nil {
		tb.Fatal(err)
	}
	x := append([]float32(nil), d.X...)
	c := d.Shape[1]
	if d.Scaler != nil {
		s := NewAttrs(d.Scaler...)
		off, _ := s.Floats("offset")
		sc, _ := s.Floats("scale")
		for i := range x {
			j := i % c
			x[i] = (x[i] - off[j%len(off)]) * sc[j%len(sc)]
		}
	}
	return def, x, c
}

func tile(x []float32, c, n int) []float32 {
	rows := len(x) / c
	out := make([]float32, n*c)
	for r := 0; r < n; r++ {
		copy(out[r*c:r*c+c], x[(r%rows)*c:(r%rows)*c+c])
	}
	return out
}

var sink float32

func BenchmarkScratchCurrent(b *testing.B) {
	def, x, c := scratchLoad(b, "rf_regressor_5f")
	f, _ := compileForest[float32](def)
	for _, n := range []int{1, 100, 10000} {
		xx := tile(x, c, n)
		y := NewTensor(Float, n, 1)
		b.Run(itoa(n), func(b *testing.B) {
			for b.Loop() {
				treeRegressionRows(f, xx, c, y, 0, n)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/row")
		})
	}
	_ = math.Inf
}

func itoa(n int) string {
	switch n {
	case 1:
		return "b1"
	case 100:
		return "b100"
	}
	return "b10000"
}
