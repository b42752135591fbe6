package kv

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/lockstepdb/lockstep/machine"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// Throwaway: random point reads on a 1M-key, 1 KiB store by block cache size.
func BenchmarkZZBigRead(b *testing.B) {
	keys, _ := strconv.Atoi(os.Getenv("ZZ_KEYS"))
	cacheMiB, _ := strconv.Atoi(os.Getenv("ZZ_CACHE_MIB"))
	value := make([]byte, 1024)
	for i := range value {
		value[i] = byte(i*7 + i/13)
	}
	store, err := Open(b.TempDir(), Options{CacheSize: int64(cacheMiB) << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	entries := make([]machine.Entry, 0, 64)
	index := uint64(0)
	for key := range keys {
		index++
		encoded, _ := EncodeCommand(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: fmt.Appendf(nil, "big/%08d", key), Value: value}})
		entries = append(entries, machine.Entry{Index: index, Term: 1, Command: encoded})
		if len(entries) == 64 {
			store.Apply(entries)
			entries = entries[:0]
		}
	}
	random := uint64(1)
	b.ResetTimer()
	for range b.N {
		random = random*6364136223846793005 + 1442695040888963407
		if _, err := store.Range(&pb.RangeRequest{Key: fmt.Appendf(nil, "big/%08d", (random>>33)%uint64(keys))}); err != nil {
			b.Fatal(err)
		}
	}
}
