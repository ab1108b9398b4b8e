//! Compiling untrusted code, bounded, and the in-memory cache of compiled modules.
//!
//! Compilation is itself a denial-of-service vector, and Cranelift cannot be interrupted. So
//! each compilation runs on its own thread and the job waits at most
//! [`SandboxLimits::compile_time`](crate::SandboxLimits::compile_time); past that the job
//! ends with a named limit and the thread is abandoned (its result is dropped, never cached).
//! A gate caps how many compilations, abandoned ones included, run at once, so hostile
//! modules cannot pile up compiler threads. Memory per compilation is bounded by the static
//! caps in `module.rs` (function count and body size), not by a hard limit: that would need a
//! separate process.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use crate::SandboxError;
use crate::module::{Kind, ModuleHash, error_text};

/// A compiled core module or component.
#[derive(Clone)]
pub(crate) enum Compiled {
    Core(Module),
    Component(Component),
}

/// Why no compiled module came back.
pub(crate) enum CompileFailure {
    /// The compile-time budget ran out (waiting for the gate included).
    TimedOut,
    /// The engine refused the module, or the host failed.
    Error(SandboxError),
}

/// Compiled modules keyed by the SHA-256 of their bytes, oldest evicted first, plus the gate
/// bounding concurrent compilations.
pub(crate) struct ModuleCache {
    inner: Mutex<CacheInner>,
    capacity: usize,
    gate: Arc<Gate>,
}

#[derive(Default)]
struct CacheInner {
    modules: HashMap<ModuleHash, Compiled>,
    order: VecDeque<ModuleHash>,
}

impl ModuleCache {
    pub(crate) fn new(capacity: usize, max_compilations: usize) -> Self {
        Self {
            inner: Mutex::new(CacheInner::default()),
            capacity: capacity.max(1),
            gate: Arc::new(Gate {
                busy: Mutex::new(0),
                freed: Condvar::new(),
                capacity: max_compilations.max(1),
            }),
        }
    }

    /// Returns the cached module for `hash`, compiling `bytes` on a miss within `budget`.
    /// Also returns how long compiling took (zero on a hit).
    ///
    /// The lock is not held while compiling, so two concurrent misses for the same module
    /// may both compile; the second result simply replaces the first.
    pub(crate) fn get_or_compile(
        &self,
        engine: &Engine,
        hash: ModuleHash,
        kind: Kind,
        bytes: &[u8],
        budget: Duration,
    ) -> Result<(Compiled, Duration), CompileFailure> {
        if let Some(compiled) = lock(&self.inner).modules.get(&hash) {
            return Ok((compiled.clone(), Duration::ZERO));
        }
        let started = Instant::now();
        let compiled = compile_bounded(engine, &self.gate, kind, bytes, budget)?;
        let took = started.elapsed();
        let mut inner = lock(&self.inner);
        if inner.modules.insert(hash, compiled.clone()).is_none() {
            inner.order.push_back(hash);
        }
        while inner.modules.len() > self.capacity {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            inner.modules.remove(&oldest);
        }
        Ok((compiled, took))
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.inner).modules.len()
    }
}

/// Counts compilations in flight, abandoned ones included.
struct Gate {
    busy: Mutex<usize>,
    freed: Condvar,
    capacity: usize,
}

/// A slot in the gate, released when the compiling thread ends.
struct Permit(Arc<Gate>);

impl Drop for Permit {
    fn drop(&mut self) {
        let mut busy = lock(&self.0.busy);
        *busy = busy.saturating_sub(1);
        self.0.freed.notify_one();
    }
}

fn acquire(gate: &Arc<Gate>, deadline: Instant) -> Option<Permit> {
    let mut busy = lock(&gate.busy);
    while *busy >= gate.capacity {
        let left = deadline.checked_duration_since(Instant::now())?;
        busy = gate
            .freed
            .wait_timeout(busy, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    *busy += 1;
    Some(Permit(Arc::clone(gate)))
}

fn compile_bounded(
    engine: &Engine,
    gate: &Arc<Gate>,
    kind: Kind,
    bytes: &[u8],
    budget: Duration,
) -> Result<Compiled, CompileFailure> {
    let deadline = Instant::now() + budget;
    let permit = acquire(gate, deadline).ok_or(CompileFailure::TimedOut)?;
    let (sender, receiver) = mpsc::channel();
    let engine = engine.clone();
    let bytes = bytes.to_vec();
    std::thread::Builder::new()
        .name("enclave-compile".to_owned())
        .spawn(move || {
            let compiled = match kind {
                Kind::Core => Module::new(&engine, &bytes).map(Compiled::Core),
                Kind::Component => Component::new(&engine, &bytes).map(Compiled::Component),
            };
            // The permit is released when this thread is done, whether or not anyone still
            // waits for the result.
            drop(permit);
            // The receiver is gone when the job gave up waiting; the result is dropped.
            let _ = sender.send(compiled.map_err(|error| error_text(&error)));
        })
        .map_err(|error| CompileFailure::Error(SandboxError::Io(error)))?;
    let left = deadline.saturating_duration_since(Instant::now());
    match receiver.recv_timeout(left) {
        Ok(Ok(compiled)) => Ok(compiled),
        Ok(Err(message)) => Err(CompileFailure::Error(SandboxError::InvalidModule(format!(
            "module failed to compile: {message}"
        )))),
        Err(RecvTimeoutError::Timeout) => Err(CompileFailure::TimedOut),
        Err(RecvTimeoutError::Disconnected) => Err(CompileFailure::Error(SandboxError::Engine(
            "the compiler thread ended without a result".to_owned(),
        ))),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each update under these locks is a single insert, remove or counter change, so a
    // poisoned lock cannot hold inconsistent data and is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
