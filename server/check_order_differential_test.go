package server

import (
	"context"
	"fmt"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// TestCheckOrderMatchesEtcd sends requests that fail more than one of the
// checks a write passes before it is proposed (quota, etcd's request
// checks, the request size) to a real etcd v3.7.3 and to a lockstep
// member with the same limits, both already over a 1-byte quota: each must
// answer the error of the same check.
func TestCheckOrderMatchesEtcd(t *testing.T) {
	const maxRequestBytes, maxTxnOps = 64 << 10, 4
	etcdEndpoint := startEtcd(t, "--quota-backend-bytes", "1",
		"--max-request-bytes", fmt.Sprint(maxRequestBytes), "--max-txn-ops", fmt.Sprint(maxTxnOps))
	cluster := startCluster(t, 1, func(config *Config) {
		config.QuotaBackendBytes, config.MaxRequestBytes, config.MaxTxnOps = 1, maxRequestBytes, maxTxnOps
	})
	ctx := testContext(t)
	etcdKV, etcdLease := etcdAPI(t, etcdEndpoint)
	lockstepKV, lockstepLease := etcdAPI(t, cluster.endpoint(0))
	waitForEtcd(ctx, t, etcdKV)
	large := strings.Repeat("x", maxRequestBytes+1)
	manyPuts := []*pb.RequestOp{opPut("a", "1"), opPut("b", "1"), opPut("c", "1"), opPut("d", "1"), opPut("e", "1")}
	named := func(name string, s step) step { s.name = name; return s }
	steps := []step{
		named("put", put("k", "v")),
		named("put, empty key", put("", "v")),
		named("put, too large", put("k", large)),
		txnStep("too many ops", &pb.TxnRequest{Success: manyPuts}),
		txnStep("duplicate key", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1"), opPut("a", "2")}}),
		txnStep("too large", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", large)}}),
		txnStep("read-only, empty compare key", &pb.TxnRequest{Compare: []*pb.Compare{{Key: nil}}, Success: []*pb.RequestOp{opRange("a", "")}}),
		txnStep("delete only", &pb.TxnRequest{Success: []*pb.RequestOp{opDelete("a", "")}}),
		{"delete, empty key", func(ctx context.Context, kv pb.KVClient, _ pb.LeaseClient) (proto.Message, error) {
			return kv.DeleteRange(ctx, &pb.DeleteRangeRequest{})
		}},
		{"lease TTL too large", func(ctx context.Context, _ pb.KVClient, lease pb.LeaseClient) (proto.Message, error) {
			return lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 9_000_000_001})
		}},
	}
	for _, s := range steps {
		_, etcdErr := s.run(ctx, etcdKV, etcdLease)
		_, lockstepErr := s.run(ctx, lockstepKV, lockstepLease)
		if fmt.Sprint(etcdErr) != fmt.Sprint(lockstepErr) {
			t.Errorf("%s: etcd error %v, lockstep error %v", s.name, etcdErr, lockstepErr)
		}
	}
}
