//! The on-disk cache of compiled code, so a restarted gateway (or a second worker on the same
//! machine) does not compile the same module again: for an 18 MB Python runner that is
//! seconds per start instead of milliseconds.
//!
//! An entry is `<key>.cwasm` (wasmtime's `serialize` output) with `<key>.sha256` beside it
//! (the artefact's SHA-256, hex). The key is a SHA-256 over the module's SHA-256, its kind,
//! the wasmtime version and the engine's compatibility hash (its `Config`), so a different
//! engine never even looks at another's entries. Files are written to a unique temporary
//! name, synced and renamed into place, artefact first. On load the artefact is checked
//! against its recorded hash before it is deserialized (`precompiled.rs`, the crate's one
//! `unsafe`); an entry that fails the check or that wasmtime refuses is deleted and the
//! module compiled again. Failing to write the cache is logged and otherwise ignored: the
//! cache is an optimisation, never a source of truth. The folder is pruned, least recently
//! used first, when it grows past its byte budget.
//!
//! What it must not do: cache a compilation that ran out of time (the caller stores only
//! successful, in-budget results), follow the caller's paths anywhere but its own folder, or
//! trust a file it did not verify.

use std::fs::{self, File};
use std::hash::Hasher;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use wasmtime::Engine;

use crate::compile::Compiled;
use crate::module::{Kind, ModuleHash, error_text};
use crate::precompiled::{self, Rejected};

/// The wasmtime release compiled code comes from (pinned with `=` in the workspace
/// `Cargo.toml`); part of every key. wasmtime's compatibility hash and its artefact header
/// cover the version too: this is belt and braces.
const WASMTIME_VERSION: &str = "48.0.8";
/// Bumped when the entry format changes.
const FORMAT: &str = "enclave compiled cache v1";
const ARTEFACT_SUFFIX: &str = "cwasm";
const HASH_SUFFIX: &str = "sha256";

/// What a lookup found.
pub(crate) enum Lookup {
    /// A verified entry.
    Hit(Compiled),
    /// No entry.
    Miss,
    /// An entry that failed verification or deserialization; it has been removed.
    Rejected,
}

/// A folder of compiled artefacts for one engine configuration.
pub(crate) struct DiskCache {
    dir: PathBuf,
    max_bytes: u64,
    /// SHA-256 over the format, the wasmtime version and the engine's compatibility hash.
    engine_fingerprint: [u8; 32],
}

impl DiskCache {
    /// Opens (creating it, mode 0700) the cache folder for `engine`.
    pub(crate) fn open(dir: &Path, max_bytes: u64, engine: &Engine) -> io::Result<DiskCache> {
        fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
        Ok(DiskCache {
            dir: dir.to_owned(),
            max_bytes,
            engine_fingerprint: engine_fingerprint(engine),
        })
    }

