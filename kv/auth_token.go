package kv

// TokenProvider is a kind of auth token, etcd's --auth-token: how a
// member issues a token to a user whose password it checked, and finds
// who the token a client presents stands for. There are two, as in etcd:
// simple tokens (auth_token_simple.go), random strings every member
// records when it applies the Authenticate entry carrying one, and JWTs
// (auth_token_jwt.go), signed and self-contained, which any member holding
// the public key verifies without shared state. Methods may be called
// from any goroutine.
type TokenProvider interface {
	// Issue returns a new token for user, whose password was checked
	// against the auth store at auth revision revision.
	Issue(user string, revision uint64) (string, error)
	// Resolve returns who token stands for, or false for a token this
	// member does not accept (forged, expired, unknown to it): the server
	// answers ErrGRPCInvalidAuthToken. current is the auth revision of
	// now; the identity's revision is the one the permission checks
	// compare with it (an older one is refused with
	// ErrGRPCAuthOldRevision).
	Resolve(token string, current uint64) (Identity, bool)
	// SelfContained reports whether a token Issue returns is valid at
	// once on every member (a JWT), rather than only once every member
	// has applied an Authenticate entry carrying it (a simple token).
	SelfContained() bool
}
