package server

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/lockstepdb/lockstep/internal/testkeys"
)

// authAPI is one system's clients, and the tokens its users got.
type authAPI struct {
	kv      pb.KVClient
	lease   pb.LeaseClient
	watch   pb.WatchClient
	maint   pb.MaintenanceClient
	cluster pb.ClusterClient
	auth    pb.AuthClient
	tokens  map[string]string
}

// as returns ctx carrying the token user got (none for "").
func (a *authAPI) as(ctx context.Context, user string) context.Context {
	if user == "" {
		return ctx
	}
	token, ok := a.tokens[user]
	if !ok {
		token = user // a user without a token sends its name: a forged one
	}
	return metadata.AppendToOutgoingContext(ctx, tokenMetadataKey, token)
}

// authStep is one call of the auth differential sequence, made by user.
type authStep struct {
	name string
	user string
	run  func(ctx context.Context, api *authAPI) (proto.Message, error)
}

func authenticateStep(user, password string) authStep {
	return authStep{"authenticate " + user + ":" + password, "", func(ctx context.Context, api *authAPI) (proto.Message, error) {
		response, err := api.auth.Authenticate(ctx, &pb.AuthenticateRequest{Name: user, Password: password})
		if err == nil {
			api.tokens[user] = response.Token
		}
		return response, err
	}}
}

func authPut(user, key string) authStep {
	return authStep{user + " puts " + key, user, func(ctx context.Context, api *authAPI) (proto.Message, error) {
		return api.kv.Put(ctx, &pb.PutRequest{Key: []byte(key), Value: []byte("v")})
	}}
}

func authRange(user, key, end string) authStep {
	return authStep{fmt.Sprintf("%s reads [%q, %q)", user, key, end), user, func(ctx context.Context, api *authAPI) (proto.Message, error) {
		return api.kv.Range(ctx, &pb.RangeRequest{Key: []byte(key), RangeEnd: []byte(end)})
	}}
}

// authWatch opens a watch stream as user, creates a watch on [key, end)
// and answers the first response (created, or canceled at creation).
func authWatch(user, key, end string) authStep {
	return authStep{fmt.Sprintf("%s watches [%q, %q)", user, key, end), user, func(ctx context.Context, api *authAPI) (proto.Message, error) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := api.watch.Watch(ctx)
		if err != nil {
			return nil, err
		}
		create := &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{Key: []byte(key), RangeEnd: []byte(end)}}}
		if err := stream.Send(create); err != nil {
			return nil, err
		}
		response, err := stream.Recv()
		if response != nil && !response.Canceled {
			// etcd numbers a stream's watches from 0, lockstep from 1
			// (outside auth; a refused watch is -1 on both).
			response.WatchId = 0
		}
		return response, err
	}}
}

// authErrorOnly is a call whose answer differs between two clusters (IDs,
// sizes): only its error is compared.
func authErrorOnly(name, user string, call func(ctx context.Context, api *authAPI) error) authStep {
	return authStep{name, user, func(ctx context.Context, api *authAPI) (proto.Message, error) {
		return nil, call(ctx, api)
	}}
}

// administrationSteps are the membership and maintenance calls, made by
// user, that etcd reserves to root or leaves to anybody.
func administrationSteps(user string) []authStep {
	return []authStep{
		authErrorOnly(user+" asks status", user, func(ctx context.Context, api *authAPI) error {
			_, err := api.maint.Status(ctx, &pb.StatusRequest{})
			return err
		}),
		authErrorOnly(user+" lists alarms", user, func(ctx context.Context, api *authAPI) error {
			_, err := api.maint.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_GET})
			return err
		}),
		authErrorOnly(user+" disarms", user, func(ctx context.Context, api *authAPI) error {
			_, err := api.maint.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_DEACTIVATE, Alarm: pb.AlarmType_NOSPACE})
			return err
		}),
		authErrorOnly(user+" hashes", user, func(ctx context.Context, api *authAPI) error {
			_, err := api.maint.HashKV(ctx, &pb.HashKVRequest{})
			return err
		}),
		authErrorOnly(user+" defragments", user, func(ctx context.Context, api *authAPI) error {
			_, err := api.maint.Defragment(ctx, &pb.DefragmentRequest{})
			return err
		}),
		authErrorOnly(user+" takes a snapshot", user, func(ctx context.Context, api *authAPI) error {
			stream, err := api.maint.Snapshot(ctx, &pb.SnapshotRequest{})
			if err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		}),
		authErrorOnly(user+" lists members", user, func(ctx context.Context, api *authAPI) error {
			_, err := api.cluster.MemberList(ctx, &pb.MemberListRequest{})
			return err
		}),
		authErrorOnly(user+" removes member 1", user, func(ctx context.Context, api *authAPI) error {
			_, err := api.cluster.MemberRemove(ctx, &pb.MemberRemoveRequest{ID: 1})
			return err
		}),
		authErrorOnly(user+" compacts", user, func(ctx context.Context, api *authAPI) error {
			_, err := api.kv.Compact(ctx, &pb.CompactionRequest{Revision: 1})
			return err
		}),
		authErrorOnly(user+" grants a lease", user, func(ctx context.Context, api *authAPI) error {
			_, err := api.lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 600})
			return err
		}),
	}
}

