package loadgen

import (
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// PlotSeries is one latency distribution on a plot.
type PlotSeries struct {
	Name      string
	Latencies *Histogram
}

// Layout of the SVG plot, in pixels: two panels one above the other, the
// share of operations by latency and the latency by percentile.
const (
	plotWidth       = 880
	plotHeight      = 660
	plotLeft        = 80
	plotRight       = 840
	distributionTop = 70
	distributionLow = 300
	percentileTop   = 380
	percentileLow   = 610
	plotBins        = 40
	plotCurvePoints = 240
	maxNines        = 5 // the percentile axis stops at 99.999%
)

// nineLabels names the percentile axis' gridlines, one per nine.
var nineLabels = [maxNines + 1]string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"}

var plotColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

// WritePlotFile writes the plot to path: an SVG document if path ends in
// .svg, an HTML page (the SVG and a table of percentiles, no external
// resources) if it ends in .html or .htm.
func WritePlotFile(path, title string, series []PlotSeries) error {
	write := WritePlotSVG
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg":
	case ".html", ".htm":
		write = WritePlotHTML
	default:
		return fmt.Errorf("plot %s: the file name must end in .svg or .html", path)
	}
	file, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := write(file, title, series); err != nil {
		file.Close()
		return fmt.Errorf("plot %s: %w", path, err)
	}
	if err := file.Close(); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}

