//! `enclave run-local`: a researcher runs a job on their own machine, on dummy data, with
//! exactly the sandbox and limits the gateway uses. `--data` is mounted read-only at `/data`
//! as it is; the validated outputs are copied to `--out`. Nothing here touches an
//! installation, a database or the network.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use enclave_sandbox::{JobSpec, Program, RunOutput, Sandbox, SandboxConfig, SandboxLimits};

use crate::config::LimitsConfig;

/// Arguments of `enclave run-local`.
#[derive(Args, Debug)]
pub struct RunLocalArgs {
    /// Folder mounted read-only at `/data` (a dataset view, dummy data, any folder).
    #[arg(long)]
    pub data: PathBuf,
    /// Folder the validated outputs are written to (created; must be empty if it exists).
    #[arg(long)]
    pub out: PathBuf,
    /// TOML file with the installation's limits: a `[limits]` table as in enclave.toml, or
    /// its keys alone. Defaults to the gateway's defaults. An enclave.toml's `[python]
    /// runner` is used for `--python` when `--runner` is not given.
    #[arg(long)]
    pub limits: Option<PathBuf>,
    /// The job is a Python script, run by the Python runner component as on the gateway
    /// (mounted read-only at `/job/main.py`).
    #[arg(long)]
    pub python: bool,
    /// The Python runner component (`python-runner.wasm`, built by
    /// `sdk/python/build-runner.sh`); needs `--python`.
    #[arg(long, requires = "python")]
    pub runner: Option<PathBuf>,
    /// Folder for compiled code, reused by later runs; defaults to
    /// `$XDG_CACHE_HOME/enclave/compiled` (or `~/.cache/enclave/compiled`).
    #[arg(long)]
    pub compiled_cache: Option<PathBuf>,
    /// The job: a WASI preview 1 module or a WASI 0.2 component (with `--python`, a `.py`
    /// script).
    pub module: PathBuf,
    /// Arguments passed to the job after `job` (write them after `--`).
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// Runs the job and prints its state, reason, usage, data access and outputs. Exit code 0
/// when the job succeeded, 1 when it failed.
///
/// # Errors
/// Unreadable files, invalid limits, a refused module or job, or a host failure.
pub async fn run_local(args: RunLocalArgs) -> anyhow::Result<ExitCode> {
    let limits = load_limits(args.limits.as_deref())?;
    let module = std::fs::read(&args.module)
        .with_context(|| format!("reading {}", args.module.display()))?;
    let runner_path = if args.python {
        let runner = match &args.runner {
            Some(runner) => Some(runner.clone()),
            None => configured_runner(args.limits.as_deref())?,
        };
        let Some(runner) = runner else {
            bail!(
                "--python needs the Python runner: pass --runner python-runner.wasm (build it \
                 with sdk/python/build-runner.sh) or a --limits enclave.toml with [python] runner"
            );
        };
        let python = crate::config::PythonConfig::default();
        let len = u64::try_from(module.len()).unwrap_or(u64::MAX);
        if len > python.script_bytes() {
            bail!(
                "{} is {len} bytes, more than the gateway's limit of {} bytes",
                args.module.display(),
                python.script_bytes()
            );
        }
        if module.is_empty() {
            bail!("{} is empty", args.module.display());
        }
        if let Err(error) = std::str::from_utf8(&module) {
            bail!(
                "{} is not UTF-8 text (invalid byte at offset {})",
                args.module.display(),
                error.valid_up_to()
            );
        }
        Some(runner)
    } else {
        None
    };
    prepare_out(&args.out)?;
    let work = tempfile::tempdir().context("creating a scratch folder")?;
    let (out_dir, tmp_dir) = (work.path().join("out"), work.path().join("tmp"));
    std::fs::create_dir(&out_dir)?;
    std::fs::create_dir(&tmp_dir)?;
    let dataset = args.data.file_name().map_or_else(
        || "local".to_owned(),
        |name| name.to_string_lossy().into_owned(),
    );
    let sandbox = Arc::new(Sandbox::new(SandboxConfig {
        max_concurrent_jobs: 1,
        fuel_metering: limits.fuel.is_some(),
        compiled_cache_dir: args.compiled_cache.clone().or_else(default_compiled_cache),
        ..SandboxConfig::default()
    })?);
    let program = match runner_path {
        None => Program::Module(module),
        Some(runner_path) => {
            let bytes = std::fs::read(&runner_path)
                .with_context(|| format!("reading {}", runner_path.display()))?;
            let loader = Arc::clone(&sandbox);
            let runner =
                tokio::task::spawn_blocking(move || loader.load_runner(&bytes, RUNNER_MAX_BYTES))
                    .await
                    .context("runner task")?
                    .with_context(|| format!("loading the runner {}", runner_path.display()))?;
            let job_dir = work.path().join("job");
            std::fs::create_dir(&job_dir)?;
            std::fs::write(job_dir.join("main.py"), &module)?;
            Program::Runner { runner, job_dir }
        }
    };
    let spec = JobSpec {
        program,
        data_dir: Some(args.data.clone()),
        out_dir,
        tmp_dir: Some(tmp_dir),
        args: args.args.clone(),
        env: vec![
            ("ENCLAVE_JOB_ID".into(), LOCAL_JOB_ID.into()),
            ("ENCLAVE_PROJECT".into(), "local".into()),
            ("ENCLAVE_DATASET".into(), dataset),
            ("ENCLAVE_DATASET_VERSION".into(), "local".into()),
        ],
        seed: crate::service::job_seed(LOCAL_JOB_ID),
        limits,
    };
    let output = tokio::task::spawn_blocking(move || sandbox.run_blocking(spec))
        .await
        .context("sandbox task")??;
    for file in &output.outputs {
        let target = args.out.join(&file.name);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&file.host_path, &target)
            .with_context(|| format!("writing {}", target.display()))?;
    }
    print!("{}", report(&output, &args.out));
    Ok(if output.outcome.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The job id a local run sees (`ENCLAVE_JOB_ID`); its seed derives from it as on the
/// gateway, so local reruns reproduce each other.
const LOCAL_JOB_ID: &str = "local";

/// Largest runner component accepted (the componentize-py runner is about 20 MB).
const RUNNER_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// `$XDG_CACHE_HOME/enclave/compiled`, or `~/.cache/enclave/compiled`.
fn default_compiled_cache() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("enclave").join("compiled"))
}

