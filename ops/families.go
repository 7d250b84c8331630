package ops

// families lists the registration function of every kernel family in this
// package; DefaultRegistry calls each in turn. Each family file defines one
// register function and adds it here (one line per family).
var families = []func(*Registry){}
