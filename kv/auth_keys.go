package kv

// Auth tables (see doc.go): the auth store's switch and revision, users
// and roles, each in a table of its own so snapshots and backups carry
// them with the rest of the state.
const (
	authMetaPrefix = 'A'
	userPrefix     = 'U'
	rolePrefix     = 'R'
)

// authMetaKey holds whether auth is enabled (one byte) and the auth
// revision (8 bytes, big-endian).
var authMetaKey = []byte("A/auth")

// userKey is the key of a user: its name after the table byte.
func userKey(name string) []byte {
	return append([]byte{userPrefix}, name...)
}

// roleKey is the key of a role: its name after the table byte.
func roleKey(name string) []byte {
	return append([]byte{rolePrefix}, name...)
}
