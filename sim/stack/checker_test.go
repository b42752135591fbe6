package stack

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstepdb/lockstep/node"
	"github.com/lockstepdb/lockstep/raft"
)

func newTestRecorder() *recorder { return newRecorder(time.Millisecond, nil) }

func ruleBroken(t *testing.T, r *recorder, rule string) {
	t.Helper()
	if v := r.failed(); v == nil || v.Rule != rule {
		t.Fatalf("violation %v, want rule %q", v, rule)
	}
}

func TestRecorderCatchesDisagreement(t *testing.T) {
	r := newTestRecorder()
	r.propose("a=1", "a", "1")
	r.propose("a=2", "a", "2")
	r.onApply(1, 5, "a=1")
	r.onApply(2, 5, "a=2")
	ruleBroken(t, r, "agreement")
}

func TestRecorderCatchesUnproposedAndRefusedCommands(t *testing.T) {
	r := newTestRecorder()
	r.onApply(1, 1, "a=9")
	ruleBroken(t, r, "validity")

	r = newTestRecorder()
	r.propose("a=1", "a", "1")
	r.refuse("a=1")
	r.onApply(1, 1, "a=1")
	ruleBroken(t, r, "validity")
}

func TestRecorderCatchesAcknowledgementAtTheWrongIndex(t *testing.T) {
	r := newTestRecorder()
	r.propose("a=1", "a", "1")
	r.onApply(1, 3, "a=1")
	r.acknowledge("a=1", 4)
	ruleBroken(t, r, "durability")
}

func TestHistoryCatchesStaleRead(t *testing.T) {
	// A put acknowledged, then a read called after it returned.
	history := func(readValue string) *recorder {
		r := newTestRecorder()
		r.propose("a=1", "a", "1")
		r.onApply(1, 1, "a=1")
		r.acknowledge("a=1", 1)
		r.onRead("a", readValue, r.now())
		return r
	}
	if ok, path, err := history("").checkLinearizable(7, t.TempDir()); ok || err != nil || path == "" {
		t.Fatalf("stale read: linearizable %v, picture %q, error %v", ok, path, err)
	}
	if ok, _, err := history("1").checkLinearizable(7, t.TempDir()); !ok || err != nil {
		t.Fatalf("fresh read: linearizable %v, error %v", ok, err)
	}
}

