package kv

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"golang.org/x/crypto/bcrypt"
)

// as returns request with identity in its header, as a server proposes it.
func as(identity Identity, request *pb.InternalRaftRequest) *pb.InternalRaftRequest {
	request.Header = &pb.RequestHeader{Username: identity.User, AuthRevision: identity.Revision}
	return request
}

// hashed returns a bcrypt hash of password at the lowest cost.
func hashed(t testing.TB, password string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(hash)
}

// wantError checks that result is the etcd error want.
func wantError(t testing.TB, what string, result any, want error) {
	t.Helper()
	err, _ := result.(error)
	if !errors.Is(err, want) {
		t.Errorf("%s: got %v, want %v", what, result, want)
	}
}

// wantOK checks that result is a response, not an error.
func wantOK(t testing.TB, what string, result any) {
	t.Helper()
	if err, isError := result.(error); isError || result == nil {
		t.Fatalf("%s: got %v (%T), want a response", what, err, result)
	}
}

// enableAuth adds root (password "root") with the root role and enables
// auth, checking each step; it returns root's identity.
func enableAuth(t testing.TB, h *harness) Identity {
	t.Helper()
	wantOK(t, "add root", h.one(&pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "root", HashedPassword: hashed(t, "root")}}))
	wantOK(t, "add role root", h.one(&pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "root"}}))
	wantOK(t, "grant root", h.one(&pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}}))
	wantOK(t, "enable", h.one(&pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}}))
	_, revision := h.store.AuthEnabled()
	return Identity{User: "root", Revision: revision}
}

func TestAuthEnableNeedsRootUserWithRootRole(t *testing.T) {
	h := newHarness(t, Options{})
	enable := &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}}
	wantError(t, "enable without root", h.one(enable), rpctypes.ErrGRPCRootUserNotExist)
	wantOK(t, "add root", h.one(&pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "root", HashedPassword: hashed(t, "pw")}}))
	wantError(t, "enable without the root role", h.one(enable), rpctypes.ErrGRPCRootRoleNotExist)
	// The root role may be granted before it is added, as in etcd.
	wantOK(t, "grant root", h.one(&pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}}))
	if enabled, revision := h.store.AuthEnabled(); enabled || revision != 3 {
		t.Fatalf("before enable: enabled %v revision %d, want false 3 (1 on a new store, and two changes)", enabled, revision)
	}
	wantOK(t, "enable", h.one(enable))
	if enabled, revision := h.store.AuthEnabled(); !enabled || revision != 3 {
		t.Fatalf("after enable: enabled %v revision %d, want true 3 (enabling keeps the revision, as in etcd)", enabled, revision)
	}
	// Enabling again changes nothing.
	root := Identity{"root", 3}
	wantOK(t, "enable again", h.one(as(root, enable)))
	if _, revision := h.store.AuthEnabled(); revision != 3 {
		t.Errorf("enable again bumped the revision to %d", revision)
	}
	wantError(t, "delete root", h.one(as(root, &pb.InternalRaftRequest{AuthUserDelete: &pb.AuthUserDeleteRequest{Name: "root"}})), rpctypes.ErrGRPCInvalidAuthMgmt)
	wantError(t, "revoke root's root role", h.one(as(root, &pb.InternalRaftRequest{AuthUserRevokeRole: &pb.AuthUserRevokeRoleRequest{Name: "root", Role: "root"}})), rpctypes.ErrGRPCInvalidAuthMgmt)
	wantOK(t, "disable", h.one(as(root, &pb.InternalRaftRequest{AuthDisable: &pb.AuthDisableRequest{}})))
	if enabled, revision := h.store.AuthEnabled(); enabled || revision != 4 {
		t.Errorf("after disable: enabled %v revision %d, want false 4", enabled, revision)
	}
}

