package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lockstepdb/lockstep/loadgen"
	"github.com/lockstepdb/lockstep/loadgen/localcluster"
)

// metric is one figure of a run shown in the report.
type metric struct {
	name   string
	value  func(*runRecord) (float64, bool)
	format func(float64) string
	// ratios: the ratio columns apply (not to counts of errors).
	ratios bool
}

// resultMetric is a metric read from the load generator's result alone.
func resultMetric(name string, value func(*loadgen.Result) float64, format func(float64) string, ratios bool) metric {
	return metric{name: name, value: func(run *runRecord) (float64, bool) { return value(run.Result), true }, format: format, ratios: ratios}
}

// switchesMetric is the context switches per operation (or per event) of
// one role.
func switchesMetric(name, role string) metric {
	return metric{name: name, format: formatSwitches, ratios: true, value: func(run *runRecord) (float64, bool) {
		return run.CPU.switchesPerOperation(role, operationsOf(run.Result))
	}}
}

// cpuMetric is the CPU per operation (or per event) of one role.
func cpuMetric(name, role string) metric {
	return metric{name: name, format: formatMicroseconds, ratios: true, value: func(run *runRecord) (float64, bool) {
		return run.CPU.perOperation(role, operationsOf(run.Result))
	}}
}

var (
	throughput = resultMetric("throughput (ops/s)", func(r *loadgen.Result) float64 { return r.OperationsPerSecond }, formatCount, true)
	p50        = resultMetric("p50 latency", func(r *loadgen.Result) float64 { return r.Latency.P50 }, loadgen.FormatMilliseconds, true)
	p99        = resultMetric("p99 latency", func(r *loadgen.Result) float64 { return r.Latency.P99 }, loadgen.FormatMilliseconds, true)
	p999       = resultMetric("p99.9 latency", func(r *loadgen.Result) float64 { return r.Latency.P999 }, loadgen.FormatMilliseconds, true)
	errorCount = resultMetric("errors", func(r *loadgen.Result) float64 { return float64(r.Errors) }, formatCount, false)
	eventRate  = resultMetric("events delivered per second", func(r *loadgen.Result) float64 { return r.EventsPerSecond }, formatCount, true)
)

// metrics are the rows of a section's table.
var metrics = []metric{
	throughput, p50, p99, p999, errorCount,
	cpuMetric("CPU per op: leader", roleLeader),
	cpuMetric("CPU per op: followers (median)", roleFollowers),
	cpuMetric("CPU per op: load generator", roleGenerator),
	switchesMetric("context switches per op: leader", roleLeader),
	switchesMetric("context switches per op: followers (median)", roleFollowers),
}

// fanoutMetrics are watch-fanout's rows: its latencies are deliveries.
var fanoutMetrics = []metric{
	eventRate,
	resultMetric("puts per second", func(r *loadgen.Result) float64 { return r.OperationsPerSecond }, formatCount, true),
	resultMetric("delivery p50", func(r *loadgen.Result) float64 { return r.Latency.P50 }, loadgen.FormatMilliseconds, true),
	resultMetric("delivery p99", func(r *loadgen.Result) float64 { return r.Latency.P99 }, loadgen.FormatMilliseconds, true),
	resultMetric("delivery p99.9", func(r *loadgen.Result) float64 { return r.Latency.P999 }, loadgen.FormatMilliseconds, true),
	errorCount,
	cpuMetric("CPU per event: leader", roleLeader),
	cpuMetric("CPU per event: followers (median)", roleFollowers),
	cpuMetric("CPU per event: load generator", roleGenerator),
	switchesMetric("context switches per event: leader", roleLeader),
	switchesMetric("context switches per event: followers (median)", roleFollowers),
}

// figure returns the spread over rounds of m for system on workload.
func (r *results) figure(system, workload string, m metric) spread {
	var values []float64
	for i := range r.Runs {
		run := &r.Runs[i]
		if run.System == system && run.Workload == workload && run.Result != nil {
			if value, ok := m.value(run); ok {
				values = append(values, value)
			}
		}
	}
	return spreadOf(values)
}

