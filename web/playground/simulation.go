// Package playground is the model behind the browser playground: a few
// raft.Core instances (the same core lockstep runs) on a simulated network
// with simulated time, advanced one event at a time from a seed, so a run
// replays exactly. Scenarios script faults and client requests on top.
//
// It is pure Go with no I/O, compiled both natively (tests) and to
// WebAssembly (web/wasm). A Simulation is not safe for concurrent use.
package playground

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/lockstepdb/lockstep/raft"
)

// Simulated time, in units: each node ticks every tickUnits (ten times
// faster while the scenario hurries it), and a message takes between
// minLatency and maxLatency units to arrive.
const (
	tickUnits     = 10
	minLatency    = 4
	maxLatency    = 9
	electionTicks = 10
)

// simNode is one member: its core, the storage playing its disk, and what
// it applied.
type simNode struct {
	id       raft.NodeID
	core     *raft.Core
	storage  *raft.MemoryStorage
	applied  []raft.Entry
	down     bool
	frozen   bool // its clock is stopped (scenarios pick who times out)
	nextTick uint64
	spare    bool // started outside the cluster (joins later)
}

// flight is a message on its way.
type flight struct {
	message raft.Message
	sent    uint64
	arrive  uint64
	order   uint64
}

// Simulation is one run: nodes, messages in flight, time and the scenario
// being played.
type Simulation struct {
	scenario  *Scenario
	random    *rand.Rand
	seed      uint64
	nodes     []*simNode
	flights   []*flight
	sentCount uint64
	now       uint64
	steps     int
	// cut[from][to] blocks that direction (checked at delivery, so it
	// catches messages already on their way).
	cut map[raft.NodeID]map[raft.NodeID]bool
	// drop and rewrite, when set by a scenario stage, act on messages as
	// they are sent.
	drop    func(raft.Message) bool
	rewrite func(raft.Message) raft.Message
	// stage is the next scenario stage to run; doneAt the time the last
	// one ran (the run ends settleUnits later).
	stage    int
	doneAt   uint64
	finished bool
	captions []Caption
	// proposals numbers client requests, for their labels.
	proposals int
	// memo carries values between a scenario's stages (the leader it
	// chose, the index of an entry).
	memo map[string]uint64
}

// Caption is a line of narration, shown when its step is reached.
type Caption struct {
	Step int    `json:"step"`
	Time uint64 `json:"time"`
	Text string `json:"text"`
}

