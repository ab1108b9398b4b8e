//! Black-box tests of the sandbox's newer capabilities through its public API: WASI 0.2
//! components, the data-access record, compile and runtime limits, and determinism. Guests
//! are written in WAT; components are made from core modules with the preview 1 adapter,
//! as `wasm-tools component new --adapt` does.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod access;
mod components;
mod determinism;
mod limits;
mod support;
