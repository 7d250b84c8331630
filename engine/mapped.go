package engine

// This file keeps the files LoadFile maps into memory: the model file and
// its external data files. Initializers view their bytes in the mapping
// (decodeModelInPlace, externalLoader.read, aliasRaw) instead of copying
// them, so loading a model holds its weights once. The compiler drops the
// resident pages of each constant once the node reading it is built
// (compiler.compile): a matrix kernel has packed it into a copy of its
// own by then, and any other reader faults the pages in again from the
// file. A model of 438 MB of float32 weights thus peaks near its packed
// weights instead of the file plus a copy of it (bench/README.md, "Models
// at full size").
//
// Unless WithMappedWeights is given, the constants the plan keeps as they
// are (embedding tables, norms, biases) are then copied out of the mapping
// a chunk at a time, each chunk's pages dropped once copied
// (copyMappedConstants), so that the model no longer reads the file once
// loaded and a file rewritten in place cannot fault it.
//
// The mappings live as long as the Model: they are unmapped when it is
// garbage collected (runtime.AddCleanup in build), not by Close, so that a
// run racing Close cannot fault. Tensors that leave the model (outputs) are
// copies. The file must not be truncated while the model is loaded (reading
// a page past the new end would crash the process with SIGBUS); replace a
// model file by renaming a new one over it.

import (
	"fmt"
	"io"
	"os"
	"reflect"
	"unsafe"

	"github.com/agate-ml/agate/ops"
)

// mappedFiles are the files mapped while loading one model. A nil
// *mappedFiles maps nothing (LoadBytes, LoadReader).
type mappedFiles struct {
	maps   [][]byte
	byPath map[string][]byte
}

