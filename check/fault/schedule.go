package fault

import (
	"math/rand/v2"
	"time"

	"github.com/lockstepdb/lockstep/check/cluster"
	"github.com/lockstepdb/lockstep/check/proxy"
)

// Shape is the shape of a network partition.
type Shape int

// The partition shapes.
const (
	// MajorityMinority splits the members into a majority and a minority.
	MajorityMinority Shape = iota
	// IsolateLeader cuts the leader off from every other member.
	IsolateLeader
	// Bridge splits the others into two halves that cannot talk, with one
	// member that talks to both.
	Bridge
	// FromLeaderLost loses every message the leader sends; it still hears.
	FromLeaderLost
	// ToLeaderLost loses every message sent to the leader; it still speaks.
	ToLeaderLost
	shapeCount
)

func (shape Shape) String() string {
	return [...]string{"majority/minority", "isolated leader", "bridge", "leader cannot speak", "leader cannot hear"}[shape]
}

// Plan is one fault as the seed decides it. What depends on the cluster at
// the time (which member leads) is resolved when it is injected, so a seed
// fixes the sequence of kinds, targets by position, shapes and durations,
// but not the run's exact timing.
type Plan struct {
	Kind Kind
	// Quiet is the time to wait, fault-free, before injecting.
	Quiet time.Duration
	// Hold is how long the fault lasts before it is healed.
	Hold time.Duration
	// TargetLeader aims the fault at the leader rather than TargetIndex.
	TargetLeader bool
	// TargetIndex picks a member by position (modulo the member count).
	TargetIndex int
	// Shape and Mode describe a partition.
	Shape Shape
	Mode  proxy.Mode
	// Graceful makes a restart use SIGTERM instead of SIGKILL.
	Graceful bool
	// Choice seeds the choices that need more randomness (partition sides).
	Choice uint64
}

// Schedule is an endless, seeded sequence of Plans. It deals the kinds
// like cards: every requested kind once, in a seeded order, then again in
// another, so that even a short run sees every kind (a uniformly random
// pick left a 1-minute run with five kinds short of one or two). A kind
// that could not be injected is dealt again before the next round
// (Again). Not safe for concurrent use.
type Schedule struct {
	random *rand.Rand
	kinds  []Kind
	// deck holds the kinds still to deal in this round, next first.
	deck []Kind
	// again marks the kinds dealt again in this round: once each, so a
	// kind that can never be injected does not crowd out the others.
	again map[Kind]bool
}

// NewSchedule returns the schedule of seed over kinds (which must not be
// empty).
func NewSchedule(seed int64, kinds []Kind) *Schedule {
	return &Schedule{random: rand.New(rand.NewPCG(uint64(seed), 0x6c6f636b73746570)), kinds: kinds, again: map[Kind]bool{}}
}

// between returns a duration uniformly in [low, high].
func (schedule *Schedule) between(low, high time.Duration) time.Duration {
	return low + time.Duration(schedule.random.Int64N(int64(high-low)+1))
}

// Again deals kind once more in the current round, after the kinds still
// to deal: the injector calls it for a fault that could not be injected,
// so that every requested kind still happens.
// A kind is dealt again at most once per round.
func (schedule *Schedule) Again(kind Kind) {
	if !schedule.again[kind] {
		schedule.again[kind] = true
		schedule.deck = append(schedule.deck, kind)
	}
}

// deal returns the next kind, starting a new shuffled round when the deck
// is empty.
func (schedule *Schedule) deal() Kind {
	if len(schedule.deck) == 0 {
		schedule.again = map[Kind]bool{}
		schedule.deck = append(schedule.deck, schedule.kinds...)
		schedule.random.Shuffle(len(schedule.deck), func(i, j int) {
			schedule.deck[i], schedule.deck[j] = schedule.deck[j], schedule.deck[i]
		})
	}
	kind := schedule.deck[0]
	schedule.deck = schedule.deck[1:]
	return kind
}

// Next returns the next fault.
func (schedule *Schedule) Next() Plan {
	plan := Plan{
		Kind:         schedule.deal(),
		Quiet:        schedule.between(time.Second, 3*time.Second),
		TargetLeader: schedule.random.IntN(2) == 0,
		TargetIndex:  schedule.random.IntN(1 << 16),
		Shape:        Shape(schedule.random.IntN(int(shapeCount))),
		Mode:         proxy.Stall,
		Graceful:     schedule.random.IntN(2) == 0,
		Choice:       schedule.random.Uint64(),
	}
	if schedule.random.IntN(2) == 0 {
		plan.Mode = proxy.Refuse
	}
	switch plan.Kind {
	case Kill:
		plan.Hold = schedule.between(500*time.Millisecond, 3*time.Second)
	case Pause:
		// Longer than the election timeout, so the others elect a new
		// leader (if it led) and the member wakes up into a newer term.
		plan.Hold = schedule.between(cluster.ElectionTimeout*3/2, cluster.ElectionTimeout*4)
	case Partition:
		plan.Hold = schedule.between(2*time.Second, 6*time.Second)
	case Member:
		plan.Hold = schedule.between(time.Second, 3*time.Second)
	case Restart:
		plan.Hold = schedule.between(500*time.Millisecond, 2*time.Second)
	case DiskFull:
		// Several election timeouts: a full leader hands over within a
		// second, a full follower's store fails its next flush (at its
		// next snapshot, every few seconds in a check) and its Raft log
		// its next segment, while the others commit without it.
		plan.Hold = schedule.between(cluster.ElectionTimeout*3, cluster.ElectionTimeout*8)
	}
	return plan
}
