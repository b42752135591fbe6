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
)

// maxSnapshotBytes bounds the data size a snapshot begin frame may
// announce; memory is allocated as data arrives, not from the announcement.
const maxSnapshotBytes = 1 << 40

// acceptStream reads and checks a stream's header and answers it with the
// accept frame, or returns the status error that refuses the stream.
func (t *Transport) acceptStream(stream grpc.ServerStream) (streamHeader, *slog.Logger, error) {
	logger := t.logger
	if remote, ok := grpcpeer.FromContext(stream.Context()); ok {
		logger = logger.With("remote", remote.Addr.String())
	}
	var frame []byte
	if err := stream.RecvMsg(&frame); err != nil {
		return streamHeader{}, logger, err
	}
	header, err := decodeStreamHeader(frame)
	if err != nil {
		t.counters.rejectedWrongTarget.Add(1)
		t.limiter.log(logger, "bad header", slog.LevelWarn, "refusing stream with a bad header", "error", err)
		return header, logger, status.Error(codes.InvalidArgument, err.Error())
	}
	logger = logger.With("from", uint64(header.from))
	if header.clusterID != t.config.ClusterID {
		t.counters.rejectedWrongCluster.Add(1)
		t.limiter.log(logger, "wrong cluster", slog.LevelWarn, "refusing stream from another cluster", "cluster", header.clusterID, "our_cluster", t.config.ClusterID)
		return header, logger, status.Errorf(codes.FailedPrecondition, "transport: cluster ID %d, this is cluster %d", header.clusterID, t.config.ClusterID)
	}
	if header.to != t.config.ID || header.from == raft.None {
		t.counters.rejectedWrongTarget.Add(1)
		t.limiter.log(logger, "wrong target", slog.LevelWarn, "refusing stream for another node", "target", uint64(header.to))
		return header, logger, status.Errorf(codes.FailedPrecondition, "transport: stream from %d for node %d, this is node %d", header.from, header.to, t.config.ID)
	}
	accept := []byte{frameAccept}
	if err := stream.SendMsg(&accept); err != nil {
		return header, logger, err
	}
	return header, logger, nil
}

// receiveMessages serves one message stream: every frame is a batch, every
// message of which is checked and handed to the handler in order.
func (t *Transport) receiveMessages(stream grpc.ServerStream) error {
	header, logger, err := t.acceptStream(stream)
	if err != nil {
		return err
	}
	logger.Debug("message stream accepted")
	visit := func(body []byte) error {
		m, err := decodeMessageBody(body)
		if err != nil {
			t.counters.droppedDecodeError.Add(1)
			t.limiter.log(logger, "decode", slog.LevelWarn, "dropping undecodable message", "error", err)
			return nil // the framing is intact: go on with the next message
		}
		t.deliver(header, m, logger)
		return nil
	}
	for {
		var frame []byte
		if err := stream.RecvMsg(&frame); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if len(frame) == 0 || frame[0] != frameBatch {
			t.counters.droppedDecodeError.Add(1)
			t.limiter.log(logger, "decode", slog.LevelWarn, "dropping frame that is not a batch", "bytes", len(frame))
			continue
		}
		if err := forEachInBatch(frame[1:], t.maxMessageBytes, visit); err != nil {
			t.counters.droppedDecodeError.Add(1)
			t.limiter.log(logger, "decode", slog.LevelWarn, "dropping the rest of a malformed batch", "error", err)
		}
	}
}

// deliver checks a decoded message against its stream and hands it over.
func (t *Transport) deliver(header streamHeader, m raft.Message, logger *slog.Logger) {
	switch {
	case m.From != header.from:
		t.counters.droppedWrongSender.Add(1)
		t.limiter.log(logger, "wrong sender", slog.LevelWarn, "dropping message whose sender differs from its stream's", "message_from", uint64(m.From))
		return
	case m.To != t.config.ID:
		t.counters.droppedWrongTarget.Add(1)
		t.limiter.log(logger, "wrong target message", slog.LevelWarn, "dropping message for another node", "to", uint64(m.To))
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
	m, err := t.receiveSnapshotData(stream, header)
	if err != nil {
		t.counters.snapshotsDiscarded.Add(1)
		logger.Warn("discarding incomplete or invalid snapshot", "error", err)
		if status.Code(err) != codes.Unknown {
			return err
		}
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if m.From != header.from || m.To != t.config.ID {
		t.counters.snapshotsDiscarded.Add(1)
		t.counters.droppedWrongSender.Add(1)
		logger.Warn("discarding snapshot with wrong sender or target", "message_from", uint64(m.From), "to", uint64(m.To))
		return status.Error(codes.InvalidArgument, "transport: snapshot sender or target does not match the stream")
	}
	if t.config.Faults.isBlocked(m.From, m.To) {
		t.counters.snapshotsDiscarded.Add(1)
		t.counters.droppedByFault.Add(1)
		return status.Error(codes.Unavailable, "transport: link blocked by fault hook")
	}
	t.counters.received.Add(1)
	t.counters.snapshotsReceived.Add(1)
	t.handler(m)
	logger.Info("snapshot received", "index", m.Snapshot.Metadata.Index, "bytes", len(m.Snapshot.Data))
	done := []byte{frameSnapshotDone}
	return stream.SendMsg(&done)
}

func (t *Transport) receiveSnapshotData(stream grpc.ServerStream, header streamHeader) (raft.Message, error) {
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
	data := make([]byte, 0, min(size, 64<<20))
	var whole uint32
	for {
		if err := stream.RecvMsg(&frame); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return raft.Message{}, fmt.Errorf("after %d of %d bytes: %w", len(data), size, err)
		}
		offset, chunk, err := decodeSnapshotChunk(frame)
		if err != nil {
			return raft.Message{}, err
		}
		if offset != uint64(len(data)) || uint64(len(data))+uint64(len(chunk)) > size {
			return raft.Message{}, fmt.Errorf("%w: chunk of %d bytes at offset %d, expected offset %d of %d", ErrMalformed, len(chunk), offset, len(data), size)
		}
		data = append(data, chunk...)
		whole = crc32.Update(whole, castagnoli, chunk)
		if err := t.config.Faults.waitSnapshotStall(stream.Context()); err != nil {
			return raft.Message{}, err
		}
	}
	if uint64(len(data)) != size {
		return raft.Message{}, fmt.Errorf("%w: transfer ended after %d of %d bytes", ErrMalformed, len(data), size)
	}
	if whole != checksum {
		return raft.Message{}, fmt.Errorf("%w: snapshot checksum mismatch", ErrMalformed)
	}
	if size == 0 {
		data = nil
	}
	m.Snapshot.Data = data
	return m, nil
}
