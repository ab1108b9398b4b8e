//! Running one job: store set-up, limits, the epoch watchdog, execution under a tokio timeout,
//! and turning whatever the guest did into an [`Outcome`]. Guest behaviour never becomes an
//! `Err` or a panic here; only host-side failures do.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use wasmtime::{
    InstancePre, Linker, PoolConcurrencyLimitError, ResourceLimiter, Store, StoreLimits,
    StoreLimitsBuilder, Trap, UpdateDeadline,
};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::engine::MAX_TABLE_ELEMENTS;
use crate::module::error_text;
use crate::wasi::{self, Captured};
use crate::{Limit, Outcome, RunOutput, Sandbox, SandboxError, SandboxLimits, Usage, module};
use crate::{engine, outputs};

/// Extra time the tokio timeout allows beyond the wall-time limit, so a computing guest is
/// normally stopped by the epoch check (cleanly, between instructions) rather than by
/// dropping its future.
const TIMEOUT_GRACE: Duration = Duration::from_millis(50);
/// How long to wait for a timed-out guest's in-flight file I/O before moving on.
const STRAGGLER_GRACE: Duration = Duration::from_secs(1);
/// The `/out` quota is checked every this many epoch ticks while the guest computes.
const QUOTA_CHECK_TICKS: u32 = 10;

/// Per-store state of one job.
pub(crate) struct JobState {
    wasi: WasiP1Ctx,
    limiter: PeakLimiter,
    watch: Watch,
}

/// Adds WASI preview 1 to a linker for job stores.
pub(crate) fn new_linker(engine: &wasmtime::Engine) -> Result<Linker<JobState>, SandboxError> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state: &mut JobState| &mut state.wasi)
        .map_err(|error| SandboxError::Engine(error_text(&error)))?;
    Ok(linker)
}

/// Runs `job` to completion on the calling thread.
pub(crate) fn run(sandbox: &Sandbox, job: crate::JobSpec) -> Result<RunOutput, SandboxError> {
    wasi::validate_job(&job)?;
    let limits = job.limits.clone();
    let hash = module::check_bytes(&sandbox.engine, &job.module, &limits)?;
    let compiled = sandbox
        .cache
        .get_or_compile(&sandbox.engine, hash, &job.module)?;
    module::require_start(&compiled)?;
    let pre = sandbox.linker.instantiate_pre(&compiled).map_err(|error| {
        SandboxError::InvalidModule(format!(
            "module imports something the sandbox does not provide: {}",
            error_text(&error)
        ))
    })?;

    let captured = Captured {
        stdout: MemoryOutputPipe::new(capacity(limits.stdout_bytes)),
        stderr: MemoryOutputPipe::new(capacity(limits.stderr_bytes)),
    };
    let memory_limit = limits
        .memory_bytes
        .min(engine::memory_ceiling(&sandbox.config));
    let state = JobState {
        wasi: wasi::build_context(&job, &captured)?,
        limiter: PeakLimiter::new(memory_limit),
        watch: Watch {
            started: Instant::now(),
            ticks: 0,
            out_dir: job.out_dir.clone(),
            limits: limits.clone(),
        },
    };
    let mut store = Store::new(&sandbox.engine, state);
    store.limiter(|state| &mut state.limiter);
    let fuel = limits.fuel.unwrap_or(u64::MAX);
    store
        .set_fuel(fuel)
        .map_err(|error| SandboxError::Engine(error_text(&error)))?;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut context| context.data_mut().watch.on_tick());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    store.data_mut().watch.started = started;
    let execution = runtime.block_on(execute(&mut store, &pre, limits.wall_time));
    let wall_time = started.elapsed();
    // Only a timed-out run can leave guest file I/O behind in the blocking pool (a finished
    // or trapped guest has awaited every host call it made). Give such stragglers a moment;
    // a timed-out job reports no outputs either way.
    runtime.shutdown_timeout(STRAGGLER_GRACE);

    let mut outcome = match execution {
        Execution::Finished => Outcome::Exited(0),
        Execution::TimedOut => Outcome::LimitExceeded(Limit::WallTime),
        Execution::InstantiateFailed(error) => match classify(&error) {
            Some(outcome) => outcome,
            None if error.is::<PoolConcurrencyLimitError>() => {
                return Err(SandboxError::Engine(
                    "no free instance slot; raise max_concurrent_jobs".to_owned(),
                ));
            }
            None => Outcome::Trapped(error_text(&error)),
        },
        Execution::CallFailed(error) => {
            classify(&error).unwrap_or_else(|| Outcome::Trapped(error_text(&error)))
        }
    };
    let fuel_consumed = match (&outcome, limits.fuel) {
        (Outcome::LimitExceeded(Limit::Fuel), Some(limit)) => Some(limit),
        // After an epoch or memory stop the remaining fuel is not meaningful.
        (Outcome::LimitExceeded(_), _) | (_, None) => None,
        (_, Some(limit)) => store.get_fuel().ok().map(|left| limit.saturating_sub(left)),
    };
    let peak_memory_bytes = store.data().limiter.peak_bytes;
    drop(store);

    let tally = outputs::measure(&job.out_dir, &limits)?;
    if let (Some(limit), false) = (tally.exceeded, matches!(outcome, Outcome::LimitExceeded(_))) {
        outcome = Outcome::LimitExceeded(limit);
    }
    let collected = match outcome {
        Outcome::LimitExceeded(_) => outputs::Collected::default(),
        _ => outputs::collect(&job.out_dir)?,
    };
    let (stdout, stdout_truncated) = contents(&captured.stdout, limits.stdout_bytes);
    let (stderr, stderr_truncated) = contents(&captured.stderr, limits.stderr_bytes);
    tracing::debug!(%outcome, ?wall_time, "job finished");
    Ok(RunOutput {
        outcome,
        stdout,
        stderr,
        stdout_truncated,
        stderr_truncated,
        outputs: collected.outputs,
        rejected_outputs: collected.rejected,
        usage: Usage {
            wall_time,
            fuel_consumed,
            peak_memory_bytes,
            out_bytes: tally.bytes,
        },
    })
}

