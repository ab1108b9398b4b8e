#!/usr/bin/env bash
# Benchmark `enclave check-output` against ACRO (PyPI acro) on the same large tables (1-D to
# 4-D, up to about a million cells): prints times and the ratio, writes OUT/report.md and
# OUT/disagreements.csv.
#
#   tests/benches/acro/run.sh [OUT] [--max-cells N]
#
# Environment: ENCLAVE_BIN (default target/release/enclave; build it with
# `cargo build --release --bin enclave`), ACRO_VENV (default /tmp/enclave-acro-venv, created
# with python3 -m venv and `pip install acro==1.0.2 numpy pandas` on first use).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
out=${1:-/tmp/enclave-acro-bench}
shift || true
bin=${ENCLAVE_BIN:-$root/target/release/enclave}
venv=${ACRO_VENV:-/tmp/enclave-acro-venv}

if [[ ! -x "$bin" ]]; then
    echo "error: $bin is missing: cargo build --release --bin enclave (or set ENCLAVE_BIN)" >&2
    exit 1
fi
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "acro==1.0.2" numpy pandas
fi
export PYTHONWARNINGS=ignore
exec "$venv/bin/python" "$here/bench.py" --enclave "$bin" --out "$out" "$@"
