package server

import (
	"errors"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestBadInputGetsEtcdsErrors sends requests etcd refuses and checks each
// gets etcd's own error, and that the member keeps serving.
func TestBadInputGetsEtcdsErrors(t *testing.T) {
	cluster := startCluster(t, 1, func(config *Config) { config.MaxRequestBytes = 64 << 10; config.MaxTxnOps = 4 })
	ctx := testContext(t)
	client := cluster.client()
	kv := pb.NewKVClient(client.ActiveConnection())
	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"empty key", func() error { _, err := client.Put(ctx, "", "v"); return err }, rpctypes.ErrEmptyKey},
		{"oversized request", func() error { _, err := client.Put(ctx, "k", strings.Repeat("x", 100<<10)); return err }, rpctypes.ErrRequestTooLarge},
		{"too many txn ops", func() error {
			ops := []clientv3.Op{clientv3.OpPut("a", "1"), clientv3.OpPut("b", "1"), clientv3.OpPut("c", "1"), clientv3.OpPut("d", "1"), clientv3.OpPut("e", "1")}
			_, err := client.Txn(ctx).Then(ops...).Commit()
			return err
		}, rpctypes.ErrTooManyOps},
		{"duplicate key in txn", func() error {
			_, err := client.Txn(ctx).Then(clientv3.OpPut("a", "1"), clientv3.OpPut("a", "2")).Commit()
			return err
		}, rpctypes.ErrDuplicateKey},
		{"unknown lease", func() error { _, err := client.Put(ctx, "k", "v", clientv3.WithLease(12345)); return err }, rpctypes.ErrLeaseNotFound},
		{"revoke unknown lease", func() error { _, err := client.Revoke(ctx, 12345); return err }, rpctypes.ErrLeaseNotFound},
		{"unknown member", func() error { _, err := client.MemberRemove(ctx, 0xdead); return err }, rpctypes.ErrMemberNotFound},
		{"promote a voter", func() error { _, err := client.MemberPromote(ctx, cluster.members[0].ID()); return err }, rpctypes.ErrMemberNotLearner},
		{"bad peer URL", func() error {
			_, err := pb.NewClusterClient(client.ActiveConnection()).MemberAdd(ctx, &pb.MemberAddRequest{PeerURLs: []string{"ftp://x"}})
			return rpctypes.Error(err)
		}, rpctypes.ErrMemberBadURLs},
		{"invalid sort order", func() error {
			_, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("a"), SortOrder: 7})
			return rpctypes.Error(err)
		}, rpctypes.ErrInvalidSortOption},
		{"ignore value with a value", func() error {
			_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("a"), Value: []byte("v"), IgnoreValue: true})
			return rpctypes.Error(err)
		}, rpctypes.ErrValueProvided},
		{"compact the future", func() error { _, err := client.Compact(ctx, 1000); return err }, rpctypes.ErrFutureRev},
		{"lease TTL too large", func() error { _, err := client.Grant(ctx, 9_000_000_001); return err }, rpctypes.ErrLeaseTTLTooLarge},
	}
	for _, c := range cases {
		if err := c.call(); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := client.Put(ctx, "still", "serving"); err != nil {
		t.Fatalf("member stopped serving after bad input: %v", err)
	}
}
