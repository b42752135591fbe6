package server

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/lockstepdb/lockstep/internal/etcdbin"
)

// startEtcd runs a single-member etcd v3.7.3 on free loopback ports, with
// flags added to its command line, and returns its client endpoint.
func startEtcd(t *testing.T, flags ...string) string {
	t.Helper()
	return startEtcdServing(t, "http", flags...)
}

// startEtcdServing is startEtcd with clients served over scheme: "https"
// needs flags naming the certificate files (--cert-file, --key-file).
func startEtcdServing(t *testing.T, scheme string, flags ...string) string {
	t.Helper()
	path, err := etcdbin.Path("etcd")
	if err != nil {
		t.Fatal(err)
	}
	client := fmt.Sprintf("%s://127.0.0.1:%d", scheme, freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	dir := t.TempDir()
	command := exec.Command(path, "--name", "etcd1", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "etcd1="+peer, "--log-level", "error")
	command.Args = append(command.Args, flags...)
	logFile, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		t.Fatal(err)
	}
	command.Stdout, command.Stderr = logFile, logFile
	if err := command.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		command.Process.Kill()
		command.Wait()
		logFile.Close()
	})
	return strings.TrimPrefix(client, scheme+"://")
}

// etcdAPI connects to endpoint with etcd's client and returns its KV and
// Lease clients, closed when the test ends.
func etcdAPI(t *testing.T, endpoint string) (pb.KVClient, pb.LeaseClient) {
	t.Helper()
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return pb.NewKVClient(client.ActiveConnection()), pb.NewLeaseClient(client.ActiveConnection())
}

// waitForEtcd waits until the etcd behind kv answers a read (it may still
// be starting), for a minute at most.
func waitForEtcd(ctx context.Context, t *testing.T, kv pb.KVClient) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("probe")}); err == nil {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("etcd did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling a starting process, bounded
	}
}

// step is one operation of the differential sequence, run the same way on
// both systems; it returns the response (or nil) and the error.
type step struct {
	name string
	run  func(ctx context.Context, kv pb.KVClient, lease pb.LeaseClient) (proto.Message, error)
}

func put(key, value string, options ...func(*pb.PutRequest)) step {
	request := &pb.PutRequest{Key: []byte(key), Value: []byte(value)}
	for _, option := range options {
		option(request)
	}
	return step{"put " + key, func(ctx context.Context, kv pb.KVClient, _ pb.LeaseClient) (proto.Message, error) {
		return kv.Put(ctx, request)
	}}
}

func rangeStep(name string, request *pb.RangeRequest) step {
	return step{"range " + name, func(ctx context.Context, kv pb.KVClient, _ pb.LeaseClient) (proto.Message, error) {
		return kv.Range(ctx, request)
	}}
}

func txnStep(name string, request *pb.TxnRequest) step {
	return step{"txn " + name, func(ctx context.Context, kv pb.KVClient, _ pb.LeaseClient) (proto.Message, error) {
		return kv.Txn(ctx, request)
	}}
}

func opPut(key, value string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(key), Value: []byte(value), PrevKv: true}}}
}

func opRange(key, end string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte(key), RangeEnd: []byte(end)}}}
}

func opDelete(key, end string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte(key), RangeEnd: []byte(end), PrevKv: true}}}
}

func compare(key string, target pb.Compare_CompareTarget, result pb.Compare_CompareResult, value any) *pb.Compare {
	c := &pb.Compare{Key: []byte(key), Target: target, Result: result}
	switch target {
	case pb.Compare_VALUE:
		c.TargetUnion = &pb.Compare_Value{Value: []byte(value.(string))}
	case pb.Compare_VERSION:
		c.TargetUnion = &pb.Compare_Version{Version: int64(value.(int))}
	case pb.Compare_CREATE:
		c.TargetUnion = &pb.Compare_CreateRevision{CreateRevision: int64(value.(int))}
	case pb.Compare_MOD:
		c.TargetUnion = &pb.Compare_ModRevision{ModRevision: int64(value.(int))}
	case pb.Compare_LEASE:
		c.TargetUnion = &pb.Compare_Lease{Lease: int64(value.(int))}
	}
	return c
}

