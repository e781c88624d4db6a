#!/usr/bin/env bash
# Prints the path of a Python >= 3.12 interpreter, the newest dify-plugin SDK lines need one.
# Uses one already on the machine (python3.13, python3.12, pyenv's), else builds CPython 3.13 from
# Debian trixie's source package into $PLUGD_CACHE/python3.13 (about 4 minutes on 2 cores) and keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cache.sh

ok() { "$1" -c 'import sys, ssl, venv, sqlite3; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; }

# PLUGD_BUILD_PYTHON=1 skips the search (to test the build path).
[ "${PLUGD_BUILD_PYTHON:-}" = 1 ] || for cand in "${PLUGD_PYTHON_NEW:-}" "$PLUGD_CACHE/python3.13/bin/python3.13" \
    "$(command -v python3.13 || true)" "$(command -v python3.12 || true)" \
    /root/.pyenv/versions/3.13*/bin/python3 /root/.pyenv/versions/3.12*/bin/python3; do
  if [ -n "$cand" ] && [ -x "$cand" ] && ok "$cand"; then
    echo "$cand"
    exit 0
  fi
done

echo "python-new: building CPython 3.13 from Debian trixie sources into $PLUGD_CACHE/python3.13" >&2
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
if [ ! -f /etc/apt/sources.list.d/plugd-trixie-src.list ]; then
  echo "deb-src http://deb.debian.org/debian trixie main" | $sudo tee /etc/apt/sources.list.d/plugd-trixie-src.list >/dev/null
fi
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq build-essential libssl-dev zlib1g-dev libbz2-dev libreadline-dev \
  libsqlite3-dev libffi-dev liblzma-dev uuid-dev libgdbm-dev tk-dev dpkg-dev >&2
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
(cd "$build" && apt-get source -qq python3.13 >&2)
src=$(find "$build" -maxdepth 1 -type d -name 'python3.13-*' | head -n1)
(cd "$src" && ./configure --prefix="$PLUGD_CACHE/python3.13" --without-ensurepip >&2 && make -j"$(nproc)" >&2 && make altinstall >&2)
py="$PLUGD_CACHE/python3.13/bin/python3.13"
"$py" -m ensurepip >&2 || true
ok "$py"
echo "$py"
