package kv

import (
	"errors"
	"testing"

	"github.com/lockstepdb/lockstep/machine"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestCommandDecoding checks what Apply answers for commands that are not
// one supported operation, and that none of them changes the state.
func TestCommandDecoding(t *testing.T) {
	h := newHarness(t, Options{})
	h.put("a", "1", 0)
	before := summary(t, h.store)
	encode := func(request *pb.InternalRaftRequest) []byte {
		command, err := EncodeCommand(request)
		if err != nil {
			t.Fatal(err)
		}
		return command
	}
	cases := []struct {
		name    string
		command []byte
		want    error // nil: a plain error, not an etcd one
	}{
		{"garbage", []byte{0xff, 0x01, 0x02}, nil},
		{"no operation", encode(&pb.InternalRaftRequest{ID: 7, Header: &pb.RequestHeader{ID: 7}}), nil},
		{"two operations", encode(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("b")}, DeleteRange: &pb.DeleteRangeRequest{Key: []byte("a")}}), nil},
		{"authentication", encode(&pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}}), rpctypes.ErrGRPCNotCapable},
	}
	for _, c := range cases {
		h.index++
		result := h.store.Apply([]machine.Entry{{Index: h.index, Command: c.command}})[0]
		err, isError := result.(error)
		switch {
		case !isError:
			t.Errorf("%s: result %v, want an error", c.name, result)
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		case c.want == nil && status.Code(err) != codes.Unknown: // not a gRPC status
			t.Errorf("%s: %v is an etcd error, want a plain one", c.name, err)
		}
	}
	if after := summary(t, h.store); withoutApplied(after) != withoutApplied(before) || h.store.AppliedIndex() != h.index {
		t.Errorf("refused commands changed the state or did not advance the applied index:\n%s\n%s", before, after)
	}
}

// TestHashKVAndSize checks HashKV's revisions and errors, and that Size is
// never zero.
func TestHashKVAndSize(t *testing.T) {
	h := newHarness(t, Options{})
	if total, inUse := h.store.Size(); total < minimumSize || inUse < minimumSize || inUse > total {
		t.Errorf("Size of an empty store: %d %d", total, inUse)
	}
	h.put("a", "1", 0)
	h.put("a", "2", 0)
	h.put("b", "1", 0) // rev 4
	atThree, revision, compacted, err := h.store.HashKV(3)
	if err != nil || revision != 3 || compacted != -1 {
		t.Fatalf("HashKV(3): %d %d %v", revision, compacted, err)
	}
	now, revision, _, err := h.store.HashKV(0)
	if err != nil || revision != 4 || now == atThree {
		t.Errorf("HashKV(0): %08x at %d (%v), HashKV(3) %08x", now, revision, err, atThree)
	}
	if again, _, _, _ := h.store.HashKV(3); again != atThree {
		t.Errorf("HashKV(3) changed after a read")
	}
	h.compact(3)
	if _, _, _, err := h.store.HashKV(2); !errors.Is(err, rpctypes.ErrGRPCCompacted) {
		t.Errorf("HashKV below the compaction: %v", err)
	}
	if _, _, _, err := h.store.HashKV(5); !errors.Is(err, rpctypes.ErrGRPCFutureRev) {
		t.Errorf("HashKV of a future revision: %v", err)
	}
}
