//go:build !amd64 || purego

package ops

func asmVecMath(cpuFeatures) vecMath { return vecMath{} }
