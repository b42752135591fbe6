package kv

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/lockstepdb/lockstep/internal/poll"
	"github.com/lockstepdb/lockstep/internal/syncbuffer"
)

// TestDiskHealthLogsOnceThenSummaries feeds 1,000 ENOSPC errors over ten
// seconds, then more a minute later, then a successful flush: the cause is
// logged once, then one summary with the count, then the recovery; the
// store is full from the first error to the flush.
func TestDiskHealthLogsOnceThenSummaries(t *testing.T) {
	var output syncbuffer.Buffer
	health := newDiskHealth(slog.New(slog.NewTextHandler(&output, nil)))
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	health.now = func() time.Time { return clock }
	if err := health.fullError(); err != nil {
		t.Fatalf("full before any error: %v", err)
	}
	cause := fmt.Errorf("pebble: flush: write 000123.sst: %w", syscall.ENOSPC)
	for range 1000 {
		health.backgroundError(cause)
		clock = clock.Add(10 * time.Millisecond)
	}
	if got := logLines(&output); len(got) != 1 || !strings.Contains(got[0], "the disk is full") {
		t.Fatalf("log after 1,000 errors in 10 s: %q, want the cause once", got)
	}
	err := health.fullError()
	if !errors.Is(err, ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("fullError: %v, want ErrDiskFull wrapping ENOSPC", err)
	}
	clock = clock.Add(time.Minute)
	health.backgroundError(cause)
	if got := logLines(&output); len(got) != 2 || !strings.Contains(got[1], "errors=1000") {
		t.Fatalf("log a minute later: %q, want one summary counting 1,000 errors", got)
	}
	health.recovered()
	if got := logLines(&output); len(got) != 3 || !strings.Contains(got[2], "takes writes again") {
		t.Fatalf("log after recovery: %q", got)
	}
	if err := health.fullError(); err != nil {
		t.Fatalf("full after a successful flush: %v", err)
	}
}

// TestStoreReportsFailedFlushesAndRecovers makes the store's file system
// refuse writes, with ENOSPC and then with EIO: the flush fails, DiskFull
// (ENOSPC) or Failing (anything else) says so and the other does not,
// reads still answer, and when writes succeed again the next flush clears
// it and the data is all there.
func TestStoreReportsFailedFlushesAndRecovers(t *testing.T) {
	for _, c := range []struct {
		name            string
		errno           syscall.Errno
		reported, other func(*Store) error
		want            error
	}{
		{"full disk", syscall.ENOSPC, (*Store).DiskFull, (*Store).Failing, ErrDiskFull},
		{"failing disk", syscall.EIO, (*Store).Failing, (*Store).DiskFull, ErrStoreFailing},
	} {
		t.Run(c.name, func(t *testing.T) {
			var broken atomic.Bool
			h := newHarness(t, Options{FileSystem: failingFileSystem(&broken, c.errno)})
			h.put("before", "v", 0)
			database, err := h.store.acquire()
			if err != nil {
				t.Fatal(err)
			}
			defer database.release()
			broken.Store(true)
			h.put("during", "v", 0) // into the memtable: no disk write yet
			if _, err := database.db.AsyncFlush(); err != nil {
				t.Fatal(err)
			}
			poll.Until(t, "the failed flush to be reported", func() bool {
				err := c.reported(h.store)
				return errors.Is(err, c.want) && errors.Is(err, c.errno)
			})
			if err := c.other(h.store); err != nil {
				t.Errorf("the other state is reported too: %v", err)
			}
			if got := h.get(&pb.RangeRequest{Key: []byte("before")}); len(got.Kvs) != 1 {
				t.Errorf("read while flushes fail: %v", describe(got.Kvs))
			}
			broken.Store(false)
			poll.Until(t, "a flush to succeed and clear the state", func() bool { return c.reported(h.store) == nil })
			h.put("after", "v", 0)
			if got := h.get(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}); len(got.Kvs) != 3 {
				t.Errorf("keys after recovery: %v, want before, during and after", describe(got.Kvs))
			}
		})
	}
}

// TestStoreClosesOnFullDisk closes a store whose flush fails for lack of
// space: Close returns, with no other error than ENOSPC (a flush would
// retry until space returns), and the
// store opens again at an applied index the Raft log can replay from.
func TestStoreClosesOnFullDisk(t *testing.T) {
	var full atomic.Bool
	fs := fullableFileSystem(&full)
	store := openAndBreak(t, "full", fs, &full)
	database, err := store.acquire()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := database.db.AsyncFlush(); err != nil {
		t.Fatal(err)
	}
	database.release()
	poll.Until(t, "DiskFull", func() bool { return store.DiskFull() != nil })
	// Close returns (Pebble reports the failed flush it gave up).
	if err := store.Close(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Close on a full disk: %v", err)
	}
	checkReopened(t, "full", fs, &full)
}

