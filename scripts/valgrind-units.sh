#!/usr/bin/env bash
# Runs every unit test binary of a plain (non-sanitized) build under valgrind.
set -euo pipefail
build=${1:-build}
# libvips runs its SIMD kernels as code that liborc generates at run time and
# writes through a second mapping of the same file, which valgrind does not
# see: it runs stale translations (wrong pixels, and false "invalid read"
# reports inside orcexec.*). Valgrind runs use libvips's plain C paths.
export VIPS_NOVECTOR=1
# test_repo_pg needs a server and test_store_s3 an s3rver: a throwaway
# cluster (scripts/pg-cluster.sh) and an s3rver for the run, as ctest's
# fixtures do, stopped whatever happens.
pgdir="$build/pgvalgrind"
s3dir=$(mktemp -d /tmp/ml-valgrind-s3-XXXXXX)
trap 'bash "$(dirname "$0")/pg-cluster.sh" stop "$pgdir"; bash "$(dirname "$0")/s3rver.sh" stop "$s3dir"; rm -rf "$s3dir"' EXIT
MEDIALIB_TEST_PG_URL=$(bash "$(dirname "$0")/pg-cluster.sh" start "$pgdir")
export MEDIALIB_TEST_PG_URL
bash "$(dirname "$0")/s3rver.sh" start "$s3dir" 0 ml-unit
export ML_TEST_S3_DIR="$s3dir"
pass=0; fail=0
for t in "$build"/test_*; do
  [ -x "$t" ] || continue
  if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
      --suppressions="$(dirname "$0")/valgrind.supp" \
      "$t" >"$t.valgrind.log" 2>&1; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "valgrind: $t failed:" >&2
    tail -40 "$t.valgrind.log" >&2
  fi
done
echo "valgrind: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
