package server

import (
	"context"
	"fmt"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/lockstepdb/lockstep/internal/testkeys"
	"github.com/lockstepdb/lockstep/kv"
)

// withToken returns ctx sending token, as clientv3 sends its own.
func withToken(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, tokenMetadataKey, token)
}

// rawKV returns a KV client of endpoint without clientv3's interceptors:
// they retry a call refused for its token for seconds (to authenticate
// again, which a client without a password cannot), where the test
// wants the member's answer.
func rawKV(t *testing.T, endpoint string) pb.KVClient {
	t.Helper()
	connection, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { connection.Close() })
	return pb.NewKVClient(connection)
}

// putRequest and getRequest are alice's writes and reads.
func putRequest(key string) *pb.PutRequest {
	return &pb.PutRequest{Key: []byte(key), Value: []byte("v")}
}
func getRequest(key string) *pb.RangeRequest { return &pb.RangeRequest{Key: []byte(key)} }

// TestAuthJWTAcrossMembers runs etcd's JWT tokens on a three-member
// cluster: m1 and m2 hold the key pair, m3 only the public key. A token
// one member issues is accepted by every other, with no state shared; m3
// verifies but issues none; a token signed with another key is refused;
// and any change of the auth store makes a token old
// (ErrAuthOldRevision), which clientv3 answers by authenticating again.
func TestAuthJWTAcrossMembers(t *testing.T) {
	dir := t.TempDir()
	keys := testkeys.Write(t, dir, testkeys.P256)
	foreign := testkeys.Write(t, dir, testkeys.P256)
	cluster := startCluster(t, 3, func(config *Config) {
		fastBcrypt(config)
		config.AuthToken = "jwt,sign-method=ES256,pub-key=" + keys.Public + ",priv-key=" + keys.Private
		if config.Name == "m3" {
			config.AuthToken = "jwt,sign-method=ES256,pub-key=" + keys.Public
		}
	})
	ctx := testContext(t)
	clients := make([]*clientv3.Client, 3)
	raws := make([]pb.KVClient, 3)
	for i := range clients {
		clients[i] = cluster.client(cluster.endpoint(i))
		raws[i] = rawKV(t, cluster.endpoint(i))
	}
	enableAuthForAlice(t, ctx, clients[0])

	response, err := clients[0].Authenticate(ctx, "alice", "alice-password")
	if err != nil {
		t.Fatal(err)
	}
	token := response.Token
	if strings.Count(token, ".") != 2 {
		t.Fatalf("token %q is not a JWT", token)
	}
	for i, raw := range raws {
		if _, err := raw.Put(withToken(ctx, token), putRequest("app/x")); err != nil {
			t.Errorf("m%d: put with m1's token: %v", i+1, err)
		}
		if _, err := raw.Range(withToken(ctx, token), getRequest("app/x")); err != nil {
			t.Errorf("m%d: get with m1's token: %v", i+1, err)
		}
		_, err := raw.Put(withToken(ctx, token), putRequest("other"))
		expectDenied(t, fmt.Sprintf("m%d: put outside alice's keys", i+1), err, rpctypes.ErrGRPCPermissionDenied)
	}

	// m3 has no private key: it verifies, it does not issue.
	if _, err := clients[2].Authenticate(ctx, "alice", "alice-password"); err == nil || !strings.Contains(err.Error(), kv.ErrJWTVerifyOnly.Error()) {
		t.Errorf("authenticate on the verify-only member: %v, want %v", err, kv.ErrJWTVerifyOnly)
	}
	// A wrong password is refused as with simple tokens.
	_, err = clients[1].Authenticate(ctx, "alice", "wrong")
	expectDenied(t, "wrong password", err, rpctypes.ErrGRPCAuthFailed)

	// A token signed with another key, for root, is forged.
	forger, err := kv.ParseAuthToken("jwt,sign-method=ES256,pub-key=" + foreign.Public + ",priv-key=" + foreign.Private)
	if err != nil {
		t.Fatal(err)
	}
	_, revision := cluster.members[0].store.AuthEnabled()
	forged, err := forger.Issue("root", revision)
	if err != nil {
		t.Fatal(err)
	}
	for i, raw := range raws {
		_, err := raw.Range(withToken(ctx, forged), getRequest("other"))
		expectDenied(t, fmt.Sprintf("m%d: forged token", i+1), err, rpctypes.ErrGRPCInvalidAuthToken)
	}

	// clientv3 with a password gets its token from m2 and uses it.
	alice, err := cluster.userClient("alice", "alice-password", cluster.endpoint(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Put(ctx, "app/y", "v"); err != nil {
		t.Fatalf("alice's client: %v", err)
	}

	// A change of the auth store, here for another user: alice's token
	// is old on every member, for writes, reads and new watches, as in
	// etcd; her client authenticates again and goes on.
	if _, err := clients[0].UserAdd(withToken(ctx, mustAuthenticate(t, ctx, clients[0], "root", "root-password")), "bob", "bob-password"); err != nil {
		t.Fatal(err)
	}
	for i, raw := range raws {
		_, err := raw.Put(withToken(ctx, token), putRequest("app/x"))
		expectDenied(t, fmt.Sprintf("m%d: put with an old token", i+1), err, rpctypes.ErrGRPCAuthOldRevision)
		_, err = raw.Range(withToken(ctx, token), getRequest("app/x"))
		expectDenied(t, fmt.Sprintf("m%d: get with an old token", i+1), err, rpctypes.ErrGRPCAuthOldRevision)
	}
	watch := clients[1].Watch(withToken(ctx, token), "app/x")
	if answer := <-watch; !answer.Canceled || !strings.Contains(answer.Err().Error(), rpctypes.ErrGRPCAuthOldRevision.Error()) {
		t.Errorf("watch with an old token: canceled %v, %v", answer.Canceled, answer.Err())
	}
	if _, err := alice.Put(ctx, "app/y", "again"); err != nil {
		t.Errorf("alice's client after the change: %v", err)
	}
	fresh := mustAuthenticate(t, ctx, clients[1], "alice", "alice-password")
	if _, err := raws[2].Put(withToken(ctx, fresh), putRequest("app/x")); err != nil {
		t.Errorf("a token issued after the change: %v", err)
	}
}

// mustAuthenticate returns a token of user from client's member.
func mustAuthenticate(t *testing.T, ctx context.Context, client *clientv3.Client, user, password string) string {
	t.Helper()
	response, err := client.Authenticate(ctx, user, password)
	if err != nil {
		t.Fatalf("authenticate %s: %v", user, err)
	}
	return response.Token
}

// TestAuthJWTBadSpecRefusedAtStart: a member with a bad --auth-token does
// not start, and says why.
func TestAuthJWTBadSpecRefusedAtStart(t *testing.T) {
	keys := testkeys.Write(t, t.TempDir(), testkeys.Ed25519)
	config := Config{
		Name: "m1", DataDirectory: t.TempDir(),
		ListenClientURLs: []string{"http://127.0.0.1:0"}, ListenPeerURLs: []string{"http://127.0.0.1:1"},
		InitialCluster: map[string][]string{"m1": {"http://127.0.0.1:1"}},
		AuthToken:      "jwt,sign-method=ES256,pub-key=" + keys.Public,
	}
	err := config.Validate()
	if err == nil || !strings.Contains(err.Error(), "--auth-token: pub-key "+keys.Public+": sign-method ES256 needs an ECDSA P-256 key, the file holds an Ed25519 key") {
		t.Errorf("validate: %v", err)
	}
	if member, err := Start(config); err == nil {
		member.Stop(context.Background())
		t.Errorf("a member started with a bad --auth-token")
	}
}
