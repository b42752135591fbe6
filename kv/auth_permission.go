package kv

import (
	"bytes"
	"slices"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// Identity is who a request comes from when auth is enabled: the user a
// token was issued to, and the auth revision it was issued at. A server
// puts it in the request header (pb.RequestHeader's Username and
// AuthRevision) of what it proposes, so every member checks the same
// identity when it applies the entry. The zero Identity is nobody.
//
// An identity is somebody when it has a revision (etcd's rule: "only gets
// rev == 0 when passed AuthInfo{}"), even with an empty User: a client
// certificate without a Common Name is such an identity under
// --client-cert-auth, which etcd refuses as an unknown user (permission
// denied) where it refuses nobody with ErrGRPCUserEmpty.
type Identity struct {
	User     string
	Revision uint64
}

// Nobody reports whether identity is nobody: no token, no client
// certificate.
func (i Identity) Nobody() bool { return i.Revision == 0 }

// IdentityOf returns the identity a request's header carries.
func IdentityOf(request *pb.InternalRaftRequest) Identity {
	return Identity{User: request.Header.GetUsername(), Revision: request.Header.GetAuthRevision()}
}

// access is what an operation does to a key: read it or write it.
type access int

const (
	readAccess access = iota
	writeAccess
)

// grants reports whether a permission of type kind allows access.
func grants(kind authpb.Permission_Type, wanted access) bool {
	switch kind {
	case authpb.READWRITE:
		return true
	case authpb.READ:
		return wanted == readAccess
	case authpb.WRITE:
		return wanted == writeAccess
	}
	return false
}

// checkAdmin is etcd's IsAdminPermitted: with auth enabled, only a user
// holding the root role may administer auth, the cluster and its
// maintenance. Nobody gets ErrGRPCUserEmpty, a user since deleted
// ErrGRPCUserNotFound, any other user ErrGRPCPermissionDenied.
func (s *authState) checkAdmin(identity Identity) error {
	if !s.enabled {
		return nil
	}
	if identity.User == "" {
		return rpctypes.ErrGRPCUserEmpty
	}
	user, found := s.users[identity.User]
	if !found {
		return rpctypes.ErrGRPCUserNotFound
	}
	if !hasRootRole(user) {
		return rpctypes.ErrGRPCPermissionDenied
	}
	return nil
}

// checkKeys is etcd's isOpPermitted: with auth enabled, identity may
// access the interval [key, end) (end empty: the key alone; "\x00": every
// key from key on) if it is somebody (ErrGRPCUserEmpty), its token is not
// older than the last change of the auth store (ErrGRPCAuthOldRevision),
// the user exists and either holds the root role or its roles' permissions
// cover the whole interval (ErrGRPCPermissionDenied).
func (s *authState) checkKeys(identity Identity, wanted access, key, end []byte) error {
	if !s.enabled {
		return nil
	}
	if identity.Nobody() {
		return rpctypes.ErrGRPCUserEmpty
	}
	if identity.Revision < s.revision {
		return rpctypes.ErrGRPCAuthOldRevision
	}
	user, found := s.users[identity.User]
	if !found {
		return rpctypes.ErrGRPCPermissionDenied
	}
	if hasRootRole(user) || s.covers(user, wanted, key, end) {
		return nil
	}
	return rpctypes.ErrGRPCPermissionDenied
}

// interval is a half-open key interval; an empty end means no bound.
type interval struct{ begin, end []byte }

// intervalOf returns etcd's interval of a key and range end: a key alone
// is [key, key+"\x00"), "\x00" as end means no bound.
func intervalOf(key, end []byte) interval {
	switch {
	case len(end) == 0:
		return interval{begin: key, end: append(bytes.Clone(key), 0)}
	case isOpenEnd(end):
		return interval{begin: key}
	}
	return interval{begin: key, end: end}
}

// endsBefore reports whether end a comes before end b, an empty end being
// the largest.
func endsBefore(a, b []byte) bool {
	switch {
	case len(a) == 0:
		return false
	case len(b) == 0:
		return true
	}
	return bytes.Compare(a, b) < 0
}

// covers reports whether the intervals user's roles grant for wanted
// cover [key, end), as etcd's interval tree Contains decides it: the
// granted intervals that overlap the requested one must follow each
// other without a gap, start at or before it and end at or after it.
// Like etcd's, it grants an inverted request interval lying inside a
// granted one.
func (s *authState) covers(user *authpb.User, wanted access, key, end []byte) bool {
	target := intervalOf(key, end)
	var granted []interval
	for _, name := range user.Roles {
		role, found := s.roles[name]
		if !found {
			continue
		}
		for _, permission := range role.KeyPermission {
			if grants(permission.PermType, wanted) {
				granted = append(granted, intervalOf(permission.Key, permission.RangeEnd))
			}
		}
	}
	slices.SortFunc(granted, func(a, b interval) int { return bytes.Compare(a.begin, b.begin) })
	var minimumBegin, maximumEnd []byte
	found := false
	for _, next := range granted {
		overlaps := endsBefore(next.begin, target.end) && endsBefore(target.begin, next.end)
		switch {
		case !overlaps:
		case !found:
			found, minimumBegin, maximumEnd = true, next.begin, next.end
		case endsBefore(maximumEnd, next.begin):
			return false // a gap
		case endsBefore(maximumEnd, next.end):
			maximumEnd = next.end
		}
	}
	return found && !endsBefore(maximumEnd, target.end) && bytes.Compare(minimumBegin, target.begin) <= 0
}

// authorize checks, when auth is enabled, that the identity in request's
// header may make it, as etcd does: auth administration, compaction and
// alarm changes need the root role; a Range needs read access, a Put or DeleteRange
// write access (and read access with prev_kv), a Put with a lease write
// access to the keys attached to it, a Txn read access to every compared
// key and what its operations need (nested ones too), a LeaseRevoke write
// access to the keys attached. leaseKeys returns the keys attached to a
// lease.
//
// A request without a header is one a server made itself, not a
// client's: a lease expiring, a checkpoint, an alarm, a member publishing
// its attributes. It is not checked: a server puts a header, the identity
// of the client or none, on every request a client makes (etcd does not
// tell the two apart, and so refuses to revoke an expired lease with keys
// when auth is enabled).
func (s *authState) authorize(request *pb.InternalRaftRequest, leaseKeys func(id int64) [][]byte) error {
	if !s.enabled || request.Header == nil {
		return nil
	}
	identity := IdentityOf(request)
	switch {
	case needsAdmin(request):
		return s.checkAdmin(identity)
	case request.AuthUserGet != nil:
		// A user may read itself, as in etcd.
		if err := s.checkAdmin(identity); err != nil && identity.User != request.AuthUserGet.Name {
			return err
		}
	case request.AuthRoleGet != nil:
		// A user may read a role it holds.
		if err := s.checkAdmin(identity); err != nil && !s.holds(identity.User, request.AuthRoleGet.Role) {
			return err
		}
	case request.Range != nil:
		return s.checkKeys(identity, readAccess, request.Range.Key, request.Range.RangeEnd)
	case request.Put != nil:
		return s.authorizePut(identity, request.Put, leaseKeys)
	case request.DeleteRange != nil:
		return s.authorizeDelete(identity, request.DeleteRange)
	case request.Txn != nil:
		return s.authorizeTxn(identity, request.Txn, leaseKeys)
	case request.LeaseRevoke != nil:
		return s.authorizeLeaseKeys(identity, request.LeaseRevoke.ID, leaseKeys)
	case request.Compaction != nil:
		return s.checkAdmin(identity)
	case request.Alarm != nil && request.Alarm.Action != pb.AlarmRequest_GET:
		return s.checkAdmin(identity)
	case request.Authenticate != nil:
		return nil // how nobody becomes somebody
	case identity.Nobody():
		// Any other client request (a LeaseGrant, a lease checkpoint, an
		// alarm listing) needs a user, as etcd 3.7 has it.
		return rpctypes.ErrGRPCUserEmpty
	}
	return nil
}

// needsAdmin reports whether request administers auth (etcd's
// needAdminPermission): everything but Authenticate, AuthStatus (which
// etcd 3.7 answers any user, though not nobody), and UserGet and RoleGet,
// which authorize checks on their own.
func needsAdmin(request *pb.InternalRaftRequest) bool {
	return request.AuthEnable != nil || request.AuthDisable != nil ||
		request.AuthUserAdd != nil || request.AuthUserDelete != nil ||
		request.AuthUserList != nil || request.AuthUserChangePassword != nil ||
		request.AuthUserGrantRole != nil || request.AuthUserRevokeRole != nil ||
		request.AuthRoleAdd != nil || request.AuthRoleDelete != nil ||
		request.AuthRoleList != nil || request.AuthRoleGrantPermission != nil ||
		request.AuthRoleRevokePermission != nil
}

// holds reports whether user exists and holds role.
func (s *authState) holds(user, role string) bool {
	found, exists := s.users[user]
	return exists && slices.Contains(found.Roles, role)
}

func (s *authState) authorizePut(identity Identity, request *pb.PutRequest, leaseKeys func(int64) [][]byte) error {
	if err := s.checkKeys(identity, writeAccess, request.Key, nil); err != nil {
		return err
	}
	if request.Lease != 0 {
		// A user who could not revoke the lease (write access to its
		// keys) may not attach to it either.
		if err := s.authorizeLeaseKeys(identity, request.Lease, leaseKeys); err != nil {
			return err
		}
	}
	if request.PrevKv {
		return s.checkKeys(identity, readAccess, request.Key, nil)
	}
	return nil
}

func (s *authState) authorizeDelete(identity Identity, request *pb.DeleteRangeRequest) error {
	if err := s.checkKeys(identity, writeAccess, request.Key, request.RangeEnd); err != nil {
		return err
	}
	if request.PrevKv {
		return s.checkKeys(identity, readAccess, request.Key, request.RangeEnd)
	}
	return nil
}

// authorizeLeaseKeys checks write access to every key attached to a
// lease; a root user needs no look at them.
func (s *authState) authorizeLeaseKeys(identity Identity, id int64, leaseKeys func(int64) [][]byte) error {
	if s.checkAdmin(identity) == nil {
		return nil
	}
	for _, key := range leaseKeys(id) {
		if err := s.checkKeys(identity, writeAccess, key, nil); err != nil {
			return err
		}
	}
	return nil
}

// authorizeTxn checks every compare and every operation of both branches,
// nested transactions included, as etcd's checkTxnReqsPermission.
func (s *authState) authorizeTxn(identity Identity, request *pb.TxnRequest, leaseKeys func(int64) [][]byte) error {
	for _, compare := range request.Compare {
		if err := s.checkKeys(identity, readAccess, compare.Key, compare.RangeEnd); err != nil {
			return err
		}
	}
	for _, operations := range [][]*pb.RequestOp{request.Success, request.Failure} {
		for _, operation := range operations {
			var err error
			switch {
			case operation.GetRequestRange() != nil:
				err = s.checkKeys(identity, readAccess, operation.GetRequestRange().Key, operation.GetRequestRange().RangeEnd)
			case operation.GetRequestPut() != nil:
				err = s.authorizePut(identity, operation.GetRequestPut(), leaseKeys)
			case operation.GetRequestDeleteRange() != nil:
				err = s.authorizeDelete(identity, operation.GetRequestDeleteRange())
			case operation.GetRequestTxn() != nil:
				err = s.authorizeTxn(identity, operation.GetRequestTxn(), leaseKeys)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}
