//! Running one job: admission, bounded compilation, store set-up, execution under a tokio
//! timeout, and turning whatever the guest did into a [`RunOutput`]. Guest behaviour never
//! becomes an `Err` or a panic here; only refused jobs and host-side failures do.

use std::future::Future;
use std::time::{Duration, Instant};

use wasmtime::{Engine, InstancePre, Linker, PoolConcurrencyLimitError, Store};
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::access::{self, AccessLog};
use crate::compile::{CompileFailure, Compiled};
use crate::component::{self, COMPONENT_SHAPE, ComponentCtx};
use crate::engine::{self, MAX_TABLE_ELEMENTS};
use crate::limits::{PeakLimiter, StoreShape, TMP_MAX_ENTRIES, Watch, classify};
use crate::module::{self, error_text};
use crate::poll;
use crate::wasi::{self, Captured};
use crate::{JobSpec, Limit, Outcome, Program, RunOutput, Sandbox, SandboxError, Usage, outputs};

/// Extra time the tokio timeout allows beyond the wall-time limit, so a computing guest is
/// normally stopped by the epoch check (cleanly, between instructions) rather than by
/// dropping its future.
const TIMEOUT_GRACE: Duration = Duration::from_millis(50);
/// How long to wait for a timed-out guest's in-flight file I/O before moving on.
const STRAGGLER_GRACE: Duration = Duration::from_secs(1);
/// A core module job: one instance, one memory, one table.
const CORE_SHAPE: StoreShape = StoreShape {
    instances: 1,
    memories: 1,
    tables: 1,
};

/// Per-store state of one job; `W` is the WASI context (preview 1 or 0.2).
pub(crate) struct JobState<W> {
    pub(crate) wasi: W,
    pub(crate) limiter: PeakLimiter,
    pub(crate) watch: Watch,
    pub(crate) access: AccessLog,
}

/// The linkers jobs are instantiated with.
pub(crate) struct Linkers {
    core: Linker<JobState<WasiP1Ctx>>,
    component: wasmtime::component::Linker<JobState<ComponentCtx>>,
}

/// How a guest's execution ended, before classification.
pub(crate) enum Execution {
    Exited(i32),
    TimedOut,
    InstantiateFailed(wasmtime::Error),
    CallFailed(wasmtime::Error),
}

/// WASI preview 1 (with the data-access wrappers) for core modules, WASI 0.2 for components.
pub(crate) fn new_linkers(engine: &Engine) -> Result<Linkers, SandboxError> {
    let engine_error = |error: wasmtime::Error| SandboxError::Engine(error_text(&error));
    let mut core = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut core, |state: &mut JobState<WasiP1Ctx>| {
        &mut state.wasi
    })
    .map_err(engine_error)?;
    access::shadow(&mut core).map_err(engine_error)?;
    poll::shadow(&mut core).map_err(engine_error)?;
    Ok(Linkers {
        core,
        component: component::new_linker(engine)?,
    })
}

