package transport

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/snap"
)

// maxSnapshotBytes bounds the data size a snapshot begin frame may
// announce; memory is allocated as data arrives, not from the announcement.
const maxSnapshotBytes = 1 << 40

// acceptStream reads and checks a gRPC stream's header and answers it with
// the accept frame, or returns the status error that refuses the stream.
func (t *Transport) acceptStream(stream grpc.ServerStream) (streamHeader, *slog.Logger, error) {
	logger := t.logger
	if remote, ok := grpcpeer.FromContext(stream.Context()); ok {
		logger = logger.With("remote", remote.Addr.String())
	}
	var frame []byte
	if err := stream.RecvMsg(&frame); err != nil {
		return streamHeader{}, logger, err
	}
	header, logger, err := t.admitStream(frame, logger)
	if err != nil {
		return header, logger, err
	}
	accept := []byte{frameAccept}
	if err := stream.SendMsg(&accept); err != nil {
		return header, logger, err
	}
	return header, logger, nil
}

// admitStream decodes and checks the header frame of a stream or direct
// connection, and returns the status error that refuses it, if any: a
// malformed header, another cluster, a removed member, another target.
func (t *Transport) admitStream(frame []byte, logger *slog.Logger) (streamHeader, *slog.Logger, error) {
	header, err := decodeStreamHeader(frame)
	if err != nil {
		t.counters.rejectedWrongTarget.Add(1)
		t.limiter.log(logger, "bad header", slog.LevelWarn, "refusing stream with a bad header", "error", err)
		return header, logger, status.Error(codes.InvalidArgument, err.Error())
	}
	logger = logger.With("from", header.from.String())
	if header.clusterID != t.config.ClusterID {
		t.counters.rejectedWrongCluster.Add(1)
		t.limiter.log(logger, "wrong cluster", slog.LevelWarn, "refusing stream from another cluster", "cluster", fmt.Sprintf("%x", header.clusterID), "our_cluster", fmt.Sprintf("%x", t.config.ClusterID), "check", t.config.ClusterHint)
		return header, logger, status.Errorf(codes.FailedPrecondition, "transport: %s cluster ID %x, this is cluster %x; %s", wrongClusterMarker, header.clusterID, t.config.ClusterID, t.config.ClusterHint)
	}
	if err := t.refuseRemoved(header.from); err != nil {
		t.limiter.log(logger, "removed member", slog.LevelWarn, "refusing stream from a member removed from the cluster")
		return header, logger, err
	}
	if header.to != t.config.ID || header.from == raft.None {
		t.counters.rejectedWrongTarget.Add(1)
		t.limiter.log(logger, "wrong target", slog.LevelWarn, "refusing stream for another node", "target", header.to.String())
		return header, logger, status.Errorf(codes.FailedPrecondition, "transport: stream from %v for node %v, this is node %v", header.from, header.to, t.config.ID)
	}
	return header, logger, nil
}

// receiveMessages serves one gRPC message stream: every frame is a batch,
// every message of which is checked and handed to the handler in order.
func (t *Transport) receiveMessages(stream grpc.ServerStream) error {
	header, logger, err := t.acceptStream(stream)
	if err != nil {
		return err
	}
	logger.Debug("message stream accepted")
	visit := t.batchVisitor(header, logger)
	for {
		var frame []byte
		if err := stream.RecvMsg(&frame); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		// A member removed while its stream was open is told at its next
		// batch.
		if err := t.refuseRemoved(header.from); err != nil {
			return err
		}
		t.receiveBatch(frame, visit, logger)
	}
}

// batchVisitor returns the function that decodes each message of a
// stream's batches and delivers it.
func (t *Transport) batchVisitor(header streamHeader, logger *slog.Logger) func(body []byte) error {
	return func(body []byte) error {
		m, err := decodeMessageBody(body)
		if err != nil {
			t.counters.droppedDecodeError.Add(1)
			t.limiter.log(logger, "decode", slog.LevelWarn, "dropping undecodable message", "error", err)
			return nil // the framing is intact: go on with the next message
		}
		t.deliver(header, m, logger)
		return nil
	}
}