/// `[python] runner` from an enclave.toml given as `--limits`, relative to its folder.
fn configured_runner(path: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let runner = table
        .get("python")
        .and_then(|python| python.get("runner"))
        .and_then(toml::Value::as_str);
    Ok(runner.map(|runner| {
        let runner = PathBuf::from(runner);
        match path.parent() {
            Some(base) if runner.is_relative() => base.join(runner),
            _ => runner,
        }
    }))
}

/// Limits from `path` (validated like enclave.toml's), or the gateway's defaults.
fn load_limits(path: Option<&Path>) -> anyhow::Result<SandboxLimits> {
    let Some(path) = path else {
        return Ok(LimitsConfig::default().to_sandbox());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut table: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let limits = match table.remove("limits") {
        Some(toml::Value::Table(limits)) => limits,
        Some(_) => bail!("{}: `limits` must be a table", path.display()),
        None => table,
    };
    let config: LimitsConfig = toml::Value::Table(limits)
        .try_into()
        .with_context(|| format!("invalid limits in {}", path.display()))?;
    config.validate()?;
    Ok(config.to_sandbox())
}

fn prepare_out(out: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!("{} is not empty", out.display());
            }
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))
        }
        Err(error) => Err(error).with_context(|| format!("reading {}", out.display())),
    }
}

/// What the gateway would show in `status`, plus the captured streams (dummy data only).
fn report(output: &RunOutput, out: &Path) -> String {
    let usage = &output.usage;
    let state = if output.outcome.succeeded() {
        "succeeded"
    } else {
        "failed"
    };
    let mut text = format!(
        "state:           {state}\nreason:          {}\n",
        output.outcome
    );
    text.push_str(&format!(
        "usage:           wall {} ms, compile {} ms, peak memory {} bytes, fuel {}, out {} bytes, \
         data read {} bytes\n",
        usage.wall_time.as_millis(),
        usage.compile_time.as_millis(),
        usage.peak_memory_bytes,
        usage
            .fuel_consumed
            .map_or_else(|| "-".to_owned(), |f| f.to_string()),
        usage.out_bytes,
        usage.data_bytes_read,
    ));
    text.push_str(&format!(
        "data read:       {} file(s)\n",
        output.data_access.len()
    ));
    for file in &output.data_access {
        text.push_str(&format!(
            "  {:<46} {:>12} bytes  {} open(s)\n",
            file.path, file.bytes_read, file.opens
        ));
    }
    text.push_str(&format!("outputs (in {}):\n", out.display()));
    for file in &output.outputs {
        text.push_str(&format!(
            "  {:<32} {:>10}  {}\n",
            file.name, file.size, file.sha256
        ));
    }
    for rejected in &output.rejected_outputs {
        text.push_str(&format!(
            "  rejected {}: {}\n",
            rejected.name, rejected.reason
        ));
    }
    for (name, bytes, truncated) in [
        ("stdout", &output.stdout, output.stdout_truncated),
        ("stderr", &output.stderr, output.stderr_truncated),
    ] {
        let flag = if truncated { " (truncated)" } else { "" };
        text.push_str(&format!(
            "--- {name}{flag} ---\n{}",
            String::from_utf8_lossy(bytes)
        ));
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            text.push('\n');
        }
    }
    text
}