func TestAuthManagementErrorsChangeNothing(t *testing.T) {
	h := newHarness(t, Options{})
	wantOK(t, "add alice", h.one(&pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "alice", HashedPassword: hashed(t, "a")}}))
	wantOK(t, "add role reader", h.one(&pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "reader"}}))
	before := imageOf(t, h.store)
	_, revision := h.store.AuthEnabled()
	cases := []struct {
		name    string
		request *pb.InternalRaftRequest
		want    error
	}{
		{"empty user name", &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: ""}}, rpctypes.ErrGRPCUserEmpty},
		{"user twice", &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "alice"}}, rpctypes.ErrGRPCUserAlreadyExist},
		{"delete unknown user", &pb.InternalRaftRequest{AuthUserDelete: &pb.AuthUserDeleteRequest{Name: "bob"}}, rpctypes.ErrGRPCUserNotFound},
		{"get unknown user", &pb.InternalRaftRequest{AuthUserGet: &pb.AuthUserGetRequest{Name: "bob"}}, rpctypes.ErrGRPCUserNotFound},
		{"password of unknown user", &pb.InternalRaftRequest{AuthUserChangePassword: &pb.AuthUserChangePasswordRequest{Name: "bob"}}, rpctypes.ErrGRPCUserNotFound},
		{"grant to unknown user", &pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "bob", Role: "reader"}}, rpctypes.ErrGRPCUserNotFound},
		{"grant unknown role", &pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "alice", Role: "writer"}}, rpctypes.ErrGRPCRoleNotFound},
		{"revoke role not granted", &pb.InternalRaftRequest{AuthUserRevokeRole: &pb.AuthUserRevokeRoleRequest{Name: "alice", Role: "reader"}}, rpctypes.ErrGRPCRoleNotGranted},
		{"empty role name", &pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: ""}}, rpctypes.ErrGRPCRoleEmpty},
		{"role twice", &pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "reader"}}, rpctypes.ErrGRPCRoleAlreadyExist},
		{"delete unknown role", &pb.InternalRaftRequest{AuthRoleDelete: &pb.AuthRoleDeleteRequest{Role: "writer"}}, rpctypes.ErrGRPCRoleNotFound},
		{"get unknown role", &pb.InternalRaftRequest{AuthRoleGet: &pb.AuthRoleGetRequest{Role: "writer"}}, rpctypes.ErrGRPCRoleNotFound},
		{"permission of unknown role", &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "writer", Perm: &authpb.Permission{Key: []byte("a")}}}, rpctypes.ErrGRPCRoleNotFound},
		{"no permission", &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "reader"}}, rpctypes.ErrGRPCPermissionNotGiven},
		{"inverted range", &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "reader", Perm: &authpb.Permission{Key: []byte("b"), RangeEnd: []byte("a")}}}, rpctypes.ErrGRPCInvalidAuthMgmt},
		{"empty range", &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "reader", Perm: &authpb.Permission{Key: []byte("a"), RangeEnd: []byte("a")}}}, rpctypes.ErrGRPCInvalidAuthMgmt},
		{"empty key", &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "reader", Perm: &authpb.Permission{RangeEnd: []byte("a")}}}, rpctypes.ErrGRPCInvalidAuthMgmt},
		{"revoke permission not granted", &pb.InternalRaftRequest{AuthRoleRevokePermission: &pb.AuthRoleRevokePermissionRequest{Role: "reader", Key: []byte("a")}}, rpctypes.ErrGRPCPermissionNotGranted},
		{"authenticate while disabled", &pb.InternalRaftRequest{Authenticate: &pb.InternalAuthenticateRequest{Name: "alice", SimpleToken: "t"}}, rpctypes.ErrGRPCAuthNotEnabled},
	}
	for _, c := range cases {
		wantError(t, c.name, h.one(c.request), c.want)
	}
	if _, after := h.store.AuthEnabled(); after != revision {
		t.Errorf("auth revision %d after refused requests, want %d", after, revision)
	}
	after := imageOf(t, h.store)
	// The images differ only in the applied index (meta): compare the
	// auth tables.
	if !bytes.Equal(authTables(t, before), authTables(t, after)) {
		t.Errorf("refused requests changed the auth tables")
	}
}

