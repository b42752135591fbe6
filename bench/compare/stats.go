package main

import (
	"slices"
)

// spread is the median and range of one figure over rounds.
type spread struct {
	Median, Min, Max float64
	Count            int
}

// spreadOf returns the median (the mean of the middle two for an even
// count), minimum and maximum of values; Count 0 when there are none.
func spreadOf(values []float64) spread {
	if len(values) == 0 {
		return spread{}
	}
	sorted := slices.Sorted(slices.Values(values))
	middle := len(sorted) / 2
	median := sorted[middle]
	if len(sorted)%2 == 0 {
		median = (sorted[middle-1] + sorted[middle]) / 2
	}
	return spread{Median: median, Min: sorted[0], Max: sorted[len(sorted)-1], Count: len(sorted)}
}

// ratio returns a / b, or false when either is missing or b is zero.
func ratio(a, b spread) (float64, bool) {
	if a.Count == 0 || b.Count == 0 || b.Median == 0 {
		return 0, false
	}
	return a.Median / b.Median, true
}
