package main

import (
	"fmt"
	"strings"

	"github.com/lockstepdb/lockstep/loadgen"
)

// writeIssue15Goals checks issue 15's goals ("close the gap to the
// machine"), when etcd and lockstep both ran, and sets put-1's p50 beside
// the physical path it is measured against: the floor's p50 plus one raw
// fsync.
func (r *results) writeIssue15Goals(b *strings.Builder) {
	if !r.compared() {
		return
	}
	goal := goalWriter(b)
	versus := func(workload string, m metric) (float64, bool) {
		return ratio(r.figure("lockstep", workload, m), r.figure("etcd", workload, m))
	}
	b.WriteString("## Goals of issue 15\n\n| goal | measured | met |\n|---|---|---|\n")
	value, ok := versus("put-1000-clients", throughput)
	goal("put, 1,000 clients: throughput ≥ 2× etcd's", ok, fmt.Sprintf("%.2f×", value), value >= 2)
	value, ok = versus("put-1000-clients", p99)
	goal("put, 1,000 clients: p99 ≤ etcd's", ok, fmt.Sprintf("%.2f×", value), value <= 1)
	value, ok = versus("range-1000-clients", throughput)
	goal("linearizable range, 1,000 clients: throughput ≥ 2× etcd's", ok, fmt.Sprintf("%.2f×", value), value >= 2)
	value, ok = versus("put-1-client", p50)
	goal("put, 1 client: p50 ≤ 0.5× etcd's", ok, fmt.Sprintf("%.2f×", value), value <= 0.5)
	lockstepPeak, etcdPeak := r.largestPeak("lockstep"), r.largestPeak("etcd")
	value, ok = ratio(lockstepPeak, etcdPeak)
	goal("peak RSS of the largest member ≤ 0.75× etcd's", ok,
		fmt.Sprintf("%s vs %s (%.2f×)", formatMebibytes(lockstepPeak.Median), formatMebibytes(etcdPeak.Median), value), value <= 0.75)
	value, ok = versus("watch-fanout", fanoutMetrics[3]) // delivery p99
	goal("watch fan-out: delivery p99 ≤ 0.5× etcd's", ok, fmt.Sprintf("%.2f×", value), value <= 0.5)
	value, ok = versus("watch-fanout", eventRate)
	goal("watch fan-out: events/s ≥ 2× etcd's", ok, fmt.Sprintf("%.2f×", value), value >= 2)
	for _, operation := range []string{"put", "range"} {
		within := r.bigStoreRatio("lockstep", operation)
		goal(fmt.Sprintf("big store: %s throughput within 20%% of the small store's", operation), within.Count > 0,
			fmt.Sprintf("%.2f×", within.Median), within.Median >= 0.8)
	}
	b.WriteString("\n")
	r.writePhysicalPath(b)
	r.writeReach(b)
}

// writePhysicalPath sets put-1's p50 beside the floor's p50 plus the raw
// fsync p50: what one client's put costs with nothing but the protocol
// and one durable write (a 3-member put adds one peer round trip, about
// the floor's p50 again on loopback).
func (r *results) writePhysicalPath(b *strings.Builder) {
	floor := r.figure("floor", "put-1-client", p50)
	fsync := r.fsyncP50()
	if floor.Count == 0 || fsync == 0 {
		return
	}
	path := floor.Median + fsync
	fmt.Fprintf(b, "Put, 1 client, against the physical path: the floor's p50 %s + one raw fsync p50 %s = %s (a 3-member put adds a peer round trip).",
		loadgen.FormatMilliseconds(floor.Median), loadgen.FormatMilliseconds(fsync), loadgen.FormatMilliseconds(path))
	for _, name := range []string{"lockstep", "etcd"} {
		if measured := r.figure(name, "put-1-client", p50); measured.Count > 0 {
			fmt.Fprintf(b, " %s: %s = %.2f× that.", name, loadgen.FormatMilliseconds(measured.Median), measured.Median/path)
		}
	}
	b.WriteString("\n\n")
}
