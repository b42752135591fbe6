package main

import (
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"
)

// measureQuorumFsync measures what the disk alone makes a replicated write
// wait for on this machine. In each round, writers goroutines (one per
// member, each with a file of its own, as each member syncs its own log on
// the one disk) write one record and fdatasync it, all at once; the round's
// time runs from the moment the last of them has started its write to the
// moment a majority of them is durable, which is when an entry commits.
// Writes that share a disk finish one after another, so this is longer
// than one write's own time with the others running (the concurrent
// probe's p50). Rounds follow each other until duration has passed;
// PerSecond counts rounds, and P50Ms and P99Ms are of the rounds' times.
func measureQuorumFsync(directory string, duration time.Duration, writers int) (fsyncProbe, error) {
	if writers < 1 {
		return fsyncProbe{}, fmt.Errorf("fsync probe: %d writers", writers)
	}
	type write struct {
		begin, end time.Time
		err        error
	}
	offsets := make([]chan int64, 0, writers)
	done := make(chan write, writers)
	defer func() {
		for _, each := range offsets {
			close(each)
		}
	}()
	for range writers {
		file, record, err := prepareProbeFile(directory)
		if err != nil {
			return fsyncProbe{}, err
		}
		defer os.Remove(file.Name())
		defer file.Close()
		offset := make(chan int64)
		offsets = append(offsets, offset)
		go func() {
			for at := range offset {
				begin := time.Now()
				_, err := file.WriteAt(record, at)
				if err == nil {
					err = syscall.Fdatasync(int(file.Fd()))
				}
				done <- write{begin: begin, end: time.Now(), err: err}
			}
		}()
	}
	majority := writers/2 + 1
	var rounds []time.Duration
	ends := make([]time.Time, 0, writers)
	start := time.Now()
	for at := int64(0); len(rounds) < probeMaxWrites && time.Since(start) < duration; at = (at + probeRecordBytes) % probeFileBytes {
		for _, offset := range offsets {
			offset <- at
		}
		var firstBegin time.Time
		var firstErr error
		ends = ends[:0]
		for range writers {
			w := <-done
			if w.err != nil && firstErr == nil {
				firstErr = fmt.Errorf("fsync probe: %w", w.err)
			}
			if firstBegin.IsZero() || w.begin.Before(firstBegin) {
				firstBegin = w.begin
			}
			ends = append(ends, w.end)
		}
		if firstErr != nil {
			return fsyncProbe{}, firstErr
		}
		slices.SortFunc(ends, func(a, b time.Time) int { return a.Compare(b) })
		rounds = append(rounds, max(ends[majority-1].Sub(firstBegin), 0))
	}
	elapsed := time.Since(start)
	slices.Sort(rounds)
	return fsyncProbe{Writes: len(rounds), Seconds: elapsed.Seconds(), PerSecond: float64(len(rounds)) / elapsed.Seconds(),
		P50Ms: milliseconds(nearestRank(rounds, 50)), P99Ms: milliseconds(nearestRank(rounds, 99))}, nil
}
