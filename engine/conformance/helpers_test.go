package conformance

import "github.com/agate-ml/agate/ops"

func compareF32(got, want []float32, tol Tolerance) error {
	return CompareTensors(ops.FromSlice(ops.Float, got, len(got)), ops.FromSlice(ops.Float, want, len(want)), tol, nil)
}
