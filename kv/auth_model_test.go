package kv

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// authModel is a plain model of etcd's auth rules: what the store's
// answers to auth administration must be.
type authModel struct {
	enabled  bool
	revision uint64
	users    map[string][]string // user: sorted roles
	roles    map[string][]*authpb.Permission
}

func (m *authModel) apply(request *pb.InternalRaftRequest) (any, error) {
	switch {
	case request.AuthEnable != nil:
		if m.enabled {
			return nil, nil
		}
		roles, found := m.users["root"]
		if !found {
			return nil, rpctypes.ErrGRPCRootUserNotExist
		}
		if !slices.Contains(roles, "root") {
			return nil, rpctypes.ErrGRPCRootRoleNotExist
		}
		m.enabled = true
		return nil, nil // the one change that keeps the revision
	case request.AuthDisable != nil:
		if !m.enabled {
			return nil, nil
		}
		m.enabled = false
	case request.AuthUserAdd != nil:
		name := request.AuthUserAdd.Name
		if name == "" {
			return nil, rpctypes.ErrGRPCUserEmpty
		}
		if _, found := m.users[name]; found {
			return nil, rpctypes.ErrGRPCUserAlreadyExist
		}
		m.users[name] = nil
	case request.AuthUserDelete != nil:
		name := request.AuthUserDelete.Name
		if m.enabled && name == "root" {
			return nil, rpctypes.ErrGRPCInvalidAuthMgmt
		}
		if _, found := m.users[name]; !found {
			return nil, rpctypes.ErrGRPCUserNotFound
		}
		delete(m.users, name)
	case request.AuthUserGet != nil:
		roles, found := m.users[request.AuthUserGet.Name]
		if !found {
			return nil, rpctypes.ErrGRPCUserNotFound
		}
		return roles, nil
	case request.AuthUserList != nil:
		return sortedNames(m.users), nil
	case request.AuthUserGrantRole != nil:
		user, role := request.AuthUserGrantRole.User, request.AuthUserGrantRole.Role
		roles, found := m.users[user]
		if !found {
			return nil, rpctypes.ErrGRPCUserNotFound
		}
		if _, found := m.roles[role]; !found && role != "root" {
			return nil, rpctypes.ErrGRPCRoleNotFound
		}
		if slices.Contains(roles, role) {
			return nil, nil
		}
		roles = append(slices.Clone(roles), role)
		slices.Sort(roles)
		m.users[user] = roles
	case request.AuthUserRevokeRole != nil:
		user, role := request.AuthUserRevokeRole.Name, request.AuthUserRevokeRole.Role
		if m.enabled && user == "root" && role == "root" {
			return nil, rpctypes.ErrGRPCInvalidAuthMgmt
		}
		roles, found := m.users[user]
		if !found {
			return nil, rpctypes.ErrGRPCUserNotFound
		}
		if !slices.Contains(roles, role) {
			return nil, rpctypes.ErrGRPCRoleNotGranted
		}
		m.users[user] = slices.DeleteFunc(slices.Clone(roles), func(r string) bool { return r == role })
	case request.AuthRoleAdd != nil:
		name := request.AuthRoleAdd.Name
		if name == "" {
			return nil, rpctypes.ErrGRPCRoleEmpty
		}
		if _, found := m.roles[name]; found {
			return nil, rpctypes.ErrGRPCRoleAlreadyExist
		}
		m.roles[name] = nil
	case request.AuthRoleDelete != nil:
		name := request.AuthRoleDelete.Role
		if m.enabled && name == "root" {
			return nil, rpctypes.ErrGRPCInvalidAuthMgmt
		}
		if _, found := m.roles[name]; !found {
			return nil, rpctypes.ErrGRPCRoleNotFound
		}
		delete(m.roles, name)
		for user, roles := range m.users {
			m.users[user] = slices.DeleteFunc(slices.Clone(roles), func(r string) bool { return r == name })
		}
	case request.AuthRoleGet != nil:
		permissions, found := m.roles[request.AuthRoleGet.Role]
		if !found {
			return nil, rpctypes.ErrGRPCRoleNotFound
		}
		if request.AuthRoleGet.Role == "root" {
			permissions = append(slices.Clone(permissions), &authpb.Permission{PermType: authpb.READWRITE, RangeEnd: []byte{0}})
		}
		return permissions, nil
	case request.AuthRoleList != nil:
		return sortedNames(m.roles), nil
	case request.AuthRoleGrantPermission != nil:
		grant := request.AuthRoleGrantPermission
		permissions, found := m.roles[grant.Name]
		if !found {
			return nil, rpctypes.ErrGRPCRoleNotFound
		}
		key, end := grant.Perm.Key, grant.Perm.RangeEnd
		if len(key) == 0 || (len(end) > 0 && !isOpenEnd(end) && bytes.Compare(key, end) >= 0) {
			return nil, rpctypes.ErrGRPCInvalidAuthMgmt
		}
		permissions = slices.Clone(permissions)
		if index := slices.IndexFunc(permissions, func(p *authpb.Permission) bool {
			return bytes.Equal(p.Key, key) && bytes.Equal(p.RangeEnd, end)
		}); index >= 0 {
			permissions[index] = &authpb.Permission{Key: key, RangeEnd: end, PermType: grant.Perm.PermType}
		} else {
			permissions = append(permissions, &authpb.Permission{Key: key, RangeEnd: end, PermType: grant.Perm.PermType})
		}
		// Sorted by key; equal keys keep the order they were granted in.
		slices.SortStableFunc(permissions, func(a, b *authpb.Permission) int { return bytes.Compare(a.Key, b.Key) })
		m.roles[grant.Name] = permissions
	case request.AuthRoleRevokePermission != nil:
		revoke := request.AuthRoleRevokePermission
		permissions, found := m.roles[revoke.Role]
		if !found {
			return nil, rpctypes.ErrGRPCRoleNotFound
		}
		index := slices.IndexFunc(permissions, func(p *authpb.Permission) bool {
			return bytes.Equal(p.Key, revoke.Key) && bytes.Equal(p.RangeEnd, revoke.RangeEnd)
		})
		if index < 0 {
			return nil, rpctypes.ErrGRPCPermissionNotGranted
		}
		m.roles[revoke.Role] = slices.Delete(slices.Clone(permissions), index, index+1)
	}
	if !isAuthRead(request) {
		m.revision++
	}
	return nil, nil
}

