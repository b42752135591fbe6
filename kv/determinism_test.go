package kv

import (
	"bytes"
	"math/rand/v2"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// TestReplicasAgree applies one random command sequence to two stores,
// split into Apply calls differently, as two replicas' loops would: their
// snapshot images (every Pebble key and value, meta data included) and
// HashKV are byte for byte the same.
func TestReplicasAgree(t *testing.T) {
	random := rand.New(rand.NewPCG(42, 43))
	g := &generator{random: random, model: newModel()}
	var requests []*pb.InternalRaftRequest
	for range 600 {
		request := g.request()
		requests = append(requests, request)
		if ValidateRequest(request, 0) == nil {
			g.model.apply(request)
		}
	}
	first, second := newHarness(t, Options{}), newHarness(t, Options{})
	for start := 0; start < len(requests); {
		end := min(len(requests), start+1+random.IntN(7))
		first.apply(requests[start:end]...)
		start = end
	}
	for _, request := range requests {
		second.apply(request)
	}
	if !bytes.Equal(imageOf(t, first.store), imageOf(t, second.store)) {
		t.Errorf("replicas' images differ")
	}
	firstHash, _, _, _ := first.store.HashKV(0)
	secondHash, _, _, _ := second.store.HashKV(0)
	if firstHash != secondHash {
		t.Errorf("HashKV %08x and %08x", firstHash, secondHash)
	}
	if _, compacted := first.store.Revision(); compacted < 1 {
		t.Errorf("the sequence never compacted (compacted %d): the test would miss compaction", compacted)
	}
}
