package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/lockstepdb/lockstep/raft"
)

// peer is the sending side of the transport for one remote node: a queue of
// messages drained by the message goroutine onto one stream, a one-slot
// queue of snapshots drained by the snapshot goroutine, and the gRPC
// connection both use. Its goroutines stop when its context is cancelled;
// the connection is closed after both have returned.
type peer struct {
	transport *Transport
	id        raft.NodeID
	address   string
	logger    *slog.Logger
	conn      *grpc.ClientConn

	queue     chan queuedMessage
	snapshots chan raft.Message

	ctx    context.Context
	cancel context.CancelFunc

	// sending is the snapshot being transferred (zero when none): a
	// message for the same snapshot is dropped rather than queued, since
	// the transfer under way answers it (see queueSnapshot).
	sendingMutex sync.Mutex
	sending      raft.SnapshotMetadata

	connected        atomic.Bool
	direct           atomic.Bool // the open connection is a direct one
	sent             atomic.Uint64
	droppedQueueFull atomic.Uint64
	reconnects       atomic.Uint64
	streamFailures   atomic.Uint64
}

type queuedMessage struct {
	message raft.Message
	// notBefore is when the FaultHook allows the message to be written;
	// zero when it set no delay.
	notBefore time.Time
}

func (t *Transport) newPeer(id raft.NodeID, address string) (*peer, error) {
	transportCredentials := insecure.NewCredentials()
	if t.clientTLS != nil {
		transportCredentials = credentials.NewTLS(t.clientTLS.Clone())
	}
	conn, err := grpc.NewClient("passthrough:///"+address,
		grpc.WithTransportCredentials(transportCredentials),
		grpc.WithDefaultCallOptions(
			grpc.ForceCodecV2(rawCodec{}),
			grpc.MaxCallRecvMsgSize(frameSlack),
			grpc.MaxCallSendMsgSize(max(t.maxMessageBytes, snapshotChunkBytes)+frameSlack),
		),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           grpcbackoff.Config{BaseDelay: backoffBase, Multiplier: 2, Jitter: 0.2, MaxDelay: backoffMax},
			MinConnectTimeout: 5 * time.Second,
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: keepaliveTime, Timeout: keepaliveTimeout, PermitWithoutStream: true}),
		grpc.WithInitialWindowSize(streamWindowBytes),
		grpc.WithInitialConnWindowSize(connectionWindowBytes),
	)
	if err != nil {
		return nil, fmt.Errorf("transport: client for peer %d at %s: %w", id, address, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &peer{
		transport: t,
		id:        id,
		address:   address,
		logger:    t.logger.With("peer", id.String(), "address", address),
		conn:      conn,
		queue:     make(chan queuedMessage, t.queueLength),
		snapshots: make(chan raft.Message, 1),
		ctx:       ctx,
		cancel:    cancel,
	}, nil
}

// start launches the peer's goroutines. Called with the transport's lock
// held, so that Stop cannot be waiting yet.
func (p *peer) start() {
	var goroutines sync.WaitGroup
	goroutines.Go(p.runMessages)
	goroutines.Go(p.runSnapshots)
	p.transport.group.Go(func() {
		goroutines.Wait()
		p.conn.Close()
	})
}

// stop cancels the peer's goroutines without waiting for them.
func (p *peer) stop() { p.cancel() }

func (p *peer) stats() PeerStats {
	return PeerStats{
		Address: p.address, Connected: p.connected.Load(), Direct: p.direct.Load(), Queued: len(p.queue),
		Sent: p.sent.Load(), DroppedQueueFull: p.droppedQueueFull.Load(), Reconnects: p.reconnects.Load(), StreamFailures: p.streamFailures.Load(),
	}
}

func (p *peer) queueMessage(m raft.Message, delay time.Duration) {
	item := queuedMessage{message: m}
	if delay > 0 {
		item.notBefore = time.Now().Add(delay)
	}
	select {
	case p.queue <- item:
	default:
		p.droppedQueueFull.Add(1)
		p.transport.counters.droppedQueueFull.Add(1)
		p.transport.limiter.log(p.logger, "queue full", slog.LevelWarn, "send queue full, dropping message", "peer", p.id.String(), "type", m.Type.String())
	}
}

func (p *peer) queueSnapshot(m raft.Message) {
	// The core sends a snapshot again when the follower has not
	// acknowledged it an election timeout later; a transfer can take
	// longer than that, and sending the same snapshot again once it ends
	// would double its cost for nothing.
	if p.isSending(m.Snapshot.Metadata) {
		p.logger.Debug("the same snapshot is being sent, dropping the copy", "index", m.Snapshot.Metadata.Index)
		return
	}
	select {
	case p.snapshots <- m:
	default:
		p.droppedQueueFull.Add(1)
		p.transport.counters.droppedQueueFull.Add(1)
		p.logger.Warn("a snapshot transfer is already pending, dropping snapshot", "index", m.Snapshot.Metadata.Index)
	}
}

// runMessages keeps a message stream open and writes the queue to it,
// reopening the stream with backoff whenever it breaks. It opens a direct
// connection (direct.go) first; a peer that does not answer one, a member
// of an older version, gets a gRPC stream at once, and a direct connection
// is tried again when that stream breaks.
func (p *peer) runMessages() {
	delays := backoff{base: backoffBase, max: backoffMax}
	var pending *queuedMessage
	direct := true
	for opened := 0; ; {
		var err error
		if direct {
			err = p.streamDirect(&pending, &delays, opened)
			if errors.Is(err, errDirectUnsupported) && p.ctx.Err() == nil {
				p.logger.Debug("no direct message connection, opening a gRPC stream", "error", err)
				direct = false
				continue // the same attempt, over gRPC: not a reconnection
			}
		} else {
			err = p.streamMessages(&pending, &delays, opened)
			direct = true
		}
		opened++
		p.connected.Store(false)
		p.direct.Store(false)
		p.noticeRemoved(err)
		p.noticeWrongCluster(err)
		if p.ctx.Err() != nil {
			return
		}
		p.streamFailures.Add(1)
		p.transport.reportUnreachable(p.id)
		delay := delays.next()
		p.transport.limiter.log(p.logger, fmt.Sprintf("stream %d", p.id), slog.LevelWarn, "message stream to peer failed, retrying", "error", err, "retry_in", delay)
		timer := time.NewTimer(delay)
		select {
		case <-p.ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// streamMessages opens one gRPC message stream and writes batches to it
// until it breaks or the peer stops. pending carries a message taken from
// the queue but not yet written over to the next stream.
func (p *peer) streamMessages(pending **queuedMessage, delays *backoff, opened int) error {
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	stream, err := p.openStream(ctx, &messagesStreamDesc, messagesMethod)
	if err != nil {
		return err
	}
	p.noteOpened(opened, delays, false, "message stream open")
	// The receiver never writes after its accept frame: a read returns
	// when the stream ends, which cancels ctx and so wakes the writer below
	// without waiting for its next message.
	broken := make(chan error, 1)
	go func() {
		var frame []byte
		err := stream.RecvMsg(&frame)
		if err == nil {
			err = errors.New("unexpected frame from receiver")
		}
		broken <- err
		cancel()
	}()
	defer func() { cancel(); <-broken }() // the reader ends once ctx is cancelled

	batch := make([]raft.Message, 0, 64)
	for {
		batch, err = p.nextBatch(ctx, pending, batch[:0])
		if err != nil {
			return p.streamError(ctx, broken)
		}
		size := 16
		for i := range batch {
			size += EncodedSize(batch[i]) + 10
		}
		// gRPC may still hold a frame after SendMsg returns, so every
		// frame gets a buffer of its own.
		frame := make([]byte, 0, size)
		frame = append(frame, frameBatch)
		frame = AppendBatch(frame, batch)
		if err := stream.SendMsg(&frame); err != nil {
			p.transport.counters.droppedSendFailed.Add(uint64(len(batch)))
			return p.streamError(ctx, broken)
		}
		p.sent.Add(uint64(len(batch)))
		p.transport.counters.sent.Add(uint64(len(batch)))
		p.transport.counters.batchesSent.Add(1)
	}
}

// noteOpened records that a message stream or direct connection opened:
// a reconnection unless it is the first, the backoff back at its start,
// and the peer connected (directly or not).
func (p *peer) noteOpened(opened int, delays *backoff, direct bool, message string) {
	if opened > 0 {
		p.reconnects.Add(1)
	}
	delays.reset()
	p.direct.Store(direct)
	p.connected.Store(true)
	p.logger.Debug(message)
}

// nextBatch waits for the next queued message and appends it to batch with
// whatever else is queued, up to the message size limit, stopping at a
// message the FaultHook still holds back (left in pending). It returns the
// context's error, with the message it held back in pending, if ctx ends
// first.
func (p *peer) nextBatch(ctx context.Context, pending **queuedMessage, batch []raft.Message) ([]raft.Message, error) {
	first := *pending
	*pending = nil
	if first == nil {
		select {
		case <-ctx.Done():
			return batch, ctx.Err()
		case item := <-p.queue:
			first = &item
		}
	}
	if err := waitUntil(ctx, first.notBefore); err != nil {
		*pending = first
		return batch, err
	}
	batch = append(batch, first.message)
	size := EncodedSize(first.message) + 10
	for size < p.transport.maxMessageBytes {
		select {
		case item := <-p.queue:
			itemSize := EncodedSize(item.message) + 10
			if time.Now().Before(item.notBefore) || size+itemSize > p.transport.maxMessageBytes {
				*pending = &item
				return batch, nil
			}
			batch = append(batch, item.message)
			size += itemSize
		default:
			return batch, nil
		}
	}
	return batch, nil
}

// streamError returns why a stream ended: the receiver's status if it sent
// one, otherwise the context's error.
func (p *peer) streamError(ctx context.Context, broken chan error) error {
	if p.ctx.Err() != nil {
		return p.ctx.Err()
	}
	// The reader sends its error before it cancels ctx: look for it first,
	// or a refusal (a removed member's) would be lost to the race between
	// the two cases below about half the time.
	select {
	case err := <-broken:
		broken <- err // for the deferred receive
		return err
	default:
	}
	select {
	case err := <-broken:
		broken <- err
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func waitUntil(ctx context.Context, deadline time.Time) error {
	if deadline.IsZero() {
		return ctx.Err()
	}
	delay := time.Until(deadline)
	if delay <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// openStream opens a stream, writes its header and waits for the
// receiver's accept frame; a receiver refuses a stream by ending it with a
// status error instead.
func (p *peer) openStream(ctx context.Context, desc *grpc.StreamDesc, method string) (grpc.ClientStream, error) {
	stream, err := p.conn.NewStream(ctx, desc, method)
	if err != nil {
		return nil, err
	}
	header := appendStreamHeader(make([]byte, 0, streamHeaderMaxBytes), streamHeader{
		clusterID: p.transport.config.ClusterID, from: p.transport.config.ID, to: p.id,
	})
	if err := stream.SendMsg(&header); err != nil {
		return nil, p.receiveStatus(stream, err)
	}
	var accept []byte
	if err := stream.RecvMsg(&accept); err != nil {
		return nil, err
	}
	if len(accept) != 1 || accept[0] != frameAccept {
		return nil, fmt.Errorf("transport: peer %d answered the stream header with %q", p.id, accept)
	}
	return stream, nil
}

// receiveStatus turns the io.EOF of a failed write into the status the
// receiver ended the stream with.
func (p *peer) receiveStatus(stream grpc.ClientStream, err error) error {
	if !errors.Is(err, io.EOF) {
		return err
	}
	var frame []byte
	if receiveErr := stream.RecvMsg(&frame); receiveErr != nil && !errors.Is(receiveErr, io.EOF) {
		return receiveErr
	}
	return err
}

// isSending says whether the snapshot with this index and term is being
// transferred.
func (p *peer) isSending(metadata raft.SnapshotMetadata) bool {
	p.sendingMutex.Lock()
	defer p.sendingMutex.Unlock()
	return p.sending.Index == metadata.Index && p.sending.Term == metadata.Term && metadata.Index != 0
}

// setSending records the snapshot being transferred (zero: none).
func (p *peer) setSending(metadata raft.SnapshotMetadata) {
	p.sendingMutex.Lock()
	defer p.sendingMutex.Unlock()
	p.sending = metadata
}
