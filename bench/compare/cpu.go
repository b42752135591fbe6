package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicksPerSecond is the unit of utime and stime in /proc/PID/stat:
// USER_HZ, what `getconf CLK_TCK` prints, which Linux keeps at 100 for
// user space whatever the kernel's own tick rate.
const clockTicksPerSecond = 100

// processCPU returns the CPU time (user and system, all threads) that
// process pid has used so far.
func processCPU(pid int) (time.Duration, error) {
	content, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStat(string(content))
}

// parseProcStat reads utime and stime, fields 14 and 15 of a
// /proc/PID/stat line. The command name (field 2) is in parentheses and
// may hold spaces and parentheses, so the fields are counted from after
// the last ')'.
func parseProcStat(content string) (time.Duration, error) {
	end := strings.LastIndexByte(content, ')')
	if end < 0 {
		return 0, fmt.Errorf("/proc stat %q: no command name", content)
	}
	fields := strings.Fields(content[end+1:]) // fields[0] is field 3, the state
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the command name, want at least 13", len(fields))
	}
	var ticks int64
	for _, field := range fields[11:13] {
		value, err := strconv.ParseInt(field, 10, 64)
		if err != nil || value < 0 {
			return 0, fmt.Errorf("/proc stat: utime or stime %q is not a count of ticks", field)
		}
		ticks += value
	}
	return time.Duration(ticks) * time.Second / clockTicksPerSecond, nil
}

// cpuUse is the CPU time the processes of one run used in its measured
// window.
type cpuUse struct {
	// MemberSeconds: each member's, in the members' order.
	MemberSeconds []float64 `json:"member_seconds"`
	// Leader is the index of the member the load went to (the leader,
	// with --target-leader), or -1 if unknown.
	Leader int `json:"leader"`
	// GeneratorSeconds: the comparison's own process, which runs the load
	// generator.
	GeneratorSeconds float64 `json:"generator_seconds"`
	// MemberSwitches and GeneratorSwitches are the context switches of
	// the same processes in the window (see processSwitches); absent from
	// the results of runs before they were counted.
	MemberSwitches    []float64 `json:"member_switches,omitempty"`
	GeneratorSwitches float64   `json:"generator_switches,omitempty"`
	Error             string    `json:"error,omitempty"`
}

// cpuSample is every process's CPU time at one moment.
type cpuSample struct {
	members   []time.Duration
	generator time.Duration
	// memberSwitches and generatorSwitches count context switches.
	memberSwitches    []uint64
	generatorSwitches uint64
	err               error
}

func sampleCPU(pids []int) cpuSample {
	sample := cpuSample{members: make([]time.Duration, len(pids)), memberSwitches: make([]uint64, len(pids))}
	for i, pid := range pids {
		if sample.members[i], sample.err = processCPU(pid); sample.err != nil {
			return sample
		}
		if sample.memberSwitches[i], sample.err = processSwitches(pid); sample.err != nil {
			return sample
		}
	}
	if sample.generator, sample.err = processCPU(os.Getpid()); sample.err != nil {
		return sample
	}
	sample.generatorSwitches, sample.err = processSwitches(os.Getpid())
	return sample
}

// cpuWindows samples the members and this process at the beginning and
// the end of each measured window (loadgen.Config.OnMeasure), by stage.
type cpuWindows struct {
	pids   []int
	mutex  sync.Mutex
	begins map[string]cpuSample
	uses   map[string]*cpuUse
}

func newCPUWindows(pids []int) *cpuWindows {
	return &cpuWindows{pids: pids, begins: map[string]cpuSample{}, uses: map[string]*cpuUse{}}
}

// onMeasure is the loadgen.Config.OnMeasure of a run.
func (w *cpuWindows) onMeasure(stage string, begin bool) {
	sample := sampleCPU(w.pids)
	w.mutex.Lock()
	defer w.mutex.Unlock()
	if begin {
		w.begins[stage] = sample
		return
	}
	w.uses[stage] = usedBetween(w.begins[stage], sample)
}

// usedBetween returns the CPU time used from begin to end.
func usedBetween(begin, end cpuSample) *cpuUse {
	use := &cpuUse{Leader: -1}
	switch {
	case begin.err != nil:
		use.Error = begin.err.Error()
	case end.err != nil:
		use.Error = end.err.Error()
	case len(begin.members) != len(end.members):
		use.Error = "the window was not sampled at its beginning"
	default:
		for i := range begin.members {
			use.MemberSeconds = append(use.MemberSeconds, (end.members[i] - begin.members[i]).Seconds())
			use.MemberSwitches = append(use.MemberSwitches, float64(end.memberSwitches[i]-begin.memberSwitches[i]))
		}
		use.GeneratorSeconds = (end.generator - begin.generator).Seconds()
		use.GeneratorSwitches = float64(end.generatorSwitches - begin.generatorSwitches)
	}
	return use
}

// use returns the CPU time of stage's window, with the leader set to the
// member whose endpoint is the only one the load went to; nil if the
// window was never closed.
func (w *cpuWindows) use(stage string, memberEndpoints, loadEndpoints []string) *cpuUse {
	w.mutex.Lock()
	defer w.mutex.Unlock()
	use := w.uses[stage]
	if use == nil {
		return nil
	}
	if len(loadEndpoints) == 1 {
		use.Leader = slices.Index(memberEndpoints, loadEndpoints[0])
	}
	return use
}

// cpuRoles are the processes whose CPU per operation the report gives.
const (
	roleLeader    = "leader"
	roleFollowers = "followers"
	roleGenerator = "load generator"
)

// perOperation returns the µs of CPU per operation of role: the leader's
// (the member the load went to), the followers' (the median of theirs),
// all members' together, or the load generator's; false where there is no
// such figure (no leader known, a system of one process, no operations).
func (u *cpuUse) perOperation(role string, operations int64) (float64, bool) {
	if u == nil {
		return 0, false
	}
	return u.rolePerOperation(role, operations, u.MemberSeconds, u.GeneratorSeconds, 1e6)
}

// switchesPerOperation is perOperation for context switches; false for
// runs that did not count them.
func (u *cpuUse) switchesPerOperation(role string, operations int64) (float64, bool) {
	if u == nil || len(u.MemberSwitches) != len(u.MemberSeconds) {
		return 0, false
	}
	return u.rolePerOperation(role, operations, u.MemberSwitches, u.GeneratorSwitches, 1)
}

// rolePerOperation divides role's share of a window's totals (one per
// member, and the generator's) by operations, scaled by scale.
func (u *cpuUse) rolePerOperation(role string, operations int64, members []float64, generator, scale float64) (float64, bool) {
	if u.Error != "" || operations <= 0 {
		return 0, false
	}
	perOperation := func(total float64) float64 { return total * scale / float64(operations) }
	if role == roleGenerator {
		return perOperation(generator), true
	}
	if u.Leader < 0 || u.Leader >= len(members) {
		return 0, false
	}
	if role == roleLeader {
		return perOperation(members[u.Leader]), true
	}
	if role == roleMembers {
		var sum float64
		for _, total := range members {
			sum += total
		}
		return perOperation(sum), true
	}
	var followers []float64
	for i, total := range members {
		if i != u.Leader {
			followers = append(followers, perOperation(total))
		}
	}
	if len(followers) == 0 {
		return 0, false
	}
	return spreadOf(followers).Median, true
}