// authKVStep is a call of the KV or Lease service made by user.
func authKVStep(name, user string, run func(ctx context.Context, api *authAPI) (proto.Message, error)) authStep {
	return authStep{name, user, run}
}

func authCall[Request any, Response proto.Message](name, user string, request Request, call func(pb.AuthClient) func(context.Context, Request, ...grpc.CallOption) (Response, error)) authStep {
	return authStep{name, user, func(ctx context.Context, api *authAPI) (proto.Message, error) {
		return call(api.auth)(ctx, request)
	}}
}

func authDifferentialSteps() []authStep {
	permission := func(key, end string, kind authpb.Permission_Type) *authpb.Permission {
		return &authpb.Permission{Key: []byte(key), RangeEnd: []byte(end), PermType: kind}
	}
	grant := func(user, role string, perm *authpb.Permission) authStep {
		return authCall("grant "+role+" "+perm.String(), user, &pb.AuthRoleGrantPermissionRequest{Name: role, Perm: perm}, func(a pb.AuthClient) func(context.Context, *pb.AuthRoleGrantPermissionRequest, ...grpc.CallOption) (*pb.AuthRoleGrantPermissionResponse, error) {
			return a.RoleGrantPermission
		})
	}
	userAdd := func(user, name, password string) authStep {
		return authCall("add user "+name, user, &pb.AuthUserAddRequest{Name: name, Password: password}, func(a pb.AuthClient) func(context.Context, *pb.AuthUserAddRequest, ...grpc.CallOption) (*pb.AuthUserAddResponse, error) {
			return a.UserAdd
		})
	}
	roleAdd := func(user, name string) authStep {
		return authCall("add role "+name, user, &pb.AuthRoleAddRequest{Name: name}, func(a pb.AuthClient) func(context.Context, *pb.AuthRoleAddRequest, ...grpc.CallOption) (*pb.AuthRoleAddResponse, error) {
			return a.RoleAdd
		})
	}
	grantRole := func(user, name, role string) authStep {
		return authCall("grant "+role+" to "+name, user, &pb.AuthUserGrantRoleRequest{User: name, Role: role}, func(a pb.AuthClient) func(context.Context, *pb.AuthUserGrantRoleRequest, ...grpc.CallOption) (*pb.AuthUserGrantRoleResponse, error) {
			return a.UserGrantRole
		})
	}
	status := func(user string) authStep {
		return authCall("status", user, &pb.AuthStatusRequest{}, func(a pb.AuthClient) func(context.Context, *pb.AuthStatusRequest, ...grpc.CallOption) (*pb.AuthStatusResponse, error) {
			return a.AuthStatus
		})
	}
	enable := func(user string) authStep {
		return authCall("enable", user, &pb.AuthEnableRequest{}, func(a pb.AuthClient) func(context.Context, *pb.AuthEnableRequest, ...grpc.CallOption) (*pb.AuthEnableResponse, error) {
			return a.AuthEnable
		})
	}
	userGet := func(user, name string) authStep {
		return authCall("get user "+name, user, &pb.AuthUserGetRequest{Name: name}, func(a pb.AuthClient) func(context.Context, *pb.AuthUserGetRequest, ...grpc.CallOption) (*pb.AuthUserGetResponse, error) {
			return a.UserGet
		})
	}
	roleGet := func(user, name string) authStep {
		return authCall("get role "+name, user, &pb.AuthRoleGetRequest{Role: name}, func(a pb.AuthClient) func(context.Context, *pb.AuthRoleGetRequest, ...grpc.CallOption) (*pb.AuthRoleGetResponse, error) {
			return a.RoleGet
		})
	}
	userList := func(user string) authStep {
		return authCall("list users", user, &pb.AuthUserListRequest{}, func(a pb.AuthClient) func(context.Context, *pb.AuthUserListRequest, ...grpc.CallOption) (*pb.AuthUserListResponse, error) {
			return a.UserList
		})
	}
	roleList := func(user string) authStep {
		return authCall("list roles", user, &pb.AuthRoleListRequest{}, func(a pb.AuthClient) func(context.Context, *pb.AuthRoleListRequest, ...grpc.CallOption) (*pb.AuthRoleListResponse, error) {
			return a.RoleList
		})
	}
	userDelete := func(user, name string) authStep {
		return authCall("delete user "+name, user, &pb.AuthUserDeleteRequest{Name: name}, func(a pb.AuthClient) func(context.Context, *pb.AuthUserDeleteRequest, ...grpc.CallOption) (*pb.AuthUserDeleteResponse, error) {
			return a.UserDelete
		})
	}
	roleDelete := func(user, name string) authStep {
		return authCall("delete role "+name, user, &pb.AuthRoleDeleteRequest{Role: name}, func(a pb.AuthClient) func(context.Context, *pb.AuthRoleDeleteRequest, ...grpc.CallOption) (*pb.AuthRoleDeleteResponse, error) {
			return a.RoleDelete
		})
	}
	revokeRole := func(user, name, role string) authStep {
		return authCall("revoke "+role+" from "+name, user, &pb.AuthUserRevokeRoleRequest{Name: name, Role: role}, func(a pb.AuthClient) func(context.Context, *pb.AuthUserRevokeRoleRequest, ...grpc.CallOption) (*pb.AuthUserRevokeRoleResponse, error) {
			return a.UserRevokeRole
		})
	}
	revokePermission := func(user, role, key, end string) authStep {
		return authCall("revoke permission "+key, user, &pb.AuthRoleRevokePermissionRequest{Role: role, Key: []byte(key), RangeEnd: []byte(end)}, func(a pb.AuthClient) func(context.Context, *pb.AuthRoleRevokePermissionRequest, ...grpc.CallOption) (*pb.AuthRoleRevokePermissionResponse, error) {
			return a.RoleRevokePermission
		})
	}
	disable := func(user string) authStep {
		return authCall("disable", user, &pb.AuthDisableRequest{}, func(a pb.AuthClient) func(context.Context, *pb.AuthDisableRequest, ...grpc.CallOption) (*pb.AuthDisableResponse, error) {
			return a.AuthDisable
		})
	}
	return []authStep{
		status(""),
		enable(""), // no root user
		userAdd("", "", "x"),
		userAdd("", "root", "root-password"),
		userAdd("", "root", "again"),
		enable(""), // root without the root role
		roleAdd("", ""),
		roleAdd("", "root"),
		grantRole("", "root", "root"),
		userAdd("", "alice", "alice-password"),
		roleAdd("", "app"),
		grant("", "app", permission("app/", "app0", authpb.READWRITE)),
		grant("", "app", permission("config", "", authpb.READ)),
		grant("", "app", permission("b", "a", authpb.READ)), // inverted
		grant("", "app", permission("", "a", authpb.READ)),  // no key
		grant("", "app", permission("z", "\x00", authpb.WRITE)),
		grant("", "nobody", permission("a", "", authpb.READ)),
		grantRole("", "alice", "app"),
		grantRole("", "alice", "app"), // twice
		grantRole("", "alice", "ops"),
		grantRole("", "bob", "app"),
		userGet("", "alice"),
		userGet("", "bob"),
		roleGet("", "app"),
		roleGet("", "root"),
		roleGet("", "ops"),
		userList(""),
		roleList(""),
		revokePermission("", "app", "nothing", ""),
		revokeRole("", "alice", "root"),
		authenticateStep("alice", "alice-password"), // auth disabled
		status(""),
		enable(""),
		status("root"), // without a token yet: refused as nobody
		authPut("", "app/x"),
		authRange("", "app/x", ""),
		authenticateStep("alice", "wrong"),
		authenticateStep("carol", "x"),
		authenticateStep("", ""),
		authenticateStep("alice", "alice-password"),
		authenticateStep("root", "root-password"),
		status("root"),
		status("alice"), // any user, as etcd 3.7
		authPut("alice", "app/x"),
		authPut("alice", "other"),
		authPut("alice", "config"),
		authPut("alice", "zebra"),
		authRange("alice", "config", ""),
		authRange("alice", "app/", "app0"),
		authRange("alice", "\x00", "\x00"),
		authRange("alice", "z", "\x00"),
		authRange("alice", "z", "zz"),
		authRange("mallory", "app/x", ""),    // a forged token
		authRange("alice", "app/z", "app/a"), // inverted
		authWatch("alice", "other", ""),
		authWatch("alice", "app/", "app0"),
		authWatch("alice", "\x00", "\x00"),
		authWatch("", "app/x", ""),
		authKVStep("alice deletes [app/, b) with prev_kv", "alice", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			return api.kv.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: []byte("app/"), RangeEnd: []byte("b"), PrevKv: true})
		}),
		authKVStep("alice deletes app/ with prev_kv", "alice", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			return api.kv.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: []byte("app/"), RangeEnd: []byte("app0"), PrevKv: true})
		}),
		authKVStep("alice txn comparing config, putting app/t", "alice", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			return api.kv.Txn(ctx, &pb.TxnRequest{Compare: []*pb.Compare{{Key: []byte("config"), Target: pb.Compare_VERSION, Result: pb.Compare_EQUAL}},
				Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("app/t"), Value: []byte("v")}}}}})
		}),
		authKVStep("alice txn comparing other", "alice", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			return api.kv.Txn(ctx, &pb.TxnRequest{Compare: []*pb.Compare{{Key: []byte("other"), Target: pb.Compare_VERSION, Result: pb.Compare_EQUAL}}})
		}),
		authKVStep("alice txn, nested put of other in failure", "alice", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			nested := &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("other"), Value: []byte("v")}}}}}
			return api.kv.Txn(ctx, &pb.TxnRequest{Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestTxn{RequestTxn: nested}}}})
		}),
		authKVStep("root grants lease 77", "root", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			response, err := api.lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: 77, TTL: 600})
			if response != nil {
				response.TTL = 0 // lockstep raises short TTLs to its election timeout; not compared here
			}
			return response, err
		}),
		authKVStep("root attaches other to lease 77", "root", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			return api.kv.Put(ctx, &pb.PutRequest{Key: []byte("other"), Value: []byte("leased"), Lease: 77})
		}),
		authKVStep("alice attaches app/l to lease 77", "alice", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			return api.kv.Put(ctx, &pb.PutRequest{Key: []byte("app/l"), Value: []byte("v"), Lease: 77})
		}),
		authKVStep("alice asks lease 77's TTL", "alice", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			response, err := api.lease.LeaseTimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: 77})
			if response != nil {
				response.TTL = 0 // counts down differently
			}
			return response, err
		}),
		authKVStep("alice lists lease 77's keys", "alice", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			response, err := api.lease.LeaseTimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: 77, Keys: true})
			if response != nil {
				response.TTL = 0
			}
			return response, err
		}),
		authKVStep("nobody lists lease 77's keys", "", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			response, err := api.lease.LeaseTimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: 77, Keys: true})
			if response != nil {
				response.TTL = 0
			}
			return response, err
		}),
		authKVStep("alice revokes lease 77", "alice", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			return api.lease.LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: 77})
		}),
		authKVStep("root revokes lease 77", "root", func(ctx context.Context, api *authAPI) (proto.Message, error) {
			return api.lease.LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: 77})
		}),
		userList("alice"),
		userGet("alice", "alice"),
		userGet("alice", "root"),
		roleGet("alice", "app"),
		roleGet("alice", "root"),
		userDelete("root", "root"),
		roleDelete("root", "root"),
		revokeRole("root", "root", "root"),
		grant("root", "app", permission("shared", "", authpb.READ)),
		authPut("alice", "app/y"), // a token older than the change
		authenticateStep("alice", "alice-password"),
		authPut("alice", "app/y"),
		roleDelete("root", "app"),
		userGet("root", "alice"),
		authPut("alice", "app/z"),
		disable("root"),
		status(""),
		authPut("", "after"),
	}
}

