package engine

import "github.com/agate-ml/agate/ops"

// HeldConstants returns, for tests, the elements each constant of m's
// plan still holds, by name.
func HeldConstants(m *Model) map[string]int {
	held := map[string]int{}
	for s, c := range m.plan.consts {
		if t, ok := c.(*ops.Tensor); ok {
			held[m.plan.names[s]] = ops.SliceLen(t.Data)
		}
	}
	return held
}
