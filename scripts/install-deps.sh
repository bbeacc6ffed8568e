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
  libpq-dev postgresql postgresql-contrib postgresql-client
  chromium fonts-dejavu-core
  libcurl4-openssl-dev varnish
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

# npm dependencies from each lock file: the TypeScript client's compiler, the
# admin UI's (web/: Vite, Preact, playwright-core, which drives Debian's chromium
# and never downloads a browser), and s3rver (tests/s3rver: the local
# S3-compatible server of the S3 tests); only when node_modules is missing or
# older than package-lock.json.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
for dir in clients/js web tests/s3rver; do
  if [ -f "$dir/package-lock.json" ] &&
     { [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; }; then
    echo "install-deps: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --silent)
    touch "$dir/node_modules"
  fi
done
exit 0
