package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"

	"github.com/lockstepdb/lockstep/internal/poll"
	"github.com/lockstepdb/lockstep/internal/syncbuffer"
)

// enableAuthForAlice, as root on client, creates root, and alice with
// role app (read and write under "app/", read "config"), then enables
// auth.
func enableAuthForAlice(t *testing.T, ctx context.Context, client *clientv3.Client) {
	t.Helper()
	steps := []func() error{
		func() error { _, err := client.UserAdd(ctx, "root", "root-password"); return err },
		func() error { _, err := client.RoleAdd(ctx, "root"); return err },
		func() error { _, err := client.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := client.UserAdd(ctx, "alice", "alice-password"); return err },
		func() error { _, err := client.RoleAdd(ctx, "app"); return err },
		func() error {
			_, err := client.RoleGrantPermission(ctx, "app", "app/", clientv3.GetPrefixRangeEnd("app/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error {
			_, err := client.RoleGrantPermission(ctx, "app", "config", "", clientv3.PermissionType(clientv3.PermRead))
			return err
		},
		func() error { _, err := client.UserGrantRole(ctx, "alice", "app"); return err },
		func() error { _, err := client.Put(ctx, "other", "before auth"); return err },
		func() error { _, err := client.AuthEnable(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("set-up step %d: %v", i, err)
		}
	}
}

// expectDenied checks that err is the etcd error want.
func expectDenied(t *testing.T, what string, err, want error) {
	t.Helper()
	if !sameError(err, want) {
		t.Errorf("%s: %v, want %v", what, err, want)
	}
}

// TestAuthEnforced enables auth on a three-member cluster and checks, on a
// follower (which forwards writes to the leader with the client's token),
// every kind of call etcd checks: reads, writes, transactions, watches,
// leases, membership, maintenance and auth administration.
func TestAuthEnforced(t *testing.T) {
	logs := &syncbuffer.Buffer{}
	cluster := startCluster(t, 3, func(config *Config) {
		fastBcrypt(config)
		config.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	follower := cluster.endpoint(cluster.follower())
	anonymous := cluster.client(follower)
	ctx := testContext(t)
	enableAuthForAlice(t, ctx, anonymous)

	// Nobody: every check answers ErrUserEmpty.
	_, err := anonymous.Put(ctx, "app/x", "v")
	expectDenied(t, "anonymous put", err, rpctypes.ErrGRPCUserEmpty)
	_, err = anonymous.Get(ctx, "app/x")
	expectDenied(t, "anonymous get", err, rpctypes.ErrGRPCUserEmpty)
	_, err = anonymous.UserList(ctx)
	expectDenied(t, "anonymous user list", err, rpctypes.ErrGRPCUserEmpty)
	_, err = anonymous.MemberList(ctx)
	expectDenied(t, "anonymous member list", err, rpctypes.ErrGRPCUserEmpty)

	// Wrong passwords, unknown and empty users: ErrAuthFailed, logged
	// with the client's address and never the password.
	_, err = anonymous.Authenticate(ctx, "alice", "not-alices-password")
	expectDenied(t, "wrong password", err, rpctypes.ErrGRPCAuthFailed)
	_, err = anonymous.Authenticate(ctx, "", "x")
	expectDenied(t, "empty user", err, rpctypes.ErrGRPCAuthFailed)
	if _, err := cluster.userClient("alice", "not-alices-password", follower); !sameError(err, rpctypes.ErrGRPCAuthFailed) {
		t.Errorf("client with a wrong password: %v", err)
	}
	logged := logs.String()
	if !strings.Contains(logged, "authentication failed") || !strings.Contains(logged, "remote=127.0.0.1:") {
		t.Errorf("no failed authentication logged with the remote address:\n%s", logged)
	}
	for _, password := range []string{"not-alices-password", "alice-password", "root-password"} {
		if strings.Contains(logged, password) {
			t.Errorf("a password is in the logs: %q", password)
		}
	}

	// Forged tokens: ErrInvalidAuthToken.
	forged := metadata.AppendToOutgoingContext(ctx, tokenMetadataKey, "forged-token")
	_, err = anonymous.Get(forged, "app/x")
	expectDenied(t, "forged token", err, rpctypes.ErrGRPCInvalidAuthToken)

	alice, err := cluster.userClient("alice", "alice-password", follower)
	if err != nil {
		t.Fatal(err)
	}
	root, err := cluster.userClient("root", "root-password", follower)
	if err != nil {
		t.Fatal(err)
	}

	// Keys.
	if _, err := alice.Put(ctx, "app/x", "v"); err != nil {
		t.Errorf("alice put app/x: %v", err)
	}
	_, err = alice.Put(ctx, "other", "v")
	expectDenied(t, "alice put other", err, rpctypes.ErrGRPCPermissionDenied)
	_, err = alice.Put(ctx, "config", "v")
	expectDenied(t, "alice put config (read only)", err, rpctypes.ErrGRPCPermissionDenied)
	if _, err := alice.Get(ctx, "config"); err != nil {
		t.Errorf("alice get config: %v", err)
	}
	if _, err := alice.Get(ctx, "app/", clientv3.WithPrefix(), clientv3.WithSerializable()); err != nil {
		t.Errorf("alice serializable get app/: %v", err)
	}
	_, err = alice.Get(ctx, "", clientv3.WithPrefix())
	expectDenied(t, "alice get everything", err, rpctypes.ErrGRPCPermissionDenied)
	_, err = alice.Get(ctx, "other", clientv3.WithSerializable())
	expectDenied(t, "alice serializable get other", err, rpctypes.ErrGRPCPermissionDenied)
	aliceKV := pb.NewKVClient(alice.ActiveConnection())
	_, err = receiveChunks(ctx, aliceKV, &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
	expectDenied(t, "alice range-streams everything", err, rpctypes.ErrGRPCPermissionDenied)
	if _, err := receiveChunks(ctx, aliceKV, &pb.RangeRequest{Key: []byte("app/"), RangeEnd: []byte("app0")}); err != nil {
		t.Errorf("alice range-streams app/: %v", err)
	}
	_, err = alice.Delete(ctx, "app/", clientv3.WithFromKey())
	expectDenied(t, "alice delete from app/ on", err, rpctypes.ErrGRPCPermissionDenied)
	_, err = alice.Txn(ctx).If(clientv3.Compare(clientv3.Version("other"), "=", 0)).Then(clientv3.OpPut("app/y", "v")).Commit()
	expectDenied(t, "alice txn comparing other", err, rpctypes.ErrGRPCPermissionDenied)
	_, err = alice.Txn(ctx).Then(clientv3.OpTxn(nil, []clientv3.Op{clientv3.OpDelete("other")}, nil)).Commit()
	expectDenied(t, "alice nested txn deleting other", err, rpctypes.ErrGRPCPermissionDenied)
	if response, err := root.Get(ctx, "other"); err != nil || len(response.Kvs) != 1 || string(response.Kvs[0].Value) != "before auth" {
		t.Errorf("other after alice's refused writes: %v %v", response, err)
	}

	// Watches outside alice's reads are canceled at creation.
	watchCtx, cancelWatch := context.WithTimeout(ctx, 10*time.Second)
	defer cancelWatch()
	response, open := <-alice.Watch(watchCtx, "other")
	if !open || !response.Canceled || response.Err() == nil || !strings.HasSuffix(response.Err().Error(), rpctypes.ErrorDesc(rpctypes.ErrGRPCPermissionDenied)) {
		t.Errorf("alice's watch on other: open %v canceled %v error %v", open, response.Canceled, response.Err())
	}
	watch := alice.Watch(clientv3.WithRequireLeader(watchCtx), "app/", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	if response := <-watch; !response.Created || response.Canceled {
		t.Errorf("alice's watch on app/: %+v", response)
	}
	// After a change of the auth store, the same stream creates watches
	// under the new permissions.
	if _, err := rootClient(t, cluster, follower).RoleGrantPermission(ctx, "app", "later", "", clientv3.PermissionType(clientv3.PermRead)); err != nil {
		t.Fatal(err)
	}
	// A watch is checked by the member that serves it, against what it
	// has applied (as etcd's): let every member apply the grant.
	_, granted := cluster.members[cluster.leader()].store.AuthEnabled()
	for i, member := range cluster.members {
		poll.Until(t, fmt.Sprintf("member %d to apply the grant", i), func() bool { _, revision := member.store.AuthEnabled(); return revision >= granted })
	}
	later := alice.Watch(clientv3.WithRequireLeader(watchCtx), "later", clientv3.WithCreatedNotify())
	if response := <-later; !response.Created || response.Canceled {
		t.Errorf("alice's watch on later, granted after her stream opened: canceled %v, error %v", response.Canceled, response.Err())
	}

	// Leases: alice may not revoke a lease with a key she cannot write,
	// nor see its keys.
	lease, err := root.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.Put(ctx, "other", "leased", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	_, err = alice.Revoke(ctx, lease.ID)
	expectDenied(t, "alice revokes root's lease", err, rpctypes.ErrGRPCPermissionDenied)
	_, err = alice.TimeToLive(ctx, lease.ID, clientv3.WithAttachedKeys())
	expectDenied(t, "alice lists the keys of a lease with a key she cannot read", err, rpctypes.ErrGRPCPermissionDenied)
	_, err = anonymous.TimeToLive(ctx, lease.ID, clientv3.WithAttachedKeys())
	expectDenied(t, "nobody lists a lease's keys", err, rpctypes.ErrGRPCUserEmpty)

	// Membership, maintenance and auth administration are root's.
	_, err = alice.MemberAdd(ctx, []string{"http://127.0.0.1:1"})
	expectDenied(t, "alice adds a member", err, rpctypes.ErrGRPCPermissionDenied)
	if _, err := alice.MemberList(ctx); err != nil {
		t.Errorf("alice lists members: %v", err)
	}
	_, err = alice.Compact(ctx, 1)
	expectDenied(t, "alice compacts", err, rpctypes.ErrGRPCPermissionDenied)
	_, err = alice.Defragment(ctx, follower)
	expectDenied(t, "alice defragments", err, rpctypes.ErrGRPCPermissionDenied)
	_, err = alice.HashKV(ctx, follower, 0)
	expectDenied(t, "alice hashes", err, rpctypes.ErrGRPCPermissionDenied)
	_, err = alice.AlarmDisarm(ctx, &clientv3.AlarmMember{Alarm: pb.AlarmType_NOSPACE})
	expectDenied(t, "alice disarms", err, rpctypes.ErrGRPCPermissionDenied)
	_, err = alice.MoveLeader(ctx, 1)
	expectDenied(t, "alice moves the leader", err, rpctypes.ErrGRPCPermissionDenied)
	snapshot, err := alice.Snapshot(ctx)
	if err == nil {
		_, err = io.Copy(io.Discard, snapshot)
		snapshot.Close()
	}
	expectDenied(t, "alice takes a snapshot", err, rpctypes.ErrGRPCPermissionDenied)
	_, err = alice.UserAdd(ctx, "eve", "x")
	expectDenied(t, "alice adds a user", err, rpctypes.ErrGRPCPermissionDenied)
	if _, err := alice.UserGet(ctx, "alice"); err != nil {
		t.Errorf("alice reads herself: %v", err)
	}
	if _, err := root.HashKV(ctx, follower, 0); err != nil {
		t.Errorf("root hashes: %v", err)
	}
	if _, err := root.Revoke(ctx, lease.ID); err != nil {
		t.Errorf("root revokes: %v", err)
	}

	// A change of permissions applies at once to the tokens already
	// issued, as with etcd's simple tokens.
	token, err := anonymous.Authenticate(ctx, "alice", "alice-password")
	if err != nil {
		t.Fatal(err)
	}
	kvClient := pb.NewKVClient(anonymous.ActiveConnection())
	withToken := metadata.AppendToOutgoingContext(ctx, tokenMetadataKey, token.Token)
	if _, err := kvClient.Put(withToken, &pb.PutRequest{Key: []byte("app/z"), Value: []byte("v")}); err != nil {
		t.Errorf("alice's token: %v", err)
	}
	if _, err := root.RoleRevokePermission(ctx, "app", "app/", clientv3.GetPrefixRangeEnd("app/")); err != nil {
		t.Fatal(err)
	}
	_, err = kvClient.Put(withToken, &pb.PutRequest{Key: []byte("app/z"), Value: []byte("v")})
	expectDenied(t, "alice's token after the revoke", err, rpctypes.ErrGRPCPermissionDenied)

	// Root disables auth: anybody may write again.
	if _, err := root.AuthDisable(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := anonymous.Put(ctx, "other", "after auth"); err != nil {
		t.Errorf("anonymous put after disable: %v", err)
	}
}

// TestAuthTokenExpires checks that a token is refused once its TTL has
// passed without use (here at once).
func TestAuthTokenExpires(t *testing.T) {
	cluster := startCluster(t, 1, func(config *Config) {
		fastBcrypt(config)
		config.AuthTokenTTL = time.Nanosecond
	})
	client := cluster.client()
	ctx := testContext(t)
	enableAuthForAlice(t, ctx, client)
	token, err := client.Authenticate(ctx, "alice", "alice-password")
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.Get(metadata.AppendToOutgoingContext(ctx, tokenMetadataKey, token.Token), "app/x")
	expectDenied(t, "expired token", err, rpctypes.ErrGRPCInvalidAuthToken)
}

// rootClient returns a client authenticated as root, with enableAuthForAlice's password.
func rootClient(t *testing.T, cluster *testCluster, endpoint string) *clientv3.Client {
	t.Helper()
	root, err := cluster.userClient("root", "root-password", endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return root
}
