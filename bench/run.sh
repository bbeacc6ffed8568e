#!/usr/bin/env bash
# medialib benchmarks, side by side with nginx on the same machine and the
# same wrk settings (wrk -t2 -c64). Prints a table of figures and ratios.
#   bash bench/run.sh [path/to/medialib]
# Environment: BENCH_SECONDS (default 10), BENCH_ROUNDS (default 3; the
# median round is reported), BENCH_UPLOAD_MB (default 1024), BENCH_ONLY=thumb
# (only the thumbnail section), BENCH_ONLY=s3 (only the S3 upload section),
# BENCH_ONLY=pg (only the list and retrieve on SQLite and on PostgreSQL,
# rounds alternating between the two), BENCH_THUMB_RUNS (renders per round, default
# 30), BENCH_PYTHON (the Python with Debian's python3-pil, default
# /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-build/medialib}")
SECS=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
UPLOAD_MB=${BENCH_UPLOAD_MB:-1024}
WORK=$(mktemp -d /tmp/medialib-bench.XXXXXX)
ML_PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
NGX_PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
ML_PID=""; NGX_STARTED=""
cleanup() {
  [ -n "$ML_PID" ] && kill "$ML_PID" 2>/dev/null && wait "$ML_PID" 2>/dev/null || true
  [ -n "$NGX_STARTED" ] && nginx -c "$WORK/nginx.conf" -p "$WORK" -s stop 2>/dev/null || true
  [ -n "${PG_ML_PID:-}" ] && kill "$PG_ML_PID" 2>/dev/null && wait "$PG_ML_PID" 2>/dev/null || true
  [ -d "$WORK/pg" ] && bash scripts/pg-cluster.sh stop "$WORK/pg" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Thumbnails, in process, before the server starts (a quiet machine): a
# 4000x3000 photo-like JPEG (quality 90) to a 300 px wide JPEG, medialib's
# renderer (bench_thumb, libvips) side by side with Pillow in draft mode
# (thumb_pillow.py), on the same file, rounds alternating between the two.
thumb_bench() {
  local bench py rounds runs ml=() pil=() ml_rss=() pil_rss=() line
  bench="$(dirname "$BIN")/bench_thumb"
  py=${BENCH_PYTHON:-/usr/bin/python3}
  rounds=$ROUNDS; runs=${BENCH_THUMB_RUNS:-30}
  [ -x "$bench" ] || { echo "thumb: $bench not built" >&2; return 1; }
  "$py" -c 'import PIL' 2>/dev/null || { echo "thumb: $py has no Pillow (python3-pil)" >&2; return 1; }
  "$bench" -g "$WORK/thumb-src.jpg"
  echo "thumbnails: $rounds rounds of $runs renders each ($(du -h "$WORK/thumb-src.jpg" | cut -f1) source)..."
  for _ in $(seq 1 "$rounds"); do
    line=$("$bench" -n "$runs" -i "$WORK/thumb-src.jpg")
    ml+=("$(sed -E 's/.*median_ms=([0-9.]+).*/\1/' <<<"$line")")
    ml_rss+=("$(sed -E 's/.*max_rss_kib=([0-9]+).*/\1/' <<<"$line")")
    ML_THUMB_LINE=$line
    line=$("$py" bench/thumb_pillow.py "$WORK/thumb-src.jpg" "$runs")
    pil+=("$(sed -E 's/.*median_ms=([0-9.]+).*/\1/' <<<"$line")")
    pil_rss+=("$(sed -E 's/.*max_rss_kib=([0-9]+).*/\1/' <<<"$line")")
    PIL_THUMB_LINE=$line
  done
  echo "  medialib: $ML_THUMB_LINE"
  echo "  Pillow:   $PIL_THUMB_LINE"
  python3 - "$(printf '%s\n' "${ml[@]}" | median)" "$(printf '%s\n' "${pil[@]}" | median)" \
    "$(printf '%s\n' "${ml_rss[@]}" | sort -n | tail -1)" "$(printf '%s\n' "${pil_rss[@]}" | sort -n | tail -1)" \
    "$rounds" "$runs" <<'PY'
import sys
ml, pil, ml_rss, pil_rss = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rounds, runs = sys.argv[5], sys.argv[6]
print(f"\n4000x3000 JPEG to a 300 px wide JPEG, in process (median of {rounds} rounds of {runs})\n")
print("| what | medialib (libvips) | Pillow draft | ratio (Pillow/medialib) | target |")
print("|---|---|---|---|---|")
print(f"| thumbnail, median | {ml:.1f} ms | {pil:.1f} ms | {pil/ml:.2f}x | >= 2.5x |")
print(f"| peak RSS | {ml_rss/1024:.1f} MiB | {pil_rss/1024:.1f} MiB | | |\n")
PY
}
# The median of a column of numbers.
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# A PNG of $2 bytes written to stdout without being held in memory: a 1x1
# image whose bulk is one private ancillary chunk, streamed from /dev/zero.
big_png() {
  python3 - "$1" "$2" <<'PY'
import struct, sys, zlib
work, total = sys.argv[1], int(sys.argv[2])
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
head = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 1, 1, 8, 2, 0, 0, 0))
tail = chunk(b'IDAT', zlib.compress(b'\x00\xff\x00\x00')) + chunk(b'IEND', b'')
bulk = total - len(head) - len(tail) - 12
open(f'{work}/s3big.head', 'wb').write(head + struct.pack('>I', bulk) + b'raNd')
open(f'{work}/s3big.tail', 'wb').write(struct.pack('>I', 0) + tail)
open(f'{work}/s3big.bulk', 'w').write(str(bulk))
PY
  cat "$1/s3big.head"; head -c "$(cat "$1/s3big.bulk")" /dev/zero; cat "$1/s3big.tail"
}

