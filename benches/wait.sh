#!/usr/bin/env bash
# CPU time of `whoport wait` runs that last SECONDS (default 60) because the condition never
# holds: --listening on a TCP port held bound but never listening, and on the same number for
# UDP (nothing binds it); --free on a TCP port held by a listener; --listening --pid on that
# listener, asking for this script's parent shell, which does not hold it (the owner lookup
# runs at every look). The runs go in parallel
# (they mostly sleep); each prints user and system CPU seconds as measured by getrusage.
#   cargo build --release && benches/wait.sh 60
set -euo pipefail
secs=${1:-60}
bin=${2:-target/release/whoport}
python3 - "$secs" "$bin" <<'PY'
import resource, socket, subprocess, sys, threading

secs, binary = sys.argv[1], sys.argv[2]
bound = socket.socket()
bound.bind(("127.0.0.1", 0))
held = socket.socket()
held.bind(("127.0.0.1", 0))
held.listen(8)
cases = [
    ("wait PORT/tcp --listening", [str(bound.getsockname()[1]), "--listening"]),
    ("wait PORT/udp --listening", [f"{bound.getsockname()[1]}/udp", "--listening"]),
    ("wait PORT/tcp --free", [str(held.getsockname()[1]), "--free"]),
    ("wait PORT/tcp --listening --pid OTHER",
     [str(held.getsockname()[1]), "--listening", "--pid", str(__import__("os").getppid())]),
]
results = {}

def run(name, args):
    # wait4 gives this child's own rusage, even with the others running beside it.
    p = subprocess.Popen([binary, "wait", *args, "--timeout", f"{secs}s", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = p.stdout.read()
    _, status, usage = __import__("os").wait4(p.pid, 0)
    results[name] = (usage.ru_utime, usage.ru_stime, out.decode().strip())

threads = [threading.Thread(target=run, args=c) for c in cases]
for t in threads: t.start()
for t in threads: t.join()
print(f"| command ({secs} s, condition never met) | user s | system s | CPU s | looks |")
print("|---|---:|---:|---:|---:|")
import json
for name, _ in cases:
    u, s, out = results[name]
    looks = json.loads(out)["looks"]
    print(f"| `{name}` | {u:.3f} | {s:.3f} | {u + s:.3f} | {looks} |")
PY
