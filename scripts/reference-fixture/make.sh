#!/usr/bin/env bash
# Makes plugd adopt's PostgreSQL fixture (testdata/adopt/postgres/) with the real reference
# daemon, langgenius/dify-plugin-daemon, built from its public source:
#
#   scripts/reference-fixture/make.sh /path/to/dify-plugin-daemon-source [postgres|mysql]
#
# With mysql the reference runs on the MariaDB test server (PLUGD_TEST_MYSQL_DSN as printed by
# scripts/mariadb.sh, default mysql://plugd:plugd@127.0.0.1:53306/) and the fixture goes to
# testdata/adopt/mysql/ (dumped with mariadb-dump).
#
# Kept in the repository to show how the fixture was made and to remake it; CI does not run it
# (it builds the reference, about a minute of CPU on a warm module cache, and installs three
# Python plugins). Nothing of the reference's code is committed: the source path is an
# argument and every build output stays in a scratch folder.
#
# What it does: builds the reference's server and commandline; makes a fresh database on the
# test PostgreSQL (scripts/postgres.sh) and runs the reference's own migration; starts a
# private redis-server (the reference needs Redis even on one node) on 127.0.0.1:56391; packages
# the fixture plugins with plugd; then driver/ starts the reference against all this with a
# fake Dify inner API, installs, sets up endpoints, writes KV data and records the golden
# answers. Last, the database is dumped (pg_dump --inserts) and the storage folder copied.
set -euo pipefail
src=${1:?usage: make.sh /path/to/dify-plugin-daemon-source}
src=$(cd "$src" && pwd)
kind=${2:-postgres}
case $kind in postgres|mysql) ;; *) echo "make.sh: database kind $kind is none of postgres, mysql" >&2; exit 2;; esac
cd "$(dirname "$0")/../.."
repo=$(pwd)
out=$repo/testdata/adopt/$kind
log() { echo "reference-fixture: $*" >&2; }

work=$(mktemp -d /tmp/plugd-reffixture-XXXXXX)
redis_pid=""
cleanup() {
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || true
  log "scratch folder kept: $work"
}
trap cleanup EXIT

log "building the reference from $src ($(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo 'not a git checkout'))"
(cd "$src" && go build -o "$work/bin/server" ./cmd/server && go build -o "$work/bin/commandline" ./cmd/commandline)
go build -o "$work/bin/plugd" ./cmd/plugd
go build -o "$work/bin/driver" ./scripts/reference-fixture/driver