// openAndBreak opens a store named name on fs and applies a put, then
// sets broken (so that fs fails its writes) and applies another, which
// stays in the memtable.
func openAndBreak(t *testing.T, name string, fs vfs.FS, broken *atomic.Bool) *Store {
	t.Helper()
	store, err := Open(name, Options{FileSystem: fs})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: store}
	h.put("a", "1", 0)
	broken.Store(true)
	h.put("b", "1", 0)
	return store
}

// checkReopened clears broken and reopens the store openAndBreak made:
// its applied index is at most the two entries applied (the Raft log
// replays what its memtable held).
func checkReopened(t *testing.T, name string, fs vfs.FS, broken *atomic.Bool) {
	t.Helper()
	broken.Store(false)
	reopened, err := Open(name, Options{FileSystem: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	if applied := reopened.AppliedIndex(); applied > 2 {
		t.Errorf("applied index %d after reopening, want at most the 2 entries applied", applied)
	}
}

// TestStoreClosesWhenFlushesFail makes every write fail with EIO, as a
// failing disk or a store directory removed underneath the member would:
// Pebble retries the flush for ever, and Close must not wait for it. It
// returns the flush's error, and the store reopens at an applied index no
// later than what was applied (the Raft log replays the rest).
func TestStoreClosesWhenFlushesFail(t *testing.T) {
	var failing atomic.Bool
	fs := failingFileSystem(&failing, syscall.EIO)
	store := openAndBreak(t, "failing", fs, &failing)
	if err := returnsWithinAMinute(t, "Close while flushes fail", store.Close); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Close while flushes fail: %v, want the flush's EIO", err)
	}
	checkReopened(t, "failing", fs, &failing)
}

// TestSnapshotFailsWhenFlushFails checks that Snapshot, called from the
// node's loop, returns the flush's error instead of waiting for ever while
// flushes fail, and succeeds once they do not.
func TestSnapshotFailsWhenFlushFails(t *testing.T) {
	var failing atomic.Bool
	h := newHarness(t, Options{FileSystem: failingFileSystem(&failing, syscall.EIO)})
	h.put("before", "v", 0)
	failing.Store(true)
	h.put("during", "v", 0) // into the memtable: the snapshot's flush needs the disk
	if err := snapshotWithinAMinute(t, h.store); !errors.Is(err, syscall.EIO) || errors.Is(err, ErrDiskFull) {
		t.Fatalf("snapshot while flushes fail: %v, want the flush's EIO (not a full disk)", err)
	}
	failing.Store(false)
	waitForSnapshot(t, h.store, "a snapshot once flushes succeed")
}

// snapshotWithinAMinute takes a snapshot of store and returns its error
// (see returnsWithinAMinute).
func snapshotWithinAMinute(t *testing.T, store *Store) error {
	t.Helper()
	return returnsWithinAMinute(t, "Snapshot", func() error {
		image, err := store.Snapshot()
		if err == nil {
			image.Close()
		}
		return err
	})
}

// returnsWithinAMinute runs call on a goroutine and returns its error,
// failing the test if it has not returned after a minute (an upper bound,
// not a wait: the calls tested return within milliseconds).
func returnsWithinAMinute(t *testing.T, what string, call func() error) error {
	t.Helper()
	result := make(chan error, 1)
	go func() { result <- call() }()
	bound := time.NewTimer(time.Minute)
	defer bound.Stop()
	select {
	case err := <-result:
		return err
	case <-bound.C:
		t.Fatalf("%s still waits after a minute", what)
		return nil
	}
}

// waitForSnapshot polls until a snapshot of store succeeds.
func waitForSnapshot(t *testing.T, store *Store, what string) {
	t.Helper()
	poll.Until(t, what, func() bool {
		image, err := store.Snapshot()
		if err != nil {
			return false
		}
		image.Close()
		return true
	})
}

// TestBackoffDelaysFileCreationWhileFull checks the delay before Pebble's
// file creations: none while the disk takes writes, doubling from 10 ms
// to one second with each ENOSPC, none again after a successful flush.
func TestBackoffDelaysFileCreationWhileFull(t *testing.T) {
	health := newDiskHealth(slog.New(slog.DiscardHandler))
	var slept []time.Duration
	fs := backoffFS{FS: vfs.NewMem(), health: health, sleep: func(d time.Duration) { slept = append(slept, d) }}
	create := func() {
		t.Helper()
		file, err := fs.Create("file", vfs.WriteCategoryUnspecified)
		if err != nil {
			t.Fatal(err)
		}
		file.Close()
	}
	create()
	cause := fmt.Errorf("write: %w", syscall.ENOSPC)
	for range 9 {
		health.backgroundError(cause)
		create()
	}
	health.backgroundError(errors.New("some other failure")) // no change
	create()
	health.recovered()
	create()
	want := []time.Duration{10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000}
	if len(slept) != len(want) {
		t.Fatalf("slept %v, want %v ms", slept, want)
	}
	for i := range want {
		if slept[i] != want[i]*time.Millisecond {
			t.Fatalf("slept %v, want %v ms", slept, want)
		}
	}
}

// TestDiskHealthNoticesSpaceReturning marks the disk full and then frees
// space with no flush: the full state ends at the first probe (at most
// one a second) that finds two memtables' worth free.
func TestDiskHealthNoticesSpaceReturning(t *testing.T) {
	health := newDiskHealth(slog.New(slog.DiscardHandler))
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	health.now = func() time.Time { return clock }
	free, probes := uint64(0), 0
	health.freeSpace = func() (uint64, error) { probes++; return free, nil }
	health.backgroundError(fmt.Errorf("compaction: %w", syscall.ENOSPC))
	for range 10 {
		if health.fullError() == nil {
			t.Fatal("not full with no space free")
		}
		clock = clock.Add(90 * time.Millisecond)
	}
	if probes != 1 {
		t.Errorf("probes in 0.9 s: %d, want 1", probes)
	}
	free = spaceToResume
	if health.fullError() == nil {
		t.Error("full state ended before the next probe was due")
	}
	clock = clock.Add(100 * time.Millisecond)
	if err := health.fullError(); err != nil {
		t.Errorf("full after space returned: %v", err)
	}
	if delay := health.retryDelay(); delay != 0 {
		t.Errorf("retry delay after space returned: %v", delay)
	}
}

// logLines returns the lines logged to output so far.
func logLines(output *syncbuffer.Buffer) []string {
	return strings.Split(strings.TrimSpace(output.String()), "\n")
}

// TestSnapshotOnFullDiskFailsAtOnce takes a snapshot while the store's
// flush fails for lack of space: Snapshot, which the node calls on its
// loop, must fail with ErrDiskFull instead of waiting for Pebble's
// flush, which Pebble retries until space returns (that wait stopped a
// full member's loop: no ticks, no heartbeats, no Status). Once space
// returns, a snapshot is taken again.
func TestSnapshotOnFullDiskFailsAtOnce(t *testing.T) {
	var full atomic.Bool
	h := newHarness(t, Options{FileSystem: fullableFileSystem(&full)})
	h.put("before", "v", 0)
	full.Store(true)
	h.put("during", "v", 0)  // into the memtable: the snapshot's flush needs the disk
	for attempt := range 2 { // the flush finds the disk full, then it is known full
		if err := snapshotWithinAMinute(t, h.store); !errors.Is(err, ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("snapshot %d on a full disk: %v, want ErrDiskFull wrapping ENOSPC", attempt, err)
		}
	}
	full.Store(false)
	waitForSnapshot(t, h.store, "a snapshot once space returns")
}

// fullableFileSystem is an in-memory file system that refuses every write
// with ENOSPC while full is set.
func fullableFileSystem(full *atomic.Bool) vfs.FS {
	return failingFileSystem(full, syscall.ENOSPC)
}

// failingFileSystem is an in-memory file system that fails every write
// with errno while failing is set.
func failingFileSystem(failing *atomic.Bool, errno syscall.Errno) vfs.FS {
	return errorfs.Wrap(vfs.NewMem(), errorfs.InjectorFunc(func(op errorfs.Op) error {
		if failing.Load() && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			return fmt.Errorf("injected: %w", errno)
		}
		return nil
	}))
}

