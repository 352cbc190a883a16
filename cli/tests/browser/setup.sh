#!/usr/bin/env bash
# Installs what the monitor's browser test needs: Debian's chromium when it is missing, then
# node, npm and playwright-core as pinned in package-lock.json, with the Node interop suite's
# installer (tests/interop/node/setup.sh: `npm ci` into DIR, idempotent, locked, from Debian when
# node is missing). playwright-core downloads no browser: the test drives /usr/bin/chromium.
#
#   cli/tests/browser/setup.sh DIR     -> DIR/node_modules, ready for NODE_PATH
#
# Any failure exits non-zero: the test then fails instead of skipping.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${1:?usage: setup.sh INSTALL_DIR}"
mkdir -p "$dir"

if ! command -v chromium >/dev/null 2>&1; then
  exec 8>"$dir/.chromium.lock"
  flock 8
  if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
      echo "setup.sh: chromium is missing and cannot be installed here (needs root and apt-get)" >&2
      exit 1
    fi
    echo "setup.sh: installing chromium from Debian" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq chromium >&2
  fi
fi

HEROS_NPM_PACKAGE_DIR="$here" bash "$here/../../../tests/interop/node/setup.sh" "$dir"

if [ "$(node --version | sed -E 's/^v([0-9]+).*/\1/')" -lt 20 ]; then
  echo "setup.sh: playwright-core needs node 20 or newer, this is $(node --version)" >&2
  exit 1
fi
