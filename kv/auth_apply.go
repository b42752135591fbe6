package kv

import (
	"bytes"
	"slices"
	"sort"

	"github.com/lockstepdb/lockstep/machine"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"
)

// applyAuth applies one auth operation, or reports that request holds
// none. Every check comes before the first write, so a refused operation
// changes nothing; every change bumps the auth revision once, as etcd's
// store does, so tokens issued before it are refused with
// ErrGRPCAuthOldRevision. Passwords arrive hashed (the server hashes them
// before proposing): the log and the store never hold one in clear.
func (a *applier) applyAuth(request *pb.InternalRaftRequest) (result machine.Result, handled bool) {
	switch {
	case request.AuthEnable != nil:
		return resultOf(a.authEnable()), true
	case request.AuthDisable != nil:
		return resultOf(a.authDisable()), true
	case request.AuthStatus != nil:
		return &pb.AuthStatusResponse{Header: a.header(), Enabled: a.auth.enabled, AuthRevision: a.auth.revision}, true
	case request.Authenticate != nil:
		return resultOf(a.authenticate(request.Authenticate)), true
	case request.AuthUserAdd != nil:
		return resultOf(a.userAdd(request.AuthUserAdd)), true
	case request.AuthUserDelete != nil:
		return resultOf(a.userDelete(request.AuthUserDelete)), true
	case request.AuthUserGet != nil:
		return resultOf(a.userGet(request.AuthUserGet)), true
	case request.AuthUserList != nil:
		return &pb.AuthUserListResponse{Header: a.header(), Users: sortedNames(a.auth.users)}, true
	case request.AuthUserChangePassword != nil:
		return resultOf(a.userChangePassword(request.AuthUserChangePassword)), true
	case request.AuthUserGrantRole != nil:
		return resultOf(a.userGrantRole(request.AuthUserGrantRole)), true
	case request.AuthUserRevokeRole != nil:
		return resultOf(a.userRevokeRole(request.AuthUserRevokeRole)), true
	case request.AuthRoleAdd != nil:
		return resultOf(a.roleAdd(request.AuthRoleAdd)), true
	case request.AuthRoleDelete != nil:
		return resultOf(a.roleDelete(request.AuthRoleDelete)), true
	case request.AuthRoleGet != nil:
		return resultOf(a.roleGet(request.AuthRoleGet)), true
	case request.AuthRoleList != nil:
		return &pb.AuthRoleListResponse{Header: a.header(), Roles: sortedNames(a.auth.roles)}, true
	case request.AuthRoleGrantPermission != nil:
		return resultOf(a.roleGrantPermission(request.AuthRoleGrantPermission)), true
	case request.AuthRoleRevokePermission != nil:
		return resultOf(a.roleRevokePermission(request.AuthRoleRevokePermission)), true
	}
	return nil, false
}

// changeAuth starts a change of the auth store: a copy of it to modify,
// with the revision bumped. commitAuth writes it.
func (a *applier) changeAuth() *authState {
	next := a.auth.clone()
	next.revision++
	return next
}

// commitAuth makes next the applier's auth store and writes its meta
// data; the users and roles changed were written by the caller.
func (a *applier) commitAuth(next *authState) {
	a.must(next.writeMeta(a.batch))
	a.auth, a.authChanged = next, true
}

// putUser stores user in next and in the batch.
func (a *applier) putUser(next *authState, user *authpb.User) {
	next.users[string(user.Name)] = user
	a.must(a.batch.Set(userKey(string(user.Name)), marshalDeterministic(user), nil))
}

// putRole stores role in next and in the batch.
func (a *applier) putRole(next *authState, role *authpb.Role) {
	next.roles[string(role.Name)] = role
	a.must(a.batch.Set(roleKey(string(role.Name)), marshalDeterministic(role), nil))
}

