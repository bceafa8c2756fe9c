#!/usr/bin/env bash
# Cold-cache timings: before every single run, drop the kernel's dentry/inode caches (root
# only), so that /proc is walked from scratch; prints the median of N runs per command.
# Run it beside a load from ../shared/bench/listeners.py, e.g.
#   python3 ../shared/bench/listeners.py -P 200 -L 50 -U 0 -F 200 --fixed-port 18999 &
#   benches/cold.sh 7 'ss -tulpn' 'target/release/whoport --json' \
#                     "ss -tlnp 'sport = :18999'" 'target/release/whoport 18999'
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "cold.sh: needs root to drop caches" >&2; exit 2; }
runs=$1; shift
printf '| command | cold median ms (%s runs) |\n|---|---:|\n' "$runs"
for cmd in "$@"; do
  times=()
  for _ in $(seq "$runs"); do
    sync; echo 2 > /proc/sys/vm/drop_caches
    t0=$(date +%s%N); sh -c "$cmd" > /dev/null 2>&1 || true; t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000 )))
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '| `%s` | %.1f |\n' "$cmd" "$(echo "$median / 1000" | bc -l)"
done
