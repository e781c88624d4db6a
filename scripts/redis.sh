#!/usr/bin/env bash
# Makes a Redis server available on loopback for the cluster tests and prints one line,
#   PLUGD_TEST_REDIS_ADDR=127.0.0.1:PORT
# on stdout; everything else goes to stderr. Use it as
#   scripts/redis.sh > /tmp/redis.env; set -a; . /tmp/redis.env; set +a
#   scripts/redis.sh stop     # stops the server this script started
#
# The server is Debian's redis-server (installed with apt-get when missing), started as a
# daemon of its own on 127.0.0.1:${PLUGD_REDIS_PORT:-56379} with no persistence (the tests
# keep nothing worth keeping) and its folder under "$PLUGD_CACHE/redis" (pid file, log), so it
# never touches a system Redis. A server already answering there is reused. Tests share it:
# each uses a key prefix of its own.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "redis.sh: $*" >&2; }

. scripts/cache.sh
dir=$PLUGD_CACHE/redis
port=${PLUGD_REDIS_PORT:-56379}
pidfile=$dir/redis-$port.pid
logfile=$dir/redis-$port.log
mkdir -p "$dir"

ping() { [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; }

if [ "${1:-}" = stop ]; then
  if [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null; then
    log "stopped the server (pid $(cat "$pidfile"))"
  else
    log "no server of ours is running"
  fi
  exit 0
fi

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  log "redis-server not found; installing Debian's redis-server package"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y redis-server >&2
  # The package starts a system server on 6379 where an init system runs; ours is separate.
fi

if ping; then
  echo "PLUGD_TEST_REDIS_ADDR=127.0.0.1:$port"
  exit 0
fi

exec 9>"$dir/.lock"
flock 9
if ! ping; then
  log "starting redis-server on 127.0.0.1:$port (log: $logfile)"
  # 9>&-: the daemonized server must not hold this script's lock.
  redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --pidfile "$pidfile" \
    --logfile "$logfile" --dir "$dir" --save '' --appendonly no --protected-mode yes 9>&- >&2
  for _ in $(seq 100); do
    ping && break
    sleep 0.1
  done
  if ! ping; then
    log "redis-server did not answer within 10 s (is port $port taken? set PLUGD_REDIS_PORT); the end of its log:"
    tail -n 20 "$logfile" >&2 || true
    exit 1
  fi
fi
echo "PLUGD_TEST_REDIS_ADDR=127.0.0.1:$port"
