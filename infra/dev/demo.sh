#!/usr/bin/env bash
# Sets everything up and runs the demo: packages, example jobs, the enclave
# binary, then `enclave demo` (extra arguments are passed on, e.g. --dir DIR).
set -euo pipefail
cd "$(dirname "$0")/../.."

infra/dev/install-deps.sh
target="${CARGO_TARGET_DIR:-$PWD/target}"
sdk/build-examples.sh "$target/examples"
# Python jobs: the runner component (componentize-py from PyPI, cached under /var/tmp) and
# the Python example scripts. Without them the demo runs with WebAssembly jobs only.
if sdk/python/build-runner.sh "$target/examples"; then
  cp sdk/examples/*.py "$target/examples/"
else
  echo "warning: could not build the Python runner; submit --python stays disabled" >&2
fi
cargo build --locked --bin enclave
exec "$target/debug/enclave" demo --examples "$target/examples" "$@"
