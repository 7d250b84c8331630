package engine

import (
	"os"
	"syscall"
	"unsafe"
)

// adviseMapped tells the kernel how a model's mapping is read. WILLNEED
// starts reading the file into the page cache in the background (not into
// the process: pages count towards its resident set only once touched),
// so that faulting the weights in one tensor at a time does not wait on
// the disk for each. NOHUGEPAGE keeps a touch from mapping a whole large
// folio: on Linux 6.18 with ext4, one 128-token run of a BERT-base reading
// its embedding rows, biases and norms made 150 MB of the file resident
// with huge folios mapped whole, 28 MB without.
func adviseMapped(b []byte) {
	syscall.Madvise(b, syscall.MADV_NOHUGEPAGE)
	syscall.Madvise(b, syscall.MADV_WILLNEED)
}

// dropPages takes the whole pages of b, a part of a mapping made by
// mapReadOnly, out of the process's resident set. b's contents do not
// change: the mapping is private, read-only and file-backed, so touching
// a dropped page reads it back from the page cache.
func dropPages(b []byte) {
	if len(b) == 0 {
		return
	}
	page := uintptr(os.Getpagesize())
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := (start+page-1)&^(page-1) - start
	hi := (start+uintptr(len(b)))&^(page-1) - start
	if int(lo) < int(hi) {
		syscall.Madvise(b[lo:hi], syscall.MADV_DONTNEED)
	}
}
