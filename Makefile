# agate: run `make test` to test everything, `make run` to start the service.
GO          ?= go
SHARED      ?= $(abspath ../shared)
CONFORMANCE ?= $(SHARED)/conformance/onnx-1.23
BIN         := bin/agate
export AGATE_SHARED ?= $(SHARED)

.PHONY: all build test test-purego lint fmt vet conformance bench run clean proto

all: build

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/agate

## test: vet, build without cgo, run every test (the pure-Go kernel fallback included)
test: vet
	CGO_ENABLED=0 $(GO) build ./...
	CGO_ENABLED=0 $(GO) test -count=1 -timeout 40m ./...
	$(MAKE) test-purego

## test-purego: the kernels again with assembly disabled
test-purego:
	AGATE_NOASM=1 CGO_ENABLED=0 $(GO) test -count=1 ./ops/...

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

## lint: gofmt, go vet and staticcheck must be clean
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.7.0 ./...

## conformance: run the ONNX backend suites and regenerate docs/CONFORMANCE.md
conformance: build
	$(BIN) conformance --markdown docs/CONFORMANCE.md $(CONFORMANCE)/node $(CONFORMANCE)/simple $(CONFORMANCE)/pytorch-converted $(CONFORMANCE)/pytorch-operator

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./engine/ ./ops/

proto:
	protoc --go_out=. --go_opt=paths=source_relative engine/internal/onnxpb/onnx.proto

clean:
	rm -rf bin
