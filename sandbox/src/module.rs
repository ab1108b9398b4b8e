//! Module admission: the cheap byte-level checks done at submission time. Tells a WASI
//! preview 1 core module from a WASI 0.2 component, refuses anything else, and bounds what
//! the compiler may be asked to do (function count, function body size) before any
//! compilation. It never compiles or runs guest code.

use sha2::{Digest, Sha256};
use wasmparser::{Parser, Payload, Validator, WasmFeatures};
use wasmtime::{Engine, ExternType, Module};

use crate::{SandboxError, SandboxLimits};

/// The SHA-256 of a module's bytes.
pub(crate) type ModuleHash = [u8; 32];

/// What the bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A core module (run as WASI preview 1, `_start`).
    Core,
    /// A component (run as WASI 0.2 `wasi:cli/command`).
    Component,
}

/// A submission passed the checks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Checked {
    pub(crate) hash: ModuleHash,
    pub(crate) kind: Kind,
}

const WASM_MAGIC: &[u8; 4] = b"\0asm";
/// Version and layer of a core module (version 1, layer 0).
const CORE_VERSION: [u8; 4] = [1, 0, 0, 0];
/// Version and layer of a component in the encoding wasmtime 48 reads (version 0x0d, layer 1).
const COMPONENT_VERSION: [u8; 4] = [0x0d, 0, 1, 0];
/// Layer 1 marks a component, whatever its version.
const COMPONENT_LAYER: [u8; 2] = [1, 0];
/// Function bodies a module (all modules of a component together) may define. CPython as a
/// component has about 30 000.
pub(crate) const MAX_FUNCTIONS: usize = 200_000;
/// Largest single function body. Compile time and memory grow faster than linearly with the
/// size of one function, so a cap here bounds the worst single compilation unit; CPython's
/// interpreter loop, the largest function we know of in a real job, is well under this.
pub(crate) const MAX_FUNCTION_BODY_BYTES: usize = 1024 * 1024;

/// Checks module bytes without compiling them: size, kind, validation and the compiler-work
/// caps. Returns their SHA-256 and kind.
pub(crate) fn check_bytes(
    engine: &Engine,
    bytes: &[u8],
    limits: &SandboxLimits,
) -> Result<Checked, SandboxError> {
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if len > limits.module_bytes {
        return Err(invalid(format!(
            "module is {len} bytes, more than the limit of {} bytes",
            limits.module_bytes
        )));
    }
    let kind = kind_of(bytes)?;
    scan(bytes)?;
    match kind {
        Kind::Core => Module::validate(engine, bytes).map_err(|error| {
            invalid(format!("module failed validation: {}", error_text(&error)))
        })?,
        Kind::Component => {
            // The engine validates again when compiling, with its exact feature set; this
            // catches malformed components at submission time.
            let features = WasmFeatures::default()
                & !(WasmFeatures::GC | WasmFeatures::EXCEPTIONS | WasmFeatures::THREADS);
            Validator::new_with_features(features)
                .validate_all(bytes)
                .map_err(|error| invalid(format!("component failed validation: {error}")))?;
        }
    }
    Ok(Checked {
        hash: Sha256::digest(bytes).into(),
        kind,
    })
}

/// Refuses modules that do not export `_start` as a function with no parameters or results.
pub(crate) fn require_start(module: &Module) -> Result<(), SandboxError> {
    match module.get_export("_start") {
        Some(ExternType::Func(func)) if func.params().len() == 0 && func.results().len() == 0 => {
            Ok(())
        }
        _ => Err(invalid(
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

fn kind_of(bytes: &[u8]) -> Result<Kind, SandboxError> {
    let (Some(magic), Some(version)) = (bytes.get(0..4), bytes.get(4..8)) else {
        return Err(not_wasm());
    };
    if magic != WASM_MAGIC {
        return Err(not_wasm());
    }
    if version == CORE_VERSION {
        Ok(Kind::Core)
    } else if version == COMPONENT_VERSION {
        Ok(Kind::Component)
    } else if version.get(2..4) == Some(&COMPONENT_LAYER[..]) {
        Err(invalid(
            "component uses an unsupported encoding version; build it for WASI 0.2".to_owned(),
        ))
    } else {
        Err(invalid(
            "unsupported WebAssembly binary version; submit a WASI preview 1 core module or a \
             WASI 0.2 component"
                .to_owned(),
        ))
    }
}

/// Counts function bodies (in nested modules too) and measures each, without validating.
fn scan(bytes: &[u8]) -> Result<(), SandboxError> {
    let mut functions = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        // Malformed bytes are reported by validation, which names the problem better.
        let Ok(Payload::CodeSectionEntry(body)) = payload else {
            continue;
        };
        functions += 1;
        if functions > MAX_FUNCTIONS {
            return Err(invalid(format!(
                "module defines more than {MAX_FUNCTIONS} functions"
            )));
        }
        let size = body.range().len();
        if size > MAX_FUNCTION_BODY_BYTES {
            return Err(invalid(format!(
                "a function body is {size} bytes, more than the limit of \
                 {MAX_FUNCTION_BODY_BYTES} bytes"
            )));
        }
    }
    Ok(())
}

fn invalid(message: String) -> SandboxError {
    SandboxError::InvalidModule(message)
}

fn not_wasm() -> SandboxError {
    invalid("not a WebAssembly module or component".to_owned())
}
