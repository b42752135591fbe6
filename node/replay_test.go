package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestReplayLogAppliesTheWholeLog stops a node and replays its log into
// durable machines in three states: empty (restored from the snapshot the
// log was compacted to, then the entries after it), partway (only what it
// lacks), and complete (nothing).
func TestReplayLogAppliesTheWholeLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		disk, _, original := writeTenAndStop(ctx, t, true) // a snapshot, with its image, every 4 entries
		status := original.AppliedIndex()

		empty := &durableCounter{t: t}
		last, err := ReplayLog("/data/1", disk, empty)
		if err != nil {
			t.Fatal(err)
		}
		if empty.value() != 55 || empty.restores != 1 || last < status {
			t.Fatalf("empty machine: total %d after %d restores, log ends at %d; want 55, 1, at least %d", empty.value(), empty.restores, last, status)
		}

		// A machine that lost its last writes in a crash: the log has them.
		behind := &durableCounter{t: t}
		behind.total, behind.last = original.value()-10, status-1 // the last entry, add(10), is missing
		if _, err := ReplayLog("/data/1", disk, behind); err != nil {
			t.Fatal(err)
		}
		if behind.value() != 55 || behind.restores != 0 {
			t.Fatalf("machine one entry behind: total %d after %d restores; want 55 and none", behind.value(), behind.restores)
		}

		if _, err := ReplayLog("/data/1", disk, original); err != nil || original.value() != 55 {
			t.Fatalf("complete machine: total %d, %v", original.value(), err)
		}

		if _, err := ReplayLog("/nowhere", disk, &durableCounter{t: t}); err == nil || !strings.Contains(err.Error(), "holds no log") {
			t.Fatalf("a directory without a log: %v", err)
		}
	})
}

// TestReplayLogHonoursANewerSnapshotFile: after a crash between saving a
// leader's snapshot file and installing it in the log, the file is newer
// than the log's compaction point. ReplayLog starts from it, as Start
// does, and replays none of the log's entries it proves uncommitted.
func TestReplayLogHonoursANewerSnapshotFile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster, follower, index, term := crashedDuringSnapshotInstall(ctx, t)

		machine := &durableCounter{t: t}
		replayed, err := ReplayLog(directoryOf(follower), cluster.disk, machine)
		if err != nil {
			t.Fatal(err)
		}
		if machine.value() != 1000 || machine.restores != 1 || replayed != index {
			t.Fatalf("replay: total %d after %d restores, up to %d; want the snapshot's 1000 (index %d, term %d) and nothing after", machine.value(), machine.restores, replayed, index, term+1)
		}
	})
}

// TestReplayLogWithSnapshotsWithoutImages: a durable machine's snapshots
// hold no image by default. ReplayLog then replays what a machine that
// kept its state lacks, without a restore, and refuses a machine that lost
// the state those snapshots leave to it (ErrImageNotKept).
func TestReplayLogWithSnapshotsWithoutImages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		disk, _, original := writeTenAndStop(ctx, t, false)
		behind := &durableCounter{t: t}
		behind.total, behind.last = original.value()-10, original.AppliedIndex()-1
		if _, err := ReplayLog("/data/1", disk, behind); err != nil {
			t.Fatal(err)
		}
		if behind.value() != 55 || behind.restores != 0 {
			t.Fatalf("machine one entry behind: total %d after %d restores; want 55 and none", behind.value(), behind.restores)
		}
		if _, err := ReplayLog("/data/1", disk, &durableCounter{t: t}); !errors.Is(err, ErrImageNotKept) {
			t.Fatalf("an empty machine: %v, want ErrImageNotKept", err)
		}
	})
}