enum Execution {
    Finished,
    TimedOut,
    InstantiateFailed(wasmtime::Error),
    CallFailed(wasmtime::Error),
}

/// Instantiates and calls `_start`, giving up once the wall time (plus grace) has passed even
/// if the guest is parked in a host call such as `poll_oneoff`.
async fn execute(
    store: &mut Store<JobState>,
    pre: &InstancePre<JobState>,
    wall_time: Duration,
) -> Execution {
    let run = async {
        let instance = match pre.instantiate_async(&mut *store).await {
            Ok(instance) => instance,
            Err(error) => return Execution::InstantiateFailed(error),
        };
        let start = match instance.get_typed_func::<(), ()>(&mut *store, "_start") {
            Ok(start) => start,
            Err(error) => return Execution::InstantiateFailed(error),
        };
        match start.call_async(&mut *store, ()).await {
            Ok(()) => Execution::Finished,
            Err(error) => Execution::CallFailed(error),
        }
    };
    tokio::time::timeout(wall_time.saturating_add(TIMEOUT_GRACE), run)
        .await
        .unwrap_or(Execution::TimedOut)
}

/// Recognises the ways a guest can end: our own limit errors, `proc_exit`, traps (fuel and
/// interrupts are limits) and memory-growth refusals. `None` for anything else.
fn classify(error: &wasmtime::Error) -> Option<Outcome> {
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
    let memory_refused = error.chain().any(|cause| {
        let message = cause.to_string();
        message.starts_with("forcing trap when growing memory")
            || message.starts_with("forcing a memory growth failure")
    });
    memory_refused.then_some(Outcome::LimitExceeded(Limit::Memory))
}

/// wasmtime's description of a trap without its `wasm trap: ` prefix.
fn trap_description(trap: Trap) -> String {
    let text = trap.to_string();
    match text.strip_prefix("wasm trap: ") {
        Some(description) => description.to_owned(),
        None => text,
    }
}

/// Returned from the epoch callback to stop a job that exceeded a limit.
#[derive(Debug)]
struct LimitHit(Limit);

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "limit exceeded: {}", self.0)
    }
}

impl std::error::Error for LimitHit {}

/// Wall-time and `/out` quota checks run from the epoch callback.
struct Watch {
    started: Instant,
    ticks: u32,
    out_dir: PathBuf,
    limits: SandboxLimits,
}

impl Watch {
    fn on_tick(&mut self) -> wasmtime::Result<UpdateDeadline> {
        if self.started.elapsed() > self.limits.wall_time {
            return Err(wasmtime::Error::new(LimitHit(Limit::WallTime)));
        }
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks.is_multiple_of(QUOTA_CHECK_TICKS) {
            // A failed measurement is left to the authoritative check after the run.
            if let Ok(outputs::Tally {
                exceeded: Some(limit),
                ..
            }) = outputs::measure(&self.out_dir, &self.limits)
            {
                return Err(wasmtime::Error::new(LimitHit(limit)));
            }
        }
        // Yielding lets the tokio timeout and other tasks of this runtime make progress.
        Ok(UpdateDeadline::Yield(1))
    }
}

/// [`StoreLimits`] plus a record of the largest memory granted.
struct PeakLimiter {
    inner: StoreLimits,
    peak_bytes: u64,
}

impl PeakLimiter {
    fn new(memory_bytes: u64) -> Self {
        let inner = StoreLimitsBuilder::new()
            .memory_size(usize::try_from(memory_bytes).unwrap_or(usize::MAX))
            .table_elements(MAX_TABLE_ELEMENTS)
            .instances(1)
            .memories(1)
            .tables(1)
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

fn capacity(limit: u64) -> usize {
    usize::try_from(limit).unwrap_or(usize::MAX)
}

/// The captured bytes and whether the cap was reached.
fn contents(pipe: &MemoryOutputPipe, cap: u64) -> (Vec<u8>, bool) {
    let bytes = pipe.contents().to_vec();
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    (bytes, cap > 0 && len >= cap)
}
