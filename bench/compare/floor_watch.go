package main

import (
	"context"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// floorWatcher is one watch of a stream: a key or a range of keys.
type floorWatcher struct {
	id                        int64
	key, end                  []byte
	prevKV                    bool
	filterPuts, filterDeletes bool
}

// floorStream is one Watch stream of the floor. Its watchers are guarded
// by the store's mutex, so that a write and the watchers it must reach are
// seen together; its outbox, filled in revision order under that mutex,
// by its own, and drained by one sender goroutine (a gRPC stream has one
// sender at a time). The outbox is not bounded: the floor applies no flow
// control to a slow client.
type floorStream struct {
	watchers map[int64]*floorWatcher // under the store's mutex
	nextID   int64                   // under the store's mutex

	outboxMutex sync.Mutex
	outbox      []*pb.WatchResponse
	wake        chan struct{} // one pending signal: the outbox is not empty
}

func newFloorStream() *floorStream {
	return &floorStream{watchers: map[int64]*floorWatcher{}, wake: make(chan struct{}, 1)}
}

// enqueue adds responses to the outbox and wakes the sender.
func (s *floorStream) enqueue(responses ...*pb.WatchResponse) {
	s.outboxMutex.Lock()
	s.outbox = append(s.outbox, responses...)
	s.outboxMutex.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take empties the outbox.
func (s *floorStream) take() []*pb.WatchResponse {
	s.outboxMutex.Lock()
	defer s.outboxMutex.Unlock()
	taken := s.outbox
	s.outbox = nil
	return taken
}

// send sends the outbox's responses in order until ctx is done or a send
// fails.
func (s *floorStream) send(ctx context.Context, stream pb.Watch_WatchServer) {
	for {
		select {
		case <-s.wake:
		case <-ctx.Done():
			return
		}
		for _, response := range s.take() {
			if err := stream.Send(response); err != nil {
				return
			}
		}
	}
}

// notifyLocked gives every watcher that the events concern one response
// with those events; the caller holds the store's mutex and has made
// revision the events' revision. The responses share one header and,
// when a watcher wants every event (a single put's usual case), one slice
// of events: the floor spends on a watcher no more than its response.
func (s *floorStore) notifyLocked(revision int64, events []*mvccpb.Event) {
	header := floorHeader(revision)
	bare := make([]*mvccpb.Event, len(events)) // without the previous key-values
	for i, event := range events {
		bare[i] = event
		if event.PrevKv != nil {
			bare[i] = &mvccpb.Event{Type: event.Type, Kv: event.Kv}
		}
	}
	for stream := range s.streams {
		var responses []*pb.WatchResponse
		for _, watcher := range stream.watchers {
			shown := bare
			if watcher.prevKV {
				shown = events
			}
			if matched := watcher.matching(shown); len(matched) > 0 {
				responses = append(responses, &pb.WatchResponse{Header: header, WatchId: watcher.id, Events: matched})
			}
		}
		if len(responses) > 0 {
			stream.enqueue(responses...)
		}
	}
}

// matching returns the events the watcher wants: events itself when it
// wants them all.
func (w *floorWatcher) matching(events []*mvccpb.Event) []*mvccpb.Event {
	for i, event := range events {
		if w.wants(event) {
			continue
		}
		// Not all: copy those wanted.
		matched := append([]*mvccpb.Event{}, events[:i]...)
		for _, later := range events[i+1:] {
			if w.wants(later) {
				matched = append(matched, later)
			}
		}
		return matched
	}
	return events
}

func (w *floorWatcher) wants(event *mvccpb.Event) bool {
	if (event.Type == mvccpb.PUT && w.filterPuts) || (event.Type == mvccpb.DELETE && w.filterDeletes) {
		return false
	}
	return inRange(event.Kv.Key, w.key, w.end)
}

// watch registers a new watcher on stream and queues its confirmation,
// under the store's mutex so that no write falls between the two. A start
// revision at or below the current one would need history, which the
// floor does not keep: such a watch is created and cancelled at once.
func (s *floorStore) watch(stream *floorStream, request *pb.WatchCreateRequest) {
	s.mutex.Lock()
	defer s.mutex.Unlock()
	id := request.WatchId
	if id == 0 {
		for stream.watchers[stream.nextID] != nil {
			stream.nextID++
		}
		id = stream.nextID
		stream.nextID++
	} else if stream.watchers[id] != nil {
		stream.enqueue(&pb.WatchResponse{Header: floorHeader(s.revision), WatchId: id, Created: true, Canceled: true,
			CancelReason: "mvcc: duplicate watch ID provided on the WatchStream"})
		return
	}
	if request.StartRevision != 0 && request.StartRevision <= s.revision {
		stream.enqueue(&pb.WatchResponse{Header: floorHeader(s.revision), WatchId: id, Created: true, Canceled: true,
			CancelReason: "floor: no history is kept; a watch can only start after the current revision"})
		return
	}
	watcher := &floorWatcher{id: id, key: request.Key, end: request.RangeEnd, prevKV: request.PrevKv}
	for _, filter := range request.Filters {
		watcher.filterPuts = watcher.filterPuts || filter == pb.WatchCreateRequest_NOPUT
		watcher.filterDeletes = watcher.filterDeletes || filter == pb.WatchCreateRequest_NODELETE
	}
	stream.watchers[id] = watcher
	s.streams[stream] = struct{}{}
	stream.enqueue(&pb.WatchResponse{Header: floorHeader(s.revision), WatchId: id, Created: true})
}

// cancel removes a watcher and queues the confirmation.
func (s *floorStore) cancel(stream *floorStream, id int64) {
	s.mutex.Lock()
	defer s.mutex.Unlock()
	if stream.watchers[id] == nil {
		return // etcd ignores a cancellation of an unknown watch
	}
	delete(stream.watchers, id)
	stream.enqueue(&pb.WatchResponse{Header: floorHeader(s.revision), WatchId: id, Canceled: true})
}

// progress queues a progress notification for the whole stream (watch ID
// -1, as in etcd): every watcher has seen every write up to now.
func (s *floorStore) progress(stream *floorStream) {
	s.mutex.Lock()
	defer s.mutex.Unlock()
	stream.enqueue(&pb.WatchResponse{Header: floorHeader(s.revision), WatchId: -1})
}

// closeStream forgets a stream that has ended.
func (s *floorStore) closeStream(stream *floorStream) {
	s.mutex.Lock()
	defer s.mutex.Unlock()
	delete(s.streams, stream)
}

// Watch serves one Watch stream: it reads requests until the client ends
// the stream, while its sender goroutine sends what the outbox gets.
func (s *floorStore) Watch(server pb.Watch_WatchServer) error {
	stream := newFloorStream()
	defer s.closeStream(stream)
	ctx, cancel := context.WithCancel(server.Context())
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		stream.send(ctx, server)
	}()
	// The handler returns only once the sender has stopped: gRPC forbids
	// sending on a stream whose handler has returned.
	defer func() { cancel(); <-sent }()
	for {
		request, err := server.Recv()
		if err != nil {
			return nil // the client ended the stream, or the connection is gone
		}
		switch r := request.RequestUnion.(type) {
		case *pb.WatchRequest_CreateRequest:
			s.watch(stream, r.CreateRequest)
		case *pb.WatchRequest_CancelRequest:
			s.cancel(stream, r.CancelRequest.WatchId)
		case *pb.WatchRequest_ProgressRequest:
			s.progress(stream)
		}
	}
}
