package kv

import (
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// DefaultMaxRequestBytes is etcd's default --max-request-bytes: the
// largest encoded request a server proposes.
const DefaultMaxRequestBytes = 1536 * 1024

// Limits are the bounds a server holds a request to before it proposes
// it, etcd's --max-request-bytes and --max-txn-ops.
type Limits struct {
	// MaxRequestBytes bounds the encoded request; 0 means
	// DefaultMaxRequestBytes.
	MaxRequestBytes int
	// MaxTxnOps bounds the operations (and compares) of one Txn; 0 means
	// 128. It must be the MaxTxnOps of the Store's Options, which Apply
	// checks again.
	MaxTxnOps int
}

// Command is a request checked and encoded for the log: what a server
// proposes and Apply expects. Only NewCommand makes one, so a Command
// has passed etcd's checks and fits its Limits.
type Command struct{ encoded []byte }

// Bytes returns the command's encoding, to propose as it is. The caller
// must not modify it.
func (c Command) Bytes() []byte { return c.encoded }

// NewCommand checks request as etcd's server does before proposing it,
// in etcd's order, and encodes it: first etcd's request checks
// (ValidateRequest with limits.MaxTxnOps), then the size of the encoding,
// which must not exceed limits.MaxRequestBytes
// (rpctypes.ErrGRPCRequestTooLarge, "etcdserver: request is too large").
// The request must set exactly one operation. It is the one place a
// server checks and encodes a write; the quota check, which etcd makes
// before all of these, is the server's.
func NewCommand(request *pb.InternalRaftRequest, limits Limits) (Command, error) {
	if err := ValidateRequest(request, limits.MaxTxnOps); err != nil {
		return Command{}, err
	}
	encoded, err := proto.Marshal(request)
	if err != nil {
		// Marshal fails only for a request it cannot encode, such as a
		// string field that is not UTF-8 (which gRPC already refuses in
		// a client's request): it cannot be proposed, and is answered
		// as the server always has, as too large.
		return Command{}, rpctypes.ErrGRPCRequestTooLarge
	}
	maxBytes := limits.MaxRequestBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxRequestBytes
	}
	if len(encoded) > maxBytes {
		return Command{}, rpctypes.ErrGRPCRequestTooLarge
	}
	return Command{encoded: encoded}, nil
}

// EncodeCommand returns the command Apply expects for request, its
// protobuf encoding, without NewCommand's checks: for tests and tools
// that write commands to a log themselves (Apply refuses, without a
// change, what NewCommand would have refused). The request must set
// exactly one operation.
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
	// auth: enable, disable, authenticate, status; users; roles
	1000: true, 1011: true, 1012: true, 1013: true,
	1100: true, 1101: true, 1102: true, 1103: true, 1104: true, 1105: true, 1106: true, 1107: true,
	1200: true, 1201: true, 1202: true, 1203: true, 1204: true,
}

// Field numbers that are not operations: the request header and ID.
var requestMetadata = map[protoreflect.FieldNumber]bool{1: true, 100: true}

// decodeCommand parses a command. It fails with a plain error when the
// bytes are not a request with exactly one operation, and with
// ErrGRPCNotCapable for an operation this store does not implement
// (cluster version and downgrades).
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
