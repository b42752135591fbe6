package main

import (
	"fmt"
	"strings"

	"github.com/lockstepdb/lockstep/loadgen"
)

// roleMembers is every member's CPU together, for the budget of
// writeReach (perOperation sums them).
const roleMembers = "all members"

// throughputGoal is one of issue 15's "2× etcd's rate" goals, for the
// budget of writeReach.
type throughputGoal struct {
	text     string // what the goal asks
	workload string
	rate     metric // throughput or eventRate
	unit     string // "op" or "event"
}

var throughputGoals = []throughputGoal{
	{"put, 1,000 clients: 2× etcd's throughput", "put-1000-clients", throughput, "op"},
	{"linearizable range, 1,000 clients: 2× etcd's throughput", "range-1000-clients", throughput, "op"},
	{"watch fan-out: 2× etcd's events/s", "watch-fanout", eventRate, "event"},
}

// writeReach says, from the figures of this run alone, whether each
// throughput goal of issue 15 is within the machine's reach, and what it
// would take. The load generator shares the cores with the members, and
// under 1,000 clients every process is busy, so the rate is bounded by
// the cores over the CPU all processes spend per operation: at twice
// etcd's rate, they may spend cores ÷ (2 × etcd's rate) together. The
// load generator takes its share first; the floor shows what a server
// spends only to answer the calls, with no consensus, storage or
// replication. A goal above the floor's own rate is out of reach by
// definition, whatever the server does.
func (r *results) writeReach(b *strings.Builder) {
	var rows []string
	for _, goal := range throughputGoals {
		budget, ok := r.budget(goal)
		if !ok {
			continue
		}
		rows = append(rows, fmt.Sprintf("| %s | %s/s | %s | %s | %s | %s | %s | %s | %s |",
			goal.text, formatCount(budget.target), formatMicroseconds(budget.allowed), formatMicroseconds(budget.generator),
			formatMicroseconds(budget.members), formatMicroseconds(budget.floorServer), formatMicroseconds(budget.lockstepMembers),
			formatSpreadMedian(budget.etcdMembers, formatMicroseconds),
			reachVerdict(budget.target, budget.floorRate, budget.members, budget.floorServer, budget.lockstepMembers, goal.unit)))
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(b, "## What this machine allows\n\n"+
		"Under 1,000 clients every process is busy, so a rate is bounded by the %d cores over the CPU that all processes (the members and the load generator, which share the cores) spend per operation. "+
		"At twice etcd's rate they may spend %d cores ÷ that rate together; the load generator takes its share first (its figure in lockstep's rounds). "+
		"The floor's one process shows what a server spends only to answer the calls, so what is left after it is all three members may spend on consensus, storage and replication. "+
		"CPU per operation of watch fan-out is per event delivered.\n\n", r.Machine.Cores, r.Machine.Cores)
	b.WriteString("| goal | rate | CPU per op it allows, all processes | load generator | left for the members | floor's server | lockstep's members now | etcd's members now | reach |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range rows {
		b.WriteString(row + "\n")
	}
	b.WriteString("\n")
	r.writeFanoutLatencyReach(b)
	r.writeLatencyReach(b)
}

// reachBudget is what a throughput goal allows per operation, from one
// run's figures (medians; µs of CPU per operation): see writeReach.
type reachBudget struct {
	target    float64 // the goal's rate: twice etcd's
	floorRate float64 // the floor's own rate
	// allowed is all processes' CPU per operation at the target rate;
	// members what is left of it after the load generator's.
	allowed, generator, members float64
	floorServer                 float64 // what the floor's server spends
	lockstepMembers             float64 // what lockstep's members spend now
	etcdMembers                 spread
}

// budget returns goal's budget, or false when the run lacks a figure it
// needs (etcd, the floor, or lockstep's CPU).
func (r *results) budget(goal throughputGoal) (reachBudget, bool) {
	if !r.compared() || !r.ran("floor") || r.Machine.Cores <= 0 {
		return reachBudget{}, false
	}
	cpu := func(system, role string) spread {
		return r.figure(system, goal.workload, cpuMetric(role, role))
	}
	etcd := r.figure("etcd", goal.workload, goal.rate)
	floor := r.figure("floor", goal.workload, goal.rate)
	generator, floorServer, lockstepMembers := cpu("lockstep", roleGenerator), cpu("floor", roleLeader), cpu("lockstep", roleMembers)
	if etcd.Count == 0 || floor.Count == 0 || generator.Count == 0 || floorServer.Count == 0 || lockstepMembers.Count == 0 {
		return reachBudget{}, false
	}
	b := reachBudget{
		target: 2 * etcd.Median, floorRate: floor.Median, generator: generator.Median,
		floorServer: floorServer.Median, lockstepMembers: lockstepMembers.Median, etcdMembers: cpu("etcd", roleMembers),
	}
	b.allowed = float64(r.Machine.Cores) * 1e6 / b.target // every process together
	b.members = b.allowed - b.generator
	return b, true
}

// writeFanoutLatencyReach sets watch fan-out's delivery p99 goal (half
// etcd's) beside the floor's own: a floor that delivers each event the
// moment the put arrives still queues 10,000 deliveries per put behind
// one another, so a goal below its p99 is out of reach whatever the
// server does.
func (r *results) writeFanoutLatencyReach(b *strings.Builder) {
	etcd := r.figure("etcd", "watch-fanout", fanoutMetrics[3])
	floor := r.figure("floor", "watch-fanout", fanoutMetrics[3])
	if etcd.Count == 0 || floor.Count == 0 {
		return
	}
	goal := etcd.Median / 2
	verdict := "within the floor's reach"
	if goal < floor.Median {
		verdict = "below the floor's own: out of reach"
	}
	fmt.Fprintf(b, "Watch fan-out: the goal, half etcd's delivery p99, is %s; the floor's delivery p99 is %s: %s.\n\n",
		loadgen.FormatMilliseconds(goal), loadgen.FormatMilliseconds(floor.Median), verdict)
}

// reachVerdict says whether a rate of target is within reach, given the
// floor's rate and the members' CPU budget per op against the floor's
// server and lockstep's members now.
func reachVerdict(target, floorRate, members, floorServer, lockstepNow float64, unit string) string {
	switch {
	case target > floorRate:
		return fmt.Sprintf("out of reach: above the floor's own %s/s, which does no work at all", formatCount(floorRate))
	case lockstepNow <= members:
		return fmt.Sprintf("within reach by CPU: lockstep's members spend %s per %s, inside their share", formatMicroseconds(lockstepNow), unit)
	case members <= floorServer:
		return fmt.Sprintf("out of reach: the floor alone spends %s per %s, more than the members' whole share", formatMicroseconds(floorServer), unit)
	default:
		return fmt.Sprintf("%s per %s left beyond the floor's work for consensus, storage and two followers; lockstep's members spend %s beyond it now (%.0f%% of it would have to go)",
			formatMicroseconds(members-floorServer), unit, formatMicroseconds(lockstepNow-floorServer), 100*(1-(members-floorServer)/(lockstepNow-floorServer)))
	}
}

// writeLatencyReach sets put-1's p50 goal (half etcd's) beside the
// physical path: the floor's p50 (the protocol alone, the client's and the
// server's wake included) plus the disk's part of a replicated write, plus
// the thread wakes that any replicated put adds with one client, when
// every process sleeps between puts: a follower's, when the append
// arrives, and the leader's, when the acknowledgement does. The disk's
// part is the replicated write's probe (every member writes at once, and
// the entry commits when a majority is durable); its writers start one
// after another as they are woken, so it holds a follower's late start,
// and only the leader's wake is added to it. Results from before that
// probe use one write with the others running, and add both wakes. Then
// the price of the hand-overs between threads that both servers make per
// operation.
func (r *results) writeLatencyReach(b *strings.Builder) {
	etcd := r.figure("etcd", "put-1-client", p50)
	floor := r.figure("floor", "put-1-client", p50)
	fsync, wakesAdded := r.FsyncQuorum.P50Ms, 1
	fsyncText := fmt.Sprintf("a write on %d logs at once until %d are durable (when the entry commits)", r.FsyncWriters, r.FsyncWriters/2+1)
	if fsync == 0 { // results from before the replicated write's probe
		fsync, wakesAdded = r.FsyncConcurrent.P50Ms, 2
		fsyncText = fmt.Sprintf("one fsync with %d writers at once", r.FsyncWriters)
	}
	if fsync == 0 { // results from before the concurrent probe
		fsync, fsyncText = r.fsyncP50(), "one raw fsync"
	}
	if etcd.Count == 0 || floor.Count == 0 || fsync == 0 {
		return
	}
	fsyncText += ", " + loadgen.FormatMilliseconds(fsync) + " (the members write at once on this one disk)"
	goal, path := etcd.Median/2, floor.Median+fsync
	wakes := ""
	if r.Wake.Wakes > 0 {
		wake := r.Wake.P50Us / 1000
		path += float64(wakesAdded) * wake
		which := "two thread wakes, %s each (a follower's process wakes when the append arrives, the leader's when the acknowledgement does"
		if wakesAdded == 1 {
			which = "one thread wake, %s (the leader's process wakes when the acknowledgement arrives; the probe's writers start as they are woken, as a follower's write starts when its process is"
		}
		wakes = " + " + fmt.Sprintf(which, loadgen.FormatMilliseconds(wake)) + "; the floor's p50 holds the client's and the server's)"
	}
	verdict := fmt.Sprintf("within the physical path's reach; %s is left for the peer round trip on the network, the apply and every other hand-over between threads",
		loadgen.FormatMilliseconds(goal-path))
	if goal < path {
		verdict = "below the physical path: out of reach on this machine"
	}
	fmt.Fprintf(b, "Put, 1 client: the goal, half etcd's p50, is %s; the physical path, the floor's p50 %s + %s%s, is at least %s: %s.",
		loadgen.FormatMilliseconds(goal), loadgen.FormatMilliseconds(floor.Median), fsyncText, wakes, loadgen.FormatMilliseconds(path), verdict)
	switches := r.figure("lockstep", "put-1-client", switchesMetric("", roleFollowers))
	etcdSwitches := r.figure("etcd", "put-1-client", switchesMetric("", roleFollowers))
	if r.Wake.Wakes > 0 && switches.Count > 0 && etcdSwitches.Count > 0 {
		fmt.Fprintf(b, " A thread wake takes %.0f µs at the median on this machine, and each of lockstep's followers switches threads %.1f times per put (etcd's %.1f): %s of wakes per put, if every one were on the critical path.",
			r.Wake.P50Us, switches.Median, etcdSwitches.Median, formatMicroseconds(r.Wake.P50Us*switches.Median))
	}
	b.WriteString("\n\n")
}

// formatSpreadMedian formats a spread's median, or "—" when it has none.
func formatSpreadMedian(s spread, format func(float64) string) string {
	if s.Count == 0 {
		return "—"
	}
	return format(s.Median)
}
