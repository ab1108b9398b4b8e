//! Module admission and the compiled-module cache. Owns the cheap byte-level checks done at
//! submission time and the in-memory map from a module's SHA-256 to its compiled form. It
//! never runs guest code.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, ExternType, Module};

use crate::{SandboxError, SandboxLimits};

/// The SHA-256 of a module's bytes.
pub(crate) type ModuleHash = [u8; 32];

const WASM_MAGIC: &[u8; 4] = b"\0asm";
/// Version and layer of a core module (version 1, layer 0).
const CORE_VERSION: [u8; 4] = [1, 0, 0, 0];
/// Layer 1 marks a component, whatever its version.
const COMPONENT_LAYER: [u8; 2] = [1, 0];

/// Checks module bytes without compiling them and returns their SHA-256.
pub(crate) fn check_bytes(
    engine: &Engine,
    bytes: &[u8],
    limits: &SandboxLimits,
) -> Result<ModuleHash, SandboxError> {
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if len > limits.module_bytes {
        return Err(SandboxError::InvalidModule(format!(
            "module is {len} bytes, more than the limit of {} bytes",
            limits.module_bytes
        )));
    }
    let (Some(magic), Some(version)) = (bytes.get(0..4), bytes.get(4..8)) else {
        return Err(not_wasm());
    };
    if magic != WASM_MAGIC {
        return Err(not_wasm());
    }
    if version.get(2..4) == Some(&COMPONENT_LAYER[..]) {
        return Err(SandboxError::InvalidModule(
            "WebAssembly components are not supported yet; submit a WASI preview 1 core module"
                .to_owned(),
        ));
    }
    if version != CORE_VERSION {
        return Err(SandboxError::InvalidModule(
            "unsupported WebAssembly binary version".to_owned(),
        ));
    }
    Module::validate(engine, bytes).map_err(|error| {
        SandboxError::InvalidModule(format!("module failed validation: {}", error_text(&error)))
    })?;
    Ok(Sha256::digest(bytes).into())
}

/// Refuses modules that do not export `_start` as a function with no parameters or results.
pub(crate) fn require_start(module: &Module) -> Result<(), SandboxError> {
    match module.get_export("_start") {
        Some(ExternType::Func(func)) if func.params().len() == 0 && func.results().len() == 0 => {
            Ok(())
        }
        _ => Err(SandboxError::InvalidModule(
            "module does not export a `_start` function taking no arguments".to_owned(),
        )),
    }
}

/// A wasmtime error with its causes, outermost first, joined by `: `.
pub(crate) fn error_text(error: &wasmtime::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if text.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

fn not_wasm() -> SandboxError {
    SandboxError::InvalidModule("not a WebAssembly module".to_owned())
}

/// Compiled modules keyed by the SHA-256 of their bytes, oldest evicted first.
pub(crate) struct ModuleCache {
    inner: Mutex<CacheInner>,
    capacity: usize,
}

#[derive(Default)]
struct CacheInner {
    modules: HashMap<ModuleHash, Module>,
    order: VecDeque<ModuleHash>,
}

impl ModuleCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(CacheInner::default()),
            capacity: capacity.max(1),
        }
    }

    /// Returns the cached module for `hash`, compiling `bytes` on a miss.
    ///
    /// The lock is not held while compiling, so two concurrent misses for the same module
    /// may both compile; the second result simply replaces the first.
    pub(crate) fn get_or_compile(
        &self,
        engine: &Engine,
        hash: ModuleHash,
        bytes: &[u8],
    ) -> Result<Module, SandboxError> {
        if let Some(module) = self.lock().modules.get(&hash) {
            return Ok(module.clone());
        }
        let module = Module::new(engine, bytes).map_err(|error| {
            SandboxError::InvalidModule(format!("module failed to compile: {}", error_text(&error)))
        })?;
        let mut inner = self.lock();
        if inner.modules.insert(hash, module.clone()).is_none() {
            inner.order.push_back(hash);
        }
        while inner.modules.len() > self.capacity {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            inner.modules.remove(&oldest);
        }
        Ok(module)
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().modules.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        // A panic while holding the lock cannot leave the map inconsistent (each update is a
        // single insert or remove), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
