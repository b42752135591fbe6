package wal

import (
	"fmt"

	"github.com/lockstepdb/lockstep/raft"
)

// pendingView tracks the compaction point and last index as they will be
// once the requests planned so far in a batch are durable, so that each
// request is checked against the ones queued before it.
type pendingView struct {
	point uint64
	last  uint64
}

// plan checks req against the view, advances the view and sets what req
// writes: req.entries (trimmed of entries the compaction point covers),
// then req.records. It returns the encoded size of those records. An error
// rejects req alone.
func (v *pendingView) plan(req *request) (int, error) {
	req.records = req.records[:0]
	if err := v.check(req); err != nil {
		return 0, err
	}
	size := 0
	for _, entry := range req.entries {
		size += encodedRecordSize(entryPayloadLength(entry))
	}
	for _, r := range req.records {
		size += encodedRecordSize(len(r.payload))
	}
	return size, nil
}

func (v *pendingView) check(req *request) error {
	switch req.kind {
	case requestSave:
		return v.planSave(req)
	case requestCompact:
		if req.point.Index <= v.point {
			return raft.ErrSnapshotOutOfDate
		}
		if req.point.Index > v.last {
			return fmt.Errorf("wal: compact to %d: beyond the last index %d", req.point.Index, v.last)
		}
		v.point = req.point.Index
		req.records = append(req.records, pointRecord(recordCompaction, req.point))
		return nil
	case requestInstallSnapshot:
		if req.point.Index <= v.point {
			return raft.ErrSnapshotOutOfDate
		}
		v.point, v.last = req.point.Index, req.point.Index
		req.records = append(req.records, pointRecord(recordSnapshot, req.point))
		return nil
	}
	return fmt.Errorf("wal: unknown request kind %d", req.kind)
}

func (v *pendingView) planSave(req *request) error {
	entries := req.entries
	for i, entry := range entries {
		if i > 0 && entry.Index != entries[0].Index+uint64(i) {
			return fmt.Errorf("wal: save: entries are not contiguous: %d follows %d", entry.Index, entries[i-1].Index)
		}
		if entryPayloadLength(entry) > maxPayloadLength {
			return fmt.Errorf("wal: save: entry %d has %d bytes of data, more than a record holds", entry.Index, len(entry.Data))
		}
	}
	// Entries already covered by the compaction point are ignored, as
	// raft.MemoryStorage does.
	for len(entries) > 0 && entries[0].Index <= v.point {
		entries = entries[1:]
	}
	if len(entries) > 0 && entries[0].Index > v.last+1 {
		return fmt.Errorf("wal: save: entry %d leaves a gap after the last index %d", entries[0].Index, v.last)
	}
	req.entries = entries
	if len(entries) > 0 {
		v.last = entries[len(entries)-1].Index
	}
	if !req.hardState.IsEmpty() {
		req.records = append(req.records, hardStateRecord(req.hardState))
	}
	return nil
}
