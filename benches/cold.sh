#!/bin/bash
# Cold and warm page cache, side by side, at large scale in a network namespace of its own:
# 10,000 loopback listeners over 200 processes (../shared/bench/listeners.py), hyperfine
# timing `whoport --json` against `ss -tulpn` and `whoport PORT` against `ss -tlnp 'sport =
# :PORT'`, each run either after `echo 3 > /proc/sys/vm/drop_caches` (cold: the binaries,
# the libraries and every file they read come from disk again) or not (warm). For the
# whoport binary $B (copy it out of target/ first). Run as root from the repository.
set -euo pipefail
B=${B:?set B to a whoport binary}
L=${LISTENERS:-../shared/bench/listeners.py}
RUNS=${RUNS:-10}
command -v hyperfine >/dev/null || { echo "hyperfine is needed (apt-get install -y hyperfine)" >&2; exit 2; }
exec unshare -n bash -s "$B" "$L" "$RUNS" <<'INNER'
set -euo pipefail
B=$1 L=$2 RUNS=$3 PORT=18999
ip link set lo up
out=$(mktemp)
python3 "$L" -P 200 -L 50 -U 0 -F 200 --fixed-port $PORT --seconds 1200 >"$out" &
gen=$!
trap 'kill $gen 2>/dev/null; wait $gen 2>/dev/null; rm -f "$out" "$out.json"' EXIT
for _ in $(seq 600); do grep -q ready "$out" && break; sleep 0.2; done
grep ready "$out"
drop='sync; echo 3 > /proc/sys/vm/drop_caches'
for cache in cold warm; do
  prepare=true
  [ $cache = cold ] && prepare=$drop
  echo "=== $cache $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  hyperfine --style none --runs "$RUNS" --warmup 1 --prepare "$prepare" --export-json "$out.json" \
    "ss -tulpn" "$B --json" "ss -tlnp 'sport = :$PORT'" "$B $PORT" >/dev/null
  python3 - "$out.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
m = {x["command"]: x["median"] for x in r}
c = list(m)
for base, mine in ((c[0], c[1]), (c[2], c[3])):
    print(f"{mine}: {m[mine]*1000:.1f} ms, {base}: {m[base]*1000:.1f} ms, ratio {m[mine]/m[base]:.2f}")
PY
done
INNER
