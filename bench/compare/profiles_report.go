package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// componentFigures are one workload's µs of CPU per operation by
// component, one value per profiled round, for the leader and for the
// followers (the median of theirs).
type componentFigures struct {
	leader, followers map[string][]float64
	rounds            int
	missing           []string // profiles that failed, as "round N, memberM: error"
}

// profileFigures gathers the figures of lockstep's profiled runs of
// workload. A round counts only if every member's profile came back and
// the leader is known.
func (r *results) profileFigures(workload string) componentFigures {
	figures := componentFigures{leader: map[string][]float64{}, followers: map[string][]float64{}}
	for _, run := range r.Runs {
		if run.System != "lockstep" || run.Workload != workload || len(run.Profiles) == 0 || run.Result == nil || run.CPU == nil {
			continue
		}
		failed := false
		for i, member := range run.Profiles {
			if member.Error != "" {
				figures.missing = append(figures.missing, fmt.Sprintf("round %d, member%d: %s", run.Round, i+1, member.Error))
				failed = true
			}
		}
		leader := run.CPU.Leader
		if failed || leader < 0 || leader >= len(run.Profiles) || run.Result.ElapsedSeconds <= 0 || run.ProfileSeconds <= 0 {
			continue
		}
		// The operations done while the profiles ran, at the window's rate.
		operations := float64(operationsOf(run.Result)) / run.Result.ElapsedSeconds * float64(run.ProfileSeconds)
		if operations <= 0 {
			continue
		}
		names := map[string]bool{componentTotal: true}
		for _, member := range run.Profiles {
			for name := range member.Seconds {
				names[name] = true
			}
		}
		perOperation := func(member memberProfile, name string) float64 {
			if name == componentTotal {
				total := 0.0
				for _, seconds := range member.Seconds {
					total += seconds
				}
				return total * 1e6 / operations
			}
			return member.Seconds[name] * 1e6 / operations
		}
		for name := range names {
			figures.leader[name] = append(figures.leader[name], perOperation(run.Profiles[leader], name))
			var others []float64
			for i, member := range run.Profiles {
				if i != leader {
					others = append(others, perOperation(member, name))
				}
			}
			if len(others) > 0 {
				figures.followers[name] = append(figures.followers[name], spreadOf(others).Median)
			}
		}
		figures.rounds++
	}
	return figures
}

// componentTotal is the row of all components together.
const componentTotal = "total"

// writeCPUBreakdown shows, for each profiled workload, where lockstep's
// members spent their CPU: beside writeReach's budget, it says which
// parts the budget would have to come out of.
func (r *results) writeCPUBreakdown(b *strings.Builder) {
	var tables strings.Builder
	for _, goal := range throughputGoals {
		figures := r.profileFigures(goal.workload)
		if figures.rounds == 0 && len(figures.missing) == 0 {
			continue
		}
		fmt.Fprintf(&tables, "### %s (%d round(s) profiled)\n\n", r.sectionTitle(goal.workload), figures.rounds)
		if figures.rounds > 0 {
			figures.writeTable(&tables, goal.unit)
			if budget, ok := r.budget(goal); ok {
				figures.writeAgainstBudget(&tables, budget, goal.unit)
			}
		}
		for _, missing := range figures.missing {
			fmt.Fprintf(&tables, "- no profile: %s\n", r.show(missing))
		}
		tables.WriteString("\n")
	}
	for _, operation := range []string{"put", "range"} {
		small, big := r.profileFigures("big-store-small-"+operation), r.profileFigures("big-store-big-"+operation)
		if small.rounds == 0 && big.rounds == 0 && len(small.missing)+len(big.missing) == 0 {
			continue
		}
		fmt.Fprintf(&tables, "### big store, %s: the small store against the big one (%d and %d round(s) profiled)\n\n", operation, small.rounds, big.rounds)
		if small.rounds > 0 && big.rounds > 0 {
			writeStoreSizeTable(&tables, small, big)
		}
		for _, missing := range append(small.missing, big.missing...) {
			fmt.Fprintf(&tables, "- no profile: %s\n", r.show(missing))
		}
		tables.WriteString("\n")
	}
	if tables.Len() == 0 {
		return
	}
	b.WriteString("## Where lockstep's members spend their CPU\n\n" +
		"In each round, every lockstep member was profiled over the measured window of these workloads " +
		"(Go's CPU profiler on the member's metrics listener; `--profiles=false` turns it off), " +
		"and each sample went to the first component that matches its stack, by the rules of `compare cpu-breakdown` (bench/compare/breakdown.go): " +
		"the collector's and the allocator's work counts as Go's wherever it happens, the propose path inside a gRPC call as lockstep's. " +
		"Figures are µs of CPU per operation (per event delivered for watch fan-out), medians over rounds; " +
		"the leader is the member the load went to, the followers' figure the median of the other two. " +
		"The totals run a little below the /proc figures above: the profiler samples 100 times a second, and its window is the measured one cut to whole seconds. " +
		"The last column, the leader's figure plus twice the followers', sets each component beside the members' budget in \"What this machine allows\" (its \"left for the members\"), where that section ran.\n\n")
	b.WriteString(tables.String())
}