// authTables returns the entries of the auth tables in an image.
func authTables(t testing.TB, image []byte) []byte {
	t.Helper()
	store := newHarness(t, Options{}).store
	if err := store.Restore(bytes.NewReader(image)); err != nil {
		t.Fatal(err)
	}
	view, err := store.openView()
	if err != nil {
		t.Fatal(err)
	}
	defer view.close()
	var entries []byte
	for _, prefix := range []byte{authMetaPrefix, userPrefix, rolePrefix} {
		if err := scanTable(view.snapshot, "auth", prefix, func(key, value []byte) error {
			entries = append(append(append(entries, key...), '='), value...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return entries
}

func TestAuthUsersAndRolesAnswerSorted(t *testing.T) {
	h := newHarness(t, Options{})
	for _, name := range []string{"alice", "carol", "bob"} {
		wantOK(t, "add "+name, h.one(&pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: name, Options: &authpb.UserAddOptions{NoPassword: true}}}))
		wantOK(t, "role "+name, h.one(&pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "r-" + name}}))
		wantOK(t, "grant "+name, h.one(&pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "alice", Role: "r-" + name}}))
	}
	users := h.one(&pb.InternalRaftRequest{AuthUserList: &pb.AuthUserListRequest{}}).(*pb.AuthUserListResponse)
	if !equalStrings(users.Users, []string{"alice", "bob", "carol"}) {
		t.Errorf("users %v", users.Users)
	}
	alice := h.one(&pb.InternalRaftRequest{AuthUserGet: &pb.AuthUserGetRequest{Name: "alice"}}).(*pb.AuthUserGetResponse)
	if !equalStrings(alice.Roles, []string{"r-alice", "r-bob", "r-carol"}) {
		t.Errorf("alice's roles %v", alice.Roles)
	}
	for _, key := range []string{"m", "a", "z"} {
		wantOK(t, "permission "+key, h.one(&pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "r-bob", Perm: &authpb.Permission{Key: []byte(key), PermType: authpb.READ}}}))
	}
	// Granting the same key and range end again changes its type.
	wantOK(t, "permission m again", h.one(&pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "r-bob", Perm: &authpb.Permission{Key: []byte("m"), PermType: authpb.WRITE}}}))
	role := h.one(&pb.InternalRaftRequest{AuthRoleGet: &pb.AuthRoleGetRequest{Role: "r-bob"}}).(*pb.AuthRoleGetResponse)
	var got []string
	for _, permission := range role.Perm {
		got = append(got, string(permission.Key)+":"+permission.PermType.String())
	}
	if !equalStrings(got, []string{"a:READ", "m:WRITE", "z:READ"}) {
		t.Errorf("permissions %v", got)
	}
	// Deleting a role revokes it from its users.
	wantOK(t, "delete r-bob", h.one(&pb.InternalRaftRequest{AuthRoleDelete: &pb.AuthRoleDeleteRequest{Role: "r-bob"}}))
	alice = h.one(&pb.InternalRaftRequest{AuthUserGet: &pb.AuthUserGetRequest{Name: "alice"}}).(*pb.AuthUserGetResponse)
	if !equalStrings(alice.Roles, []string{"r-alice", "r-carol"}) {
		t.Errorf("alice's roles after the delete %v", alice.Roles)
	}
}

// setUpAlice enables auth with a user alice holding role "app", which may
// read and write the prefix "app/" and read the key "config"; it returns
// root's and alice's identities.
func setUpAlice(t testing.TB, h *harness) (root, alice Identity) {
	t.Helper()
	wantOK(t, "add alice", h.one(&pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "alice", HashedPassword: hashed(t, "alice")}}))
	wantOK(t, "add app", h.one(&pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "app"}}))
	wantOK(t, "grant app/", h.one(&pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "app", Perm: &authpb.Permission{Key: []byte("app/"), RangeEnd: []byte("app0"), PermType: authpb.READWRITE}}}))
	wantOK(t, "grant config", h.one(&pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "app", Perm: &authpb.Permission{Key: []byte("config"), PermType: authpb.READ}}}))
	wantOK(t, "grant alice", h.one(&pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "alice", Role: "app"}}))
	root = enableAuth(t, h)
	return root, Identity{User: "alice", Revision: root.Revision}
}

