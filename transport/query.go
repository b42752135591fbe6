package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lockstepdb/lockstep/raft"
)

// Queries are questions the embedding application asks its peers over the
// peer port, beside the raft messages, with the same security: the port's
// TLS, client certificates and cluster check. Each is a request and an
// answer of bytes, named; the application answers its own names
// (Config.Queries) and asks with Transport.Query. lockstep's server checks
// its members' data against each other with one (the hash of their
// stores). A query frame is the asker's cluster ID (8 bytes, big endian),
// the name's length (1 byte), the name, then the request.
const (
	queryMethodName = "Query"
	queryMethod     = "/" + serviceName + "/" + queryMethodName
	// maxQueryNameBytes bounds a query's name.
	maxQueryNameBytes = 255
)

// QueryHandler answers one named query from a peer. It is called from
// gRPC's goroutines, concurrently; an error reaches the asker as the
// query's error.
type QueryHandler func(ctx context.Context, request []byte) ([]byte, error)

// ErrUnknownQuery is the answer to a query the peer does not answer.
var ErrUnknownQuery = errors.New("transport: the peer answers no query of that name")

// appendQuery appends a query frame.
func appendQuery(frame []byte, clusterID uint64, name string, request []byte) []byte {
	frame = binary.BigEndian.AppendUint64(frame, clusterID)
	frame = append(frame, byte(len(name)))
	frame = append(frame, name...)
	return append(frame, request...)
}

// parseQuery splits a query frame.
func parseQuery(frame []byte) (clusterID uint64, name string, request []byte, err error) {
	if len(frame) < 9 {
		return 0, "", nil, errors.New("transport: query frame too short")
	}
	clusterID, length := binary.BigEndian.Uint64(frame), int(frame[8])
	if len(frame) < 9+length {
		return 0, "", nil, errors.New("transport: query frame shorter than its name")
	}
	return clusterID, string(frame[9 : 9+length]), frame[9+length:], nil
}

// Query asks peer the query name with request and returns its answer (at
// most 64 KiB). The peer must have been named with SetPeer; the query
// goes over the peer's gRPC connection (which snapshots use too; messages
// may go over a direct connection instead). A peer that does not answer
// name (one of an older version, too) gives ErrUnknownQuery; one of
// another cluster refuses it. Safe from any goroutine.
func (t *Transport) Query(ctx context.Context, peer raft.NodeID, name string, request []byte) ([]byte, error) {
	if len(name) > maxQueryNameBytes {
		return nil, fmt.Errorf("transport: query name of %d bytes exceeds %d", len(name), maxQueryNameBytes)
	}
	t.mu.RLock()
	target, ok := t.peers[peer]
	t.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("transport: query %s: %v is not a peer", name, peer)
	}
	frame, reply := appendQuery(make([]byte, 0, 9+len(name)+len(request)), t.config.ClusterID, name, request), []byte{}
	if err := target.conn.Invoke(ctx, queryMethod, &frame, &reply); err != nil {
		if code := status.Code(err); code == codes.NotFound || code == codes.Unimplemented {
			return nil, fmt.Errorf("%w: %s", ErrUnknownQuery, name)
		}
		return nil, fmt.Errorf("transport: query %s to %v: %w", name, peer, err)
	}
	return reply, nil
}

// answerQuery answers a query frame from a peer.
func (t *Transport) answerQuery(ctx context.Context, frame []byte) ([]byte, error) {
	clusterID, name, request, err := parseQuery(frame)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if clusterID != t.config.ClusterID {
		return nil, status.Errorf(codes.PermissionDenied, "transport: a query from cluster %x, this is cluster %x", clusterID, t.config.ClusterID)
	}
	handler, ok := t.config.Queries[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "transport: no query named %q", name)
	}
	return handler(ctx, request)
}

func queryHandler(server any, ctx context.Context, decode func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	var frame []byte
	if err := decode(&frame); err != nil {
		return nil, err
	}
	reply, err := server.(*Transport).answerQuery(ctx, frame)
	if err != nil {
		return nil, err
	}
	return &reply, nil
}