// authEnable enables auth as etcd: a no-op when enabled; the root user
// must exist (ErrGRPCRootUserNotExist) and hold the root role
// (ErrGRPCRootRoleNotExist). Every token issued before is dropped. As in
// etcd, enabling is the one change that keeps the auth revision.
func (a *applier) authEnable() (*pb.AuthEnableResponse, error) {
	if a.auth.enabled {
		return &pb.AuthEnableResponse{Header: a.header()}, nil
	}
	root, found := a.auth.users[rootName]
	if !found {
		return nil, rpctypes.ErrGRPCRootUserNotExist
	}
	if !hasRootRole(root) {
		return nil, rpctypes.ErrGRPCRootRoleNotExist
	}
	next := a.auth.clone()
	next.enabled = true
	a.commitAuth(next)
	a.store.simpleTokens.clear()
	return &pb.AuthEnableResponse{Header: a.header()}, nil
}

// authDisable disables auth (a no-op when disabled) and drops every token.
func (a *applier) authDisable() (*pb.AuthDisableResponse, error) {
	if a.auth.enabled {
		next := a.changeAuth()
		next.enabled = false
		a.commitAuth(next)
		a.store.simpleTokens.clear()
	}
	return &pb.AuthDisableResponse{Header: a.header()}, nil
}

// authenticate assigns the token the proposing member drew to the user,
// on every member, at the current auth revision. The password was checked
// by that member before proposing (Store.CheckPassword); the entry
// carries none. Auth must be enabled and the user must still exist and
// have a password.
func (a *applier) authenticate(request *pb.InternalAuthenticateRequest) (*pb.AuthenticateResponse, error) {
	if !a.auth.enabled {
		return nil, rpctypes.ErrGRPCAuthNotEnabled
	}
	user, found := a.auth.users[request.Name]
	if !found || user.Options.GetNoPassword() || request.SimpleToken == "" {
		return nil, rpctypes.ErrGRPCAuthFailed
	}
	a.store.simpleTokens.assign(request.SimpleToken, request.Name, a.auth.revision)
	return &pb.AuthenticateResponse{Header: a.header(), Token: request.SimpleToken}, nil
}

// userAdd adds a user with the hashed password the server made (none
// with the no-password option).
func (a *applier) userAdd(request *pb.AuthUserAddRequest) (*pb.AuthUserAddResponse, error) {
	if request.Name == "" {
		return nil, rpctypes.ErrGRPCUserEmpty
	}
	if _, found := a.auth.users[request.Name]; found {
		return nil, rpctypes.ErrGRPCUserAlreadyExist
	}
	options := &authpb.UserAddOptions{NoPassword: request.Options.GetNoPassword()}
	user := &authpb.User{Name: []byte(request.Name), Options: options}
	if !options.NoPassword {
		user.Password = []byte(request.HashedPassword)
	}
	next := a.changeAuth()
	a.putUser(next, user)
	a.commitAuth(next)
	return &pb.AuthUserAddResponse{Header: a.header()}, nil
}

// userDelete deletes a user and drops its tokens; the root user cannot be
// deleted while auth is enabled (ErrGRPCInvalidAuthMgmt).
func (a *applier) userDelete(request *pb.AuthUserDeleteRequest) (*pb.AuthUserDeleteResponse, error) {
	if a.auth.enabled && request.Name == rootName {
		return nil, rpctypes.ErrGRPCInvalidAuthMgmt
	}
	if _, found := a.auth.users[request.Name]; !found {
		return nil, rpctypes.ErrGRPCUserNotFound
	}
	next := a.changeAuth()
	delete(next.users, request.Name)
	a.must(a.batch.Delete(userKey(request.Name), nil))
	a.commitAuth(next)
	a.store.simpleTokens.dropUser(request.Name)
	return &pb.AuthUserDeleteResponse{Header: a.header()}, nil
}

// userGet answers a user's roles, sorted.
func (a *applier) userGet(request *pb.AuthUserGetRequest) (*pb.AuthUserGetResponse, error) {
	user, found := a.auth.users[request.Name]
	if !found {
		return nil, rpctypes.ErrGRPCUserNotFound
	}
	return &pb.AuthUserGetResponse{Header: a.header(), Roles: slices.Clone(user.Roles)}, nil
}

// userChangePassword sets a user's hashed password and drops its tokens.
func (a *applier) userChangePassword(request *pb.AuthUserChangePasswordRequest) (*pb.AuthUserChangePasswordResponse, error) {
	user, found := a.auth.users[request.Name]
	if !found {
		return nil, rpctypes.ErrGRPCUserNotFound
	}
	changed := proto.Clone(user).(*authpb.User)
	changed.Password = []byte(request.HashedPassword)
	next := a.changeAuth()
	a.putUser(next, changed)
	a.commitAuth(next)
	a.store.simpleTokens.dropUser(request.Name)
	return &pb.AuthUserChangePasswordResponse{Header: a.header()}, nil
}

