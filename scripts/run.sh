#!/usr/bin/env bash
# Builds plugd into ./bin and runs it. With no arguments it runs the main job, the daemon on
# its embedded defaults; otherwise the arguments are passed to plugd.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
go build -o bin/plugd ./cmd/plugd
ln -sf plugd bin/dify
if [ $# -eq 0 ]; then
  set -- serve
fi
exec bin/plugd "$@"
