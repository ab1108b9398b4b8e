//! Fuzz target `tables`: see `enclave_fuzz::targets::tables` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| enclave_fuzz::targets::tables(data));