/// Runs `job` to completion on the calling thread.
pub(crate) fn run(sandbox: &Sandbox, job: JobSpec) -> Result<RunOutput, SandboxError> {
    wasi::validate_job(&job)?;
    if job.limits.fuel.is_some() && !sandbox.config.fuel_metering {
        return Err(SandboxError::InvalidJob(
            "a fuel limit needs a sandbox with fuel metering".to_owned(),
        ));
    }
    let limits = job.limits.clone();
    let (compiled, compile_time) = match &job.program {
        Program::Module(bytes) => {
            let checked = module::check_bytes(&sandbox.engine, bytes, &limits)?;
            let compiled = sandbox.cache.get_or_compile(
                &sandbox.engine,
                checked.hash,
                checked.kind,
                bytes,
                limits.compile_time,
            );
            match compiled {
                Ok(compiled) => compiled,
                Err(CompileFailure::TimedOut) => return Ok(compile_timed_out(&job)),
                Err(CompileFailure::Error(error)) => return Err(error),
            }
        }
        // Compiled once when it was loaded; nothing to compile per job.
        Program::Runner { runner, .. } => (runner.compiled.clone(), Duration::ZERO),
    };
    let captured = Captured::new(&job);
    let builder = wasi::builder(&job, &captured)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ended = match compiled {
        Compiled::Core(module) => {
            module::require_start(&module)?;
            let pre = sandbox
                .linkers
                .core
                .instantiate_pre(&module)
                .map_err(|error| {
                    SandboxError::InvalidModule(format!(
                        "module imports something the sandbox does not provide: {}",
                        error_text(&error)
                    ))
                })?;
            let mut builder = builder;
            let mut store = new_store(sandbox, &job, &captured, builder.build_p1(), CORE_SHAPE)?;
            let execution = block_on(&runtime, &job, execute_core(&mut store, &pre));
            Ended::from_store(execution, store, &job, |state| {
                std::mem::take(&mut state.access).into_record()
            })
        }
        Compiled::Component(component) => {
            let pre = component::prepare(&sandbox.linkers.component, &component)?;
            let mut builder = builder;
            let wasi = ComponentCtx::new(builder.build());
            let mut store = new_store(sandbox, &job, &captured, wasi, COMPONENT_SHAPE)?;
            let execution = block_on(&runtime, &job, component::execute(&mut store, &pre));
            Ended::from_store(execution, store, &job, |state| {
                std::mem::take(&mut state.wasi.access).into_record()
            })
        }
    };
    // Only a timed-out run can leave guest file I/O behind in the blocking pool (a finished
    // or trapped guest has awaited every host call it made). Give such stragglers a moment;
    // a timed-out job reports no outputs either way.
    runtime.shutdown_timeout(STRAGGLER_GRACE);
    let mut outcome = ended.outcome?;
    let tally = outputs::measure(&job.out_dir, &limits)?;
    if let (Some(limit), false) = (tally.exceeded, matches!(outcome, Outcome::LimitExceeded(_))) {
        outcome = Outcome::LimitExceeded(limit);
    }
    if !matches!(outcome, Outcome::LimitExceeded(_))
        && let Some(tmp_dir) = &job.tmp_dir
        && outputs::measure_within(tmp_dir, TMP_MAX_ENTRIES, limits.tmp_bytes)?
            .exceeded
            .is_some()
    {
        outcome = Outcome::LimitExceeded(Limit::TmpBytes);
    }
    let collected = match outcome {
        Outcome::LimitExceeded(_) => outputs::Collected::default(),
        _ => outputs::collect(&job.out_dir)?,
    };
    let (stdout, stdout_truncated) = captured.stdout.contents();
    let (stderr, stderr_truncated) = captured.stderr.contents();
    tracing::debug!(%outcome, wall_time = ?ended.wall_time, "job finished");
    let data_bytes_read = ended.data_access.iter().map(|file| file.bytes_read).sum();
    Ok(RunOutput {
        outcome,
        stdout,
        stderr,
        stdout_truncated,
        stderr_truncated,
        outputs: collected.outputs,
        rejected_outputs: collected.rejected,
        usage: Usage {
            wall_time: ended.wall_time,
            fuel_consumed: ended.fuel_consumed,
            peak_memory_bytes: ended.peak_memory_bytes,
            out_bytes: tally.bytes,
            data_bytes_read,
            compile_time,
        },
        data_access: ended.data_access,
    })
}

/// What is left of a store once its guest is done.
struct Ended {
    outcome: Result<Outcome, SandboxError>,
    wall_time: Duration,
    fuel_consumed: Option<u64>,
    peak_memory_bytes: u64,
    data_access: Vec<crate::DataAccess>,
}

