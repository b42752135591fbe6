package kv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/internal/etcdbin"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// freePort asks the system for a free loopback port.
func freePort(t *testing.T) int {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port
}

// startEtcd runs a one-member etcd v3.7.3 on loopback and returns a gRPC
// connection to it, ready to serve.
func startEtcd(t *testing.T) *grpc.ClientConn {
	t.Helper()
	path, err := etcdbin.Path("etcd")
	if err != nil {
		t.Fatal(err)
	}
	directory := t.TempDir()
	client := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	log, err := os.Create(filepath.Join(directory, "etcd.log"))
	if err != nil {
		t.Fatal(err)
	}
	command := exec.Command(path, "--name", "kv-reference", "--data-dir", filepath.Join(directory, "data"),
		"--listen-client-urls", "http://"+client, "--advertise-client-urls", "http://"+client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "kv-reference="+peer, "--log-level", "error")
	command.Stdout, command.Stderr = log, log
	if err := command.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		command.Process.Kill()
		command.Wait()
		log.Close()
	})
	connection, err := grpc.NewClient(client, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { connection.Close() })
	// A real process: poll until it answers, within a bounded time.
	kv := pb.NewKVClient(connection)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("ready")})
		cancel()
		if err == nil {
			return connection
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd did not start: %v (log in %s)", err, log.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sendToEtcd sends one request to etcd over gRPC.
func sendToEtcd(ctx context.Context, connection *grpc.ClientConn, request *pb.InternalRaftRequest) (proto.Message, error) {
	kv, lease := pb.NewKVClient(connection), pb.NewLeaseClient(connection)
	switch {
	case request.Range != nil:
		return kv.Range(ctx, request.Range)
	case request.Put != nil:
		return kv.Put(ctx, request.Put)
	case request.DeleteRange != nil:
		return kv.DeleteRange(ctx, request.DeleteRange)
	case request.Txn != nil:
		return kv.Txn(ctx, request.Txn)
	case request.Compaction != nil:
		return kv.Compact(ctx, request.Compaction)
	case request.LeaseGrant != nil:
		return lease.LeaseGrant(ctx, request.LeaseGrant)
	case request.LeaseRevoke != nil:
		return lease.LeaseRevoke(ctx, request.LeaseRevoke)
	}
	return nil, fmt.Errorf("no such request")
}

// onlyRevision keeps the revision of a top-level header: the server fills
// in cluster, member and term.
func onlyRevision(message proto.Message) proto.Message {
	message = proto.Clone(message)
	field := message.ProtoReflect().Descriptor().Fields().ByName("header")
	if field == nil || !message.ProtoReflect().Has(field) {
		return message
	}
	header := message.ProtoReflect().Get(field).Message().Interface().(*pb.ResponseHeader)
	message.ProtoReflect().Set(field, protoreflect.ValueOfMessage((&pb.ResponseHeader{Revision: header.Revision}).ProtoReflect()))
	return message
}

// differentialRequests is the sequence run on etcd and on the store.
func differentialRequests() []*pb.InternalRaftRequest {
	put := func(key, value string, lease int64) *pb.InternalRaftRequest {
		return &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(key), Value: []byte(value), Lease: lease, PrevKv: true}}
	}
	get := func(request *pb.RangeRequest) *pb.InternalRaftRequest { return &pb.InternalRaftRequest{Range: request} }
	txn := func(request *pb.TxnRequest) *pb.InternalRaftRequest { return &pb.InternalRaftRequest{Txn: request} }
	all := func(options func(*pb.RangeRequest)) *pb.InternalRaftRequest {
		request := &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}
		options(request)
		return get(request)
	}
	many := make([]*pb.RequestOp, 129)
	for i := range many {
		many[i] = opPut(fmt.Sprintf("many/%03d", i), "x")
	}
	return []*pb.InternalRaftRequest{
		get(&pb.RangeRequest{Key: []byte("a")}),
		put("a", "3", 0), put("b", "1", 0), put("c", "2", 0), put("b", "4", 0), put("d", "0", 0), put("c\x00", "z", 0),
		{LeaseGrant: &pb.LeaseGrantRequest{ID: 100, TTL: 60}},
		{LeaseGrant: &pb.LeaseGrantRequest{ID: 100, TTL: 60}},
		{LeaseGrant: &pb.LeaseGrantRequest{ID: -5, TTL: 60}},
		{LeaseGrant: &pb.LeaseGrantRequest{ID: 101, TTL: MaxLeaseTTL + 1}},
		put("leased/1", "x", 100), put("leased/2", "y", 100), put("leased/3", "z", 77),
		{Put: &pb.PutRequest{Key: []byte("leased/2"), IgnoreValue: true, PrevKv: true}},
		{Put: &pb.PutRequest{Key: []byte("nothing"), IgnoreLease: true}},
		{Put: &pb.PutRequest{Key: []byte("a"), Value: []byte("v"), IgnoreValue: true}},
		all(func(r *pb.RangeRequest) {}),
		all(func(r *pb.RangeRequest) { r.Limit = 2 }),
		all(func(r *pb.RangeRequest) { r.SortTarget = pb.RangeRequest_VALUE; r.Limit = 1 }),
		all(func(r *pb.RangeRequest) {
			r.SortTarget = pb.RangeRequest_MOD
			r.SortOrder = pb.RangeRequest_DESCEND
			r.Limit = 3
		}),
		all(func(r *pb.RangeRequest) { r.SortTarget = pb.RangeRequest_VERSION; r.SortOrder = pb.RangeRequest_ASCEND }),
		all(func(r *pb.RangeRequest) { r.KeysOnly = true; r.MinModRevision = 4 }),
		all(func(r *pb.RangeRequest) { r.CountOnly = true; r.MaxCreateRevision = 3 }),
		all(func(r *pb.RangeRequest) { r.Revision = 4; r.Limit = 1 }),
		all(func(r *pb.RangeRequest) { r.Revision = 99 }),
		get(&pb.RangeRequest{Key: []byte("c"), RangeEnd: []byte("a")}),
		get(&pb.RangeRequest{Key: []byte("b"), RangeEnd: []byte{0}, SortOrder: 7}),
		txn(&pb.TxnRequest{
			Compare: []*pb.Compare{compareOn("a", "", pb.Compare_VALUE, pb.Compare_EQUAL, 0, "3"), compareOn("missing", "", pb.Compare_VERSION, pb.Compare_EQUAL, 0, "")},
			Success: []*pb.RequestOp{opGet("a", "c"), opPut("a", "4"), opGet("a", ""), opDelete("zz", ""), opTxn(&pb.TxnRequest{
				Compare: []*pb.Compare{compareOn("a", "", pb.Compare_VALUE, pb.Compare_EQUAL, 0, "3")},
				Success: []*pb.RequestOp{opPut("nested", "yes")},
				Failure: []*pb.RequestOp{opPut("nested", "no")},
			})},
			Failure: []*pb.RequestOp{opPut("f", "1")},
		}),
		txn(&pb.TxnRequest{Compare: []*pb.Compare{compareOn("missing", "", pb.Compare_VALUE, pb.Compare_NOT_EQUAL, 0, "x")}, Failure: []*pb.RequestOp{opGet("a", "")}}),
		txn(&pb.TxnRequest{Compare: []*pb.Compare{compareOn("a", "d", pb.Compare_MOD, pb.Compare_GREATER, 1, "")}, Success: []*pb.RequestOp{opDelete("a", "b")}}),
		txn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("x", "1"), opDelete("c", "\x00")}}),
		txn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("y", "1"), opPut("y", "2")}}),
		txn(&pb.TxnRequest{Success: []*pb.RequestOp{opDelete("p", "r"), opPut("q", "2")}}),
		txn(&pb.TxnRequest{Success: many}),
		txn(&pb.TxnRequest{Success: []*pb.RequestOp{{}}}),
		{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("leased/"), RangeEnd: []byte("leased/3"), PrevKv: true}},
		put("leased/4", "w", 100),
		{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 100}},
		{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 100}},
		{Compaction: &pb.CompactionRequest{Revision: 999}},
		{Compaction: &pb.CompactionRequest{Revision: 5}},
		{Compaction: &pb.CompactionRequest{Revision: 5}},
		all(func(r *pb.RangeRequest) { r.Revision = 4 }),
		all(func(r *pb.RangeRequest) { r.Revision = 5 }),
		txn(&pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), Revision: 3}}}}}),
		all(func(r *pb.RangeRequest) {}),
	}
}

// TestDifferentialAgainstEtcd runs one sequence of requests on a real etcd
// v3.7.3 and on the store and compares every response and error.
func TestDifferentialAgainstEtcd(t *testing.T) {
	connection := startEtcd(t)
	h := newHarness(t, Options{})
	for i, request := range differentialRequests() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		want, wantErr := sendToEtcd(ctx, connection, request)
		cancel()
		var got any
		if request.Range != nil {
			response, err := h.store.Range(request.Range)
			got = resultOf(response, err)
		} else {
			got = h.one(request)
		}
		if wantErr != nil {
			err, _ := got.(error)
			if status.Convert(err).Message() != status.Convert(wantErr).Message() {
				t.Errorf("step %d %v:\n got  %v\n etcd %v", i, request, got, wantErr)
			}
			continue
		}
		message, ok := got.(proto.Message)
		if !ok || !proto.Equal(onlyRevision(message), onlyRevision(want)) {
			t.Errorf("step %d %v:\n got  %v\n etcd %v", i, request, got, onlyRevision(want))
		}
	}
}
