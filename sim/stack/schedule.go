package stack

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// pending is a scheduled follow-up (a restart, a heal) due at a tick.
type pending struct {
	due  int
	what func()
}

// schedule is the driver of the faulty phase: it owns the run's seeded
// random source and its tick count, and runs on one goroutine.
type schedule struct {
	cluster *cluster
	random  *rand.Rand
	now     int // ticks since the run started, as the driver counts them
	later   []pending
	// partitioned is true while a partition or cut is in place.
	partitioned bool
	// admin runs transfers and membership changes one at a time, so that
	// faults keep coming while one is under way; a request finding it busy
	// is skipped.
	admin chan func()
	// transfer and changeMembership are the admin's operations.
	transfer, changeMembership func()
}

// wait lets n ticks pass, running follow-ups as they fall due.
func (s *schedule) wait(n int) {
	for range n {
		time.Sleep(s.cluster.options.TickInterval)
		s.now++
		slices.SortStableFunc(s.later, func(a, b pending) int { return a.due - b.due })
		for len(s.later) > 0 && s.later[0].due <= s.now {
			next := s.later[0]
			s.later = s.later[1:]
			next.what()
		}
	}
}

// after schedules a follow-up in n ticks.
func (s *schedule) after(n int, what func()) {
	s.later = append(s.later, pending{due: s.now + n, what: what})
}

// run injects options.Operations events, one every 1 to 8 ticks. The
// follow-ups not yet due when it ends are dropped: the heal that comes
// next restarts every node that is down and disarms every disk fault.
func (s *schedule) run() {
	c := s.cluster
	for range c.options.Operations {
		if c.recorder.failed() != nil {
			return
		}
		s.wait(1 + s.random.IntN(8))
		s.inject()
	}
}

// inject draws and performs one event.
func (s *schedule) inject() {
	c := s.cluster
	switch draw := s.random.IntN(100); {
	case draw < 18:
		s.crash()
	case draw < 24:
		s.diskFault()
	case draw < 38:
		s.partition()
	case draw < 44:
		s.cutOneWay()
	case draw < 56:
		s.changeMessageFaults()
	case draw < 68:
		s.request(s.transfer)
	case draw < 82:
		if c.options.Nodes >= 3 {
			s.request(s.changeMembership)
		}
	case draw < 87:
		s.fillDisk()
	default:
		// A quiet spell: the clients have the cluster to themselves.
	}
}

// request hands an operation to the admin goroutine unless it is busy.
func (s *schedule) request(operation func()) {
	select {
	case s.admin <- operation:
	default:
	}
}

// downMembers counts members that are down and not retired: the schedule
// keeps it within what the cluster tolerates, f of 2f+1.
func (s *schedule) downMembers() int {
	down := 0
	for _, m := range s.cluster.sortedMembers() {
		if up, retired := s.cluster.state(m); !up && !retired {
			down++
		}
	}
	return down
}

// victim picks a random running node to crash, or nil if f members are
// down already.
func (s *schedule) victim() *member {
	up := s.cluster.up()
	if len(up) == 0 || s.downMembers() >= (s.cluster.options.Nodes-1)/2 {
		return nil
	}
	return s.cluster.member(up[s.random.IntN(len(up))].id)
}

// crash crashes a random running node, at once or (half the time) during
// its next fsync, and restarts it later. A crash at once falls between
// events, when every write has long been synced (under the virtual clock
// nothing blocks between a write and its fsync); one during an fsync tears
// what that fsync was making durable (a random subset of the unsynced
// sectors survives, none among the outcomes), the moment torn writes
// matter to the log.
func (s *schedule) crash() {
	c := s.cluster
	victim := s.victim()
	if victim == nil {
		return
	}
	if s.random.IntN(2) == 0 {
		victim.powerFailure.Store(&powerFailure{torn: rand.New(rand.NewPCG(s.random.Uint64(), s.random.Uint64()))})
		c.recorder.tracef("node %d: the power will fail during its next fsync", victim.id)
		c.counts.crashes.Add(1)
		s.after(2+s.random.IntN(9), func() {
			victim.powerFailure.Store(nil)
			c.crash(victim, nil) // stops the node if its fsync has not already
			s.after(3+s.random.IntN(20), func() { s.restart(victim) })
		})
		return
	}
	var torn *rand.Rand
	if s.random.IntN(2) == 0 {
		torn = rand.New(rand.NewPCG(s.random.Uint64(), s.random.Uint64()))
	}
	c.crash(victim, torn)
	c.counts.crashes.Add(1)
	s.after(3+s.random.IntN(38), func() { s.restart(victim) })
}

// restart starts a crashed member again unless it was retired meanwhile.
func (s *schedule) restart(m *member) {
	c := s.cluster
	if up, retired := c.state(m); up || retired {
		return
	}
	c.start(m)
	c.counts.restarts.Add(1)
}

