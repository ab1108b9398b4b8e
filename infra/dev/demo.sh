#!/usr/bin/env bash
# Sets everything up and runs the demo: packages, example jobs, the enclave
# binary, then `enclave demo` (extra arguments are passed on, e.g. --dir DIR).
set -euo pipefail
cd "$(dirname "$0")/../.."

infra/dev/install-deps.sh
target="${CARGO_TARGET_DIR:-$PWD/target}"
sdk/build-examples.sh "$target/examples"
cargo build --locked --bin enclave
exec "$target/debug/enclave" demo --examples "$target/examples" "$@"