# A streamed upload of UPLOAD_MB MiB into S3 (s3rver on 127.0.0.1): the
# server spools the body to disk, then sends it as a multipart upload whose
# parts are read from the spool file as they go out; its peak RSS must stay
# under 32 MiB whatever the size.
s3_upload_bench() {
  local s3dir="$WORK/s3" port ml_port pid code t0 t1 rss id idle
  bash scripts/s3rver.sh start "$s3dir" 0 bench >/dev/null
  port=$(cat "$s3dir/port")
  ml_port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  MEDIALIB_DATA_DIR="$WORK/s3data" MEDIALIB_LISTEN="127.0.0.1:$ml_port" MEDIALIB_INSECURE_OPEN_WRITES=1 \
    MEDIALIB_MAX_UPLOAD=$((UPLOAD_MB + 16))MiB MEDIALIB_EAGER_PRESETS= \
    MEDIALIB_STORAGE_URL="s3://bench?endpoint=http://127.0.0.1:$port&style=path" \
    MEDIALIB_S3_ACCESS_KEY=S3RVER MEDIALIB_S3_SECRET_KEY=S3RVER "$BIN" serve 2>"$WORK/medialib-s3.log" &
  pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$ml_port/healthz" >/dev/null && break; sleep 0.1; done
  big_png "$WORK" 1000 >"$WORK/s3small.png"
  id=$(curl -s -F "file=@$WORK/s3small.png" "http://127.0.0.1:$ml_port/api/media/" |
    python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
  # As for the file system upload: the peak counter is reset first, so the
  # figure is the upload's own peak (start-up peaks higher, in libvips init).
  echo 5 >/proc/$pid/clear_refs 2>/dev/null || true
  idle=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  echo "uploading ${UPLOAD_MB} MiB to S3 (s3rver; streamed, chunked PUT)..."
  t0=$(date +%s.%N)
  code=$(big_png "$WORK" "$((UPLOAD_MB * 1024 * 1024))" |
    curl -s -o "$WORK/s3up.json" -w '%{http_code}' -T - -H 'Content-Type: image/png' \
      -H 'Content-Disposition: attachment; filename="big.png"' "http://127.0.0.1:$ml_port/api/media/$id/file")
  t1=$(date +%s.%N)
  rss=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  bash scripts/s3rver.sh stop "$s3dir"
  rm -rf "$s3dir" "$WORK/s3data"
  [ "$code" = 200 ] || { echo "S3 upload failed: $code $(cat "$WORK/s3up.json")" >&2; return 1; }
  python3 - "$UPLOAD_MB" "$rss" "$(echo "$t1 - $t0" | bc)" "$idle" <<'PY'
import sys
mb, rss, secs, idle = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
print(f"\nUpload to S3 (s3rver on 127.0.0.1, multipart from the spool file)\n")
print("| what | figure | target |")
print("|---|---|---|")
print(f"| upload {mb} MiB to S3, peak RSS | {rss/1024:.1f} MiB ({mb/secs:.0f} MiB/s end to end) | < 32 MiB |")
print(f"| the same, over the idle server ({idle/1024:.1f} MiB) | +{max(rss - idle, 0)/1024:.1f} MiB | flat |\n")
PY
  # The upload must not grow with the file: at most 8 MiB over the idle RSS.
  [ $((rss - idle)) -lt $((8 * 1024)) ] || { echo "S3 upload: peak RSS grew $(((rss - idle) / 1024)) MiB over idle" >&2; return 1; }
}

# wrk's requests/sec and p99 latency (ms) for one URL.
run_wrk() {
  wrk -t2 -c64 -d"${SECS}s" --latency "$1" >"$WORK/wrk.out" 2>&1
  if grep -q "Non-2xx" "$WORK/wrk.out"; then echo "wrk: non-2xx answers for $1" >&2; cat "$WORK/wrk.out" >&2; exit 1; fi
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' "$WORK/wrk.out")
  echo "$rps $p99"
}

# The list and retrieve on SQLite and on PostgreSQL only (BENCH_ONLY=pg):
# both servers up at once, seeded the same way as below, the rounds
# alternating between the two so both see the same machine conditions.
pg_compare_bench() {
  local sq_port pg_port sq_pid pg_pid pg_url depth a
  local sl=() sg=() pl=() pg=()
  sq_port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  pg_port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  MEDIALIB_DATA_DIR="$WORK/data" MEDIALIB_LISTEN="127.0.0.1:$sq_port" MEDIALIB_INSECURE_OPEN_WRITES=1 \
    "$BIN" serve 2>"$WORK/medialib.log" &
  sq_pid=$!; ML_PID=$sq_pid
  echo "PostgreSQL: a throwaway cluster..."
  # As root the cluster runs as the postgres user, which must reach $WORK/pg.
  chmod 755 "$WORK"
  pg_url=$(bash scripts/pg-cluster.sh start "$WORK/pg")
  MEDIALIB_DATA_DIR="$WORK/pgdata" MEDIALIB_LISTEN="127.0.0.1:$pg_port" MEDIALIB_INSECURE_OPEN_WRITES=1 \
    MEDIALIB_DATABASE_URL="$pg_url" MEDIALIB_EAGER_PRESETS= "$BIN" serve 2>"$WORK/medialib-pg.log" &
  pg_pid=$!; PG_ML_PID=$pg_pid
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$sq_port/healthz" >/dev/null && break; sleep 0.1; done
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$pg_port/healthz" >/dev/null && break; sleep 0.1; done
  echo "seeding 1,000 media on each..."
  node bench/seed.mjs "http://127.0.0.1:$sq_port" 1000 >/dev/null
  node bench/seed.mjs "http://127.0.0.1:$pg_port" 1000 >/dev/null
  for _ in $(seq 1 600); do
    depth=$(curl -s "http://127.0.0.1:$sq_port/metrics" | awk '$1=="medialib_outbox_depth" {print $2}')
    [ "${depth:-1}" = 0 ] && break
    sleep 0.2
  done
  for r in $(seq 1 "$ROUNDS"); do
    echo "round $r/$ROUNDS..."
    read -r a _ < <(run_wrk "http://127.0.0.1:$sq_port/api/media/?page=5"); sl+=("$a")
    read -r a _ < <(run_wrk "http://127.0.0.1:$pg_port/api/media/?page=5"); pl+=("$a")
    read -r a _ < <(run_wrk "http://127.0.0.1:$sq_port/api/media/500/"); sg+=("$a")
    read -r a _ < <(run_wrk "http://127.0.0.1:$pg_port/api/media/500/"); pg+=("$a")
  done
  python3 - "$(printf '%s\n' "${sl[@]}" | median)" "$(printf '%s\n' "${pl[@]}" | median)" \
    "$(printf '%s\n' "${sg[@]}" | median)" "$(printf '%s\n' "${pg[@]}" | median)" "$SECS" "$ROUNDS" <<'PY'
import sys
sl, pl, sg, pg = map(float, sys.argv[1:5])
secs, rounds = sys.argv[5], sys.argv[6]
print(f"\nlist and retrieve, SQLite and PostgreSQL (wrk -t2 -c64 -d{secs}s, median of {rounds} rounds)\n")
print("| what | SQLite | PostgreSQL | ratio | target |")
print("|---|---|---|---|---|")
print(f"| GET /api/media/?page=5, req/s | {sl:,.0f} | {pl:,.0f} | {pl/sl:.2f}x | >= 0.5x |")
print(f"| GET /api/media/500/, req/s | {sg:,.0f} | {pg:,.0f} | {pg/sg:.2f}x | >= 0.5x |\n")
PY
}

if [ -z "${BENCH_ONLY:-}" ] || [ "${BENCH_ONLY}" = thumb ]; then thumb_bench; fi
[ "${BENCH_ONLY:-}" = thumb ] && exit 0
if [ -z "${BENCH_ONLY:-}" ] || [ "${BENCH_ONLY}" = s3 ]; then s3_upload_bench; fi
[ "${BENCH_ONLY:-}" = s3 ] && exit 0
if [ "${BENCH_ONLY:-}" = pg ]; then pg_compare_bench; exit 0; fi

# medialib logs every request (JSON line) to a file; nginx logs its access
# log to a file too, so both do the same work per request.
MEDIALIB_DATA_DIR="$WORK/data" MEDIALIB_LISTEN="127.0.0.1:$ML_PORT" MEDIALIB_INSECURE_OPEN_WRITES=1 \
  MEDIALIB_MAX_UPLOAD=$((UPLOAD_MB + 16))MiB "$BIN" serve 2>"$WORK/medialib.log" &
ML_PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$ML_PORT/healthz" >/dev/null && break; sleep 0.1; done
BASE="http://127.0.0.1:$ML_PORT"

# The streamed upload first, on the fresh server, so the peak RSS is the
# upload's own and not what 64 wrk connections left in caches.
python3 -c 'import struct,sys,zlib
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
sys.stdout.buffer.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))' >"$WORK/tiny.png"
BIG_ID=$(curl -s -F "file=@$WORK/tiny.png" "$BASE/api/media/" | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
echo "uploading ${UPLOAD_MB} MiB (streamed, chunked PUT)..."
# Reset the peak-RSS counter so the figure is the upload's own peak.
echo 5 >/proc/$ML_PID/clear_refs 2>/dev/null || true
RSS_BEFORE=$(awk '/VmHWM/ {print $2}' /proc/$ML_PID/status)
UP_START=$(date +%s.%N)
# A valid PNG of UPLOAD_MB MiB: a 1x1 image whose bulk is one private
# ancillary chunk (streamed from /dev/zero), so the server sniffs and probes
# it as a PNG without the benchmark holding it in memory.
python3 - "$WORK" "$((UPLOAD_MB * 1024 * 1024))" <<'PY'
import struct, sys, zlib
work, total = sys.argv[1], int(sys.argv[2])
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
head = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 1, 1, 8, 2, 0, 0, 0))
tail = chunk(b'IDAT', zlib.compress(b'\x00\xff\x00\x00')) + chunk(b'IEND', b'')
bulk = total - len(head) - len(tail) - 12
open(f'{work}/big.head', 'wb').write(head + struct.pack('>I', bulk) + b'raNd')
open(f'{work}/big.tail', 'wb').write(struct.pack('>I', 0) + tail)
open(f'{work}/big.bulk', 'w').write(str(bulk))
PY
UP_CODE=$( (cat "$WORK/big.head"; head -c "$(cat "$WORK/big.bulk")" /dev/zero; cat "$WORK/big.tail") |
  curl -s -o "$WORK/up.json" -w '%{http_code}' -T - -H 'Content-Type: image/png' \
    -H 'Content-Disposition: attachment; filename="big.png"' "$BASE/api/media/$BIG_ID/file")
