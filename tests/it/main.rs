//! End-to-end tests: a real `enclave` binary driven through the real OpenSSH
//! client, `curl`, the `sqlite3` CLI and headless chromium. One binary, one module per feature.
//!
//! Needs: `target/debug/enclave` (or `ENCLAVE_BIN`) and the example jobs built
//! by `sdk/build-examples.sh target/examples` (or `ENCLAVE_EXAMPLES`). The
//! test command in `infra/dev/test.sh` builds both first.

mod api;
mod api_roles;
mod audit_purge;
mod audit_trail;
mod browser;
mod checks;
mod hostile;
mod installation;
mod local;
mod multinode;
mod python;
mod release;
mod restart;
mod support;
mod telemetry;
mod vertical_slice;
mod web;
mod zig;
