package kv

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	lockstepvfs "github.com/lockstepdb/lockstep/vfs"
)

// ErrDiskFull is wrapped by what Store.DiskFull returns: the store's
// disk has no space left for Pebble's flushes and compactions.
var ErrDiskFull = errors.New("kv: the store's disk is full")

// diskSummaryInterval is how often, at most, repeated background errors
// are logged again: as a summary with their count. Pebble retries a failed
// flush at once, so a full disk fails hundreds of times a second.
const diskSummaryInterval = time.Minute

// spaceToResume is the free space at which a full disk is taken to have
// space again without a successful flush: two memtables' worth, what
// Pebble flushes before applying waits.
const spaceToResume = 2 * memTableSize

// diskHealth follows Pebble's background errors: the first is logged at
// once, those that follow only as a summary at most once a minute with
// their count; an error that says the disk is full (ENOSPC) marks the
// store full until a flush succeeds again. Safe for concurrent use: Pebble
// calls it from its background goroutines.
type diskHealth struct {
	logger *slog.Logger
	now    func() time.Time
	// freeSpace returns the bytes available to the store (nil: unknown).
	// While full, the disk is asked at most once a second: a failed
	// compaction is retried only when Pebble next picks it, and refused
	// writes make no new flushes, so the end of a full disk is also
	// noticed this way.
	freeSpace  func() (uint64, error)
	lastProbed time.Time

	mu sync.Mutex
	// full is the ENOSPC error that marked the disk full, nil while
	// flushes succeed.
	full        error
	fullSince   time.Time
	failing     bool      // errors come, logged since lastLogged
	lastLogged  time.Time // when the last error or summary was logged
	unlogged    int       // errors since then
	totalErrors int64
	// delay is how long backoffFS waits before Pebble's next file
	// creation: zero while the disk takes writes.
	delay time.Duration
	// stallSince is when Pebble stopped taking writes, until its
	// compactions and flushes catch up (zero: it takes them).
	stallSince  time.Time
	stallReason string
	stallLogged time.Time     // when a stall was last logged
	stalls      int           // stalls since then
	stalled     time.Duration // their time
	// flushFailures counts Pebble's failed flushes, for any reason but a
	// full disk, and lastFlushError is the last one's error (see
	// failedFlushSince). flushFailingSince is when the first of the
	// failures since the last successful flush came (zero: none).
	flushFailures     uint64
	lastFlushError    error
	flushFailingSince time.Time
}

// ErrStoreFailing is wrapped by what Store.Failing returns: the store's
// flushes fail for another reason than a full disk.
var ErrStoreFailing = errors.New("kv: the store's flushes fail")

func newDiskHealth(logger *slog.Logger) *diskHealth {
	return &diskHealth{logger: logger, now: time.Now}
}

// listener returns Pebble's event listener that reports to h.
func (h *diskHealth) listener() *pebble.EventListener {
	return &pebble.EventListener{
		BackgroundError: h.backgroundError,
		FlushEnd: func(info pebble.FlushInfo) {
			switch {
			case info.Err == nil:
				h.flushSucceeded()
				h.recovered()
			case isEmptyFlush(info):
				// Nothing to write: neither a success nor a failure.
			default:
				h.flushFailed(info.Err)
			}
		},
		CompactionEnd: func(info pebble.CompactionInfo) {
			if info.Err == nil {
				h.recovered()
			}
		},
		WriteStallBegin: h.writeStallBegin,
		WriteStallEnd:   h.writeStallEnd,
	}
}

// writeStallBegin notes that Pebble stopped taking writes (too many
// memtables waiting for their flush, or too many files in level 0):
// Apply, and with it every commit on this member, waits until it ends.
func (h *diskHealth) writeStallBegin(info pebble.WriteStallBeginInfo) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stallSince, h.stallReason = h.now(), info.Reason
}

// writeStallEnd logs a stall that lasted a tenth of a second or more, at
// most once a minute with the count of those not logged (a fill faster
// than the disk stalls many times a second).
func (h *diskHealth) writeStallEnd() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stallSince.IsZero() {
		return
	}
	now := h.now()
	stalled := now.Sub(h.stallSince)
	h.stallSince = time.Time{}
	h.stalls++
	h.stalled += stalled
	if stalled < 100*time.Millisecond || now.Sub(h.stallLogged) < diskSummaryInterval {
		return
	}
	h.logger.Warn("kv: the store stopped taking writes until its compactions caught up", "reason", h.stallReason, "took", stalled,
		"stalls since last logged", h.stalls, "stalled since last logged", h.stalled)
	h.stallLogged, h.stalls, h.stalled = now, 0, 0
}

// backgroundError records one failed background operation of Pebble.
func (h *diskHealth) backgroundError(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	h.totalErrors++
	if lockstepvfs.IsNoSpace(err) {
		h.delay = min(max(2*h.delay, minimumRetryDelay), maximumRetryDelay)
	}
	if lockstepvfs.IsNoSpace(err) && h.full == nil {
		h.full, h.fullSince = err, now
		h.logger.Error("kv: the disk is full: writes are refused until space returns (Pebble retries by itself; see docs/operations.md, When the disk fills)", "error", err)
		h.failing, h.lastLogged, h.unlogged = true, now, 0
		return
	}
	if !h.failing {
		h.logger.Error("kv: pebble background error", "error", err)
		h.failing, h.lastLogged, h.unlogged = true, now, 0
		return
	}
	h.unlogged++
	if now.Sub(h.lastLogged) >= diskSummaryInterval {
		h.logger.Error("kv: pebble background errors go on", "errors", h.unlogged, "over", now.Sub(h.lastLogged).Round(time.Second), "last", err)
		h.lastLogged, h.unlogged = now, 0
	}
}

