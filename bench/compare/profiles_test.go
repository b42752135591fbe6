package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/loadgen"
)

func TestProfilerSplitsEachMembersProfileOncePerStage(t *testing.T) {
	var encoded bytes.Buffer
	if err := cpuProfile(map[string]int64{
		"github.com/lockstepdb/lockstep/wal.(*Log).writeBatch < github.com/lockstepdb/lockstep/node.(*logWriter).run": 3_000_000_000,
		"main.somethingElse": 500_000_000,
	}).Write(&encoded); err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int32
	member := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Path != "/debug/pprof/profile" || r.URL.Query().Get("seconds") != "3" {
			http.Error(w, "unexpected "+r.URL.String(), http.StatusNotFound)
			return
		}
		w.Write(encoded.Bytes())
	}))
	defer member.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "profiling is off", http.StatusInternalServerError)
	}))
	defer failing.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("not a profile")) }))
	defer garbage.Close()

	p := newProfiler([]string{member.URL, failing.URL, garbage.URL}, 3)
	kept := t.TempDir()
	p.keep = filepath.Join(kept, "lockstep-round1-put")
	var measured []string
	onMeasure := p.onMeasure(context.Background(), func(stage string, begin bool) {
		measured = append(measured, stage)
	})
	onMeasure("", true)
	onMeasure("", false)
	onMeasure("", true) // the same stage again starts no second profile
	onMeasure("second", true)
	byStage := p.wait()
	if len(measured) != 4 {
		t.Fatalf("the run's own OnMeasure saw %v, want every call", measured)
	}
	if requests.Load() != 2 {
		t.Fatalf("the member was asked for %d profiles, want 1 per stage", requests.Load())
	}
	if len(byStage) != 2 || len(byStage["second"]) != 3 {
		t.Fatalf("profiles %+v, want two stages of one per member", byStage)
	}
	profiles := byStage[""]
	if len(profiles) != 3 {
		t.Fatalf("%d profiles, want one per member", len(profiles))
	}
	want := map[string]float64{"lockstep: log writer (WAL write and fdatasync)": 3, otherComponent: 0.5}
	if got := profiles[0]; got.Error != "" || len(got.Seconds) != len(want) {
		t.Fatalf("first member: %+v, want %v", got, want)
	}
	for name, seconds := range want {
		if got := profiles[0].Seconds[name]; math.Abs(got-seconds) > 1e-9 {
			t.Errorf("%s: %v s, want %v", name, got, seconds)
		}
	}
	for _, name := range []string{"lockstep-round1-put-member1.pprof", "lockstep-round1-put-second-member1.pprof"} {
		if saved, err := os.ReadFile(filepath.Join(kept, name)); err != nil || !bytes.Equal(saved, encoded.Bytes()) {
			t.Errorf("the raw profile %s: %v, want the member's answer kept", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(kept, "lockstep-round1-put-member2.pprof")); err == nil {
		t.Error("a member's error answer was kept as a profile")
	}
	if got := profiles[1]; got.Seconds != nil || !strings.Contains(got.Error, "500") || !strings.Contains(got.Error, "profiling is off") {
		t.Errorf("a member that answers 500: %+v, want its status and answer as the error", got)
	}
	if got := profiles[2]; got.Seconds != nil || !strings.Contains(got.Error, "CPU profile from") {
		t.Errorf("a member that answers garbage: %+v, want a parse error", got)
	}
}

func TestProfilerWithoutAWindowTakesNothing(t *testing.T) {
	member := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("asked for %s with no measured window", r.URL)
	}))
	defer member.Close()
	p := newProfiler([]string{member.URL}, 1)
	onMeasure := p.onMeasure(context.Background(), func(string, bool) {})
	if profiles := p.wait(); len(profiles) != 0 {
		t.Fatalf("profiles %+v from a run that never measured", profiles)
	}
	onMeasure("", true) // too late: wait has returned
	if profiles := p.wait(); len(profiles) != 0 {
		t.Fatalf("profiles %+v after wait returned", profiles)
	}
}

