package kv

import (
	"runtime"
	"sync"
)

// readers runs point reads (a Range of one key) on a few long-lived
// goroutines instead of the caller's.
//
// Why: gRPC runs every call on a goroutine of its own, which starts with a
// small stack, and Pebble's read path (DB.getInternal and the iterators
// below it) needs a larger one. So the runtime grew the handler's stack, and
// copied all of its deep frames (gRPC, the interceptors, the read barrier),
// at every read: runtime.copystack was 18-20% of the leader's CPU under
// linearizable single-key ranges from 1,000 clients. A reader keeps the stack
// it grew across reads (garbage collection may halve an idle reader's; it
// then grows once more, which is one copy per reader, not one per read).
//
// A read never waits for another: when every reader is busy and the queue,
// as long as there are readers, is full, the read runs on its caller's
// goroutine, as before. Only point reads come here: a large range would hold
// a reader, and the point reads queued behind it, for as long as it takes.
type readers struct {
	// mu is held for reading while a job is being queued, and for writing
	// by close, so no job is queued once the readers may have gone.
	mu     sync.RWMutex
	closed bool
	jobs   chan *readJob
}

// readJob is one read handed to a reader; done is signalled once it ran.
type readJob struct {
	run  func()
	done chan struct{}
}

var readJobs = sync.Pool{New: func() any { return &readJob{done: make(chan struct{}, 1)} }}

// newReaders starts the readers: four per processor Go uses, at least
// eight, so that reads that wait for the disk (a store larger than memory)
// still overlap.
func newReaders() *readers {
	count := max(8, 4*runtime.GOMAXPROCS(0))
	r := &readers{jobs: make(chan *readJob, count)}
	for range count {
		go r.serve()
	}
	return r
}

// serve runs queued jobs until close.
func (r *readers) serve() {
	for job := range r.jobs {
		job.run()
		job.done <- struct{}{}
	}
}

// do runs read on a reader, or on the calling goroutine when none can take
// it at once (all busy with a full queue, or closed), and returns once it
// ran. Safe for concurrent use.
func (r *readers) do(read func()) {
	job := readJobs.Get().(*readJob)
	job.run = read
	r.mu.RLock()
	queued := false
	if !r.closed {
		select {
		case r.jobs <- job:
			queued = true
		default:
		}
	}
	r.mu.RUnlock()
	if queued {
		<-job.done
	} else {
		read()
	}
	job.run = nil
	readJobs.Put(job)
}

// close lets the readers finish what is queued and exit; later reads run on
// their callers' goroutines. Called once, by Store.Close.
func (r *readers) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	close(r.jobs)
}
