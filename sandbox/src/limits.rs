//! Enforcing limits while a guest runs: the store's resource limiter (memory, tables,
//! instances), the epoch watch (wall time, `/out` and `/tmp` quotas, stdout/stderr hard caps)
//! and turning whatever error a run ended with into an [`Outcome`].

use std::path::PathBuf;
use std::time::Instant;

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder, Trap, UpdateDeadline};
use wasmtime_wasi::I32Exit;

use crate::module::error_text;
use crate::stdio::CappedPipe;
use crate::{Limit, Outcome, SandboxLimits, outputs};

/// The `/out` and `/tmp` quotas are checked every this many epoch ticks while the guest
/// computes.
const QUOTA_CHECK_TICKS: u32 = 10;
/// Entries `/tmp` may hold; its byte quota is the real limit, this bounds the measuring walk.
pub(crate) const TMP_MAX_ENTRIES: u32 = 10_000;

/// Returned from a host call or the epoch callback to stop a job that exceeded a limit.
#[derive(Debug)]
pub(crate) struct LimitHit(pub(crate) Limit);

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "limit exceeded: {}", self.0)
    }
}

impl std::error::Error for LimitHit {}

/// Wall-time, quota and stdio checks run from the epoch callback.
pub(crate) struct Watch {
    pub(crate) started: Instant,
    pub(crate) ticks: u32,
    pub(crate) out_dir: PathBuf,
    pub(crate) tmp_dir: Option<PathBuf>,
    pub(crate) limits: SandboxLimits,
    pub(crate) streams: [CappedPipe; 2],
}

impl Watch {
    pub(crate) fn on_tick(&mut self) -> wasmtime::Result<UpdateDeadline> {
        if self.started.elapsed() > self.limits.wall_time {
            return Err(wasmtime::Error::new(LimitHit(Limit::WallTime)));
        }
        if let Some(limit) = self.streams.iter().find_map(CappedPipe::hard_cap_hit) {
            return Err(wasmtime::Error::new(LimitHit(limit)));
        }
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks.is_multiple_of(QUOTA_CHECK_TICKS)
            && let Some(limit) = self.quota_exceeded()
        {
            return Err(wasmtime::Error::new(LimitHit(limit)));
        }
        // Yielding lets the tokio timeout and other tasks of this runtime make progress.
        Ok(UpdateDeadline::Yield(1))
    }

    /// A failed measurement is left to the authoritative check after the run.
    pub(crate) fn quota_exceeded(&self) -> Option<Limit> {
        if let Ok(outputs::Tally {
            exceeded: Some(limit),
            ..
        }) = outputs::measure(&self.out_dir, &self.limits)
        {
            return Some(limit);
        }
        let tmp_dir = self.tmp_dir.as_deref()?;
        let tally =
            outputs::measure_within(tmp_dir, TMP_MAX_ENTRIES, self.limits.tmp_bytes).ok()?;
        tally.exceeded.map(|_| Limit::TmpBytes)
    }
}

/// [`StoreLimits`] plus a record of the largest memory granted.
pub(crate) struct PeakLimiter {
    inner: StoreLimits,
    pub(crate) peak_bytes: u64,
}

/// How many instances, memories and tables one job's store may hold: one each for a core
/// module; a component built by the preview 1 adapter has a handful of each.
#[derive(Clone, Copy)]
pub(crate) struct StoreShape {
    pub(crate) instances: usize,
    pub(crate) memories: usize,
    pub(crate) tables: usize,
}

impl PeakLimiter {
    pub(crate) fn new(memory_bytes: u64, table_elements: usize, shape: StoreShape) -> Self {
        let inner = StoreLimitsBuilder::new()
            .memory_size(usize::try_from(memory_bytes).unwrap_or(usize::MAX))
            .table_elements(table_elements)
            .instances(shape.instances)
            .memories(shape.memories)
            .tables(shape.tables)
            .trap_on_grow_failure(true)
            .build();
        Self {
            inner,
            peak_bytes: 0,
        }
    }
}

impl ResourceLimiter for PeakLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        if allowed {
            let desired = u64::try_from(desired).unwrap_or(u64::MAX);
            self.peak_bytes = self.peak_bytes.max(desired);
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// Recognises the ways a guest can end: our own limit errors, `proc_exit`, traps (fuel and
/// interrupts are limits) and memory or table growth refusals. `None` for anything else.
pub(crate) fn classify(error: &wasmtime::Error) -> Option<Outcome> {
    for cause in error.chain() {
        if let Some(LimitHit(limit)) = cause.downcast_ref::<LimitHit>() {
            return Some(Outcome::LimitExceeded(*limit));
        }
        if let Some(I32Exit(status)) = cause.downcast_ref::<I32Exit>() {
            return Some(Outcome::Exited(*status));
        }
        if let Some(trap) = cause.downcast_ref::<Trap>() {
            return Some(match trap {
                Trap::OutOfFuel => Outcome::LimitExceeded(Limit::Fuel),
                Trap::Interrupt => Outcome::LimitExceeded(Limit::WallTime),
                other => Outcome::Trapped(trap_description(*other)),
            });
        }
    }
    // StoreLimits reports a refused growth as a plain error, not a `Trap`; these are its
    // messages (see wasmtime's `runtime/limits.rs`).
    let text = error_text(error);
    if text.contains("forcing trap when growing memory")
        || text.contains("forcing a memory growth failure")
    {
        return Some(Outcome::LimitExceeded(Limit::Memory));
    }
    if text.contains("forcing trap when growing table")
        || text.contains("forcing a table growth failure")
    {
        return Some(Outcome::LimitExceeded(Limit::TableElements));
    }
    None
}

/// wasmtime's description of a trap without its `wasm trap: ` prefix.
fn trap_description(trap: Trap) -> String {
    let text = trap.to_string();
    match text.strip_prefix("wasm trap: ") {
        Some(description) => description.to_owned(),
        None => text,
    }
}