// userGrantRole grants a role (which must exist, except root) to a user;
// granting a role the user holds changes nothing, as in etcd.
func (a *applier) userGrantRole(request *pb.AuthUserGrantRoleRequest) (*pb.AuthUserGrantRoleResponse, error) {
	user, found := a.auth.users[request.User]
	if !found {
		return nil, rpctypes.ErrGRPCUserNotFound
	}
	if _, found := a.auth.roles[request.Role]; !found && request.Role != rootName {
		return nil, rpctypes.ErrGRPCRoleNotFound
	}
	index, held := slices.BinarySearch(user.Roles, request.Role)
	if held {
		return &pb.AuthUserGrantRoleResponse{Header: a.header()}, nil
	}
	changed := proto.Clone(user).(*authpb.User)
	changed.Roles = slices.Insert(changed.Roles, index, request.Role)
	next := a.changeAuth()
	a.putUser(next, changed)
	a.commitAuth(next)
	return &pb.AuthUserGrantRoleResponse{Header: a.header()}, nil
}

// userRevokeRole revokes a role from a user; the root role cannot be
// revoked from the root user while auth is enabled.
func (a *applier) userRevokeRole(request *pb.AuthUserRevokeRoleRequest) (*pb.AuthUserRevokeRoleResponse, error) {
	if a.auth.enabled && request.Name == rootName && request.Role == rootName {
		return nil, rpctypes.ErrGRPCInvalidAuthMgmt
	}
	user, found := a.auth.users[request.Name]
	if !found {
		return nil, rpctypes.ErrGRPCUserNotFound
	}
	index, held := slices.BinarySearch(user.Roles, request.Role)
	if !held {
		return nil, rpctypes.ErrGRPCRoleNotGranted
	}
	changed := proto.Clone(user).(*authpb.User)
	changed.Roles = slices.Delete(changed.Roles, index, index+1)
	next := a.changeAuth()
	a.putUser(next, changed)
	a.commitAuth(next)
	return &pb.AuthUserRevokeRoleResponse{Header: a.header()}, nil
}

// roleAdd adds a role without permissions.
func (a *applier) roleAdd(request *pb.AuthRoleAddRequest) (*pb.AuthRoleAddResponse, error) {
	if request.Name == "" {
		return nil, rpctypes.ErrGRPCRoleEmpty
	}
	if _, found := a.auth.roles[request.Name]; found {
		return nil, rpctypes.ErrGRPCRoleAlreadyExist
	}
	next := a.changeAuth()
	a.putRole(next, &authpb.Role{Name: []byte(request.Name)})
	a.commitAuth(next)
	return &pb.AuthRoleAddResponse{Header: a.header()}, nil
}

// roleDelete deletes a role and revokes it from every user holding it;
// the root role cannot be deleted while auth is enabled.
func (a *applier) roleDelete(request *pb.AuthRoleDeleteRequest) (*pb.AuthRoleDeleteResponse, error) {
	if a.auth.enabled && request.Role == rootName {
		return nil, rpctypes.ErrGRPCInvalidAuthMgmt
	}
	if _, found := a.auth.roles[request.Role]; !found {
		return nil, rpctypes.ErrGRPCRoleNotFound
	}
	next := a.changeAuth()
	delete(next.roles, request.Role)
	a.must(a.batch.Delete(roleKey(request.Role), nil))
	for _, name := range sortedNames(a.auth.users) {
		user := a.auth.users[name]
		if index, held := slices.BinarySearch(user.Roles, request.Role); held {
			changed := proto.Clone(user).(*authpb.User)
			changed.Roles = slices.Delete(changed.Roles, index, index+1)
			a.putUser(next, changed)
		}
	}
	a.commitAuth(next)
	return &pb.AuthRoleDeleteResponse{Header: a.header()}, nil
}

