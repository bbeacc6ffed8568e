#!/usr/bin/env bash
# Installs what medialib needs to build, test and benchmark, from Debian's
# packages and npm. Idempotent: quiet and quick when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PKGS=(
  build-essential cmake pkg-config clang clang-format llvm libclang-rt-14-dev valgrind
  libmicrohttpd-dev libsqlite3-dev libjansson-dev libssl-dev libmagic-dev libsodium-dev
  libcmocka-dev curl nginx-light wrk python3 bc
  libvips-dev libwebp-dev python3-pil
  libcurl4-openssl-dev
)

missing=()
# Node may come from another Debian-format source that bundles npm: check commands.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
for p in "${DEB_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node 18+ is needed by the end-to-end tests (built-in test runner and fetch).
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 18 ]; then
  echo "install-deps: Node.js $node_major is too old; need 18 or newer" >&2
  exit 1
fi

# The TypeScript client's dev dependencies (the compiler), from its lock file:
# again only when node_modules is missing or older than package-lock.json.
client=clients/js
if [ -f "$client/package-lock.json" ] &&
   { [ ! -d "$client/node_modules" ] || [ "$client/package-lock.json" -nt "$client/node_modules" ]; }; then
  echo "install-deps: npm ci in $client"
  (cd "$client" && npm ci --no-audit --no-fund --silent)
  touch "$client/node_modules"
fi

# s3rver, the local S3-compatible server of the S3 store's tests, pinned in
# tests/s3rver/package-lock.json; same rule.
s3=tests/s3rver
if [ ! -d "$s3/node_modules" ] || [ "$s3/package-lock.json" -nt "$s3/node_modules" ]; then
  echo "install-deps: npm ci in $s3"
  (cd "$s3" && npm ci --no-audit --no-fund --silent)
  touch "$s3/node_modules"
fi
exit 0