UP_END=$(date +%s.%N)
RSS_PEAK=$(awk '/VmHWM/ {print $2}' /proc/$ML_PID/status)
[ "$UP_CODE" = 200 ] || { echo "upload failed: $UP_CODE $(cat "$WORK/up.json")" >&2; exit 1; }
UP_SECS=$(echo "$UP_END - $UP_START" | bc)

echo "seeding 1,000 media..."
SEED=$(node bench/seed.mjs "$BASE" 1000)
IMG_URL=$(echo "$SEED" | python3 -c 'import json,sys;print(json.load(sys.stdin)["image_url"])')
IMG_ID=$(echo "$SEED" | python3 -c 'import json,sys;print(json.load(sys.stdin)["media_id"])')
IMG_KEY_FILE=$(find "$WORK/data/blobs/m/$IMG_ID" -type f -name original | head -1)
# The eager thumbnails of the seeded images render in the background: let
# the outbox drain first, so the rounds measure serving, not rendering.
for _ in $(seq 1 600); do
  depth=$(curl -s "$BASE/metrics" | awk '$1=="medialib_outbox_depth" {print $2}')
  [ "${depth:-1}" = 0 ] && break
  sleep 0.2
done
# A variant served from storage: the thumbnail of the 4000x3000 photo of
# the thumbnail section (a 200x200 JPEG), rendered once, then served like a
# file.
PHOTO=$(curl -s -F "file=@$WORK/thumb-src.jpg;type=image/jpeg" "$BASE/api/media/")
PHOTO_ID=$(echo "$PHOTO" | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
VAR_URL=$(echo "$PHOTO" | python3 -c 'import json,sys;print(json.load(sys.stdin)["variants"]["thumbnail"])')
curl -sf -o /dev/null "$VAR_URL" || { echo "variant $VAR_URL failed" >&2; exit 1; }
VAR_FILE=$(find "$WORK/data/blobs/m/$PHOTO_ID" -type f -name 'c_fill-*' | head -1)

mkdir -p "$WORK/html/media"
cp "$IMG_KEY_FILE" "$WORK/html/media/photo-100k.png"
cp "$VAR_FILE" "$WORK/html/media/thumb.jpg"
# nginx's workers drop root: let them read the copies.
chmod 755 "$WORK" "$WORK/html" "$WORK/html/media"
chmod 644 "$WORK/html/media/photo-100k.png" "$WORK/html/media/thumb.jpg"
cat >"$WORK/nginx.conf" <<NGX
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log $WORK/nginx-access.log;
  sendfile on; tcp_nopush on;
  types { image/png png; image/jpeg jpg; }
  server {
    listen 127.0.0.1:$NGX_PORT;
    root $WORK/html;
    location /media/ { add_header Cache-Control "public, max-age=31536000, immutable"; }
  }
}
NGX
nginx -c "$WORK/nginx.conf" -p "$WORK"
NGX_STARTED=1
sleep 0.3

