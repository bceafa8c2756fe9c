#!/usr/bin/env bash
# Rebuilds the committed BPF object (bpf/owners.bpf.o) from bpf/owners.bpf.c.
# Needs clang and llvm-strip (Debian: apt-get install clang llvm). The output is reproducible:
# the same clang gives the same bytes, which tests/bpf.rs checks when clang is present.
#
#   bpf/build.sh            rebuild bpf/owners.bpf.o in place
#   bpf/build.sh OUT.o      write the object elsewhere (used by the test)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/owners.bpf.o}
tmp=$(mktemp "${TMPDIR:-/tmp}/owners.bpf.XXXXXX")
trap 'rm -f "$tmp"' EXIT
# -g: BTF and CO-RE relocations (stripped of DWARF afterwards); no host headers are used.
(cd "$here" && clang -O2 -g -target bpf -mcpu=v3 -nostdinc -fdebug-compilation-dir=. -c owners.bpf.c -o "$tmp")
llvm-strip -g "$tmp"
mv "$tmp" "$out"
