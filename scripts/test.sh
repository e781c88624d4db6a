#!/usr/bin/env bash
# Installs what the tests need (see scripts/test-deps.sh) and runs every test of the project.
# Extra arguments go to `go test` (e.g. scripts/test.sh -run Signature ./internal/signature/).
set -euo pipefail
cd "$(dirname "$0")/.."

vars=$(scripts/test-deps.sh)
while IFS= read -r line; do
  [ -n "$line" ] && export "${line?}"
done <<<"$vars"

if [ $# -eq 0 ]; then
  set -- ./...
fi
go vet ./...
# -p 1: one package at a time. Several packages start dozens of Python plugins each; run side
# by side on a small machine they starve each other past the SDK's own start-up timeouts.
# -race: the whole suite runs once, under the race detector, instead of a plain run and a raced
# one. Most of its time is spent in Python plugins and environment builds, which the detector
# does not slow: measured on 2 cores, the runtime package takes 86 s instead of 64 s and the
# pure-Go wire package 16 s instead of 6 s, so the suite (about 8 min plain) stays far inside
# CI's 90 minutes, and every test, the Python-free concurrency tests included, is raced.
go test -race -p 1 -count=1 -timeout 60m "$@"
if [ "$*" = "./..." ]; then
  # The wire and runtime tests against the real SDK ran on the 0.7 line (Python 3.11) above;
  # run them again on the newest SDK line (Python 3.12+).
  PLUGD_TEST_SDK_LINE=new go test -count=1 -timeout 20m -run 'SDK|Ready|Every|Error|Crash|Fifty|Storage|LLM|Environment|Cancel|Pool|Zygote' ./internal/wire/ ./internal/runtime/
  PLUGD_TEST_SDK_LINE=new go test -count=1 -timeout 20m -run 'PluginFlow' ./internal/pluginoauth/
  # And the runtime's SDK tests once more with every plugin forked from a zygote.
  PLUGD_TEST_ZYGOTE=1 go test -count=1 -timeout 20m ./internal/runtime/
fi
