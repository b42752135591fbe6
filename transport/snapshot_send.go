package transport

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"time"

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
			p.setSending(m.Snapshot.Metadata)
			size, err := p.sendSnapshot(m)
			p.setSending(raft.SnapshotMetadata{})
			if err != nil {
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
// so heartbeats and appends interleave with it. It returns the data size.
func (p *peer) sendSnapshot(m raft.Message) (int64, error) {
	source, err := p.transport.snapshotSource(m)
	if err != nil {
		return source.size, err
	}
	defer source.data.Close()
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	stream, err := p.openStream(ctx, &snapshotStreamDesc, snapshotMethod)
	if err != nil {
		return source.size, err
	}
	frame := appendSnapshotBeginSized(nil, m, uint64(source.size), source.checksum)
	if err := stream.SendMsg(&frame); err != nil {
		return source.size, p.receiveStatus(stream, err)
	}
	data := source.data
	faults := p.transport.config.Faults
	buffer := make([]byte, snapshotChunkBytes)
	for offset := int64(0); offset < source.size; {
		if faults.snapshotInterrupted(m.From, m.To, offset) {
			return source.size, fmt.Errorf("transport: snapshot interrupted by fault hook after %d bytes", offset)
		}
		chunk := buffer[:min(snapshotChunkBytes, source.size-offset)]
		if _, err := io.ReadFull(data, chunk); err != nil {
			return source.size, fmt.Errorf("transport: read the snapshot at offset %d: %w", offset, err)
		}
		// A fresh buffer per chunk: gRPC may hold it after SendMsg returns.
		frame := appendSnapshotChunk(make([]byte, 0, len(chunk)+16), uint64(offset), chunk)
		if err := stream.SendMsg(&frame); err != nil {
			return source.size, p.receiveStatus(stream, err)
		}
		offset += int64(len(chunk))
	}
	if err := stream.CloseSend(); err != nil {
		return source.size, err
	}
	var done []byte
	if err := stream.RecvMsg(&done); err != nil {
		return source.size, fmt.Errorf("transport: snapshot not acknowledged: %w", err)
	}
	if len(done) != 1 || done[0] != frameSnapshotDone {
		return source.size, fmt.Errorf("transport: snapshot answered with %q", done)
	}
	return source.size, nil
}

// snapshotData is where a snapshot's data comes from: its size and
// CRC-32C, known before the transfer starts (the begin frame carries
// them), and a way to read it.
type snapshotData struct {
	size     int64
	checksum uint32
	// data yields the bytes from the first; the sender closes it.
	data io.ReadCloser
}

// snapshotSource returns the data of a snapshot message: the message's
// own, or, when it carries none and a snapshot store is in use, the
// store's file, read once here for its checksum (which also verifies the
// file), then rewound to be read again as it is sent, on the same open
// file (which survives the store removing it meanwhile), so that it is
// never held in memory.
func (t *Transport) snapshotSource(m raft.Message) (snapshotData, error) {
	store := t.snapshotStore()
	if m.Snapshot.Data != nil || store == nil {
		data := m.Snapshot.Data
		return snapshotData{size: int64(len(data)), checksum: crc32.Checksum(data, castagnoli),
			data: io.NopCloser(bytes.NewReader(data))}, nil
	}
	metadata := m.Snapshot.Metadata
	// A file that failed is not read again at once: the core resends an
	// unacknowledged snapshot every election timeout.
	key := snapshotKey{metadata.Index, metadata.Term}
	if wait := t.sourceFailures.Wait(key); wait > 0 {
		return snapshotData{}, fmt.Errorf("transport: snapshot %d could not be read; next try in %v", metadata.Index, wait.Round(time.Millisecond))
	}
	reader, err := store.OpenData(metadata)
	if err != nil {
		t.sourceFailures.Failed(key)
		return snapshotData{}, fmt.Errorf("transport: open snapshot %d: %w", metadata.Index, err)
	}
	hash := crc32.New(castagnoli)
	if _, err := io.Copy(hash, reader); err != nil {
		reader.Close()
		t.sourceFailures.Failed(key)
		return snapshotData{size: reader.Size()}, fmt.Errorf("transport: read snapshot %d: %w", metadata.Index, err)
	}
	t.sourceFailures.Succeeded(key)
	reader.Rewind()
	return snapshotData{size: reader.Size(), checksum: hash.Sum32(), data: reader}, nil
}

// snapshotKey identifies a snapshot for sourceFailures: index and term.
type snapshotKey struct{ index, term uint64 }
