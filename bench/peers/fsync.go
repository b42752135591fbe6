package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"
)

// fsyncResult is the disk's raw synchronous write latency.
type fsyncResult struct {
	count     int
	elapsed   time.Duration
	latencies []time.Duration // sorted
}

func (r fsyncResult) rate() float64 { return float64(r.count) / r.elapsed.Seconds() }

// measureFsync runs writers concurrent fsync probes (see fsyncProbe), each on
// its own file in dir, for duration, and pools their latencies. With one
// writer it is the disk's raw fsync latency; with three it is what three
// nodes sharing the disk see at best.
func measureFsync(dir string, duration time.Duration, writers int) (fsyncResult, error) {
	results := make([]fsyncResult, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = fsyncProbe(filepath.Join(dir, fmt.Sprintf("fsync-probe-%d.dat", i)), duration)
		}()
	}
	wg.Wait()
	var all fsyncResult
	for _, r := range results {
		all.count += r.count
		all.elapsed = max(all.elapsed, r.elapsed)
		all.latencies = append(all.latencies, r.latencies...)
	}
	slices.Sort(all.latencies)
	return all, errors.Join(errs...)
}

// fsyncProbe writes 4 KiB blocks in turn into a preallocated 64 MiB file at
// path, each followed by fdatasync, for duration (at most 1,000,000
// writes), and times each write+fdatasync. The file is removed at the end.
func fsyncProbe(path string, duration time.Duration) (fsyncResult, error) {
	const fileBytes, blockBytes = 64 << 20, 4 << 10
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return fsyncResult{}, err
	}
	defer os.Remove(path)
	defer f.Close()
	// Preallocate by writing zeros, then sync, so that the timed writes
	// overwrite allocated blocks and fdatasync has no metadata to flush.
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < fileBytes; off += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros, off); err != nil {
			return fsyncResult{}, err
		}
	}
	if err := f.Sync(); err != nil {
		return fsyncResult{}, err
	}
	block := make([]byte, blockBytes)
	for i := range block {
		block[i] = byte(i)
	}
	result := fsyncResult{latencies: make([]time.Duration, 0, 4096)}
	start := time.Now()
	for i := 0; i < 1_000_000 && time.Since(start) < duration; i++ {
		begin := time.Now()
		if _, err := f.WriteAt(block, int64(i%(fileBytes/blockBytes))*blockBytes); err != nil {
			return fsyncResult{}, err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return fsyncResult{}, err
		}
		result.latencies = append(result.latencies, time.Since(begin))
		result.count++
	}
	result.elapsed = time.Since(start)
	return result, nil
}

// filesystemType names the file system dir is on, as far as it is known.
func filesystemType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "unknown (" + err.Error() + ")"
	}
	switch uint64(st.Type) {
	case 0x01021994:
		return "tmpfs"
	case 0xEF53:
		return "ext2/3/4"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0x794C7630:
		return "overlayfs"
	}
	return "other"
}
