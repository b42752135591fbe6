package loadgen

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// parseXML fails the test unless document is well-formed XML, and returns
// the number of elements of each name.
func parseXML(t *testing.T, document string) map[string]int {
	t.Helper()
	decoder := xml.NewDecoder(strings.NewReader(document))
	decoder.Strict = true
	elements := map[string]int{}
	for {
		token, err := decoder.Token()
		if errors.Is(err, io.EOF) {
			return elements
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, document)
		}
		if start, ok := token.(xml.StartElement); ok {
			elements[start.Name.Local]++
		}
	}
}

func histogramOf(values ...time.Duration) *Histogram {
	h := NewHistogram()
	for _, v := range values {
		h.Record(v)
	}
	return h
}

func spread(from time.Duration, count int) *Histogram {
	h := NewHistogram()
	for i := range count {
		h.Record(from + time.Duration(i)*from/100)
	}
	return h
}

func TestSVGPlotDrawsEverySeries(t *testing.T) {
	series := []PlotSeries{
		{Name: "etcd <3.7.3> & co", Latencies: spread(2*time.Millisecond, 5000)},
		{Name: "lockstep", Latencies: spread(300*time.Microsecond, 5000)},
		{Name: "empty", Latencies: NewHistogram()},
	}
	var out bytes.Buffer
	if err := WritePlotSVG(&out, "put: 1 client", series); err != nil {
		t.Fatal(err)
	}
	document := out.String()
	elements := parseXML(t, document)
	// Two curves (distribution and percentiles) per series with samples.
	if elements["svg"] != 1 || elements["polyline"] != 4 {
		t.Fatalf("elements %v: want 1 svg and 4 polylines", elements)
	}
	for _, want := range []string{"etcd &lt;3.7.3&gt; &amp; co: p50", "lockstep: p50", "empty: no samples", "99.9%", "put: 1 client"} {
		if !strings.Contains(document, want) {
			t.Errorf("the plot lacks %q", want)
		}
	}
	if strings.Contains(document, "NaN") || strings.Contains(document, "Inf") {
		t.Fatalf("the plot has a non-finite coordinate:\n%s", document)
	}
}

func TestSVGPlotOfNothingOrOneValue(t *testing.T) {
	for name, series := range map[string][]PlotSeries{
		"none":      nil,
		"empty":     {{Name: "a", Latencies: NewHistogram()}},
		"one value": {{Name: "a", Latencies: histogramOf(time.Millisecond)}},
		"zero":      {{Name: "a", Latencies: histogramOf(0, 0)}},
	} {
		var out bytes.Buffer
		if err := WritePlotSVG(&out, name, series); err != nil {
			t.Fatal(err)
		}
		parseXML(t, out.String())
		if strings.Contains(out.String(), "NaN") || strings.Contains(out.String(), "Inf") {
			t.Fatalf("%s: non-finite coordinate:\n%s", name, out.String())
		}
	}
}

func TestHTMLPlotIsSelfContained(t *testing.T) {
	directory := t.TempDir()
	path := filepath.Join(directory, "latency.html")
	series := []PlotSeries{{Name: "run", Latencies: spread(time.Millisecond, 1000)}}
	if err := WritePlotFile(path, "range", series); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(page)
	for _, want := range []string{"<!DOCTYPE html>", "<table>", "<svg", "</html>", "<td>run</td><td>1000</td>"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for _, forbidden := range []string{"<script", "<link", "src=", "https://", "http://cdn"} {
		if strings.Contains(text, forbidden) {
			t.Errorf("the page refers to an outside resource: %q", forbidden)
		}
	}
	if err := WritePlotFile(filepath.Join(directory, "latency.png"), "x", series); err == nil || !strings.Contains(err.Error(), ".svg or .html") {
		t.Fatalf("a .png plot gave %v, want an error naming .svg or .html", err)
	}
	svgPath := filepath.Join(directory, "latency.svg")
	if err := WritePlotFile(svgPath, "x", series); err != nil {
		t.Fatal(err)
	}
	svg, err := os.ReadFile(svgPath)
	if err != nil {
		t.Fatal(err)
	}
	parseXML(t, string(svg))
}

func TestLogAxisTicksAndNiceCeiling(t *testing.T) {
	axis := logAxis{lower: 150 * time.Microsecond, upper: 30 * time.Millisecond}
	ticks := axis.ticks()
	want := []time.Duration{200 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond}
	if len(ticks) != len(want) {
		t.Fatalf("ticks %v, want %v", ticks, want)
	}
	for i := range want {
		if ticks[i] != want[i] {
			t.Fatalf("ticks %v, want %v", ticks, want)
		}
	}
	if f := axis.fraction(axis.lower); f != 0 {
		t.Fatalf("fraction(lower) = %v", f)
	}
	if f := axis.fraction(time.Hour); f != 1 {
		t.Fatalf("fraction beyond upper = %v, want 1", f)
	}
	wide := logAxis{lower: 1, upper: time.Hour}
	if n := len(wide.ticks()); n > 12 || n < 6 {
		t.Fatalf("a wide axis has %d ticks, want 6..12", n)
	}
	for d, want := range map[time.Duration]string{2 * time.Millisecond: "2ms", 500 * time.Microsecond: "500µs", 20 * time.Second: "20s", 50: "50ns"} {
		if got := formatTick(d); got != want {
			t.Errorf("formatTick(%v) = %q, want %q", d, got, want)
		}
	}
	for v, want := range map[float64]float64{0: 1, 0.3: 0.5, 3: 5, 7.2: 10, 12: 20, 23: 25, 100: 100} {
		if got := niceCeiling(v); got != want {
			t.Errorf("niceCeiling(%v) = %v, want %v", v, got, want)
		}
	}
}
