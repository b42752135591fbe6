package kv

import (
	"fmt"
	"testing"

	"github.com/lockstepdb/lockstep/machine"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// BenchmarkApplyPut applies batches of 64 puts of 128-byte values over
// 10,000 keys, in memory and on disk (no fsync: Pebble's WAL is off).
// One op is one put.
func BenchmarkApplyPut(b *testing.B) {
	for _, onDisk := range []bool{false, true} {
		name := "memory"
		if onDisk {
			name = "disk"
		}
		b.Run(name, func(b *testing.B) {
			directory, options := "bench", Options{InMemory: true}
			if onDisk {
				directory, options = b.TempDir(), Options{}
			}
			value := make([]byte, 128)
			commands := make([][]byte, 10_000)
			for i := range commands {
				commands[i], _ = EncodeCommand(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: fmt.Appendf(nil, "bench/key/%05d", i), Value: value}})
			}
			applyInBatches(b, directory, options, len(value), func(index uint64) []byte { return commands[int(index)%len(commands)] })
		})
	}
}

// BenchmarkApplyPutNewKeys applies puts of keys never written before, on
// disk, as the benchmark's sequential-key put workload does: each put's
// lookup of the key's current version finds nothing, in a store that
// grows by every operation (run it with -benchtime=300000x or more, so
// that the store spans several levels of sstables).
func BenchmarkApplyPutNewKeys(b *testing.B) {
	value := make([]byte, 256)
	applyInBatches(b, b.TempDir(), Options{}, len(value), func(index uint64) []byte {
		command, _ := EncodeCommand(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: fmt.Appendf(nil, "%08d", index), Value: value}})
		return command
	})
}

// BenchmarkApplyPutOnePerCall applies one put per Apply call, on disk, as
// the runtime hands entries over at low load (one client): the fixed cost
// of an Apply call is paid by every put.
func BenchmarkApplyPutOnePerCall(b *testing.B) {
	store, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	value := make([]byte, 256)
	commands := make([][]byte, 10_000)
	for i := range commands {
		commands[i], _ = EncodeCommand(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: fmt.Appendf(nil, "bench/key/%05d", i), Value: value}})
	}
	entry := make([]machine.Entry, 1)
	b.SetBytes(int64(len(value)))
	b.ResetTimer()
	for i := range b.N {
		entry[0] = machine.Entry{Index: uint64(i + 1), Term: 1, Command: commands[i%len(commands)]}
		store.Apply(entry)
	}
}

// applyInBatches opens a store and applies b.N commands to it, 64 per
// Apply call as the runtime hands them over under load; command returns
// the command of each log index.
func applyInBatches(b *testing.B, directory string, options Options, valueBytes int, command func(index uint64) []byte) {
	store, err := Open(directory, options)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	const batch = 64
	entries := make([]machine.Entry, batch)
	index := uint64(0)
	b.SetBytes(int64(valueBytes))
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		for i := range entries {
			index++
			entries[i] = machine.Entry{Index: index, Term: 1, Command: command(index)}
		}
		store.Apply(entries)
	}
}

// BenchmarkRange reads from a store of 10,000 keys with 5 versions each:
// one key now and in the past, 100 keys by prefix, and a count of all.
func BenchmarkRange(b *testing.B) {
	store, err := Open("bench", Options{InMemory: true})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	index := uint64(0)
	for version := range 5 {
		entries := make([]machine.Entry, 0, 1000)
		for i := range 10_000 {
			command, _ := EncodeCommand(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: fmt.Appendf(nil, "bench/%03d/%02d", i/100, i%100), Value: fmt.Appendf(nil, "value-%d-%d", i, version)}})
			index++
			entries = append(entries, machine.Entry{Index: index, Term: 1, Command: command})
			if len(entries) == cap(entries) {
				store.Apply(entries)
				entries = entries[:0]
			}
		}
	}
	current, _ := store.Revision()
	cases := []struct {
		name    string
		request *pb.RangeRequest
	}{
		{"key", &pb.RangeRequest{Key: []byte("bench/042/17")}},
		{"key-past", &pb.RangeRequest{Key: []byte("bench/042/17"), Revision: current - 25_000}},
		{"prefix-100", &pb.RangeRequest{Key: []byte("bench/042/"), RangeEnd: []byte("bench/0420")}},
		{"prefix-100-past", &pb.RangeRequest{Key: []byte("bench/042/"), RangeEnd: []byte("bench/0420"), Revision: current - 25_000}},
		{"count-all", &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, CountOnly: true}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := store.Range(c.request); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkApplyPutBigStore applies random puts of 1 KiB values, 64 per
// Apply call, over a store of 200,000 such keys on disk, as the
// benchmark's big-store workload does: each put's lookup of its key's
// current version misses the block cache more often than not. The store
// is filled before the timer starts (about 200 MiB of values).
func BenchmarkApplyPutBigStore(b *testing.B) {
	const keys = 200_000
	value := make([]byte, 1024)
	for i := range value {
		value[i] = byte(i*7 + i/13) // compresses little, as random values
	}
	command := func(key int) []byte {
		encoded, _ := EncodeCommand(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: fmt.Appendf(nil, "big/%08d", key), Value: value}})
		return encoded
	}
	store, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	const batch = 64
	entries := make([]machine.Entry, 0, batch)
	index := uint64(0)
	apply := func(key int) {
		index++
		entries = append(entries, machine.Entry{Index: index, Term: 1, Command: command(key)})
		if len(entries) == batch {
			store.Apply(entries)
			entries = entries[:0]
		}
	}
	for key := range keys {
		apply(key)
	}
	random := uint64(1)
	b.SetBytes(int64(len(value)))
	b.ResetTimer()
	for range b.N {
		random = random*6364136223846793005 + 1442695040888963407
		apply(int((random >> 33) % keys))
	}
}