# The median of ROUNDS runs, alternating between the two URLs so both see
# the same machine conditions.
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

FILE_ML=(); FILE_NGX=(); VAR_ML=(); VAR_NGX=(); LIST=(); LIST_P99=(); GET=(); GET_P99=()
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS..."
  read -r a _ < <(run_wrk "$IMG_URL"); FILE_ML+=("$a")
  read -r a _ < <(run_wrk "http://127.0.0.1:$NGX_PORT/media/photo-100k.png"); FILE_NGX+=("$a")
  read -r a _ < <(run_wrk "$VAR_URL"); VAR_ML+=("$a")
  read -r a _ < <(run_wrk "http://127.0.0.1:$NGX_PORT/media/thumb.jpg"); VAR_NGX+=("$a")
  read -r a b < <(run_wrk "$BASE/api/media/?page=5"); LIST+=("$a"); LIST_P99+=("$b")
  read -r a b < <(run_wrk "$BASE/api/media/500/"); GET+=("$a"); GET_P99+=("$b")
done
f_ml=$(printf '%s\n' "${FILE_ML[@]}" | median); f_ngx=$(printf '%s\n' "${FILE_NGX[@]}" | median)
v_ml=$(printf '%s\n' "${VAR_ML[@]}" | median); v_ngx=$(printf '%s\n' "${VAR_NGX[@]}" | median)
v_bytes=$(stat -c %s "$VAR_FILE")
l=$(printf '%s\n' "${LIST[@]}" | median); lp=$(printf '%s\n' "${LIST_P99[@]}" | median)
g=$(printf '%s\n' "${GET[@]}" | median); gp=$(printf '%s\n' "${GET_P99[@]}" | median)

