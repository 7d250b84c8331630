//go:build !amd64 || purego

package ops

func asmTreeWalkers(cpuFeatures) treeWalkers { return treeWalkers{} }

var treeQSAsm = treeQSKernels{}

func treeQSAVX2() treeQSKernels { return treeQSKernels{} }

func treeWalkersScalar() treeWalkers { return treeWalkers{} }
