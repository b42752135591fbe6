package kv

import (
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// EncodeCommand returns the command Apply expects for request: its
// protobuf encoding. The request must set exactly one operation.
func EncodeCommand(request *pb.InternalRaftRequest) ([]byte, error) {
	command, err := proto.Marshal(request)
	if err != nil {
		return nil, fmt.Errorf("kv: encode command: %w", err)
	}
	return command, nil
}

// Field numbers of the operations Apply supports, in
// pb.InternalRaftRequest.
var supportedOperations = map[protoreflect.FieldNumber]bool{
	3: true, 4: true, 5: true, 6: true, 7: true, // range, put, delete_range, txn, compaction
	8: true, 9: true, 10: true, 11: true, // lease_grant, lease_revoke, alarm, lease_checkpoint
	1301: true, // cluster_member_attr_set
}

// Field numbers that are not operations: the request header and ID.
var requestMetadata = map[protoreflect.FieldNumber]bool{1: true, 100: true}

// decodeCommand parses a command. It fails with a plain error when the
// bytes are not a request with exactly one operation, and with
// ErrGRPCNotCapable for an operation this store does not implement
// (authentication, cluster version and downgrades).
func decodeCommand(command []byte) (*pb.InternalRaftRequest, error) {
	request := &pb.InternalRaftRequest{}
	if err := proto.Unmarshal(command, request); err != nil {
		return nil, fmt.Errorf("kv: undecodable command: %w", err)
	}
	operations, unsupported := 0, 0
	request.ProtoReflect().Range(func(field protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		switch number := field.Number(); {
		case requestMetadata[number]:
		case supportedOperations[number]:
			operations++
		default:
			unsupported++
		}
		return true
	})
	switch {
	case operations+unsupported == 0:
		return nil, fmt.Errorf("kv: command holds no operation")
	case operations+unsupported > 1:
		return nil, fmt.Errorf("kv: command holds %d operations, want one", operations+unsupported)
	case unsupported > 0:
		return nil, rpctypes.ErrGRPCNotCapable
	}
	return request, nil
}
