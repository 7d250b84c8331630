package cuda

import (
	"fmt"

	"github.com/agate-ml/agate/ops"
)

// Ops the device implements, by "domain/op". Each entry checks the node's
// attributes and the types known at plan time; shapes are checked again at
// run time, where an unsupported case runs the node's CPU kernel instead.
var deviceOps = map[string]func(n *ops.Node) string{
	"ai.onnx/Add":                          binarySupport,
	"ai.onnx/Sub":                          binarySupport,
	"ai.onnx/Mul":                          binarySupport,
	"ai.onnx/Div":                          binarySupport,
	"ai.onnx/Relu":                         unarySupport,
	"ai.onnx/Tanh":                         unarySupport,
	"ai.onnx/Sigmoid":                      unarySupport,
	"ai.onnx/Erf":                          unarySupport,
	"ai.onnx/Gelu":                         geluSupport,
	"ai.onnx/Softmax":                      softmaxSupport,
	"ai.onnx/LayerNormalization":           layerNormSupport,
	"ai.onnx/MatMul":                       floatInputs(2),
	"ai.onnx/Gemm":                         gemmSupport,
	"ai.onnx/Gather":                       gatherSupport,
	"ai.onnx/Reshape":                      viewSupport,
	"ai.onnx/Identity":                     viewSupport,
	"com.microsoft/Gelu":                   unarySupport,
	"com.microsoft/BiasGelu":               floatInputs(2),
	"com.microsoft/SkipLayerNormalization": skipLayerNormSupport,
	"ai.agate/FusedMatMul":                 floatInputs(3),
	"ai.agate/SelfAttention":               floatInputs(4),
	"ai.onnx.ml/TreeEnsembleRegressor":     treeSupport,
}

// Supported reports whether n can run on the device, and if not, why (for
// the placement log).
func Supported(n *ops.Node) (bool, string) {
	check, ok := deviceOps[n.Domain+"/"+n.OpType]
	if !ok {
		return false, fmt.Sprintf("no CUDA kernel for %s/%s", n.Domain, n.OpType)
	}
	if why := check(n); why != "" {
		return false, why
	}
	return true, ""
}

// inputType returns the plan-time element type of input i (Undefined when
// unknown).
func inputType(n *ops.Node, i int) (ops.DType, bool) {
	if i < len(n.ConstInputs) && n.ConstInputs[i] != nil {
		return n.ConstInputs[i].DType, true
	}
	if i < len(n.InputTypes) && n.InputTypes[i] != nil && n.InputTypes[i].Kind == ops.KindTensor && n.InputTypes[i].DType.Valid() {
		return n.InputTypes[i].DType, true
	}
	return 0, false
}

// floatInputs accepts nodes whose first k inputs, where present and of a
// known type, are float32.
func floatInputs(k int) func(n *ops.Node) string {
	return func(n *ops.Node) string {
		for i := 0; i < k && i < len(n.Inputs); i++ {
			if n.Inputs[i] == "" {
				continue
			}
			if dt, ok := inputType(n, i); ok && dt != ops.Float {
				return fmt.Sprintf("input %d is %s; the CUDA kernels take float32", i, dt)
			}
		}
		return ""
	}
}

// onlyFirstOutput rejects nodes that use optional outputs beyond the first.
func onlyFirstOutput(n *ops.Node, op string) string {
	for _, o := range n.Outputs[min(1, len(n.Outputs)):] {
		if o != "" {
			return op + " with optional outputs is not supported on the GPU"
		}
	}
	return ""
}

func binarySupport(n *ops.Node) string { return floatInputs(2)(n) }
func unarySupport(n *ops.Node) string  { return floatInputs(1)(n) }

func geluSupport(n *ops.Node) string {
	switch a := n.Attrs.String("approximate", "none"); a {
	case "none", "tanh":
	default:
		return "Gelu approximate=" + a
	}
	return floatInputs(1)(n)
}

func softmaxSupport(n *ops.Node) string {
	// The kernel normalises along the last axis. From opset 13 that is
	// axis -1; before, the input is flattened at axis (default 1), which
	// is the same for the rank-2 inputs classifiers produce; other ranks
	// are checked at run time.
	if n.Version < 13 {
		if axis := n.Attrs.Int("axis", 1); axis != -1 && axis != 1 {
			return fmt.Sprintf("Softmax-%d with axis %d", n.Version, axis)
		}
	}
	return floatInputs(1)(n)
}

func layerNormSupport(n *ops.Node) string {
	if why := onlyFirstOutput(n, "LayerNormalization"); why != "" {
		return why
	}
	return floatInputs(3)(n)
}

func skipLayerNormSupport(n *ops.Node) string {
	for i := 1; i < 3 && i < len(n.Outputs); i++ {
		if n.Outputs[i] != "" {
			return "SkipLayerNormalization with mean or inv_std_var outputs is not supported on the GPU"
		}
	}
	return floatInputs(5)(n)
}

func gemmSupport(n *ops.Node) string { return floatInputs(3)(n) }

func gatherSupport(n *ops.Node) string {
	if n.Attrs.Int("axis", 0) != 0 {
		return "Gather along an axis other than 0"
	}
	if dt, ok := inputType(n, 0); ok && dt != ops.Float {
		return fmt.Sprintf("Gather of %s data", dt)
	}
	if dt, ok := inputType(n, 1); ok && dt != ops.Int64 && dt != ops.Int32 {
		return fmt.Sprintf("Gather with %s indices", dt)
	}
	return ""
}

func viewSupport(n *ops.Node) string {
	if n.OpType == "Reshape" && n.Attrs.Int("allowzero", 0) != 0 {
		return "Reshape with allowzero"
	}
	return ""
}

func treeSupport(n *ops.Node) string {
	if why := forestSupport(n); why != "" {
		return why
	}
	if dt, ok := inputType(n, 0); ok && dt != ops.Float {
		return fmt.Sprintf("tree ensemble on %s input", dt)
	}
	return ""
}

// hostInputs lists, per "domain/op", the inputs the device reads on the
// host (shapes), which must not be produced on the device.
var hostInputs = map[string][]int{
	"ai.onnx/Reshape": {1},
}

// HostInputs returns the inputs of n the device implementation reads on the
// host.
func HostInputs(n *ops.Node) []int { return hostInputs[n.Domain+"/"+n.OpType] }
