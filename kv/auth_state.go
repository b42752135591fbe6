package kv

import (
	"errors"
	"fmt"
	"maps"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/authpb"
	"google.golang.org/protobuf/proto"
)

// rootName is the name of etcd's special user and role: the root user
// must exist and hold the root role before auth can be enabled, and the
// root role grants every permission and the administration of the
// cluster.
const rootName = "root"

// authState is the auth store at one point of the log: whether auth is
// enabled, the auth revision (bumped by every change, as etcd's), and
// every user and role. It is immutable once published: a change makes a
// new authState (withUser, withRole, ...), so readers on other goroutines
// use the one they loaded without a lock.
type authState struct {
	enabled  bool
	revision uint64
	users    map[string]*authpb.User
	roles    map[string]*authpb.Role
}

// emptyAuthState is the auth store of a new cluster: disabled, revision
// 1 as etcd's, no users, no roles.
func emptyAuthState() *authState {
	return &authState{revision: 1, users: map[string]*authpb.User{}, roles: map[string]*authpb.Role{}}
}

// clone returns a copy whose maps may be changed; the users and roles
// themselves are shared and must be replaced, never modified.
func (s *authState) clone() *authState {
	return &authState{enabled: s.enabled, revision: s.revision, users: maps.Clone(s.users), roles: maps.Clone(s.roles)}
}

// hasRootRole reports whether user holds the root role.
func hasRootRole(user *authpb.User) bool {
	for _, role := range user.Roles {
		if role == rootName {
			return true
		}
	}
	return false
}

// loadAuthState reads the auth tables from reader.
func loadAuthState(reader pebble.Reader) (*authState, error) {
	state := emptyAuthState()
	meta, err := getValue(reader, authMetaKey)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("kv: read auth meta: %w", err)
	case len(meta) != 9:
		return nil, fmt.Errorf("kv: auth meta has %d bytes, want 9", len(meta))
	default:
		state.enabled = meta[0] == 1
		state.revision, _ = decodeUint64("auth revision", meta[1:])
	}
	err = scanTable(reader, "users", userPrefix, func(key, value []byte) error {
		user := &authpb.User{}
		if err := proto.Unmarshal(value, user); err != nil {
			return fmt.Errorf("kv: user %q: %w", key[1:], err)
		}
		state.users[string(user.Name)] = user
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = scanTable(reader, "roles", rolePrefix, func(key, value []byte) error {
		role := &authpb.Role{}
		if err := proto.Unmarshal(value, role); err != nil {
			return fmt.Errorf("kv: role %q: %w", key[1:], err)
		}
		state.roles[string(role.Name)] = role
		return nil
	})
	if err != nil {
		return nil, err
	}
	return state, nil
}

// writeMeta stores the switch and the revision in batch.
func (s *authState) writeMeta(batch *pebble.Batch) error {
	enabled := byte(0)
	if s.enabled {
		enabled = 1
	}
	return batch.Set(authMetaKey, append([]byte{enabled}, encodeUint64(s.revision)...), nil)
}

// marshalDeterministic encodes a user or role the same way on every
// replica, so their Pebble states stay byte for byte equal.
func marshalDeterministic(message proto.Message) []byte {
	encoded, err := proto.MarshalOptions{Deterministic: true}.Marshal(message)
	if err != nil {
		// Users and roles are made by apply from fields a decoded request
		// carried, which always encode again.
		panic(fmt.Sprintf("kv: encode %T: %v", message, err))
	}
	return encoded
}
