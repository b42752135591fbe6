package transport

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/lockstepdb/lockstep/internal/testpki"
	"github.com/lockstepdb/lockstep/raft"
)

// testAuthority is a certificate authority made up for one test.
type testAuthority struct {
	*testpki.Authority
	pool *x509.CertPool
}

func newTestAuthority(t testing.TB, name string) *testAuthority {
	authority := testpki.NewAuthority(t, name)
	return &testAuthority{Authority: authority, pool: authority.Pool}
}

// issue makes a node certificate valid for 127.0.0.1, as server and client
// (serial numbers are the authority's own).
func (a *testAuthority) issue(t testing.TB, name string, _ int64) tls.Certificate {
	return a.Issue(t, name)
}

func withTLS(config *tls.Config) func(*Config) {
	return func(c *Config) { c.TLS = config }
}

func TestTLS(t *testing.T) {
	ctx := deadline(t)
	authority := newTestAuthority(t, "cluster CA")
	// Server authentication only: no ClientCAs.
	server := &tls.Config{Certificates: []tls.Certificate{authority.issue(t, "node 2", 2)}, MinVersion: tls.VersionTLS13}
	client := &tls.Config{RootCAs: authority.pool, MinVersion: tls.VersionTLS13}
	a, b := startNode(t, 1, withTLS(client)), startNode(t, 2, withTLS(server))
	a.SetPeer(2, b.Addr().String())
	a.Send([]raft.Message{heartbeat(1, 2, 9)})
	if m := receive(ctx, t, b); m.Commit != 9 {
		t.Fatalf("got %v", m)
	}

	// A plaintext client cannot talk to a TLS server.
	plain := startNode(t, 3, nil)
	plain.SetPeer(2, b.Addr().String())
	plain.Send([]raft.Message{heartbeat(3, 2, 1)})
	plain.logs.waitLog(ctx, t, "message stream to peer failed")

	// A client that does not trust the server's CA refuses it.
	other := newTestAuthority(t, "other CA")
	distrustful := startNode(t, 4, withTLS(&tls.Config{RootCAs: other.pool}))
	distrustful.SetPeer(2, b.Addr().String())
	distrustful.Send([]raft.Message{heartbeat(4, 2, 1)})
	distrustful.logs.waitLog(ctx, t, "message stream to peer failed")
	expectNothing(t, b)
}

func TestMutualTLS(t *testing.T) {
	ctx := deadline(t)
	authority := newTestAuthority(t, "cluster CA")
	mutual := func(id raft.NodeID) *tls.Config {
		return &tls.Config{
			Certificates: []tls.Certificate{authority.issue(t, "node", int64(id)+10)},
			RootCAs:      authority.pool, ClientCAs: authority.pool,
		}
	}
	a, b := startNode(t, 1, withTLS(mutual(1))), startNode(t, 2, withTLS(mutual(2)))
	connect(a, b)
	a.Send([]raft.Message{heartbeat(1, 2, 1)})
	b.Send([]raft.Message{heartbeat(2, 1, 2)})
	if m := receive(ctx, t, b); m.Commit != 1 {
		t.Fatalf("got %v", m)
	}
	if m := receive(ctx, t, a); m.Commit != 2 {
		t.Fatalf("got %v", m)
	}
	snapshot := snapshotMessage(1, 2, 10, 1<<20, 3)
	a.Send([]raft.Message{snapshot})
	if m := receive(ctx, t, b); m.Snapshot == nil || len(m.Snapshot.Data) != 1<<20 {
		t.Fatalf("got %v", m)
	}

	// No client certificate: refused.
	anonymous := startNode(t, 3, withTLS(&tls.Config{RootCAs: authority.pool}))
	anonymous.SetPeer(2, b.Addr().String())
	anonymous.Send([]raft.Message{heartbeat(3, 2, 1)})
	anonymous.logs.waitLog(ctx, t, "message stream to peer failed")

	// A client certificate from another CA: refused.
	other := newTestAuthority(t, "other CA")
	stranger := startNode(t, 4, withTLS(&tls.Config{
		Certificates: []tls.Certificate{other.issue(t, "stranger", 4)}, RootCAs: authority.pool,
	}))
	stranger.SetPeer(2, b.Addr().String())
	stranger.Send([]raft.Message{heartbeat(4, 2, 1)})
	stranger.logs.waitLog(ctx, t, "message stream to peer failed")
	expectNothing(t, b)
	if stats := b.Stats(); stats.Received != 2 {
		t.Errorf("receiver stats %+v", stats)
	}
}

// A server configuration that picks a configuration per client (the
// server's peer identity check does, to log who it refuses) still offers
// both protocols: messages travel on a direct connection and snapshots on
// gRPC, whose client refuses a server that does not agree to HTTP/2.
func TestMutualTLSWithAConfigurationPerClient(t *testing.T) {
	ctx := deadline(t)
	authority := newTestAuthority(t, "cluster CA")
	checked := make(chan string, 16)
	perClient := func(id raft.NodeID) *tls.Config {
		base := &tls.Config{
			Certificates: []tls.Certificate{authority.issue(t, "node", int64(id)+10)},
			RootCAs:      authority.pool, ClientCAs: authority.pool, ClientAuth: tls.RequireAndVerifyClientCert,
		}
		config := base.Clone()
		config.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			chosen := base.Clone()
			chosen.VerifyConnection = func(state tls.ConnectionState) error {
				select {
				case checked <- state.PeerCertificates[0].Subject.CommonName:
				default:
				}
				return nil
			}
			return chosen, nil
		}
		return config
	}
	a, b := startNode(t, 1, withTLS(perClient(1))), startNode(t, 2, withTLS(perClient(2)))
	a.SetPeer(2, b.Addr().String())
	a.Send([]raft.Message{heartbeat(1, 2, 1)})
	if m := receive(ctx, t, b); m.Commit != 1 {
		t.Fatalf("got %v", m)
	}
	a.logs.waitLog(ctx, t, "direct message connection open")
	snapshot := snapshotMessage(1, 2, 10, 1<<16, 3)
	a.Send([]raft.Message{snapshot})
	if m := receive(ctx, t, b); m.Snapshot == nil || len(m.Snapshot.Data) != 1<<16 {
		t.Fatalf("got %v", m)
	}
	select {
	case <-checked:
	default:
		t.Fatal("the per-client configuration's check never ran")
	}
}