func differentialSteps() []step {
	withPrev := func(r *pb.PutRequest) { r.PrevKv = true }
	withLease := func(id int64) func(*pb.PutRequest) { return func(r *pb.PutRequest) { r.Lease = id } }
	manyOps := make([]*pb.RequestOp, 129)
	for i := range manyOps {
		manyOps[i] = opPut(fmt.Sprintf("many/%03d", i), "x")
	}
	steps := []step{
		rangeStep("empty store", &pb.RangeRequest{Key: []byte("a")}),
		put("a", "1"), put("b", "2"), put("c", "3"), put("a", "4", withPrev), put("d/1", "5"), put("d/2", "6"),
		put("b", "", func(r *pb.PutRequest) { r.IgnoreValue = true; r.PrevKv = true }),
		put("missing", "", func(r *pb.PutRequest) { r.IgnoreValue = true }),
		rangeStep("one key", &pb.RangeRequest{Key: []byte("a")}),
		rangeStep("all keys", &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}),
		rangeStep("prefix", &pb.RangeRequest{Key: []byte("d/"), RangeEnd: []byte("d0")}),
		rangeStep("limit", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), Limit: 2}),
		rangeStep("count only", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), CountOnly: true}),
		rangeStep("keys only", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), KeysOnly: true}),
		rangeStep("sort by mod desc", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), SortOrder: pb.RangeRequest_DESCEND, SortTarget: pb.RangeRequest_MOD}),
		rangeStep("sort none by value", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), SortTarget: pb.RangeRequest_VALUE, Limit: 3}),
		rangeStep("sort by create limit 1", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), SortOrder: pb.RangeRequest_ASCEND, SortTarget: pb.RangeRequest_CREATE, Limit: 1}),
		rangeStep("min mod revision", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), MinModRevision: 5}),
		rangeStep("max create revision", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), MaxCreateRevision: 3}),
		rangeStep("at revision 3", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), Revision: 3}),
		rangeStep("future revision", &pb.RangeRequest{Key: []byte("a"), Revision: 1000}),
		{"delete nothing", func(ctx context.Context, kv pb.KVClient, _ pb.LeaseClient) (proto.Message, error) {
			return kv.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: []byte("nothing")})
		}},
		{"delete prefix", func(ctx context.Context, kv pb.KVClient, _ pb.LeaseClient) (proto.Message, error) {
			return kv.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: []byte("d/"), RangeEnd: []byte("d0"), PrevKv: true})
		}},
		txnStep("value equal", &pb.TxnRequest{Compare: []*pb.Compare{compare("a", pb.Compare_VALUE, pb.Compare_EQUAL, "4")},
			Success: []*pb.RequestOp{opPut("a", "5"), opRange("a", "")}, Failure: []*pb.RequestOp{opRange("b", "")}}),
		txnStep("missing key value", &pb.TxnRequest{Compare: []*pb.Compare{compare("zz", pb.Compare_VALUE, pb.Compare_NOT_EQUAL, "x")},
			Success: []*pb.RequestOp{opPut("s", "1")}, Failure: []*pb.RequestOp{opPut("f", "1")}}),
		txnStep("missing key create = 0", &pb.TxnRequest{Compare: []*pb.Compare{compare("zz", pb.Compare_CREATE, pb.Compare_EQUAL, 0)},
			Success: []*pb.RequestOp{opPut("zz", "created")}}),
		txnStep("version greater", &pb.TxnRequest{Compare: []*pb.Compare{compare("a", pb.Compare_VERSION, pb.Compare_GREATER, 2)},
			Success: []*pb.RequestOp{opDelete("b", ""), opRange("a", "z")}}),
		txnStep("mod less", &pb.TxnRequest{Compare: []*pb.Compare{compare("c", pb.Compare_MOD, pb.Compare_LESS, 3)},
			Success: []*pb.RequestOp{opPut("x", "1")}, Failure: []*pb.RequestOp{opPut("y", "1")}}),
		txnStep("range compare", &pb.TxnRequest{Compare: []*pb.Compare{{Key: []byte("a"), RangeEnd: []byte("z"), Target: pb.Compare_VERSION, Result: pb.Compare_GREATER, TargetUnion: &pb.Compare_Version{Version: 0}}},
			Success: []*pb.RequestOp{opRange("a", "z")}}),
		txnStep("nested", &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{
			Compare: []*pb.Compare{compare("x", pb.Compare_VERSION, pb.Compare_EQUAL, 0)},
			Success: []*pb.RequestOp{opPut("nested", "yes")}, Failure: []*pb.RequestOp{opPut("nested", "no")}}}}, opRange("nested", "")}}),
		txnStep("read only", &pb.TxnRequest{Success: []*pb.RequestOp{opRange("a", "z")}}),
		txnStep("duplicate key", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("dup", "1"), opPut("dup", "2")}}),
		txnStep("delete then put overlapping", &pb.TxnRequest{Success: []*pb.RequestOp{opDelete("a", "c"), opPut("a", "1")}}),
		txnStep("too many ops", &pb.TxnRequest{Success: manyOps}),
		{"grant lease", func(ctx context.Context, _ pb.KVClient, lease pb.LeaseClient) (proto.Message, error) {
			return lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: 4242, TTL: 600})
		}},
		{"grant the same lease", func(ctx context.Context, _ pb.KVClient, lease pb.LeaseClient) (proto.Message, error) {
			return lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: 4242, TTL: 600})
		}},
		put("leased/1", "v", withLease(4242)), put("leased/2", "v", withLease(4242)),
		put("leased/1", "", func(r *pb.PutRequest) { r.IgnoreValue = true; r.IgnoreLease = true }),
		put("unleased", "v", withLease(777)),
		txnStep("lease compare", &pb.TxnRequest{Compare: []*pb.Compare{compare("leased/1", pb.Compare_LEASE, pb.Compare_EQUAL, 4242)},
			Success: []*pb.RequestOp{opRange("leased/", "leased0")}}),
		{"revoke lease", func(ctx context.Context, _ pb.KVClient, lease pb.LeaseClient) (proto.Message, error) {
			return lease.LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: 4242})
		}},
		rangeStep("after revoke", &pb.RangeRequest{Key: []byte("leased/"), RangeEnd: []byte("leased0")}),
		{"revoke again", func(ctx context.Context, _ pb.KVClient, lease pb.LeaseClient) (proto.Message, error) {
			return lease.LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: 4242})
		}},
		{"compact", func(ctx context.Context, kv pb.KVClient, _ pb.LeaseClient) (proto.Message, error) {
			return kv.Compact(ctx, &pb.CompactionRequest{Revision: 6})
		}},
		{"compact again", func(ctx context.Context, kv pb.KVClient, _ pb.LeaseClient) (proto.Message, error) {
			return kv.Compact(ctx, &pb.CompactionRequest{Revision: 5})
		}},
		rangeStep("below compaction", &pb.RangeRequest{Key: []byte("a"), Revision: 5}),
		rangeStep("at compaction", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), Revision: 6}),
		rangeStep("final", &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}),
	}
	return append(steps, rangeStreamSteps()...)
}