func TestAuthEnforcedAtApply(t *testing.T) {
	h := newHarness(t, Options{})
	root, alice := setUpAlice(t, h)
	put := func(key string) *pb.InternalRaftRequest {
		return &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(key), Value: []byte("v")}}
	}
	wantOK(t, "alice puts app/x", h.one(as(alice, put("app/x"))))
	wantError(t, "alice puts config", h.one(as(alice, put("config"))), rpctypes.ErrGRPCPermissionDenied)
	wantError(t, "alice puts other", h.one(as(alice, put("other"))), rpctypes.ErrGRPCPermissionDenied)
	wantOK(t, "root puts other", h.one(as(root, put("other"))))
	wantError(t, "nobody puts", h.one(as(Identity{}, put("app/y"))), rpctypes.ErrGRPCUserEmpty)
	wantError(t, "unknown user puts", h.one(as(Identity{"mallory", root.Revision}, put("app/y"))), rpctypes.ErrGRPCPermissionDenied)
	wantError(t, "alice deletes outside", h.one(as(alice, &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("app/"), RangeEnd: []byte("b")}})), rpctypes.ErrGRPCPermissionDenied)
	wantOK(t, "alice deletes her prefix", h.one(as(alice, &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("app/"), RangeEnd: []byte("app0"), PrevKv: true}})))
	wantError(t, "alice reads everything", h.one(as(alice, &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}})), rpctypes.ErrGRPCPermissionDenied)
	wantOK(t, "alice reads config", h.one(as(alice, &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("config")}})))

	// A Txn: a compare outside alice's reads, or an operation nested two
	// levels down outside her writes, refuses the whole Txn.
	compareOutside := &pb.TxnRequest{Compare: []*pb.Compare{{Key: []byte("other"), Target: pb.Compare_VERSION, Result: pb.Compare_EQUAL}}}
	wantError(t, "txn compare outside", h.one(as(alice, &pb.InternalRaftRequest{Txn: compareOutside})), rpctypes.ErrGRPCPermissionDenied)
	nested := &pb.TxnRequest{Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{
		Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("other"), Value: []byte("v")}}}}}}}}}
	wantError(t, "nested txn put outside", h.one(as(alice, &pb.InternalRaftRequest{Txn: nested})), rpctypes.ErrGRPCPermissionDenied)
	if response := h.get(&pb.RangeRequest{Key: []byte("other")}); len(response.Kvs) != 1 || string(response.Kvs[0].Value) != "v" {
		t.Errorf("other after refused writes: %v", response.Kvs)
	}

	// Leases: alice may not revoke (or attach to) a lease with a key she
	// cannot write.
	wantOK(t, "grant lease", h.one(as(root, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: 7, TTL: 60}})))
	wantOK(t, "root attaches other", h.one(as(root, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("other"), Lease: 7}})))
	wantError(t, "alice attaches to lease 7", h.one(as(alice, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("app/z"), Lease: 7}})), rpctypes.ErrGRPCPermissionDenied)
	wantError(t, "alice revokes lease 7", h.one(as(alice, &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 7}})), rpctypes.ErrGRPCPermissionDenied)
	// The server's own revoke of an expired lease carries no header.
	wantOK(t, "lease 7 expires", h.one(&pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 7}}))

	// Compaction and alarm changes are root's; granting a lease needs a
	// user; the server's own alarm (no header) is not checked.
	wantError(t, "alice compacts", h.one(as(alice, &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 1}})), rpctypes.ErrGRPCPermissionDenied)
	wantError(t, "alice disarms", h.one(as(alice, alarmRequest(pb.AlarmRequest_DEACTIVATE, 1, pb.AlarmType_NOSPACE))), rpctypes.ErrGRPCPermissionDenied)
	wantError(t, "nobody grants a lease", h.one(as(Identity{}, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: 8, TTL: 60}})), rpctypes.ErrGRPCUserEmpty)
	wantOK(t, "alice grants a lease", h.one(as(alice, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: 8, TTL: 60}})))
	wantOK(t, "the server raises an alarm", h.one(alarmRequest(pb.AlarmRequest_ACTIVATE, 1, pb.AlarmType_NOSPACE)))
	wantOK(t, "root disarms", h.one(as(root, alarmRequest(pb.AlarmRequest_DEACTIVATE, 1, pb.AlarmType_NOSPACE))))

	// Administration is root's.
	wantError(t, "alice adds a user", h.one(as(alice, &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "eve"}})), rpctypes.ErrGRPCPermissionDenied)
	wantError(t, "nobody lists users", h.one(as(Identity{}, &pb.InternalRaftRequest{AuthUserList: &pb.AuthUserListRequest{}})), rpctypes.ErrGRPCUserEmpty)
	wantOK(t, "root lists users", h.one(as(root, &pb.InternalRaftRequest{AuthUserList: &pb.AuthUserListRequest{}})))
	wantOK(t, "alice asks the auth status", h.one(as(alice, &pb.InternalRaftRequest{AuthStatus: &pb.AuthStatusRequest{}})))
	wantError(t, "nobody asks the auth status", h.one(as(Identity{}, &pb.InternalRaftRequest{AuthStatus: &pb.AuthStatusRequest{}})), rpctypes.ErrGRPCUserEmpty)

	// A client certificate without a Common Name is somebody (it has a
	// revision) with no name: etcd refuses it as an unknown user, except
	// where it checks admin rights first.
	unnamed := Identity{"", root.Revision}
	wantError(t, "unnamed puts", h.one(as(unnamed, put("app/y"))), rpctypes.ErrGRPCPermissionDenied)
	wantOK(t, "unnamed grants a lease", h.one(as(unnamed, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: 9, TTL: 60}})))
	wantError(t, "unnamed lists users", h.one(as(unnamed, &pb.InternalRaftRequest{AuthUserList: &pb.AuthUserListRequest{}})), rpctypes.ErrGRPCUserEmpty)
	wantOK(t, "alice reads herself", h.one(as(alice, &pb.InternalRaftRequest{AuthUserGet: &pb.AuthUserGetRequest{Name: "alice"}})))
	wantError(t, "alice reads root", h.one(as(alice, &pb.InternalRaftRequest{AuthUserGet: &pb.AuthUserGetRequest{Name: "root"}})), rpctypes.ErrGRPCPermissionDenied)
	wantOK(t, "alice reads her role", h.one(as(alice, &pb.InternalRaftRequest{AuthRoleGet: &pb.AuthRoleGetRequest{Role: "app"}})))
	wantError(t, "alice reads role root", h.one(as(alice, &pb.InternalRaftRequest{AuthRoleGet: &pb.AuthRoleGetRequest{Role: "root"}})), rpctypes.ErrGRPCPermissionDenied)

	// A change of permissions makes alice's token old.
	wantOK(t, "root revokes config", h.one(as(root, &pb.InternalRaftRequest{AuthRoleRevokePermission: &pb.AuthRoleRevokePermissionRequest{Role: "app", Key: []byte("config")}})))
	wantError(t, "alice's old token", h.one(as(alice, put("app/x"))), rpctypes.ErrGRPCAuthOldRevision)
	_, revision := h.store.AuthEnabled()
	wantOK(t, "alice's new token", h.one(as(Identity{"alice", revision}, put("app/x"))))
}

