#!/usr/bin/env bash
# End-to-end figures of the local runtime for docs/benchmarks.md ("Running plugins"): invocation
# overhead against a bare stdio loop, cold start, environment builds, streamed LLM calls under
# 100 callers. Installs the SDK interpreters first (scripts/test-deps.sh). Arguments go to
# scripts/bench/runtime.go, e.g.
#
#   scripts/bench-runtime.sh -sections llm -llm-instances 1,2
#
# Tables go to stdout, progress to stderr. The machine should be otherwise idle; the load
# average is printed with every table.
set -euo pipefail
cd "$(dirname "$0")/.."
vars=$(scripts/test-deps.sh)
while IFS= read -r line; do
  [ -n "$line" ] && export "${line?}"
done <<<"$vars"
exec go run scripts/bench/runtime.go "$@"