// normalized renders a response with the fields that must differ between
// two clusters (IDs, term) cleared.
func normalized(message proto.Message) string {
	if message == nil {
		return "<nil>"
	}
	message = proto.Clone(message)
	if withHeader, ok := message.(interface{ GetHeader() *pb.ResponseHeader }); ok {
		if header := withHeader.GetHeader(); header != nil {
			header.ClusterId, header.MemberId, header.RaftTerm = 0, 0, 0
		}
	}
	clearNestedHeaders(message)
	return protojson.Format(message)
}

func clearNestedHeaders(message proto.Message) {
	txn, ok := message.(*pb.TxnResponse)
	if !ok {
		return
	}
	for _, response := range txn.Responses {
		var header *pb.ResponseHeader
		switch nested := response.Response.(type) {
		case *pb.ResponseOp_ResponseRange:
			header = nested.ResponseRange.GetHeader()
		case *pb.ResponseOp_ResponsePut:
			header = nested.ResponsePut.GetHeader()
		case *pb.ResponseOp_ResponseDeleteRange:
			header = nested.ResponseDeleteRange.GetHeader()
		case *pb.ResponseOp_ResponseTxn:
			header = nested.ResponseTxn.GetHeader()
			clearNestedHeaders(nested.ResponseTxn)
		}
		if header != nil {
			header.ClusterId, header.MemberId, header.RaftTerm = 0, 0, 0
		}
	}
}

// TestDifferentialAgainstEtcd runs the same operations against a real etcd
// v3.7.3 and a lockstep cluster and compares the responses field by field
// (revisions, versions, counts, errors), IDs and terms excepted.
func TestDifferentialAgainstEtcd(t *testing.T) {
	etcdEndpoint := startEtcd(t)
	cluster := startCluster(t, 3, nil)
	cluster.leader()
	ctx := testContext(t)
	etcdKV, etcdLease := etcdAPI(t, etcdEndpoint)
	// lockstep is driven through a follower, to include forwarding.
	lockstepKV, lockstepLease := etcdAPI(t, cluster.endpoint(cluster.follower()))
	waitForEtcd(ctx, t, etcdKV)
	for _, s := range differentialSteps() {
		etcdResponse, etcdErr := s.run(ctx, etcdKV, etcdLease)
		lockstepResponse, lockstepErr := s.run(ctx, lockstepKV, lockstepLease)
		if fmt.Sprint(etcdErr) != fmt.Sprint(lockstepErr) {
			t.Errorf("%s: etcd error %v, lockstep error %v", s.name, etcdErr, lockstepErr)
			continue
		}
		if etcdErr != nil {
			continue
		}
		if want, got := normalized(etcdResponse), normalized(lockstepResponse); want != got {
			t.Errorf("%s:\netcd:     %s\nlockstep: %s", s.name, want, got)
		}
	}
}
