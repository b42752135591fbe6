package kv

import (
	"errors"
	"testing"

	"github.com/lockstepdb/lockstep/machine"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
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
		{"cluster version", encode(&pb.InternalRaftRequest{ClusterVersionSet: &membershippb.ClusterVersionSetRequest{Ver: "3.7.0"}}), rpctypes.ErrGRPCNotCapable},
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

// TestNewCommandChecksInEtcdsOrder: etcd's request checks first, then the
// encoded size against MaxRequestBytes (exactly at the bound passes), with
// etcd's errors; what passes decodes to the request it was made from.
func TestNewCommandChecksInEtcdsOrder(t *testing.T) {
	put := &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("k"), Value: make([]byte, 1000)}}
	size := proto.Size(put)
	manyPuts := &pb.TxnRequest{}
	for _, key := range []string{"a", "b", "c", "d", "e"} {
		manyPuts.Success = append(manyPuts.Success, opPut(key, "1"))
	}
	cases := []struct {
		name    string
		request *pb.InternalRaftRequest
		limits  Limits
		want    error
	}{
		{"at the bound", put, Limits{MaxRequestBytes: size}, nil},
		{"one byte over", put, Limits{MaxRequestBytes: size - 1}, rpctypes.ErrGRPCRequestTooLarge},
		{"over the default bound", &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("k"), Value: make([]byte, DefaultMaxRequestBytes)}}, Limits{}, rpctypes.ErrGRPCRequestTooLarge},
		{"empty key before size", &pb.InternalRaftRequest{Put: &pb.PutRequest{Value: make([]byte, 1000)}}, Limits{MaxRequestBytes: 10}, rpctypes.ErrGRPCEmptyKey},
		{"too many operations", &pb.InternalRaftRequest{Txn: manyPuts}, Limits{MaxTxnOps: 4}, rpctypes.ErrGRPCTooManyOps},
		{"default operations bound", &pb.InternalRaftRequest{Txn: manyPuts}, Limits{}, nil},
		{"not a key-value request", &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 7}}, Limits{}, nil},
	}
	for _, c := range cases {
		command, err := NewCommand(c.request, c.limits)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
			continue
		}
		if err != nil {
			if command.Bytes() != nil {
				t.Errorf("%s: refused, yet the command holds %d bytes", c.name, len(command.Bytes()))
			}
			continue
		}
		decoded, err := decodeCommand(command.Bytes())
		if err != nil || !proto.Equal(decoded, c.request) {
			t.Errorf("%s: decodes to %v (%v), want %v", c.name, decoded, err, c.request)
		}
	}
}

// BenchmarkNewCommandPut is the server's cost to check and encode a put
// of a 256-byte value, against the two calls it made before NewCommand.
func BenchmarkNewCommandPut(b *testing.B) {
	put := &pb.PutRequest{Key: []byte("bench/key/00042"), Value: make([]byte, 256)}
	b.Run("NewCommand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := NewCommand(&pb.InternalRaftRequest{Put: put}, Limits{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ValidateRequest+EncodeCommand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := ValidateRequest(&pb.InternalRaftRequest{Put: put}, 0); err != nil {
				b.Fatal(err)
			}
			if _, err := EncodeCommand(&pb.InternalRaftRequest{Put: put}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
