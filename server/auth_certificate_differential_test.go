package server

import (
	"context"
	"crypto/tls"
	"testing"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/lockstepdb/lockstep/internal/testpki"
)

// TestCertificateAuthDifferentialAgainstEtcd runs one sequence of calls
// by clients whose user is their certificate's Common Name (no password,
// no token) against a real etcd v3.7.3 with --client-cert-auth and a
// lockstep cluster with --client-cert-auth and peer mutual TLS, through a
// follower (which forwards writes to the leader as a member), and
// compares every answer and error: root sets auth up; alice, an unknown
// user, a certificate without a name and root then read, write, watch,
// administer; a token wins over the certificate (an invalid or empty one
// is refused); a call marked as from etcd's gateway is nobody; a
// permission change applies at once (a certificate's identity is never
// old).
func TestCertificateAuthDifferentialAgainstEtcd(t *testing.T) {
	dir := t.TempDir()
	authorities := certificateAuthorities{clients: testpki.NewAuthority(t, "client CA"), peers: testpki.NewAuthority(t, "peer CA")}
	certificateFile, keyFile := testpki.WriteCertificate(t, dir, "etcd", authorities.clients.Issue(t, "etcd"))
	etcdEndpoint := startEtcdServing(t, "https", "--cert-file", certificateFile, "--key-file", keyFile,
		"--trusted-ca-file", authorities.clients.WriteCA(t, dir, "ca.crt"), "--client-cert-auth", "--bcrypt-cost", "4")
	cluster, _ := startCertificateCluster(t, 3, authorities, nil)
	lockstepEndpoint := cluster.endpoint(cluster.follower())
	ctx := testContext(t)
	users := []string{"root", "alice", "bob", ""}
	etcd, lockstep := map[string]*authAPI{}, map[string]*authAPI{}
	for _, user := range users {
		etcd[user] = certificateAPI(t, authorities.clients, etcdEndpoint, user)
		lockstep[user] = certificateAPI(t, authorities.clients, lockstepEndpoint, user)
	}
	waitForEtcd(ctx, t, etcd["root"].kv)
	for _, s := range certificateDifferentialSteps(users) {
		compareAuthStep(t, s, ctx, etcd[s.user], ctx, lockstep[s.user])
	}
}

// certificateAPI returns the clients of endpoint over one connection
// presenting a certificate of authority with the Common Name user.
func certificateAPI(t *testing.T, authority *testpki.Authority, endpoint, user string) *authAPI {
	t.Helper()
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{authority.Issue(t, user)}, RootCAs: authority.Pool, MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &authAPI{kv: pb.NewKVClient(conn), lease: pb.NewLeaseClient(conn), watch: pb.NewWatchClient(conn),
		maint: pb.NewMaintenanceClient(conn), cluster: pb.NewClusterClient(conn), auth: pb.NewAuthClient(conn), tokens: map[string]string{}}
}

