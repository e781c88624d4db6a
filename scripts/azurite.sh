#!/usr/bin/env bash
# Makes an Azure Blob Storage server available on loopback for the tests of internal/blob and
# the daemon, and prints the variables they read as KEY=VALUE lines on stdout (everything else
# goes to stderr):
#
#   scripts/azurite.sh > /tmp/az.env; set -a; . /tmp/az.env; set +a; go test ./internal/blob/...
#   scripts/azurite.sh stop      # stops the server this script started
#
# The server is Azurite, Microsoft's Azure Storage emulator, from npm (blob service only),
# installed once into $PLUGD_CACHE/azurite-<version>. It runs detached in a session of its own
# (it outlives this script), keeps its data under $PLUGD_CACHE/azurite/data-PORT (emptied when
# the script starts it) and is reused while it answers. PLUGD_AZURITE_PORT picks the port
# (default 10100); it logs to $PLUGD_CACHE/azurite/azurite-PORT.log.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cache.sh
version=3.37.0
install=$PLUGD_CACHE/azurite-$version
bin=$install/node_modules/.bin/azurite-blob
dir=$PLUGD_CACHE/azurite
port=${PLUGD_AZURITE_PORT:-10100}
data=$dir/data-$port
log=$dir/azurite-$port.log
pidfile=$dir/azurite-$port.pid
py=$(command -v python3)
mkdir -p "$dir"

# Azurite's well-known development account (published in its documentation; not a secret).
account=devstoreaccount1
key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
endpoint=http://127.0.0.1:$port/$account

if [ "${1:-}" = stop ]; then
  if [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null; then
    echo "azurite: stopped the server (pid $(cat "$pidfile"))" >&2
  else
    echo "azurite: no server of ours is running" >&2
  fi
  rm -f "$pidfile"
  exit 0
fi

# An unauthenticated request for the account's containers: Azurite answers 403 with its
# x-ms-request-id header; anything else on the port is not ours.
answers() {
  "$py" - "$endpoint?comp=list" <<'PY'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=5)
    sys.exit(1)
except urllib.error.HTTPError as e:
    sys.exit(0 if e.headers.get("x-ms-request-id") else 1)
except Exception:
    sys.exit(1)
PY
}

if answers; then
  echo "azurite: reusing the server at $endpoint" >&2
else
  if [ ! -x "$bin" ]; then
    if ! command -v npm >/dev/null; then
      echo "azurite: npm is needed to install Azurite (on Debian: apt-get install npm)" >&2
      exit 1
    fi
    echo "azurite: installing azurite@$version into $install" >&2
    mkdir -p "$install"
    (cd "$install" && npm install --silent --no-audit --no-fund "azurite@$version") >&2
  fi
  rm -rf "$data"
  mkdir -p "$data"
  t0=$(date +%s%N)
  echo "azurite: starting the blob service on $endpoint (log: $log)" >&2
  # --skipApiVersionCheck: the Go SDK may send an API version newer than this Azurite knows.
  # --loose: ignore headers Azurite does not implement instead of failing the request.
  setsid "$bin" --blobHost 127.0.0.1 --blobPort "$port" --location "$data" \
    --skipApiVersionCheck --loose --disableProductStyleUrl >"$log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$pidfile"
  for _ in $(seq 600); do
    answers && break
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "azurite: it exited (is port $port taken? set PLUGD_AZURITE_PORT); the end of its log:" >&2
      tail -n 20 "$log" >&2
      rm -f "$pidfile"
      exit 1
    fi
    sleep 0.1
  done
  if ! answers; then
    echo "azurite: (pid $pid) did not answer within 60 s; see $log" >&2
    exit 1
  fi
  echo "azurite: ready in $((($(date +%s%N) - t0) / 1000000)) ms (pid $pid)" >&2
fi

# Tests create the containers they use, so nothing is created here. The parts of the
# connection string come apart: its semicolons would end a line sourced by a shell.
cat <<VARS
PLUGD_TEST_AZURE_ENDPOINT=$endpoint
PLUGD_TEST_AZURE_ACCOUNT=$account
PLUGD_TEST_AZURE_KEY=$key
VARS
