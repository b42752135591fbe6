package kv

import (
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// countOperationsByReflection is what countOperations replaced: it walks
// the decoded request's populated fields. The tests hold the two equal.
func countOperationsByReflection(request *pb.InternalRaftRequest) (operations, unsupported int) {
	request.ProtoReflect().Range(func(field protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		switch number := protowire.Number(field.Number()); {
		case requestMetadata[number]:
		case supportedOperations[number]:
			operations++
		default:
			unsupported++
		}
		return true
	})
	return operations, unsupported
}

// checkCountsAgree fails t when countOperations and the reflection walk
// disagree on command; a command Unmarshal refuses is not counted.
func checkCountsAgree(t *testing.T, name string, command []byte) {
	t.Helper()
	request := &pb.InternalRaftRequest{}
	if proto.Unmarshal(command, request) != nil {
		return
	}
	gotOperations, gotUnsupported := countOperations(command)
	wantOperations, wantUnsupported := countOperationsByReflection(request)
	if gotOperations != wantOperations || gotUnsupported != wantUnsupported {
		t.Errorf("%s: counted %d operations and %d unsupported from the wire, %d and %d from the decoded request",
			name, gotOperations, gotUnsupported, wantOperations, wantUnsupported)
	}
}

// TestCountOperationsMatchesTheDecodedRequest checks the wire count
// against the decoded request for every field of InternalRaftRequest set
// alone (empty and not), two operations, a field repeated on the wire, and
// unknown fields.
func TestCountOperationsMatchesTheDecodedRequest(t *testing.T) {
	fields := (&pb.InternalRaftRequest{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		field := fields.Get(i)
		empty := &pb.InternalRaftRequest{}
		message := empty.ProtoReflect()
		switch field.Kind() {
		case protoreflect.MessageKind:
			message.Set(field, protoreflect.ValueOfMessage(message.NewField(field).Message()))
		case protoreflect.Uint64Kind:
			message.Set(field, protoreflect.ValueOfUint64(7))
		default:
			t.Fatalf("field %s is a %s: the test does not know it", field.Name(), field.Kind())
		}
		command, err := proto.Marshal(empty)
		if err != nil {
			t.Fatal(err)
		}
		checkCountsAgree(t, string(field.Name()), command)
		checkCountsAgree(t, string(field.Name())+" twice on the wire", append(append([]byte(nil), command...), command...))
		if field.Kind() == protoreflect.MessageKind {
			// An operation has one, and only one, operation.
			if operations, unsupported := countOperations(command); operations+unsupported != 1 && !requestMetadata[protowire.Number(field.Number())] {
				t.Errorf("%s alone: counted %d operations and %d unsupported, want one in all", field.Name(), operations, unsupported)
			}
		}
	}
	put, _ := proto.Marshal(&pb.InternalRaftRequest{ID: 9, Header: &pb.RequestHeader{ID: 9}, Put: &pb.PutRequest{Key: []byte("k"), Value: []byte("v")}})
	deletion, _ := proto.Marshal(&pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("k")}})
	version, _ := proto.Marshal(&pb.InternalRaftRequest{ClusterVersionSet: &membershippb.ClusterVersionSetRequest{Ver: "3.7.0"}})
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 999, protowire.VarintType), 5)
	unknownBytes := protowire.AppendBytes(protowire.AppendTag(nil, 4242, protowire.BytesType), []byte("x"))
	txnAsVarint := protowire.AppendVarint(protowire.AppendTag(nil, 6, protowire.VarintType), 48) // the fuzzer's find
	for name, command := range map[string][]byte{
		"put":                                  put,
		"put and delete":                       append(append([]byte(nil), put...), deletion...),
		"put and cluster version":              append(append([]byte(nil), put...), version...),
		"unknown fields only":                  append(append([]byte(nil), unknown...), unknownBytes...),
		"put between unknown fields":           append(append(append([]byte(nil), unknown...), put...), unknownBytes...),
		"delete, put, delete, version":         append(append(append(append([]byte(nil), deletion...), put...), deletion...), version...),
		"put and a txn of the wrong wire type": append(append([]byte(nil), put...), txnAsVarint...),
	} {
		checkCountsAgree(t, name, command)
	}
	if operations, unsupported := countOperations(put); operations != 1 || unsupported != 0 {
		t.Errorf("put: counted %d operations and %d unsupported, want 1 and 0", operations, unsupported)
	}
}

// FuzzCountOperations holds the wire count equal to the decoded request's
// on arbitrary bytes that decode. Run longer with
// go test -run '^$' -fuzz FuzzCountOperations ./kv.
func FuzzCountOperations(f *testing.F) {
	for _, request := range []*pb.InternalRaftRequest{
		{Put: &pb.PutRequest{Key: []byte("key-1"), Value: []byte("v"), Lease: 1, PrevKv: true}},
		{ID: 3, Header: &pb.RequestHeader{ID: 3}, Txn: &pb.TxnRequest{}},
		{Put: &pb.PutRequest{Key: []byte("a")}, DeleteRange: &pb.DeleteRangeRequest{Key: []byte("a")}},
		{ClusterVersionSet: &membershippb.ClusterVersionSetRequest{Ver: "3.7.0"}},
	} {
		command, err := EncodeCommand(request)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(command)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, command []byte) {
		checkCountsAgree(t, "fuzzed", command)
	})
}

// BenchmarkCountOperations compares the wire count of a put's operations
// with the reflection walk it replaced (each after the same decoding).
func BenchmarkCountOperations(b *testing.B) {
	command, err := EncodeCommand(&pb.InternalRaftRequest{ID: 9, Header: &pb.RequestHeader{ID: 9}, Put: &pb.PutRequest{Key: []byte("bench/key/00042"), Value: make([]byte, 256)}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("wire", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeCommand(command); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reflection", func(b *testing.B) {
		for b.Loop() {
			request := &pb.InternalRaftRequest{}
			if err := proto.Unmarshal(command, request); err != nil {
				b.Fatal(err)
			}
			countOperationsByReflection(request)
		}
	})
}
