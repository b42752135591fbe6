package devcluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/internal/syncbuffer"
	"github.com/lockstepdb/lockstep/web"
)

func startCluster(t *testing.T) *Cluster {
	t.Helper()
	return startClusterLogging(t, slog.New(slog.DiscardHandler))
}

// startClusterLogging starts a cluster of three whose members log to logger.
func startClusterLogging(t *testing.T, logger *slog.Logger) *Cluster {
	t.Helper()
	config := Config{
		DataDirectory: t.TempDir(), Logger: logger,
		HeartbeatInterval: 50 * time.Millisecond, ElectionTimeout: 500 * time.Millisecond, WALSegmentBytes: 1 << 20,
	}
	var listeners []net.Listener
	port := func() int {
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners = append(listeners, listener)
		return listener.Addr().(*net.TCPAddr).Port
	}
	for i := range 3 {
		config.Members = append(config.Members, Member{Name: fmt.Sprintf("m%d", i+1), Client: port(), Peer: port(), Admin: port()})
	}
	for _, listener := range listeners {
		listener.Close()
	}
	cluster, err := Start(config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cluster.Stop(ctx)
	})
	return cluster
}

// waitFor samples the cluster until condition holds, for at most 20 s.
func waitFor(t *testing.T, cluster *Cluster, what string, condition func([]web.MemberState) bool) []web.MemberState {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		states := cluster.Sample(ctx)
		cancel()
		if condition(states) {
			return states
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: last sample %+v", what, states)
		}
		time.Sleep(20 * time.Millisecond) // polling real processes, bounded by the deadline
	}
}

// leader returns the name and term of the one up leader that the other up
// members follow, or "".
func leader(states []web.MemberState) (string, uint64) {
	var name, id string
	var term uint64
	for _, state := range states {
		if state.Up && state.Role == "leader" {
			if name != "" {
				return "", 0
			}
			name, id, term = state.Name, state.ID, state.Term
		}
	}
	for _, state := range states {
		if state.Up && !state.Partitioned && state.Leader != id {
			return "", 0
		}
	}
	return name, term
}

func TestControlsPartitionHealTransferRestart(t *testing.T) {
	cluster := startCluster(t)
	ctx := context.Background()
	states := waitFor(t, cluster, "a leader", func(s []web.MemberState) bool { name, _ := leader(s); return name != "" })
	first, firstTerm := leader(states)

	if err := cluster.Act(ctx, "partition", first); err != nil {
		t.Fatal(err)
	}
	states = waitFor(t, cluster, "a leader on the majority side", func(s []web.MemberState) bool {
		for _, state := range s {
			if state.Up && state.Role == "leader" && state.Name != first && state.Term > firstTerm {
				return true
			}
		}
		return false
	})
	if err := cluster.Act(ctx, "heal", ""); err != nil {
		t.Fatal(err)
	}
	states = waitFor(t, cluster, "one leader after healing", func(s []web.MemberState) bool { name, _ := leader(s); return name != "" })
	current, _ := leader(states)
	if current == first {
		t.Logf("the healed old leader won again (allowed)")
	}

	target := "m1"
	if current == target {
		target = "m2"
	}
	if err := cluster.Act(ctx, "transfer", target); err != nil {
		t.Fatal(err)
	}
	waitFor(t, cluster, target+" leading after transfer", func(s []web.MemberState) bool { name, _ := leader(s); return name == target })

	if err := cluster.Act(ctx, "stop", "m3"); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Act(ctx, "stop", "m3"); err == nil {
		t.Errorf("stopping a stopped member succeeded")
	}
	waitFor(t, cluster, "m3 down", func(s []web.MemberState) bool { return !s[2].Up })
	if err := cluster.Act(ctx, "restart", "m3"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, cluster, "m3 back, following", func(s []web.MemberState) bool { name, _ := leader(s); return s[2].Up && name != "" })

	for _, bad := range [][2]string{{"explode", "m1"}, {"stop", "nobody"}, {"transfer", target}} {
		if err := cluster.Act(ctx, bad[0], bad[1]); err == nil {
			t.Errorf("%s %s succeeded", bad[0], bad[1])
		}
	}
}

// TestStopHandsNothingOver: stopping the whole cluster does not try to
// hand leadership over (every member is stopping: it could only fail and
// log so, as lockstep dev's Ctrl-C used to).
func TestStopHandsNothingOver(t *testing.T) {
	var logs syncbuffer.Buffer
	cluster := startClusterLogging(t, slog.New(slog.NewTextHandler(&logs, nil)))
	waitFor(t, cluster, "a leader", func(states []web.MemberState) bool {
		for _, state := range states {
			if state.Role == "leader" {
				return true
			}
		}
		return false
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cluster.Stop(ctx)
	if strings.Contains(logs.String(), "hand") || strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("stopping the cluster logged a handover or a failure:\n%s", logs.String())
	}
}