// TestDiskHealthLogsWriteStalls stalls Pebble's writes four times: a
// short stall is not logged, the first long one is, and the two that
// follow within a minute are counted into the next line a minute later.
func TestDiskHealthLogsWriteStalls(t *testing.T) {
	var output syncbuffer.Buffer
	health := newDiskHealth(slog.New(slog.NewTextHandler(&output, nil)))
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	health.now = func() time.Time { return clock }
	stall := func(length time.Duration) {
		health.writeStallBegin(pebble.WriteStallBeginInfo{Reason: "L0 file count limit exceeded"})
		clock = clock.Add(length)
		health.writeStallEnd()
	}
	stall(10 * time.Millisecond)
	if got := output.String(); got != "" {
		t.Fatalf("log after a 10 ms stall: %q, want nothing", got)
	}
	stall(300 * time.Millisecond)
	if got := logLines(&output); len(got) != 1 || !strings.Contains(got[0], "L0 file count") || !strings.Contains(got[0], "took=300ms") {
		t.Fatalf("log after a 300 ms stall: %q, want it with its reason", got)
	}
	stall(time.Second)
	stall(2 * time.Second)
	if got := logLines(&output); len(got) != 1 {
		t.Fatalf("log after two more stalls within a minute: %q, want still one line", got)
	}
	clock = clock.Add(time.Minute)
	stall(500 * time.Millisecond)
	if got := logLines(&output); len(got) != 2 || !strings.Contains(got[1], `"stalls since last logged"=3`) {
		t.Fatalf("log a minute later: %q, want a line counting 3 stalls", got)
	}
}