// WritePlotHTML writes a self-contained HTML page: the title, a table of
// each series' percentiles, and the SVG plot inline.
func WritePlotHTML(w io.Writer, title string, series []PlotSeries) error {
	var b strings.Builder
	escapedTitle := html.EscapeString(title)
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n", escapedTitle)
	b.WriteString("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}" +
		"td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th:first-child,td:first-child{text-align:left}</style>\n</head>\n<body>\n")
	fmt.Fprintf(&b, "<h1>%s</h1>\n<table>\n<tr><th>series</th><th>operations</th><th>min</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>\n", escapedTitle)
	for _, s := range series {
		summary := Summarize(s.Latencies)
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%d</td>", html.EscapeString(s.Name), summary.Count)
		for _, ms := range []float64{summary.Min, summary.P50, summary.P90, summary.P99, summary.P999, summary.Max} {
			fmt.Fprintf(&b, "<td>%s</td>", FormatMilliseconds(ms))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if err := WritePlotSVG(w, title, series); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n</body>\n</html>\n")
	return err
}

// WritePlotSVG writes a standalone SVG document with two panels: above,
// the share of each series' operations by latency (log-spaced bins, a log
// latency axis); below, latency (log axis) by percentile, the percentile
// axis spreading the tail (0%, 90%, 99%, 99.9%, ...). Series without
// samples appear only in the legend.
func WritePlotSVG(w io.Writer, title string, series []PlotSeries) error {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		plotWidth, plotHeight, plotWidth, plotHeight)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", plotWidth, plotHeight)
	fmt.Fprintf(&b, `<text x="%d" y="28" font-size="16" font-weight="bold">%s</text>`+"\n", plotLeft, html.EscapeString(title))
	lower, upper, ok := latencyRange(series)
	if !ok {
		fmt.Fprintf(&b, `<text x="%d" y="%d">no successful operations to draw</text>`+"\n", plotLeft, distributionTop+20)
	} else {
		axis := logAxis{lower: lower, upper: upper}
		drawDistribution(&b, series, axis)
		drawPercentiles(&b, series, axis)
	}
	drawLegend(&b, series)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// latencyRange returns the smallest minimum and largest maximum of the
// series that have samples, widened so the log axis has some extent.
func latencyRange(series []PlotSeries) (lower, upper time.Duration, ok bool) {
	for _, s := range series {
		if s.Latencies.Count() == 0 {
			continue
		}
		if !ok || s.Latencies.Min() < lower {
			lower = s.Latencies.Min()
		}
		upper = max(upper, s.Latencies.Max())
		ok = true
	}
	lower = max(lower, time.Microsecond/10)
	if upper < lower*2 {
		lower, upper = max(lower/2, 1), upper*2
	}
	return lower, max(upper, lower*2), ok
}

// logAxis maps latencies to a fraction of an axis, logarithmically.
type logAxis struct{ lower, upper time.Duration }

func (a logAxis) fraction(d time.Duration) float64 {
	d = min(max(d, a.lower), a.upper)
	return math.Log(float64(d)/float64(a.lower)) / math.Log(float64(a.upper)/float64(a.lower))
}

// ticks returns the 1-2-5 values inside the axis, thinned to at most 12.
func (a logAxis) ticks() []time.Duration {
	var ticks []time.Duration
	for decade := time.Duration(1); decade <= a.upper; decade *= 10 {
		for _, step := range []time.Duration{1, 2, 5} {
			if tick := decade * step; tick >= a.lower && tick <= a.upper {
				ticks = append(ticks, tick)
			}
		}
		if decade > math.MaxInt64/10 {
			break
		}
	}
	for len(ticks) > 12 {
		var thinned []time.Duration
		for i, tick := range ticks {
			if i%2 == 0 {
				thinned = append(thinned, tick)
			}
		}
		ticks = thinned
	}
	return ticks
}

func xOf(fraction float64) float64 { return plotLeft + fraction*(plotRight-plotLeft) }

func formatDuration(d time.Duration) string { return FormatMilliseconds(milliseconds(d)) }

// formatTick formats an axis tick without trailing zeros: "2ms", not "2.00ms".
func formatTick(d time.Duration) string {
	text := formatDuration(d)
	unitStart := strings.IndexFunc(text, func(r rune) bool { return r != '.' && (r < '0' || r > '9') })
	number, unit := text[:unitStart], text[unitStart:]
	if strings.Contains(number, ".") {
		number = strings.TrimRight(strings.TrimRight(number, "0"), ".")
	}
	return number + unit
}

// drawDistribution draws the upper panel: a step line per series of the
// share (%) of its operations in each of plotBins log-spaced bins.
func drawDistribution(b *strings.Builder, series []PlotSeries, axis logAxis) {
	shares := make([][]float64, len(series))
	bins := make([][]Bin, len(series))
	highest := 0.0
	for i, s := range series {
		if s.Latencies.Count() == 0 {
			continue
		}
		bins[i] = s.Latencies.BinsBetween(axis.lower, axis.upper, plotBins)
		for _, bin := range bins[i] {
			share := 100 * float64(bin.Count) / float64(s.Latencies.Count())
			shares[i] = append(shares[i], share)
			highest = max(highest, share)
		}
	}
	top := niceCeiling(highest)
	yOf := func(share float64) float64 {
		return distributionLow - share/top*(distributionLow-distributionTop)
	}
	drawFrame(b, distributionTop, distributionLow, "share of operations (%)")
	for _, share := range []float64{0, top / 4, top / 2, 3 * top / 4, top} {
		y := yOf(share)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`+"\n", plotLeft, y, plotRight, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%g</text>`+"\n", plotLeft-6, y+4, share)
	}
	drawLatencyTicks(b, axis, distributionLow, "latency")
	for i := range series {
		if bins[i] == nil {
			continue
		}
		var points []string
		points = append(points, fmt.Sprintf("%.1f,%.1f", xOf(0), yOf(0)))
		for k, bin := range bins[i] {
			y := yOf(shares[i][k])
			points = append(points, fmt.Sprintf("%.1f,%.1f %.1f,%.1f", xOf(axis.fraction(bin.Lower)), y, xOf(axis.fraction(bin.Upper)), y))
		}
		points = append(points, fmt.Sprintf("%.1f,%.1f", xOf(1), yOf(0)))
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", plotColors[i%len(plotColors)], strings.Join(points, " "))
	}
}

// drawPercentiles draws the lower panel: latency by percentile, x in
// "nines" (log10 of 1/(1-p)), up to what the largest series supports.
func drawPercentiles(b *strings.Builder, series []PlotSeries, axis logAxis) {
	nines := 1.0
	for _, s := range series {
		if count := s.Latencies.Count(); count > 0 {
			nines = max(nines, min(math.Log10(float64(count)), maxNines))
		}
	}
	nines = math.Ceil(nines)
	yOf := func(d time.Duration) float64 {
		return percentileLow - axis.fraction(d)*(percentileLow-percentileTop)
	}
	drawFrame(b, percentileTop, percentileLow, "latency")
	for _, tick := range axis.ticks() {
		y := yOf(tick)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`+"\n", plotLeft, y, plotRight, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", plotLeft-6, y+4, formatTick(tick))
	}
	for n := 0; n <= int(nines); n++ {
		x := xOf(float64(n) / nines)
		label := nineLabels[n]
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>`+"\n", x, percentileTop, x, percentileLow)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, percentileLow+16, label)
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">percentile</text>`+"\n", (plotLeft+plotRight)/2, percentileLow+34)
	for i, s := range series {
		if s.Latencies.Count() == 0 {
			continue
		}
		points := make([]string, 0, plotCurvePoints+1)
		for step := 0; step <= plotCurvePoints; step++ {
			x := nines * float64(step) / plotCurvePoints
			percentile := 100 * (1 - math.Pow(10, -x))
			points = append(points, fmt.Sprintf("%.1f,%.1f", xOf(x/nines), yOf(s.Latencies.Percentile(percentile))))
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", plotColors[i%len(plotColors)], strings.Join(points, " "))
	}
}

// drawFrame draws a panel's box and its vertical axis label.
func drawFrame(b *strings.Builder, top, low int, label string) {
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>`+"\n", plotLeft, top, plotRight-plotLeft, low-top)
	fmt.Fprintf(b, `<text transform="translate(18 %d) rotate(-90)" text-anchor="middle">%s</text>`+"\n", (top+low)/2, label)
}

// drawLatencyTicks labels a horizontal latency axis under a panel.
func drawLatencyTicks(b *strings.Builder, axis logAxis, low int, label string) {
	for _, tick := range axis.ticks() {
		x := xOf(axis.fraction(tick))
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#888"/>`+"\n", x, low, x, low+4)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, low+16, formatTick(tick))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", (plotLeft+plotRight)/2, low+34, label)
}

