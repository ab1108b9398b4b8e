//! Limits added for hostile modules: compile time and size of code, tables, the stdout hard
//! cap and the `/tmp` quota.

use std::time::Duration;

use enclave_sandbox::{Limit, Outcome, SandboxError, SandboxLimits};

use crate::support::{SANDBOX, job, run, wasm};

/// A module with `functions` functions of straight-line arithmetic, made unique by `salt`.
fn big_module(functions: usize, salt: u32) -> Vec<u8> {
    let body = "(local.set $x (i32.add (i32.mul (local.get $x) (i32.const 31)) (i32.const 7)))\n"
        .repeat(200);
    let mut text = format!("(data (i32.const 1024) \"{salt}\")\n");
    for index in 0..functions {
        text.push_str(&format!(
            "(func $f{index} (export \"f{index}\") (param $x i32) (result i32) {body} (local.get $x))\n"
        ));
    }
    text.push_str(r#"(func (export "_start"))"#);
    wasm(&text)
}

#[test]
fn a_module_that_compiles_too_long_ends_with_the_compile_time_limit() {
    let (mut spec, _root) = job(big_module(400, 1));
    spec.limits.compile_time = Duration::from_millis(1);
    let cached_before = SANDBOX.cached_modules();
    let result = run(spec);
    assert_eq!(result.outcome, Outcome::LimitExceeded(Limit::CompileTime));
    assert_eq!(result.outcome.to_string(), "limit: compile time");
    assert!(result.stdout.is_empty() && result.outputs.is_empty());

    // Within its budget the same module compiles and runs.
    let (spec, _root) = job(big_module(400, 1));
    assert_eq!(run(spec).outcome, Outcome::Exited(0));
    assert!(SANDBOX.cached_modules() > cached_before);
}

#[test]
fn an_oversized_function_body_is_refused_before_compiling() {
    let body = "(drop (i32.const 1))\n".repeat(400_000);
    let bytes = wasm(&format!(r#"(func (export "_start") {body})"#));
    let Err(SandboxError::InvalidModule(reason)) =
        SANDBOX.check_module(&bytes, &SandboxLimits::default())
    else {
        panic!("expected InvalidModule")
    };
    assert!(reason.starts_with("a function body is"), "{reason}");
}

#[test]
fn a_table_growth_bomb_hits_the_table_limit() {
    let (mut spec, _root) = job(wasm(
        r#"
      (table $t 1 funcref)
      (func (export "_start")
        (loop $l (drop (table.grow $t (ref.null func) (i32.const 1000))) (br $l)))"#,
    ));
    spec.limits.table_elements = 10_000;
    let result = run(spec);
    assert_eq!(result.outcome, Outcome::LimitExceeded(Limit::TableElements));
    assert_eq!(result.outcome.to_string(), "limit: table elements");
}

#[test]
fn stdout_past_the_hard_cap_stops_the_job_and_below_it_is_only_truncated() {
    let flood = |count: u32| {
        wasm(&format!(
            r#"
          (func (export "_start") (local $i i32)
            (loop $l
              (if (call $write (i32.const 1) (i32.const 4096) (i32.const 1000)) (then (call $proc_exit (i32.const 5))))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $l (i32.lt_u (local.get $i) (i32.const {count})))))"#
        ))
    };
    let (mut spec, _root) = job(flood(50));
    spec.limits.stdout_bytes = 2000;
    spec.limits.stdio_hard_bytes = 1_000_000;
    let result = run(spec);
    assert_eq!(
        result.outcome,
        Outcome::Exited(0),
        "writes past the soft cap succeed"
    );
    assert_eq!(result.stdout.len(), 2000);
    assert!(result.stdout_truncated);

    let (mut spec, _root) = job(flood(u32::MAX));
    spec.limits.stdout_bytes = 2000;
    spec.limits.stdio_hard_bytes = 1_000_000;
    let result = run(spec);
    assert_eq!(result.outcome, Outcome::LimitExceeded(Limit::StdoutBytes));
    assert_eq!(result.outcome.to_string(), "limit: stdout bytes");
    assert_eq!(result.stdout.len(), 2000);
}

#[test]
fn tmp_past_its_quota_stops_the_job() {
    let (mut spec, _root) = job(wasm(
        r#"
      (data (i32.const 1024) "big.tmp")
      (func (export "_start") (local $fd i32) (local $i i32)
        (local.set $fd (call $open (i32.const 5) (i32.const 1024) (i32.const 7) (i32.const 9) (i64.const 64)))
        (loop $l
          (drop (call $write (local.get $fd) (i32.const 65536) (i32.const 65536)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 32)))))"#,
    ));
    spec.limits.tmp_bytes = 1024 * 1024;
    let result = run(spec);
    assert_eq!(result.outcome, Outcome::LimitExceeded(Limit::TmpBytes));
}

#[test]
fn a_short_sleep_completes_and_reports_its_event() {
    // One relative clock subscription of 20 ms, userdata 77; exit 0 only if poll_oneoff
    // succeeded with one event carrying that userdata.
    let (spec, _root) = job(wasm(
        r#"
      (func (export "_start")
        (i64.store (i32.const 2048) (i64.const 77))
        (i32.store8 (i32.const 2056) (i32.const 0))
        (i32.store (i32.const 2064) (i32.const 1))
        (i64.store (i32.const 2072) (i64.const 20000000))
        (if (call $poll (i32.const 2048) (i32.const 3072) (i32.const 1) (i32.const 16))
          (then (call $proc_exit (i32.const 2))))
        (if (i32.ne (i32.load (i32.const 16)) (i32.const 1)) (then (call $proc_exit (i32.const 3))))
        (if (i64.ne (i64.load (i32.const 3072)) (i64.const 77)) (then (call $proc_exit (i32.const 4)))))"#,
    ));
    let started = std::time::Instant::now();
    assert_eq!(run(spec).outcome, Outcome::Exited(0));
    assert!(started.elapsed() >= Duration::from_millis(20));
}
