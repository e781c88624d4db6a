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
go test -count=1 -timeout 30m "$@"