// drawLegend lists the series with their colour, p50 and p99, in the top
// left corner of the percentile panel: the curves rise from the bottom
// left to the top right, so that corner stays clear.
func drawLegend(b *strings.Builder, series []PlotSeries) {
	for i, s := range series {
		y := percentileTop + 20 + 18*i
		x := plotLeft + 12
		color := plotColors[i%len(plotColors)]
		text := html.EscapeString(s.Name) + ": no samples"
		if s.Latencies.Count() > 0 {
			text = fmt.Sprintf("%s: p50 %s, p99 %s, %d ops", html.EscapeString(s.Name),
				formatDuration(s.Latencies.Percentile(50)), formatDuration(s.Latencies.Percentile(99)), s.Latencies.Count())
		}
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", x, y-4, x+20, y-4, color)
		fmt.Fprintf(b, `<text x="%d" y="%d">%s</text>`+"\n", x+26, y, text)
	}
}

// niceCeiling returns the smallest of 1, 2, 2.5, 5 times a power of ten
// that is at least v (v > 0), or 1 for v <= 0.
func niceCeiling(v float64) float64 {
	if v <= 0 {
		return 1
	}
	magnitude := math.Pow(10, math.Floor(math.Log10(v)))
	for _, step := range []float64{1, 2, 2.5, 5, 10} {
		if step*magnitude >= v {
			return step * magnitude
		}
	}
	return 10 * magnitude
}
