#!/usr/bin/env bash
# The test command: everything CI checks, from a clean checkout.
set -euo pipefail
cd "$(dirname "$0")/../.."

infra/dev/install-deps.sh
target="${CARGO_TARGET_DIR:-$PWD/target}"
export ENCLAVE_EXAMPLES="$target/examples"
export ENCLAVE_BIN="$target/debug/enclave"

echo "== example jobs (C -> wasm32-wasi)"
sdk/build-examples.sh "$ENCLAVE_EXAMPLES"

echo "== format"
cargo fmt --all --check

echo "== lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== policy stays pure (no I/O crates in its dependency tree)"
forbidden=$(cargo tree -q -p enclave-policy -e normal --prefix none --locked \
  | grep -E '^(tokio|sqlx|axum|hyper|russh|wasmtime|rand|reqwest) ' || true)
if [[ -n "$forbidden" ]]; then
  echo "enclave-policy depends on forbidden crates:" >&2
  echo "$forbidden" >&2
  exit 1
fi

echo "== deployment manifests parse"
for manifest in infra/k8s/*.yaml; do
  python3 -c 'import sys, yaml; list(yaml.safe_load_all(open(sys.argv[1])))' "$manifest"
done

echo "== build (all targets, so the binary the end-to-end tests run has the same features as the tests)"
cargo build --workspace --locked --all-targets

echo "== test (SQLite)"
cargo test --workspace --locked

echo "== end-to-end tests again on PostgreSQL (a throwaway cluster from infra/postgres)"
pg_dir=$(mktemp -d /tmp/enclave-pg.XXXXXX)
trap 'infra/postgres/test-cluster.sh stop "$pg_dir"; rm -rf "$pg_dir"' EXIT
infra/postgres/test-cluster.sh start "$pg_dir"
# --workspace keeps the feature set of the build above (no second compile).
ENCLAVE_TEST_PG_DIR="$pg_dir" cargo test --workspace --locked --test it

echo "== docs"
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --locked --quiet
