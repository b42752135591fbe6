package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// The benchmarks below measure durable appends on the real disk, next to
// the disk's raw fsync rate measured the same way (same directory, same
// run), because only the ratio between them is stable on shared machines.
// Run them with:
//
//	go test -run '^$' -bench 'RawFsync|Append' -benchtime 3s ./wal/
//
// The temporary directory is os.TempDir (set TMPDIR to measure another
// disk).

const benchmarkPreallocation = 64 << 20

// BenchmarkRawFsync is the physical floor: 4 KiB written into a
// preallocated (zero-filled, synced) file, then fdatasync, in a loop.
func BenchmarkRawFsync(b *testing.B) {
	path := filepath.Join(b.TempDir(), "raw")
	file, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer file.Close()
	zeros := make([]byte, 1<<20)
	for offset := int64(0); offset < benchmarkPreallocation; offset += int64(len(zeros)) {
		if _, err := file.WriteAt(zeros, offset); err != nil {
			b.Fatal(err)
		}
	}
	if err := file.Sync(); err != nil {
		b.Fatal(err)
	}
	block := make([]byte, 4096)
	for i := range block {
		block[i] = byte(i)
	}
	b.SetBytes(int64(len(block)))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		offset := int64(i*len(block)) % benchmarkPreallocation
		if _, err := file.WriteAt(block, offset); err != nil {
			b.Fatal(err)
		}
		if err := syscall.Fdatasync(int(file.Fd())); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fsyncs/s")
}

// BenchmarkAppend appends batches of 256-byte entries, each batch made
// durable with one fsync, through Log.Save on the OS file system.
func BenchmarkAppend(b *testing.B) {
	for _, batchSize := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("batch=%d", batchSize), func(b *testing.B) {
			log, err := Open(vfs.OS, b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer log.Close()
			data := make([]byte, 256)
			batch := make([]raft.Entry, batchSize)
			next := uint64(1)
			b.SetBytes(int64(batchSize * len(data)))
			b.ResetTimer()
			for b.Loop() {
				for i := range batch {
					batch[i] = raft.Entry{Index: next, Term: 1, Data: data}
					next++
				}
				if err := log.Save(raft.HardState{}, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