// receiveBatch checks that frame is a batch and visits its messages; what
// is malformed is dropped and counted, and the stream goes on.
func (t *Transport) receiveBatch(frame []byte, visit func(body []byte) error, logger *slog.Logger) {
	if len(frame) == 0 || frame[0] != frameBatch {
		t.counters.droppedDecodeError.Add(1)
		t.limiter.log(logger, "decode", slog.LevelWarn, "dropping frame that is not a batch", "bytes", len(frame))
		return
	}
	if err := forEachInBatch(frame[1:], t.maxMessageBytes, visit); err != nil {
		t.counters.droppedDecodeError.Add(1)
		t.limiter.log(logger, "decode", slog.LevelWarn, "dropping the rest of a malformed batch", "error", err)
	}
}

// deliver checks a decoded message against its stream and hands it over.
func (t *Transport) deliver(header streamHeader, m raft.Message, logger *slog.Logger) {
	switch {
	case m.From != header.from:
		t.counters.droppedWrongSender.Add(1)
		t.limiter.log(logger, "wrong sender", slog.LevelWarn, "dropping message whose sender differs from its stream's", "message_from", m.From.String())
		return
	case m.To != t.config.ID:
		t.counters.droppedWrongTarget.Add(1)
		t.limiter.log(logger, "wrong target message", slog.LevelWarn, "dropping message for another node", "to", m.To.String())
		return
	case t.config.Faults.isBlocked(m.From, m.To):
		t.counters.droppedByFault.Add(1)
		return
	}
	// Counted before the handover, so a caller that has seen the message
	// also sees it counted.
	t.counters.received.Add(1)
	t.handler(m)
}

// receiveSnapshot serves one snapshot transfer: it reassembles the chunks,
// verifies each chunk's checksum, their order and the whole snapshot's size
// and checksum, and only then hands the message to the handler. Anything
// else, including a transfer cut short, discards what arrived.
func (t *Transport) receiveSnapshot(stream grpc.ServerStream) error {
	header, logger, err := t.acceptStream(stream)
	if err != nil {
		return err
	}
	// The sender and target are checked on the begin frame, before any
	// data is received (or written to disk).
	var refusal error
	m, err := t.receiveSnapshotData(stream, header, func(m raft.Message) error {
		refusal = t.admitSnapshot(m, header, logger)
		return refusal
	})
	if refusal != nil {
		return refusal
	}
	if err != nil {
		t.counters.snapshotsDiscarded.Add(1)
		logger.Warn("discarding incomplete or invalid snapshot", "error", err)
		if status.Code(err) != codes.Unknown {
			return err
		}
		return status.Error(codes.InvalidArgument, err.Error())
	}
	t.counters.received.Add(1)
	t.counters.snapshotsReceived.Add(1)
	t.handler(m)
	logger.Info("snapshot received", "index", m.Snapshot.Metadata.Index)
	done := []byte{frameSnapshotDone}
	return stream.SendMsg(&done)
}

// admitSnapshot refuses a snapshot whose sender or target does not match
// its stream, or whose link the fault hook blocks.
func (t *Transport) admitSnapshot(m raft.Message, header streamHeader, logger *slog.Logger) error {
	if m.From != header.from || m.To != t.config.ID {
		t.counters.snapshotsDiscarded.Add(1)
		t.counters.droppedWrongSender.Add(1)
		logger.Warn("discarding snapshot with wrong sender or target", "message_from", m.From.String(), "to", m.To.String())
		return status.Error(codes.InvalidArgument, "transport: snapshot sender or target does not match the stream")
	}
	if t.config.Faults.isBlocked(m.From, m.To) {
		t.counters.snapshotsDiscarded.Add(1)
		t.counters.droppedByFault.Add(1)
		return status.Error(codes.Unavailable, "transport: link blocked by fault hook")
	}
	return nil
}

