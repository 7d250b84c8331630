package ops

// qgemmArch describes one 8-bit micro-kernel.
type qgemmArch struct {
	name   string
	mr, nr int
}

var qgemmArchGo = qgemmArch{name: "go", mr: 4, nr: 16}
