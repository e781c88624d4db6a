#!/usr/bin/env bash
# Makes a Google Cloud Storage emulator available on loopback for the tests of internal/blob,
# and prints the variable they read as a KEY=VALUE line on stdout (everything else goes to
# stderr):
#
#   scripts/gcs.sh > /tmp/gcs.env; set -a; . /tmp/gcs.env; set +a; go test ./internal/blob/...
#   scripts/gcs.sh stop       # stops the server this script started
#
# The emulator is fake-gcs-server (github.com/fsouza/fake-gcs-server, the emulator Google's own
# client libraries are tested against by many projects), built from its Go module into
# $PLUGD_CACHE/fake-gcs-server-<version>/bin once per version. It runs detached in a session of
# its own (it outlives this script), keeps objects under $PLUGD_CACHE/gcs/data-PORT (emptied when
# the script starts it) and is reused while it answers. PLUGD_GCS_PORT picks the port (default
# 10110); it logs to $PLUGD_CACHE/gcs/gcs-PORT.log.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cache.sh
version=v1.56.1
bin=$PLUGD_CACHE/fake-gcs-server-$version/bin/fake-gcs-server
dir=$PLUGD_CACHE/gcs
port=${PLUGD_GCS_PORT:-10110}
url=http://127.0.0.1:$port
data=$dir/data-$port
log=$dir/gcs-$port.log
pidfile=$dir/gcs-$port.pid
py=$(command -v python3)
mkdir -p "$dir"

if [ "${1:-}" = stop ]; then
  if [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null; then
    echo "gcs: stopped the server (pid $(cat "$pidfile"))" >&2
  else
    echo "gcs: no server of ours is running" >&2
  fi
  rm -f "$pidfile"
  exit 0
fi

# The JSON API's bucket listing answers 200 with {"kind":"storage#buckets"...} on the emulator.
answers() {
  "$py" - "$url/storage/v1/b?project=plugd-test" <<'PY'
import json, sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
        sys.exit(0 if json.load(r).get("kind") == "storage#buckets" else 1)
except Exception:
    sys.exit(1)
PY
}

if answers; then
  echo "gcs: reusing the server at $url" >&2
else
  if [ ! -x "$bin" ]; then
    if ! command -v go >/dev/null; then
      echo "gcs: Go is needed to build fake-gcs-server" >&2
      exit 1
    fi
    echo "gcs: building fake-gcs-server $version into $(dirname "$bin")" >&2
    t0=$(date +%s)
    GOBIN=$(dirname "$bin") go install "github.com/fsouza/fake-gcs-server@$version" >&2
    echo "gcs: built in $(($(date +%s) - t0)) s" >&2
  fi
  rm -rf "$data"
  mkdir -p "$data"
  t0=$(date +%s%N)
  echo "gcs: starting fake-gcs-server on $url (log: $log)" >&2
  setsid "$bin" -scheme http -host 127.0.0.1 -port "$port" -public-host "127.0.0.1:$port" \
    -external-url "$url" -backend filesystem -filesystem-root "$data" -log-level warn \
    >"$log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$pidfile"
  for _ in $(seq 600); do
    answers && break
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "gcs: fake-gcs-server exited (is port $port taken? set PLUGD_GCS_PORT); the end of its log:" >&2
      tail -n 20 "$log" >&2
      rm -f "$pidfile"
      exit 1
    fi
    sleep 0.1
  done
  if ! answers; then
    echo "gcs: fake-gcs-server (pid $pid) did not answer within 60 s; see $log" >&2
    exit 1
  fi
  echo "gcs: ready in $((($(date +%s%N) - t0) / 1000000)) ms (pid $pid)" >&2
fi

# Tests create the buckets they use (each its own).
echo "PLUGD_TEST_GCS_ENDPOINT=$url/storage/v1/"