func TestRunsProfiledAreLockstepsThroughputRuns(t *testing.T) {
	lockstep := system{Name: "lockstep", profiled: true}
	o := options{profiles: true, duration: 10 * time.Second, profilesDirectory: "/kept"}
	urls := []string{"http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"}
	for _, c := range []struct {
		system   system
		workload string
		options  options
		urls     []string
	}{
		{system{Name: "etcd"}, "put-1000-clients", o, urls},
		{lockstep, "put-1-client", o, urls},
		{lockstep, "put-1000-clients", options{profiles: false, duration: 10 * time.Second}, urls},
		{lockstep, "put-1000-clients", options{profiles: true, duration: 900 * time.Millisecond}, urls},
		{lockstep, "put-1000-clients", o, []string{urls[0], "", urls[2]}}, // a member without a metrics listener
	} {
		w, ok := findWorkload(c.workload)
		if !ok {
			t.Fatalf("no workload %q", c.workload)
		}
		if p := newRunProfiler(c.urls, c.system, w, 1, c.options); p != nil {
			t.Errorf("%s %s (profiles %v, %v, URLs %q): profiled", c.system.Name, c.workload, c.options.profiles, c.options.duration, c.urls)
		}
	}
	profiled := []string{"big-store"}
	for _, goal := range throughputGoals {
		profiled = append(profiled, goal.workload)
	}
	for _, name := range profiled {
		w, _ := findWorkload(name)
		p := newRunProfiler(urls, lockstep, w, 2, o)
		if p == nil {
			t.Fatalf("lockstep's %s: not profiled", name)
		}
		if fmt.Sprint(p.urls) != fmt.Sprint(urls) || p.seconds != 10 || p.keep != filepath.Join("/kept", "lockstep-round2-"+name) {
			t.Errorf("lockstep's %s: profiler of %q over %d s kept at %q, want every member over 10 s kept at /kept/lockstep-round2-%s", name, p.urls, p.seconds, p.keep, name)
		}
	}
}

// profiledRun is a lockstep run of put-1000-clients at 1,000 ops/s for
// 10 s, profiled for 10 s, whose leader is member index leader.
func profiledRun(round, leader int, profiles ...memberProfile) runRecord {
	return runRecord{
		System: "lockstep", Round: round, Workload: "put-1000-clients",
		Result:   &loadgen.Result{Workload: loadgen.WorkloadPut, Operations: 10_000, ElapsedSeconds: 10},
		CPU:      &cpuUse{Leader: leader},
		Profiles: profiles, ProfileSeconds: 10,
	}
}

func TestCPUBreakdownSectionGivesMediansPerOperation(t *testing.T) {
	r := &results{Workloads: []string{"put-1000-clients"}, Runs: []runRecord{
		// 10,000 operations: 0.5 s is 50 µs per operation.
		profiledRun(1, 1,
			memberProfile{Seconds: map[string]float64{"A": 0.2}},
			memberProfile{Seconds: map[string]float64{"A": 0.5, "B": 0.1}},
			memberProfile{Seconds: map[string]float64{"A": 0.4, "B": 0.1}}),
		profiledRun(2, 0,
			memberProfile{Seconds: map[string]float64{"A": 0.7, "B": 0.3}},
			memberProfile{Seconds: map[string]float64{"A": 0.2}},
			memberProfile{Seconds: map[string]float64{"A": 0.2}}),
		profiledRun(3, 0,
			memberProfile{Seconds: map[string]float64{"A": 1}},
			memberProfile{Error: "connection refused"},
			memberProfile{Seconds: map[string]float64{"A": 1}}),
		{System: "etcd", Round: 1, Workload: "put-1000-clients"},
	}}
	report := breakdownSection(r)
	expectLines(t, report,
		"(2 round(s) profiled)",
		// A: leader 50 and 70 (median 60); followers 30 and 20 (median 25).
		"| A | 60.0 | 25.0 | 110.0 |\n",
		// B: leader 10 and 30; followers 5 (of 0 and 10) and 0.
		"| B | 20.0 | 2.5 | 25.0 |\n",
		// total: leader 60 and 100; followers 35 and 20.
		"| total | 80.0 | 27.5 | 135.0 |\n",
		"- no profile: round 3, member2: connection refused",
	)
	if strings.Index(report, "| A |") > strings.Index(report, "| B |") {
		t.Errorf("the larger component is not first:\n%s", report)
	}

	var none strings.Builder
	(&results{Workloads: []string{"put-1000-clients"}, Runs: []runRecord{{System: "lockstep", Round: 1, Workload: "put-1000-clients"}}}).writeCPUBreakdown(&none)
	if none.Len() != 0 {
		t.Errorf("a run with no profiles wrote a section:\n%s", none.String())
	}
}

