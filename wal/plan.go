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

// plan checks req against the view, returns the records that carry it
// and advances the view. An error rejects req alone.
func (v *pendingView) plan(req *request) ([]record, error) {
	switch req.kind {
	case requestSave:
		return v.planSave(req)
	case requestCompact:
		if req.point.Index <= v.point {
			return nil, raft.ErrSnapshotOutOfDate
		}
		if req.point.Index > v.last {
			return nil, fmt.Errorf("wal: compact to %d: beyond the last index %d", req.point.Index, v.last)
		}
		v.point = req.point.Index
		return []record{pointRecord(recordCompaction, req.point)}, nil
	case requestInstallSnapshot:
		if req.point.Index <= v.point {
			return nil, raft.ErrSnapshotOutOfDate
		}
		v.point, v.last = req.point.Index, req.point.Index
		return []record{pointRecord(recordSnapshot, req.point)}, nil
	}
	return nil, fmt.Errorf("wal: unknown request kind %d", req.kind)
}

func (v *pendingView) planSave(req *request) ([]record, error) {
	entries := req.entries
	for i := 1; i < len(entries); i++ {
		if entries[i].Index != entries[0].Index+uint64(i) {
			return nil, fmt.Errorf("wal: save: entries are not contiguous: %d follows %d", entries[i].Index, entries[i-1].Index)
		}
	}
	// Entries already covered by the compaction point are ignored, as
	// raft.MemoryStorage does.
	for len(entries) > 0 && entries[0].Index <= v.point {
		entries = entries[1:]
	}
	if len(entries) > 0 && entries[0].Index > v.last+1 {
		return nil, fmt.Errorf("wal: save: entry %d leaves a gap after the last index %d", entries[0].Index, v.last)
	}
	req.entries = entries
	records := make([]record, 0, len(entries)+1)
	for _, entry := range entries {
		records = append(records, entryRecord(entry))
	}
	if len(entries) > 0 {
		v.last = entries[len(entries)-1].Index
	}
	if !req.hardState.IsEmpty() {
		records = append(records, hardStateRecord(req.hardState))
	}
	return records, nil
}
