//! The on-disk compiled cache and trusted runners: an entry written by one sandbox serves
//! the next (a restart), a damaged entry is discarded and recompiled, another engine
//! configuration misses, a compilation that ran out of time is never written, and a runner
//! sees its job's files read-only at `/job`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use enclave_sandbox::{Limit, Outcome, Program, Sandbox, SandboxConfig, SandboxError};

use super::{job, wasm};

/// Writes "cached" to stdout: a job whose result shows it really ran.
fn module() -> Vec<u8> {
    wasm(
        r#"(data (i32.const 1024) "cached\n")
        (func (export "_start") (drop (call $write (i32.const 1) (i32.const 1024) (i32.const 7))))"#,
    )
}

fn sandbox(dir: &Path, fuel_metering: bool) -> Sandbox {
    Sandbox::new(SandboxConfig {
        max_concurrent_jobs: 1,
        fuel_metering,
        compiled_cache_dir: Some(dir.to_owned()),
        ..SandboxConfig::default()
    })
    .unwrap()
}

fn run_once(sandbox: &Sandbox, module: &[u8]) {
    let (spec, _root) = job(module.to_vec());
    let output = sandbox.run_blocking(spec).unwrap();
    assert_eq!(output.outcome, Outcome::Exited(0));
    assert_eq!(output.stdout, b"cached\n");
}

fn entries(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().and_then(|e| e.to_str()) == Some(extension))
        .collect();
    found.sort();
    found
}

#[test]
fn a_restarted_sandbox_loads_compiled_code_from_disk() {
    let cache = tempfile::tempdir().unwrap();
    let module = module();
    let first = sandbox(cache.path(), false);
    run_once(&first, &module);
    assert_eq!(first.cache_stats().compiled, 1);
    assert_eq!(entries(cache.path(), "cwasm").len(), 1);
    assert_eq!(entries(cache.path(), "sha256").len(), 1);
    drop(first);

    let second = sandbox(cache.path(), false);
    run_once(&second, &module);
    let stats = second.cache_stats();
    assert_eq!((stats.disk_hits, stats.compiled), (1, 0), "{stats:?}");
    // Then from memory.
    run_once(&second, &module);
    assert_eq!(second.cache_stats().memory_hits, 1);
}

#[test]
fn a_corrupt_entry_is_discarded_and_recompiled() {
    let cache = tempfile::tempdir().unwrap();
    let module = module();
    run_once(&sandbox(cache.path(), false), &module);
    let artefact = entries(cache.path(), "cwasm").remove(0);
    let mut bytes = std::fs::read(&artefact).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&artefact, &bytes).unwrap();

    let second = sandbox(cache.path(), false);
    run_once(&second, &module);
    let stats = second.cache_stats();
    assert_eq!(
        (stats.disk_rejected, stats.disk_hits, stats.compiled),
        (1, 0, 1),
        "{stats:?}"
    );
    // The recompiled entry replaced the damaged one and serves the next start.
    let third = sandbox(cache.path(), false);
    run_once(&third, &module);
    assert_eq!(third.cache_stats().disk_hits, 1);
}

#[test]
fn a_tampered_hash_file_or_a_truncated_artefact_is_not_trusted() {
    let cache = tempfile::tempdir().unwrap();
    let module = module();
    run_once(&sandbox(cache.path(), false), &module);
    let hash_file = entries(cache.path(), "sha256").remove(0);
    std::fs::write(&hash_file, "not a hash\n").unwrap();
    let second = sandbox(cache.path(), false);
    run_once(&second, &module);
    assert_eq!(second.cache_stats().disk_rejected, 1);

    let artefact = entries(cache.path(), "cwasm").remove(0);
    let bytes = std::fs::read(&artefact).unwrap();
    std::fs::write(&artefact, &bytes[..bytes.len() / 3]).unwrap();
    let third = sandbox(cache.path(), false);
    run_once(&third, &module);
    let stats = third.cache_stats();
    assert_eq!((stats.disk_rejected, stats.compiled), (1, 1), "{stats:?}");
}

#[test]
fn another_engine_configuration_misses() {
    let cache = tempfile::tempdir().unwrap();
    let module = module();
    run_once(&sandbox(cache.path(), false), &module);
    // Fuel metering changes the generated code: its entry must not be shared.
    let metered = sandbox(cache.path(), true);
    run_once(&metered, &module);
    let stats = metered.cache_stats();
    assert_eq!(
        (stats.disk_hits, stats.disk_rejected, stats.compiled),
        (0, 0, 1),
        "{stats:?}"
    );
    assert_eq!(entries(cache.path(), "cwasm").len(), 2);
}

