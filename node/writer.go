package node

import (
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/lockstepdb/lockstep/internal/retry"
	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
	"github.com/lockstepdb/lockstep/wal"
)

// logWriter persists Readies on its own goroutine, with
// raft.Config.AsyncPersistence, so that the loop goes on stepping messages
// and taking proposals during the fsync. Writes reach the log in the order
// they were queued; the writes queued while one is being saved are merged
// into the next Save (one fsync for all of them). The loop learns on
// notify that the durable sequence moved (or that a write failed) and
// reports it to the core with Persisted. A Save that finds the log's disk
// full is tried again until space returns (see saveWaitingForSpace).
type logWriter struct {
	storage *wal.Storage
	log     *slog.Logger
	// fileSystem and directory hold the log, for the operator's messages.
	fileSystem vfs.FS
	directory  string

	mu      sync.Mutex
	queue   []logWrite
	durable uint64 // the last sequence saved
	failure error  // the first failed Save; the writer stops at it
	// diskFull is the wal.ErrNoSpace of the Save being retried, since
	// fullSince; nil while Saves succeed.
	diskFull  error
	fullSince time.Time
	// retries paces the tries of a batch that found the disk full (writer
	// goroutine only).
	retries retry.Backoff[uint64]

	// wake (buffered) tells the writer work is queued; notify (buffered)
	// tells the loop that durable or failure changed. Neither send
	// blocks, so neither side ever waits for the other.
	wake   chan struct{}
	notify chan struct{}
	quit   chan struct{}
	done   chan struct{}

	// queued is the last sequence queued. Loop only.
	queued uint64
}

// logWrite is one Ready's write.
type logWrite struct {
	sequence  uint64
	hardState raft.HardState
	entries   []raft.Entry
}

// newLogWriter starts a writer for storage, whose log lives in directory
// of fileSystem; it logs to log.
func newLogWriter(storage *wal.Storage, log *slog.Logger, fileSystem vfs.FS, directory string) *logWriter {
	w := &logWriter{storage: storage, log: log, fileSystem: fileSystem, directory: directory,
		retries: retry.Backoff[uint64]{First: firstDiskFullRetry, Last: lastDiskFullRetry},
		wake:    make(chan struct{}, 1), notify: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// enqueue queues a Ready's write. Called from the loop, in sequence order.
func (w *logWriter) enqueue(write logWrite) {
	w.mu.Lock()
	w.queue = append(w.queue, write)
	w.mu.Unlock()
	w.queued = write.sequence
	signal(w.wake)
}

// progress returns the last durable sequence, or the write's failure.
func (w *logWriter) progress() (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.durable, w.failure
}

// drain waits, on the loop, until every queued write is durable: a snapshot
// from the leader replaces the log, so it must not race earlier writes.
// While the log's disk is full that lasts until space returns; it returns
// ErrStopped at once when stopping closes, so that Stop still works.
func (w *logWriter) drain(stopping <-chan struct{}) error {
	for {
		durable, err := w.progress()
		if err != nil {
			return err
		}
		if durable >= w.queued {
			return nil
		}
		select {
		case <-w.notify:
		case <-stopping:
			return ErrStopped
		}
	}
}

// stop ends the writer after the Save in progress, if any, and waits for
// it (a Save waiting for disk space is abandoned at once); writes still
// queued are abandoned, as a crash would (nothing that depends on them was
// acknowledged). Called once, by the loop as it ends.
func (w *logWriter) stop() {
	close(w.quit)
	<-w.done
}

func (w *logWriter) run() {
	defer close(w.done)
	for {
		select {
		case <-w.quit:
			return
		case <-w.wake:
		}
		for {
			select {
			case <-w.quit:
				return
			default:
			}
			w.mu.Lock()
			batch := w.queue
			w.queue = nil
			w.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			// Let the goroutines the loop woke with this batch's messages
			// run first: a leader's appends then reach the network (the
			// transport's peers write them) before this goroutine's write
			// and fsync, rather than after it, and the followers' writes
			// start sooner. Without it a woken sender waited for another
			// thread to wake, about 130 µs at the median on the machine
			// in docs/latency-budget.md.
			runtime.Gosched()
			stopped, err := w.saveWaitingForSpace(batch)
			if stopped {
				return
			}
			w.mu.Lock()
			if err != nil {
				w.failure = err
			} else {
				w.durable = batch[len(batch)-1].sequence
			}
			w.mu.Unlock()
			signal(w.notify)
			if err != nil {
				return
			}
		}
	}
}

// save writes a batch of writes with one Save.
func (w *logWriter) save(batch []logWrite) error {
	hardState, entries := mergeWrites(batch)
	if hardState.IsEmpty() && len(entries) == 0 {
		return nil // a snapshot-only write, already durable
	}
	if err := w.storage.Save(hardState, entries); err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	return nil
}

// mergeWrites folds consecutive writes into one: the last hard state, and
// the log as the writes leave it (a later write's entries replace every
// earlier entry from their first index on, as Save itself does).
func mergeWrites(batch []logWrite) (raft.HardState, []raft.Entry) {
	if len(batch) == 1 {
		return batch[0].hardState, batch[0].entries
	}
	var hardState raft.HardState
	var entries []raft.Entry
	for _, write := range batch {
		if !write.hardState.IsEmpty() {
			hardState = write.hardState
		}
		if len(write.entries) == 0 {
			continue
		}
		if len(entries) > 0 {
			first := write.entries[0].Index
			keep := max(first, entries[0].Index) - entries[0].Index
			entries = entries[:min(keep, uint64(len(entries)))]
		}
		// append copies into the writer's own array: the core's arrays
		// are never written.
		entries = append(entries, write.entries...)
	}
	return hardState, entries
}

// signal makes a non-blocking send on a buffered channel of one.
func signal(channel chan struct{}) {
	select {
	case channel <- struct{}{}:
	default:
	}
}
