package wal

import (
	"bytes"
	"errors"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// TestReopenMakesTheRecoveredLogDurable: a process whose fsync failed
// (or that was killed between a write and its fsync) leaves its last batch
// written but not durable; the next process, started without a power
// failure in between (a supervisor's restart), reads it back and builds on
// it. What Open recovers must survive a later power failure: the entry it
// showed stays, and a later segment (fsynced) never follows a hole.
func TestReopenMakesTheRecoveredLogDurable(t *testing.T) {
	big := func(index uint64) []raft.Entry {
		return []raft.Entry{{Index: index, Term: 1, Data: bytes.Repeat([]byte{byte(index)}, 300+50*int(index/3))}}
	}
	for _, rollOver := range []bool{false, true} {
		t.Run(map[bool]string{false: "then a power failure", true: "then a new segment and a power failure"}[rollOver], func(t *testing.T) {
			fileSystem := vfs.NewMemFS()
			log := openLog(t, fileSystem, smallSegments)
			mustSave(t, log, raft.HardState{Term: 1}, big(1))
			fileSystem.SetFault(func(operation vfs.Operation, name string) error {
				if operation == vfs.OperationSync {
					return errors.New("EIO")
				}
				return nil
			})
			if err := log.Save(raft.HardState{}, big(2)); !errors.Is(err, ErrLogFailed) {
				t.Fatalf("Save with a failing fsync: %v, want ErrLogFailed", err)
			}
			fileSystem.SetFault(nil)
			log.Close()
			// The process restarts; the machine did not lose power.
			reopened := openLog(t, fileSystem, smallSegments)
			if reopened.LastIndex() != 2 {
				t.Fatalf("reopened LastIndex %d, want 2 (the unsynced batch is readable)", reopened.LastIndex())
			}
			want := []raft.Entry{big(1)[0], big(2)[0]}
			if rollOver {
				// Entry 3 does not fit in the first segment: the log starts the
				// next one, and fsyncs only that.
				mustSave(t, reopened, raft.HardState{}, big(3))
				if len(reopened.Segments()) != 2 {
					t.Fatalf("segments %v, want 2", reopened.Segments())
				}
				want = append(want, big(3)[0])
			}
			reopened.Close()
			fileSystem.Crash(nil)
			recovered, err := Open(fileSystem, testDir, smallSegments)
			if err != nil {
				t.Fatalf("Open after the power failure: %v", err)
			}
			if got := allEntries(t, recovered); !sameEntries(got, want) {
				t.Fatalf("recovered %d entries, want %d (what the reopened log showed was not durable)", len(got), len(want))
			}
			recovered.Close()
		})
	}
}
