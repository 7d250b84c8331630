package models

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Found is a model folder found by Discover.
type Found struct {
	// Dir is the model folder.
	Dir string
	// Name and Version are set for the <root>/<name>/<version> layout:
	// the folders name the model and its version. Empty, the model's
	// manifest (or its folder's name) says.
	Name, Version string
}

// Discover finds the model folders (IsModelDir) of root: root itself when
// it is one; else each of its sub-folders that is one; and each sub-folder
// <name> whose own sub-folders <version> are model folders, the layout of
// TensorFlow Serving and Triton (<root>/<name>/<version>/model.onnx), which
// serves several versions of a model side by side. Folders are visited in
// name order.
func Discover(root string) ([]Found, error) {
	if IsModelDir(root) {
		return []Found{{Dir: root}}, nil
	}
	subs, err := subDirs(root)
	if err != nil {
		return nil, err
	}
	var out []Found
	for _, sub := range subs {
		dir := filepath.Join(root, sub)
		if IsModelDir(dir) {
			out = append(out, Found{Dir: dir})
			continue
		}
		versions, err := subDirs(dir)
		if err != nil {
			return nil, err
		}
		for _, v := range versions {
			if vd := filepath.Join(dir, v); IsModelDir(vd) {
				out = append(out, Found{Dir: vd, Name: sub, Version: v})
			}
		}
	}
	return out, nil
}

func subDirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading model folder: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && e.Name()[0] != '.' {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}
