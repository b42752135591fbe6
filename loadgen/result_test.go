package loadgen

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestFormatMilliseconds(t *testing.T) {
	for ms, want := range map[float64]string{0.0005: "500ns", 0.85: "850µs", 2.414: "2.41ms", 12.34: "12.3ms", 123.4: "123ms", 1200: "1.20s", 0: "0ns"} {
		if got := FormatMilliseconds(ms); got != want {
			t.Errorf("FormatMilliseconds(%v) = %q, want %q", ms, got, want)
		}
	}
}

func TestWriteTextShowsErrorsPercentilesAndAnAlignedHistogram(t *testing.T) {
	config := validConfig()
	config.Workload = WorkloadTxnPut
	result := newResult(config, []string{"127.0.0.1:2379"}, []string{"127.0.0.1:1"})
	recorded := newTally(config.Workload)
	for i := range 1000 {
		recorded.record(outcome{failedCompare: i%10 == 0}, time.Duration(200+i)*time.Microsecond)
	}
	recorded.record(outcome{err: errTest("etcdserver: request timed out")}, time.Second)
	result.fill(recorded, 2*time.Second, "total")
	if result.Operations != 1000 || result.Errors != 1 || result.FailedCompares != 100 || result.OperationsPerSecond != 500 {
		t.Fatalf("operations %d, errors %d, failed compares %d, %v ops/s", result.Operations, result.Errors, result.FailedCompares, result.OperationsPerSecond)
	}
	var out strings.Builder
	if err := result.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"1000 in 2.00 s = 500.0 ops/s (stopped by total)", "unreachable  127.0.0.1:1", "compares     100 failed", "errors       1",
		"       1  etcdserver: request timed out", "p50 698µs", "max 1.20ms", "mean 700µs"} {
		if !strings.Contains(text, want) {
			t.Errorf("the text lacks %q:\n%s", want, text)
		}
	}
	var barColumns []int
	for line := range strings.Lines(text) {
		if bar := strings.Index(line, "|"); bar >= 0 {
			barColumns = append(barColumns, utf8.RuneCountInString(line[:bar]))
		}
	}
	if len(barColumns) != histogramBins {
		t.Fatalf("%d histogram lines, want %d", len(barColumns), histogramBins)
	}
	for _, column := range barColumns {
		if column != barColumns[0] {
			t.Fatalf("histogram bars start at columns %v, want one column", barColumns)
		}
	}
}

// errTest is an error with a fixed text.
type errTest string

func (e errTest) Error() string { return string(e) }
