package node

import (
	"crypto/tls"
	"fmt"
	"testing"

	"github.com/lockstepdb/lockstep/internal/testpki"
	"github.com/lockstepdb/lockstep/raft"
)

// mutualTLS makes a certificate authority for one test and returns, for
// each node, a TLS configuration that presents a certificate it signed
// (valid for 127.0.0.1, as server and as client) and trusts only it, both
// ways: mutual TLS.
func mutualTLS(t *testing.T) func(raft.NodeID) *tls.Config {
	t.Helper()
	authority := testpki.NewAuthority(t, "lockstep test cluster")
	return func(id raft.NodeID) *tls.Config { return authority.MutualTLS(t, fmt.Sprintf("node %d", id)) }
}