# The database: the tests' server, a database of our own made fresh.
db=adopt_reference_fixture
if [ "$kind" = postgres ]; then
  pgenv=$(scripts/postgres.sh)
  dsn=${pgenv#PLUGD_TEST_POSTGRES_DSN=}
  psql "$dsn" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  dbhost=$(echo "$dsn" | sed -E 's#^postgres://[^@]*@([^:/]+):([0-9]+)/.*#\1#')
  dbport=$(echo "$dsn" | sed -E 's#^postgres://[^@]*@([^:/]+):([0-9]+)/.*#\2#')
  dbuser=postgres dbpass=unused-trust-auth dbtype=postgresql dbdefault=postgres
else
  dsn=${PLUGD_TEST_MYSQL_DSN:-mysql://plugd:plugd@127.0.0.1:53306/}
  dbuser=$(echo "$dsn" | sed -E 's#^mysql://([^:]*):([^@]*)@([^:/]+):([0-9]+)/.*#\1#')
  dbpass=$(echo "$dsn" | sed -E 's#^mysql://([^:]*):([^@]*)@([^:/]+):([0-9]+)/.*#\2#')
  dbhost=$(echo "$dsn" | sed -E 's#^mysql://([^:]*):([^@]*)@([^:/]+):([0-9]+)/.*#\3#')
  dbport=$(echo "$dsn" | sed -E 's#^mysql://([^:]*):([^@]*)@([^:/]+):([0-9]+)/.*#\4#')
  dbtype=mysql dbdefault=mysql
  mariadb -h"$dbhost" -P"$dbport" -u"$dbuser" -p"$dbpass" -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db CHARACTER SET utf8mb4"
fi

# Redis: private, no persistence, gone with this script.
command -v redis-server >/dev/null || { apt-get update >&2; DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server >&2; }
redis_port=56391
redis-server --port $redis_port --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 50); do redis-cli -p $redis_port ping >/dev/null 2>&1 && break; sleep 0.1; done

# The plugins: adoptkv (tool + endpoint with a secret + KV), e2etool (tool + endpoint), and the
# echo vector (vec1.difypkg, made by the reference's own packager).
"$work/bin/plugd" plugin package testdata/adopt/plugins/adoptkv -o "$work/adoptkv.difypkg" >&2
"$work/bin/plugd" plugin package internal/e2e/testdata/plugins/e2etool -o "$work/e2etool.difypkg" >&2

# The reference makes every plugin's environment with `uv venv --python 3.12` (hard-coded), and
# uv would download a Python from GitHub when none is found; point it at a local 3.12 instead
# (PLUGD_REF_PYTHON312, else python3.12 on PATH, else pyenv's) and forbid downloads.
py312=${PLUGD_REF_PYTHON312:-}
if [ -z "$py312" ]; then
  for c in $(command -v python3.12 2>/dev/null) /root/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12; do
    if [ -x "$c" ] && "$c" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then py312=$c; break; fi
  done
fi
[ -n "$py312" ] || { log "no Python 3.12 found (set PLUGD_REF_PYTHON312): the reference builds plugin environments with 3.12"; exit 1; }
py312=$("$py312" -c 'import sys; print(sys.executable)')
export PATH=$(dirname "$py312"):$PATH UV_PYTHON_DOWNLOADS=never

storage=$work/storage
mkdir -p "$storage" "$work/cwd"
export DB_TYPE=$dbtype DB_HOST=$dbhost DB_PORT=$dbport DB_USERNAME=$dbuser DB_PASSWORD=$dbpass \
  DB_DATABASE=$db DB_DEFAULT_DATABASE=$dbdefault DB_SSL_MODE=disable \
  REDIS_HOST=127.0.0.1 REDIS_PORT=$redis_port REDIS_PASSWORD= REDIS_KEY_PREFIX=adoptfixture \
  PLATFORM=local PLUGIN_STORAGE_TYPE=local PLUGIN_STORAGE_LOCAL_ROOT=$storage \
  PLUGIN_WORKING_PATH=$work/cwd/working PLUGIN_REMOTE_INSTALLING_ENABLED=false \
  FORCE_VERIFYING_SIGNATURE=false PIP_MIRROR_AUTO_DETECT=false \
  PYTHON_INTERPRETER_PATH=${PLUGD_TEST_PYTHON311:-$(command -v python3.11)} UV_PATH=${PLUGD_TEST_UV:-$(command -v uv)} \
  PLUGIN_MAX_EXECUTION_TIMEOUT=120 PLUGIN_INSTALL_TIMEOUT=20 SERVER_TZ=UTC LOG_LEVEL=INFO
# migrate validates the whole configuration: the server key and Dify settings get placeholders
# here; the driver gives the server the real ones.
(cd "$work/cwd" && SERVER_KEY=fixture-server-key DIFY_INNER_API_URL=http://127.0.0.1:9 DIFY_INNER_API_KEY=unused \
  "$work/bin/commandline" migrate >&2)
(cd "$work/cwd" && "$work/bin/driver" -server "$work/bin/server" -out "$work/golden" \
  -packages "$work/adoptkv.difypkg,$work/e2etool.difypkg,$repo/testdata/vectors/vec1.difypkg" -log "$work/server.log")

rm -rf "$out"
mkdir -p "$out"
if [ "$kind" = postgres ]; then
  pg_dump --inserts --no-owner --no-privileges --dbname="${dsn%/*}/$db?sslmode=disable" > "$out/dump.sql"
else
  mariadb-dump -h"$dbhost" -P"$dbport" -u"$dbuser" -p"$dbpass" --skip-comments --skip-lock-tables --skip-add-locks \
    --skip-extended-insert --no-tablespaces --skip-dump-date "$db" | grep -v '^/\*M!999999' > "$out/dump.sql"
fi
# The storage, without the reference's working folders (extracted code, environments).
(cd "$storage" && find . -type f | sort) > "$work/files.txt"
cp -r "$storage" "$out/storage"
cp "$work/golden/golden.json" "$out/golden.json"
git -C "$src" rev-parse HEAD > "$out/REFERENCE_COMMIT" 2>/dev/null || echo unknown > "$out/REFERENCE_COMMIT"
log "fixture written to $out ($(du -sh "$out" | cut -f1))"
