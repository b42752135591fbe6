package kv

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"golang.org/x/crypto/bcrypt"
)

// The auth store's read side. Every method may be called from any
// goroutine; it sees the auth store as of the last Apply call committed.

// authView returns the current auth store.
func (s *Store) authView() *authState {
	if state := s.auth.Load(); state != nil {
		return state
	}
	return emptyAuthState()
}

// AuthEnabled reports whether auth is enabled, and the auth revision.
func (s *Store) AuthEnabled() (enabled bool, revision uint64) {
	state := s.authView()
	return state.enabled, state.revision
}

// CheckPassword checks a user's password against its bcrypt hash, as a
// server must before proposing an Authenticate: ErrGRPCAuthNotEnabled
// when auth is disabled, ErrGRPCAuthFailed for an unknown user, a user
// without a password, or a wrong password (one error for all three, so a
// caller learns nothing about which users exist). It returns the auth
// revision it checked against.
func (s *Store) CheckPassword(name, password string) (uint64, error) {
	state := s.authView()
	if !state.enabled {
		return 0, rpctypes.ErrGRPCAuthNotEnabled
	}
	user, found := state.users[name]
	if !found || user.Options.GetNoPassword() || len(user.Password) == 0 {
		return state.revision, rpctypes.ErrGRPCAuthFailed
	}
	if bcrypt.CompareHashAndPassword(user.Password, []byte(password)) != nil {
		return state.revision, rpctypes.ErrGRPCAuthFailed
	}
	return state.revision, nil
}

// TokenIdentity returns the identity of a token this member accepts;
// false for any other token (the server answers
// ErrGRPCInvalidAuthToken). A simple token must be one this member knows
// and has not seen expire (its life is extended), and its identity has
// the current auth revision; a JWT must be signed with the configured
// key and method and not have expired, and its identity has the revision
// it was issued at (see TokenProvider.Resolve).
func (s *Store) TokenIdentity(token string) (Identity, bool) {
	_, current := s.AuthEnabled()
	return s.tokens.Resolve(token, current)
}

// Tokens returns the kind of token this member issues and resolves.
func (s *Store) Tokens() TokenProvider { return s.tokens }

// Authorize checks, as Apply does, that the identity in request's header
// may make request (see authState.authorize): for requests a server
// serves without the log (serializable and linearizable reads). nil when
// auth is disabled.
func (s *Store) Authorize(request *pb.InternalRaftRequest) error {
	state := s.authView()
	if !state.enabled {
		return nil
	}
	return state.authorize(request, s.leaseKeysNow)
}

// AuthorizeAdmin checks that identity may administer the cluster (the
// root role), when auth is enabled: etcd's IsAdminPermitted.
func (s *Store) AuthorizeAdmin(identity Identity) error {
	return s.authView().checkAdmin(identity)
}

// AuthorizeRead checks that identity may read [key, end) (a watch's
// interval), when auth is enabled.
func (s *Store) AuthorizeRead(identity Identity, key, end []byte) error {
	return s.authView().checkKeys(identity, readAccess, key, end)
}

// AuthorizeLeaseRead checks, when auth is enabled, that identity may
// read every key attached to lease id, as etcd checks a LeaseTimeToLive:
// nobody is refused (ErrGRPCUserEmpty) even for a lease without keys.
func (s *Store) AuthorizeLeaseRead(identity Identity, id int64) error {
	state := s.authView()
	if !state.enabled {
		return nil
	}
	if identity.Nobody() {
		return rpctypes.ErrGRPCUserEmpty
	}
	for _, key := range s.leaseKeysNow(id) {
		if err := state.checkKeys(identity, readAccess, key, nil); err != nil {
			return err
		}
	}
	return nil
}

// leaseKeysNow returns the keys attached to a lease in the committed
// state; none on a closed store.
func (s *Store) leaseKeysNow(id int64) [][]byte {
	view, err := s.openView()
	if err != nil {
		return nil
	}
	defer view.close()
	keys, _ := attachedKeys(view.snapshot, id)
	return keys
}
