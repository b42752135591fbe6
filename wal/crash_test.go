package wal

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// modelState is what the log should hold after some operations.
type modelState struct {
	hardState raft.HardState
	point     raft.SnapshotMetadata
	entries   []raft.Entry // point.Index+1 ..
}

func (m modelState) last() uint64 { return m.point.Index + uint64(len(m.entries)) }

func (m modelState) clone() modelState {
	m.entries = slices.Clone(m.entries)
	return m
}

// workload applies seeded random operations to log and to the model.
type workload struct {
	random *rand.Rand
	term   uint64
}

// step performs one random operation. It returns the model after the
// operation and the operation's error.
func (w *workload) step(log *Log, model modelState) (modelState, error) {
	next := model.clone()
	switch choice := w.random.IntN(100); {
	case choice < 4:
		w.term++
		point := raft.SnapshotMetadata{Index: model.last() + 1 + uint64(w.random.IntN(5)), Term: w.term, Membership: raft.Membership{Voters: []raft.NodeID{1, 2, 3}}}
		next.point, next.entries = point, nil
		return next, log.InstallSnapshot(point)
	case choice < 14 && model.last() > model.point.Index:
		index := model.point.Index + 1 + uint64(w.random.IntN(int(model.last()-model.point.Index)))
		point := raft.SnapshotMetadata{Index: index, Term: model.entries[index-model.point.Index-1].Term}
		next.point = point
		next.entries = next.entries[index-model.point.Index:]
		return next, log.Compact(point)
	default:
		first := model.last() + 1
		if w.random.IntN(5) == 0 && model.last() > model.point.Index {
			// A new leader overwrites a suffix.
			w.term++
			first = model.point.Index + 1 + uint64(w.random.IntN(int(model.last()-model.point.Index)))
		}
		if w.term == 0 {
			w.term = 1
		}
		var entries []raft.Entry
		for index := first; index < first+1+uint64(w.random.IntN(6)); index++ {
			data := make([]byte, w.random.IntN(300))
			for i := range data {
				data[i] = byte(w.random.Uint32())
			}
			entries = append(entries, raft.Entry{Index: index, Term: w.term, Data: data})
		}
		next.entries = append(next.entries[:first-model.point.Index-1], entries...)
		hardState := raft.HardState{Term: w.term, Vote: raft.NodeID(w.random.IntN(4)), Commit: model.point.Index}
		next.hardState = hardState
		return next, log.Save(hardState, entries)
	}
}

func matchesModel(t *testing.T, log *Log, model modelState) error {
	if got := log.HardState(); got != model.hardState {
		return fmt.Errorf("hard state %+v, want %+v", got, model.hardState)
	}
	if got := log.SnapshotMetadata(); got.Index != model.point.Index || got.Term != model.point.Term {
		return fmt.Errorf("compaction point %d/%d, want %d/%d", got.Index, got.Term, model.point.Index, model.point.Term)
	}
	if got := allEntries(t, log); !sameEntries(got, model.entries) {
		return fmt.Errorf("%d entries, want %d", len(got), len(model.entries))
	}
	return nil
}