func TestMachineImageRoundTripAndBadImages(t *testing.T) {
	r := newTestRecorder()
	for _, command := range []string{"a=1", "b=2", "a=3"} {
		r.propose(command, command[:1], command[2:])
	}
	m := newMachine(1, r)
	results := m.Apply([]node.Entry{{Index: 2, Command: []byte("a=1")}, {Index: 3, Command: []byte("b=2")}, {Index: 5, Command: []byte("a=3")}})
	if !slices.Equal(results, []node.Result{uint64(2), uint64(3), uint64(5)}) {
		t.Fatalf("results %v, want the indexes", results)
	}
	image, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(image)
	restored := newMachine(2, r)
	if err := restored.Restore(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(restored.applied(), m.applied()) || restored.value("a") != "3" || restored.value("b") != "2" {
		t.Fatalf("restored %v, want %v", restored.applied(), m.applied())
	}
	if v := r.failed(); v != nil {
		t.Fatal(v)
	}
	for _, bad := range [][]byte{{0x80}, {1}, {1, 5, 'a'}, {1, 0x80}} {
		if err := newMachine(3, r).Restore(bytes.NewReader(bad)); err == nil {
			t.Errorf("image %v accepted", bad)
		}
	}
	// Applying an index again breaks integrity.
	m.Apply([]node.Entry{{Index: 5, Command: []byte("a=3")}})
	ruleBroken(t, r, "integrity")
}

func TestChecksCatchLostAndDivergentSequences(t *testing.T) {
	options := Options{Seed: 1, Nodes: 3}.withDefaults()
	c := newCluster(options, rand.New(rand.NewPCG(1, 2)))
	for command, index := range map[string]uint64{"a=1": 1, "a=2": 2, "a=3": 3} {
		c.recorder.propose(command, "a", command[2:])
		c.recorder.onApply(1, index, command)
		c.recorder.acknowledge(command, index)
	}
	machines := map[raft.NodeID][]appliedCommand{
		1: {{1, "a=1"}, {2, "a=2"}, {3, "a=3"}},
		2: {{1, "a=1"}, {2, "a=2"}},
		3: {{1, "a=1"}, {3, "a=3"}},
	}
	for id, sequence := range machines {
		c.members[id].machine = &machine{id: id, recorder: c.recorder, sequence: sequence}
	}
	c.checkPrefixes()
	if v := c.recorder.failed(); v == nil || v.Rule != "prefix" || !strings.Contains(v.Detail, "node 3") {
		t.Fatalf("violation %v, want node 3's sequence reported as no prefix", v)
	}
	c.recorder.violation = nil
	c.checkDurability(raft.Membership{Voters: []raft.NodeID{1, 2}})
	if v := c.recorder.failed(); v == nil || v.Rule != "durability" || !strings.Contains(v.Detail, "index 3") {
		t.Fatalf("violation %v, want index 3 missing on node 2", v)
	}
}

// TestNetworkKeepsLinkOrderAndHonorsFaults: without faults each link
// delivers in order; a cut link delivers nothing, even what was in flight
// when it was cut; a drop rate of 1 loses everything.
func TestNetworkKeepsLinkOrderAndHonorsFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		network := NewNetwork(1, time.Millisecond)
		var (
			mu       sync.Mutex
			received []uint64
		)
		receiver := network.Transport(2)
		receiver.Start(func(m raft.Message) {
			mu.Lock()
			defer mu.Unlock()
			received = append(received, m.Commit)
		})
		// deliveries waits out the network's latency and returns what
		// arrived so far.
		deliveries := func() []uint64 {
			time.Sleep(10 * time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(received)
		}
		sender := network.Transport(1)
		sender.Start(func(raft.Message) {})
		send := func(commits ...uint64) {
			for _, commit := range commits {
				sender.Send([]raft.Message{{Type: raft.MessageHeartbeat, From: 1, To: 2, Commit: commit}})
			}
		}
		send(1, 2, 3, 4, 5)
		if got := deliveries(); !slices.Equal(got, []uint64{1, 2, 3, 4, 5}) {
			t.Fatalf("received %v, want 1..5 in order", got)
		}
		send(6)
		network.Cut(1, 2)
		deliveries()
		network.Heal()
		network.SetFaults(1, 0, 0, 0)
		send(7)
		if got := deliveries(); len(got) != 5 {
			t.Fatalf("received %v after a cut and a drop rate of 1", got)
		}
		network.SetFaults(0, 0, 0, 0)
		send(8)
		if got := deliveries(); !slices.Equal(got, []uint64{1, 2, 3, 4, 5, 8}) {
			t.Fatalf("received %v, want 8 after healing", got)
		}
	})
}

// TestStalledClusterIsALivenessViolation: with two of three nodes down
// for good, settle must report liveness, with each node's state.
func TestStalledClusterIsALivenessViolation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		options := Options{Seed: 1, Nodes: 3, LivenessTicks: 100}.withDefaults()
		c := newCluster(options, rand.New(rand.NewPCG(1, 2)))
		c.start(c.members[1])
		c.retire(c.members[2])
		c.retire(c.members[3])
		if _, ok := c.settle(); ok {
			t.Fatal("a lone node out of three settled")
		}
		v := c.recorder.failed()
		if v == nil || v.Rule != "liveness" {
			t.Fatalf("violation %v, want liveness", v)
		}
		for _, want := range []string{"node 1 ", "term ", "voters [1 2 3]", "node 2 retired", "node 3 retired"} {
			if !strings.Contains(v.Detail, want) {
				t.Errorf("detail %q lacks %q", v.Detail, want)
			}
		}
		c.stopAll()
	})
}

// TestSettleRestartsANodeThatStoppedAfterTheHeal: a disk fault can stop a
// node after heal has looked (a background snapshot save or an
// asynchronous log write reports it later); settle must restart it, as a
// supervisor would, rather than wait for a stopped node to answer.
func TestSettleRestartsANodeThatStoppedAfterTheHeal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		options := Options{Seed: 1, Nodes: 3, LivenessTicks: 400}.withDefaults()
		c := newCluster(options, rand.New(rand.NewPCG(1, 2)))
		for _, m := range c.sortedMembers() {
			c.start(m)
		}
		c.heal()
		// Every member's next fsync fails: whichever syncs first stops.
		for _, m := range c.sortedMembers() {
			m.failSync.Store(true)
		}
		membership, ok := c.settle()
		if !ok {
			t.Fatalf("did not settle: %v", c.recorder.failed())
		}
		if len(membership.Voters) != 3 {
			t.Fatalf("membership %v", membership)
		}
		c.stopAll()
	})
}

