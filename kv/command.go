package kv

import (
	"fmt"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
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
var supportedOperations = map[protowire.Number]bool{
	3: true, 4: true, 5: true, 6: true, 7: true, // range, put, delete_range, txn, compaction
	8: true, 9: true, 10: true, 11: true, // lease_grant, lease_revoke, alarm, lease_checkpoint
	1301: true, // cluster_member_attr_set
	// auth: enable, disable, authenticate, status; users; roles
	1000: true, 1011: true, 1012: true, 1013: true,
	1100: true, 1101: true, 1102: true, 1103: true, 1104: true, 1105: true, 1106: true, 1107: true,
	1200: true, 1201: true, 1202: true, 1203: true, 1204: true,
}

// Field numbers that are not operations: the request header and ID.
var requestMetadata = map[protowire.Number]bool{1: true, 100: true}

// requestFields are the field numbers pb.InternalRaftRequest declares;
// a number outside it is an unknown field, which protobuf keeps aside and
// Apply ignores.
var requestFields = func() map[protowire.Number]bool {
	fields := (&pb.InternalRaftRequest{}).ProtoReflect().Descriptor().Fields()
	numbers := make(map[protowire.Number]bool, fields.Len())
	for i := range fields.Len() {
		numbers[fields.Get(i).Number()] = true
	}
	return numbers
}()

// decodeCommand parses a command. It fails with a plain error when the
// bytes are not a request with exactly one operation, and with
// ErrGRPCNotCapable for an operation this store does not implement
// (cluster version and downgrades).
func decodeCommand(command []byte) (*pb.InternalRaftRequest, error) {
	request := &pb.InternalRaftRequest{}
	if err := proto.Unmarshal(command, request); err != nil {
		return nil, fmt.Errorf("kv: undecodable command: %w", err)
	}
	operations, unsupported := countOperations(command)
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

// countOperations counts the distinct operation fields of an encoded
// pb.InternalRaftRequest that proto.Unmarshal has accepted: those Apply
// supports and those it does not. Every operation is a message field, set
// exactly when its tag is on the wire with the length-delimited wire type
// (a field repeated on the wire is merged into one; with another wire
// type protobuf keeps it as an unknown field). So reading the tags gives
// what walking the decoded message's populated fields would, without the
// reflection that cost as much as the decoding itself on every member's
// apply path.
func countOperations(command []byte) (operations, unsupported int) {
	var seen [4]protowire.Number // a command has one operation; more only when malformed
	distinct := seen[:0]
	for len(command) > 0 {
		number, wireType, length := protowire.ConsumeTag(command)
		if length < 0 {
			break // Unmarshal accepted the bytes, so this does not happen
		}
		command = command[length:]
		length = protowire.ConsumeFieldValue(number, wireType, command)
		if length < 0 {
			break
		}
		command = command[length:]
		if requestMetadata[number] || !requestFields[number] || wireType != protowire.BytesType || slices.Contains(distinct, number) {
			continue // a declared field with another wire type is an unknown field to protobuf
		}
		distinct = append(distinct, number)
		if supportedOperations[number] {
			operations++
		} else {
			unsupported++
		}
	}
	return operations, unsupported
}