// leaderMedian, followerMedian and allMembers are a component's medians
// over rounds: the leader's, a follower's, and the leader's plus twice a
// follower's (0 for a component the figures lack).
func (f componentFigures) leaderMedian(name string) float64 { return spreadOf(f.leader[name]).Median }
func (f componentFigures) followerMedian(name string) float64 {
	return spreadOf(f.followers[name]).Median
}
func (f componentFigures) allMembers(name string) float64 {
	return f.leaderMedian(name) + 2*f.followerMedian(name)
}

// componentNames returns the component names of figures, total excepted,
// the largest by key first (ties by name).
func componentNames(key func(string) float64, figures ...componentFigures) []string {
	var names []string
	for _, f := range figures {
		for name := range f.leader {
			if name != componentTotal && !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	slices.SortFunc(names, func(x, y string) int {
		if c := cmp.Compare(key(y), key(x)); c != 0 {
			return c
		}
		return strings.Compare(x, y)
	})
	return names
}

// writeTable writes the figures' medians, the largest first, the total
// last.
func (f componentFigures) writeTable(b *strings.Builder, unit string) {
	fmt.Fprintf(b, "| component | leader, µs per %s | each follower, µs per %s | all three members, µs per %s |\n|---|---|---|---|\n", unit, unit, unit)
	for _, name := range append(componentNames(f.allMembers, f), componentTotal) {
		fmt.Fprintf(b, "| %s | %.1f | %.1f | %.1f |\n", name, f.leaderMedian(name), f.followerMedian(name), f.allMembers(name))
	}
	b.WriteString("\n")
}

// sectionTitle is the report's title of workload.
func (r *results) sectionTitle(workload string) string {
	for _, section := range r.sections() {
		if section.Name == workload {
			return section.Title
		}
	}
	return workload
}

// pebbleFlushes is breakdown.go's component of Pebble's flushes and
// compactions, work a store may defer but not avoid.
const pebbleFlushes = "Pebble: flushes and compactions"

// writeAgainstBudget sets the split beside the goal's budget, where the
// goal is below the floor's rate and lockstep's members spend more than
// their share: what twice etcd's rate leaves beyond the floor's work
// against what the followers alone spend, and the leader's own parts
// (lockstep's and Pebble's rows, not gRPC's or Go's, which the floor's
// server pays too).
func (f componentFigures) writeAgainstBudget(b *strings.Builder, budget reachBudget, unit string) {
	left := budget.members - budget.floorServer
	if budget.target > budget.floorRate || budget.lockstepMembers <= budget.members || left <= 0 {
		return
	}
	followers := 2 * f.followerMedian(componentTotal)
	followersWithoutFlushes := followers - 2*f.followerMedian(pebbleFlushes)
	leaderOwn := 0.0
	for name := range f.leader {
		if strings.HasPrefix(name, "lockstep:") || strings.HasPrefix(name, "Pebble:") {
			leaderOwn += f.leaderMedian(name)
		}
	}
	fmt.Fprintf(b, "Twice etcd's rate leaves %s per %s beyond the floor's work for all three members (\"What this machine allows\"). "+
		"The two followers alone spend %s (%s without Pebble's flushes and compactions), and the leader's own rows (lockstep's and Pebble's) %s: "+
		"%s together, %.1f× what is left.\n\n",
		formatMicroseconds(left), unit, formatMicroseconds(followers), formatMicroseconds(followersWithoutFlushes),
		formatMicroseconds(leaderOwn), formatMicroseconds(followers+leaderOwn), (followers+leaderOwn)/left)
}

// writeStoreSizeTable sets one big-store operation's components on the
// small store beside the big one's (µs per operation, medians over
// rounds), the largest on the big store first, and names the components
// whose cost rose most.
func writeStoreSizeTable(b *strings.Builder, small, big componentFigures) {
	rise := func(name string) float64 { return big.allMembers(name) - small.allMembers(name) }
	b.WriteString("| component | leader, small store | leader, big store | each follower, small store | each follower, big store | all three members: small → big |\n|---|---|---|---|---|---|\n")
	for _, name := range append(componentNames(big.allMembers, small, big), componentTotal) {
		fmt.Fprintf(b, "| %s | %.1f | %.1f | %.1f | %.1f | %.1f → %.1f |\n", name,
			small.leaderMedian(name), big.leaderMedian(name), small.followerMedian(name), big.followerMedian(name),
			small.allMembers(name), big.allMembers(name))
	}
	var rises []string
	for _, name := range componentNames(rise, small, big) {
		if len(rises) < 3 && rise(name) > 0 {
			rises = append(rises, fmt.Sprintf("%s +%.1f µs", name, rise(name)))
		}
	}
	fmt.Fprintf(b, "\nµs of CPU per operation, all three members: %.1f on the small store, %.1f on the big one", small.allMembers(componentTotal), big.allMembers(componentTotal))
	if len(rises) > 0 {
		fmt.Fprintf(b, "; the largest rises: %s", strings.Join(rises, ", "))
	}
	b.WriteString(".\n")
}
