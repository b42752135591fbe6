package kv

import (
	"sync"
	"time"
)

// maxVerifiedTokens bounds the verified-token cache: enough for every
// client of a busy member (clientv3 keeps one token per client), small
// enough not to matter in memory (a token is a few hundred bytes).
const maxVerifiedTokens = 16_384

// verifiedTokens remembers the tokens a JWTProvider has verified, so that
// a client's token is checked once, not at every request: checking an
// ES256 signature costs tens of microseconds, and with it on every put
// the leader gave up more than a third of its throughput under 1,000
// clients. A token's signature and claims never change (the key is fixed
// for the provider's life), so what is left to check on a hit is its
// expiry; a token is looked up by its whole text, so a changed one is
// never a hit. Safe for concurrent use.
type verifiedTokens struct {
	mu      sync.RWMutex
	entries map[string]verifiedToken
}

// verifiedToken is a token that verified, and the moment it expires.
type verifiedToken struct {
	identity Identity
	expires  time.Time
}

// lookup returns the identity of token if it verified before and is
// still valid at now (jwt's rule: valid strictly before exp).
func (c *verifiedTokens) lookup(token string, now time.Time) (Identity, bool) {
	c.mu.RLock()
	entry, found := c.entries[token]
	c.mu.RUnlock()
	if !found || !now.Before(entry.expires) {
		return Identity{}, false
	}
	return entry.identity, true
}

// remember records a token that verified; when the cache is full it is
// emptied first (a simple bound: the next requests verify again).
func (c *verifiedTokens) remember(token string, identity Identity, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= maxVerifiedTokens {
		c.entries = make(map[string]verifiedToken)
	}
	c.entries[token] = verifiedToken{identity: identity, expires: expires}
}