# The same list and retrieve on PostgreSQL: a throwaway cluster
# (scripts/pg-cluster.sh), a second server on it with 1,000 media seeded the
# same way, the same wrk settings and rounds.
echo "PostgreSQL: a throwaway cluster, 1,000 media..."
PG_URL=$(bash scripts/pg-cluster.sh start "$WORK/pg")
PG_PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
MEDIALIB_DATA_DIR="$WORK/pgdata" MEDIALIB_LISTEN="127.0.0.1:$PG_PORT" MEDIALIB_INSECURE_OPEN_WRITES=1 \
  MEDIALIB_DATABASE_URL="$PG_URL" MEDIALIB_EAGER_PRESETS= "$BIN" serve 2>"$WORK/medialib-pg.log" &
PG_ML_PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PG_PORT/healthz" >/dev/null && break; sleep 0.1; done
node bench/seed.mjs "http://127.0.0.1:$PG_PORT" 1000 >/dev/null
PG_LIST=(); PG_GET=()
for r in $(seq 1 "$ROUNDS"); do
  read -r a _ < <(run_wrk "http://127.0.0.1:$PG_PORT/api/media/?page=5"); PG_LIST+=("$a")
  read -r a _ < <(run_wrk "http://127.0.0.1:$PG_PORT/api/media/500/"); PG_GET+=("$a")
