#!/usr/bin/env bash
# End-to-end figures for docs/benchmarks.md: packaging and checksumming the 48 MiB plugin with
# the plugd binary, wall time and peak RSS from /usr/bin/time, best of RUNS runs; sha256sum over
# the same bytes as a floor.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/plugd" ./cmd/plugd
go run scripts/bench/gentree.go "$work/big"

measure() { # label, command...
  local label=$1; shift
  local best_t=999999 best_rss=0
  for _ in $(seq "$runs"); do
    /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
    read -r t rss <"$work/time"
    if awk "BEGIN{exit !($t < $best_t)}"; then best_t=$t; best_rss=$rss; fi
  done
  printf '%-28s %6.2f s  %6.1f MB peak RSS  (%.0f MB/s over 48 MiB)\n' "$label" "$best_t" "$(awk "BEGIN{print $best_rss/1024}")" "$(awk "BEGIN{print 48/$best_t}")"
}

measure "plugd plugin package" "$work/plugd" plugin package "$work/big" -o "$work/big.difypkg"
measure "plugd plugin checksum PKG" "$work/plugd" plugin checksum "$work/big.difypkg"
measure "plugd plugin checksum DIR" "$work/plugd" plugin checksum "$work/big"
measure "sha256sum (floor)" sh -c "find '$work/big' -type f -print0 | xargs -0 sha256sum"
echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(go version | cut -d' ' -f3)"
