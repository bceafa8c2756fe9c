#!/bin/bash
# Two whoport builds side by side with `ss`, one compare.sh run per scale (docs/benchmarks.md):
# A (before) and B (after) give `--json` and `PORT` with the lookup chosen by cost, B also
# with the walk forced (WHOPORT_OWNER_LOOKUP=procfs), the reference for "no slower than the
# walk at the same commit". Copy both binaries out of target/ first. Run as root from the
# repository. SCALES picks some of: large-ns large-ns-busy medium-ns small-ns large-host xlarge-ns
A=${A:?set A to the whoport binary before} B=${B:?set B to the whoport binary after}
C=${COMPARE:-../shared/bench/compare.sh}
SCALES=${SCALES:-large-ns large-ns-busy medium-ns small-ns large-host xlarge-ns}
X=(--no-baseline --no-floor --extra "ss -tulpn" --extra "ss -tlnp 'sport = :18999'"
   --extra "$A --json" --extra "$B --json" --extra "env WHOPORT_OWNER_LOOKUP=procfs $B --json"
   --extra "$A {port}" --extra "$B {port}" --extra "env WHOPORT_OWNER_LOOKUP=procfs $B {port}")
NS=(unshare -n sh -c 'ip link set lo up; exec "$@"' sh)
run() { echo "=== $1 $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"; shift; "$@"; echo "=== end $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"; }
LARGE=(-P 200 -L 50 -U 0 -F 200)
for s in $SCALES; do
  case $s in
    large-ns) run "$s" "${NS[@]}" "$C" "${LARGE[@]}" --runs 15 --warmup 3 "${X[@]}" ;;
    large-ns-busy)
      timeout 900 sh -c 'while :; do :; done' & busy=$!
      sleep 2
      run "$s" "${NS[@]}" "$C" "${LARGE[@]}" --runs 10 --warmup 2 "${X[@]}"
      kill "$busy" ;;
    medium-ns) run "$s" "${NS[@]}" "$C" -P 50 -L 20 -U 0 --runs 20 --warmup 3 "${X[@]}" ;;
    small-ns) run "$s" "${NS[@]}" "$C" -P 4 -L 5 -U 2 -F 20 --runs 20 --warmup 3 "${X[@]}" ;;
    large-host) run "$s" "$C" "${LARGE[@]}" --runs 10 --warmup 2 "${X[@]}" ;;
    xlarge-ns) run "$s" "${NS[@]}" "$C" -P 500 -L 100 -U 0 -F 100 --runs 5 --warmup 1 "${X[@]}" ;;
    *) echo "unknown scale $s" >&2; exit 2 ;;
  esac
done