// New starts the named scenario with seed. Unknown scenarios are an error.
func New(name string, seed uint64) (*Simulation, error) {
	scenario := FindScenario(name)
	if scenario == nil {
		return nil, fmt.Errorf("playground: no scenario %q", name)
	}
	s := &Simulation{
		scenario: scenario, seed: seed, random: rand.New(rand.NewPCG(seed, 0x10c5)),
		cut: map[raft.NodeID]map[raft.NodeID]bool{}, memo: map[string]uint64{},
	}
	var voters []raft.NodeID
	for i := 1; i <= scenario.Voters; i++ {
		voters = append(voters, raft.NodeID(i))
	}
	for i := 1; i <= scenario.Voters+scenario.Spares; i++ {
		n := &simNode{id: raft.NodeID(i), storage: raft.NewMemoryStorage(), spare: i > scenario.Voters}
		// Clocks are out of phase, as real ones are.
		n.nextTick = 1 + s.random.Uint64N(tickUnits)
		s.nodes = append(s.nodes, n)
		if err := s.boot(n, voters); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// boot (re)creates a node's core from its storage, as a restart does.
func (s *Simulation) boot(n *simNode, voters []raft.NodeID) error {
	config := raft.Config{
		ID: n.id, Storage: n.storage, Random: rand.NewPCG(s.seed, uint64(n.id)<<32|uint64(s.now)),
		InitialMembership: raft.Membership{Voters: voters}, ElectionTicks: electionTicks, HeartbeatTicks: 1,
	}
	if n.spare {
		config.InitialMembership, config.Join = raft.Membership{}, true
	}
	if len(n.applied) > 0 {
		config.Applied = n.applied[len(n.applied)-1].Index
	}
	if s.scenario.Configure != nil {
		s.scenario.Configure(&config)
	}
	core, err := raft.NewCore(config)
	if err != nil {
		return fmt.Errorf("playground: start node %d: %w", n.id, err)
	}
	n.core = core
	return nil
}

// node returns the node with id (1-based).
func (s *Simulation) node(id raft.NodeID) *simNode { return s.nodes[id-1] }

// Step advances the run by one event: a scenario stage, a message
// delivery or a clock tick. It reports false once the run has finished.
func (s *Simulation) Step() bool {
	if s.finished {
		return false
	}
	s.steps++
	if s.runStage() {
		return true
	}
	s.advance()
	if s.stage >= len(s.scenario.Stages) && s.now >= s.doneAt+s.scenario.settle() {
		s.finished = true
	}
	if s.steps >= maxSteps {
		s.finished = true
		s.narrate("the scenario did not finish within %d steps", maxSteps)
	}
	return true
}

// maxSteps bounds a run whose stage never comes true (an unlucky seed).
const maxSteps = 6000

// runStage runs the next stage if its condition holds.
func (s *Simulation) runStage() bool {
	if s.stage >= len(s.scenario.Stages) {
		return false
	}
	stage := s.scenario.Stages[s.stage]
	if stage.When != nil && !stage.When(s) {
		return false
	}
	s.stage++
	if stage.Do != nil {
		stage.Do(s)
	}
	if stage.Say != "" {
		s.narrate("%s", s.expand(stage.Say))
	}
	s.doneAt = s.now
	s.processAll()
	return true
}

// advance jumps to the earliest event and handles it: deliveries before
// ticks at equal times, each in the order it was scheduled.
func (s *Simulation) advance() {
	var next *flight
	for _, f := range s.flights {
		if next == nil || f.arrive < next.arrive || (f.arrive == next.arrive && f.order < next.order) {
			next = f
		}
	}
	var ticker *simNode
	for _, n := range s.nodes {
		if n.down || n.frozen {
			continue
		}
		if ticker == nil || n.nextTick < ticker.nextTick {
			ticker = n
		}
	}
	switch {
	case next != nil && (ticker == nil || next.arrive <= ticker.nextTick):
		s.now = max(s.now, next.arrive)
		s.flights = slices.DeleteFunc(s.flights, func(f *flight) bool { return f == next })
		s.deliver(next.message)
	case ticker != nil:
		s.now = max(s.now, ticker.nextTick)
		ticker.nextTick = s.now + tickUnits
		ticker.core.Tick()
	default:
		// Every clock is stopped and nothing is in flight: only time
		// passes (a stage may be waiting for it).
		s.now += tickUnits
	}
	s.processAll()
}

// deliver hands a message to its recipient unless the link is cut or the
// recipient is down.
func (s *Simulation) deliver(m raft.Message) {
	to := s.node(m.To)
	if to.down || s.cut[m.From][m.To] {
		return
	}
	_ = to.core.Step(m) // invalid messages are the core's to refuse
}

// processAll handles every node's Ready, as the runtime does: persist,
// send, apply, advance. The disk here is instantaneous.
func (s *Simulation) processAll() {
	for again := true; again; {
		again = false
		for _, n := range s.nodes {
			if n.down || !n.core.HasReady() {
				continue
			}
			again = true
			ready := n.core.Ready()
			if !ready.Snapshot.IsEmpty() {
				_ = n.storage.ApplySnapshot(ready.Snapshot)
			}
			if len(ready.Entries) > 0 {
				_ = n.storage.Append(ready.Entries)
			}
			if !ready.HardState.IsEmpty() {
				n.storage.SetHardState(ready.HardState)
			}
			for _, m := range ready.SendNow {
				s.send(m)
			}
			for _, m := range ready.SendAfterPersist {
				s.send(m)
			}
			n.applied = append(n.applied, ready.CommittedEntries...)
			n.core.Advance(ready)
		}
	}
}

// send puts a message on the network, through the scenario's filters.
func (s *Simulation) send(m raft.Message) {
	if s.drop != nil && s.drop(m) {
		return
	}
	if s.rewrite != nil {
		m = s.rewrite(m)
	}
	s.sentCount++
	latency := minLatency + s.random.Uint64N(maxLatency-minLatency+1)
	s.flights = append(s.flights, &flight{message: m, sent: s.now, arrive: s.now + latency, order: s.sentCount})
}

func (s *Simulation) narrate(format string, args ...any) {
	s.captions = append(s.captions, Caption{Step: s.steps, Time: s.now, Text: fmt.Sprintf(format, args...)})
}

// Finished reports whether the run has ended.
func (s *Simulation) Finished() bool { return s.finished }

// Steps returns the number of steps taken.
func (s *Simulation) Steps() int { return s.steps }
