#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and benchmarks (never for data).
#
#   scripts/pg-cluster.sh start DIR   initdb (when DIR has no cluster) and start;
#                                     prints the server URL, also kept in DIR/url
#   scripts/pg-cluster.sh stop DIR    stop it and delete DIR
#   scripts/pg-cluster.sh url DIR     print the URL of a started cluster
#
# The server listens on a unix socket in DIR only (no TCP port to collide
# with), trusts every local connection, and runs with fsync off: a crash
# loses the cluster, which is what a test cluster is for. PostgreSQL refuses
# to run as root, so when run as root the server runs as the `postgres`
# system user (Debian's package makes it), or as `nobody`.
# The URL is postgresql://postgres@/postgres?host=DIR (DIR made absolute).
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop|url DIR" >&2
  exit 2
fi

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "pg-cluster: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
  exit 1
fi

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$owner" -- "$@"
  else
    "$@"
  fi
}

owner=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
  if id postgres >/dev/null 2>&1; then owner=postgres; else owner=nobody; fi
fi

url_of() { echo "postgresql://postgres@/postgres?host=$1"; }

case "$cmd" in
start)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  # The socket path must fit in sun_path (107 bytes).
  if [ $((${#dir} + 18)) -gt 107 ]; then
    echo "pg-cluster: $dir is too long a path for a unix socket" >&2
    exit 1
  fi
  [ "$(id -u)" -eq 0 ] && chown "$owner" "$dir"
  if [ -f "$dir/data/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    url_of "$dir"
    exit 0
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    rm -rf "$dir/data"
    as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
      --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  opts="-c listen_addresses='' -c unix_socket_directories='$dir' -c fsync=off"
  opts="$opts -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
  opts="$opts -c shared_buffers=64MB"
  if ! as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$opts" start >/dev/null; then
    tail -20 "$dir/server.log" >&2
    exit 1
  fi
  url_of "$dir" | tee "$dir/url"
  ;;
stop)
  if [ -d "$dir/data" ]; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  ;;
url)
  dir=$(cd "$dir" && pwd)
  url_of "$dir"
  ;;
*)
  echo "usage: $0 start|stop|url DIR" >&2
  exit 2
  ;;
esac
