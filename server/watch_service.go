package server

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/lockstepdb/lockstep/kv"
)

// watchService implements etcd's Watch service on the store's watchers.
type watchService struct {
	pb.UnimplementedWatchServer
	server *Server
}

// watchStream is one client stream and the watchers it created.
type watchStream struct {
	server *Server
	stream grpc.BidiStreamingServer[pb.WatchRequest, pb.WatchResponse]
	ctx    context.Context
	cancel context.CancelFunc

	sendMu sync.Mutex // gRPC allows one sender at a time
	// ready is signaled (by kv, see kv.WatchRequest.Ready) whenever one of
	// the stream's watchers has a response queued; one goroutine,
	// sendLoop, then forwards them all.
	ready chan struct{}

	mu       sync.Mutex
	watchers map[int64]*streamWatcher
	nextID   int64
	// progress is the stream-wide progress request being answered, nil
	// when none is (see watch_progress.go).
	progress *progressRound
	group    sync.WaitGroup
	// noLeader is set when monitorLeader ended the stream.
	noLeader atomic.Bool
	// closed is set, under mu, when the handler is ending.
	closed bool
}

type streamWatcher struct {
	id      int64
	watcher *kv.Watcher
	notify  bool // progress_notify
	// gone is set when the watch is canceled or forgotten: whatever is
	// still queued on it is not sent.
	gone atomic.Bool
	// sentEvents, owned by sendLoop, records that events went out since
	// the last progress tick.
	sentEvents bool
}

func (w *watchService) Watch(stream grpc.BidiStreamingServer[pb.WatchRequest, pb.WatchResponse]) error {
	ctx, cancel := context.WithCancel(stream.Context())
	ws := &watchStream{server: w.server, stream: stream, ctx: ctx, cancel: cancel, watchers: map[int64]*streamWatcher{},
		ready: make(chan struct{}, 1)}
	defer ws.closeAll()
	ws.group.Go(ws.sendLoop)
	if requiresLeader(stream.Context()) {
		ws.group.Go(ws.monitorLeader)
	}
	received := make(chan error, 1)
	go func() { received <- ws.receive() }()
	err := ws.wait(received)
	w.server.log.Debug("watch stream ended", "error", err)
	return err
}

// wait returns why the stream ended: the client's side failed, the
// client went away (the stream's context ended), the member lost its
// leader (for streams that require one), or stopped. A client that only
// closes its side (io.EOF: it will create no more watches) keeps its
// watches, as in etcd: a JSON gateway client sends its create request as
// the whole body, then reads the events.
func (ws *watchStream) wait(received chan error) error {
	for {
		select {
		case err := <-received:
			if err != nil {
				return err
			}
			received = nil // closed by the client: wait for the rest
		case <-ws.ctx.Done():
			if ws.noLeader.Load() {
				return rpctypes.ErrGRPCNoLeader
			}
			return ws.ctx.Err()
		case <-ws.server.stopping:
			return rpctypes.ErrGRPCStopped
		}
	}
}

// requiresLeader reports whether the client asked (clientv3
// WithRequireLeader) that its watches end when the member loses its leader.
func requiresLeader(ctx context.Context) bool {
	values := metadata.ValueFromIncomingContext(ctx, rpctypes.MetadataRequireLeaderKey)
	return len(values) > 0 && values[0] == rpctypes.MetadataHasLeader
}

// monitorLeader ends the stream once the member has had no leader for
// three election timeouts in a row, as etcd does for streams that require
// one: a leader change in progress is not a reason to drop watches.
func (ws *watchStream) monitorLeader() {
	ticker := time.NewTicker(ws.server.config.ElectionTimeout)
	defer ticker.Stop()
	leaderless := 0
	for {
		select {
		case <-ws.ctx.Done():
			return
		case <-ticker.C:
		}
		if ws.server.leader.Load() != 0 {
			leaderless = 0
			continue
		}
		if leaderless++; leaderless >= 3 {
			ws.noLeader.Store(true)
			ws.cancel()
			return
		}
	}
}

func (ws *watchStream) receive() error {
	for {
		request, err := ws.stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case request.GetCreateRequest() != nil:
			err = ws.create(request.GetCreateRequest())
		case request.GetCancelRequest() != nil:
			err = ws.cancelWatch(request.GetCancelRequest().WatchId)
		case request.GetProgressRequest() != nil:
			ws.requestProgress()
		}
		if err != nil {
			return err
		}
	}
}

