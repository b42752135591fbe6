package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"
)

// Each lockstep member serves Go's CPU profiler on its metrics listener
// (/debug/pprof/profile). In the workloads of the throughput goals and in
// big-store, a lockstep round takes one profile of every member over each
// measured window (each stage of big-store), and splits it by component
// (breakdown.go's rules), so that the report shows where the members' CPU
// goes beside what the goals allow, and what the big store adds to the
// small one's. etcd's members are not profiled: the components are
// lockstep's.

// profiledWorkload reports whether the runs of workload by a system that
// is profiled (system.profiled) take CPU profiles: those of
// throughputGoals and big-store do.
func profiledWorkload(workload string) bool {
	return workload == bigStoreWorkload || slices.ContainsFunc(throughputGoals, func(goal throughputGoal) bool { return goal.workload == workload })
}

// bigStoreWorkload is the workload of stages.
const bigStoreWorkload = "big-store"

// memberProfile is one member's CPU over a profiled window, by component.
type memberProfile struct {
	// Seconds is CPU seconds by component name (breakdown.go).
	Seconds map[string]float64 `json:"seconds,omitempty"`
	Error   string             `json:"error,omitempty"`
}

// profileSecondsFor is the length of the profile over a measured window
// of duration: Go's profiler takes whole seconds, so the profile may be
// up to a second shorter than the window (the report scales by its own
// length); 0 for a window under a second, which is not profiled.
func profileSecondsFor(duration time.Duration) int {
	return int(duration / time.Second)
}

// profiler takes one CPU profile of each member in each measured window
// (each stage's), started when the window begins (OnMeasure), and returns
// them by wait.
type profiler struct {
	urls    []string // each member's metrics URL
	seconds int
	client  *http.Client
	// keep, if not "", is where each raw profile is also saved, as
	// keep + "[-STAGE]-memberN.pprof".
	keep string

	mutex sync.Mutex
	// profiles are by stage, one per member, for the windows begun;
	// closed: wait was called, and no profile starts after it.
	profiles map[string][]memberProfile
	closed   bool
	waiting  sync.WaitGroup
}

// newProfiler returns a profiler of the members at metricsURLs over
// windows of seconds.
func newProfiler(metricsURLs []string, seconds int) *profiler {
	return &profiler{
		urls: metricsURLs, seconds: seconds,
		// The server answers once the profile is done; the margin covers
		// a member slowed by the load.
		client:   &http.Client{Timeout: time.Duration(seconds)*time.Second + 30*time.Second},
		profiles: map[string][]memberProfile{},
	}
}

// onMeasure starts a stage's profiles when its measured window begins
// (once per stage); called by the load generator
// (loadgen.Config.OnMeasure), with next the run's other OnMeasure.
func (p *profiler) onMeasure(ctx context.Context, next func(string, bool)) func(string, bool) {
	return func(stage string, begin bool) {
		next(stage, begin)
		if !begin {
			return
		}
		p.mutex.Lock()
		defer p.mutex.Unlock()
		if _, started := p.profiles[stage]; !started && !p.closed {
			p.profiles[stage] = make([]memberProfile, len(p.urls))
			p.start(ctx, stage, p.profiles[stage])
		}
	}
}

// start fetches each member's profile of stage into profiles, a slice of
// its own.
func (p *profiler) start(ctx context.Context, stage string, profiles []memberProfile) {
	for i, url := range p.urls {
		p.waiting.Add(1)
		go func() {
			defer p.waiting.Done()
			seconds, err := p.fetch(ctx, url, p.keptPath(stage, i))
			if err != nil {
				profiles[i] = memberProfile{Error: err.Error()}
				return
			}
			profiles[i] = memberProfile{Seconds: seconds}
		}()
	}
}

// keptPath is where member's raw profile of stage is saved, or "".
func (p *profiler) keptPath(stage string, member int) string {
	if p.keep == "" {
		return ""
	}
	if stage != "" {
		stage = "-" + stage
	}
	return fmt.Sprintf("%s%s-member%d.pprof", p.keep, stage, member+1)
}

// fetch takes one member's profile and splits it by component; the raw
// profile is also saved at keep, if not "".
func (p *profiler) fetch(ctx context.Context, metricsURL, keep string) (map[string]float64, error) {
	url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", metricsURL, p.seconds)
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	response, err := p.client.Do(request)
	if err != nil {
		return nil, fmt.Errorf("CPU profile: %w", err)
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(response.Body, 512))
		return nil, fmt.Errorf("CPU profile: GET %s: %s: %s", url, response.Status, body)
	}
	raw, err := io.ReadAll(response.Body)
	if err != nil {
		return nil, fmt.Errorf("CPU profile from %s: %w", url, err)
	}
	if keep != "" {
		if err := os.WriteFile(keep, raw, 0o644); err != nil {
			return nil, fmt.Errorf("saving the CPU profile: %w", err)
		}
	}
	parsed, err := profile.Parse(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("CPU profile from %s: %w", url, err)
	}
	b := breakdown{nanoseconds: map[string]int64{}}
	if err := b.add(parsed); err != nil {
		return nil, fmt.Errorf("CPU profile from %s: %w", url, err)
	}
	seconds := make(map[string]float64, len(b.nanoseconds))
	for name, nanoseconds := range b.nanoseconds {
		seconds[name] = float64(nanoseconds) / 1e9
	}
	return seconds, nil
}

// wait returns the profiles by stage, once all have ended; empty if none
// started (the run failed before its window). No profile starts after.
func (p *profiler) wait() map[string][]memberProfile {
	p.mutex.Lock()
	p.closed = true
	p.mutex.Unlock()
	p.waiting.Wait()
	return p.profiles
}

// newRunProfiler returns the profiler of a run of w on system's members,
// whose metrics listeners are at metricsURLs (localcluster.Member's
// MetricsURL), or nil when the run takes no profiles: --profiles=false, a
// system not profiled, a workload not profiled, a window under a second,
// or a member without a metrics listener.
func newRunProfiler(metricsURLs []string, system system, w workload, round int, o options) *profiler {
	seconds := profileSecondsFor(o.duration)
	if !o.profiles || !system.profiled || !profiledWorkload(w.Name) || seconds == 0 || slices.Contains(metricsURLs, "") {
		return nil
	}
	p := newProfiler(metricsURLs, seconds)
	if o.profilesDirectory != "" {
		p.keep = filepath.Join(o.profilesDirectory, fmt.Sprintf("%s-round%d-%s", system.Name, round, w.Name))
	}
	return p
}

// profiledWorkloadNames lists the profiled workloads, for --help.
func profiledWorkloadNames() string {
	var names []string
	for _, goal := range throughputGoals {
		names = append(names, goal.workload)
	}
	return strings.Join(append(names, bigStoreWorkload+" (each stage)"), ", ")
}
