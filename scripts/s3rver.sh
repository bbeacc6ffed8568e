#!/usr/bin/env bash
# Starts and stops s3rver (tests/s3rver, pinned in its package-lock.json), a
# local S3-compatible server for the S3 blob store's tests. It listens on
# 127.0.0.1 only, with its default credentials S3RVER/S3RVER.
#   scripts/s3rver.sh start DIR PORT [BUCKET...]   data in DIR/data, pid in DIR/s3rver.pid,
#                                                  port in DIR/port (PORT 0: a free one)
#   scripts/s3rver.sh stop DIR
# start waits until the server answers, and fails (with its log) if it does not.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="$here/tests/s3rver/node_modules/s3rver/bin/s3rver.js"
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start DIR PORT [BUCKET...] | stop DIR" >&2; exit 2; }

case "$cmd" in
start)
  port=${3:?usage: $0 start DIR PORT [BUCKET...]}
  shift 3
  if [ ! -f "$bin" ]; then
    (cd "$here/tests/s3rver" && npm ci --no-audit --no-fund --silent)
  fi
  if [ -f "$dir/s3rver.pid" ] && kill -0 "$(cat "$dir/s3rver.pid")" 2>/dev/null; then
    echo "s3rver: already running in $dir" >&2
    exit 1
  fi
  rm -rf "$dir/data" # each start is a fresh store
  mkdir -p "$dir/data"
  if [ "$port" = 0 ]; then
    port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  fi
  echo "$port" >"$dir/port"
  buckets=()
  for b in "$@"; do buckets+=(--configure-bucket "$b"); done
  # setsid: its own process group, so stop ends node and nothing else.
  # --openssl-legacy-provider: s3rver makes ListObjectsV2 continuation
  # tokens with DES, which Node 17+ (OpenSSL 3) refuses without it: every
  # truncated list answered 500 InternalError.
  setsid node --openssl-legacy-provider "$bin" -d "$dir/data" -a 127.0.0.1 -p "$port" --silent "${buckets[@]}" \
    >"$dir/s3rver.log" 2>&1 </dev/null &
  echo $! >"$dir/s3rver.pid"
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
      exit 0
    fi
    if ! kill -0 "$(cat "$dir/s3rver.pid")" 2>/dev/null; then
      echo "s3rver: exited at start; log:" >&2
      cat "$dir/s3rver.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "s3rver: not answering on 127.0.0.1:$port after 10 s; log:" >&2
  cat "$dir/s3rver.log" >&2
  exit 1
  ;;
stop)
  [ -f "$dir/s3rver.pid" ] || exit 0
  pid=$(cat "$dir/s3rver.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$dir/s3rver.pid"
  ;;
*)
  echo "usage: $0 start DIR PORT [BUCKET...] | stop DIR" >&2
  exit 2
  ;;
esac
