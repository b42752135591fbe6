package loadgen

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The histogram stores values (nanoseconds) below histogramExactLimit
// exactly, and larger ones in log buckets: histogramSubBits bits of
// mantissa per power of two, so a bucket is at most 1/128 of its lower
// bound wide and its midpoint is within 0.4% of any value in it. That is
// the HDR histogram's idea, sized for latencies: values up to
// histogramMaxValue (about 18 minutes) are bucketed, larger ones are
// clamped into the last bucket (the exact maximum is still kept).
const (
	histogramSubBits    = 7
	histogramSubBuckets = 1 << histogramSubBits
	histogramExactLimit = 2 * histogramSubBuckets
	histogramMaxValue   = 1<<40 - 1
)

// histogramBucketCount is bucketIndex(histogramMaxValue) + 1.
var histogramBucketCount = bucketIndex(histogramMaxValue) + 1

// bucketIndex returns the bucket of value v (v <= histogramMaxValue).
func bucketIndex(v uint64) int {
	if v < histogramExactLimit {
		return int(v)
	}
	// shift brings v's top histogramSubBits+1 bits into
	// [histogramSubBuckets, 2*histogramSubBuckets).
	shift := bits.Len64(v) - (histogramSubBits + 1)
	return histogramExactLimit + (shift-1)<<histogramSubBits + int(v>>shift) - histogramSubBuckets
}

// bucketBounds returns the values bucket i holds: [lower, upper).
func bucketBounds(i int) (lower, upper uint64) {
	if i < histogramExactLimit {
		return uint64(i), uint64(i) + 1
	}
	j := i - histogramExactLimit
	shift := uint(j>>histogramSubBits) + 1
	mantissa := uint64(j&(histogramSubBuckets-1)) + histogramSubBuckets
	return mantissa << shift, (mantissa + 1) << shift
}

// Histogram records durations for percentiles and plots. Record may be
// called from any number of goroutines at once (it uses atomic counters,
// no lock); the readers (Percentile, Bins, ...) may run concurrently with
// Record and then see a recent, possibly slightly torn, state — exact once
// the recorders have stopped. Create it with NewHistogram.
type Histogram struct {
	counts []atomic.Uint64
	count  atomic.Uint64
	sum    atomic.Uint64
	min    atomic.Uint64
	max    atomic.Uint64
}

// NewHistogram returns an empty histogram (about 35 KB).
func NewHistogram() *Histogram {
	h := &Histogram{counts: make([]atomic.Uint64, histogramBucketCount)}
	h.min.Store(math.MaxUint64)
	return h
}

// Record adds one duration; a negative one counts as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketIndex(min(v, histogramMaxValue))].Add(1)
	h.count.Add(1)
	h.sum.Add(v)
	for current := h.min.Load(); v < current && !h.min.CompareAndSwap(current, v); current = h.min.Load() {
	}
	for current := h.max.Load(); v > current && !h.max.CompareAndSwap(current, v); current = h.max.Load() {
	}
}

// Merge adds every value recorded in other into h. other must not be
// recorded into meanwhile.
func (h *Histogram) Merge(other *Histogram) {
	if other.Count() == 0 {
		return
	}
	for i := range other.counts {
		if n := other.counts[i].Load(); n > 0 {
			h.counts[i].Add(n)
		}
	}
	h.count.Add(other.count.Load())
	h.sum.Add(other.sum.Load())
	for v, current := other.min.Load(), h.min.Load(); v < current && !h.min.CompareAndSwap(current, v); current = h.min.Load() {
	}
	for v, current := other.max.Load(), h.max.Load(); v > current && !h.max.CompareAndSwap(current, v); current = h.max.Load() {
	}
}

// Count returns the number of recorded values.
func (h *Histogram) Count() int64 { return int64(h.count.Load()) }

// Min returns the smallest recorded value, exactly (0 when empty).
func (h *Histogram) Min() time.Duration {
	if h.Count() == 0 {
		return 0
	}
	return time.Duration(h.min.Load())
}

// Max returns the largest recorded value, exactly (0 when empty).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean returns the arithmetic mean of the recorded values (0 when empty).
func (h *Histogram) Mean() time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Percentile returns the nearest-rank p-th percentile (p in [0, 100]): the
// smallest recorded value such that at least p% of the values are at or
// below it, to within 0.4% (exact below 256 ns, and exact for p = 0, which
// is the minimum, and p = 100, the maximum). It returns 0 when empty; p
// outside [0, 100] is clamped.
func (h *Histogram) Percentile(p float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	if p <= 0 || math.IsNaN(p) {
		return h.Min()
	}
	if p >= 100 {
		return h.Max()
	}
	rank := uint64(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return h.representative(i)
		}
	}
	return h.Max()
}

// representative returns the value that stands for bucket i: its midpoint,
// kept within the recorded minimum and maximum.
func (h *Histogram) representative(i int) time.Duration {
	lower, upper := bucketBounds(i)
	middle := lower + (upper-1-lower)/2
	return time.Duration(min(max(middle, h.min.Load()), h.max.Load()))
}

// Bin is one bar of a display histogram: Count values in [Lower, Upper)
// (the last bin of a range includes Upper).
type Bin struct {
	Lower, Upper time.Duration
	Count        int64
}

// Bins returns count log-spaced bins from the minimum to the maximum
// (one bin if they are equal, none if the histogram is empty).
func (h *Histogram) Bins(count int) []Bin {
	if h.Count() == 0 {
		return nil
	}
	return h.BinsBetween(h.Min(), h.Max(), count)
}

// BinsBetween returns count bins with log-spaced edges from lower to upper,
// so that several histograms can be drawn on one axis. Each stored bucket
// goes, whole, into the bin that holds its representative value; values
// outside [lower, upper] go into the first or the last bin. lower is raised
// to 1 ns (a log axis has no zero); count is at least 1.
func (h *Histogram) BinsBetween(lower, upper time.Duration, count int) []Bin {
	count = max(count, 1)
	lower = max(lower, 1)
	upper = max(upper, lower)
	if upper == lower {
		count = 1
	}
	bins := make([]Bin, count)
	ratio := float64(upper) / float64(lower)
	for k := range bins {
		bins[k].Lower = edge(lower, ratio, k, count)
		bins[k].Upper = edge(lower, ratio, k+1, count)
	}
	bins[count-1].Upper = upper
	logRatio := math.Log(ratio)
	for i := range h.counts {
		n := h.counts[i].Load()
		if n == 0 {
			continue
		}
		k := 0
		if logRatio > 0 {
			position := math.Log(float64(h.representative(i))/float64(lower)) / logRatio
			k = min(max(int(position*float64(count)), 0), count-1)
		}
		bins[k].Count += int64(n)
	}
	return bins
}

// edge returns the k-th of count log-spaced edges from lower.
func edge(lower time.Duration, ratio float64, k, count int) time.Duration {
	return time.Duration(math.Round(float64(lower) * math.Pow(ratio, float64(k)/float64(count))))
}
