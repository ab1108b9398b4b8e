//! Fuzz target `rules`: see `enclave_fuzz::targets::rules` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| enclave_fuzz::targets::rules(data));
