#!/usr/bin/env bash
# Makes a real OAuth 2 / OpenID Connect authorization server available on loopback for the
# tests of internal/oauth (and the console's), and prints the variable they read:
#
#   scripts/oauth-server.sh > /tmp/oauth.env; set -a; . /tmp/oauth.env; set +a
#   go test ./internal/oauth/...
#   scripts/oauth-server.sh stop        # stops the server this script started
#
# The server is panva's oidc-provider from npm, configured by scripts/oauth-server.mjs (PKCE,
# rotating refresh tokens, open dynamic registration, revocation, introspection, resource
# indicators, its development login pages). It is installed into
# $PLUGD_CACHE/oidc-provider-<version> (Node.js and npm from Debian when missing), runs detached
# in a session of its own, and is reused while it answers. It keeps everything in memory, so
# tests register their own clients and never depend on another test's. PLUGD_OAUTH_PORT picks
# the port (default 9410); the log is $PLUGD_CACHE/oidc-provider-<version>/server-PORT.log.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cache.sh
version=9.13.3
dir=$PLUGD_CACHE/oidc-provider-$version
port=${PLUGD_OAUTH_PORT:-9410}
issuer=http://127.0.0.1:$port
log=$dir/server-$port.log
pidfile=$dir/server-$port.pid
mkdir -p "$dir"

if [ "${1:-}" = stop ]; then
  if [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null; then
    echo "oauth-server: stopped the server (pid $(cat "$pidfile"))" >&2
  else
    echo "oauth-server: no server of ours is running" >&2
  fi
  rm -f "$pidfile"
  exit 0
fi

# status: the HTTP status of the server's discovery document (000 when unreachable), and
# whether it is ours (its issuer).
answers() {
  curl -fsS --max-time 5 "$issuer/.well-known/openid-configuration" 2>/dev/null | grep -q "\"issuer\":\"$issuer\""
}

if answers; then
  echo "oauth-server: reusing the server at $issuer" >&2
else
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "oauth-server: installing Node.js and npm (apt-get)" >&2
    apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm >&2
  fi
  if [ ! -f "$dir/node_modules/oidc-provider/package.json" ]; then
    echo "oauth-server: installing oidc-provider@$version into $dir" >&2
    (cd "$dir" && npm install --silent --no-audit --no-fund "oidc-provider@$version") >&2
  fi
  # The configuration lives in the checkout; a copy beside node_modules resolves the package.
  cp scripts/oauth-server.mjs "$dir/server.mjs"
  echo "oauth-server: starting oidc-provider on $issuer (log: $log)" >&2
  t0=$(date +%s%N)
  OAUTH_PORT=$port setsid node "$dir/server.mjs" >"$log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$pidfile"
  for _ in $(seq 300); do
    answers && break
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "oauth-server: node exited (is port $port taken? set PLUGD_OAUTH_PORT); the end of its log:" >&2
      tail -n 20 "$log" >&2
      rm -f "$pidfile"
      exit 1
    fi
    sleep 0.1
  done
  if ! answers; then
    echo "oauth-server: the server (pid $pid) did not answer within 30 s; see $log" >&2
    exit 1
  fi
  echo "oauth-server: ready in $((($(date +%s%N) - t0) / 1000000)) ms (pid $pid)" >&2
fi

echo "PLUGD_TEST_OAUTH_ISSUER=$issuer"
