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