// TestFailedFlushesCountedButNotFullDisks checks what a waiting flush
// sees of a failed one: an EIO is counted as a failed flush (and pauses
// Pebble's next file creation, as a full disk does), an ENOSPC is not
// (Pebble reports it to BackgroundError right after FlushEnd, which marks
// the disk full), so that a flush waiting on a full disk reports
// ErrDiskFull, never a failed flush.
func TestFailedFlushesCountedButNotFullDisks(t *testing.T) {
	health := newDiskHealth(slog.New(slog.DiscardHandler))
	listener := health.listener()
	before := health.flushFailureCount()
	full := fmt.Errorf("injected: %w", syscall.ENOSPC)
	listener.FlushEnd(pebble.FlushInfo{Err: full})
	if err := health.failedFlushSince(before); err != nil {
		t.Fatalf("a flush that found the disk full counted as failed: %v", err)
	}
	listener.BackgroundError(full)
	if err := health.fullError(); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("after ENOSPC: fullError %v, want ErrDiskFull", err)
	}
	failed := fmt.Errorf("injected: %w", syscall.EIO)
	listener.FlushEnd(pebble.FlushInfo{Err: failed})
	if err := health.failedFlushSince(before); !errors.Is(err, syscall.EIO) {
		t.Fatalf("after an EIO flush: %v, want the EIO", err)
	}
	if delay := health.retryDelay(); delay <= 0 {
		t.Errorf("no pause before the next file creation after a failed flush")
	}
}

// TestEmptyFlushesAreNotFailures flushes a store with nothing in its
// memtable, three times, as a Snapshot of an idle store does: Pebble ends
// such a flush with an "empty table" error, which must count neither as a
// failed flush nor make the store failing (a leader would refuse writes
// and hand leadership over for nothing).
func TestEmptyFlushesAreNotFailures(t *testing.T) {
	h := newHarness(t, Options{})
	database, err := h.store.acquire()
	if err != nil {
		t.Fatal(err)
	}
	defer database.release()
	for range 3 {
		done, err := database.db.AsyncFlush()
		if err != nil {
			t.Fatal(err)
		}
		<-done
	}
	if failures := database.health.flushFailureCount(); failures != 0 {
		t.Errorf("%d empty flushes counted as failed (%v)", failures, database.health.lastFlushError)
	}
	if err := h.store.Failing(); err != nil {
		t.Errorf("a store after empty flushes: %v", err)
	}
	image, err := h.store.Snapshot()
	if err != nil {
		t.Fatalf("snapshot of an idle store: %v", err)
	}
	image.Close()
}

// TestRestoreFailsWhenFlushFails restores an image into a store whose
// table files cannot be written (EIO): Restore, called from the node's
// loop, returns the flush's error instead of waiting for ever, and the
// store keeps its state.
func TestRestoreFailsWhenFlushFails(t *testing.T) {
	source := newHarness(t, Options{})
	source.put("from-the-image", "v", 0)
	image := imageOf(t, source.store)
	var failing atomic.Bool
	fs := errorfs.Wrap(vfs.NewMem(), errorfs.InjectorFunc(func(op errorfs.Op) error {
		if failing.Load() && strings.HasSuffix(op.Path, ".sst") {
			return fmt.Errorf("injected: %w", syscall.EIO)
		}
		return nil
	}))
	target := newHarness(t, Options{FileSystem: fs})
	target.put("kept", "v", 0)
	failing.Store(true)
	restore := func() error { return target.store.Restore(bytes.NewReader(image)) }
	if err := returnsWithinAMinute(t, "Restore while table files fail", restore); !errors.Is(err, syscall.EIO) {
		t.Fatalf("restore while table files fail: %v, want the flush's EIO", err)
	}
	failing.Store(false)
	if got := target.get(&pb.RangeRequest{Key: []byte("kept")}); len(got.Kvs) != 1 {
		t.Errorf("the store after a failed restore: %v", describe(got.Kvs))
	}
}
