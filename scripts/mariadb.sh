#!/usr/bin/env bash
# Makes a MariaDB server available on loopback for the MySQL tests of internal/store/sqlstore and
# the daemon, and prints one line,
#   PLUGD_TEST_MYSQL_DSN=mysql://plugd:plugd@127.0.0.1:53306/
# on stdout (a URL without a database: each test creates its own; not the driver's own DSN
# format, whose parentheses a shell sourcing these lines would choke on); everything else goes
# to stderr. Use it as
#   scripts/mariadb.sh > /tmp/my.env; set -a; . /tmp/my.env; set +a
#   scripts/mariadb.sh stop     # stops the server this script started
#
# The server is a throwaway one under "$PLUGD_CACHE/mariadb" (see scripts/cache.sh): its data
# folder is keyed by the server's major.minor version (data-10.11), durability is off (no fsync
# per commit, no binary log), it listens on 127.0.0.1:${PLUGD_MYSQL_PORT:-53306} only, with its
# unix socket in the same folder, so it never touches a system server. A server already running
# there is reused, which makes a second call take milliseconds. When mariadbd is not found,
# Debian's `mariadb-server` package is installed. The test user plugd (password plugd) may create
# and drop databases; root has no password but only the unix socket reaches it. As root the
# server runs as the `mysql` system user (the package creates it), so $PLUGD_CACHE's parents must
# be traversable by it.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "mariadb.sh: $*" >&2; }

. scripts/cache.sh
base=$PLUGD_CACHE/mariadb
sock_dir=$base/run
sock=$sock_dir/mysqld.sock
port=${PLUGD_MYSQL_PORT:-53306}
pidfile=$sock_dir/mariadbd-$port.pid
dsn="mysql://plugd:plugd@127.0.0.1:$port/"

as_root=0
[ "$(id -u)" = 0 ] && as_root=1

if [ "${1:-}" = stop ]; then
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
    log "stopping the server (pid $pid)"
    for _ in $(seq 1 300); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  else
    log "no server of ours is running"
  fi
  exit 0
fi

find_bin() {
  local d
  for d in "$(dirname "$(command -v mariadbd 2>/dev/null || echo /nonexistent/x)")" /usr/sbin /usr/bin; do
    if [ -x "$d/mariadbd" ]; then
      echo "$d/mariadbd"
      return 0
    fi
  done
  return 1
}

client() { command -v mariadb || command -v mysql; }

# ready: the test user answers over TCP (so the server is ours, up, and set up).
ready() {
  local c
  c=$(client 2>/dev/null) || return 1
  "$c" --no-defaults --protocol=tcp -h 127.0.0.1 -P "$port" -u plugd -pplugd -N -e 'SELECT 1' >/dev/null 2>&1
}

if ready; then
  echo "PLUGD_TEST_MYSQL_DSN=$dsn"
  exit 0
fi

mariadbd=$(find_bin || true)
if [ -z "$mariadbd" ] || [ -z "$(client || true)" ]; then
  log "no MariaDB server found; installing Debian's mariadb-server package"
  sudo=""
  [ "$as_root" = 1 ] || sudo=sudo
  # Other runs may hold apt's locks: wait for them instead of failing (apt-get update gives up
  # at once on a held lists lock, hence the loop).
  for i in $(seq 1 30); do
    $sudo apt-get update -o DPkg::Lock::Timeout=600 >&2 && break
    [ "$i" = 30 ] && { log "apt-get update kept failing"; exit 1; }
    sleep 10
  done
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -o DPkg::Lock::Timeout=600 mariadb-server >&2
  mariadbd=$(find_bin) || { log "mariadb-server installed but mariadbd not found"; exit 1; }
fi
install_db=$(command -v mariadb-install-db || command -v mysql_install_db) || { log "mariadb-install-db not found"; exit 1; }
cli=$(client)

# "mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu ..." -> 10.11
version=$("$mariadbd" --version | sed -n 's/.*Ver \([0-9]*\.[0-9]*\).*/\1/p')
[ -n "$version" ] || { log "cannot read the version of $mariadbd"; exit 1; }
data=$base/data-$version

mkdir -p "$base"
# One caller at a time past this point: two test runs starting together must not both initialize.
exec 9>"$base/.lock"
flock 9

if ready; then
  echo "PLUGD_TEST_MYSQL_DSN=$dsn"
  exit 0
fi

user_opt=()
mkdir -p "$sock_dir"
if [ "$as_root" = 1 ]; then
  id -u mysql >/dev/null 2>&1 || { log "the mysql system user is missing (Debian's package creates it)"; exit 1; }
  user_opt=(--user=mysql)
  chown -R mysql: "$base"
  if ! runuser -u mysql -- test -w "$base"; then
    log "user mysql cannot write $base (a parent folder is not traversable?); set PLUGD_CACHE to a folder it can reach"
    exit 1
  fi
fi

if [ ! -d "$data/mysql" ]; then
  log "initializing $data ($mariadbd, $version)"
  rm -rf "$data"
  "$install_db" --no-defaults "${user_opt[@]}" --datadir="$data" --auth-root-authentication-method=normal \
    --skip-test-db >"$base/install.log" 2>&1 || { log "mariadb-install-db failed:"; tail -n 20 "$base/install.log" >&2; exit 1; }
  [ "$as_root" = 0 ] || chown -R mysql: "$data"
fi

# A server of ours that is up but not yet set up (an earlier run stopped half way) is reused.
if ! { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }; then
  log "starting MariaDB $version on 127.0.0.1:$port"
  # A test server: durability is worth nothing here, speed and a small footprint are.
  setsid "$mariadbd" --no-defaults "${user_opt[@]}" --datadir="$data" --socket="$sock" --pid-file="$pidfile" \
    --port="$port" --bind-address=127.0.0.1 --skip-name-resolve --log-error="$base/server.log" \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_bin \
    --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 --skip-log-bin --sync-binlog=0 \
    --innodb-buffer-pool-size=128M --performance-schema=OFF --max-connections=500 \
    --max-allowed-packet=256M --innodb-flush-method=nosync \
    </dev/null >>"$base/server.log" 2>&1 9>&- &
fi

root() { "$cli" --no-defaults --protocol=socket --socket="$sock" -u root "$@"; }
for _ in $(seq 1 300); do
  if root -N -e 'SELECT 1' >/dev/null 2>&1; then
    root <<'SQL'
CREATE USER IF NOT EXISTS 'plugd'@'127.0.0.1' IDENTIFIED BY 'plugd';
GRANT ALL PRIVILEGES ON *.* TO 'plugd'@'127.0.0.1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
    if ready; then
      echo "PLUGD_TEST_MYSQL_DSN=$dsn"
      exit 0
    fi
  fi
  sleep 0.2
done
log "server did not answer within 60 s; last lines of $base/server.log:"
tail -n 20 "$base/server.log" >&2 || true
exit 1