// isAuthRead reports whether request only reads the auth store.
func isAuthRead(request *pb.InternalRaftRequest) bool {
	return request.AuthUserGet != nil || request.AuthUserList != nil || request.AuthRoleGet != nil || request.AuthRoleList != nil
}

// randomAuthRequest draws an auth administration request from small name
// pools, so that most names collide, made by root at the current
// revision.
func randomAuthRequest(random *rand.Rand) *pb.InternalRaftRequest {
	users := []string{"root", "alice", "bob", ""}
	roles := []string{"root", "app", "ops", ""}
	keys := []string{"a", "b", "c", "app/", ""}
	ends := []string{"", "\x00", "b", "d", "a"}
	user := users[random.IntN(len(users))]
	role := roles[random.IntN(len(roles))]
	key, end := []byte(keys[random.IntN(len(keys))]), []byte(ends[random.IntN(len(ends))])
	if len(end) == 0 {
		end = nil
	}
	if len(key) == 0 {
		key = nil
	}
	switch random.IntN(14) {
	case 0:
		return &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}}
	case 1:
		return &pb.InternalRaftRequest{AuthDisable: &pb.AuthDisableRequest{}}
	case 2, 3:
		return &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: user, HashedPassword: "$2a$04$not-a-real-hash-for-the-model"}}
	case 4:
		return &pb.InternalRaftRequest{AuthUserDelete: &pb.AuthUserDeleteRequest{Name: user}}
	case 5:
		return &pb.InternalRaftRequest{AuthUserGet: &pb.AuthUserGetRequest{Name: user}}
	case 6, 7:
		return &pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: user, Role: role}}
	case 8:
		return &pb.InternalRaftRequest{AuthUserRevokeRole: &pb.AuthUserRevokeRoleRequest{Name: user, Role: role}}
	case 9:
		return &pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: role}}
	case 10:
		return &pb.InternalRaftRequest{AuthRoleDelete: &pb.AuthRoleDeleteRequest{Role: role}}
	case 11:
		return &pb.InternalRaftRequest{AuthRoleGet: &pb.AuthRoleGetRequest{Role: role}}
	case 12:
		return &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: role,
			Perm: &authpb.Permission{Key: key, RangeEnd: end, PermType: authpb.Permission_Type(random.IntN(3))}}}
	}
	return &pb.InternalRaftRequest{AuthRoleRevokePermission: &pb.AuthRoleRevokePermissionRequest{Role: role, Key: key, RangeEnd: end}}
}

