#!/usr/bin/env bash
# Builds every sdk/examples/*.c into OUTDIR/<name>.wasm (WASI preview 1 core modules), with
# the C SDK (sdk/c/enclave_sdk.h) on the include path.
#
#   sdk/build-examples.sh OUTDIR
#
# Needs clang with the wasm32 target, wasi-libc and the wasm32 compiler runtime. On Debian:
#   apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32
# Environment: CLANG (default clang), WASI_SYSROOT (optional, passed as --sysroot),
# EXTRA_CFLAGS (optional, appended).
set -euo pipefail

install_hint="install them with: apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32"

if [[ $# -ne 1 || -z "$1" ]]; then
    echo "usage: $0 OUTDIR" >&2
    exit 64
fi
outdir=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
examples="$here/examples"
clang=${CLANG:-clang}

if ! command -v "$clang" >/dev/null 2>&1; then
    echo "error: '$clang' not found; $install_hint" >&2
    exit 1
fi

flags=(--target=wasm32-wasi -O2 -s -Wall -Wextra -I "$here/c")
if [[ -n "${WASI_SYSROOT:-}" ]]; then
    flags+=("--sysroot=$WASI_SYSROOT")
fi
if [[ -n "${EXTRA_CFLAGS:-}" ]]; then
    read -r -a extra <<<"$EXTRA_CFLAGS"
    flags+=("${extra[@]}")
fi

# Probe: compiling and linking a hello-world proves the target, wasi-libc and the runtime.
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
printf '#include <stdio.h>\nint main(void) { puts("ok"); return 0; }\n' >"$probe_dir/probe.c"
if ! "$clang" "${flags[@]}" "$probe_dir/probe.c" -o "$probe_dir/probe.wasm" 2>"$probe_dir/probe.err"; then
    echo "error: '$clang' cannot build for wasm32-wasi (missing wasi sysroot, wasm-ld or compiler runtime):" >&2
    sed 's/^/    /' "$probe_dir/probe.err" >&2
    echo "$install_hint" >&2
    exit 1
fi

shopt -s nullglob
sources=("$examples"/*.c)
if [[ ${#sources[@]} -eq 0 ]]; then
    echo "error: no examples found in $examples" >&2
    exit 1
fi

mkdir -p "$outdir"
for src in "${sources[@]}"; do
    name=$(basename "$src" .c)
    "$clang" "${flags[@]}" "$src" -o "$outdir/$name.wasm"
    echo "built $outdir/$name.wasm ($(wc -c <"$outdir/$name.wasm") bytes)"
done
