#!/usr/bin/env bash
# Installs what the Node interop suite needs: node and npm (from Debian when missing) and the
# packages pinned in package-lock.json, with `npm ci` into a folder outside the source tree.
#
#   tests/interop/node/setup.sh DIR     -> DIR/node_modules, ready for NODE_PATH
#
# tests/interop_node.rs runs this before every scenario, several test processes at once, so it is
# idempotent (a stamp holds the hash of the package files and of the node version it was installed
# for), returns at once when the stamp matches, and takes a lock so that only one process installs.
# Any failure exits non-zero: the tests then fail instead of skipping.
set -euo pipefail

# HEROS_NPM_PACKAGE_DIR: install another folder's package.json and package-lock.json instead
# (the monitor's browser test, cli/tests/browser/setup.sh, installs playwright-core this way).
here="${HEROS_NPM_PACKAGE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
dir="${1:?usage: setup.sh INSTALL_DIR}"
mkdir -p "$dir"

exec 9>"$dir/.setup.lock"
flock 9

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup.sh: node and npm are missing and cannot be installed here (needs root and apt-get)" >&2
    exit 1
  fi
  echo "setup.sh: installing node and npm from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq nodejs npm >&2
fi

stamp="$(cat "$here/package.json" "$here/package-lock.json" <(node --version) | sha256sum | cut -d' ' -f1)"
if [ -d "$dir/node_modules" ] && [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi

echo "setup.sh: npm ci into $dir" >&2
rm -f "$dir/.stamp"
cp "$here/package.json" "$here/package-lock.json" "$dir/"
# No install scripts: every package here is plain JavaScript (protobufjs's postinstall only checks
# the versions of its optional CLI). Output goes to stderr, so a failing test shows it.
(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
echo "$stamp" >"$dir/.stamp"
