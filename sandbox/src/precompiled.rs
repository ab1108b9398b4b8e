//! The only `unsafe` in the sandbox: turning a `.cwasm` file from the on-disk cache back into
//! a compiled module. It checks the artefact against the SHA-256 recorded when it was written
//! before handing it to wasmtime, and owns nothing else (reading, writing and naming cache
//! entries live in `disk_cache.rs`).
#![allow(
    unsafe_code,
    reason = "wasmtime's deserialize is unsafe: it maps machine code; see the SAFETY comment"
)]

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use crate::compile::Compiled;
use crate::module::{Kind, error_text};

/// Why a cache entry was not used.
#[derive(Debug)]
pub(crate) enum Rejected {
    /// The artefact's SHA-256 is not the one recorded beside it.
    HashMismatch,
    /// wasmtime refused it (another engine configuration or version, or damage the hash did
    /// not catch).
    Engine(String),
}

/// Deserializes `artefact` as a `kind` after checking that its SHA-256 is `expected`.
pub(crate) fn load(
    engine: &Engine,
    kind: Kind,
    artefact: &[u8],
    expected: &[u8; 32],
) -> Result<Compiled, Rejected> {
    let actual: [u8; 32] = Sha256::digest(artefact).into();
    if &actual != expected {
        return Err(Rejected::HashMismatch);
    }
    // SAFETY: wasmtime requires that the bytes be the output of `Module::serialize` /
    // `Component::serialize` from a compatible engine, because they are mapped as machine
    // code without being verified. That holds here:
    // - the bytes were written by this crate (`disk_cache::DiskCache::store`) from wasmtime's
    //   own `serialize`, into a folder only the operator's installation writes, and we hash
    //   the exact in-memory bytes we deserialize (no re-read after the check, so no window
    //   for the file to change), against the SHA-256 recorded when they were written;
    // - the file name is keyed on the wasmtime version and `Engine::precompile_compatibility_hash`
    //   (the engine's `Config`), and wasmtime itself re-checks version and configuration in
    //   the artefact's header and refuses a mismatch, which we treat as a miss;
    // - `kind` comes from the key too, so a core module is never read as a component.
    // The hash guards against corruption (torn writes, bit rot, a truncated copy), not against
    // someone who can write the folder: such a person could equally replace the binary.
    let compiled = unsafe {
        match kind {
            Kind::Core => Module::deserialize(engine, artefact).map(Compiled::Core),
            Kind::Component => Component::deserialize(engine, artefact).map(Compiled::Component),
        }
    };
    compiled.map_err(|error| Rejected::Engine(error_text(&error)))
}
