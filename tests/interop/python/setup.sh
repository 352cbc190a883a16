#!/usr/bin/env bash
# Prepares the Python side of the interop tests: a venv with the pinned requirements.txt and the
# Python stubs of the repository's own .proto files (schema/heros/v1, schema/examples), generated
# with grpcio-tools. tests/interop_python.rs runs this before every scenario, so
# `cargo nextest run --workspace` sets everything up on a fresh clone.
#
#   tests/interop/python/setup.sh [DIR]     (default: target/tmp/interop-python)
#
# Leaves DIR/venv (the interpreter is DIR/venv/bin/python) and DIR/gen (the stubs, to put on
# PYTHONPATH). Idempotent: a stamp holds a hash of everything the result depends on, and a
# second run with the same inputs returns at once. Several tests start it at the same time, so
# it holds a lock on DIR/.lock while it works. If python3 or its venv module is missing it
# installs them from Debian (as root, as on CI); any failure exits non-zero with the reason.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
dest="${1:-$root/target/tmp/interop-python}"
python="${PYTHON:-python3}"

say() { echo "interop setup: $*" >&2; }

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    say "need the Debian packages $*, and only root may install them; install them and run again"
    exit 1
  fi
  say "installing $* with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "$@" >&2
}

mkdir -p "$dest"
exec 9>"$dest/.lock"
flock 9

if ! command -v "$python" >/dev/null 2>&1; then
  apt_install python3 python3-venv
fi

# Everything the venv and the stubs are made from: when one of these changes, they are made anew.
inputs_hash() {
  {
    command -v "$python"
    "$python" --version 2>&1
    cat "$here/requirements.txt" "$here/setup.sh"
    (cd "$root" && find schema/heros schema/examples -name '*.proto' | LC_ALL=C sort | while read -r proto; do
      echo "$proto"
      cat "$proto"
    done)
  } | sha256sum | cut -d' ' -f1
}
hash="$(inputs_hash)"
stamp="$dest/stamp"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ] && [ -x "$dest/venv/bin/python" ] && [ -d "$dest/gen" ]; then
  exit 0
fi

rm -f "$stamp"
rm -rf "$dest/venv" "$dest/gen" "$dest/gen.tmp"
say "creating the venv in $dest/venv"
# Debian splits the venv module (and ensurepip) into python3-venv.
if ! "$python" -m venv "$dest/venv" >&2; then
  rm -rf "$dest/venv"
  version="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
  apt_install python3-venv "python$version-venv"
  "$python" -m venv "$dest/venv" >&2
fi

say "installing $here/requirements.txt"
"$dest/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
  -r "$here/requirements.txt" >&2

say "generating the Python stubs in $dest/gen"
mkdir -p "$dest/gen.tmp"
(cd "$root" && "$dest/venv/bin/python" -m grpc_tools.protoc -I schema \
  --python_out="$dest/gen.tmp" --grpc_python_out="$dest/gen.tmp" \
  schema/heros/v1/*.proto schema/examples/*.proto) >&2
mv "$dest/gen.tmp" "$dest/gen"

# Last, so that an interrupted run is redone next time.
echo "$hash" >"$stamp"
say "ready"
