package transport

import (
	"context"
	"fmt"

	"github.com/lockstepdb/lockstep/raft"
)

// runSnapshots sends the snapshots queued for the peer, one at a time, each
// on a stream of its own. A failed transfer is counted and forgotten: the
// raft core sends the snapshot again if it stays unanswered.
func (p *peer) runSnapshots() {
	for {
		select {
		case <-p.ctx.Done():
			return
		case m := <-p.snapshots:
			size := len(m.Snapshot.Data)
			if err := p.sendSnapshot(m); err != nil {
				if p.ctx.Err() != nil {
					return
				}
				p.transport.counters.droppedSendFailed.Add(1)
				p.logger.Warn("snapshot transfer failed", "index", m.Snapshot.Metadata.Index, "bytes", size, "error", err)
				continue
			}
			p.sent.Add(1)
			p.transport.counters.sent.Add(1)
			p.transport.counters.snapshotsSent.Add(1)
			p.logger.Info("snapshot sent", "index", m.Snapshot.Metadata.Index, "bytes", size)
		}
	}
}

// sendSnapshot streams one snapshot: header, begin frame (metadata, size,
// whole checksum), data chunks, then waits for the receiver's
// acknowledgement. gRPC's per-stream flow control paces the chunks to the
// receiver's reading, and the stream is separate from the message stream,
// so heartbeats and appends interleave with it.
func (p *peer) sendSnapshot(m raft.Message) error {
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	stream, err := p.openStream(ctx, &snapshotStreamDesc, snapshotMethod)
	if err != nil {
		return err
	}
	frame := appendSnapshotBegin(nil, m)
	if err := stream.SendMsg(&frame); err != nil {
		return p.receiveStatus(stream, err)
	}
	data := m.Snapshot.Data
	faults := p.transport.config.Faults
	for offset := 0; offset < len(data); offset += snapshotChunkBytes {
		if faults.snapshotInterrupted(m.From, m.To, int64(offset)) {
			return fmt.Errorf("transport: snapshot interrupted by fault hook after %d bytes", offset)
		}
		chunk := data[offset:min(offset+snapshotChunkBytes, len(data))]
		// A fresh buffer per chunk: gRPC may hold it after SendMsg returns.
		frame := appendSnapshotChunk(make([]byte, 0, len(chunk)+16), uint64(offset), chunk)
		if err := stream.SendMsg(&frame); err != nil {
			return p.receiveStatus(stream, err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	var done []byte
	if err := stream.RecvMsg(&done); err != nil {
		return fmt.Errorf("transport: snapshot not acknowledged: %w", err)
	}
	if len(done) != 1 || done[0] != frameSnapshotDone {
		return fmt.Errorf("transport: snapshot answered with %q", done)
	}
	return nil
}