func (ws *watchStream) send(response *pb.WatchResponse) error {
	if response.Canceled {
		ws.server.log.Debug("watch canceled", "watch", response.WatchId, "reason", response.CancelReason, "compact_revision", response.CompactRevision)
	}
	ws.sendMu.Lock()
	defer ws.sendMu.Unlock()
	return ws.stream.Send(response)
}

func (ws *watchStream) create(request *pb.WatchCreateRequest) error {
	revision, _ := ws.server.store.Revision()
	if err := ws.server.authorizeWatch(ws.stream.Context(), request); err != nil {
		// etcd's answer to a watch outside the caller's permissions: no
		// watch ID, created and canceled at once.
		return ws.send(&pb.WatchResponse{Header: ws.server.header(revision), WatchId: -1, Created: true, Canceled: true, CancelReason: err.Error()})
	}
	ws.mu.Lock()
	id := request.WatchId
	if id == 0 {
		// 0 asks for an ID (clientv3.AutoWatchID): the next one not in
		// use, counting from 0, never handed out twice on a stream, as
		// etcd numbers them.
		for ws.watchers[ws.nextID] != nil {
			ws.nextID++
		}
		id = ws.nextID
		ws.nextID++
	} else if ws.watchers[id] != nil || id < 0 {
		ws.mu.Unlock()
		return ws.send(&pb.WatchResponse{Header: ws.server.header(revision), WatchId: id, Created: true, Canceled: true,
			CancelReason: "etcdserver: watch ID " + formatInt(id) + " is already in use"})
	}
	spec := kv.WatchRequest{Key: request.Key, RangeEnd: request.RangeEnd, StartRevision: request.StartRevision, PrevKV: request.PrevKv,
		Ready: ws.ready}
	for _, filter := range request.Filters {
		switch filter {
		case pb.WatchCreateRequest_NOPUT:
			spec.NoPut = true
		case pb.WatchCreateRequest_NODELETE:
			spec.NoDelete = true
		}
	}
	watcher, err := ws.server.store.Watch(spec)
	if err != nil {
		ws.mu.Unlock()
		return ws.send(&pb.WatchResponse{Header: ws.server.header(revision), WatchId: id, Created: true, Canceled: true, CancelReason: err.Error()})
	}
	entry := &streamWatcher{id: id, watcher: watcher, notify: request.ProgressNotify}
	ws.watchers[id] = entry
	// The created response goes out before sendLoop can see the watcher
	// (it lists the watchers under mu), so it precedes every event.
	err = ws.send(&pb.WatchResponse{Header: ws.server.header(revision), WatchId: id, Created: true})
	if err != nil || ws.closed {
		delete(ws.watchers, id)
		entry.gone.Store(true)
		ws.mu.Unlock()
		watcher.Close()
		return err
	}
	if request.StartRevision != 0 {
		ws.restartProgressRound()
	}
	ws.mu.Unlock()
	return nil
}

func (ws *watchStream) cancelWatch(id int64) error {
	ws.mu.Lock()
	entry, ok := ws.watchers[id]
	delete(ws.watchers, id)
	ws.progressSettled(id)
	ws.mu.Unlock()
	if !ok {
		return nil
	}
	entry.gone.Store(true)
	entry.watcher.Close()
	revision, _ := ws.server.store.Revision()
	return ws.send(&pb.WatchResponse{Header: ws.server.header(revision), WatchId: id, Canceled: true})
}

// watcherEnded tells the client that a watcher the store closed by itself
// (the store is closing) is canceled, unless the client canceled it.
func (ws *watchStream) watcherEnded(id int64) {
	ws.mu.Lock()
	_, open := ws.watchers[id]
	ws.mu.Unlock()
	if !open || ws.ctx.Err() != nil {
		return
	}
	ws.forget(id)
	revision, _ := ws.server.store.Revision()
	ws.send(&pb.WatchResponse{Header: ws.server.header(revision), WatchId: id, Canceled: true, CancelReason: rpctypes.ErrGRPCStopped.Error()})
}

func (ws *watchStream) forget(id int64) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if entry := ws.watchers[id]; entry != nil {
		entry.gone.Store(true)
	}
	delete(ws.watchers, id)
	ws.progressSettled(id)
}

func (ws *watchStream) closeAll() {
	ws.cancel()
	ws.mu.Lock()
	// The receiving goroutine may outlive the handler (gRPC ends its
	// Recv only after the handler returns): closed keeps it from starting
	// goroutines once Wait below has begun.
	ws.closed = true
	for id, entry := range ws.watchers {
		entry.gone.Store(true)
		entry.watcher.Close()
		delete(ws.watchers, id)
	}
	ws.mu.Unlock()
	ws.group.Wait()
}
