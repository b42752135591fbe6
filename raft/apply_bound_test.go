package raft

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestCommittedEntriesComeInBoundedSteps: a node with more committed
// entries than one step may hold hands them to the application over
// several Readies, each within maxApplyBytesPerReady, in order and all of
// them.
func TestCommittedEntriesComeInBoundedSteps(t *testing.T) {
	storage := NewMemoryStorage()
	core, err := NewCore(Config{ID: 1, Storage: storage, Random: rand.NewPCG(1, 2), InitialMembership: Membership{Voters: []NodeID{1}}})
	if err != nil {
		t.Fatal(err)
	}
	var applied []Entry
	steps, largest := 0, uint64(0)
	handle := func() {
		for core.HasReady() {
			ready := core.Ready()
			if err := storage.Append(ready.Entries); err != nil {
				t.Fatal(err)
			}
			if !ready.HardState.IsEmpty() {
				storage.SetHardState(ready.HardState)
			}
			if len(ready.CommittedEntries) > 0 {
				var size uint64
				for _, entry := range ready.CommittedEntries {
					size += uint64(len(entry.Data))
				}
				steps, largest = steps+1, max(largest, size)
				applied = append(applied, ready.CommittedEntries...)
			}
			core.Advance(ready)
		}
	}
	for core.Summary().Role != RoleLeader {
		core.Tick()
		handle()
	}
	applied = nil
	const size = 1 << 20
	count := int(5 * maxApplyBytesPerReady / size) // five steps' worth
	for i := range count {
		if _, _, err := core.Propose(bytes.Repeat([]byte{byte(i)}, size)); err != nil {
			t.Fatal(err)
		}
	}
	steps, largest = 0, 0
	handle()
	var commands int
	for _, entry := range applied {
		if len(entry.Data) == 0 {
			continue
		}
		if len(entry.Data) != size || entry.Data[0] != byte(commands) {
			t.Fatalf("applied entry %d holds %d bytes starting %d, want command %d", entry.Index, len(entry.Data), entry.Data[0], commands)
		}
		commands++
	}
	if commands != count {
		t.Fatalf("applied %d of %d commands", commands, count)
	}
	if largest > maxApplyBytesPerReady || steps < count*size/maxApplyBytesPerReady {
		t.Fatalf("applied in %d steps, the largest %d bytes: want steps of at most %d bytes", steps, largest, maxApplyBytesPerReady)
	}
}
