#!/usr/bin/env bash
# Makes the venv with Python HEROS (requirements.txt) that the zenoh interop tests run their
# Python side in: zenoh/tests/python/setup.sh DIR leaves DIR/venv/bin/python. Quick when nothing
# changed (a stamp holds the hash of the inputs); several tests may start it at once, so it
# works under a lock. Needs python3 with venv (installed from Debian when run as root).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
dest="${1:?usage: setup.sh DIR}"
mkdir -p "$dest"
exec 9>"$dest/.lock"
flock 9

if ! python3 -m venv --help >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { echo "zenoh setup: python3 with venv is missing; install python3-venv" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >&2
fi

hash="$( { python3 --version 2>&1; cat "$here/requirements.txt" "$0"; } | sha256sum | cut -d' ' -f1)"
if [ -x "$dest/venv/bin/python" ] && [ "$(cat "$dest/stamp" 2>/dev/null)" = "$hash" ]; then
  exit 0
fi
rm -rf "$dest/venv" "$dest/stamp"
echo "zenoh setup: installing Python HEROS into $dest/venv" >&2
python3 -m venv "$dest/venv" >&2
"$dest/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$here/requirements.txt" >&2
echo "$hash" >"$dest/stamp"
