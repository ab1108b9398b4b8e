//! Compiling untrusted code, bounded, and the caches of compiled modules: in memory, then on
//! disk (`disk_cache.rs`) when the sandbox has a cache folder.
//!
//! Compilation is itself a denial-of-service vector, and Cranelift cannot be interrupted. So
//! each compilation runs on its own thread and the job waits at most
//! [`SandboxLimits::compile_time`](crate::SandboxLimits::compile_time); past that the job
//! ends with a named limit and the thread is abandoned (its result is dropped, never cached).
//! A gate caps how many compilations, abandoned ones included, run at once, so hostile
//! modules cannot pile up compiler threads. Memory per compilation is bounded by the static
//! caps in `module.rs` (function count and body size), not by a hard limit: that would need a
//! separate process.
//!
//! Only a compilation that finished within its budget is cached, in memory or on disk.
//! Trusted runners (`Sandbox::load_runner`) are compiled without a budget, on the caller's
//! thread, and cached on disk like any other module.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use crate::SandboxError;
use crate::disk_cache::{DiskCache, Lookup};
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
    disk: Option<DiskCache>,
    stats: Counters,
}

/// How lookups went, for tests and operators.
#[derive(Default)]
struct Counters {
    memory_hits: AtomicU64,
    disk_hits: AtomicU64,
    disk_rejected: AtomicU64,
    compiled: AtomicU64,
}

/// Counts of compiled-module cache outcomes since the sandbox started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups served from memory.
    pub memory_hits: u64,
    /// Lookups served from the on-disk cache (verified and deserialized).
    pub disk_hits: u64,
    /// On-disk entries discarded because they failed their hash check or wasmtime refused
    /// them.
    pub disk_rejected: u64,
    /// Modules compiled (successfully, within budget).
    pub compiled: u64,
}

#[derive(Default)]
struct CacheInner {
    modules: HashMap<ModuleHash, Compiled>,
    order: VecDeque<ModuleHash>,
}

impl ModuleCache {
    pub(crate) fn new(capacity: usize, max_compilations: usize, disk: Option<DiskCache>) -> Self {
        Self {
            inner: Mutex::new(CacheInner::default()),
            capacity: capacity.max(1),
            gate: Arc::new(Gate {
                busy: Mutex::new(0),
                freed: Condvar::new(),
                capacity: max_compilations.max(1),
            }),
            disk,
            stats: Counters::default(),
        }
    }

    /// Returns the cached module for `hash`, compiling `bytes` on a miss within `budget`.
    /// Also returns how long getting compiled code took: zero on a memory hit, the load
    /// time on a disk hit, the compile time otherwise.
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
            self.stats.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Ok((compiled.clone(), Duration::ZERO));
        }
        let started = Instant::now();
        if let Some(compiled) = self.load_from_disk(engine, &hash, kind) {
            self.remember(hash, compiled.clone());
            return Ok((compiled, started.elapsed()));
        }
        // A timed-out compilation returns here, before anything is cached.
        let compiled = compile_bounded(engine, &self.gate, kind, bytes, budget)?;
        let took = started.elapsed();
        self.stats.compiled.fetch_add(1, Ordering::Relaxed);
        if let Some(disk) = &self.disk {
            disk.store(&hash, kind, &compiled);
        }
        self.remember(hash, compiled.clone());
        Ok((compiled, took))
    }

    /// Compiles trusted code (an operator-installed runner) on the calling thread, with no
    /// time budget, unless the on-disk cache has it. Not kept in the in-memory cache: the
    /// caller holds the result for the life of the process.
    pub(crate) fn compile_trusted(
        &self,
        engine: &Engine,
        hash: ModuleHash,
        kind: Kind,
        bytes: &[u8],
    ) -> Result<Compiled, SandboxError> {
        if let Some(compiled) = self.load_from_disk(engine, &hash, kind) {
            return Ok(compiled);
        }
        let compiled = compile(engine, kind, bytes).map_err(|message| {
            SandboxError::InvalidModule(format!("runner failed to compile: {message}"))
        })?;
        self.stats.compiled.fetch_add(1, Ordering::Relaxed);
        if let Some(disk) = &self.disk {
            disk.store(&hash, kind, &compiled);
        }
        Ok(compiled)
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            memory_hits: self.stats.memory_hits.load(Ordering::Relaxed),
            disk_hits: self.stats.disk_hits.load(Ordering::Relaxed),
            disk_rejected: self.stats.disk_rejected.load(Ordering::Relaxed),
            compiled: self.stats.compiled.load(Ordering::Relaxed),
        }
    }

    fn load_from_disk(&self, engine: &Engine, hash: &ModuleHash, kind: Kind) -> Option<Compiled> {
        match self.disk.as_ref()?.load(engine, hash, kind) {
            Lookup::Hit(compiled) => {
                self.stats.disk_hits.fetch_add(1, Ordering::Relaxed);
                Some(compiled)
            }
            Lookup::Miss => None,
            Lookup::Rejected => {
                self.stats.disk_rejected.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    fn remember(&self, hash: ModuleHash, compiled: Compiled) {
        let mut inner = lock(&self.inner);
        if inner.modules.insert(hash, compiled).is_none() {
            inner.order.push_back(hash);
        }
        while inner.modules.len() > self.capacity {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            inner.modules.remove(&oldest);
        }
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
            let compiled = compile(&engine, kind, &bytes);
            // The permit is released when this thread is done, whether or not anyone still
            // waits for the result.
            drop(permit);
            // The receiver is gone when the job gave up waiting; the result is dropped.
            let _ = sender.send(compiled);
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

fn compile(engine: &Engine, kind: Kind, bytes: &[u8]) -> Result<Compiled, String> {
    match kind {
        Kind::Core => Module::new(engine, bytes).map(Compiled::Core),
        Kind::Component => Component::new(engine, bytes).map(Compiled::Component),
    }
    .map_err(|error| error_text(&error))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each update under these locks is a single insert, remove or counter change, so a
    // poisoned lock cannot hold inconsistent data and is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
