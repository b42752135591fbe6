// Package fault injects faults into a cluster from a schedule chosen by a
// seed: kill -9 and restart, SIGSTOP/SIGCONT pauses, network partitions
// through the peer proxies, membership changes, leadership transfers,
// whole-cluster restarts and full disks, one at a time, each healed
// before the next.
package fault

import (
	"fmt"
	"strings"
)

// Kind names a kind of fault, as given to --faults.
type Kind string

// The kinds of fault.
const (
	// Kill sends SIGKILL to one member and restarts it after a while.
	Kill Kind = "kill"
	// Pause stops one member with SIGSTOP for longer than the election
	// timeout, then continues it.
	Pause Kind = "pause"
	// Partition cuts links between members through the proxies: majority
	// and minority, isolated leader, bridge, or one way to or from the leader.
	Partition Kind = "partition"
	// Member removes one member, wipes its data and adds it back as a new
	// member.
	Member Kind = "member"
	// Transfer moves leadership to another member.
	Transfer Kind = "transfer"
	// Restart stops every member (SIGKILL or SIGTERM) and starts them again.
	Restart Kind = "restart"
	// DiskFull fills one member's disk (a tmpfs of its own) with a file
	// until no space is left, holds it for several election timeouts,
	// then removes the file. Only lockstep members get disks of their own,
	// and only when the checker may mount them (root on Linux).
	DiskFull Kind = "diskfull"
)

// Kinds lists every kind of fault in a fixed order.
var Kinds = []Kind{Kill, Pause, Partition, Member, Transfer, Restart, DiskFull}

// NeedsDisks reports whether the fault needs each member's data directory
// on a disk of its own (cluster.Config.DiskBytes).
func (kind Kind) NeedsDisks() bool { return kind == DiskFull }

// NeedsProcessControl reports whether the fault needs the member processes
// or their network, which only a cluster the checker started offers.
func (kind Kind) NeedsProcessControl() bool { return kind != Transfer }

// ParseKinds parses a comma-separated list such as "kill,pause". An empty
// list means no faults; duplicates are kept once.
func ParseKinds(list string) ([]Kind, error) {
	var kinds []Kind
	seen := map[Kind]bool{}
	for _, word := range strings.Split(list, ",") {
		word = strings.TrimSpace(word)
		if word == "" {
			continue
		}
		kind := Kind(word)
		valid := false
		for _, known := range Kinds {
			valid = valid || kind == known
		}
		if !valid {
			return nil, fmt.Errorf("fault: unknown fault %q (want some of %v)", word, Kinds)
		}
		if !seen[kind] {
			seen[kind] = true
			kinds = append(kinds, kind)
		}
	}
	return kinds, nil
}
