#!/usr/bin/env bash
# Makes an S3-compatible server available on loopback for the tests of internal/blob, and prints
# the variables they read as KEY=VALUE lines on stdout (everything else goes to stderr):
#
#   scripts/s3.sh > /tmp/s3.env; set -a; . /tmp/s3.env; set +a; go test ./internal/blob/...
#   scripts/s3.sh stop        # stops the server this script started
#
# The server is moto's (PyPI package moto[server]): pure Python, so it installs from PyPI alone
# (about a minute on a fresh machine) and starts in one to a few seconds. It keeps objects in
# memory, so a restart empties it; the script creates the test bucket on every run. It is
# installed into $PLUGD_CACHE/s3/venv, runs detached in a session of its own (it outlives this
# script), and is reused while it answers. PLUGD_S3_PORT picks the port (default 9390); the
# server logs to $PLUGD_CACHE/s3/moto-PORT.log and its pid is in $PLUGD_CACHE/s3/moto-PORT.pid.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cache.sh
dir=$PLUGD_CACHE/s3
venv=$dir/venv
port=${PLUGD_S3_PORT:-9390}
url=http://127.0.0.1:$port
bucket=plugd-test
log=$dir/moto-$port.log
pidfile=$dir/moto-$port.pid
py=${PLUGD_PYTHON311:-$(command -v python3.11 || command -v python3)}
mkdir -p "$dir"

# http METHOD PATH: prints the status code of a request to the server (000 when unreachable).
http() {
  "$py" - "$1" "$url$2" <<'PY'
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[2], method=sys.argv[1])
try:
    with urllib.request.urlopen(req, timeout=5) as r:
        print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
PY
}

if [ "${1:-}" = stop ]; then
  if [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null; then
    echo "s3: stopped the server (pid $(cat "$pidfile"))" >&2
  else
    echo "s3: no server of ours is running" >&2
  fi
  rm -f "$pidfile"
  exit 0
fi

# moto answers /moto-api/ with its dashboard; anything else on the port is not ours.
if [ "$(http GET /moto-api/)" = 200 ]; then
  echo "s3: reusing the server at $url" >&2
else
  if ! "$venv/bin/python" -c 'import moto.server, flask' 2>/dev/null; then
    echo "s3: installing moto[server] into $venv" >&2
    t0=$(date +%s)
    rm -rf "$venv"
    if ! "$py" -m venv "$venv" >&2; then
      echo "s3: $py cannot create a venv (on Debian: apt-get install python3-venv)" >&2
      exit 1
    fi
    "$venv/bin/pip" install --quiet 'moto[server]>=5.1,<6' >&2
    echo "s3: installed in $(($(date +%s) - t0)) s" >&2
  fi
  t0=$(date +%s%N)
  echo "s3: starting moto_server on $url (log: $log)" >&2
  # setsid: its own session, so neither the end of this script nor a Ctrl-C in the caller's
  # terminal stops it.
  setsid "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$pidfile"
  for _ in $(seq 300); do
    [ "$(http GET /moto-api/)" = 200 ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "s3: moto_server exited (is port $port taken? set PLUGD_S3_PORT); the end of its log:" >&2
      tail -n 20 "$log" >&2
      rm -f "$pidfile"
      exit 1
    fi
    sleep 0.1
  done
  if [ "$(http GET /moto-api/)" != 200 ]; then
    echo "s3: moto_server (pid $pid) did not answer within 30 s; see $log" >&2
    exit 1
  fi
  echo "s3: ready in $((($(date +%s%N) - t0) / 1000000)) ms (pid $pid)" >&2
fi

# Create the bucket: 200 when new, 409 when it exists already.
code=$(http PUT "/$bucket")
if [ "$code" != 200 ] && [ "$code" != 409 ]; then
  echo "s3: creating bucket $bucket failed with HTTP $code" >&2
  exit 1
fi

# moto accepts any credentials; these only have to be consistent.
cat <<VARS
PLUGD_TEST_S3_ENDPOINT=$url
PLUGD_TEST_S3_ACCESS_KEY=plugd-test
PLUGD_TEST_S3_SECRET_KEY=plugd-test-secret
PLUGD_TEST_S3_BUCKET=$bucket
VARS
