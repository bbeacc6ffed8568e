#!/usr/bin/env bash
# Bans the C functions that make buffer overflows easy (curl's checksrc).
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|gets)[[:space:]]*\('
if grep -rnE "$pattern" src tests/unit fuzz --include='*.c' --include='*.h' | grep -v '^\s*/\*'; then
  echo "check-source: banned function used (use snprintf, ml_buf, strtol...)" >&2
  exit 1
fi
echo "check-source: no banned functions"

# The code is formatted by the checked-in .clang-format (make format).
unformatted=$(git ls-files 'src/*.c' 'src/*.h' 'tests/unit/*.c' 'fuzz/*.c' 2>/dev/null |
  while read -r f; do clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "$f"; done)
if [ -n "$unformatted" ]; then
  echo "check-source: not formatted (run make format):" $unformatted >&2
  exit 1
fi
echo "check-source: formatted"
