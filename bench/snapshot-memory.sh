#!/bin/bash
# Measures each member's peak memory while a follower catches up by
# snapshot transfers of a large store.
#
# usage: bench/snapshot-memory.sh [LOCKSTEP_BINARY]   (default: builds ./cmd/lockstep)
#
# It starts 3 members on 127.0.0.1 (ports 2479x, 2480x) with
# --snapshot-count 5000, writes 40,000 values of 8 KiB, kills one follower,
# writes 40,000 more (the leader's log, which keeps one interval behind its
# newest snapshot, moves past it, so only a snapshot can catch it up),
# restarts it, waits until it has restored a snapshot,
# and prints each member's peak RSS (VmHWM). Everything it starts, it
# stops; the data (about 3 GiB) is left in $WORK for inspection.
set -euo pipefail
BIN=${1:-}
WORK=${WORK:-/tmp/lockstep-snapshot-memory}
if [ -z "$BIN" ]; then
  BIN=$WORK/lockstep
  mkdir -p "$WORK"
  go build -o "$BIN" ./cmd/lockstep
fi
DATA=$WORK/data
rm -rf "$DATA"
mkdir -p "$DATA"
CLUSTER="a=http://127.0.0.1:24801,b=http://127.0.0.1:24802,c=http://127.0.0.1:24803"

start() {
  local i=$1 name
  name=$(echo abc | cut -c"$i")
  "$BIN" serve --name "$name" --data-dir "$DATA/$name" \
    --listen-client-urls "http://127.0.0.1:2479$i" --advertise-client-urls "http://127.0.0.1:2479$i" \
    --listen-peer-urls "http://127.0.0.1:2480$i" --initial-advertise-peer-urls "http://127.0.0.1:2480$i" \
    --initial-cluster "$CLUSTER" --initial-cluster-state new \
    --heartbeat-interval 100 --election-timeout 1000 --snapshot-count 5000 \
    --quota-backend-bytes 8000000000 >>"$DATA/$name.log" 2>&1 &
  echo $! >"$DATA/$name.pid"
}

stop_all() {
  for name in a b c; do
    [ -f "$DATA/$name.pid" ] && kill "$(cat "$DATA/$name.pid")" 2>/dev/null || true
  done
}
trap stop_all EXIT

for i in 1 2 3; do start "$i"; done
# Wait for a leader: one put goes through.
for _ in $(seq 1 60); do
  "$BIN" bench put --endpoints 127.0.0.1:24791 --total 1 --quiet >/dev/null 2>&1 && break
  sleep 0.5
done
"$BIN" bench put --endpoints 127.0.0.1:24791,127.0.0.1:24792 --conns 10 --clients 100 --total 40000 \
  --val-size 8192 --key-space 40000 --sequential-keys --target-leader --quiet | grep operations
# c may be the leader: then a new one is elected, and the bench finds it.
kill -9 "$(cat "$DATA/c.pid")"
"$BIN" bench put --endpoints 127.0.0.1:24791,127.0.0.1:24792 --conns 10 --clients 100 --total 40000 \
  --val-size 8192 --key-space 40000 --sequential-keys --target-leader --quiet | grep operations
du -sh "$DATA/a"
start 3
for _ in $(seq 1 120); do
  grep -q "restored from snapshot" "$DATA/c.log" && break
  sleep 1
done
sleep 5 # let any further transfer finish
grep -h "snapshot received\|restored from snapshot" "$DATA/c.log" | cut -c1-200
for name in a b c; do
  echo "$name $(grep VmHWM "/proc/$(cat "$DATA/$name.pid")/status")"
done