// TestAuthModelRandomized applies random auth administration to a store
// and the model: every answer, error and the auth revision agree; two
// replicas fed the same entries in different Apply calls end with the
// same image, auth tables included.
func TestAuthModelRandomized(t *testing.T) {
	random := rand.New(rand.NewPCG(18, 3))
	model := &authModel{revision: 1, users: map[string][]string{}, roles: map[string][]*authpb.Permission{}}
	first, second := newHarness(t, Options{}), newHarness(t, Options{})
	var pending []*pb.InternalRaftRequest
	enabledSteps := 0
	for step := range 1500 {
		request := randomAuthRequest(random)
		// Root administers: its identity at the current revision.
		request = as(Identity{User: "root", Revision: model.revision}, request)
		want, wantErr := model.apply(request)
		if model.enabled {
			enabledSteps++
		}
		got := first.one(request)
		pending = append(pending, request)
		if len(pending) == 1+random.IntN(5) {
			second.apply(pending...)
			pending = nil
		}
		if wantErr != nil {
			wantError(t, "step "+request.String(), got, wantErr)
			continue
		}
		if err, isError := got.(error); isError {
			t.Fatalf("step %d %v: got %v, want success", step, request, err)
		}
		switch response := got.(type) {
		case *pb.AuthUserGetResponse:
			if !slices.Equal(response.Roles, want.([]string)) {
				t.Fatalf("step %d %v: roles %v, want %v", step, request, response.Roles, want)
			}
		case *pb.AuthUserListResponse:
			if !slices.Equal(response.Users, want.([]string)) {
				t.Fatalf("step %d: users %v, want %v", step, response.Users, want)
			}
		case *pb.AuthRoleGetResponse:
			wantPermissions := want.([]*authpb.Permission)
			if len(response.Perm) != len(wantPermissions) {
				t.Fatalf("step %d %v: %d permissions, want %d", step, request, len(response.Perm), len(wantPermissions))
			}
			for i := range wantPermissions {
				if !bytes.Equal(response.Perm[i].Key, wantPermissions[i].Key) || !bytes.Equal(response.Perm[i].RangeEnd, wantPermissions[i].RangeEnd) || response.Perm[i].PermType != wantPermissions[i].PermType {
					t.Fatalf("step %d %v: permission %d is %v, want %v", step, request, i, response.Perm[i], wantPermissions[i])
				}
			}
		}
		if enabled, revision := first.store.AuthEnabled(); enabled != model.enabled || revision != model.revision {
			t.Fatalf("step %d %v: enabled %v revision %d, want %v %d", step, request, enabled, revision, model.enabled, model.revision)
		}
	}
	second.apply(pending...)
	if enabledSteps < 100 {
		t.Errorf("auth was enabled for %d steps only: the test would miss the rules that hold while it is", enabledSteps)
	}
	if !bytes.Equal(imageOf(t, first.store), imageOf(t, second.store)) {
		t.Errorf("replicas' images differ")
	}
}
