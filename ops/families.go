package ops

// families lists the registration function of every kernel family in this
// package; DefaultRegistry calls each in turn. Each family file defines one
// register function and adds it here (one line per family).
var families = []func(*Registry){
	registerTreeEnsemble,
	registerMLPreprocess,
	registerMLEncoders,
	registerMLFeatures,
	registerMLLinear,
	registerEinsum,
	registerAttention,
	registerQuant,
	registerConv,
	registerPooling,
	registerResize,
	registerImage,
	registerRNN,
	registerSignal,
	registerSequence,
	registerMatMul,
	registerUnary,
	registerActivation,
	registerBinary,
	registerCast,
	registerReduce,
	registerSoftmax,
	registerNorm,
	registerLoss,
	registerTopK,
	registerShape,
	registerGather,
	registerScatter,
	registerIndexing,
	registerConstruct,
}
