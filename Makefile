# agate: run `make test` to test everything, `make run` to start the service.
GO          ?= go
SHARED      ?= $(abspath ../shared)
CONFORMANCE ?= $(SHARED)/conformance/onnx-1.23
BIN         := bin/agate
export AGATE_SHARED ?= $(SHARED)

.PHONY: all build test test-purego test-ort lint fmt vet conformance bench bench-ort ort run loadtest clean proto train-toxicity eval-toxicity

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

## lint: gofmt, go vet, go mod tidy and staticcheck must be clean
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) mod tidy -diff
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.7.0 ./...

## conformance: run the ONNX backend suites and regenerate docs/CONFORMANCE.md
conformance: build
	$(BIN) conformance --markdown docs/CONFORMANCE.md $(CONFORMANCE)/node $(CONFORMANCE)/simple $(CONFORMANCE)/pytorch-converted $(CONFORMANCE)/pytorch-operator

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./engine/ ./ops/

## ort: install onnxruntime 1.30 (the reference engine) from npm under bench/node_modules
ORT_LIB := bench/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1
ort: $(ORT_LIB)
$(ORT_LIB):
	cd bench && npm install --no-save --ignore-scripts --no-audit --no-fund onnxruntime-node@1.30.0

## test-ort: parity tests against onnxruntime (fixtures, encoder variants,
## onnxruntime-optimized graphs, int8 kernels, tree ensembles)
test-ort: ort
	$(GO) test -tags ort -run 'Test' -count 1 ./bench/

## bench-ort: agate and onnxruntime side by side (cgo, build tag ort)
bench-ort: ort
	$(GO) test -tags ort -run '^$$' -bench 'VsORT' -benchtime 2s ./bench/

proto:
	protoc --go_out=. --go_opt=paths=source_relative engine/internal/onnxpb/onnx.proto

## run: start the service on :8080 (flags: bin/agate serve --help); Ctrl-C
## drains it and exits 0. The shell ignores the interrupt so that make does
## not report it as a failure; agate catches it itself.
run: build
	@trap '' INT TERM; $(BIN) serve $(ARGS)

## loadtest: bounded loopback load test of /predict and /analyze, batching on and off
loadtest:
	$(GO) test -tags loadtest -run TestLoad -v -timeout 10m ./server/

clean:
	rm -rf bin
include cuda.mk

## train-toxicity: retrain the embedded toxicity model (byte-identical for the same data and seed)
train-toxicity:
	$(GO) run ./cmd/agate train --shared $(SHARED) --out models/toxicity/default

## eval-toxicity: measure the embedded model and regenerate its model card
eval-toxicity:
	$(GO) run ./cmd/agate eval --shared $(SHARED) --card docs/models/agate-toxicity.md