    /// Looks `hash` up. A damaged or incompatible entry is deleted and reported as
    /// [`Lookup::Rejected`] so the caller compiles afresh.
    pub(crate) fn load(&self, engine: &Engine, hash: &ModuleHash, kind: Kind) -> Lookup {
        let (artefact_path, hash_path) = self.paths(hash, kind);
        let recorded = match fs::read_to_string(&hash_path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Lookup::Miss,
            Err(error) => {
                tracing::warn!(%error, "cannot read a compiled-cache entry's hash");
                return Lookup::Miss;
            }
        };
        let artefact = match fs::read(&artefact_path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                self.discard(&artefact_path, &hash_path);
                return Lookup::Rejected;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read a compiled-cache entry");
                return Lookup::Miss;
            }
        };
        let Some(expected) = parse_hex_hash(recorded.trim()) else {
            tracing::warn!(entry = %artefact_path.display(), "compiled-cache hash file is malformed; recompiling");
            self.discard(&artefact_path, &hash_path);
            return Lookup::Rejected;
        };
        match precompiled::load(engine, kind, &artefact, &expected) {
            Ok(compiled) => {
                // Recently used entries survive pruning; failing to touch only costs that.
                if let Ok(file) = File::options().append(true).open(&artefact_path) {
                    let _ = file.set_modified(SystemTime::now());
                }
                Lookup::Hit(compiled)
            }
            Err(rejected) => {
                match rejected {
                    Rejected::HashMismatch => tracing::warn!(
                        entry = %artefact_path.display(),
                        "compiled-cache entry does not match its recorded hash; recompiling"
                    ),
                    Rejected::Engine(error) => tracing::warn!(
                        entry = %artefact_path.display(), %error,
                        "wasmtime refused a compiled-cache entry; recompiling"
                    ),
                }
                self.discard(&artefact_path, &hash_path);
                Lookup::Rejected
            }
        }
    }

    /// Serializes `compiled` and stores it under `hash`. Errors are logged, not returned: a
    /// missing entry only means compiling again.
    pub(crate) fn store(&self, hash: &ModuleHash, kind: Kind, compiled: &Compiled) {
        let serialized = match compiled {
            Compiled::Core(module) => module.serialize(),
            Compiled::Component(component) => component.serialize(),
        };
        let artefact = match serialized {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(error = %error_text(&error), "cannot serialize compiled code");
                return;
            }
        };
        let digest = hex::encode(Sha256::digest(&artefact));
        let (artefact_path, hash_path) = self.paths(hash, kind);
        let written = write_atomically(&self.dir, &artefact_path, &artefact)
            .and_then(|()| write_atomically(&self.dir, &hash_path, digest.as_bytes()));
        match written {
            Ok(()) => self.prune(),
            Err(error) => tracing::warn!(%error, "cannot write the compiled cache"),
        }
    }

    fn paths(&self, hash: &ModuleHash, kind: Kind) -> (PathBuf, PathBuf) {
        let mut key = Sha256::new();
        key.update(self.engine_fingerprint);
        key.update(match kind {
            Kind::Core => b"core".as_slice(),
            Kind::Component => b"component".as_slice(),
        });
        key.update(hash);
        let key = hex::encode(key.finalize());
        (
            self.dir.join(format!("{key}.{ARTEFACT_SUFFIX}")),
            self.dir.join(format!("{key}.{HASH_SUFFIX}")),
        )
    }

    fn discard(&self, artefact_path: &Path, hash_path: &Path) {
        for path in [hash_path, artefact_path] {
            if let Err(error) = fs::remove_file(path)
                && error.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(%error, entry = %path.display(), "cannot remove a compiled-cache entry");
            }
        }
    }

    /// Removes least recently used entries until the artefacts fit in `max_bytes`.
    fn prune(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let mut artefacts: Vec<(SystemTime, u64, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|entry| {
                entry.path().extension().and_then(|e| e.to_str()) == Some(ARTEFACT_SUFFIX)
            })
            .filter_map(|entry| {
                let metadata = entry.metadata().ok()?;
                Some((metadata.modified().ok()?, metadata.len(), entry.path()))
            })
            .collect();
        let mut total: u64 = artefacts.iter().map(|(_, len, _)| len).sum();
        artefacts.sort();
        for (_, len, path) in artefacts {
            if total <= self.max_bytes {
                break;
            }
            self.discard(&path, &path.with_extension(HASH_SUFFIX));
            total = total.saturating_sub(len);
        }
    }
}

/// Writes `bytes` to `target` through a unique temporary file in `dir`, synced before the
/// rename, so readers see either nothing or the whole file.
fn write_atomically(dir: &Path, target: &Path, bytes: &[u8]) -> io::Result<()> {
    let nonce: [u8; 8] = rand::random();
    let temp = dir.join(format!(".{}.tmp", hex::encode(nonce)));
    let result = (|| {
        let mut file = File::options().write(true).create_new(true).open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, target)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn parse_hex_hash(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text).ok()?;
    bytes.try_into().ok()
}

/// A stable digest of everything that decides whether compiled code fits `engine`.
fn engine_fingerprint(engine: &Engine) -> [u8; 32] {
    let mut hasher = Sha256Hasher(Sha256::new());
    hasher.0.update(FORMAT);
    hasher.0.update([0]);
    hasher.0.update(WASMTIME_VERSION);
    hasher.0.update([0]);
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
    hasher.0.finalize().into()
}

/// Feeds `Hash` output into SHA-256 rather than a 64-bit hasher: the digest names files that
/// outlive the process, so it should be wide and not depend on std's hasher.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        // Unused: the digest is taken from the inner SHA-256.
        0
    }
}
