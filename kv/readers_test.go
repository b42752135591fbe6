package kv

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// TestReadersRunReadsElsewhereAndNeverMakeOneWait: a read runs on a
// reader, not on its caller's goroutine; with every reader busy and the
// queue full, a read runs on its caller's at once instead of waiting; what
// was queued runs; after close, reads run on their callers'.
func TestReadersRunReadsElsewhereAndNeverMakeOneWait(t *testing.T) {
	r := newReaders()
	count := cap(r.jobs)

	caller := goroutineID()
	var ranOn uint64
	r.do(func() { ranOn = goroutineID() })
	if ranOn == 0 || ranOn == caller {
		t.Fatalf("the read ran on goroutine %d, its caller is %d: want a reader", ranOn, caller)
	}

	// Hold every reader, then fill the queue behind them.
	release := make(chan struct{})
	var held, queued sync.WaitGroup
	started := make(chan struct{}, count)
	for range count {
		held.Go(func() {
			r.do(func() {
				started <- struct{}{}
				<-release
			})
		})
	}
	for range count {
		<-started
	}
	ranQueued := make(chan int, count)
	for i := range count {
		queued.Go(func() { r.do(func() { ranQueued <- i }) })
	}
	for len(r.jobs) < count {
		runtime.Gosched() // until the queue is full
	}

	r.do(func() { ranOn = goroutineID() })
	if ranOn != caller {
		t.Fatalf("with every reader busy and the queue full, the read ran on goroutine %d, want its caller's %d", ranOn, caller)
	}

	close(release)
	held.Wait()
	queued.Wait()
	if len(ranQueued) != count {
		t.Fatalf("%d of the %d queued reads ran", len(ranQueued), count)
	}

	r.close()
	r.close() // a second close is harmless
	r.do(func() { ranOn = goroutineID() })
	if ranOn != caller {
		t.Fatalf("after close the read ran on goroutine %d, want its caller's %d", ranOn, caller)
	}
}

// goroutineID is the calling goroutine's ID, from its stack trace's first
// line ("goroutine 7 [running]:"): for the test only.
func goroutineID() uint64 {
	var buffer [64]byte
	line := buffer[:runtime.Stack(buffer[:], false)]
	var id uint64
	fmt.Sscanf(string(line), "goroutine %d ", &id)
	return id
}

// BenchmarkPointRangeFromNewGoroutines reads one key the way the server
// does, each read on a new goroutine below a few frames (gRPC's handler
// goroutine, its interceptors): through the readers, and directly on the
// new goroutine ("inline"), whose small stack Pebble's read path outgrows.
func BenchmarkPointRangeFromNewGoroutines(b *testing.B) {
	h := newHarness(b, Options{})
	for i := range 1000 {
		h.put(fmt.Sprintf("key-%04d", i), "value", 0)
	}
	request := &pb.RangeRequest{Key: []byte("key-0500")}
	for _, via := range []struct {
		name string
		read func() (*pb.RangeResponse, error)
	}{
		{"readers", func() (*pb.RangeResponse, error) { return h.store.Range(request) }},
		{"inline", func() (*pb.RangeResponse, error) { return h.store.rangeInView(request) }},
	} {
		b.Run(via.name, func(b *testing.B) {
			for b.Loop() {
				done := make(chan error, 1)
				go func() { done <- belowFrames(12, via.read) }()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// belowFrames calls read depth frames down, as a handler is called below
// gRPC's and the interceptors' frames.
//
//go:noinline
func belowFrames(depth int, read func() (*pb.RangeResponse, error)) error {
	if depth > 0 {
		return belowFrames(depth-1, read)
	}
	response, err := read()
	if err == nil && response.Count != 1 {
		err = fmt.Errorf("count %d, want 1", response.Count)
	}
	return err
}
