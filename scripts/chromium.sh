#!/usr/bin/env bash
# Makes headless Chromium and axe-core available for the web console's browser tests
# (internal/console) and prints the variables they read as KEY=VALUE lines on stdout
# (everything else goes to stderr):
#
#   PLUGD_TEST_CHROMIUM   Debian's chromium, installed with apt-get when /usr/bin/chromium is missing
#   PLUGD_TEST_AXE        axe-core's axe.min.js from npm (the accessibility checks, colour contrast
#                         among them), installed into $PLUGD_CACHE/axe-core-<version>
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cache.sh
if [ ! -x /usr/bin/chromium ]; then
  echo "chromium.sh: installing Debian's chromium" >&2
  (apt-get -o DPkg::Lock::Timeout=900 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq chromium) >&2
fi
echo "PLUGD_TEST_CHROMIUM=/usr/bin/chromium"
axe_version=4.11.1
axe=$PLUGD_CACHE/axe-core-$axe_version
axe_js=$axe/node_modules/axe-core/axe.min.js
if command -v npm >/dev/null && [ ! -f "$axe_js" ]; then
  echo "chromium.sh: installing axe-core@$axe_version" >&2
  mkdir -p "$axe"
  (cd "$axe" && npm install --silent --no-audit --no-fund "axe-core@$axe_version") >&2
fi
if [ -f "$axe_js" ]; then
  echo "PLUGD_TEST_AXE=$axe_js"
fi