func TestAuthCovers(t *testing.T) {
	state := emptyAuthState()
	state.enabled, state.revision = true, 1
	state.roles["r"] = &authpb.Role{Name: []byte("r"), KeyPermission: []*authpb.Permission{
		{Key: []byte("a"), RangeEnd: []byte("c"), PermType: authpb.READ},
		{Key: []byte("c"), RangeEnd: []byte("e"), PermType: authpb.READWRITE},
		{Key: []byte("k"), PermType: authpb.WRITE},
		{Key: []byte("x"), RangeEnd: []byte{0}, PermType: authpb.READ},
	}}
	state.users["u"] = &authpb.User{Name: []byte("u"), Roles: []string{"r"}}
	user := Identity{"u", 1}
	cases := []struct {
		wanted   access
		key, end string
		allowed  bool
	}{
		{readAccess, "a", "", true},
		{readAccess, "a", "e", true}, // two adjacent intervals
		{readAccess, "a", "e\x00", false},
		{writeAccess, "a", "", false}, // read only
		{writeAccess, "c", "e", true},
		{writeAccess, "k", "", true},
		{writeAccess, "k", "k\x00", true}, // the key as an interval
		{writeAccess, "k", "l", false},
		{readAccess, "k", "", false},
		{readAccess, "x", "\x00", true}, // open end on both
		{readAccess, "zzz", "", true},
		{readAccess, "w", "\x00", false},
		{readAccess, "bb", "b", true},  // inverted, inside [a, c): etcd grants it
		{readAccess, "b", "a", false},  // inverted, overlapping nothing as etcd computes it
		{readAccess, "zz", "a", false}, // inverted, overlapping nothing granted
	}
	for _, c := range cases {
		err := state.checkKeys(user, c.wanted, []byte(c.key), []byte(c.end))
		if (err == nil) != c.allowed {
			t.Errorf("access %d to [%q, %q): got %v, want allowed %v", c.wanted, c.key, c.end, err, c.allowed)
		}
	}
}

