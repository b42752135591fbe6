package server

import (
	"context"
	"sync"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// readBatcher makes linearizable reads cheap under load: every read that
// arrives while no read barrier is being confirmed joins the next one, so
// a thousand concurrent reads cost one ReadIndex round trip, not a
// thousand. A read never joins a barrier that started before it arrived:
// that barrier's read index might predate a write the read must see.
type readBatcher struct {
	server *Server
	mu     sync.Mutex
	// next is the batch that the next barrier will release; nil when no
	// read is waiting.
	next *readBatch
	wake chan struct{}
}

type readBatch struct {
	done chan struct{}
	err  error
}

func newReadBatcher(s *Server) *readBatcher {
	return &readBatcher{server: s, wake: make(chan struct{}, 1)}
}

// wait blocks until a read barrier that started after the call confirms,
// and returns its error (etcd's), or ctx's.
func (b *readBatcher) wait(ctx context.Context) error {
	b.mu.Lock()
	if b.next == nil {
		b.next = &readBatch{done: make(chan struct{})}
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
	batch := b.next
	b.mu.Unlock()
	select {
	case <-batch.done:
		return batch.err
	case <-ctx.Done():
		return b.server.clientError(ctx, ctx.Err())
	case <-b.server.stopping:
		return rpctypes.ErrGRPCStopped
	}
}

// run confirms one barrier per batch, one batch at a time, until the
// server stops.
func (b *readBatcher) run() {
	for {
		select {
		case <-b.server.stopping:
			return
		case <-b.wake:
		}
		b.mu.Lock()
		batch := b.next
		b.next = nil
		b.mu.Unlock()
		if batch == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), b.server.requestTimeout())
		err := b.server.node.Read(ctx)
		cancel()
		if err != nil {
			err = b.server.clientError(ctx, err)
		}
		batch.err = err
		close(batch.done)
		// Reads that arrived during this barrier are waiting for the next.
		b.mu.Lock()
		if b.next != nil {
			select {
			case b.wake <- struct{}{}:
			default:
			}
		}
		b.mu.Unlock()
	}
}
