//go:build cuda

package cuda

/*
#cgo CFLAGS: -I${SRCDIR}/kernels
#cgo LDFLAGS: -lagatecuda -lcublasLt -lcublas -lcudart -lstdc++ -lm
#include <stdio.h>
#include <stdlib.h>
#include <cuda_runtime.h>
#include <cublas_v2.h>
#include <cublasLt.h>
#include "agate_cuda.h"

static cudaError_t agate_device_info(int dev, char *name, size_t name_len, int *major, int *minor,
                                     size_t *total_mem, int *sms) {
	struct cudaDeviceProp p;
	cudaError_t e = cudaGetDeviceProperties(&p, dev);
	if (e != cudaSuccess) {
		return e;
	}
	snprintf(name, name_len, "%s", p.name);
	*major = p.major;
	*minor = p.minor;
	*total_mem = p.totalGlobalMem;
	*sms = p.multiProcessorCount;
	return cudaSuccess;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// Error is a failed CUDA runtime, cuBLAS or kernel call.
type Error struct {
	Op   string // the call, e.g. "cudaMalloc"
	Code int
	Name string // e.g. "cudaErrorInsufficientDriver"
	Msg  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("cuda: %s: %s (%d): %s", e.Op, e.Name, e.Code, e.Msg)
}

// check converts a CUDA runtime status into an error.
func check(op string, e C.cudaError_t) error {
	if e == C.cudaSuccess {
		return nil
	}
	return &Error{Op: op, Code: int(e), Name: C.GoString(C.cudaGetErrorName(e)), Msg: C.GoString(C.cudaGetErrorString(e))}
}

// checkBlas converts a cuBLAS status into an error.
func checkBlas(op string, s C.cublasStatus_t) error {
	if s == C.CUBLAS_STATUS_SUCCESS {
		return nil
	}
	return &Error{Op: op, Code: int(s), Name: C.GoString(C.cublasGetStatusName(s)), Msg: C.GoString(C.cublasGetStatusString(s))}
}

// noDevice reports whether a runtime error means that no GPU can be used.
func noDevice(err error) bool {
	var ce *Error
	if !errors.As(err, &ce) {
		return false
	}
	switch C.cudaError_t(ce.Code) {
	case C.cudaErrorInsufficientDriver, C.cudaErrorNoDevice, C.cudaErrorInvalidDevice,
		C.cudaErrorInitializationError, C.cudaErrorSystemDriverMismatch, C.cudaErrorCompatNotSupportedOnDevice,
		C.cudaErrorDevicesUnavailable:
		return true
	}
	return false
}

// maxDevices bounds the ordinals Open accepts.
const maxDevices = 16

// devices holds the process's device handles, each opened once.
var devices [maxDevices]struct {
	once sync.Once
	dev  *Device
	err  error
}

// Device is an opened CUDA GPU: its memory pool and a set of lanes
// (stream, cuBLAS and cuBLASLt handles, GEMM workspace) that concurrent
// runs take turns on. A Device lives as long as the process.
type Device struct {
	ordinal int
	desc    string
	sms     int
	pool    *Pool
	lanes   chan *lane
	logf    func(format string, args ...any)
}

// lane is one stream with its library handles; a run holds one lane.
type lane struct {
	stream  C.cudaStream_t
	blas    C.cublasHandle_t
	lt      C.cublasLtHandle_t
	ws      DevicePtr
	wsBytes int
}

const laneWorkspace = 4 << 20 // cuBLASLt workspace per lane

// Open returns the device with the given ordinal, opening it on first use.
// Later calls return the same device (their options are ignored). Errors
// wrap ErrNoDevice when the driver or the GPU is missing, and
// ErrStubKernels when the binary was linked with the compile-check stub.
func Open(ordinal int, opts Options) (*Device, error) {
	if ordinal < 0 || ordinal >= maxDevices {
		return nil, fmt.Errorf("%w: ordinal %d out of range", ErrNoDevice, ordinal)
	}
	slot := &devices[ordinal]
	slot.once.Do(func() { slot.dev, slot.err = open(ordinal, opts) })
	return slot.dev, slot.err
}

func open(ordinal int, opts Options) (*Device, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var count C.int
	if err := check("cudaGetDeviceCount", C.cudaGetDeviceCount(&count)); err != nil {
		if noDevice(err) {
			return nil, fmt.Errorf("%w (is the NVIDIA driver installed and a GPU visible?): %w", ErrNoDevice, err)
		}
		return nil, err
	}
	if int(count) == 0 || ordinal >= int(count) {
		return nil, fmt.Errorf("%w: cuda:%d requested, %d GPUs visible", ErrNoDevice, ordinal, int(count))
	}
	if C.agate_kernels_real() == 0 {
		return nil, ErrStubKernels
	}
	if err := check("cudaSetDevice", C.cudaSetDevice(C.int(ordinal))); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoDevice, err)
	}
	var name [256]C.char
	var major, minor, sms C.int
	var mem C.size_t
	if err := check("cudaGetDeviceProperties", C.agate_device_info(C.int(ordinal), &name[0], C.size_t(len(name)), &major, &minor, &mem, &sms)); err != nil {
		return nil, err
	}
	if major < 7 || major == 7 && minor < 5 {
		return nil, fmt.Errorf("%w: %s has compute capability %d.%d; agate's kernels are built for 7.5 and later",
			ErrNoDevice, C.GoString(&name[0]), int(major), int(minor))
	}
	d := &Device{
		ordinal: ordinal,
		desc: fmt.Sprintf("%s (compute capability %d.%d, %d SMs, %.1f GiB)", C.GoString(&name[0]),
			int(major), int(minor), int(sms), float64(mem)/(1<<30)),
		sms:  int(sms),
		pool: NewPool(cudaAllocator{}, opts.MemoryLimit),
		logf: opts.Logf,
	}
	n := opts.Lanes
	if n <= 0 {
		n = 4
	}
	d.lanes = make(chan *lane, n)
	for range n {
		ln, err := d.newLane()
		if err != nil {
			return nil, err
		}
		d.lanes <- ln
	}
	return d, nil
}

func (d *Device) newLane() (*lane, error) {
	ln := &lane{}
	if err := check("cudaStreamCreateWithFlags", C.cudaStreamCreateWithFlags(&ln.stream, C.cudaStreamNonBlocking)); err != nil {
		return nil, err
	}
	if err := checkBlas("cublasCreate", C.cublasCreate(&ln.blas)); err != nil {
		return nil, err
	}
	if err := checkBlas("cublasSetStream", C.cublasSetStream(ln.blas, ln.stream)); err != nil {
		return nil, err
	}
	if err := checkBlas("cublasLtCreate", C.cublasLtCreate(&ln.lt)); err != nil {
		return nil, err
	}
	ws, err := d.pool.Get(laneWorkspace)
	if err != nil {
		return nil, err
	}
	ln.ws, ln.wsBytes = ws, laneWorkspace
	return ln, nil
}

// Name returns "cuda:N".
func (d *Device) Name() string { return fmt.Sprintf("cuda:%d", d.ordinal) }

// Describe returns the GPU's name and main properties.
func (d *Device) Describe() string { return d.desc }

// PoolStats returns the device memory pool's counters.
func (d *Device) PoolStats() PoolStats { return d.pool.Stats() }

// bind makes the device current on the calling goroutine's OS thread, which
// the caller has locked.
func (d *Device) bind() error {
	return check("cudaSetDevice", C.cudaSetDevice(C.int(d.ordinal)))
}

// cudaAllocator is the Pool's allocator on a GPU. Calls happen on a thread
// bound to the device.
type cudaAllocator struct{}

func (cudaAllocator) Alloc(n int) (DevicePtr, error) {
	var p unsafe.Pointer
	if err := check("cudaMalloc", C.cudaMalloc(&p, C.size_t(n))); err != nil {
		return 0, err
	}
	return DevicePtr(p), nil
}

func (cudaAllocator) Free(p DevicePtr) error {
	return check("cudaFree", C.cudaFree(ptr(p)))
}

// ptr converts a device address for C. Device addresses lie outside the Go
// heap (CUDA reserves its own address ranges), so the garbage collector
// ignores them and the cgo pointer rules do not apply.
func ptr(p DevicePtr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }

// upload copies host bytes to the device on the lane's stream. The runtime
// stages pageable memory before returning, so src is not retained.
func (ln *lane) upload(dst DevicePtr, src unsafe.Pointer, n int) error {
	if n == 0 {
		return nil
	}
	return check("cudaMemcpyAsync(HtoD)", C.cudaMemcpyAsync(ptr(dst), src, C.size_t(n), C.cudaMemcpyHostToDevice, ln.stream))
}

// download copies device bytes to pageable host memory; it returns when the
// copy (and all work queued before it on the stream) is done.
func (ln *lane) download(dst unsafe.Pointer, src DevicePtr, n int) error {
	if n == 0 {
		return nil
	}
	if err := check("cudaMemcpyAsync(DtoH)", C.cudaMemcpyAsync(dst, ptr(src), C.size_t(n), C.cudaMemcpyDeviceToHost, ln.stream)); err != nil {
		return err
	}
	return ln.sync()
}

// copyDevice copies n bytes within the device.
func (ln *lane) copyDevice(dst, src DevicePtr, n int) error {
	if n == 0 {
		return nil
	}
	return check("cudaMemcpyAsync(DtoD)", C.cudaMemcpyAsync(ptr(dst), ptr(src), C.size_t(n), C.cudaMemcpyDeviceToDevice, ln.stream))
}

// sync waits for the lane's queued work and reports asynchronous kernel
// errors.
func (ln *lane) sync() error {
	return check("cudaStreamSynchronize", C.cudaStreamSynchronize(ln.stream))
}

// launch converts a Launch for the C launchers.
func launch(l Launch) C.agate_launch {
	return C.agate_launch{
		gx: C.int(l.Grid.X), gy: C.int(l.Grid.Y), gz: C.int(l.Grid.Z),
		bx: C.int(l.Block.X), by: C.int(l.Block.Y), bz: C.int(l.Block.Z),
		shared: C.int(l.Shared),
	}
}