// emptyFlushMessage is the error Pebble gives FlushEnd for a flush that
// had nothing to write (an empty memtable, which a Snapshot of an idle
// store flushes): its sentinel is not exported, so it is told by its
// message. TestEmptyFlushesAreNotFailures fails if Pebble changes it.
const emptyFlushMessage = "pebble: empty table"

// isEmptyFlush says whether a flush ended with nothing to write.
func isEmptyFlush(info pebble.FlushInfo) bool {
	return len(info.Output) == 0 && info.Err != nil && info.Err.Error() == emptyFlushMessage
}

// flushFailed records a flush that failed; Pebble retries it. A flush
// that failed for lack of space is left to backgroundError, which Pebble
// calls right after with the same error and which marks the disk full:
// counting it here too would let a waiting flushOrFull report a failed
// flush instead of a full disk.
func (h *diskHealth) flushFailed(err error) {
	if lockstepvfs.IsNoSpace(err) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.flushFailures++
	h.lastFlushError = err
	if h.flushFailingSince.IsZero() {
		h.flushFailingSince = h.now()
	}
	// Pebble retries a failed flush at once: without a pause before its
	// next file creation (backoffFS), a disk that answers EIO would keep a
	// core busy failing.
	h.delay = min(max(2*h.delay, minimumRetryDelay), maximumRetryDelay)
}

// flushSucceeded ends the failing state: a flush wrote its tables.
func (h *diskHealth) flushSucceeded() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.flushFailingSince = time.Time{}
}

// failingError returns nil unless the flushes failed since the last one
// that succeeded, for another reason than a full disk; then an error that
// wraps ErrStoreFailing and the last failure, and says since when.
func (h *diskHealth) failingError() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.flushFailingSince.IsZero() {
		return nil
	}
	return fmt.Errorf("%w since %s: %w", ErrStoreFailing, h.flushFailingSince.UTC().Format(time.RFC3339), h.lastFlushError)
}

// flushFailureCount returns how many flushes have failed so far, to pass
// to failedFlushSince later.
func (h *diskHealth) flushFailureCount() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.flushFailures
}

// failedFlushSince returns the error of the last failed flush if a flush
// failed after count was taken, else nil.
func (h *diskHealth) failedFlushSince(count uint64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.flushFailures == count {
		return nil
	}
	return h.lastFlushError
}

// recovered records a successful flush: the disk takes writes again.
func (h *diskHealth) recovered() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recoveredLocked()
}

// recoveredLocked is recovered with h.mu held.
func (h *diskHealth) recoveredLocked() {
	if !h.failing && h.full == nil && h.delay == 0 {
		return
	}
	if h.full != nil {
		h.logger.Info("kv: the disk takes writes again", "full-for", h.now().Sub(h.fullSince).Round(time.Second), "errors-since-last-log", h.unlogged)
	} else {
		h.logger.Info("kv: pebble background work succeeds again", "errors-since-last-log", h.unlogged)
	}
	h.full, h.failing, h.unlogged, h.delay = nil, false, 0, 0
}

// retryDelay returns how long to wait before creating a file: zero while
// the disk takes writes.
func (h *diskHealth) retryDelay() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.delay
}

// fullError returns nil while the disk takes writes, else an error that
// wraps ErrDiskFull and says since when and why.
func (h *diskHealth) fullError() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.full == nil {
		return nil
	}
	if now := h.now(); h.freeSpace != nil && now.Sub(h.lastProbed) >= time.Second {
		h.lastProbed = now
		if free, err := h.freeSpace(); err == nil && free >= spaceToResume {
			h.logger.Info("kv: the disk has space again", "available", free)
			h.recoveredLocked()
			return nil
		}
	}
	return fmt.Errorf("%w since %s: %w", ErrDiskFull, h.fullSince.UTC().Format(time.RFC3339), h.full)
}

// DiskFull returns nil while the store's disk takes Pebble's writes, and
// an error wrapping ErrDiskFull (and the cause, ENOSPC) from Pebble's
// first failure for lack of space until a flush succeeds again. While it
// is full, applied writes stay in memory (the Raft log holds them) until
// Pebble's memtables are full, and then applying waits. Callable from any
// goroutine.
func (s *Store) DiskFull() error {
	return s.disk.fullError()
}

// Failing returns nil while the store's flushes succeed, and an error
// wrapping ErrStoreFailing (and the cause, such as EIO or a directory
// removed underneath the store) from the first flush that fails for
// another reason than a full disk until one succeeds again. Pebble
// retries the flush; meanwhile applied writes stay in memory (the Raft
// log holds them) until its memtables are full, and then applying waits.
// Callable from any goroutine.
func (s *Store) Failing() error {
	return s.disk.failingError()
}
