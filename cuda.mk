# cuda.mk: the CUDA backend (package cuda, build tag cuda). Included by the
# Makefile; nothing here runs in the default, cgo-free build.
#
#   make cuda        build libagatecuda.a with nvcc, then bin/agate-cuda
#                    (needs the CUDA toolkit: a GPU machine, Dockerfile.gpu)
#   make cuda-test   the cuda package's and bench's tag-cuda tests on a GPU
#   make cuda-check  no GPU, no nvcc: fetch CUDA 11.8 headers and libraries
#                    from Debian (.ci/cuda-headers.sh), vet and build the
#                    tag-cuda host code against a gcc-built stub of the
#                    kernels, run the tag-cuda tests that need no GPU, and
#                    check the .cu files with clang (syntax, and PTX
#                    generation) when clang++ is installed
#
# How the cgo code finds CUDA: package cuda names only the libraries
# (-lagatecuda -lcublasLt -lcublas -lcudart); the include and library
# folders come from CGO_CFLAGS and CGO_LDFLAGS, which these rules set:
#
#   CGO_CFLAGS="-I$(CUDA_HOME)/include"
#   CGO_LDFLAGS="-L<folder of libagatecuda.a> -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64"
#
# To build by hand: export those two variables and run
# `go build -tags cuda ./...`.

CUDA_HOME      ?= /usr/local/cuda
NVCC           ?= $(CUDA_HOME)/bin/nvcc
# Turing to Hopper (nvcc 13 dropped Volta); the PTX of the last entry lets
# newer GPUs JIT-compile. Set CUDA_ARCHS=90 for a faster H100-only build.
CUDA_ARCHS     ?= 75 80 86 89 90
CUDA_BUILD     := .cache/cuda-build
CUDA_LIB       := $(CUDA_BUILD)/libagatecuda.a
CUDA_SRC       := $(wildcard engine/cuda/kernels/*.cu)
CUDA_HDR       := $(wildcard engine/cuda/kernels/*.h engine/cuda/kernels/*.cuh)
NVCC_FLAGS     ?= -O3 -std=c++17 -Xcompiler -fPIC --expt-relaxed-constexpr \
                  $(foreach a,$(CUDA_ARCHS),-gencode arch=compute_$(a),code=sm_$(a)) \
                  -gencode arch=compute_$(lastword $(CUDA_ARCHS)),code=compute_$(lastword $(CUDA_ARCHS))

# Compile-check setting: Debian's CUDA 11.8 headers and libraries.
CUDA_CACHE     := .cache/cuda
CUDA_STUB_DIR  := $(CUDA_CACHE)/stub
CUDA_STUB_LIB  := $(CUDA_STUB_DIR)/libagatecuda.a

CUDA_GPU_ENV   = CGO_ENABLED=1 CGO_CFLAGS="-I$(CUDA_HOME)/include" \
                 CGO_LDFLAGS="-L$(abspath $(CUDA_BUILD)) -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64"
CUDA_CHECK_ENV = CGO_ENABLED=1 CGO_CFLAGS="-I$(abspath $(CUDA_CACHE))/include" \
                 CGO_LDFLAGS="-L$(abspath $(CUDA_STUB_DIR)) -L$(abspath $(CUDA_CACHE))/lib -Wl,-rpath,$(abspath $(CUDA_CACHE))/lib"

.PHONY: cuda cuda-lib cuda-test cuda-check cuda-headers cuda-clean

cuda: cuda-lib
	$(CUDA_GPU_ENV) $(GO) build -tags cuda -o bin/agate-cuda ./cmd/agate

cuda-lib: $(CUDA_LIB)

$(CUDA_BUILD)/%.o: engine/cuda/kernels/%.cu $(CUDA_HDR)
	@mkdir -p $(CUDA_BUILD)
	$(NVCC) $(NVCC_FLAGS) -Iengine/cuda/kernels -c $< -o $@

$(CUDA_LIB): $(patsubst engine/cuda/kernels/%.cu,$(CUDA_BUILD)/%.o,$(CUDA_SRC))
	rm -f $@
	ar rcs $@ $^

cuda-test: cuda-lib
	$(CUDA_GPU_ENV) $(GO) test -tags cuda -count=1 ./engine/cuda/ ./engine/
	$(CUDA_GPU_ENV) $(GO) test -tags cuda -count=1 -run 'CUDA' -bench 'CUDA' -benchtime 2s ./bench/

cuda-headers: $(CUDA_CACHE)/.complete

$(CUDA_CACHE)/.complete:
	./.ci/cuda-headers.sh $(CUDA_CACHE)

$(CUDA_STUB_LIB): engine/cuda/kernels/stub.c engine/cuda/kernels/agate_cuda.h $(CUDA_CACHE)/.complete
	@mkdir -p $(CUDA_STUB_DIR)
	$(CC) -O1 -fPIC -Wall -Wno-unused-parameter -I$(CUDA_CACHE)/include -Iengine/cuda/kernels -c $< -o $(CUDA_STUB_DIR)/stub.o
	rm -f $@
	ar rcs $@ $(CUDA_STUB_DIR)/stub.o

# clang can parse CUDA (host and device sides) given the headers; it wants
# a toolkit-shaped folder, and its own notion of the 11.x launch API.
# -fsyntax-only checks host and device code; the device-only pass also
# generates PTX for sm_80 (libdevice calls left unresolved), a check that
# the kernels compile to code, short of nvcc's own.
CLANG_CUDA_FLAGS = -x cuda --cuda-path=$(CUDA_CACHE)/clang -nocudalib -Wno-unknown-cuda-version \
                   -Xclang -target-sdk-version=11.5 -Xclang -target-feature -Xclang +ptx70 -Wall -Iengine/cuda/kernels

cuda-check: $(CUDA_STUB_LIB)
	$(CUDA_CHECK_ENV) $(GO) vet -tags cuda ./engine/cuda/ ./engine/ ./bench/
	$(CUDA_CHECK_ENV) $(GO) build -tags cuda ./...
	$(CUDA_CHECK_ENV) $(GO) test -tags cuda -count=1 ./engine/cuda/
	$(CUDA_CHECK_ENV) $(GO) test -tags cuda -count=1 -run 'CUDA' ./bench/
	@if command -v clang++ >/dev/null; then \
		mkdir -p $(CUDA_CACHE)/clang/bin $(CUDA_CACHE)/clang/lib64 && ln -sfn ../root/usr/include $(CUDA_CACHE)/clang/include && \
		for f in $(CUDA_SRC); do echo "clang++ (CUDA) $$f"; \
			clang++ $(CLANG_CUDA_FLAGS) --cuda-gpu-arch=sm_70 -fsyntax-only $$f && \
			clang++ $(CLANG_CUDA_FLAGS) --cuda-gpu-arch=sm_80 --cuda-device-only -O2 -S -o /dev/null $$f || exit 1; done; \
	else echo "cuda-check: clang++ not installed, .cu files not syntax-checked"; fi

cuda-clean:
	rm -rf $(CUDA_BUILD) $(CUDA_STUB_DIR)
