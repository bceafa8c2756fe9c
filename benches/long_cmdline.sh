#!/usr/bin/env bash
# Wall time of rendering a listener whose command line is 2 MB of one word (20 arguments of
# 100,000 bytes: one argument may hold at most 128 KiB), at COLUMNS=80 with --wide (the table
# must shorten the command cell) and into a pipe. Five runs each, narrowed to that process.
#   cargo build --release && benches/long_cmdline.sh
set -euo pipefail
bin=${1:-target/release/whoport}
python3 - "$bin" <<'PY'
import os, subprocess, sys, time

binary = sys.argv[1]
word = "w" * 100_000
holder = subprocess.Popen(
    [sys.executable, "-c",
     "import socket, sys; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen();"
     "print(s.getsockname()[1], flush=True); sys.stdin.read()"] + [word] * 20,
    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
holder.stdout.readline()
try:
    for label, env in [("COLUMNS=80 --wide", {"COLUMNS": "80"}), ("pipe --wide", {})]:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run([binary, "--wide", "--pid", str(holder.pid)],
                           env={**os.environ, **env}, stdout=subprocess.DEVNULL, check=True)
            times.append(time.perf_counter() - start)
        print(f"{label}: best {min(times):.3f} s, worst {max(times):.3f} s")
finally:
    holder.kill()
PY
