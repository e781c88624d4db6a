#!/usr/bin/env bash
# Installs what the test suite needs and prints the environment variables the tests read.
# Safe to run again: finished steps are kept. Everything slow to build lives outside the
# checkout, in $PLUGD_CACHE (default: /var/cache/plugd-test as root, else ~/.cache/plugd-test),
# so every clone and worktree on the machine reuses it:
#
#   py311-sdk07/   Python 3.11 venv with the newest dify-plugin SDK of the 0.7 line
#                  (the newest that imports on 3.11) and uv.
#   pynew-sdk/     Python >= 3.12 venv (from scripts/python-new.sh, which may build
#                  CPython 3.13 from Debian's sources) with the newest dify-plugin SDK.
#   pg/, redis/    the PostgreSQL and Redis test servers (scripts/postgres.sh, scripts/redis.sh).
#   minio-<version>/, minio/   MinIO built from its Go module, and its data (scripts/s3.sh).
#   azurite-<version>/, azurite/   Azurite from npm, and its data (scripts/azurite.sh).
#   fake-gcs-server-<version>/, gcs/   the GCS emulator built from its Go module (scripts/gcs.sh).
#   mcp-everything-<version>/  @modelcontextprotocol/server-everything from npm (MCP client tests)
#   mcp-py-<version>/          the official Python MCP SDK and mcp-server-time from PyPI
#   axe-core-<version>/        axe-core from npm (scripts/chromium.sh; Debian's chromium is apt-installed)
#   oidc-provider-<version>/   panva's oidc-provider from npm, the OAuth server of the tests
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cache.sh
# One run at a time builds: two clones testing together share the cache.
exec 8>"$PLUGD_CACHE/.test-deps.lock"
flock 8

py311=${PLUGD_PYTHON311:-$(command -v python3.11 || command -v python3)}
venv=$PLUGD_CACHE/py311-sdk07
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import dify_plugin, uv' 2>/dev/null; then
  echo "test-deps: creating $venv with $py311" >&2
  rm -rf "$venv"
  "$py311" -m venv "$venv"
  "$venv/bin/pip" install --quiet 'dify_plugin>=0.7,<0.8' uv >&2
fi

pynew=$(scripts/python-new.sh)
venv_new=$PLUGD_CACHE/pynew-sdk
if [ ! -x "$venv_new/bin/python" ] || ! "$venv_new/bin/python" -c 'import dify_plugin' 2>/dev/null; then
  echo "test-deps: creating $venv_new with $pynew" >&2
  rm -rf "$venv_new"
  "$venv/bin/uv" venv --quiet --python "$pynew" "$venv_new" >&2
  VIRTUAL_ENV="$venv_new" "$venv/bin/uv" pip install --quiet 'dify_plugin>=0.10' >&2
fi

# Third-party MCP servers for internal/mcpclient's tests, keyed by version: the reference
# server of the MCP project from npm (stdio, streamable HTTP and SSE) and, from PyPI, the
# official Python SDK (its MCPServer runs the test server in testdata) with mcp-server-time.
everything_version=2026.8.31
everything=$PLUGD_CACHE/mcp-everything-$everything_version
everything_js=$everything/node_modules/@modelcontextprotocol/server-everything/dist/index.js
if command -v npm >/dev/null && [ ! -f "$everything_js" ]; then
  echo "test-deps: installing @modelcontextprotocol/server-everything@$everything_version" >&2
  mkdir -p "$everything"
  (cd "$everything" && npm install --silent --no-audit --no-fund "@modelcontextprotocol/server-everything@$everything_version") >&2
fi
mcp_py_version=2.3.0
mcp_py=$PLUGD_CACHE/mcp-py-$mcp_py_version
if [ ! -x "$mcp_py/bin/python" ] || ! "$mcp_py/bin/python" -c 'import mcp.server.mcpserver, mcp_server_time' 2>/dev/null; then
  echo "test-deps: creating $mcp_py (mcp==$mcp_py_version, mcp-server-time)" >&2
  rm -rf "$mcp_py"
  "$venv/bin/uv" venv --quiet --python "$pynew" "$mcp_py" >&2
  VIRTUAL_ENV="$mcp_py" "$venv/bin/uv" pip install --quiet "mcp==$mcp_py_version" 'mcp-server-time==2026.10.19' >&2
fi

# Servers for the daemon's tests, on loopback: PostgreSQL, an S3-compatible store (MinIO),
# Azure Blob Storage (Azurite), Google Cloud Storage (fake-gcs-server) and Redis (the cluster's
# tests). Each script prints its own KEY=VALUE lines. 8>&-: the servers outlive this script and must not
# inherit the lock's descriptor, or they hold the lock for as long as they run and every later
# run of this script waits forever.
scripts/postgres.sh 8>&-
scripts/s3.sh 8>&-
scripts/azurite.sh 8>&-
scripts/gcs.sh 8>&-
scripts/redis.sh 8>&-
# Headless Chromium and axe-core for the web console's browser tests.
scripts/chromium.sh 8>&-
# A real OAuth authorization server (oidc-provider from npm) for internal/oauth's flow tests.
scripts/oauth-server.sh 8>&-

cat <<VARS
PLUGD_TEST_REQUIRE_SERVICES=1
PLUGD_TEST_PYTHON311=$py311
PLUGD_TEST_PYTHON_SDK07=$venv/bin/python
PLUGD_TEST_PYTHON_NEW=$pynew
PLUGD_TEST_PYTHON_SDK_NEW=$venv_new/bin/python
PLUGD_TEST_UV=$venv/bin/uv
PLUGD_TEST_MCP_EVERYTHING=$everything_js
PLUGD_TEST_MCP_PYTHON=$mcp_py/bin/python
VARS