// write writes the plots, results.json and the Markdown report, and
// prints the report's results section to out.
func (r *results) write(o options, out io.Writer) error {
	if err := os.MkdirAll(o.plots, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	plotLinks := map[string]string{}
	for _, section := range r.sections() {
		path := filepath.Join(o.plots, section.Name+".svg")
		// results.json keeps no latency samples: a rewritten report
		// links the plots its run drew.
		if !r.rewritten {
			if err := loadgen.WritePlotFile(path, section.Title, r.pooledLatencies(section.Name)); err != nil {
				return err
			}
		}
		link, err := filepath.Rel(filepath.Dir(o.out), path)
		if err != nil {
			return err
		}
		plotLinks[section.Name] = filepath.ToSlash(link)
	}
	encoded, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(o.plots, "results.json"), append(encoded, '\n'), 0o644); err != nil {
		return err
	}
	var report strings.Builder
	method, err := filepath.Rel(filepath.Dir(o.out), filepath.Join(o.root, "docs", "benchmark-method.md"))
	if err != nil {
		return err
	}
	r.writeHeader(&report, filepath.ToSlash(method))
	var resultsSection strings.Builder
	r.writeResults(&resultsSection, plotLinks)
	report.WriteString(resultsSection.String())
	r.writeGoals(&report)
	r.writeIssue15Goals(&report)
	r.writeCPUBreakdown(&report)
	r.writeMemory(&report)
	r.writeCommands(&report)
	r.writeErrors(&report)
	if err := os.WriteFile(o.out, []byte(report.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprint(out, resultsSection.String())
	fmt.Fprintf(out, "\nreport: %s\nplots and results.json: %s\n", o.out, o.plots)
	return nil
}

// pooledLatencies merges every round's latencies per system, for plots.
func (r *results) pooledLatencies(workload string) []loadgen.PlotSeries {
	var series []loadgen.PlotSeries
	for _, system := range r.Systems {
		pooled := loadgen.NewHistogram()
		for _, run := range r.Runs {
			if run.System == system.Name && run.Workload == workload && run.Result != nil && run.Result.Latencies() != nil {
				pooled.Merge(run.Result.Latencies())
			}
		}
		series = append(series, loadgen.PlotSeries{Name: system.Name, Latencies: pooled})
	}
	return series
}

func (r *results) systemNames() []string {
	names := make([]string, len(r.Systems))
	for i, system := range r.Systems {
		names[i] = system.Name
	}
	return names
}

// sections returns the report's sections for the workloads of the run.
func (r *results) sections() []section {
	return sections(r.Workloads, options{bigStoreKeys: r.BigStoreKeys, bigStoreValueSize: r.BigStoreValueSize})
}

// ran reports whether the named system was part of the run.
func (r *results) ran(name string) bool { return slices.Contains(r.systemNames(), name) }

// compared reports whether etcd and lockstep both ran, so their ratios
// exist.
func (r *results) compared() bool { return r.ran("etcd") && r.ran("lockstep") }

// ratioColumns are the ratios the tables give: each pair whose systems
// both ran, numerator first.
func (r *results) ratioColumns() [][2]string {
	var columns [][2]string
	for _, pair := range [][2]string{{"lockstep", "etcd"}, {"lockstep", "floor"}, {"etcd", "floor"}} {
		if r.ran(pair[0]) && r.ran(pair[1]) {
			columns = append(columns, pair)
		}
	}
	return columns
}

// describeSystem says what one of a round's clusters is.
func describeSystem(s system) string {
	if s.Name == "floor" {
		return "the protocol floor (one process answering etcd's API from memory: no consensus, storage or replication)"
	}
	return fmt.Sprintf("a fresh %d-member cluster of %s", s.Members, s.Name)
}

func (r *results) writeHeader(b *strings.Builder, methodLink string) {
	b.WriteString("# Benchmarks: lockstep, etcd and the protocol floor, same machine, same run\n\n")
	var described []string
	for _, s := range r.Systems {
		described = append(described, describeSystem(s))
	}
	fmt.Fprintf(b, "Written by `go -C bench/compare run . %s` (see [the method](%s)), started %s, took %s: "+
		"%d round(s), each starting in turn %s; workloads %s, each run %s after %s of warm-up.\n\n",
		strings.Join(r.Arguments, " "), methodLink, r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Finished.Sub(r.Started).Round(time.Second),
		r.Rounds, strings.Join(described, ", then "), strings.Join(r.Workloads, ", "), r.Duration, r.Warmup)
	if r.rewritten {
		b.WriteString("This report was written again from that run's results.json (`--report-from`), by a later version of the report: the figures are the run's own.\n\n")
	}
	if r.QuotaBackendBytes > 0 {
		fmt.Fprintf(b, "etcd's and lockstep's members ran with `--quota-backend-bytes %d`.\n\n", r.QuotaBackendBytes)
	}
	if r.Incomplete != "" {
		fmt.Fprintf(b, "**Incomplete:** %s.\n\n", r.Incomplete)
	}
	b.WriteString("Absolute figures drift from run to run on a shared virtual machine; compare the systems by the ratios of one run.\n\n")
	b.WriteString("## Machine\n\n| | |\n|---|---|\n")
	m := r.Machine
	fmt.Fprintf(b, "| processor | %s, %d cores (the load generator shares them with the cluster) |\n", orUnknown(m.CPU), m.Cores)
	fmt.Fprintf(b, "| memory | %.1f GiB |\n", float64(m.MemoryBytes)/(1<<30))
	fmt.Fprintf(b, "| kernel | %s |\n| Go | %s |\n", orUnknown(m.Kernel), m.Go)
	fmt.Fprintf(b, "| raw fsync, before the rounds | %s |\n", describeProbe(r.FsyncBefore))
	fmt.Fprintf(b, "| raw fsync, after the rounds | %s |\n", describeProbe(r.FsyncAfter))
	if r.FsyncWriters > 0 {
		fmt.Fprintf(b, "| raw fsync, %d writers at once, before the rounds | %s |\n", r.FsyncWriters, describeProbe(r.FsyncConcurrent))
	}
	if r.FsyncQuorum.Writes > 0 {
		fmt.Fprintf(b, "| a replicated write: %d writers at once until %d are durable, before the rounds | %s |\n", r.FsyncWriters, r.FsyncWriters/2+1, describeRounds(r.FsyncQuorum))
	}
	if r.Wake.Wakes > 0 {
		fmt.Fprintf(b, "| thread wake | p50 %.0f µs, p99 %.0f µs |\n", r.Wake.P50Us, r.Wake.P99Us)
	}
	fmt.Fprintf(b, "\nRaw fsync: %d-byte records written in turn into a %d MiB file made beforehand, each followed by fdatasync, timed one by one, in the directory that held the clusters; with several writers, each has a file of its own, as each member syncs its own log on the one disk. "+
		"A replicated write: in each round every writer writes and syncs one record at once, timed from the first write's start to the moment a majority of them is durable, when an entry commits; the writes share the disk and finish one after another, so a round takes longer than one write among several. "+
		"Thread wake: how long a thread parked in the kernel takes to run once another thread wakes it (%d times, %v apart), which every hand-over between goroutines on different threads pays; it is a few microseconds on bare metal. "+
		"Context switches per operation count every thread of a process, from /proc.\n\n",
		probeRecordBytes, probeFileBytes>>20, wakeSamples, wakePause)
	b.WriteString("## Versions\n\n")
	for _, system := range r.Systems {
		fmt.Fprintf(b, "- %s: `%s`\n", system.Name, system.Version)
	}
	b.WriteString("- load generator: `lockstep bench` (package loadgen of this repository)\n\n")
}

// describeRounds describes the replicated write's probe, whose figures
// are of rounds, not of single writes.
func describeRounds(p fsyncProbe) string {
	return fmt.Sprintf("%s rounds/s, p50 %s, p99 %s", formatCount(p.PerSecond), loadgen.FormatMilliseconds(p.P50Ms), loadgen.FormatMilliseconds(p.P99Ms))
}

func describeProbe(p fsyncProbe) string {
	if p.Writes == 0 {
		return "not measured"
	}
	return fmt.Sprintf("%s writes/s, p50 %s, p99 %s", formatCount(p.PerSecond), loadgen.FormatMilliseconds(p.P50Ms), loadgen.FormatMilliseconds(p.P99Ms))
}

func (r *results) writeResults(b *strings.Builder, plotLinks map[string]string) {
	b.WriteString("## Results\n\n")
	b.WriteString("Medians over rounds, with min..max in brackets; latencies of successful operations.")
	if columns := r.ratioColumns(); len(columns) > 0 {
		b.WriteString(" Ratios are of medians")
		if r.ran("floor") {
			b.WriteString("; against the floor they show how much of the machine's reach a server gives up")
		}
		b.WriteString(".")
	}
	b.WriteString(" CPU per operation: each process's user and system time over the measured window (from /proc/PID/stat), " +
		"divided by the successful operations (watch fan-out: by the events delivered); the leader is the member the load went to, " +
		"the followers' figure the median of the other two, the load generator's that of this program's own process.\n\n")
	names := r.systemNames()
	columns := r.ratioColumns()
	for _, section := range r.sections() {
		fmt.Fprintf(b, "### %s\n\n| | %s |", section.Title, strings.Join(names, " | "))
		separator := "\n|---|" + strings.Repeat("---|", len(names))
		for _, pair := range columns {
			fmt.Fprintf(b, " %s/%s |", pair[0], pair[1])
			separator += "---|"
		}
		b.WriteString(separator + "\n")
		rows := metrics
		if section.fanout {
			rows = fanoutMetrics
		}
		for _, m := range rows {
			fmt.Fprintf(b, "| %s |", m.name)
			for _, name := range names {
				fmt.Fprintf(b, " %s |", formatSpread(r.figure(name, section.Name, m), m.format))
			}
			for _, pair := range columns {
				if value, ok := ratio(r.figure(pair[0], section.Name, m), r.figure(pair[1], section.Name, m)); ok && m.ratios {
					fmt.Fprintf(b, " %.2f |", value)
				} else {
					b.WriteString(" — |")
				}
			}
			b.WriteString("\n")
		}
		fmt.Fprintf(b, "\n![%s](%s)\n\n", section.Title, plotLinks[section.Name])
	}
	if slices.Contains(r.Workloads, "big-store") {
		r.writeBigStoreSummary(b)
	}
}

// bigStoreRatio returns the spread over rounds of system's big-store
// throughput of operation ("range" or "put") over its small-store one.
func (r *results) bigStoreRatio(system, operation string) spread {
	var values []float64
	for _, big := range r.Runs {
		if big.System != system || big.Workload != "big-store-big-"+operation || big.Result == nil {
			continue
		}
		for _, small := range r.Runs {
			if small.System == system && small.Round == big.Round && small.Workload == "big-store-small-"+operation && small.Result != nil && small.Result.OperationsPerSecond > 0 {
				values = append(values, big.Result.OperationsPerSecond/small.Result.OperationsPerSecond)
			}
		}
	}
	return spreadOf(values)
}

// writeBigStoreSummary gives, per system, the big store's throughput over
// the small one's and the rate of the big prefill.
func (r *results) writeBigStoreSummary(b *strings.Builder) {
	names := r.systemNames()
	fmt.Fprintf(b, "### big store against small store\n\nThroughput on %s keys of %s bytes over that on %s keys (same round), and the rate at which the big store was filled "+
		"(transactions of 128 puts, 32 at a time).\n\n| | %s |\n|---|%s\n", formatCount(float64(r.BigStoreKeys)), formatCount(float64(r.BigStoreValueSize)),
		formatCount(loadgen.DefaultSmallKeySpace), strings.Join(names, " | "), strings.Repeat("---|", len(names)))
	ratioFormat := func(v float64) string { return fmt.Sprintf("%.2f", v) }
	for _, operation := range []string{"range", "put"} {
		fmt.Fprintf(b, "| %s: big / small |", operation)
		for _, name := range names {
			fmt.Fprintf(b, " %s |", formatSpread(r.bigStoreRatio(name, operation), ratioFormat))
		}
		b.WriteString("\n")
	}
	prefill := func(label string, value func(keys, bytes float64) float64, format func(float64) string) {
		fmt.Fprintf(b, "| %s |", label)
		for _, name := range names {
			var values []float64
			for _, run := range r.Runs {
				if run.System == name && run.Workload == "big-store-big-range" && run.Result != nil && run.Result.PrefillSeconds > 0 {
					values = append(values, value(run.Result.PrefillRate()))
				}
			}
			fmt.Fprintf(b, " %s |", formatSpread(spreadOf(values), format))
		}
		b.WriteString("\n")
	}
	prefill("prefill (keys/s)", func(keys, _ float64) float64 { return keys }, formatCount)
	prefill("prefill (MB/s)", func(_, bytes float64) float64 { return bytes / 1e6 }, func(v float64) string { return fmt.Sprintf("%.1f", v) })
	b.WriteString("\n")
}

// writeGoals checks issue 7's goals, when both systems ran.
func (r *results) writeGoals(b *strings.Builder) {
	if !r.compared() {
		return
	}
	goal := goalWriter(b)
	b.WriteString("## Goals of issue 7\n\n| goal | measured | met |\n|---|---|---|\n")
	for _, w := range []struct{ name, label string }{{"put-1000-clients", "put, 1,000 clients"}, {"range-1000-clients", "linearizable range, 1,000 clients"}} {
		value, ok := ratio(r.figure("lockstep", w.name, throughput), r.figure("etcd", w.name, throughput))
		goal(w.label+": throughput ≥ 5× etcd's", ok, fmt.Sprintf("%.2f×", value), value >= 5)
	}
	value, ok := ratio(r.figure("lockstep", "put-1000-clients", p99), r.figure("etcd", "put-1000-clients", p99))
	goal("put, 1,000 clients: p99 ≤ ⅓ of etcd's", ok, fmt.Sprintf("%.2f×", value), value <= 1.0/3)
	value, ok = ratio(r.figure("lockstep", "put-1-client", throughput), r.figure("etcd", "put-1-client", throughput))
	goal("put, 1 client: throughput ≥ 3× etcd's", ok, fmt.Sprintf("%.2f×", value), value >= 3)
	if fsync := r.fsyncP50(); fsync > 0 {
		lockstepP50 := r.figure("lockstep", "put-1-client", p50)
		goal("put, 1 client: p50 ≤ 2× the raw fsync p50", lockstepP50.Count > 0,
			fmt.Sprintf("%s = %.2f× %s", loadgen.FormatMilliseconds(lockstepP50.Median), lockstepP50.Median/fsync, loadgen.FormatMilliseconds(fsync)),
			lockstepP50.Median <= 2*fsync)
	}
	lockstepPeak, etcdPeak := r.largestPeak("lockstep"), r.largestPeak("etcd")
	value, ok = ratio(lockstepPeak, etcdPeak)
	goal("peak RSS per member ≤ etcd's (largest member, median over rounds)", ok,
		fmt.Sprintf("%s vs %s (%.2f×)", formatMebibytes(lockstepPeak.Median), formatMebibytes(etcdPeak.Median), value), value <= 1)
	b.WriteString("\n")
}

// goalWriter returns a function that writes one row of a goals table.
func goalWriter(b *strings.Builder) func(text string, ok bool, formatted string, met bool) {
	return func(text string, ok bool, formatted string, met bool) {
		verdict, shown := "no", formatted
		if !ok {
			verdict, shown = "—", "not measured"
		} else if met {
			verdict = "yes"
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", text, shown, verdict)
	}
}

// fsyncP50 is the mean of the probes' p50s (0 if none ran).
func (r *results) fsyncP50() float64 {
	var sum float64
	var count int
	for _, probe := range []fsyncProbe{r.FsyncBefore, r.FsyncAfter} {
		if probe.Writes > 0 {
			sum += probe.P50Ms
			count++
		}
	}
	if count == 0 {
		return 0
	}
	return sum / float64(count)
}

// largestPeak is the spread over rounds of system's largest member peak.
func (r *results) largestPeak(system string) spread {
	var values []float64
	for _, cluster := range r.Clusters {
		if cluster.System != system || len(cluster.PeakRSS) == 0 {
			continue
		}
		var largest int64
		for _, peak := range cluster.PeakRSS {
			largest = max(largest, peak)
		}
		values = append(values, float64(largest))
	}
	return spreadOf(values)
}

func (r *results) writeMemory(b *strings.Builder) {
	b.WriteString("## Peak memory per member\n\nPeak resident set size (VmHWM) of each member (the floor: its one process) at the end of its round, before it was stopped: median over rounds (min..max).\n\n| system |")
	for i := range members {
		fmt.Fprintf(b, " member%d |", i+1)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", members) + "\n")
	for _, system := range r.Systems {
		fmt.Fprintf(b, "| %s |", system.Name)
		for i := range members {
			var values []float64
			for _, cluster := range r.Clusters {
				if cluster.System == system.Name && i < len(cluster.PeakRSS) {
					values = append(values, float64(cluster.PeakRSS[i]))
				}
			}
			fmt.Fprintf(b, " %s |", formatSpread(spreadOf(values), formatMebibytes))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	r.writeMemoryParts(b)
	r.writeMemoryByWorkload(b)
}

// largestMember is the member of a round whose peak was the largest.
func largestMember(uses []localcluster.Memory) (localcluster.Memory, bool) {
	if len(uses) == 0 {
		return localcluster.Memory{}, false
	}
	largest := uses[0]
	for _, use := range uses[1:] {
		if use.Peak > largest.Peak {
			largest = use
		}
	}
	return largest, true
}

// writeMemoryParts splits the largest member's resident memory at the end
// of each round into what files back and what they do not.
func (r *results) writeMemoryParts(b *strings.Builder) {
	type parts struct{ peak, resident, anonymous, file []float64 }
	bySystem := map[string]*parts{}
	for _, cluster := range r.Clusters {
		use, ok := largestMember(cluster.Memory)
		if !ok {
			continue
		}
		p := bySystem[cluster.System]
		if p == nil {
			p = &parts{}
			bySystem[cluster.System] = p
		}
		p.peak = append(p.peak, float64(use.Peak))
		p.resident = append(p.resident, float64(use.Resident))
		p.anonymous = append(p.anonymous, float64(use.Anonymous))
		p.file = append(p.file, float64(use.File))
	}
	if len(bySystem) == 0 {
		return
	}
	b.WriteString("What the largest member (by peak) held at the end of its round, from /proc/PID/status: resident (VmRSS) is anonymous memory (RssAnon: " +
		"the Go heap and stacks, and what C code allocates, such as lockstep's Pebble memtables and block cache) plus file-backed pages (RssFile: " +
		"the executable's code and data, and a database file the server maps into memory, as etcd's bbolt does; the kernel may drop these and read them again). " +
		"Median over rounds (min..max).\n\n| system | peak | resident | anonymous | file-backed |\n|---|---|---|---|---|\n")
	for _, system := range r.Systems {
		p := bySystem[system.Name]
		if p == nil {
			continue
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", system.Name, formatSpread(spreadOf(p.peak), formatMebibytes),
			formatSpread(spreadOf(p.resident), formatMebibytes), formatSpread(spreadOf(p.anonymous), formatMebibytes),
			formatSpread(spreadOf(p.file), formatMebibytes))
	}
	b.WriteString("\n")
}

// writeMemoryByWorkload shows which workload raised the peak: the largest
// member's peak once each workload ended (peaks only grow, so the rise
// from one row to the next is that workload's).
func (r *results) writeMemoryByWorkload(b *strings.Builder) {
	var rows strings.Builder
	for _, workload := range r.Workloads {
		fmt.Fprintf(&rows, "| %s |", workload)
		any := false
		for _, system := range r.Systems {
			// The stages of big-store share one figure, read after the
			// last: one per round.
			byRound := map[int]float64{}
			for _, run := range r.Runs {
				if run.System != system.Name || (run.Workload != workload && !strings.HasPrefix(run.Workload, workload+"-")) {
					continue
				}
				if use, ok := largestMember(run.Memory); ok {
					byRound[run.Round] = float64(use.Peak)
				}
			}
			values := slices.Collect(maps.Values(byRound))
			if len(values) > 0 {
				any = true
			}
			fmt.Fprintf(&rows, " %s |", formatSpread(spreadOf(values), formatMebibytes))
		}
		rows.WriteString("\n")
		if !any {
			return // a run from before per-workload memory was recorded
		}
	}
	b.WriteString("The largest member's peak once each workload had ended, in the order they ran (a peak only grows, so each row's rise over the one before is that workload's): median over rounds (min..max).\n\n| workload |")
	for _, system := range r.Systems {
		fmt.Fprintf(b, " %s |", system.Name)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(r.Systems)) + "\n")
	b.WriteString(rows.String())
	b.WriteString("\n")
}

func (r *results) writeCommands(b *strings.Builder) {
	b.WriteString("## Commands\n\nEvery cluster member (and the floor) was started like this (round 1 shown; later rounds differ only in ports and directories). " +
		"`$WORK` is the run's directory (made under `--dir`), `$WORK/lockstep` is `go build -o $WORK/lockstep ./cmd/lockstep` of this tree, " +
		"`compare` is this program (`go -C bench/compare build -o compare .`), `./` the repository's root and `$LOCKSTEP_ETCD_BIN` where tools/build-etcd put etcd.\n\n```sh\n")
	for _, cluster := range r.Clusters {
		if cluster.Round == 1 {
			for _, command := range cluster.Commands {
				b.WriteString(command + "\n")
			}
		}
	}
	b.WriteString("```\n\nand loaded with the equivalent of these commands (the load generator ran in the comparison's own process):\n\n```sh\n")
	var previous string
	for _, run := range r.Runs {
		// A big-store run has one record per stage and one command.
		if run.Round == 1 && run.Command != previous {
			b.WriteString(run.Command + "\n")
			previous = run.Command
		}
	}
	b.WriteString("```\n\n")
}

// writeErrors lists every failure: clusters that did not start or report,
// runs that did not run, and operations that failed, by kind.
func (r *results) writeErrors(b *strings.Builder) {
	var lines []string
	for _, cluster := range r.Clusters {
		if cluster.Error != "" {
			lines = append(lines, fmt.Sprintf("- round %d, %s cluster: %s", cluster.Round, cluster.System, firstLine(cluster.Error)))
		}
	}
	for _, run := range r.Runs {
		if run.Error != "" {
			lines = append(lines, fmt.Sprintf("- round %d, %s, %s: %s", run.Round, run.System, run.Workload, firstLine(run.Error)))
			continue
		}
		for kind, count := range run.Result.ErrorsByKind {
			lines = append(lines, fmt.Sprintf("- round %d, %s, %s: %d × %s", run.Round, run.System, run.Workload, count, kind))
		}
	}
	if len(lines) == 0 {
		return
	}
	b.WriteString("## Errors\n\n" + strings.Join(lines, "\n") + "\n")
}

func firstLine(text string) string {
	line, _, _ := strings.Cut(text, "\n")
	return line
}

func orUnknown(text string) string {
	if text == "" {
		return "unknown"
	}
	return text
}

func formatSpread(s spread, format func(float64) string) string {
	if s.Count == 0 {
		return "—"
	}
	if s.Count == 1 {
		return format(s.Median)
	}
	return fmt.Sprintf("%s (%s..%s)", format(s.Median), format(s.Min), format(s.Max))
}

// formatCount formats a count with thousands separators: 12,345.
func formatCount(v float64) string {
	digits := fmt.Sprintf("%.0f", v)
	negative := strings.HasPrefix(digits, "-")
	digits = strings.TrimPrefix(digits, "-")
	var grouped strings.Builder
	for i, digit := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			grouped.WriteByte(',')
		}
		grouped.WriteRune(digit)
	}
	if negative {
		return "-" + grouped.String()
	}
	return grouped.String()
}

// formatMicroseconds formats a CPU time given in µs: "85.2µs", "1.25ms".
func formatSwitches(v float64) string { return fmt.Sprintf("%.1f", v) }

func formatMicroseconds(v float64) string { return loadgen.FormatMilliseconds(v / 1000) }

func formatMebibytes(bytes float64) string { return fmt.Sprintf("%.0f MiB", bytes/(1<<20)) }