// TestAuthDifferentialAgainstEtcd runs one sequence of auth calls, with
// tokens, against a real etcd v3.7.3 and a lockstep cluster (through a
// follower), and compares every answer and error, tokens and IDs
// excepted.
func TestAuthDifferentialAgainstEtcd(t *testing.T) {
	runAuthDifferential(t, nil, fastBcrypt, false)
}

// TestAuthDifferentialAgainstEtcdJWT runs the same sequence with JWT
// tokens on both, from the same key pair: the answers differ from simple
// tokens' where a token is older than a change of the auth store (etcd
// refuses it with ErrAuthOldRevision). Once alice and root are
// authenticated, each system also reads with the tokens the other issued:
// the two are at the same auth revision, so each accepts the other's.
func TestAuthDifferentialAgainstEtcdJWT(t *testing.T) {
	keys := testkeys.Write(t, t.TempDir(), testkeys.P256)
	spec := "jwt,pub-key=" + keys.Public + ",priv-key=" + keys.Private + ",sign-method=ES256"
	runAuthDifferential(t, []string{"--auth-token", spec}, func(config *Config) {
		fastBcrypt(config)
		config.AuthToken = spec
	}, true)
}

// runAuthDifferential runs the sequence against etcd started with
// etcdFlags and a lockstep cluster configured by adjust; with
// exchangeTokens, each also uses the other's tokens once they are issued.
func runAuthDifferential(t *testing.T, etcdFlags []string, adjust func(*Config), exchangeTokens bool) {
	etcdEndpoint := startEtcd(t, append([]string{"--bcrypt-cost", "4"}, etcdFlags...)...)
	cluster := startCluster(t, 3, adjust)
	cluster.leader()
	ctx := testContext(t)
	connect := func(endpoint string) *authAPI {
		client, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close() })
		return &authAPI{kv: pb.NewKVClient(client.ActiveConnection()), lease: pb.NewLeaseClient(client.ActiveConnection()),
			watch: pb.NewWatchClient(client.ActiveConnection()), maint: pb.NewMaintenanceClient(client.ActiveConnection()),
			cluster: pb.NewClusterClient(client.ActiveConnection()),
			auth:    pb.NewAuthClient(client.ActiveConnection()), tokens: map[string]string{}}
	}
	etcd, lockstep := connect(etcdEndpoint), connect(cluster.endpoint(cluster.follower()))
	waitForEtcd(ctx, t, etcd.kv)
	steps := authDifferentialSteps()
	// Administration by nobody and by alice, while auth is enabled.
	at := slices.IndexFunc(steps, func(s authStep) bool { return s.name == "alice reads [\"config\", \"\")" })
	steps = slices.Concat(steps[:at], administrationSteps(""), administrationSteps("alice"), steps[at:])
	exchanged := false
	for _, s := range steps {
		if !compareAuthStep(t, s, etcd.as(ctx, s.user), etcd, lockstep.as(ctx, s.user), lockstep) {
			continue
		}
		if exchangeTokens && s.name == "authenticate root:root-password" {
			exchangeJWTs(ctx, t, etcd, lockstep)
			exchanged = true
		}
	}
	if exchangeTokens && !exchanged {
		t.Errorf("the sequence has no step after which to exchange tokens")
	}
}