done
kill "$PG_ML_PID"; wait "$PG_ML_PID" 2>/dev/null || true
bash scripts/pg-cluster.sh stop "$WORK/pg"
pl=$(printf '%s\n' "${PG_LIST[@]}" | median); pg=$(printf '%s\n' "${PG_GET[@]}" | median)



# Upload and delete medians for small files (1 MiB), 50 each.
python3 -c 'import os,struct,sys,zlib
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)) + chunk(b"raNd", os.urandom(1048576 - 100)) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b"")
sys.stdout.buffer.write(png)' >"$WORK/one.png"
for i in $(seq 1 50); do
  curl -s -o "$WORK/u.json" -w '%{time_total}\n' -F "file=@$WORK/one.png" "$BASE/api/media/"
  python3 -c 'import json;print(json.load(open("'"$WORK/u.json"'"))["id"])' >>"$WORK/ids"
done >"$WORK/up_times"
while read -r id; do curl -s -o /dev/null -w '%{time_total}\n' -X DELETE "$BASE/api/media/$id/"; done <"$WORK/ids" >"$WORK/del_times"
up_med=$(median <"$WORK/up_times"); del_med=$(median <"$WORK/del_times")

python3 - "$f_ml" "$f_ngx" "$l" "$lp" "$g" "$gp" "$UP_SECS" "$RSS_BEFORE" "$RSS_PEAK" "$UPLOAD_MB" "$up_med" "$del_med" "$SECS" "$ROUNDS" "$v_ml" "$v_ngx" "$v_bytes" "$pl" "$pg" <<'PY'
import sys
f_ml, f_ngx, l, lp, g, gp, up_s, rss0, rss1, mb, upm, delm, secs, rounds, v_ml, v_ngx, v_bytes, pl, pg = sys.argv[1:]
f_ml, f_ngx, l, lp, g, gp, up_s, v_ml, v_ngx, pl, pg = map(float, (f_ml, f_ngx, l, lp, g, gp, up_s, v_ml, v_ngx, pl, pg))
upm, delm = float(upm) * 1000, float(delm) * 1000
rows = [
  ("serve a 100 KiB image, req/s", f"{f_ml:,.0f}", f"nginx {f_ngx:,.0f}", f"{f_ml/f_ngx:.2f}x nginx", ">= 0.9x"),
  (f"serve a stored t_thumbnail ({int(v_bytes):,} bytes), req/s", f"{v_ml:,.0f}", f"nginx {v_ngx:,.0f}", f"{v_ml/v_ngx:.2f}x nginx", ">= 0.9x"),
  ("GET /api/media/?page=5 (1,000 rows), req/s", f"{l:,.0f} (p99 {lp:.1f} ms)", "Django 571 (p99 78 ms)", f"{l/571:.0f}x Django", ">= 20,000"),
  ("GET /api/media/{id}/, req/s", f"{g:,.0f} (p99 {gp:.1f} ms)", "Django 1,012 (p99 43 ms)", f"{g/1012:.0f}x Django", ">= 30,000"),
  ("the list on PostgreSQL, req/s", f"{pl:,.0f}", f"SQLite {l:,.0f}", f"{pl/l:.2f}x SQLite", ">= 0.5x (within 2x)"),
  ("the retrieve on PostgreSQL, req/s", f"{pg:,.0f}", f"SQLite {g:,.0f}", f"{pg/g:.2f}x SQLite", ">= 0.5x (within 2x)"),
  (f"upload {mb} MiB streamed, peak RSS", f"{int(rss1)/1024:.1f} MiB ({float(mb)/up_s:.0f} MiB/s)", "", "", "< 16 MiB"),
  ("upload 1 MiB, median", f"{upm:.1f} ms", "Django 8.9 ms", f"{8.9/upm:.1f}x Django", ""),
  ("delete, median", f"{delm:.1f} ms", "Django 3.5 ms", f"{3.5/delm:.1f}x Django", ""),
]
print(f"\nmedialib benchmarks (wrk -t2 -c64 -d{secs}s, median of {rounds} rounds, same machine)\n")
print("| what | medialib | peer | ratio | target |")
print("|---|---|---|---|---|")
for r in rows: print("| " + " | ".join(r) + " |")
print("\nDjango figures are the baseline measured on this machine (DESIGN.md); nginx is measured in this run.")
PY
