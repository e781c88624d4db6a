#!/usr/bin/env bash
# Makes a PostgreSQL server available on loopback for the store tests and prints one line,
#   PLUGD_TEST_POSTGRES_DSN=postgres://...
# on stdout; everything else goes to stderr. Use it as
#   scripts/postgres.sh > /tmp/pg.env; set -a; . /tmp/pg.env; set +a
#
# The cluster is a throwaway one under "$PLUGD_CACHE/pg" (see scripts/cache.sh) (fsync off, trust auth on
# 127.0.0.1 only), listening on 127.0.0.1:${PLUGD_PG_PORT:-55432} with its unix socket inside the
# same folder, so it never touches a system cluster. A server already running there is reused,
# which makes a second call take milliseconds. When no PostgreSQL binaries are found (PATH, then
# /usr/lib/postgresql/*/bin) Debian's `postgresql` package is installed. PostgreSQL refuses to
# run as root, so under root the cluster belongs to the `postgres` system user (created if
# missing) and pg_ctl runs through runuser.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "postgres.sh: $*" >&2; }

. scripts/cache.sh
cache=$PLUGD_CACHE
base=$cache/pg
data=$base/data
sock=$base/run
port=${PLUGD_PG_PORT:-55432}
dsn="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"

find_bin() {
  local d
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    # Resolve symlinks (e.g. /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb) so the
    # folder found also holds pg_isready.
    dirname "$(readlink -f "$(command -v initdb)")"
    return 0
  fi
  # Debian keeps the server binaries off PATH, one folder per major version: take the newest.
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

as_root=0
[ "$(id -u)" = 0 ] && as_root=1

bin=$(find_bin || true)
if [ -z "$bin" ]; then
  log "no PostgreSQL server binaries found; installing Debian's postgresql package"
  sudo=""
  [ "$as_root" = 1 ] || sudo=sudo
  $sudo apt-get update >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y postgresql >&2
  bin=$(find_bin) || { log "postgresql installed but initdb/pg_ctl not found"; exit 1; }
fi

pguser=""
if [ "$as_root" = 1 ]; then
  pguser=postgres
  if ! id -u "$pguser" >/dev/null 2>&1; then
    log "creating system user $pguser"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$pguser"
  fi
fi

# run executes a command as the cluster's owner.
run() {
  if [ -n "$pguser" ]; then
    runuser -u "$pguser" -- "$@"
  else
    "$@"
  fi
}

ready() { "$bin/pg_isready" -q -h "$sock" -p "$port" -U postgres -d postgres >/dev/null 2>&1; }

# The fast path: a server of ours is already answering.
if [ -d "$sock" ] && ready; then
  echo "PLUGD_TEST_POSTGRES_DSN=$dsn"
  exit 0
fi

mkdir -p "$base"
# One caller at a time past this point: two test runs starting together must not both initdb.
exec 9>"$base/.lock"
flock 9

if [ -d "$sock" ] && ready; then
  echo "PLUGD_TEST_POSTGRES_DSN=$dsn"
  exit 0
fi

mkdir -p "$sock"
if [ -n "$pguser" ]; then
  chown -R "$pguser:" "$base"
  if ! runuser -u "$pguser" -- test -w "$base"; then
    log "user $pguser cannot write $base (a parent folder is not traversable?); set PLUGD_CACHE to a folder it can reach"
    exit 1
  fi
fi

if [ ! -f "$data/PG_VERSION" ]; then
  log "initdb $data ($bin)"
  rm -rf "$data"
  run "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C >&2
  # A test server: durability is worth nothing here, speed is.
  cat >>"$data/postgresql.conf" <<'CONF'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
CONF
fi

log "starting PostgreSQL on 127.0.0.1:$port"
if ! run "$bin/pg_ctl" -D "$data" -l "$base/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $sock" start >&2; then
  log "pg_ctl start failed; last lines of $base/server.log:"
  tail -n 20 "$base/server.log" >&2 || true
  exit 1
fi

for _ in $(seq 1 100); do
  if ready; then
    echo "PLUGD_TEST_POSTGRES_DSN=$dsn"
    exit 0
  fi
  sleep 0.1
done
log "server started but is not ready; see $base/server.log"
exit 1