// TestStartOnAnInjectedFsyncFailureIsNoViolation: a disk fault meant for
// the running node can meet its restart, when a crash came first; the node
// rightly refuses to start, stays down, and starts on the next try.
func TestStartOnAnInjectedFsyncFailureIsNoViolation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		options := Options{Seed: 1, Nodes: 3}.withDefaults()
		c := newCluster(options, rand.New(rand.NewPCG(1, 2)))
		m := c.members[1]
		m.failSync.Store(true)
		c.start(m)
		if v := c.recorder.failed(); v != nil {
			t.Fatalf("a start on an injected fsync failure was a violation: %v", v)
		}
		if up, _ := c.state(m); up {
			t.Fatal("the node started although its fsync failed")
		}
		c.start(m)
		if up, _ := c.state(m); !up {
			t.Fatalf("the node did not start on the next try: %v", c.recorder.failed())
		}
		c.stopAll()
	})
}

// TestHealDisarmsAPowerFailure: a crash armed for a node's next fsync can
// still be armed when the faulty phase ends (its follow-up, which disarms
// it, was not yet due), on a node that is down by then; the heal restarts
// that node and must not let the armed crash meet the restart, or the
// node stays down for good and a two-voter configuration can never again
// elect a leader (seed 112 of lockstep sim --stack, a liveness violation).
func TestHealDisarmsAPowerFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		options := Options{Seed: 1, Nodes: 3}.withDefaults()
		c := newCluster(options, rand.New(rand.NewPCG(1, 2)))
		// Node 1 is down with the crash armed. It has never started, so
		// its start must write (create its log) and fsync, as a restart
		// that catches its log up with a snapshot does.
		m := c.members[1]
		m.powerFailure.Store(&powerFailure{})
		c.start(c.members[2])
		c.start(c.members[3])
		c.heal()
		up, _ := c.state(m)
		c.stopAll()
		if !up {
			t.Fatalf("the heal did not bring node 1 back: %v", c.recorder.failed())
		}
	})
}

// TestStartOnAFullDiskIsNoViolation: a node restarted while its disk is
// full (fillDisk) may refuse to start; it stays down, without a
// violation, and starts once space returns.
func TestStartOnAFullDiskIsNoViolation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		options := Options{Seed: 1, Nodes: 3}.withDefaults()
		c := newCluster(options, rand.New(rand.NewPCG(1, 2)))
		m := c.members[1]
		m.disk.SetCapacity(1) // nothing fits: not even the log's first segment
		c.start(m)
		if v := c.recorder.failed(); v != nil {
			t.Fatalf("a start on a full disk was a violation: %v", v)
		}
		if up, _ := c.state(m); up {
			t.Fatal("the node started on a disk with no space for its log")
		}
		c.heal()
		if up, _ := c.state(m); !up {
			t.Fatalf("the node did not start once space returned: %v", c.recorder.failed())
		}
		c.stopAll()
	})
}

// TestStoppingOnAFullDiskIsAViolation: with asynchronous persistence (the
// server's mode) a full disk must pause a node, not stop it: a node found
// stopped with a no-space error is a violation; without it, or with
// another error, it is not.
func TestStoppingOnAFullDiskIsAViolation(t *testing.T) {
	noSpace := fmt.Errorf("node 1: write log: %w", &fs.PathError{Op: "write", Path: "/node/wal/x", Err: syscall.ENOSPC})
	for _, test := range []struct {
		name  string
		async bool
		err   error
		want  bool
	}{
		{"async, no space", true, noSpace, true},
		{"sync, no space", false, noSpace, false},
		{"async, injected fsync failure", true, errInjected, false},
	} {
		c := newCluster(Options{Seed: 1, Nodes: 3}.withDefaults(), rand.New(rand.NewPCG(1, 2)))
		c.profile.asyncPersistence = test.async
		c.noteStopped(c.members[1], test.err)
		if v := c.recorder.failed(); (v != nil && v.Rule == "disk-full") != test.want {
			t.Errorf("%s: violation %v, want a disk-full violation: %v", test.name, v, test.want)
		}
	}
}