func TestAuthTokens(t *testing.T) {
	now := time.Unix(1000, 0)
	h := newHarness(t, Options{AuthTokenTTL: time.Minute, now: func() time.Time { return now }})
	root, alice := setUpAlice(t, h)
	if _, err := h.store.CheckPassword("alice", "wrong"); !errors.Is(err, rpctypes.ErrGRPCAuthFailed) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := h.store.CheckPassword("nobody", "alice"); !errors.Is(err, rpctypes.ErrGRPCAuthFailed) {
		t.Errorf("unknown user: %v", err)
	}
	if _, err := h.store.CheckPassword("alice", "alice"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	response := h.one(&pb.InternalRaftRequest{Authenticate: &pb.InternalAuthenticateRequest{Name: "alice", SimpleToken: "token-1"}})
	wantOK(t, "authenticate", response)
	if identity, ok := h.store.TokenIdentity("token-1"); !ok || identity != alice {
		t.Fatalf("token-1: %v %v, want %v", identity, ok, alice)
	}
	if _, ok := h.store.TokenIdentity("forged"); ok {
		t.Errorf("a forged token is known")
	}
	// A use extends the token's life; a minute without one ends it.
	now = now.Add(50 * time.Second)
	if _, ok := h.store.TokenIdentity("token-1"); !ok {
		t.Fatalf("token-1 expired early")
	}
	now = now.Add(50 * time.Second)
	if _, ok := h.store.TokenIdentity("token-1"); !ok {
		t.Fatalf("token-1 expired although used 50 s ago")
	}
	now = now.Add(time.Minute)
	if _, ok := h.store.TokenIdentity("token-1"); ok {
		t.Errorf("token-1 alive a minute after its last use")
	}
	// A password change drops the user's tokens.
	wantOK(t, "authenticate again", h.one(&pb.InternalRaftRequest{Authenticate: &pb.InternalAuthenticateRequest{Name: "alice", SimpleToken: "token-2"}}))
	wantOK(t, "change password", h.one(as(root, &pb.InternalRaftRequest{AuthUserChangePassword: &pb.AuthUserChangePasswordRequest{Name: "alice", HashedPassword: hashed(t, "new")}})))
	if _, ok := h.store.TokenIdentity("token-2"); ok {
		t.Errorf("token-2 alive after a password change")
	}
	if _, err := h.store.CheckPassword("alice", "new"); err != nil {
		t.Errorf("new password: %v", err)
	}
}

func TestAuthSurvivesSnapshotAndReopen(t *testing.T) {
	h := newHarness(t, Options{})
	setUpAlice(t, h)
	restored := newHarness(t, Options{})
	if err := restored.store.Restore(bytes.NewReader(imageOf(t, h.store))); err != nil {
		t.Fatal(err)
	}
	enabled, revision := restored.store.AuthEnabled()
	wantEnabled, wantRevision := h.store.AuthEnabled()
	if enabled != wantEnabled || revision != wantRevision {
		t.Errorf("restored: enabled %v revision %d, want %v %d", enabled, revision, wantEnabled, wantRevision)
	}
	if _, err := restored.store.CheckPassword("alice", "alice"); err != nil {
		t.Errorf("alice's password after restore: %v", err)
	}
}
