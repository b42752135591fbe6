package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// fsyncProbe is the disk's raw rate of small synchronous writes: what a
// write-ahead log that syncs every record could reach on this disk at best.
type fsyncProbe struct {
	Writes    int     `json:"writes"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
}

// Sizes of the probe: records of probeRecordBytes written one after the
// other into a file of probeFileBytes made beforehand (so the timed writes
// change no file size and fdatasync flushes data only, as a log with
// preallocated segments does), wrapping around at the end.
const (
	probeRecordBytes = 512
	probeFileBytes   = 16 << 20
	probeMaxWrites   = 1_000_000
)

// measureFsync runs the probe in directory for about duration: each
// iteration writes one record and calls fdatasync, and is timed.
func measureFsync(directory string, duration time.Duration) (fsyncProbe, error) {
	return measureConcurrentFsync(directory, duration, 1)
}

// measureConcurrentFsync runs the probe with writers goroutines at once,
// each with a file of its own, as the members of a cluster on one machine
// each sync their own log on the same disk; the latencies of all writers
// are pooled, and PerSecond counts every writer's writes.
func measureConcurrentFsync(directory string, duration time.Duration, writers int) (fsyncProbe, error) {
	type outcome struct {
		latencies []time.Duration
		err       error
	}
	outcomes := make(chan outcome, writers)
	start := time.Now()
	for range writers {
		go func() {
			latencies, err := probeOneWriter(directory, duration)
			outcomes <- outcome{latencies, err}
		}()
	}
	var latencies []time.Duration
	var firstErr error
	for range writers {
		result := <-outcomes
		latencies = append(latencies, result.latencies...)
		if firstErr == nil {
			firstErr = result.err
		}
	}
	if firstErr != nil {
		return fsyncProbe{}, firstErr
	}
	elapsed := time.Since(start)
	slices.Sort(latencies)
	probe := fsyncProbe{Writes: len(latencies), Seconds: elapsed.Seconds(), PerSecond: float64(len(latencies)) / elapsed.Seconds()}
	probe.P50Ms = milliseconds(nearestRank(latencies, 50))
	probe.P99Ms = milliseconds(nearestRank(latencies, 99))
	return probe, nil
}

// probeOneWriter is one writer of the probe: its own file, made
// beforehand, and its timed writes.
func probeOneWriter(directory string, duration time.Duration) ([]time.Duration, error) {
	file, record, err := prepareProbeFile(directory)
	if err != nil {
		return nil, err
	}
	defer os.Remove(file.Name())
	defer file.Close()
	var latencies []time.Duration
	start := time.Now()
	for offset := int64(0); len(latencies) < probeMaxWrites && time.Since(start) < duration; offset = (offset + probeRecordBytes) % probeFileBytes {
		begin := time.Now()
		if _, err := file.WriteAt(record, offset); err != nil {
			return nil, fmt.Errorf("fsync probe: %w", err)
		}
		if err := syscall.Fdatasync(int(file.Fd())); err != nil {
			return nil, fmt.Errorf("fsync probe: fdatasync: %w", err)
		}
		latencies = append(latencies, time.Since(begin))
	}
	return latencies, nil
}

// prepareProbeFile makes a writer's file of probeFileBytes, written and
// synced, and the record it writes; the caller removes the file.
func prepareProbeFile(directory string) (*os.File, []byte, error) {
	file, err := os.CreateTemp(directory, "fsync-probe-*")
	if err != nil {
		return nil, nil, fmt.Errorf("fsync probe: %w", err)
	}
	if _, err := file.Write(make([]byte, probeFileBytes)); err != nil {
		file.Close()
		os.Remove(file.Name())
		return nil, nil, fmt.Errorf("fsync probe: preparing %s: %w", filepath.Base(file.Name()), err)
	}
	if err := file.Sync(); err != nil {
		file.Close()
		os.Remove(file.Name())
		return nil, nil, fmt.Errorf("fsync probe: %w", err)
	}
	record := make([]byte, probeRecordBytes)
	for i := range record {
		record[i] = byte('a' + i%26)
	}
	return file, record, nil
}

// nearestRank returns the p-th percentile of sorted (nearest rank), or 0.
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(float64(len(sorted)) * p / 100))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func milliseconds(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
