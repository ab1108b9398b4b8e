//! WASI 0.2 components get the same grants and limits as core modules.

use enclave_sandbox::{DataAccess, Limit, Outcome, SandboxError};

use crate::support::{SANDBOX, component, job, output, run, wasm};

/// Reads /data/x.csv, copies it to /out/copy.csv and says hello on stdout.
fn copy_job() -> Vec<u8> {
    wasm(
        r#"
      (data (i32.const 1024) "x.csv")
      (data (i32.const 1040) "copy.csv")
      (data (i32.const 1056) "hello\n")
      (func (export "_start") (local $fd i32) (local $n i32)
        (local.set $fd (call $open (i32.const 3) (i32.const 1024) (i32.const 5) (i32.const 0) (i64.const 2)))
        (if (i32.lt_s (local.get $fd) (i32.const 0)) (then (call $proc_exit (i32.const 10))))
        (local.set $n (call $read (local.get $fd) (i32.const 4096) (i32.const 1000)))
        (drop (call $create (i32.const 4) (i32.const 1040) (i32.const 8) (i32.const 4096) (local.get $n)))
        (drop (call $write (i32.const 1) (i32.const 1056) (i32.const 6))))"#,
    )
}

#[test]
fn a_component_runs_with_data_out_and_stdout() {
    let bytes = component(&copy_job());
    assert_eq!(
        &bytes[4..8],
        b"\x0d\0\x01\0",
        "a component, not a core module"
    );
    let (spec, _root) = job(bytes);
    let result = run(spec);
    assert_eq!(result.outcome, Outcome::Exited(0), "{result:?}");
    assert_eq!(result.stdout, b"hello\n");
    assert_eq!(output(&result, "copy.csv"), b"id,count\n1,10\n");
    let record = result.data_access;
    assert_eq!(record.len(), 1, "{record:?}");
    assert_eq!(record[0].path, "/data/x.csv");
    assert_eq!((record[0].opens, record[0].bytes_read), (1, 14));
    assert_eq!(result.usage.data_bytes_read, 14);
}

#[test]
fn a_component_cannot_write_to_data() {
    let bytes = component(&wasm(
        r#"
      (data (i32.const 1024) "x.csv")
      (data (i32.const 1040) "new.csv")
      (func (export "_start")
        (if (i32.ge_s (call $create (i32.const 3) (i32.const 1040) (i32.const 7) (i32.const 1024) (i32.const 3)) (i32.const 0))
          (then (call $proc_exit (i32.const 20))))
        (if (i32.ge_s (call $open (i32.const 3) (i32.const 1024) (i32.const 5) (i32.const 8) (i64.const 66)) (i32.const 0))
          (then (call $proc_exit (i32.const 21)))))"#,
    ));
    let (spec, _root) = job(bytes);
    let data = spec.data_dir.clone().unwrap();
    let result = run(spec);
    assert_eq!(result.outcome, Outcome::Exited(0), "{result:?}");
    assert!(!data.join("new.csv").exists());
    assert_eq!(
        std::fs::read(data.join("x.csv")).unwrap(),
        b"id,count\n1,10\n"
    );
}

#[test]
fn a_component_exit_status_other_than_zero_is_one() {
    // WASI 0.2's `wasi:cli/exit` carries success or failure only.
    let bytes = component(&wasm(
        r#"(func (export "_start") (call $proc_exit (i32.const 3)))"#,
    ));
    let (spec, _root) = job(bytes);
    assert_eq!(run(spec).outcome, Outcome::Exited(1));
}

#[test]
fn component_limits_apply() {
    let looping = component(&wasm(r#"(func (export "_start") (loop $l (br $l)))"#));
    let (mut spec, _root) = job(looping);
    spec.limits.wall_time = std::time::Duration::from_millis(300);
    assert_eq!(run(spec).outcome, Outcome::LimitExceeded(Limit::WallTime));

    // An hour's sleep: the adapter turns it into a WASI 0.2 clock pollable.
    let sleeper = component(&wasm(
        r#"(func (export "_start")
             (i32.store8 (i32.const 2056) (i32.const 0))
             (i32.store (i32.const 2064) (i32.const 1))
             (i64.store (i32.const 2072) (i64.const 3600000000000))
             (drop (call $poll (i32.const 2048) (i32.const 3072) (i32.const 1) (i32.const 16))))"#,
    ));
    let (mut spec, _root) = job(sleeper);
    spec.limits.wall_time = std::time::Duration::from_millis(300);
    let started = std::time::Instant::now();
    assert_eq!(run(spec).outcome, Outcome::LimitExceeded(Limit::WallTime));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));

    let bomb = component(&wasm(
        r#"(func (export "_start") (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))))"#,
    ));
    let (mut spec, _root) = job(bomb);
    spec.limits.memory_bytes = 8 * 1024 * 1024;
    assert_eq!(run(spec).outcome, Outcome::LimitExceeded(Limit::Memory));

    let flood = component(&wasm(
        r#"(func (export "_start") (loop $l (drop (call $write (i32.const 1) (i32.const 4096) (i32.const 4096))) (br $l)))"#,
    ));
    let (mut spec, _root) = job(flood);
    spec.limits.stdout_bytes = 1000;
    spec.limits.stdio_hard_bytes = 100_000;
    let result = run(spec);
    assert_eq!(result.outcome, Outcome::LimitExceeded(Limit::StdoutBytes));
    assert_eq!(result.stdout.len(), 1000);
    assert!(result.stdout_truncated);
}

#[test]
fn a_component_importing_an_ungranted_interface_is_refused() {
    let bytes = wat::parse_str(
        r#"(component
          (import "wasi:http/outgoing-handler@0.2.0" (instance (export "handle" (func)))))"#,
    )
    .unwrap();
    let (spec, _root) = job(bytes);
    let Err(SandboxError::InvalidModule(reason)) = SANDBOX.run_blocking(spec) else {
        panic!("expected InvalidModule");
    };
    assert!(reason.contains("does not provide"), "{reason}");
    assert!(reason.contains("wasi:http/outgoing-handler"), "{reason}");
}

#[test]
fn a_component_that_is_not_a_command_is_refused() {
    let bytes = wat::parse_str("(component)").unwrap();
    let (spec, _root) = job(bytes);
    let Err(SandboxError::InvalidModule(reason)) = SANDBOX.run_blocking(spec) else {
        panic!("expected InvalidModule");
    };
    assert!(reason.contains("not a wasi:cli/command"), "{reason}");
}

#[test]
fn a_component_records_reads_through_directories_like_a_core_module() {
    // The same reader as the preview 1 test of the record, as a component.
    let bytes = component(&crate::access::reader());
    let (spec, _root) = job(bytes);
    let result = run(spec);
    assert_eq!(result.outcome, Outcome::Exited(0), "{result:?}");
    assert_eq!(
        result.data_access,
        vec![
            DataAccess {
                path: "/data/person/p.csv".into(),
                opens: 1,
                bytes_read: 3
            },
            DataAccess {
                path: "/data/x.csv".into(),
                opens: 2,
                bytes_read: 18
            },
        ]
    );
}
