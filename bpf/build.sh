#!/usr/bin/env bash
# Rebuilds the committed BPF objects (bpf/NAME.bpf.o) from their sources (bpf/NAME.bpf.c):
# owners (the owner lookup, memory mappings, descriptors in transit) and io_uring (sockets
# held inside io_uring instances).
# Needs clang and llvm-strip (Debian: apt-get install clang llvm). The output is reproducible:
# the same clang gives the same bytes, which tests/bpf.rs checks when clang is present.
#
#   bpf/build.sh                 rebuild every bpf/*.bpf.o in place
#   bpf/build.sh OUT.o [NAME]    write the object of NAME (default: owners) elsewhere (tests)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build() {  # build NAME OUT
  local tmp
  tmp=$(mktemp "${TMPDIR:-/tmp}/$1.bpf.XXXXXX")
  # -g: BTF and CO-RE relocations (stripped of DWARF afterwards); no host headers are used.
  (cd "$here" && clang -O2 -g -target bpf -mcpu=v3 -nostdinc -fdebug-compilation-dir=. -c "$1.bpf.c" -o "$tmp") \
    || { rm -f "$tmp"; return 1; }
  llvm-strip -g "$tmp"
  mv "$tmp" "$2"
}
if [ $# -eq 0 ]; then
  for name in owners io_uring; do build "$name" "$here/$name.bpf.o"; done
else
  build "${2:-owners}" "$1"
fi
