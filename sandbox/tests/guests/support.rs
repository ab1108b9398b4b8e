//! Shared helpers: a sandbox, WAT guests with a WASI preview 1 prelude, jobs in temporary
//! directories, and the preview 1 → 0.2 adapter.

use std::sync::LazyLock;
use std::time::Duration;

use enclave_sandbox::{JobSpec, RunOutput, Sandbox, SandboxConfig, SandboxLimits};
use tempfile::TempDir;

pub(crate) static SANDBOX: LazyLock<Sandbox> =
    LazyLock::new(|| Sandbox::new(SandboxConfig::default()).unwrap());

/// WASI imports and helpers. Scratch memory: iovec at 0, results at 8..32, data from 1024.
const PRELUDE: &str = r#"
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pread" (func $fd_pread (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func $write (param $fd i32) (param $ptr i32) (param $len i32) (result i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
  (func $read (param $fd i32) (param $ptr i32) (param $len i32) (result i32)
    (local $err i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (local.set $err (call $fd_read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
    (if (result i32) (local.get $err)
      (then (i32.sub (i32.const 0) (local.get $err)))
      (else (i32.load (i32.const 8)))))
  ;; oflags: 1 creat, 2 directory, 8 trunc. rights: 2 read, 64 write.
  (func $open (param $dir i32) (param $path i32) (param $len i32) (param $oflags i32) (param $rights i64) (result i32)
    (local $err i32)
    (local.set $err (call $path_open (local.get $dir) (i32.const 0) (local.get $path) (local.get $len)
      (local.get $oflags) (local.get $rights) (local.get $rights) (i32.const 0) (i32.const 12)))
    (if (result i32) (local.get $err)
      (then (i32.sub (i32.const 0) (local.get $err)))
      (else (i32.load (i32.const 12)))))
  (func $create (param $dir i32) (param $path i32) (param $path_len i32) (param $ptr i32) (param $len i32) (result i32)
    (local $fd i32)
    (local.set $fd (call $open (local.get $dir) (local.get $path) (local.get $path_len) (i32.const 9) (i64.const 66)))
    (if (i32.lt_s (local.get $fd) (i32.const 0)) (then (return (local.get $fd))))
    (drop (call $write (local.get $fd) (local.get $ptr) (local.get $len)))
    (call $fd_close (local.get $fd)))
"#;

/// A core module with the prelude and `body`.
pub(crate) fn wasm(body: &str) -> Vec<u8> {
    wat::parse_str(format!("(module {PRELUDE} {body})")).unwrap()
}

/// The core module turned into a `wasi:cli/command` component by the preview 1 adapter.
pub(crate) fn component(core: &[u8]) -> Vec<u8> {
    use wasi_preview1_component_adapter_provider::{
        WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
    };
    wit_component::ComponentEncoder::default()
        .module(core)
        .unwrap()
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
        )
        .unwrap()
        .validate(true)
        .encode()
        .unwrap()
}

/// A job with fresh out and tmp directories, `/data` holding `x.csv` (`id,count\n1,10\n`)
/// and `person/p.csv` (`id\n1\n2\n`), and test-sized limits.
pub(crate) fn job(module: Vec<u8>) -> (JobSpec, TempDir) {
    let root = tempfile::tempdir().unwrap();
    let dir = |name: &str| {
        let path = root.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    };
    let (data, out, tmp) = (dir("data"), dir("out"), dir("tmp"));
    std::fs::write(data.join("x.csv"), "id,count\n1,10\n").unwrap();
    std::fs::create_dir(data.join("person")).unwrap();
    std::fs::write(data.join("person/p.csv"), "id\n1\n2\n").unwrap();
    let spec = JobSpec {
        program: module.into(),
        data_dir: Some(data),
        out_dir: out,
        tmp_dir: Some(tmp),
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

pub(crate) fn run(spec: JobSpec) -> RunOutput {
    SANDBOX.run_blocking(spec).unwrap()
}

/// The contents of an accepted output file.
pub(crate) fn output(run: &RunOutput, name: &str) -> Vec<u8> {
    let file = run.outputs.iter().find(|file| file.name == name).unwrap();
    std::fs::read(&file.host_path).unwrap()
}
