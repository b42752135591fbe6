package sim

import (
	"fmt"
	"slices"
	"strings"
)

// traceNodes prints every node's state and log, for --trace: role, term,
// commit and applied index, and the log as runs of terms ("t2:5-9" means
// entries 5 to 9 are of term 2). Runs with membership changes have spare
// nodes beyond --nodes; a node outside its own configuration (a spare not
// yet added, or a removed node) is labelled so, as is a learner, so that a
// 5-node run listing 7 nodes explains itself.
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
		c.tracef("node %d%s: %s, applied %d, log %s", n.id, c.membershipLabel(n), state, n.applied, describeLog(&n.volatile))
	}
}

// membershipLabel says how n stands in the configuration it knows (the
// latest in its log; for a down node, the one it knew when it crashed):
// "" for a voter, " (learner)", or " (not a member)" for a node
// outside it.
func (c *cluster) membershipLabel(n *node) string {
	membership := n.membershipAtCrash
	if n.core != nil {
		membership = n.core.Membership()
	}
	switch {
	case slices.Contains(membership.Voters, n.id) || slices.Contains(membership.OutgoingVoters, n.id):
		return ""
	case slices.Contains(membership.Learners, n.id):
		return " (learner)"
	}
	return " (not a member)"
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