#[test]
fn a_compilation_that_runs_out_of_time_is_never_written() {
    let cache = tempfile::tempdir().unwrap();
    let body = "(local.set $x (i32.add (i32.mul (local.get $x) (i32.const 31)) (i32.const 7)))\n"
        .repeat(200);
    let mut text = String::from("(data (i32.const 1024) \"never cached\")\n");
    for index in 0..400 {
        text.push_str(&format!("(func $f{index} (local $x i32) {body})\n"));
    }
    text.push_str(r#"(func (export "_start"))"#);
    let (mut spec, _root) = job(wasm(&text));
    spec.limits.compile_time = Duration::from_millis(1);
    let sandbox = sandbox(cache.path(), false);
    let output = sandbox.run_blocking(spec).unwrap();
    assert_eq!(output.outcome, Outcome::LimitExceeded(Limit::CompileTime));
    assert_eq!(sandbox.cache_stats().compiled, 0);
    assert!(entries(cache.path(), "cwasm").is_empty());
}

/// A runner that copies `/job/main.py` to `/out/seen.txt`, then tries to create
/// `/job/planted`; exits 0 when that creation was refused. Preopens without `/data` and
/// `/tmp`: 3 is `/out`, 4 is `/job`.
fn copying_runner() -> Vec<u8> {
    wasm(
        r#"(data (i32.const 1024) "main.py")
        (data (i32.const 1040) "seen.txt")
        (data (i32.const 1056) "planted")
        (func (export "_start")
          (local $fd i32) (local $n i32)
          (local.set $fd (call $open (i32.const 4) (i32.const 1024) (i32.const 7) (i32.const 0) (i64.const 2)))
          (if (i32.lt_s (local.get $fd) (i32.const 0)) (then (call $proc_exit (i32.const 2))))
          (local.set $n (call $read (local.get $fd) (i32.const 2048) (i32.const 1024)))
          (drop (call $create (i32.const 3) (i32.const 1040) (i32.const 8) (i32.const 2048) (local.get $n)))
          (if (i32.ge_s (call $create (i32.const 4) (i32.const 1056) (i32.const 7) (i32.const 1024) (i32.const 1)) (i32.const 0))
            (then (call $proc_exit (i32.const 3)))))"#,
    )
}

#[test]
fn a_runner_reads_its_script_from_a_read_only_job_folder() {
    let cache = tempfile::tempdir().unwrap();
    let sandbox = sandbox(cache.path(), false);
    let runner = sandbox.load_runner(&copying_runner(), 1 << 20).unwrap();
    assert_eq!(runner.sha256().len(), 64);
    let (mut spec, root) = job(Vec::new());
    let job_dir = root.path().join("job");
    std::fs::create_dir(&job_dir).unwrap();
    std::fs::write(job_dir.join("main.py"), "print('hello')\n").unwrap();
    spec.program = Program::Runner {
        runner: runner.clone(),
        job_dir: job_dir.clone(),
    };
    let output = sandbox.run_blocking(spec).unwrap();
    assert_eq!(output.outcome, Outcome::Exited(0), "{output:?}");
    assert_eq!(output.usage.compile_time, Duration::ZERO);
    let seen = output
        .outputs
        .iter()
        .find(|o| o.name == "seen.txt")
        .unwrap();
    assert_eq!(std::fs::read(&seen.host_path).unwrap(), b"print('hello')\n");
    assert!(!job_dir.join("planted").exists());

    // The runner was compiled once and written to disk: a restart loads it.
    drop(sandbox);
    let restarted = self::sandbox(cache.path(), false);
    let again = restarted.load_runner(&copying_runner(), 1 << 20).unwrap();
    assert_eq!(again.sha256(), runner.sha256());
    assert_eq!(restarted.cache_stats().disk_hits, 1);
}

#[test]
fn a_runner_job_needs_its_job_folder_and_a_runner_must_be_admissible() {
    let cache = tempfile::tempdir().unwrap();
    let sandbox = sandbox(cache.path(), false);
    let runner = sandbox.load_runner(&copying_runner(), 1 << 20).unwrap();
    let (mut spec, root) = job(Vec::new());
    spec.program = Program::Runner {
        runner,
        job_dir: root.path().join("missing"),
    };
    assert!(matches!(
        sandbox.run_blocking(spec),
        Err(SandboxError::InvalidJob(_))
    ));
    assert!(matches!(
        sandbox.load_runner(b"not wasm", 1 << 20),
        Err(SandboxError::InvalidModule(_))
    ));
    assert!(matches!(
        sandbox.load_runner(&copying_runner(), 16),
        Err(SandboxError::InvalidModule(_))
    ));
}
