#!/usr/bin/env bash
# Builds plugd into ./bin and runs it. With no arguments it runs the main job, the daemon on
# its embedded defaults; otherwise the arguments are passed to plugd.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
go build -o bin/plugd ./cmd/plugd
ln -sf plugd bin/dify
if [ $# -eq 0 ]; then
  # The daemon lands with `plugd serve`; until this build has it, show what the binary offers.
  if bin/plugd serve --help >/dev/null 2>&1; then set -- serve; else set -- --help; fi
fi
exec bin/plugd "$@"
