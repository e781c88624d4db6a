# Sourced by the test scripts: sets PLUGD_CACHE, the folder outside the checkout where slow
# builds (venvs, a CPython, the test servers' installs and data) are kept and reused by every
# clone on the machine. Root's default is under /var/cache because the PostgreSQL test server
# runs as the postgres user, which cannot enter /root.
if [ -z "${PLUGD_CACHE:-}" ]; then
  if [ "$(id -u)" = 0 ]; then
    PLUGD_CACHE=/var/cache/plugd-test
  else
    PLUGD_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/plugd-test
  fi
fi
mkdir -p "$PLUGD_CACHE"
PLUGD_CACHE=$(cd "$PLUGD_CACHE" && pwd)
export PLUGD_CACHE