// compareAuthStep runs s on etcd and on lockstep, with the contexts
// given, and reports a difference in their errors or answers (tokens
// aside). It returns whether both succeeded alike.
func compareAuthStep(t *testing.T, s authStep, etcdContext context.Context, etcd *authAPI, lockstepContext context.Context, lockstep *authAPI) bool {
	t.Helper()
	etcdResponse, etcdErr := s.run(etcdContext, etcd)
	lockstepResponse, lockstepErr := s.run(lockstepContext, lockstep)
	if fmt.Sprint(etcdErr) != fmt.Sprint(lockstepErr) {
		t.Errorf("%s: etcd error %v, lockstep error %v", s.name, etcdErr, lockstepErr)
		return false
	}
	if etcdErr != nil {
		return false
	}
	if authenticated, ok := etcdResponse.(*pb.AuthenticateResponse); ok {
		authenticated.Token = ""
		lockstepResponse.(*pb.AuthenticateResponse).Token = ""
	}
	if want, got := normalized(etcdResponse), normalized(lockstepResponse); want != got {
		t.Errorf("%s:\netcd:     %s\nlockstep: %s", s.name, want, got)
	}
	return true
}

// exchangeJWTs reads as alice and as root on each system with the token
// the other issued.
func exchangeJWTs(ctx context.Context, t *testing.T, etcd, lockstep *authAPI) {
	t.Helper()
	for _, user := range []string{"alice", "root"} {
		read := &pb.RangeRequest{Key: []byte("config")}
		if _, err := lockstep.kv.Range(metadata.AppendToOutgoingContext(ctx, tokenMetadataKey, etcd.tokens[user]), read); err != nil {
			t.Errorf("lockstep refuses etcd's token of %s: %v", user, err)
		}
		if _, err := etcd.kv.Range(metadata.AppendToOutgoingContext(ctx, tokenMetadataKey, lockstep.tokens[user]), read); err != nil {
			t.Errorf("etcd refuses lockstep's token of %s: %v", user, err)
		}
	}
}