// Beside the reach table's budget, the section says what the followers
// alone and the leader's own rows spend against what is left.
func TestCPUBreakdownSetAgainstTheBudget(t *testing.T) {
	r := reachResults() // 19.8 µs per op left beyond the floor for put-1000
	for i, run := range r.Runs {
		if run.System == "lockstep" && run.Workload == "put-1000-clients" {
			run.Result.ElapsedSeconds = 10 // 10,000 operations in the 10 s profiled
			run.ProfileSeconds = 10
			follower := memberProfile{Seconds: map[string]float64{"lockstep: applier (store's Apply, watchers, answers)": 0.08, pebbleFlushes: 0.04}}
			run.Profiles = []memberProfile{follower, {Seconds: map[string]float64{
				"lockstep: propose path (checks, encoding, hand-over to the loop, wait)": 0.05,
				"gRPC: connection writers": 0.1, pebbleFlushes: 0.02,
			}}, follower}
			r.Runs[i] = run
		}
	}
	var b strings.Builder
	r.writeCPUBreakdown(&b)
	// Followers 2 × 12 µs (2 × 8 without flushes); the leader's own rows 5 + 2
	// µs, not gRPC's 10: 31 µs against 19.8.
	want := "Twice etcd's rate leaves 19.8µs per op beyond the floor's work for all three members (\"What this machine allows\"). " +
		"The two followers alone spend 24.0µs (16.0µs without Pebble's flushes and compactions), and the leader's own rows (lockstep's and Pebble's) 7.00µs: 31.0µs together, 1.6× what is left."
	if !strings.Contains(b.String(), want) {
		t.Fatalf("the section lacks %q:\n%s", want, b.String())
	}
}

// The big store's stages are set beside the small store's, component by
// component, with the largest rises named.
func TestCPUBreakdownComparesTheBigStoreWithTheSmall(t *testing.T) {
	stage := func(name string, leader, follower map[string]float64) runRecord {
		run := profiledRun(1, 0, memberProfile{Seconds: leader}, memberProfile{Seconds: follower}, memberProfile{Seconds: follower})
		run.Workload = "big-store-" + name
		return run
	}
	const reads, flushes = "lockstep: read path (read index, store reads)", pebbleFlushes
	r := &results{Workloads: []string{"big-store"}, Runs: []runRecord{
		// 10,000 operations: 0.1 s is 10 µs per operation.
		stage("small-put", map[string]float64{flushes: 0.03, "gRPC: connection writers": 0.05}, map[string]float64{flushes: 0.03}),
		stage("big-put", map[string]float64{flushes: 0.15, "gRPC: connection writers": 0.05}, map[string]float64{flushes: 0.14}),
		stage("small-range", map[string]float64{reads: 0.02}, map[string]float64{}),
		{System: "lockstep", Round: 1, Workload: "big-store-big-range", Profiles: []memberProfile{{Error: "timeout"}, {}, {}},
			Result: &loadgen.Result{Operations: 1, ElapsedSeconds: 1}, CPU: &cpuUse{Leader: 0}, ProfileSeconds: 1},
	}}
	report := breakdownSection(r)
	expectLines(t, report,
		"### big store, put: the small store against the big one (1 and 1 round(s) profiled)",
		"| Pebble: flushes and compactions | 3.0 | 15.0 | 3.0 | 14.0 | 9.0 → 43.0 |",
		"| gRPC: connection writers | 5.0 | 5.0 | 0.0 | 0.0 | 5.0 → 5.0 |",
		"| total | 8.0 | 20.0 | 3.0 | 14.0 | 14.0 → 48.0 |",
		"all three members: 14.0 on the small store, 48.0 on the big one; the largest rises: Pebble: flushes and compactions +34.0 µs.",
		"### big store, range: the small store against the big one (1 and 0 round(s) profiled)",
		"- no profile: round 1, member1: timeout",
	)
}

// breakdownSection is r's section "Where lockstep's members spend their CPU".
func breakdownSection(r *results) string {
	var b strings.Builder
	r.writeCPUBreakdown(&b)
	return b.String()
}

// expectLines fails the test for each of wants that report lacks.
func expectLines(t *testing.T, report string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(report, want) {
			t.Errorf("the section lacks %q:\n%s", want, report)
		}
	}
}
