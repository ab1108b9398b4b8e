//! Fuzz target `manifest`: see `enclave_fuzz::targets::manifest` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| enclave_fuzz::targets::manifest(data));