// roleGet answers a role's permissions, sorted by key.
func (a *applier) roleGet(request *pb.AuthRoleGetRequest) (*pb.AuthRoleGetResponse, error) {
	role, found := a.auth.roles[request.Role]
	if !found {
		return nil, rpctypes.ErrGRPCRoleNotFound
	}
	response := &pb.AuthRoleGetResponse{Header: a.header()}
	for _, permission := range role.KeyPermission {
		response.Perm = append(response.Perm, proto.Clone(permission).(*authpb.Permission))
	}
	if request.Role == rootName {
		// etcd answers the root role's implicit permission: every key.
		response.Perm = append(response.Perm, &authpb.Permission{PermType: authpb.READWRITE, Key: []byte{}, RangeEnd: []byte{0}})
	}
	return response, nil
}

// roleGrantPermission grants a permission to a role, or changes the type
// of the one on the same key and range end. The range must be valid
// (validPermissionRange), else ErrGRPCInvalidAuthMgmt.
func (a *applier) roleGrantPermission(request *pb.AuthRoleGrantPermissionRequest) (*pb.AuthRoleGrantPermissionResponse, error) {
	role, found := a.auth.roles[request.Name]
	if !found {
		return nil, rpctypes.ErrGRPCRoleNotFound
	}
	if request.Perm == nil {
		return nil, rpctypes.ErrGRPCPermissionNotGiven
	}
	if !validPermissionRange(request.Perm.Key, request.Perm.RangeEnd) {
		return nil, rpctypes.ErrGRPCInvalidAuthMgmt
	}
	changed := proto.Clone(role).(*authpb.Role)
	index := sort.Search(len(changed.KeyPermission), func(i int) bool {
		return bytes.Compare(changed.KeyPermission[i].Key, request.Perm.Key) >= 0
	})
	permission := &authpb.Permission{PermType: request.Perm.PermType, Key: bytes.Clone(request.Perm.Key), RangeEnd: bytes.Clone(request.Perm.RangeEnd)}
	if index < len(changed.KeyPermission) && bytes.Equal(changed.KeyPermission[index].Key, permission.Key) &&
		bytes.Equal(changed.KeyPermission[index].RangeEnd, permission.RangeEnd) {
		changed.KeyPermission[index].PermType = permission.PermType
	} else {
		changed.KeyPermission = slices.Insert(changed.KeyPermission, index, permission)
	}
	next := a.changeAuth()
	a.putRole(next, changed)
	a.commitAuth(next)
	return &pb.AuthRoleGrantPermissionResponse{Header: a.header()}, nil
}

// roleRevokePermission revokes the permission on exactly key and range
// end from a role (ErrGRPCPermissionNotGranted if it holds none).
func (a *applier) roleRevokePermission(request *pb.AuthRoleRevokePermissionRequest) (*pb.AuthRoleRevokePermissionResponse, error) {
	role, found := a.auth.roles[request.Role]
	if !found {
		return nil, rpctypes.ErrGRPCRoleNotFound
	}
	index := slices.IndexFunc(role.KeyPermission, func(permission *authpb.Permission) bool {
		return bytes.Equal(permission.Key, request.Key) && bytes.Equal(permission.RangeEnd, request.RangeEnd)
	})
	if index < 0 {
		return nil, rpctypes.ErrGRPCPermissionNotGranted
	}
	changed := proto.Clone(role).(*authpb.Role)
	changed.KeyPermission = slices.Delete(changed.KeyPermission, index, index+1)
	next := a.changeAuth()
	a.putRole(next, changed)
	a.commitAuth(next)
	return &pb.AuthRoleRevokePermissionResponse{Header: a.header()}, nil
}

// validPermissionRange reports whether a permission's interval is one
// etcd accepts: a non-empty key, and either no range end (the key
// alone), "\x00" (every key from key on), or a range end after key. An
// inverted or empty range is refused.
func validPermissionRange(key, end []byte) bool {
	switch {
	case len(key) == 0:
		return false
	case len(end) == 0, isOpenEnd(end):
		return true
	}
	return bytes.Compare(key, end) < 0
}

// sortedNames returns the keys of a map of users or roles, sorted.
func sortedNames[T any](entries map[string]T) []string {
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// leaseKeys returns the keys attached to a lease in the batch.
func (a *applier) leaseKeys(id int64) [][]byte {
	keys, err := attachedKeys(a.batch, id)
	a.must(err)
	return keys
}
