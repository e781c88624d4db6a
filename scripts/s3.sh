#!/usr/bin/env bash
# Makes an S3-compatible server available on loopback for the tests of internal/blob and the
# daemon, and prints the variables they read as KEY=VALUE lines on stdout (everything else goes
# to stderr):
#
#   scripts/s3.sh > /tmp/s3.env; set -a; . /tmp/s3.env; set +a; go test ./internal/blob/...
#   scripts/s3.sh stop        # stops the server this script started
#
# The server is MinIO, a widely self-hosted S3-compatible server (no mock), built from its Go
# module into $PLUGD_CACHE/minio-<version>/bin (a slow build, several minutes on
# two cores, done once per version; MinIO is AGPL-3.0 and only ever runs beside plugd as a test
# server, never linked into it). It runs detached in a session of its own (it outlives
# this script), keeps its data under $PLUGD_CACHE/minio/data-PORT (emptied when the script
# starts it) and is reused while it answers. PLUGD_S3_PORT picks the port (default 10120; its
# console takes the next one); it logs to $PLUGD_CACHE/minio/minio-PORT.log.
#
# MINIO_DOMAIN makes it answer virtual-host-style requests (bucket.DOMAIN) besides path-style
# ones: the addressing Aliyun OSS, Tencent COS and Volcengine TOS require, which the tests
# exercise by resolving DOMAIN's names to this port themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cache.sh
# MinIO publishes no semantic-version tags the Go module proxy can serve, so the version is the
# pseudo-version of a commit of its main branch.
version=v0.0.0-20260212201848-7aac2a2c5b7c
bin=$PLUGD_CACHE/minio-$version/bin/minio
dir=$PLUGD_CACHE/minio
port=${PLUGD_S3_PORT:-10120}
console=$((port + 1))
url=http://127.0.0.1:$port
bucket=plugd-test
domain=vhost.plugd.test
user=plugd-test
secret=plugd-test-secret
data=$dir/data-$port
log=$dir/minio-$port.log
pidfile=$dir/minio-$port.pid
py=$(command -v python3)
mkdir -p "$dir"

if [ "${1:-}" = stop ]; then
  if [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null; then
    echo "s3: stopped the server (pid $(cat "$pidfile"))" >&2
  else
    echo "s3: no server of ours is running" >&2
  fi
  rm -f "$pidfile"
  exit 0
fi

# s3 METHOD PATH: prints the status code of a request signed with AWS Signature V4 (what
# MinIO requires even to create a bucket), 000 when the server is unreachable.
s3() {
  "$py" - "$1" "$url" "$2" "$user" "$secret" <<'PY'
import datetime, hashlib, hmac, sys, urllib.error, urllib.parse, urllib.request
method, base, path, ak, sk = sys.argv[1:]
host = urllib.parse.urlparse(base).netloc
now = datetime.datetime.now(datetime.timezone.utc)
amz, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
empty = hashlib.sha256(b"").hexdigest()
canon = "\n".join([method, path, "", "host:" + host, "x-amz-content-sha256:" + empty,
                   "x-amz-date:" + amz, "", "host;x-amz-content-sha256;x-amz-date", empty])
scope = day + "/us-east-1/s3/aws4_request"
to_sign = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(canon.encode()).hexdigest()])
k = ("AWS4" + sk).encode()
for part in (day, "us-east-1", "s3", "aws4_request"):
    k = hmac.new(k, part.encode(), hashlib.sha256).digest()
sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
req = urllib.request.Request(base + path, method=method, headers={
    "x-amz-date": amz, "x-amz-content-sha256": empty,
    "Authorization": "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=%s" % (ak, scope, sig)})
try:
    with urllib.request.urlopen(req, timeout=5) as r:
        print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
PY
}

# A bucket listing signed with our credentials succeeds only on a MinIO we started.
if [ "$(s3 GET /)" = 200 ]; then
  echo "s3: reusing the server at $url" >&2
else
  if [ ! -x "$bin" ]; then
    if ! command -v go >/dev/null; then
      echo "s3: Go is needed to build MinIO" >&2
      exit 1
    fi
    echo "s3: building MinIO $version into $(dirname "$bin") (several minutes, once)" >&2
    t0=$(date +%s)
    GOBIN=$(dirname "$bin") go install "github.com/minio/minio@$version" >&2
    echo "s3: built in $(($(date +%s) - t0)) s" >&2
  fi
  rm -rf "$data"
  mkdir -p "$data"
  t0=$(date +%s%N)
  echo "s3: starting MinIO on $url (log: $log)" >&2
  # setsid: its own session, so neither the end of this script nor a Ctrl-C in the caller's
  # terminal stops it.
  MINIO_ROOT_USER=$user MINIO_ROOT_PASSWORD=$secret MINIO_DOMAIN=$domain \
    MINIO_BROWSER=off MINIO_UPDATE=off MINIO_CALLHOME_ENABLE=off \
    setsid "$bin" server --quiet --address "127.0.0.1:$port" --console-address "127.0.0.1:$console" \
    "$data" >"$log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$pidfile"
  for _ in $(seq 600); do
    [ "$(s3 GET /)" = 200 ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "s3: MinIO exited (is port $port or $console taken? set PLUGD_S3_PORT); the end of its log:" >&2
      tail -n 20 "$log" >&2
      rm -f "$pidfile"
      exit 1
    fi
    sleep 0.1
  done
  if [ "$(s3 GET /)" != 200 ]; then
    echo "s3: MinIO (pid $pid) did not answer within 60 s; see $log" >&2
    exit 1
  fi
  echo "s3: ready in $((($(date +%s%N) - t0) / 1000000)) ms (pid $pid)" >&2
fi

# Create the bucket: 200 when new, 409 when it exists already.
code=$(s3 PUT "/$bucket")
if [ "$code" != 200 ] && [ "$code" != 409 ]; then
  echo "s3: creating bucket $bucket failed with HTTP $code" >&2
  exit 1
fi

cat <<VARS
PLUGD_TEST_S3_ENDPOINT=$url
PLUGD_TEST_S3_ACCESS_KEY=$user
PLUGD_TEST_S3_SECRET_KEY=$secret
PLUGD_TEST_S3_BUCKET=$bucket
PLUGD_TEST_S3_DOMAIN=$domain
VARS
