#!/usr/bin/env bash
# Figures of a real `plugd serve` for docs/benchmarks.md ("The daemon"): upload-to-ready time,
# tool/invoke throughput and latency at concurrency 1, 16 and 64, and the daemon's memory idle
# and with 100 plugins installed. Installs the interpreters first (scripts/test-deps.sh).
# Arguments go to scripts/bench/daemon.go, e.g.
#
#   scripts/bench-daemon.sh -sections load -duration 5s
#
# Tables go to stdout, progress to stderr. The first section downloads the SDK from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
vars=$(scripts/test-deps.sh)
while IFS= read -r line; do
  [ -n "$line" ] && export "${line?}"
done <<<"$vars"
exec go run scripts/bench/daemon.go "$@"
