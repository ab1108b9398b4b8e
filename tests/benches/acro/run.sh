#!/usr/bin/env bash
# Benchmark `enclave check-output` against ACRO (PyPI acro) on the same large tables (1-D to
# 4-D, up to about a million cells): prints times and the ratio, writes OUT/report.md and
# OUT/disagreements.csv (every disagreeing cell), and with --report PATH the same report at
# PATH (the committed one is docs/acro-comparison.md).
#
#   tests/benches/acro/run.sh [OUT] [--max-cells N] [--report docs/acro-comparison.md]
#
# Environment:
#   ENCLAVE_BIN    the enclave binary (default: target/release/enclave, built with
#                  `cargo build --release --bin enclave` if missing)
#   ENCLAVE_BUILD  how that binary was built, for the report (default "release profile")
#   ACRO_VENV      the venv (default /tmp/enclave-acro-venv; created with python3 -m venv and
#                  `pip install acro==1.0.2 numpy pandas` on first use)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
out=${1:-/tmp/enclave-acro-bench}
shift || true
target=${CARGO_TARGET_DIR:-$root/target}
bin=${ENCLAVE_BIN:-$target/release/enclave}
build=${ENCLAVE_BUILD:-release profile}
venv=${ACRO_VENV:-/tmp/enclave-acro-venv}

if [[ ! -x "$bin" ]]; then
    if [[ -n "${ENCLAVE_BIN:-}" ]]; then
        echo "error: ENCLAVE_BIN=$bin is not an executable" >&2
        exit 1
    fi
    (cd "$root" && cargo build --release --locked --bin enclave)
fi
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "acro==1.0.2" numpy pandas
fi
export PYTHONWARNINGS=ignore
exec "$venv/bin/python" "$here/bench.py" --enclave "$bin" --build "$build" --out "$out" "$@"
