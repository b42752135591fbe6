#!/bin/sh
# Runs the lockstep-vs-etcd core benchmark and summarizes it.
#
#   ./bench.sh [extra go test flags...]     e.g. ./bench.sh -compact
#
# Environment: COUNT (default 6), BENCHTIME (default 1000000x: a fixed
# number of commits, so that both libraries hold logs of the same length),
# OUT (default core-bench.txt, the raw output).
set -eu
cd "$(dirname "$0")"
COUNT=${COUNT:-6}
BENCHTIME=${BENCHTIME:-1000000x}
OUT=${OUT:-core-bench.txt}

go test -run XXX -bench . -benchtime "$BENCHTIME" -count "$COUNT" "$@" | tee "$OUT"

# Medians per benchmark, and lockstep/etcd ratios (commits/s: >1 means
# lockstep commits faster).
echo
awk '
function median(key,   n, i, j, t, a) {
	n = split(vals[key], a, " ")
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	for (i = 3; i < NF; i += 2) { k = name SUBSEP $(i+1); vals[k] = vals[k] " " $i }
	if (!(name in seen)) { seen[name] = 1; names[++nn] = name }
}
END {
	printf "%-44s %12s %10s %8s %10s %8s\n", "benchmark (median)", "commits/s", "ns/op", "B/op", "allocs/op", "msgs/op"
	for (i = 1; i <= nn; i++) {
		n = names[i]
		printf "%-44s %12.0f %10.1f %8.0f %10.0f %8.4f\n", n, median(n SUBSEP "commits/s"), median(n SUBSEP "ns/op"), median(n SUBSEP "B/op"), median(n SUBSEP "allocs/op"), median(n SUBSEP "msgs/op")
	}
	print ""
	for (i = 1; i <= nn; i++) {
		n = names[i]
		if (n !~ /^BenchmarkCore\/lockstep\//) continue
		e = n; sub(/\/lockstep\//, "/etcd/", e)
		if (!((e SUBSEP "commits/s") in vals)) continue
		p = n; sub(/.*\//, "", p)
		printf "lockstep/etcd %-16s commits/s ratio %.2fx\n", p, median(n SUBSEP "commits/s") / median(e SUBSEP "commits/s")
	}
}' "$OUT"

# benchstat side by side (optional): go install golang.org/x/perf/cmd/benchstat@latest
BENCHSTAT=$(command -v benchstat || echo "$(go env GOPATH)/bin/benchstat")
if [ -x "$BENCHSTAT" ]; then
	echo
	sed -E -e 's#^BenchmarkCore/(lockstep|etcd)/#BenchmarkCore/impl=\1/#' \
		-e 's#^BenchmarkEtcdBatched/#BenchmarkCore/impl=etcd-batched/#' "$OUT" >"$OUT.impl"
	"$BENCHSTAT" -col /impl "$OUT.impl"
	rm -f "$OUT.impl"
fi