impl Ended {
    fn from_store<W>(
        (execution, wall_time): (Execution, Duration),
        store: Store<JobState<W>>,
        job: &JobSpec,
        record: impl FnOnce(&mut JobState<W>) -> Vec<crate::DataAccess>,
    ) -> Ended {
        let outcome = match execution {
            Execution::Exited(status) => Ok(Outcome::Exited(status)),
            Execution::TimedOut => Ok(Outcome::LimitExceeded(Limit::WallTime)),
            Execution::InstantiateFailed(error) => match classify(&error) {
                Some(outcome) => Ok(outcome),
                None if error.is::<PoolConcurrencyLimitError>() => Err(SandboxError::Engine(
                    "no free instance slot; raise max_concurrent_jobs".to_owned(),
                )),
                None => Ok(Outcome::Trapped(error_text(&error))),
            },
            Execution::CallFailed(error) => {
                Ok(classify(&error).unwrap_or_else(|| Outcome::Trapped(error_text(&error))))
            }
        };
        let fuel_consumed = match (&outcome, job.limits.fuel) {
            (Ok(Outcome::LimitExceeded(Limit::Fuel)), Some(limit)) => Some(limit),
            // After an epoch or memory stop the remaining fuel is not meaningful.
            (Ok(Outcome::LimitExceeded(_)) | Err(_), _) | (_, None) => None,
            (_, Some(limit)) => store.get_fuel().ok().map(|left| limit.saturating_sub(left)),
        };
        let mut state = store.into_data();
        let data_access = record(&mut state);
        Ended {
            outcome,
            wall_time,
            fuel_consumed,
            peak_memory_bytes: state.limiter.peak_bytes,
            data_access,
        }
    }
}

fn new_store<W: Send + 'static>(
    sandbox: &Sandbox,
    job: &JobSpec,
    captured: &Captured,
    wasi: W,
    shape: StoreShape,
) -> Result<Store<JobState<W>>, SandboxError> {
    let limits = &job.limits;
    let memory_limit = limits
        .memory_bytes
        .min(engine::memory_ceiling(&sandbox.config));
    let table_limit = usize::try_from(limits.table_elements)
        .unwrap_or(usize::MAX)
        .min(MAX_TABLE_ELEMENTS);
    let state = JobState {
        wasi,
        limiter: PeakLimiter::new(memory_limit, table_limit, shape),
        watch: Watch {
            started: Instant::now(),
            ticks: 0,
            out_dir: job.out_dir.clone(),
            tmp_dir: job.tmp_dir.clone(),
            limits: limits.clone(),
            streams: [captured.stdout.clone(), captured.stderr.clone()],
        },
        access: AccessLog::new(job.data_dir.is_some()),
    };
    let mut store = Store::new(&sandbox.engine, state);
    store.limiter(|state| &mut state.limiter);
    if sandbox.config.fuel_metering {
        store
            .set_fuel(limits.fuel.unwrap_or(u64::MAX))
            .map_err(|error| SandboxError::Engine(error_text(&error)))?;
    }
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut context| context.data_mut().watch.on_tick());
    Ok(store)
}

/// Drives `execution` until it ends or the wall time (plus grace) has passed, even if the
/// guest is parked in a host call such as `poll_oneoff`. Returns how long it ran.
fn block_on(
    runtime: &tokio::runtime::Runtime,
    job: &JobSpec,
    execution: impl Future<Output = Execution>,
) -> (Execution, Duration) {
    let started = Instant::now();
    let deadline = job.limits.wall_time.saturating_add(TIMEOUT_GRACE);
    let execution = runtime.block_on(async {
        tokio::time::timeout(deadline, execution)
            .await
            .unwrap_or(Execution::TimedOut)
    });
    (execution, started.elapsed())
}

/// Instantiates the module and calls `_start`.
async fn execute_core(
    store: &mut Store<JobState<WasiP1Ctx>>,
    pre: &InstancePre<JobState<WasiP1Ctx>>,
) -> Execution {
    let instance = match pre.instantiate_async(&mut *store).await {
        Ok(instance) => instance,
        Err(error) => return Execution::InstantiateFailed(error),
    };
    let start = match instance.get_typed_func::<(), ()>(&mut *store, "_start") {
        Ok(start) => start,
        Err(error) => return Execution::InstantiateFailed(error),
    };
    match start.call_async(&mut *store, ()).await {
        Ok(()) => Execution::Exited(0),
        Err(error) => Execution::CallFailed(error),
    }
}

/// The report of a job whose module did not compile within its budget: nothing ran.
fn compile_timed_out(job: &JobSpec) -> RunOutput {
    RunOutput {
        outcome: Outcome::LimitExceeded(Limit::CompileTime),
        stdout: Vec::new(),
        stderr: Vec::new(),
        stdout_truncated: false,
        stderr_truncated: false,
        outputs: Vec::new(),
        rejected_outputs: Vec::new(),
        usage: Usage {
            compile_time: job.limits.compile_time,
            ..Usage::default()
        },
        data_access: Vec::new(),
    }
}
