// Package toxicity holds agate's default toxicity model, compiled into the
// binary: a multilingual (French first) linear text classifier that agate
// trains itself (agate train, package models/train) from the openly
// licensed data listed in train.yaml. Its folder, default/, is what
// 'agate train --out models/toxicity/default' writes; the model card is
// docs/models/agate-toxicity.md.
package toxicity

import (
	"embed"
	"io/fs"
)

//go:embed default/model.onnx default/featurizer.json default/manifest.yaml default/training.json
var files embed.FS

// Name is the default model's name.
const Name = "agate-toxicity"

// Default returns the default model's folder: model.onnx,
// featurizer.json, manifest.yaml and training.json.
func Default() fs.FS {
	sub, err := fs.Sub(files, "default")
	if err != nil {
		panic(err) // the embedded folder is fixed at build time
	}
	return sub
}
