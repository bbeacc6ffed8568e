#!/usr/bin/env bash
# Starts and stops the Cloudinary stand-in (tests/cloudinary/standin.mjs), a
# local test double of Cloudinary's upload, destroy, Admin API and delivery
# endpoints for the Cloudinary blob store's tests. It is not Cloudinary. It
# listens on 127.0.0.1 only, with test credentials: cloud "demo", API key
# 123456789012345, secret "standin-secret" (or CLD_STANDIN_CLOUD,
# CLD_STANDIN_KEY, CLD_STANDIN_SECRET).
#   scripts/cloudinary-standin.sh start DIR PORT [--keep]
#       data in DIR/data, pid in DIR/standin.pid, log in DIR/standin.log,
#       port in DIR/port (PORT 0: a free one). Each start is a fresh store,
#       unless --keep (a restart after a kill keeps what was acknowledged).
#   scripts/cloudinary-standin.sh stop DIR
# start waits until the server answers, and fails (with its log) if it does not.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
server="$here/tests/cloudinary/standin.mjs"
cmd=${1:-}
dir=${2:-}
usage="usage: $0 start DIR PORT [--keep] | stop DIR"
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "$usage" >&2; exit 2; }

# Whether process $1 runs. A killed stand-in stays a zombie until its new
# parent reaps it, and kill -0 succeeds on zombies: a restart right after a
# SIGKILL must not take that for "already running".
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  case "$(ps -o stat= -p "$1" 2>/dev/null)" in Z*) return 1 ;; esac
}

case "$cmd" in
start)
  port=${3:?$usage}
  keep=${4:-}
  [ -z "$keep" ] || [ "$keep" = --keep ] || { echo "$usage" >&2; exit 2; }
  if [ -f "$dir/standin.pid" ] && alive "$(cat "$dir/standin.pid")"; then
    echo "cloudinary stand-in: already running in $dir" >&2
    exit 1
  fi
  [ "$keep" = --keep ] || rm -rf "$dir/data"
  mkdir -p "$dir/data"
  # The server writes the port it actually listens on (PORT 0: one the
  # kernel picked, so no other process can take it between pick and listen).
  rm -f "$dir/port"
  # setsid: its own process group, so stop ends node and nothing else.
  setsid node "$server" --dir "$dir/data" --port "$port" --port-file "$dir/port" \
    --cloud "${CLD_STANDIN_CLOUD:-demo}" --key "${CLD_STANDIN_KEY:-123456789012345}" \
    --secret "${CLD_STANDIN_SECRET:-standin-secret}" \
    >"$dir/standin.log" 2>&1 </dev/null &
  echo $! >"$dir/standin.pid"
  for _ in $(seq 1 100); do
    if [ -s "$dir/port" ] && curl -sf -o /dev/null "http://127.0.0.1:$(cat "$dir/port")/__standin/assets"; then
      exit 0
    fi
    if ! alive "$(cat "$dir/standin.pid")"; then
      echo "cloudinary stand-in: exited at start; log:" >&2
      cat "$dir/standin.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "cloudinary stand-in: not answering on 127.0.0.1:${port} after 10 s; log:" >&2
  cat "$dir/standin.log" >&2
  exit 1
  ;;
stop)
  [ -f "$dir/standin.pid" ] || exit 0
  pid=$(cat "$dir/standin.pid")
  if alive "$pid"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      alive "$pid" || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$dir/standin.pid"
  ;;
*)
  echo "$usage" >&2
  exit 2
  ;;
esac