// receiveSnapshotData receives one snapshot's begin frame, asks admit
// whether to take it, then receives its data.
func (t *Transport) receiveSnapshotData(stream grpc.ServerStream, header streamHeader, admit func(raft.Message) error) (raft.Message, error) {
	var frame []byte
	if err := stream.RecvMsg(&frame); err != nil {
		return raft.Message{}, fmt.Errorf("reading begin frame: %w", err)
	}
	m, size, checksum, err := decodeSnapshotBegin(frame, t.maxMessageBytes)
	if err != nil {
		t.counters.droppedDecodeError.Add(1)
		return raft.Message{}, err
	}
	if size > maxSnapshotBytes {
		return raft.Message{}, fmt.Errorf("%w: snapshot of %d bytes announced", ErrMalformed, size)
	}
	if err := admit(m); err != nil {
		return raft.Message{}, err
	}
	destination, err := t.snapshotDestination(m.Snapshot.Metadata, size)
	if err != nil {
		return raft.Message{}, err
	}
	defer destination.abort() // a no-op once finished
	var received uint64
	var whole uint32
	for {
		if err := stream.RecvMsg(&frame); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return raft.Message{}, fmt.Errorf("after %d of %d bytes: %w", received, size, err)
		}
		offset, chunk, err := decodeSnapshotChunk(frame)
		if err != nil {
			return raft.Message{}, err
		}
		if offset != received || received+uint64(len(chunk)) > size {
			return raft.Message{}, fmt.Errorf("%w: chunk of %d bytes at offset %d, expected offset %d of %d", ErrMalformed, len(chunk), offset, received, size)
		}
		if _, err := destination.Write(chunk); err != nil {
			return raft.Message{}, status.Error(codes.Internal, err.Error())
		}
		received += uint64(len(chunk))
		whole = crc32.Update(whole, castagnoli, chunk)
		if err := t.config.Faults.waitSnapshotStall(stream.Context()); err != nil {
			return raft.Message{}, err
		}
	}
	if received != size {
		return raft.Message{}, fmt.Errorf("%w: transfer ended after %d of %d bytes", ErrMalformed, received, size)
	}
	if whole != checksum {
		return raft.Message{}, fmt.Errorf("%w: snapshot checksum mismatch", ErrMalformed)
	}
	// Again at the end: a fault hook may have cut the link meanwhile.
	if err := admit(m); err != nil {
		return raft.Message{}, err
	}
	data, err := destination.finish()
	if err != nil {
		return raft.Message{}, status.Error(codes.Internal, err.Error())
	}
	m.Snapshot.Data = data
	return m, nil
}

// snapshotSink receives a snapshot's data: into memory, or into a staged
// file of the snapshot store.
type snapshotSink struct {
	memory   []byte
	incoming *snap.Incoming
}

// snapshotDestination prepares to receive size bytes of a snapshot.
func (t *Transport) snapshotDestination(metadata raft.SnapshotMetadata, size uint64) (*snapshotSink, error) {
	store := t.snapshotStore()
	if store == nil {
		return &snapshotSink{memory: make([]byte, 0, min(size, 64<<20))}, nil
	}
	incoming, err := store.Receive(metadata, size)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &snapshotSink{incoming: incoming}, nil
}

func (s *snapshotSink) Write(chunk []byte) (int, error) {
	if s.incoming != nil {
		return s.incoming.Write(chunk)
	}
	s.memory = append(s.memory, chunk...)
	return len(chunk), nil
}

// finish returns the data received into memory (nil if empty), or nil
// once the staged file is durable.
func (s *snapshotSink) finish() ([]byte, error) {
	if s.incoming != nil {
		incoming := s.incoming
		s.incoming = nil
		return nil, incoming.Finish()
	}
	if len(s.memory) == 0 {
		return nil, nil
	}
	return s.memory, nil
}

// abort discards what was received, unless finish was called.
func (s *snapshotSink) abort() {
	if s.incoming != nil {
		s.incoming.Abort()
	}
}