// readModel returns the bytes of the model file at path, mapped when it is
// a regular file and the platform can (mapped is then true), else read.
func (m *mappedFiles) readModel(path string) (b []byte, mapped bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	if fi.Size() > maxModelSize {
		return nil, false, fmt.Errorf("model larger than %d bytes: store weights as external data", maxModelSize)
	}
	if fi.Mode().IsRegular() {
		if b, ok := m.mapFile(path, f, fi.Size()); ok {
			return b, true, nil
		}
	}
	b, err = io.ReadAll(io.LimitReader(f, maxModelSize+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(b)) > maxModelSize {
		return nil, false, fmt.Errorf("model larger than %d bytes: store weights as external data", maxModelSize)
	}
	return b, false, nil
}

// mapFile maps the size bytes of the open regular file f, once per path;
// ok is false where it cannot (m nil, an empty file, no mmap), and the
// caller reads the file instead.
func (m *mappedFiles) mapFile(path string, f *os.File, size int64) (b []byte, ok bool) {
	if m == nil {
		return nil, false
	}
	if b, ok := m.byPath[path]; ok && int64(len(b)) == size {
		return b, true
	}
	b, err := mapReadOnly(f, size)
	if err != nil {
		return nil, false
	}
	if m.byPath == nil {
		m.byPath = map[string][]byte{}
	}
	m.byPath[path] = b
	m.maps = append(m.maps, b)
	return b, true
}

// find returns the mapping holding the n bytes at p and their offset in it.
func (m *mappedFiles) find(p unsafe.Pointer, n uintptr) (b []byte, off uintptr, ok bool) {
	if m == nil || p == nil {
		return nil, 0, false
	}
	for _, b := range m.maps {
		start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		if a := uintptr(p); a >= start && a-start+n <= uintptr(len(b)) {
			return b, a - start, true
		}
	}
	return nil, 0, false
}

// holds reports whether the elements of data (a slice) lie in a mapping.
func (m *mappedFiles) holds(data any) bool {
	p, n := sliceBytes(data)
	_, _, ok := m.find(p, n)
	return ok && n > 0
}

// release drops the resident pages wholly inside t's elements when they
// lie in a mapping; their contents stay readable (see dropPages).
func (m *mappedFiles) release(t *ops.Tensor) {
	if m == nil || t == nil {
		return
	}
	p, n := sliceBytes(t.Data)
	if b, off, ok := m.find(p, n); ok {
		dropPages(b[off : off+n])
	}
}

// unmap unmaps every file; nothing may view them afterwards.
func (m *mappedFiles) unmap() {
	for _, b := range m.maps {
		unmapFile(b)
	}
	m.maps, m.byPath = nil, nil
}

// sliceBytes returns the address and byte length of a slice's elements.
func sliceBytes(data any) (unsafe.Pointer, uintptr) {
	v := reflect.ValueOf(data)
	if v.Kind() != reflect.Slice || v.Len() == 0 {
		return nil, 0
	}
	return v.UnsafePointer(), uintptr(v.Len()) * v.Type().Elem().Size()
}

// detachMapped returns v with every tensor inside a sequence, map or
// optional that views a mapping replaced by a copy, so that nothing a run
// returns outlives the mapping (tensors themselves are copied by detach).
func (m *mappedFiles) detachMapped(v ops.Value) ops.Value {
	switch v := v.(type) {
	case *ops.Tensor:
		if m.holds(v.Data) {
			return v.Clone()
		}
	case *ops.Sequence:
		var c *ops.Sequence
		for i, e := range v.Values {
			if d := m.detachMapped(e); d != e {
				if c == nil {
					c = &ops.Sequence{ElemType: v.ElemType, Values: append([]ops.Value(nil), v.Values...)}
				}
				c.Values[i] = d
			}
		}
		if c != nil {
			return c
		}
	case *ops.Optional:
		if d := m.detachMapped(v.Elem); d != v.Elem {
			return &ops.Optional{ElemType: v.ElemType, Elem: d}
		}
	case *ops.Map:
		if v.Values != nil && m.holds(v.Values.Data) {
			c := *v
			c.Values = v.Values.Clone()
			return &c
		}
	}
	return v
}

// copyMappedConstants gives every constant of the plan that views a
// mapping elements of its own: the constant slots, the defaults of
// overridable inputs (initializers listed as graph inputs) and the same in
// the plans of subgraphs (If, Loop, Scan bodies). It copies 1 MiB at a time
// and drops the source pages of each piece once copied, so that the copy
// never holds a constant twice in memory.
func (p *plan) copyMappedConstants(files *mappedFiles) {
	if p == nil || files == nil || len(files.maps) == 0 {
		return
	}
	for _, v := range p.consts {
		if t, ok := v.(*ops.Tensor); ok {
			files.copyOut(t)
		}
	}
	for _, in := range p.inputs {
		files.copyOut(in.def)
	}
	for _, st := range p.steps {
		if st.node == nil || st.node.Attrs == nil {
			continue
		}
		for _, name := range st.node.Attrs.Names() {
			a := st.node.Attrs.Get(name)
			if sg, ok := a.G.(*subgraph); ok {
				sg.plan.copyMappedConstants(files)
			}
			for _, g := range a.Graphs {
				if sg, ok := g.(*subgraph); ok {
					sg.plan.copyMappedConstants(files)
				}
			}
		}
	}
}

// copyOut gives t elements of its own when they view a mapping (see
// copyMappedConstants).
func (m *mappedFiles) copyOut(t *ops.Tensor) {
	if t == nil || !m.holds(t.Data) {
		return
	}
	const chunk = 1 << 20
	src, n := sliceBytes(t.Data)
	l := reflect.ValueOf(t.Data).Len()
	data := reflect.MakeSlice(reflect.TypeOf(t.Data), l, l).Interface()
	dst, _ := sliceBytes(data)
	from := unsafe.Slice((*byte)(src), n)
	to := unsafe.Slice((*byte)(dst), n)
	for off := uintptr(0); off < n; off += chunk {
		end := min(off+chunk, n)
		copy(to[off:end], from[off:end])
		dropPages(from[off:end])
	}
	dropPages(from) // the pages the pieces' edges shared
	t.Data = data
}
