#!/bin/bash
# Every scale of docs/benchmarks.md ("every scale on a quiet host"), one compare.sh run each,
# for the whoport binary $B (copy it out of target/ first). Run as root from the repository.
B=${B:?set B to a whoport binary}
C=${COMPARE:-../shared/bench/compare.sh}
X=(--extra "$B --json" --extra "env WHOPORT_OWNER_LOOKUP=bpf $B --json" --extra "env WHOPORT_OWNER_LOOKUP=procfs $B --json" \
   --extra "$B {port}" --extra "env WHOPORT_OWNER_LOOKUP=bpf $B {port}" --extra "env WHOPORT_OWNER_LOOKUP=procfs $B {port}" --extra "$B --color never")
SS=(--no-baseline --extra "ss -tulpn" --extra "ss -tlnp 'sport = :18999'")
run() { echo "=== $1 $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"; shift; "$@"; echo "=== end $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"; }
NS=(unshare -n sh -c 'ip link set lo up; exec "$@"' sh)
run "large-host" $C -P 200 -L 50 -U 0 -F 200 --runs 10 --warmup 2 --no-floor "${SS[@]}" "${X[@]}"
run "large-ns" "${NS[@]}" $C -P 200 -L 50 -U 0 -F 200 --runs 15 --warmup 3 --no-floor "${SS[@]}" "${X[@]}"
run "medium-host" $C -P 50 -L 20 -U 0 --runs 20 --warmup 3 --no-floor "${SS[@]}" "${X[@]}"
run "medium-ns" "${NS[@]}" $C -P 50 -L 20 -U 0 --runs 20 --warmup 3 --no-floor "${SS[@]}" "${X[@]}"
run "small-host" $C -P 4 -L 5 -U 2 -F 20 --runs 20 --warmup 3 --no-floor "${SS[@]}" "${X[@]}"
run "small-ns" "${NS[@]}" $C -P 4 -L 5 -U 2 -F 20 --runs 20 --warmup 3 --no-floor "${SS[@]}" "${X[@]}"
timeout 1200 sh -c "while :; do :; done" & S=$!
sleep 2
run "large-ns-onecorebusy" "${NS[@]}" $C -P 200 -L 50 -U 0 -F 200 --runs 10 --warmup 2 --no-floor "${SS[@]}" "${X[@]}"
kill $S
run "xlarge-ns" "${NS[@]}" $C -P 500 -L 100 -U 0 -F 100 --runs 5 --warmup 1 --no-floor "${SS[@]}" "${X[@]}"
