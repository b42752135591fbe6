package wal

import "github.com/lockstepdb/lockstep/raft"

// requestKind says what a queued write does.
type requestKind int

const (
	requestSave requestKind = iota
	requestCompact
	requestInstallSnapshot
	requestClose
)

// request is one caller's write, waiting in the queue.
type request struct {
	kind      requestKind
	hardState raft.HardState
	entries   []raft.Entry
	point     raft.SnapshotMetadata
	// records are the records other than entries that the request writes
	// after its entries (set by pendingView.plan).
	records []record

	// err and completed are written by the flusher before it signals
	// wake, and read by the caller after it receives from wake.
	err       error
	completed bool
	// wake is signalled once: either the request is complete, or its
	// caller is promoted to flusher.
	wake chan struct{}
}

func (r *request) complete(err error) {
	r.err = err
	r.completed = true
	r.wake <- struct{}{}
}

// submit queues req and returns its outcome. This is the group commit: the
// caller that finds no flusher running becomes the flusher, takes every
// queued request and commits them with one write and one fsync; callers
// arriving meanwhile queue up and wait. When a flusher is done it hands
// the role to the first waiter, so each caller commits at most one batch
// and no goroutine runs in the background.
func (l *Log) submit(req *request) error {
	req.wake = make(chan struct{}, 1)
	l.queueMu.Lock()
	if l.closed {
		l.queueMu.Unlock()
		return ErrClosed
	}
	if l.failed != nil && req.kind != requestClose {
		failed := l.failed
		l.queueMu.Unlock()
		return failedError(failed)
	}
	if req.kind == requestClose {
		l.closed = true
	}
	l.queue = append(l.queue, req)
	if l.flushing {
		l.queueMu.Unlock()
		<-req.wake
		if req.completed {
			return req.err
		}
		// Promoted: the previous flusher left the role (flushing is still
		// set) to this caller, whose request is still queued.
	} else {
		l.flushing = true
		l.queueMu.Unlock()
	}
	l.flush()
	return req.err
}

// flush commits everything queued, then passes the flusher role on.
func (l *Log) flush() {
	l.queueMu.Lock()
	batch := l.queue
	l.queue = nil
	l.queueMu.Unlock()
	l.commit(batch)
	l.queueMu.Lock()
	if len(l.queue) == 0 {
		l.flushing = false
		l.queueMu.Unlock()
		return
	}
	next := l.queue[0]
	l.queueMu.Unlock()
	next.wake <- struct{}{}
}

// queueLength returns the number of queued requests (for tests).
func (l *Log) queueLength() int {
	l.queueMu.Lock()
	defer l.queueMu.Unlock()
	return len(l.queue)
}