// diskFault makes a running node's next fsync fail: the node must stop
// rather than act on a write that may be lost. 2 to 10 ticks later the
// node crashes (if the failure has not stopped it, the crash does) and
// restarts later. Half the time a supervisor restarts its process first,
// the machine keeping its power (restartProcess), and the power fails 1 to
// 10 ticks after that: the new process reads back writes the old one never
// synced, and must make them durable before it builds on them (wal.Open;
// without that, seeds lost acknowledged entries or found a hole in the
// log after the power failure).
func (s *schedule) diskFault() {
	c := s.cluster
	victim := s.victim()
	if victim == nil {
		return
	}
	victim.failSync.Store(true)
	c.counts.diskFaults.Add(1)
	c.recorder.tracef("node %d: its next fsync will fail", victim.id)
	s.after(2+s.random.IntN(9), func() {
		victim.failSync.Store(false)
		crash := func() {
			c.crash(victim, nil)
			c.counts.crashes.Add(1)
			s.after(3+s.random.IntN(20), func() { s.restart(victim) })
		}
		if s.random.IntN(2) == 0 {
			crash()
			return
		}
		c.restartProcess(victim)
		c.counts.processRestarts.Add(1)
		s.after(1+s.random.IntN(10), crash)
	})
}

// fillDisk fills a running node's disk: for 10 to 80 ticks at most three
// sectors more fit on it (vfs.MemFS.SetCapacity), then space returns. A full
// disk may stop a node only where the data may be lost (the log's records
// and fsyncs fail-stop, as on a real disk a failed write-back does): the
// log's next segment, a snapshot being saved or received, wait for space
// and resume by themselves. A node that stopped anyway is restarted when
// space returns, and one that cannot start on the full disk stays down
// until then.
func (s *schedule) fillDisk() {
	c := s.cluster
	victim := s.victim()
	if victim == nil {
		return
	}
	c.mu.Lock()
	disk := victim.disk
	c.mu.Unlock()
	disk.SetCapacity(disk.Used() + int64(s.random.IntN(2))*vfs.SectorSize)
	refusedBefore := disk.NoSpaceRefusals()
	c.counts.diskFulls.Add(1)
	c.recorder.tracef("node %d: its disk is full", victim.id)
	s.after(10+s.random.IntN(71), func() {
		disk.SetCapacity(0)
		refused := disk.NoSpaceRefusals() - refusedBefore
		c.counts.noSpaceRefusals.Add(refused)
		c.recorder.tracef("node %d: space returns to its disk (%d writes refused meanwhile)", victim.id, refused)
		c.restartStopped(victim)
		s.restart(victim)
	})
}

// partition splits the members in two (a random split, or the leader
// alone) and heals 5 to 50 ticks later.
func (s *schedule) partition() {
	if s.partitioned {
		return
	}
	c := s.cluster
	members := c.sortedMembers()
	var side, otherSide []raft.NodeID
	ctx, cancel := c.timeout(electionTicks)
	leader, _, hasLeader := c.leader(ctx)
	cancel()
	isolateLeader := hasLeader && s.random.IntN(3) == 0
	for _, m := range members {
		if (isolateLeader && m.id == leader.id) || (!isolateLeader && s.random.IntN(2) == 0) {
			side = append(side, m.id)
		} else {
			otherSide = append(otherSide, m.id)
		}
	}
	if len(side) == 0 || len(otherSide) == 0 {
		return
	}
	c.network.Partition(side, otherSide)
	s.healLater(fmt.Sprintf("partition %v | %v", side, otherSide))
}

// cutOneWay cuts one direction of one link and heals 5 to 50 ticks later.
func (s *schedule) cutOneWay() {
	if s.partitioned {
		return
	}
	c := s.cluster
	members := c.sortedMembers()
	from := members[s.random.IntN(len(members))].id
	to := members[s.random.IntN(len(members))].id
	if from == to {
		return
	}
	c.network.Cut(from, to)
	s.healLater(fmt.Sprintf("cut %d -> %d", from, to))
}

// healLater records a partition or cut just made, and heals the network 5
// to 50 ticks later.
func (s *schedule) healLater(description string) {
	s.cluster.counts.partitions.Add(1)
	s.cluster.recorder.tracef("%s", description)
	s.partitioned = true
	s.after(5+s.random.IntN(46), s.heal)
}

func (s *schedule) heal() {
	s.cluster.network.Heal()
	s.partitioned = false
	s.cluster.recorder.tracef("network healed")
}

// changeMessageFaults draws new loss, duplication and delay rates, or
// turns them off (one time in three).
func (s *schedule) changeMessageFaults() {
	c := s.cluster
	if s.random.IntN(3) == 0 {
		c.network.SetFaults(0, 0, 0, 0)
		c.recorder.tracef("message faults off")
		return
	}
	drop, duplicate, delay := s.random.Float64()*0.1, s.random.Float64()*0.05, s.random.Float64()*0.2
	maxDelay := c.ticks(1 + s.random.IntN(3*electionTicks))
	c.network.SetFaults(drop, duplicate, delay, maxDelay)
	c.recorder.tracef("message faults: drop %.3f, duplicate %.3f, delay %.3f up to %v", drop, duplicate, delay, maxDelay)
}
