package wal

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/lockstepdb/lockstep/raft"
)

// Entries returns the entries in [low, high), at least one if the range
// holds any, and beyond the first no more than maxBytes in total (counted
// by raft.Entry.Size). It returns raft.ErrCompacted if low < FirstIndex()
// and raft.ErrUnavailable if high > LastIndex()+1. Recent entries come from
// memory; older ones are read from disk and verified against their
// checksums (a mismatch is a *CorruptionError). The caller must not modify
// the returned entries.
func (l *Log) Entries(low, high, maxBytes uint64) ([]raft.Entry, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if !l.isOpen {
		return nil, ErrClosed
	}
	if low <= l.state.point.Index {
		return nil, raft.ErrCompacted
	}
	if high > l.state.lastIndex()+1 {
		return nil, raft.ErrUnavailable
	}
	if low >= high {
		return nil, nil
	}
	high = l.limitBytes(low, high, maxBytes)
	cached := l.cache.firstIndex()
	if len(l.cache.entries) > 0 && low >= cached {
		return l.cache.slice(low, high), nil
	}
	if len(l.cache.entries) == 0 || high <= cached {
		return l.readEntries(low, high)
	}
	entries, err := l.readEntries(low, cached)
	if err != nil {
		return nil, err
	}
	return append(entries, l.cache.slice(cached, high)...), nil
}

// limitBytes returns the end of the longest run of entries from low whose
// total size is at most maxBytes, but at least one entry. Sizes come from
// the index, not from reading entries.
func (l *Log) limitBytes(low, high, maxBytes uint64) uint64 {
	total := uint64(0)
	for index := low; index < high; index++ {
		total += l.entrySize(index)
		if total > maxBytes && index > low {
			return index
		}
	}
	return high
}

// entrySize is raft.Entry.Size of the entry at index, known without
// reading it.
func (l *Log) entrySize(index uint64) uint64 {
	return l.state.position(index).entrySize
}

// readEntries reads the entries in [low, high) from disk; l.mu is held.
func (l *Log) readEntries(low, high uint64) ([]raft.Entry, error) {
	entries := make([]raft.Entry, 0, high-low)
	for index := low; index < high; index++ {
		position := *l.state.position(index)
		entry, err := l.readEntry(index, position)
		if err != nil {
			return nil, err
		}
		entries = append(entries, entry)
	}
	return entries, nil
}

func (l *Log) readEntry(index uint64, position entryPosition) (raft.Entry, error) {
	segment := l.state.segment(position.sequence)
	path := filepath.Join(l.dir, segment.name)
	buffer := make([]byte, position.size)
	if _, err := segment.file.ReadAt(buffer, position.offset); err != nil && !errors.Is(err, io.EOF) {
		return raft.Entry{}, fmt.Errorf("wal: read entry %d from segment %s: %w", index, path, err)
	}
	decoded, _, err := decodeRecord(buffer)
	if err == nil && (decoded.kind != recordEntry || decoded.index != index) {
		err = fmt.Errorf("found a record of type %d for index %d where entry %d should be", decoded.kind, decoded.index, index)
	}
	if err != nil {
		return raft.Entry{}, &CorruptionError{File: path, Offset: position.offset, Reason: err.Error()}
	}
	return decodeEntry(decoded)
}
