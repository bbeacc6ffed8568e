#!/usr/bin/env bash
# Builds the admin UI (web/) with Vite into web/dist, which cmake embeds into
# the medialib binary (scripts/embed-web.py). Quiet and instant when dist is
# newer than every input (web sources, the client it imports, the lock file).
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=web/dist/index.html
if [ -f "$stamp" ] && [ -d web/node_modules ]; then
  newer=$(find web/src web/public web/index.html web/package.json web/package-lock.json \
               web/vite.config.ts web/tsconfig.json clients/js/src \
               -newer "$stamp" -print -quit 2>/dev/null || true)
  [ -z "$newer" ] && exit 0
fi
# Vite 8 needs Node 20.19 or newer; with an older Node the binary is built
# without the UI (it then answers /admin/ with a JSON error saying so).
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "build-web: Node $(node --version) is older than 20.19 (Vite's minimum): the admin UI is not built" >&2
  exit 0
fi
if [ ! -d web/node_modules ]; then
  echo "build-web: web/node_modules is missing (scripts/install-deps.sh runs npm ci there)" >&2
  exit 1
fi
echo "build-web: building the admin UI (web/dist)"
(cd web && npx --no-install tsc -p . --noEmit && npx --no-install vite build --logLevel warn)
touch "$stamp"
