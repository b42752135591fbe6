package kv

import (
	"fmt"
	"slices"
	"testing"

	"github.com/lockstepdb/lockstep/machine"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// harness applies requests to one store as a node would: consecutive
// indexes, one Apply call per apply.
type harness struct {
	t     testing.TB
	store *Store
	index uint64
}

// newHarness opens an in-memory store closed at the end of the test.
func newHarness(t testing.TB, options Options) *harness {
	t.Helper()
	options.InMemory = true
	store, err := Open("test", options)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &harness{t: t, store: store}
}

// apply applies requests in one Apply call and returns their results.
func (h *harness) apply(requests ...*pb.InternalRaftRequest) []machine.Result {
	h.t.Helper()
	entries := make([]machine.Entry, len(requests))
	for i, request := range requests {
		command, err := EncodeCommand(request)
		if err != nil {
			h.t.Fatalf("EncodeCommand: %v", err)
		}
		h.index++
		entries[i] = machine.Entry{Index: h.index, Term: 1, Command: command}
	}
	return h.store.Apply(entries)
}

// one applies a single request and returns its result.
func (h *harness) one(request *pb.InternalRaftRequest) machine.Result {
	h.t.Helper()
	return h.apply(request)[0]
}

// put applies a Put and fails the test on an error.
func (h *harness) put(key, value string, lease int64) *pb.PutResponse {
	h.t.Helper()
	result := h.one(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(key), Value: []byte(value), Lease: lease}})
	response, ok := result.(*pb.PutResponse)
	if !ok {
		h.t.Fatalf("put %q: result %v", key, result)
	}
	return response
}

// remove applies a DeleteRange and fails the test on an error.
func (h *harness) remove(key, end string) *pb.DeleteRangeResponse {
	h.t.Helper()
	request := &pb.DeleteRangeRequest{Key: []byte(key)}
	if end != "" {
		request.RangeEnd = []byte(end)
	}
	result := h.one(&pb.InternalRaftRequest{DeleteRange: request})
	response, ok := result.(*pb.DeleteRangeResponse)
	if !ok {
		h.t.Fatalf("delete %q: result %v", key, result)
	}
	return response
}

// grant grants a lease and fails the test on an error.
func (h *harness) grant(id, ttl int64) {
	h.t.Helper()
	if result := h.one(&pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: id, TTL: ttl}}); !isResponse(result) {
		h.t.Fatalf("grant %d: %v", id, result)
	}
}

// compact compacts at revision and fails the test on an error.
func (h *harness) compact(revision int64) {
	h.t.Helper()
	if result := h.one(&pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: revision}}); !isResponse(result) {
		h.t.Fatalf("compact %d: %v", revision, result)
	}
}

// get reads request and fails the test on an error.
func (h *harness) get(request *pb.RangeRequest) *pb.RangeResponse {
	h.t.Helper()
	response, err := h.store.Range(request)
	if err != nil {
		h.t.Fatalf("Range %q: %v", request.Key, err)
	}
	return response
}

// isResponse reports whether a result is a response and not an error.
func isResponse(result machine.Result) bool {
	_, failed := result.(error)
	return result != nil && !failed
}

// keyValue builds an expected key-value.
func keyValue(key, value string, create, mod, version, lease int64) *mvccpb.KeyValue {
	return &mvccpb.KeyValue{Key: []byte(key), Value: []byte(value), CreateRevision: create, ModRevision: mod, Version: version, Lease: lease}
}

// sameMessage fails the test when two protobuf messages differ.
func sameMessage(t testing.TB, what string, got, want proto.Message) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Errorf("%s:\n got  %v\n want %v", what, got, want)
	}
}

// sameKeyValues fails the test when two key-value lists differ.
func sameKeyValues(t testing.TB, what string, got, want []*mvccpb.KeyValue) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d key-values %v, want %d %v", what, len(got), got, len(want), want)
		return
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("%s[%d]: got %v, want %v", what, i, got[i], want[i])
		}
	}
}

// prefixEnd returns the range end of a prefix.
func prefixEnd(prefix string) string {
	return string(nextPrefix([]byte(prefix)))
}

// describe renders key-values compactly: "key=value cCREATE mMOD vVERSION",
// with " lLEASE" when a lease is attached.
func describe(keyValues []*mvccpb.KeyValue) []string {
	described := []string{}
	for _, kv := range keyValues {
		text := fmt.Sprintf("%s=%s c%d m%d v%d", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version)
		if kv.Lease != 0 {
			text += fmt.Sprintf(" l%d", kv.Lease)
		}
		described = append(described, text)
	}
	return described
}

// equalStrings compares two string lists.
func equalStrings(got, want []string) bool {
	return slices.Equal(got, want)
}
