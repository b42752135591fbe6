package node

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/raft"
)

// Three nodes over gRPC on loopback with mutual TLS, each creating its
// transport from Config.ListenAddress: a leader is elected and commits; a
// follower stopped while the log moves on by more than two snapshot
// intervals (so no log holds what it lacks any more) catches up by an
// InstallSnapshot after its restart, the leader having restarted from its
// disk meanwhile; safety is checked after each phase.
func TestThreeNodesOverMutualTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("real TCP cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	peerTLS := mutualTLS(t)
	c := newTCPClusterWithTLS(t, 3, peerTLS)
	c.propose(ctx, 20) // below SnapshotEntries (40): no snapshot yet
	c.checkSafety(ctx)
	checkMutualTLS(t, c.peers[1], peerTLS(9), mutualTLS(t)(9))

	follower := raft.NodeID(1)
	if follower == c.leader(ctx).config.ID {
		follower = 2
	}
	followerStatus, err := c.nodes[follower].Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.kill(follower)
	leader := c.leader(ctx)
	events, stopEvents := leader.Subscribe(64)
	defer stopEvents()
	c.propose(ctx, 100)
	// The leader compacted its log beyond the follower's last entry (20
	// commands and a few records).
	// Snapshots are saved in the background: wait for the report of one
	// at 80 or beyond.
	for compactedAt := uint64(0); compactedAt < 80; {
		select {
		case event := <-events:
			if event.Kind == SnapshotTaken {
				compactedAt = max(compactedAt, event.Index)
			}
		case <-ctx.Done():
			t.Fatalf("the leader compacted its log only up to %d", compactedAt)
		}
	}

	// Whichever node leads after the restart below must have compacted
	// past the follower's log, or it would send entries instead of a
	// snapshot: the other node snapshots on its own schedule (in the
	// background, later on a loaded machine), so wait for both.
	c.eventually(ctx, "every running node to compact past the stopped follower's log", func() bool {
		for _, n := range c.nodes {
			status, err := n.Status(ctx)
			if err != nil || status.FirstIndex <= followerStatus.LastIndex+1 {
				return false
			}
		}
		return true
	})

	// The leader's transport still holds the appends it pipelined to the
	// stopped follower, and would deliver them once it is back: restart
	// the leader too (from its disk), so that only a snapshot can bring
	// the follower up to date.
	stopEvents()
	c.kill(leader.config.ID)
	c.start(leader.config.ID)
	c.start(follower)
	c.eventually(ctx, "the restarted follower to catch up", func() bool {
		return len(c.journals[follower].values()) >= len(c.acknowledged)
	})
	if restores := c.journals[follower].restored(); restores == 0 {
		t.Fatal("the follower caught up without a snapshot from the leader")
	}
	c.checkSafety(ctx)
	c.propose(ctx, 10)
	c.checkSafety(ctx)
}

// checkMutualTLS checks that the peer listener at address completes a TLS
// handshake only with a client certificate from the cluster's authority:
// trusted is such a client's configuration, stranger one from another
// authority.
func checkMutualTLS(t *testing.T, address string, trusted, stranger *tls.Config) {
	t.Helper()
	handshake := func(config *tls.Config) error {
		config = config.Clone()
		config.NextProtos = []string{"h2"} // as gRPC does
		connection, err := tls.Dial("tcp", address, config)
		if err != nil {
			return err
		}
		defer connection.Close()
		// With TLS 1.3 the server checks the client's certificate after
		// the client's side of the handshake: a refusal shows on read.
		connection.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = connection.Read(make([]byte, 1))
		var timeout net.Error
		if errors.As(err, &timeout) && timeout.Timeout() {
			return nil // accepted, and the server waits for the client
		}
		if err == nil || errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	if err := handshake(trusted); err != nil {
		t.Fatalf("a client of the cluster's authority is refused: %v", err)
	}
	withoutCertificate := trusted.Clone()
	withoutCertificate.Certificates = nil
	if err := handshake(withoutCertificate); err == nil {
		t.Fatal("a client without a certificate is accepted")
	}
	stranger = stranger.Clone()
	stranger.RootCAs = trusted.RootCAs // it trusts the server, but the server does not trust it
	if err := handshake(stranger); err == nil {
		t.Fatal("a client with a certificate from another authority is accepted")
	}
}
