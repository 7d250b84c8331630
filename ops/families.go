package ops

// families lists the registration function of every kernel family in this
// package; DefaultRegistry calls each in turn. Each family file defines one
// register function and adds it here (one line per family). A family in a
// subpackage exports Register instead and is added by engine.DefaultRegistry.
var families = []func(*Registry){
	registerFused,
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
	registerSequence,
	registerMatMul,
	registerMatMulContrib,
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
	registerStrings,
	registerRandom,
	registerNewOps,
	registerFlexAttention,
	registerAttentionMS,
}
