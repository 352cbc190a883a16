#!/usr/bin/env bash
# Installs what the monitor's browser test needs: Debian's chromium, node and npm (from Debian
# when missing), and playwright-core as pinned in package-lock.json, with `npm ci` into a folder
# outside the source tree. playwright-core downloads no browser: the test drives /usr/bin/chromium.
#
#   cli/tests/browser/setup.sh DIR     -> DIR/node_modules, ready for NODE_PATH
#
# Idempotent (a stamp holds the hash of the package files and of the node version), quick when
# the stamp matches, and locked so that parallel test processes install once. Any failure exits
# non-zero: the test then fails instead of skipping.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${1:?usage: setup.sh INSTALL_DIR}"
mkdir -p "$dir"

exec 9>"$dir/.setup.lock"
flock 9

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup.sh: ${missing[*]} missing and cannot be installed here (needs root and apt-get)" >&2
    exit 1
  fi
  echo "setup.sh: installing ${missing[*]} from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${missing[@]}" >&2
fi

major="$(node --version | sed -E 's/^v([0-9]+).*/\1/')"
if [ "$major" -lt 20 ]; then
  echo "setup.sh: playwright-core needs node 20 or newer, this is $(node --version)" >&2
  exit 1
fi

stamp="$(cat "$here/package.json" "$here/package-lock.json" <(node --version) | sha256sum | cut -d' ' -f1)"
if [ -d "$dir/node_modules" ] && [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi

echo "setup.sh: npm ci into $dir" >&2
rm -f "$dir/.stamp"
cp "$here/package.json" "$here/package-lock.json" "$dir/"
(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
echo "$stamp" >"$dir/.stamp"
