//! The guest's view of the world: a WASI context (preview 1 for core modules, 0.2 for
//! components) granted capability by capability.
//! Nothing is inherited from the host: arguments, `ENCLAVE_*` environment, empty stdin,
//! captured stdout/stderr, the `/data` (read-only), `/out` and `/tmp` preopens (plus `/job`,
//! read-only, for a runner's script), frozen clocks
//! and randomness derived from the job seed. No sockets, no name lookup: a component's
//! `wasi:sockets` imports link (language runtimes import them) but every use is denied.

use std::path::Path;

use chacha20::ChaCha20Rng;
use rand::SeedableRng;
use sha2::{Digest, Sha256};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::clock::{FrozenWallClock, SteppingMonotonicClock};
use crate::module::error_text;
use crate::stdio::CappedPipe;
use crate::{JobSpec, Limit, Program, SandboxError};

/// `argv[0]` of every job.
const PROGRAM_NAME: &str = "job";
/// The only environment variables a job may be given start with this.
const ENV_PREFIX: &str = "ENCLAVE_";

/// Captured standard streams of one job.
pub(crate) struct Captured {
    pub(crate) stdout: CappedPipe,
    pub(crate) stderr: CappedPipe,
}

impl Captured {
    pub(crate) fn new(job: &JobSpec) -> Self {
        let limits = &job.limits;
        Self {
            stdout: CappedPipe::new(
                limits.stdout_bytes,
                limits.stdio_hard_bytes,
                Limit::StdoutBytes,
            ),
            stderr: CappedPipe::new(
                limits.stderr_bytes,
                limits.stdio_hard_bytes,
                Limit::StderrBytes,
            ),
        }
    }
}

/// Refuses job descriptions the sandbox will not run: foreign environment variables, NUL
/// bytes, and an out directory that is missing, not a directory or not empty.
pub(crate) fn validate_job(job: &JobSpec) -> Result<(), SandboxError> {
    let invalid = |message: &str| Err(SandboxError::InvalidJob(message.to_owned()));
    for (key, value) in &job.env {
        if !key.starts_with(ENV_PREFIX) {
            return invalid("environment variable names must start with ENCLAVE_");
        }
        if key.contains(['=', '\0']) || value.contains('\0') {
            return invalid("environment variables must not contain `=` in names or NUL bytes");
        }
    }
    if job.args.iter().any(|arg| arg.contains('\0')) {
        return invalid("arguments must not contain NUL bytes");
    }
    let out_is_empty_dir = std::fs::symlink_metadata(&job.out_dir)
        .is_ok_and(|metadata| metadata.is_dir())
        && std::fs::read_dir(&job.out_dir).is_ok_and(|mut entries| entries.next().is_none());
    if !out_is_empty_dir {
        return invalid("the output directory must be an existing, empty directory");
    }
    if job.data_dir.as_deref().is_some_and(|dir| !dir.is_dir()) {
        return invalid("the data directory must be an existing directory");
    }
    if job.tmp_dir.as_deref().is_some_and(|dir| !dir.is_dir()) {
        return invalid("the scratch directory must be an existing directory");
    }
    if let Program::Runner { job_dir, .. } = &job.program
        && !job_dir.is_dir()
    {
        return invalid("the job directory must be an existing directory");
    }
    Ok(())
}

/// The WASI context builder for `job`, writing stdout and stderr into `captured`. `/data` is
/// always the first preopen (`access.rs` relies on it).
pub(crate) fn builder(job: &JobSpec, captured: &Captured) -> Result<WasiCtxBuilder, SandboxError> {
    let mut builder = WasiCtxBuilder::new();
    // File I/O runs on the job's own thread instead of tokio's blocking pool: a hand-off per
    // read made data scans 14x slower than native. The one hazard, a preview 1 `sleep` served
    // with an uninterruptible `std::thread::sleep`, is taken over by `poll.rs`; preview 2
    // sleeps are tokio timers either way. Files under the preopens are local, bounded reads.
    builder.allow_blocking_current_thread(true);
    builder
        .stdin(std::io::empty())
        .stdout(captured.stdout.clone())
        .stderr(captured.stderr.clone());
    builder.arg(PROGRAM_NAME).args(&job.args).envs(&job.env);
    if let Some(data_dir) = &job.data_dir {
        preopen(&mut builder, data_dir, "/data", FsPerms::ReadOnly)?;
    }
    preopen(&mut builder, &job.out_dir, "/out", FsPerms::ReadWrite)?;
    if let Some(tmp_dir) = &job.tmp_dir {
        preopen(&mut builder, tmp_dir, "/tmp", FsPerms::ReadWrite)?;
    }
    if let Program::Runner { job_dir, .. } = &job.program {
        // The job's own files (a script for the runner): read-only, like the dataset.
        preopen(&mut builder, job_dir, "/job", FsPerms::ReadOnly)?;
    }
    builder
        .wall_clock(FrozenWallClock)
        .monotonic_clock(SteppingMonotonicClock::default());
    builder
        .secure_random(ChaCha20Rng::from_seed(job.seed))
        .insecure_random(ChaCha20Rng::from_seed(derive_seed(
            &job.seed,
            b"insecure-random",
        )))
        .insecure_random_seed(insecure_seed(&job.seed));
    // Already the defaults; stated so a change of defaults upstream cannot open the network.
    builder
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    Ok(builder)
}

fn preopen(
    builder: &mut WasiCtxBuilder,
    host_dir: &Path,
    guest_dir: &str,
    perms: FsPerms,
) -> Result<(), SandboxError> {
    builder
        .preopened_dir(host_dir, guest_dir, perms)
        .map(|_| ())
        .map_err(|error| {
            SandboxError::Engine(format!("cannot mount {guest_dir}: {}", error_text(&error)))
        })
}

/// A seed for one purpose, derived from the job seed so streams never overlap.
fn derive_seed(seed: &[u8; 32], purpose: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"enclave-sandbox/");
    hasher.update(purpose);
    hasher.update(seed);
    hasher.finalize().into()
}

fn insecure_seed(seed: &[u8; 32]) -> u128 {
    let derived = derive_seed(seed, b"insecure-seed");
    let mut low = [0u8; 16];
    low.copy_from_slice(&derived[..16]);
    u128::from_le_bytes(low)
}
