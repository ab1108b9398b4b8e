//! The wasmtime engine and its epoch ticker. Owns the engine-wide configuration: epoch
//! interruption, fuel metering, the pooling allocator (with an on-demand fallback) and the
//! WebAssembly features a job may use.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::module::error_text;
use crate::{SandboxConfig, SandboxError};

/// wasm32 memories cannot exceed 4 GiB, and that is wasmtime's default reservation.
const WASM32_MAX_MEMORY: u64 = 4 * 1024 * 1024 * 1024;
/// Instance slots beyond `max_concurrent_jobs`, so a job finishing and one starting can
/// overlap briefly without exhausting the pool.
const SPARE_SLOTS: u32 = 2;
/// Table elements a job may have per table; C and Rust programs need a few hundred.
pub(crate) const MAX_TABLE_ELEMENTS: usize = 65_536;
/// Pool entries reserved per job slot: a component job has several core instances, memories
/// and tables (see `component::COMPONENT_SHAPE`), and a component's own instances.
const CORE_INSTANCES_PER_SLOT: u32 = 32;
const MEMORIES_PER_SLOT: u32 = 8;
const TABLES_PER_SLOT: u32 = 8;

/// Builds the engine, preferring the pooling allocator.
pub(crate) fn build_engine(config: &SandboxConfig) -> Result<Engine, SandboxError> {
    let mut wasm = base_config(config);
    wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(config)));
    match Engine::new(&wasm) {
        Ok(engine) => Ok(engine),
        Err(error) => {
            tracing::warn!(
                error = %error_text(&error),
                "pooling allocator unavailable; falling back to on-demand allocation"
            );
            let mut wasm = base_config(config);
            wasm.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            Engine::new(&wasm).map_err(|error| SandboxError::Engine(error_text(&error)))
        }
    }
}

/// The largest linear memory a job may have under `config`.
pub(crate) fn memory_ceiling(config: &SandboxConfig) -> u64 {
    config.max_memory_bytes.min(WASM32_MAX_MEMORY)
}

fn base_config(config: &SandboxConfig) -> Config {
    let mut wasm = Config::new();
    wasm.epoch_interruption(true)
        // Needed for per-job fuel limits; jobs without one get u64::MAX.
        .consume_fuel(config.fuel_metering)
        // Each compilation runs on its own thread (`compile.rs`). With parallel compilation
        // all of them would share one rayon pool, and a hostile module's abandoned
        // compilation would hold up every other job's until it finished.
        .parallel_compilation(false)
        // Shared memories and 64-bit memories have no place in a WASI job.
        .wasm_threads(false)
        .wasm_memory64(false)
        // The workspace compiles wasmtime's `gc` feature without a collector, and GC-based
        // proposals (GC, typed function references, exceptions) are not needed by C, Rust
        // or Zig jobs, so GC support is off: less code reachable from the guest.
        .wasm_gc(false)
        .wasm_function_references(false)
        .wasm_exceptions(false)
        .gc_support(false);
    wasm
}

fn pooling(config: &SandboxConfig) -> PoolingAllocationConfig {
    let slots = config
        .max_concurrent_jobs
        .max(1)
        .saturating_add(SPARE_SLOTS);
    let max_memory = usize::try_from(memory_ceiling(config)).unwrap_or(usize::MAX);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_core_instances(slots.saturating_mul(CORE_INSTANCES_PER_SLOT))
        .total_memories(slots.saturating_mul(MEMORIES_PER_SLOT))
        .total_tables(slots.saturating_mul(TABLES_PER_SLOT))
        .total_stacks(slots)
        .total_component_instances(slots)
        .max_core_instances_per_component(CORE_INSTANCES_PER_SLOT)
        .max_memories_per_component(MEMORIES_PER_SLOT)
        .max_tables_per_component(TABLES_PER_SLOT)
        .max_memory_size(max_memory)
        .table_elements(MAX_TABLE_ELEMENTS);
    pool
}

/// A thread advancing the engine's epoch every tick until dropped.
pub(crate) struct EpochTicker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub(crate) fn start(engine: Engine, tick: Duration) -> Result<Self, SandboxError> {
        let tick = tick.max(Duration::from_millis(1));
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("enclave-epoch".to_owned())
            .spawn(move || {
                // Ends when the sender is dropped (or sends, which nothing does).
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    engine.increment_epoch();
                }
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // The thread only ticks; if it panicked there is nothing left to clean up.
            let _ = thread.join();
        }
    }
}
