#!/usr/bin/env bash
# Builds the enclave Python runner component: CPython (componentize-py) running the script
# mounted at /job/main.py, with enclave_sdk.py bundled. The output is trusted operator code:
# an installation names it in enclave.toml ([python] runner = "...").
#
#   sdk/python/build-runner.sh OUTDIR        # writes OUTDIR/python-runner.wasm
#   sdk/python/build-runner.sh --install-tool  # only installs componentize-py (install-deps.sh)
#
# componentize-py comes from PyPI into a venv of its own under $ENCLAVE_PYTHON_CACHE
# (default /var/tmp/enclave-python), created once and reused. The WASI WIT is copied from the
# wasmtime-wasi crate the sandbox is built with (cargo registry, or $ENCLAVE_WASI_WIT), so
# the component imports exactly the interface versions the sandbox links. Idempotent:
# rebuilds only when the inputs (this script, the runner, the SDK, the tool version) change.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1
WASMTIME_WASI_VERSION=48.0.8

if [[ $# -ne 1 || -z $1 ]]; then
  echo "usage: $0 OUTDIR | --install-tool" >&2
  exit 64
fi
here=$(cd "$(dirname "$0")" && pwd)
cache=${ENCLAVE_PYTHON_CACHE:-/var/tmp/enclave-python}
venv=$cache/venv-componentize-py-$COMPONENTIZE_PY_VERSION

install_tool() {
  # The stamp is written last, so an interrupted install is redone rather than trusted.
  if [[ -x $venv/bin/componentize-py && -f $venv/.enclave-complete ]]; then
    return
  fi
  echo "installing componentize-py $COMPONENTIZE_PY_VERSION (PyPI) into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "componentize-py==$COMPONENTIZE_PY_VERSION"
  touch "$venv/.enclave-complete"
}

mkdir -p "$cache"
if [[ $1 == --install-tool ]]; then
  exec 9>"$cache/.lock"
  flock 9
  install_tool
  exit 0
fi
out_dir=$1

find_wit() {
  if [[ -n ${ENCLAVE_WASI_WIT:-} ]]; then
    echo "$ENCLAVE_WASI_WIT"
    return
  fi
  local cargo_home=${CARGO_HOME:-$HOME/.cargo} dir
  for dir in "$cargo_home"/registry/src/*/wasmtime-wasi-"$WASMTIME_WASI_VERSION"/src/p2/wit/deps; do
    if [[ -d $dir ]]; then
      echo "$dir"
      return
    fi
  done
  # Not downloaded yet: let cargo fetch the locked dependencies of the workspace.
  (cd "$here/../.." && cargo fetch --locked >&2)
  for dir in "$cargo_home"/registry/src/*/wasmtime-wasi-"$WASMTIME_WASI_VERSION"/src/p2/wit/deps; do
    if [[ -d $dir ]]; then
      echo "$dir"
      return
    fi
  done
  echo "error: wasmtime-wasi $WASMTIME_WASI_VERSION not found in $cargo_home/registry; set ENCLAVE_WASI_WIT" >&2
  exit 1
}

wit_deps=$(find_wit)
mkdir -p "$out_dir"
target=$out_dir/python-runner.wasm
stamp=$out_dir/python-runner.inputs

inputs=$( (
  echo "componentize-py $COMPONENTIZE_PY_VERSION wasmtime-wasi $WASMTIME_WASI_VERSION"
  sha256sum "$here/build-runner.sh" "$here/runner/app.py" "$here/runner/wit/world.wit" \
    "$here/enclave_sdk.py" | cut -d' ' -f1
  cat "$wit_deps"/*.wit | sha256sum | cut -d' ' -f1
) | sha256sum | cut -d' ' -f1)

if [[ -f $target && -f $stamp && $(cat "$stamp") == "$inputs" ]]; then
  echo "python runner up to date: $target"
  exit 0
fi

# One build at a time per cache (tests may ask for the runner concurrently).
exec 9>"$cache/.lock"
flock 9
if [[ -f $target && -f $stamp && $(cat "$stamp") == "$inputs" ]]; then
  echo "python runner up to date: $target"
  exit 0
fi

install_tool

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/wit/deps" "$work/app"
cp "$here/runner/wit/world.wit" "$work/wit/"
cp "$wit_deps"/*.wit "$work/wit/deps/"
cp "$here/runner/app.py" "$work/app/app.py"
cp "$here/enclave_sdk.py" "$work/app/enclave_sdk.py"

echo "building $target"
started=$(date +%s)
(cd "$work/app" && "$venv/bin/componentize-py" -d "$work/wit" -w runner componentize app -o "$work/python-runner.wasm")
mv "$work/python-runner.wasm" "$target.tmp"
mv "$target.tmp" "$target"
echo "$inputs" >"$stamp"
echo "built $target ($(stat -c %s "$target") bytes) in $(($(date +%s) - started)) s"
