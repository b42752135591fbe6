package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// exactPercentile is the nearest-rank percentile of sorted values, the
// definition Histogram.Percentile approximates.
func exactPercentile(sorted []time.Duration, p float64) time.Duration {
	if p <= 0 {
		return sorted[0]
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func TestBucketIndexIsContiguousAndBoundsHoldTheirValues(t *testing.T) {
	previous := -1
	for _, v := range []uint64{0, 1, 255, 256, 257, 511, 512, 1000, 1 << 20, 123456789, histogramMaxValue} {
		i := bucketIndex(v)
		lower, upper := bucketBounds(i)
		if v < lower || v >= upper {
			t.Fatalf("value %d in bucket %d = [%d, %d)", v, i, lower, upper)
		}
		if v >= histogramExactLimit && float64(upper-lower)/float64(lower) > 1.0/histogramSubBuckets {
			t.Fatalf("bucket %d = [%d, %d) is wider than 1/%d of its lower bound", i, lower, upper, histogramSubBuckets)
		}
		if i < previous {
			t.Fatalf("bucketIndex(%d) = %d goes backwards", v, i)
		}
		previous = i
	}
	for i := 1; i < histogramBucketCount; i++ {
		_, previousUpper := bucketBounds(i - 1)
		lower, _ := bucketBounds(i)
		if lower != previousUpper {
			t.Fatalf("bucket %d starts at %d, bucket %d ends at %d", i, lower, i-1, previousUpper)
		}
		if bucketIndex(lower) != i {
			t.Fatalf("bucketIndex(%d) = %d, want %d", lower, bucketIndex(lower), i)
		}
	}
}

func TestPercentilesAgreeWithExactNearestRank(t *testing.T) {
	random := rand.New(rand.NewPCG(1, 2))
	distributions := map[string]func() time.Duration{
		"uniform 0-10ms": func() time.Duration { return time.Duration(random.Int64N(int64(10 * time.Millisecond))) },
		"lognormal":      func() time.Duration { return time.Duration(math.Exp(random.NormFloat64()*1.5 + 14)) },
		"tiny exact":     func() time.Duration { return time.Duration(random.IntN(200)) },
		"bimodal": func() time.Duration {
			if random.IntN(100) < 3 {
				return time.Duration(500+random.IntN(100)) * time.Millisecond
			}
			return time.Duration(1000+random.IntN(2000)) * time.Microsecond
		},
	}
	for name, draw := range distributions {
		for _, size := range []int{1, 2, 7, 1000, 50000} {
			histogram := NewHistogram()
			values := make([]time.Duration, size)
			for i := range values {
				values[i] = draw()
				histogram.Record(values[i])
			}
			slices.Sort(values)
			for _, p := range []float64{0, 1, 50, 90, 99, 99.9, 99.99, 100} {
				want := exactPercentile(values, p)
				got := histogram.Percentile(p)
				tolerance := float64(want) * 0.004
				if want < histogramExactLimit || p == 0 || p == 100 {
					tolerance = 0
				}
				if math.Abs(float64(got-want)) > tolerance {
					t.Errorf("%s, %d values: p%v = %v, exact %v (tolerance %v)", name, size, p, got, want, time.Duration(tolerance))
				}
			}
			if histogram.Count() != int64(size) || histogram.Min() != values[0] || histogram.Max() != values[size-1] {
				t.Errorf("%s: count/min/max = %d/%v/%v, want %d/%v/%v", name, histogram.Count(), histogram.Min(), histogram.Max(), size, values[0], values[size-1])
			}
		}
	}
}

func TestPercentileOfKnownSamples(t *testing.T) {
	histogram := NewHistogram()
	for v := 1; v <= 100; v++ { // 1..100 ns: stored exactly
		histogram.Record(time.Duration(v))
	}
	for p, want := range map[float64]time.Duration{0: 1, 1: 1, 1.5: 2, 50: 50, 90: 90, 99: 99, 99.9: 100, 100: 100, 150: 100, -3: 1} {
		if got := histogram.Percentile(p); got != want {
			t.Errorf("p%v of 1..100 = %v, want %v", p, got, want)
		}
	}
	if got := histogram.Mean(); got != 50 { // 50.5 truncated
		t.Errorf("mean = %v, want 50ns", got)
	}
	empty := NewHistogram()
	if empty.Percentile(50) != 0 || empty.Min() != 0 || empty.Max() != 0 || empty.Mean() != 0 || empty.Bins(10) != nil {
		t.Error("an empty histogram must report zeros and no bins")
	}
}

func TestHugeAndNegativeValuesAreClamped(t *testing.T) {
	histogram := NewHistogram()
	histogram.Record(-time.Second)
	histogram.Record(100 * time.Hour)
	if histogram.Min() != 0 || histogram.Max() != 100*time.Hour {
		t.Fatalf("min/max = %v/%v, want 0/100h", histogram.Min(), histogram.Max())
	}
	if got := histogram.Percentile(100); got != 100*time.Hour {
		t.Fatalf("p100 = %v, want the exact maximum", got)
	}
}

func TestConcurrentRecordAndMerge(t *testing.T) {
	first, second := NewHistogram(), NewHistogram()
	var group sync.WaitGroup
	for worker := range 8 {
		group.Add(1)
		go func() {
			defer group.Done()
			target := first
			if worker%2 == 1 {
				target = second
			}
			for i := range 1000 {
				target.Record(time.Duration(worker*1000+i) * time.Microsecond)
			}
		}()
	}
	group.Wait()
	first.Merge(second)
	first.Merge(NewHistogram())
	if first.Count() != 8000 || first.Min() != 0 || first.Max() != 7999*time.Microsecond {
		t.Fatalf("merged count/min/max = %d/%v/%v", first.Count(), first.Min(), first.Max())
	}
	if got, want := first.Percentile(50), 3999*time.Microsecond; math.Abs(float64(got-want)) > float64(want)*0.004 {
		t.Fatalf("merged p50 = %v, want about %v", got, want)
	}
}

func TestBinsCoverEveryValue(t *testing.T) {
	histogram := NewHistogram()
	for v := range 10000 {
		histogram.Record(time.Duration(v+1) * time.Microsecond)
	}
	bins := histogram.Bins(12)
	if len(bins) != 12 {
		t.Fatalf("%d bins, want 12", len(bins))
	}
	var total int64
	for k, bin := range bins {
		total += bin.Count
		if bin.Lower >= bin.Upper {
			t.Fatalf("bin %d = [%v, %v) is empty", k, bin.Lower, bin.Upper)
		}
		if k > 0 && bin.Lower != bins[k-1].Upper {
			t.Fatalf("bin %d starts at %v, previous ends at %v", k, bin.Lower, bins[k-1].Upper)
		}
	}
	if total != 10000 || bins[0].Lower != time.Microsecond || bins[11].Upper != 10*time.Millisecond {
		t.Fatalf("bins hold %d values over [%v, %v], want 10000 over [1µs, 10ms]", total, bins[0].Lower, bins[11].Upper)
	}
	// Log spacing: the last bin (1/12 of the log range, the top ~46% of
	// the values' range) holds many more values than the first.
	if bins[11].Count <= bins[0].Count {
		t.Fatalf("bins are not log-spaced: first %d, last %d", bins[0].Count, bins[11].Count)
	}
	single := NewHistogram()
	single.Record(time.Millisecond)
	if got := single.Bins(10); len(got) != 1 || got[0].Count != 1 {
		t.Fatalf("one value gives bins %+v, want one bin", got)
	}
}
