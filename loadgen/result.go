package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Result is what a run measured. Its JSON form (the output of
// `lockstep bench --json`) is documented field by field in
// docs/benchmark-method.md. Latencies are of successful measured
// operations only.
type Result struct {
	Workload Workload `json:"workload"`
	// Stage names a stage of big-store (one of BigStoreStages); "" else.
	Stage                string      `json:"stage,omitempty"`
	Consistency          Consistency `json:"consistency,omitempty"` // range and mixed only
	Endpoints            []string    `json:"endpoints"`             // where the load went
	UnreachableEndpoints []string    `json:"unreachable_endpoints,omitempty"`
	Clients              int         `json:"clients"`
	Connections          int         `json:"connections"`
	KeySize              int         `json:"key_size"`
	ValueSize            int         `json:"value_size"`
	KeySpace             int         `json:"key_space"`
	// Watchers and Streams: watch-fanout only.
	Watchers int `json:"watchers,omitempty"`
	Streams  int `json:"streams,omitempty"`
	// SmallKeySpace: big-store only.
	SmallKeySpace int `json:"small_key_space,omitempty"`
	// Operations that succeeded in the measured phase.
	Operations int64 `json:"operations"`
	// Errors: measured operations that failed, and their counts by kind.
	Errors       int64            `json:"errors"`
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`
	// FailedCompares: txn-put operations whose compare failed (counted in
	// Operations: the request succeeded, the swap did not happen).
	FailedCompares int64 `json:"failed_compares"`
	// PrefillErrors: prefill transactions that failed, and their counts
	// by kind (as ErrorsByKind's).
	PrefillErrors       int64            `json:"prefill_errors"`
	PrefillErrorsByKind map[string]int64 `json:"prefill_errors_by_kind,omitempty"`
	// PrefillSeconds: how long the prefill took (0 without one).
	PrefillSeconds float64 `json:"prefill_seconds,omitempty"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// OperationsPerSecond: Operations / ElapsedSeconds.
	OperationsPerSecond float64 `json:"ops_per_second"`
	// StoppedBy: "total", "duration" or "interrupted".
	StoppedBy string         `json:"stopped_by"`
	Latency   LatencySummary `json:"latency"`
	// LatencyByKind: mixed only, "put" and "range" separately.
	LatencyByKind map[string]LatencySummary `json:"latency_by_kind,omitempty"`
	// Histogram: the latencies in histogramBins log-spaced bins.
	Histogram []HistogramBin `json:"histogram"`
	// EventsDelivered and EventsPerSecond, watch-fanout only: the events
	// the watchers received in the measured phase (Latency is then theirs,
	// from the put's sending to the event's receipt; LatencyByKind's
	// "fanout" is the puts', each until every watcher had its event).
	EventsDelivered int64   `json:"events_delivered,omitempty"`
	EventsPerSecond float64 `json:"events_per_second,omitempty"`
	// Stages: big-store only, the result of each stage in order. A
	// big-store result's Operations, Errors, ErrorsByKind, PrefillErrors,
	// PrefillErrorsByKind, PrefillSeconds and ElapsedSeconds are the sums
	// of its stages'; its latencies, throughput and histogram are left
	// empty.
	Stages []*Result `json:"stages,omitempty"`

	latencies *Histogram
}

// LatencySummary gives a latency distribution in milliseconds.
type LatencySummary struct {
	Count int64   `json:"count"`
	Min   float64 `json:"min_ms"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
}

// HistogramBin is one bar of the latency histogram: Count operations took
// from LowerMs (inclusive) to UpperMs milliseconds.
type HistogramBin struct {
	LowerMs float64 `json:"lower_ms"`
	UpperMs float64 `json:"upper_ms"`
	Count   int64   `json:"count"`
}

// histogramBins is the number of bars of the text and JSON histograms.
const histogramBins = 20

// Summarize returns h's summary.
func Summarize(h *Histogram) LatencySummary {
	return LatencySummary{
		Count: h.Count(),
		Min:   milliseconds(h.Min()),
		Mean:  milliseconds(h.Mean()),
		P50:   milliseconds(h.Percentile(50)),
		P90:   milliseconds(h.Percentile(90)),
		P99:   milliseconds(h.Percentile(99)),
		P999:  milliseconds(h.Percentile(99.9)),
		Max:   milliseconds(h.Max()),
	}
}

func milliseconds(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func newResult(config Config, endpoints, unreachable []string) *Result {
	result := &Result{
		Workload:             config.Workload,
		Endpoints:            endpoints,
		UnreachableEndpoints: unreachable,
		Clients:              config.Clients,
		Connections:          config.Connections,
		KeySize:              config.KeySize,
		ValueSize:            config.ValueSize,
		KeySpace:             config.KeySpace,
	}
	if config.Workload.reads() {
		result.Consistency = config.Consistency
	}
	switch config.Workload {
	case WorkloadWatchFanout:
		result.Watchers, result.Streams = config.Watchers, config.Streams
	case WorkloadBigStore:
		result.SmallKeySpace = config.SmallKeySpace
	}
	return result
}

// fill sets the measured figures from t, once its workers have stopped.
func (r *Result) fill(t *tally, elapsed time.Duration, stoppedBy string) {
	r.latencies = t.latencies
	r.Operations = t.latencies.Count()
	r.Errors = t.errorCount.Load()
	r.ErrorsByKind = t.errors.counts()
	if r.ErrorsByKind == nil {
		r.ErrorsByKind = map[string]int64{}
	}
	r.FailedCompares = t.failedCompares.Load()
	r.ElapsedSeconds = elapsed.Seconds()
	if r.ElapsedSeconds > 0 {
		r.OperationsPerSecond = float64(r.Operations) / r.ElapsedSeconds
	}
	r.StoppedBy = stoppedBy
	r.Latency = Summarize(t.latencies)
	if t.byKind != nil {
		r.LatencyByKind = make(map[string]LatencySummary, len(t.byKind))
		for kind, histogram := range t.byKind {
			r.LatencyByKind[kind] = Summarize(histogram)
		}
	}
	r.Histogram = binsOf(t.latencies)
}

// binsOf returns h's text and JSON histogram.
func binsOf(h *Histogram) []HistogramBin {
	bins := []HistogramBin{}
	for _, bin := range h.Bins(histogramBins) {
		bins = append(bins, HistogramBin{LowerMs: milliseconds(bin.Lower), UpperMs: milliseconds(bin.Upper), Count: bin.Count})
	}
	return bins
}

// Latencies returns the histogram of the successful measured operations'
// latencies (for plots, or to merge runs). It must not be recorded into.
func (r *Result) Latencies() *Histogram { return r.latencies }

// WriteText writes the result for people: throughput, errors by kind,
// percentiles and a text histogram; for big-store, each stage's, then the
// big store's throughput over the small one's.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	if len(r.Stages) > 0 {
		r.writeBigStoreText(&b)
	} else {
		r.writeText(&b)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Result) writeText(b *strings.Builder) {
	workload := string(r.Workload)
	if r.Stage != "" {
		workload = r.Stage + ": " + workload
	}
	if r.Consistency != "" {
		workload += fmt.Sprintf(" (consistency %s)", r.Consistency)
	}
	fmt.Fprintf(b, "workload     %s: %d clients, %d connection(s) to %s\n", workload, r.Clients, r.Connections, strings.Join(r.Endpoints, ","))
	if r.Workload == WorkloadWatchFanout {
		fmt.Fprintf(b, "watchers     %d over %d streams, on keys %d..%d\n", r.Watchers, r.Streams, 0, r.KeySpace-1)
	}
	if len(r.UnreachableEndpoints) > 0 {
		fmt.Fprintf(b, "unreachable  %s (left out)\n", strings.Join(r.UnreachableEndpoints, ","))
	}
	if r.PrefillSeconds > 0 {
		keys, bytes := r.PrefillRate()
		fmt.Fprintf(b, "prefill      %d keys of %d bytes in %.1f s = %.0f keys/s, %.1f MB/s\n", r.KeySpace, r.ValueSize, r.PrefillSeconds, keys, bytes/1e6)
	}
	fmt.Fprintf(b, "operations   %d in %.2f s = %.1f ops/s (stopped by %s)\n", r.Operations, r.ElapsedSeconds, r.OperationsPerSecond, r.StoppedBy)
	if r.Workload == WorkloadWatchFanout {
		fmt.Fprintf(b, "events       %d delivered = %.1f events/s\n", r.EventsDelivered, r.EventsPerSecond)
	}
	if r.Workload == WorkloadTxnPut {
		fmt.Fprintf(b, "compares     %d failed (another client had written the key)\n", r.FailedCompares)
	}
	if r.PrefillErrors > 0 {
		fmt.Fprintf(b, "prefill      %d transactions failed\n", r.PrefillErrors)
		for _, kind := range slices.Sorted(maps.Keys(r.PrefillErrorsByKind)) {
			fmt.Fprintf(b, "  %8d  %s\n", r.PrefillErrorsByKind[kind], kind)
		}
	}
	fmt.Fprintf(b, "errors       %d\n", r.Errors)
	for _, kind := range slices.Sorted(maps.Keys(r.ErrorsByKind)) {
		fmt.Fprintf(b, "  %8d  %s\n", r.ErrorsByKind[kind], kind)
	}
	if r.Workload == WorkloadWatchFanout {
		fmt.Fprintf(b, "delivery     %s\n", formatSummary(r.Latency, "events"))
	} else {
		fmt.Fprintf(b, "latency      %s\n", formatSummary(r.Latency, "ops"))
	}
	for _, kind := range slices.Sorted(maps.Keys(r.LatencyByKind)) {
		fmt.Fprintf(b, "  %-9s  %s\n", kind, formatSummary(r.LatencyByKind[kind], "ops"))
	}
	if len(r.Histogram) > 0 {
		b.WriteString("histogram\n")
		writeTextHistogram(b, r.Histogram, r.Latency.Count)
	}
}

// writeBigStoreText writes each stage, then the ratios that matter.
func (r *Result) writeBigStoreText(b *strings.Builder) {
	for i, stage := range r.Stages {
		if i > 0 {
			b.WriteString("\n")
		}
		stage.writeText(b)
	}
	b.WriteString("\n")
	for _, workload := range []string{"range", "put"} {
		small, big := r.BigStoreStage("small-"+workload), r.BigStoreStage("big-"+workload)
		if small == nil || big == nil || small.OperationsPerSecond == 0 {
			continue
		}
		fmt.Fprintf(b, "big store    %s: %.1f ops/s with %d keys = %.2f× the %.1f ops/s with %d keys\n", workload,
			big.OperationsPerSecond, big.KeySpace, big.OperationsPerSecond/small.OperationsPerSecond, small.OperationsPerSecond, small.KeySpace)
	}
}

func formatSummary(s LatencySummary, unit string) string {
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (mean %s, %d %s)",
		FormatMilliseconds(s.P50), FormatMilliseconds(s.P90), FormatMilliseconds(s.P99),
		FormatMilliseconds(s.P999), FormatMilliseconds(s.Max), FormatMilliseconds(s.Mean), s.Count, unit)
}

// textBarWidth is the width of the longest bar of a text histogram.
const textBarWidth = 40

// writeTextHistogram draws one line per bin: its range, a bar scaled to the
// fullest bin, the count and the share of total.
func writeTextHistogram(b *strings.Builder, bins []HistogramBin, total int64) {
	var fullest int64
	for _, bin := range bins {
		fullest = max(fullest, bin.Count)
	}
	for _, bin := range bins {
		width := 0
		if fullest > 0 {
			width = int((bin.Count*textBarWidth + fullest - 1) / fullest)
		}
		share := 0.0
		if total > 0 {
			share = 100 * float64(bin.Count) / float64(total)
		}
		fmt.Fprintf(b, "  %s - %s |%-*s %8d %5.1f%%\n", padLeft(FormatMilliseconds(bin.LowerMs), 9), padLeft(FormatMilliseconds(bin.UpperMs), 9),
			textBarWidth, strings.Repeat("#", width), bin.Count, share)
	}
}

// padLeft pads text with spaces to width characters (not bytes: "µ" is two).
func padLeft(text string, width int) string {
	return strings.Repeat(" ", max(width-utf8.RuneCountInString(text), 0)) + text
}

// FormatMilliseconds formats a latency given in milliseconds with three
// significant digits and a unit: "850µs", "2.41ms", "1.20s".
func FormatMilliseconds(ms float64) string {
	switch {
	case ms < 0.001:
		return fmt.Sprintf("%.0fns", ms*1e6)
	case ms < 1:
		return trimSignificant(ms*1000) + "µs"
	case ms < 1000:
		return trimSignificant(ms) + "ms"
	default:
		return trimSignificant(ms/1000) + "s"
	}
}

// trimSignificant formats v (>= 1, < 1000) with three significant digits.
func trimSignificant(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}
