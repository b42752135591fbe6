package sim

import (
	"fmt"
	"strings"
)

// traceNodes prints every node's state and log, for --trace: role, term,
// commit and applied index, and the log as runs of terms ("t2:5-9" means
// entries 5 to 9 are of term 2).
func (c *cluster) traceNodes(when string) {
	if c.options.Trace == nil {
		return
	}
	c.tracef("--- nodes %s ---", when)
	for _, n := range c.nodes {
		state := "down"
		if n.up {
			state = fmt.Sprintf("%s term %d commit %d", n.summary.Role, n.summary.Term, n.summary.Commit)
		}
		c.tracef("node %d: %s, applied %d, log %s", n.id, state, n.applied, describeLog(&n.volatile))
	}
}

// describeLog renders a log as runs of equal terms.
func describeLog(log *logMirror) string {
	if log.lastIndex() == 0 {
		return "[]"
	}
	var runs []string
	start := uint64(1)
	for index := uint64(2); index <= log.lastIndex()+1; index++ {
		if index > log.lastIndex() || log.term(index) != log.term(start) {
			if start == index-1 {
				runs = append(runs, fmt.Sprintf("t%d:%d", log.term(start), start))
			} else {
				runs = append(runs, fmt.Sprintf("t%d:%d-%d", log.term(start), start, index-1))
			}
			start = index
		}
	}
	return "[" + strings.Join(runs, " ") + "]"
}