// TestCrashAtRandomPointsRecoversAcknowledgedWrites runs a seeded random
// workload (saves, suffix overwrites, compactions, installed snapshots)
// and kills it at a random file-system operation: that operation and every
// later one fail, then the machine crashes, keeping a random subset of the
// unsynced sectors. Recovery must succeed and hold exactly the state after
// every acknowledged operation, plus possibly the one in flight. Each
// seed crashes three times, so that writes after a repaired torn tail are
// checked too.
func TestCrashAtRandomPointsRecoversAcknowledgedWrites(t *testing.T) {
	// Next segments are prepared inline, not in the background, so that
	// the sequence of file-system operations, and so the crash point,
	// depends on the seed alone.
	crashOptions := smallSegments
	crashOptions.inlinePreparation = true
	seeds := 150
	if testing.Short() {
		seeds = 30
	}
	for seed := range uint64(seeds) {
		random := rand.New(rand.NewPCG(seed, 7))
		fileSystem := vfs.NewMemFS()
		model := modelState{}
		w := &workload{random: random}
		for round := range 3 {
			log, err := Open(fileSystem, testDir, crashOptions)
			if err != nil {
				t.Fatalf("seed %d round %d: open after crash: %v", seed, round, err)
			}
			if err := matchesModel(t, log, model); err != nil {
				t.Fatalf("seed %d round %d: recovered log differs before any write: %v", seed, round, err)
			}
			// Odd seeds die at a random operation of any kind; even seeds
			// at a random fsync, right after a write that is then torn.
			countOnlySyncs := seed%2 == 0
			crashAt := int64(1 + random.IntN(400))
			if countOnlySyncs {
				crashAt = int64(1 + random.IntN(60))
			}
			var operations atomic.Int64
			fileSystem.SetFault(func(operation vfs.Operation, _ string) error {
				if countOnlySyncs && operation != vfs.OperationSync && operations.Load() < crashAt {
					return nil
				}
				if operations.Add(1) >= crashAt {
					return errors.New("power lost")
				}
				return nil
			})
			acknowledged := model
			var inFlight modelState
			for {
				next, err := w.step(log, acknowledged)
				if err != nil {
					inFlight = next
					break
				}
				acknowledged = next
			}
			fileSystem.SetFault(nil)
			fileSystem.Crash(random)

			recovered, err := Open(fileSystem, testDir, crashOptions)
			if err != nil {
				t.Fatalf("seed %d round %d: recovery failed: %v", seed, round, err)
			}
			if err := matchesModel(t, recovered, acknowledged); err != nil {
				if errInFlight := matchesModel(t, recovered, inFlight); errInFlight != nil {
					t.Fatalf("seed %d round %d: recovered state is neither the acknowledged one (%v) nor that plus the write in flight (%v)", seed, round, err, errInFlight)
				}
				model = inFlight
			} else {
				model = acknowledged
			}
			recovered.Close()
		}
	}
}

// TestFailedFsyncRefusesFurtherWrites fails one fsync: that Save and every
// later write must fail with ErrLogFailed, reads keep working, and a
// reopened log holds everything acknowledged before.
func TestFailedFsyncRefusesFurtherWrites(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	log := openLog(t, fileSystem, smallSegments)
	mustSave(t, log, raft.HardState{Term: 1}, makeEntries(1, 5, 1))
	fileSystem.SetFault(func(operation vfs.Operation, name string) error {
		if operation == vfs.OperationSync {
			return errors.New("EIO")
		}
		return nil
	})
	err := log.Save(raft.HardState{Term: 1}, makeEntries(6, 6, 1))
	if !errors.Is(err, ErrLogFailed) {
		t.Fatalf("Save with a failing fsync: %v, want ErrLogFailed", err)
	}
	t.Logf("error: %v", err)
	fileSystem.SetFault(nil) // the disk "recovers", the log must not
	for _, write := range []func() error{
		func() error { return log.Save(raft.HardState{Term: 2}, nil) },
		func() error { return log.Save(raft.HardState{}, makeEntries(6, 6, 1)) },
		func() error { return log.Compact(raft.SnapshotMetadata{Index: 2, Term: 1}) },
		func() error { return log.InstallSnapshot(raft.SnapshotMetadata{Index: 10, Term: 1}) },
	} {
		if err := write(); !errors.Is(err, ErrLogFailed) {
			t.Fatalf("write after failed fsync: %v, want ErrLogFailed", err)
		}
	}
	if log.LastIndex() != 5 {
		t.Fatalf("LastIndex after the failed save = %d, want 5 (nothing unsynced is visible)", log.LastIndex())
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	fileSystem.Crash(nil)
	reopened := openLog(t, fileSystem, smallSegments)
	if got := allEntries(t, reopened); !sameEntries(got, makeEntries(1, 5, 1)) {
		t.Fatalf("after reopen got %d entries, want 5", len(got))
	}
	mustSave(t, reopened, raft.HardState{Term: 1}, makeEntries(6, 6, 1))
}
