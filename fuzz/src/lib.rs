//! Fuzz target bodies for the output checker (`enclave_policy::sdc`).
//!
//! The same file is compiled into the stable test `policy/tests/fuzz_corpus.rs`, so every
//! body here runs in CI on the seed corpus and its mutations, and under libFuzzer for
//! people with nightly.

pub mod targets;