// certificateDifferentialSteps is the sequence of
// TestCertificateAuthDifferentialAgainstEtcd; a step's user is the
// Common Name of the certificate it is made with.
func certificateDifferentialSteps(users []string) []authStep {
	call := func(name, user string, run func(ctx context.Context, api *authAPI) (proto.Message, error)) authStep {
		return authStep{name, user, run}
	}
	putWith := func(name, user, key string, metadataPairs ...string) authStep {
		return call(name, user, func(ctx context.Context, api *authAPI) (proto.Message, error) {
			return api.kv.Put(metadata.AppendToOutgoingContext(ctx, metadataPairs...), &pb.PutRequest{Key: []byte(key), Value: []byte("v")})
		})
	}
	steps := []authStep{
		call("root adds root", "root", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			return api.auth.UserAdd(ctx, &pb.AuthUserAddRequest{Name: "root", Password: "root-password"})
		}),
		call("root grants root root", "root", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			return api.auth.UserGrantRole(ctx, &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"})
		}),
		call("root adds alice without a password", "root", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			return api.auth.UserAdd(ctx, &pb.AuthUserAddRequest{Name: "alice", Options: &authpb.UserAddOptions{NoPassword: true}})
		}),
		call("root adds app", "root", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			return api.auth.RoleAdd(ctx, &pb.AuthRoleAddRequest{Name: "app"})
		}),
		call("root grants app app/", "root", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			return api.auth.RoleGrantPermission(ctx, &pb.AuthRoleGrantPermissionRequest{Name: "app",
				Perm: &authpb.Permission{PermType: authpb.READWRITE, Key: []byte("app/"), RangeEnd: []byte("app0")}})
		}),
		call("root grants app to alice", "root", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			return api.auth.UserGrantRole(ctx, &pb.AuthUserGrantRoleRequest{User: "alice", Role: "app"})
		}),
		authPut("root", "other"),
		call("root enables auth", "root", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			return api.auth.AuthEnable(ctx, &pb.AuthEnableRequest{})
		}),
	}
	for _, user := range users {
		steps = append(steps,
			authPut(user, "app/x"), authPut(user, "other"), authRange(user, "app/x", ""), authRange(user, "other", ""),
			authRange(user, "app/", "app0"), authWatch(user, "app/", "app0"), authWatch(user, "other", ""),
			call(user+" deletes app/x", user, func(ctx context.Context, api *authAPI) (proto.Message, error) {
				return api.kv.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: []byte("app/x")})
			}),
			call(user+" puts app/y in a txn", user, func(ctx context.Context, api *authAPI) (proto.Message, error) {
				return api.kv.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{opPut("app/y", "v")}})
			}),
			call(user+" lists users", user, func(ctx context.Context, api *authAPI) (proto.Message, error) {
				return api.auth.UserList(ctx, &pb.AuthUserListRequest{})
			}),
			call(user+" gets itself", user, func(ctx context.Context, api *authAPI) (proto.Message, error) {
				return api.auth.UserGet(ctx, &pb.AuthUserGetRequest{Name: user})
			}),
			call(user+" gets role app", user, func(ctx context.Context, api *authAPI) (proto.Message, error) {
				return api.auth.RoleGet(ctx, &pb.AuthRoleGetRequest{Role: "app"})
			}),
			call(user+" asks auth status", user, func(ctx context.Context, api *authAPI) (proto.Message, error) {
				return api.auth.AuthStatus(ctx, &pb.AuthStatusRequest{})
			}),
			putWith(user+" puts app/x marked as etcd's gateway", user, "app/x", gatewayMetadataKey, "application/json"),
			putWith(user+" puts app/x with a forged token", user, "app/x", tokenMetadataKey, "forged"),
			putWith(user+" puts app/x with an empty token", user, "app/x", tokenMetadataKey, ""),
		)
		steps = append(steps, administrationSteps(user)...)
	}
	return append(steps,
		call("alice authenticates as root", "alice", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			response, err := api.auth.Authenticate(ctx, &pb.AuthenticateRequest{Name: "root", Password: "root-password"})
			if err == nil {
				api.tokens["root"] = response.Token
			}
			return response, err
		}),
		call("alice puts other with root's token", "alice", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			return api.kv.Put(metadata.AppendToOutgoingContext(ctx, tokenMetadataKey, api.tokens["root"]), &pb.PutRequest{Key: []byte("other"), Value: []byte("root's")})
		}),
		call("root revokes app/ from app", "root", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			return api.auth.RoleRevokePermission(ctx, &pb.AuthRoleRevokePermissionRequest{Role: "app", Key: []byte("app/"), RangeEnd: []byte("app0")})
		}),
		authPut("alice", "app/x"),
		authRange("alice", "app/x", ""),
		call("root grants app app/ again", "root", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			return api.auth.RoleGrantPermission(ctx, &pb.AuthRoleGrantPermissionRequest{Name: "app",
				Perm: &authpb.Permission{PermType: authpb.READWRITE, Key: []byte("app/"), RangeEnd: []byte("app0")}})
		}),
		authPut("alice", "app/x"),
		authRange("alice", "app/x", ""),
	)
}
