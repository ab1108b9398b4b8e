//! Black-box tests of `Sandbox` through its public API, with guests written in WAT.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use enclave_sandbox::{
    JobSpec, Limit, Outcome, RunOutput, Sandbox, SandboxConfig, SandboxError, SandboxLimits,
};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

#[path = "run/disk_cache.rs"]
mod disk_cache;

static SANDBOX: LazyLock<Sandbox> =
    LazyLock::new(|| Sandbox::new(SandboxConfig::default()).unwrap());

/// WASI imports and helpers shared by every guest. Scratch memory: iovec at 0, result
/// pointers at 8..32; test data from 1024.
const PRELUDE: &str = r#"
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_symlink" (func $path_symlink (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; fd_write of one buffer; returns the errno.
  (func $write (param $fd i32) (param $ptr i32) (param $len i32) (result i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
  ;; fd_read into one buffer; returns the number of bytes read (or -errno).
  (func $read (param $fd i32) (param $ptr i32) (param $len i32) (result i32)
    (local $err i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (local.set $err (call $fd_read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
    (if (result i32) (local.get $err)
      (then (i32.sub (i32.const 0) (local.get $err)))
      (else (i32.load (i32.const 8)))))
  ;; path_open relative to a preopen; returns the new fd (or -errno).
  ;; oflags: 1 creat, 8 trunc. rights: 2 read, 64 write.
  (func $open (param $dir i32) (param $path i32) (param $len i32) (param $oflags i32) (param $rights i64) (result i32)
    (local $err i32)
    (local.set $err (call $path_open (local.get $dir) (i32.const 0) (local.get $path) (local.get $len)
      (local.get $oflags) (local.get $rights) (i64.const 0) (i32.const 0) (i32.const 12)))
    (if (result i32) (local.get $err)
      (then (i32.sub (i32.const 0) (local.get $err)))
      (else (i32.load (i32.const 12)))))
  ;; Creates (or truncates) a file under a preopen and writes one buffer into it.
  (func $create (param $dir i32) (param $path i32) (param $path_len i32) (param $ptr i32) (param $len i32) (result i32)
    (local $fd i32)
    (local.set $fd (call $open (local.get $dir) (local.get $path) (local.get $path_len) (i32.const 9) (i64.const 66)))
    (if (i32.lt_s (local.get $fd) (i32.const 0)) (then (return (local.get $fd))))
    (drop (call $write (local.get $fd) (local.get $ptr) (local.get $len)))
    (call $fd_close (local.get $fd)))
"#;

/// Preopened descriptors: 3 is the first preopen (`/data` when mounted, else `/out`).
fn wasm(body: &str) -> Vec<u8> {
    wat::parse_str(format!("(module {PRELUDE} {body})")).unwrap()
}

/// A job over `module` with a fresh empty out directory and test-sized limits.
fn job(module: Vec<u8>) -> (JobSpec, TempDir) {
    let root = tempfile::tempdir().unwrap();
    let out_dir = root.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let spec = JobSpec {
        program: module.into(),
        data_dir: None,
        out_dir,
        tmp_dir: None,
        args: Vec::new(),
        env: Vec::new(),
        seed: [7; 32],
        limits: SandboxLimits {
            wall_time: Duration::from_secs(20),
            ..SandboxLimits::default()
        },
    };
    (spec, root)
}

/// A job with `/data` mounted from a directory holding `x.csv`.
fn job_with_data(module: Vec<u8>) -> (JobSpec, TempDir, PathBuf) {
    let (mut spec, root) = job(module);
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let csv = data.join("x.csv");
    std::fs::write(&csv, "id,count\n1,10\n").unwrap();
    spec.data_dir = Some(data);
    (spec, root, csv)
}

fn run(spec: JobSpec) -> RunOutput {
    SANDBOX.run_blocking(spec).unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[test]
fn exit_zero_captures_stdout() {
    let (spec, _root) = job(wasm(
        r#"
      (data (i32.const 1024) "hello\n")
      (func (export "_start") (drop (call $write (i32.const 1) (i32.const 1024) (i32.const 6))))"#,
    ));
    let output = run(spec);
    assert_eq!(output.outcome, Outcome::Exited(0));
    assert!(output.outcome.succeeded());
    assert_eq!(output.outcome.to_string(), "exit 0");
    assert_eq!(output.stdout, b"hello\n");
    assert!(!output.stdout_truncated);
    assert!(output.stderr.is_empty());
    assert!(output.outputs.is_empty() && output.rejected_outputs.is_empty());
    assert!(output.usage.peak_memory_bytes >= 65_536);
}

#[test]
fn proc_exit_status_is_reported() {
    let (spec, _root) = job(wasm(
        r#"(func (export "_start") (call $proc_exit (i32.const 3)))"#,
    ));
    let output = run(spec);
    assert_eq!(output.outcome, Outcome::Exited(3));
    assert!(!output.outcome.succeeded());
    assert_eq!(output.outcome.to_string(), "exit 3");
}

#[test]
fn proc_exit_out_of_range_is_a_trap() {
    let (spec, _root) = job(wasm(
        r#"(func (export "_start") (call $proc_exit (i32.const 200)))"#,
    ));
    let Outcome::Trapped(description) = run(spec).outcome else {
        panic!("expected a trap")
    };
    assert!(description.contains("invalid exit status"), "{description}");
}

#[test]
fn unreachable_is_a_trap() {
    let (spec, _root) = job(wasm(r#"(func (export "_start") unreachable)"#));
    let outcome = run(spec).outcome;
    let Outcome::Trapped(description) = &outcome else {
        panic!("expected a trap: {outcome:?}")
    };
    assert!(description.contains("unreachable"), "{description}");
    assert!(outcome.to_string().starts_with("trap: "));
}

#[test]
fn stack_overflow_is_a_trap() {
    let (spec, _root) = job(wasm(
        r#"
      (func $deep (param i32) (result i32) (i32.add (call $deep (local.get 0)) (i32.const 1)))
      (func (export "_start") (drop (call $deep (i32.const 0))))"#,
    ));
    assert_eq!(
        run(spec).outcome,
        Outcome::Trapped("call stack exhausted".to_owned())
    );
}

#[test]
fn infinite_loop_hits_wall_time() {
    let (mut spec, _root) = job(wasm(
        r#"(func (export "_start") (loop $forever (br $forever)))"#,
    ));
    spec.limits.wall_time = Duration::from_millis(300);
    let started = Instant::now();
    let output = run(spec);
    assert_eq!(output.outcome, Outcome::LimitExceeded(Limit::WallTime));
    assert_eq!(output.outcome.to_string(), "limit: wall time");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(output.usage.wall_time >= Duration::from_millis(300));
}

#[test]
fn sleeping_in_poll_oneoff_hits_wall_time() {
    // One relative monotonic-clock subscription of an hour at 2048; events at 3072.
    let (mut spec, _root) = job(wasm(
        r#"
      (func (export "_start")
        (i32.store8 (i32.const 2056) (i32.const 0))
        (i32.store (i32.const 2064) (i32.const 1))
        (i64.store (i32.const 2072) (i64.const 3600000000000))
        (drop (call $poll_oneoff (i32.const 2048) (i32.const 3072) (i32.const 1) (i32.const 4000))))"#,
    ));
    spec.limits.wall_time = Duration::from_millis(300);
    let started = Instant::now();
    let output = run(spec);
    assert_eq!(output.outcome, Outcome::LimitExceeded(Limit::WallTime));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn fuel_limit_stops_a_loop() {
    let (mut spec, _root) = job(wasm(
        r#"(func (export "_start") (loop $forever (br $forever)))"#,
    ));
    spec.limits.fuel = Some(100_000);
    let output = run(spec);
    assert_eq!(output.outcome, Outcome::LimitExceeded(Limit::Fuel));
    assert_eq!(output.outcome.to_string(), "limit: fuel");
    assert_eq!(output.usage.fuel_consumed, Some(100_000));
}

#[test]
fn fuel_consumed_is_reported() {
    let (mut spec, _root) = job(wasm(r#"(func (export "_start"))"#));
    spec.limits.fuel = Some(1_000_000);
    let output = run(spec);
    assert_eq!(output.outcome, Outcome::Exited(0));
    let consumed = output.usage.fuel_consumed.unwrap();
    assert!(consumed < 1_000, "{consumed}");
}

#[test]
fn memory_bomb_hits_memory_limit() {
    let (mut spec, _root) = job(wasm(
        r#"
      (func (export "_start")
        (loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))))"#,
    ));
    spec.limits.memory_bytes = 16 * 1024 * 1024;
    let output = run(spec);
    assert_eq!(output.outcome, Outcome::LimitExceeded(Limit::Memory));
    assert_eq!(output.outcome.to_string(), "limit: memory");
    assert!(output.usage.peak_memory_bytes <= 16 * 1024 * 1024);
    assert!(output.usage.peak_memory_bytes > 8 * 1024 * 1024);
}

#[test]
fn initial_memory_above_limit_hits_memory_limit() {
    let module = wat::parse_str(r#"(module (memory 512) (func (export "_start")))"#).unwrap();
    let (mut spec, _root) = job(module);
    spec.limits.memory_bytes = 16 * 1024 * 1024;
    assert_eq!(run(spec).outcome, Outcome::LimitExceeded(Limit::Memory));
}

#[test]
fn file_written_to_out_is_collected() {
    let (spec, _root) = job(wasm(
        r#"
      (data (i32.const 1024) "result.csv")
      (data (i32.const 1100) "a,b\n1,2\n")
      (func (export "_start")
        (if (call $create (i32.const 3) (i32.const 1024) (i32.const 10) (i32.const 1100) (i32.const 8))
          (then unreachable)))"#,
    ));
    let out_dir = spec.out_dir.clone();
    let output = run(spec);
    assert_eq!(output.outcome, Outcome::Exited(0));
    assert_eq!(output.outputs.len(), 1, "{output:?}");
    let file = &output.outputs[0];
    assert_eq!(file.name, "result.csv");
    assert_eq!(file.size, 8);
    assert_eq!(file.sha256, sha256_hex(b"a,b\n1,2\n"));
    assert_eq!(file.host_path, out_dir.join("result.csv"));
    assert_eq!(output.usage.out_bytes, 8);
}

#[test]
fn data_is_readable() {
    let (spec, _root, _csv) = job_with_data(wasm(
        r#"
      (data (i32.const 1024) "x.csv")
      (func (export "_start") (local $fd i32) (local $n i32)
        (local.set $fd (call $open (i32.const 3) (i32.const 1024) (i32.const 5) (i32.const 0) (i64.const 2)))
        (if (i32.lt_s (local.get $fd) (i32.const 0)) (then (call $proc_exit (i32.const 10))))
        (local.set $n (call $read (local.get $fd) (i32.const 2048) (i32.const 1000)))
        (if (i32.lt_s (local.get $n) (i32.const 0)) (then (call $proc_exit (i32.const 11))))
        (drop (call $write (i32.const 1) (i32.const 2048) (local.get $n))))"#,
    ));
    let output = run(spec);
    assert_eq!(output.outcome, Outcome::Exited(0));
    assert_eq!(output.stdout, b"id,count\n1,10\n");
}

#[test]
fn data_is_read_only() {
    // Exit 10 if truncating x.csv for writing succeeded, 11 if creating new.csv did.
    let (spec, root, csv) = job_with_data(wasm(
        r#"
      (data (i32.const 1024) "x.csv")
      (data (i32.const 1040) "new.csv")
      (func (export "_start")
        (if (i32.ge_s (call $open (i32.const 3) (i32.const 1024) (i32.const 5) (i32.const 8) (i64.const 64)) (i32.const 0))
          (then (call $proc_exit (i32.const 10))))
        (if (i32.ge_s (call $open (i32.const 3) (i32.const 1040) (i32.const 7) (i32.const 1) (i64.const 66)) (i32.const 0))
          (then (call $proc_exit (i32.const 11)))))"#,
    ));
    let output = run(spec);
    assert_eq!(output.outcome, Outcome::Exited(0));
    assert_eq!(std::fs::read_to_string(csv).unwrap(), "id,count\n1,10\n");
    assert!(!root.path().join("data/new.csv").exists());
}

/// Writes the argument strings and then the environment strings to stdout.
const PRINT_ARGS_AND_ENV: &str = r#"
  (func (export "_start")
    (drop (call $args_sizes_get (i32.const 16) (i32.const 20)))
    (drop (call $args_get (i32.const 4096) (i32.const 8192)))
    (drop (call $write (i32.const 1) (i32.const 8192) (i32.load (i32.const 20))))
    (drop (call $environ_sizes_get (i32.const 16) (i32.const 20)))
    (drop (call $environ_get (i32.const 4096) (i32.const 8192)))
    (drop (call $write (i32.const 1) (i32.const 8192) (i32.load (i32.const 20)))))"#;

#[test]
fn args_and_env_are_exactly_as_given() {
    let (mut spec, _root) = job(wasm(PRINT_ARGS_AND_ENV));
    spec.args = vec!["--table".to_owned(), "person visits".to_owned()];
    spec.env = vec![("ENCLAVE_JOB_ID".to_owned(), "42".to_owned())];
    let output = run(spec);
    assert_eq!(output.outcome, Outcome::Exited(0));
    assert_eq!(
        output.stdout,
        b"job\0--table\0person visits\0ENCLAVE_JOB_ID=42\0"
    );
}

#[test]
fn no_args_or_env_by_default() {
    let (spec, _root) = job(wasm(PRINT_ARGS_AND_ENV));
    assert_eq!(run(spec).stdout, b"job\0");
}

#[test]
fn random_follows_the_seed() {
    let module = wasm(
        r#"
      (func (export "_start")
        (drop (call $random_get (i32.const 2048) (i32.const 32)))
        (drop (call $write (i32.const 1) (i32.const 2048) (i32.const 32))))"#,
    );
    let random = |seed: [u8; 32]| {
        let (mut spec, _root) = job(module.clone());
        spec.seed = seed;
        let output = run(spec);
        assert_eq!(output.outcome, Outcome::Exited(0));
        assert_eq!(output.stdout.len(), 32);
        output.stdout
    };
    assert_eq!(random([1; 32]), random([1; 32]));
    assert_ne!(random([1; 32]), random([2; 32]));
}

#[test]
fn clocks_are_frozen() {
    // Realtime, then two monotonic readings, as 24 little-endian bytes.
    let (spec, _root) = job(wasm(
        r#"
      (func (export "_start")
        (drop (call $clock_time_get (i32.const 0) (i64.const 0) (i32.const 2048)))
        (drop (call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 2056)))
        (drop (call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 2064)))
        (drop (call $write (i32.const 1) (i32.const 2048) (i32.const 24))))"#,
    ));
    let stdout = run(spec).stdout;
    let reading = |i: usize| u64::from_le_bytes(stdout[i * 8..i * 8 + 8].try_into().unwrap());
    assert_eq!(reading(0), 946_684_800 * 1_000_000_000);
    assert_eq!(reading(2) - reading(1), 1_000);
}

#[test]
fn stdout_flood_is_truncated_at_the_cap() {
    let (mut spec, _root) = job(wasm(
        r#"
      (func (export "_start") (local $i i32)
        (loop $more
          (drop (call $write (i32.const 1) (i32.const 2048) (i32.const 1000)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $more (i32.lt_u (local.get $i) (i32.const 100)))))"#,
    ));
    spec.limits.stdout_bytes = 4096;
    let output = run(spec);
    assert_eq!(output.outcome, Outcome::Exited(0));
    assert_eq!(output.stdout.len(), 4096);
    assert!(output.stdout_truncated);
    assert!(!output.stderr_truncated);
}

/// Writes 2 MiB to /out/big.bin in 64 KiB chunks, then runs `after`.
fn write_two_mib(after: &str) -> Vec<u8> {
    wasm(&format!(
        r#"
      (data (i32.const 1024) "big.bin")
      (func (export "_start") (local $fd i32) (local $i i32)
        (memory.grow (i32.const 2)) drop
        (local.set $fd (call $open (i32.const 3) (i32.const 1024) (i32.const 7) (i32.const 9) (i64.const 64)))
        (loop $more
          (drop (call $write (local.get $fd) (i32.const 65536) (i32.const 65536)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $more (i32.lt_u (local.get $i) (i32.const 32))))
        {after})"#
    ))
}

#[test]
fn out_quota_is_enforced_after_the_run() {
    let (mut spec, _root) = job(write_two_mib(""));
    spec.limits.out_bytes = 1024 * 1024;
    let output = run(spec);
    assert_eq!(output.outcome, Outcome::LimitExceeded(Limit::OutputBytes));
    assert_eq!(output.outcome.to_string(), "limit: output bytes");
    assert!(output.outputs.is_empty() && output.rejected_outputs.is_empty());
}

#[test]
fn out_quota_is_enforced_while_running() {
    let (mut spec, _root) = job(write_two_mib("(loop $forever (br $forever))"));
    spec.limits.out_bytes = 1024 * 1024;
    let started = Instant::now();
    let output = run(spec);
    assert_eq!(output.outcome, Outcome::LimitExceeded(Limit::OutputBytes));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn out_file_count_is_enforced() {
    // Creates f0 .. f9 by rewriting the digit at 1025.
    let (mut spec, _root) = job(wasm(
        r#"
      (data (i32.const 1024) "f0")
      (func (export "_start") (local $i i32)
        (loop $more
          (i32.store8 (i32.const 1025) (i32.add (i32.const 48) (local.get $i)))
          (drop (call $create (i32.const 3) (i32.const 1024) (i32.const 2) (i32.const 1024) (i32.const 2)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $more (i32.lt_u (local.get $i) (i32.const 10)))))"#,
    ));
    spec.limits.out_files = 5;
    let output = run(spec);
    assert_eq!(output.outcome, Outcome::LimitExceeded(Limit::OutputFiles));
    assert_eq!(output.outcome.to_string(), "limit: output files");
    assert!(output.outputs.is_empty());
}

#[test]
fn symlinks_and_bad_names_are_rejected() {
    let (spec, _root) = job(wasm(
        r#"
      (data (i32.const 1024) "result.csv")
      (data (i32.const 1040) "link.csv")
      (data (i32.const 1056) "bad\01name")
      (data (i32.const 1100) "a,b\n")
      (func (export "_start")
        (if (call $create (i32.const 3) (i32.const 1024) (i32.const 10) (i32.const 1100) (i32.const 4))
          (then unreachable))
        (if (call $path_symlink (i32.const 1024) (i32.const 10) (i32.const 3) (i32.const 1040) (i32.const 8))
          (then unreachable))
        (if (call $create (i32.const 3) (i32.const 1056) (i32.const 8) (i32.const 1100) (i32.const 4))
          (then unreachable)))"#,
    ));
    let output = run(spec);
    assert_eq!(output.outcome, Outcome::Exited(0));
    let names: Vec<_> = output
        .outputs
        .iter()
        .map(|file| file.name.as_str())
        .collect();
    assert_eq!(names, ["result.csv"]);
    let rejected: Vec<_> = output
        .rejected_outputs
        .iter()
        .map(|entry| (entry.name.as_str(), entry.reason.as_str()))
        .collect();
    assert_eq!(
        rejected,
        [
            ("bad\u{1}name", "unsafe name: contains control characters"),
            ("link.csv", "symbolic link is not a regular file"),
        ]
    );
}

#[test]
fn tmp_is_writable_and_not_an_output() {
    let (mut spec, root) = job(wasm(
        r#"
      (data (i32.const 1024) "scratch")
      (func (export "_start")
        (if (call $create (i32.const 4) (i32.const 1024) (i32.const 7) (i32.const 1024) (i32.const 7))
          (then unreachable)))"#,
    ));
    let tmp = root.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    spec.tmp_dir = Some(tmp.clone());
    let output = run(spec);
    assert_eq!(output.outcome, Outcome::Exited(0));
    assert!(output.outputs.is_empty());
    assert_eq!(std::fs::read(tmp.join("scratch")).unwrap(), b"scratch");
}

#[test]
fn check_module_refuses_bad_bytes() {
    let limits = SandboxLimits::default();
    let message = |bytes: &[u8]| match SANDBOX.check_module(bytes, &limits) {
        Err(SandboxError::InvalidModule(message)) => message,
        other => panic!("expected InvalidModule, got {other:?}"),
    };
    let not_wasm = "not a WebAssembly module or component";
    assert_eq!(message(b"#!/bin/sh\necho hi\n"), not_wasm);
    assert_eq!(message(b""), not_wasm);
    assert_eq!(
        message(b"\0asm\x0e\0\x01\0"),
        "component uses an unsupported encoding version; build it for WASI 0.2"
    );
    assert!(message(b"\0asm\x02\0\0\0").starts_with("unsupported WebAssembly binary version"));
    // A well-formed but empty component passes the cheap checks; running it is refused.
    assert!(SANDBOX.check_module(b"\0asm\x0d\0\x01\0", &limits).is_ok());
    let invalid = wat::parse_str(r#"(module (func (result i32) (i64.const 1)))"#).unwrap();
    let reason = message(&invalid);
    assert!(reason.starts_with("module failed validation: "), "{reason}");
    assert!(reason.contains("type mismatch"), "{reason}");
    let small = SandboxLimits {
        module_bytes: 4,
        ..SandboxLimits::default()
    };
    let Err(SandboxError::InvalidModule(reason)) = SANDBOX.check_module(b"\0asm\x01\0\0\0", &small)
    else {
        panic!("expected InvalidModule")
    };
    assert!(reason.contains("limit"), "{reason}");
}

#[test]
fn check_module_returns_the_sha256() {
    let module = wasm(r#"(func (export "_start"))"#);
    let hash = SANDBOX
        .check_module(&module, &SandboxLimits::default())
        .unwrap();
    assert_eq!(hash, sha256_hex(&module));
}

#[test]
fn module_without_start_or_with_foreign_imports_is_refused() {
    let no_start = wat::parse_str(r#"(module (func (export "main")))"#).unwrap();
    let (spec, _root) = job(no_start);
    assert!(matches!(
        SANDBOX.run_blocking(spec),
        Err(SandboxError::InvalidModule(_))
    ));
    let foreign =
        wat::parse_str(r#"(module (import "env" "socket" (func)) (func (export "_start")))"#)
            .unwrap();
    let (spec, _root) = job(foreign);
    let Err(SandboxError::InvalidModule(reason)) = SANDBOX.run_blocking(spec) else {
        panic!("expected InvalidModule")
    };
    assert!(reason.contains("does not provide"), "{reason}");
}

#[test]
fn invalid_jobs_are_refused() {
    let module = wasm(r#"(func (export "_start"))"#);
    let (mut spec, _root) = job(module.clone());
    spec.env = vec![("PATH".to_owned(), "/bin".to_owned())];
    assert!(matches!(
        SANDBOX.run_blocking(spec),
        Err(SandboxError::InvalidJob(_))
    ));

    let (spec, _root) = job(module.clone());
    std::fs::write(spec.out_dir.join("left-over"), "x").unwrap();
    assert!(matches!(
        SANDBOX.run_blocking(spec),
        Err(SandboxError::InvalidJob(_))
    ));

    let (mut spec, root) = job(module);
    spec.out_dir = root.path().join("missing");
    assert!(matches!(
        SANDBOX.run_blocking(spec),
        Err(SandboxError::InvalidJob(_))
    ));
}

#[test]
fn compiled_modules_are_reused() {
    let sandbox = Sandbox::new(SandboxConfig {
        max_concurrent_jobs: 1,
        ..SandboxConfig::default()
    })
    .unwrap();
    let module = wasm(r#"(func (export "_start"))"#);
    for _ in 0..3 {
        let (spec, _root) = job(module.clone());
        assert_eq!(
            sandbox.run_blocking(spec).unwrap().outcome,
            Outcome::Exited(0)
        );
    }
    assert_eq!(sandbox.cached_modules(), 1);
}

#[test]
fn sandbox_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Sandbox>();
}
