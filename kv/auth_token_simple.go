package kv

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"time"
)

// DefaultAuthTokenTTL is etcd's default --auth-token-ttl: how long a
// simple token lives after its last use.
const DefaultAuthTokenTTL = 300 * time.Second

// tokenTable holds the simple tokens of this member, in memory only, as
// etcd's simple token provider: Apply assigns a token when it applies an
// Authenticate entry (so every member knows every token, and a request
// forwarded to the leader carries a token the leader knows), and a token
// expires ttl after its last use. Tokens are not part of the replicated
// state: a restarted member knows none of those applied before its
// restart, and clients authenticate again (clientv3 does so on
// ErrGRPCInvalidAuthToken).
type tokenTable struct {
	ttl time.Duration
	now func() time.Time

	mu     sync.Mutex
	tokens map[string]*tokenEntry
}

type tokenEntry struct {
	identity Identity
	expires  time.Time
}

var _ TokenProvider = (*tokenTable)(nil)

func newTokenTable(ttl time.Duration, now func() time.Time) *tokenTable {
	if ttl <= 0 {
		ttl = DefaultAuthTokenTTL
	}
	if now == nil {
		now = time.Now
	}
	return &tokenTable{ttl: ttl, now: now, tokens: map[string]*tokenEntry{}}
}

// Issue returns a random token: 24 bytes from crypto/rand, base64url,
// unguessable and unrelated to the user or the cluster. It is valid once
// the Authenticate entry carrying it is applied (assign), which records
// it with the user and the auth revision of that entry on every member.
func (t *tokenTable) Issue(string, uint64) (string, error) {
	random := make([]byte, 24)
	if _, err := rand.Read(random); err != nil {
		return "", fmt.Errorf("kv: draw a token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(random), nil
}

// Resolve returns the identity of a live token, extending its life. As
// etcd's simple tokens, the identity's revision is current, not the one
// the token was issued at: a token goes on working across permission
// changes, which apply to it at once, and a request is refused with
// ErrGRPCAuthOldRevision only if the auth store changed between this
// lookup and the request's apply.
func (t *tokenTable) Resolve(token string, current uint64) (Identity, bool) {
	identity, ok := t.lookup(token)
	if ok {
		identity.Revision = current
	}
	return identity, ok
}

// SelfContained is false: a simple token is known only to the members
// that applied the entry carrying it.
func (t *tokenTable) SelfContained() bool { return false }

// assign records token as user's, issued at auth revision revision, and
// forgets the expired tokens, so tokens nobody uses again do not pile up.
func (t *tokenTable) assign(token, user string, revision uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweepLocked()
	t.tokens[token] = &tokenEntry{identity: Identity{User: user, Revision: revision}, expires: t.now().Add(t.ttl)}
}

// lookup returns the identity of a live token and extends its life; an
// expired token is forgotten.
func (t *tokenTable) lookup(token string) (Identity, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	entry, found := t.tokens[token]
	if !found {
		return Identity{}, false
	}
	now := t.now()
	if !now.Before(entry.expires) {
		delete(t.tokens, token)
		return Identity{}, false
	}
	entry.expires = now.Add(t.ttl)
	return entry.identity, true
}

// dropUser forgets every token of user (deleted, or its password changed).
func (t *tokenTable) dropUser(user string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for token, entry := range t.tokens {
		if entry.identity.User == user {
			delete(t.tokens, token)
		}
	}
}

// clear forgets every token (auth enabled or disabled).
func (t *tokenTable) clear() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.tokens)
}

// sweepLocked forgets expired tokens; t.mu is held.
func (t *tokenTable) sweepLocked() {
	now := t.now()
	for token, entry := range t.tokens {
		if !now.Before(entry.expires) {
			delete(t.tokens, token)
		}
	}
}
