//! The hostile modules written in WAT, each with the outcome the gateway must report. A
//! module that checks for itself whether an attack worked exits 0 when it was contained and
//! with another status when it was not, so "succeeded, exit 0" is the expected outcome.

use super::{Case, Expect};

const PRELUDE: &str = r#"
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename" (func $path_rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file" (func $path_unlink (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_symlink" (func $path_symlink (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_accept" (func $sock_accept (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 2)
  (func $write (param $fd i32) (param $ptr i32) (param $len i32) (result i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
  ;; path_open relative to a preopen (3 /data, 4 /out, 5 /tmp); returns errno (0 = opened).
  (func $open (param $dir i32) (param $path i32) (param $len i32) (param $oflags i32) (param $rights i64) (result i32)
    (call $path_open (local.get $dir) (i32.const 0) (local.get $path) (local.get $len)
      (local.get $oflags) (local.get $rights) (local.get $rights) (i32.const 0) (i32.const 12)))
  ;; Exits 42 when `errno` says the attempt worked.
  (func $must_fail (param $errno i32)
    (if (i32.eqz (local.get $errno)) (then (call $proc_exit (i32.const 42)))))
  ;; Creates /out/NAME (NAME at $path) holding $len bytes from 65536.
  (func $create (param $path i32) (param $path_len i32) (param $len i32)
    (drop (call $open (i32.const 4) (local.get $path) (local.get $path_len) (i32.const 9) (i64.const 64)))
    (drop (call $write (i32.load (i32.const 12)) (i32.const 65536) (local.get $len)))
    (drop (call $fd_close (i32.load (i32.const 12)))))
"#;

fn module(body: &str) -> Vec<u8> {
    wat::parse_str(format!("(module {PRELUDE} {body})")).expect("valid WAT")
}

/// Tries `path` (at 1024) relative to `dir` with `oflags` and `rights`; must fail.
fn open_must_fail(dir: u32, path: &str, oflags: u32, rights: u64) -> Vec<u8> {
    module(&format!(
        r#"(data (i32.const 1024) "{path}")
           (func (export "_start")
             (call $must_fail (call $open (i32.const {dir}) (i32.const 1024) (i32.const {len})
               (i32.const {oflags}) (i64.const {rights}))))"#,
        len = path.len()
    ))
}

pub(super) fn cases() -> Vec<Case> {
    let contained = || Expect::Succeeded;
    let mut cases = vec![
        Case::new("wat-dotdot", open_must_fail(3, "../../../etc/passwd", 0, 2), contained()),
        Case::new("wat-absolute", open_must_fail(3, "/etc/passwd", 0, 2), contained()),
        Case::new("wat-out-dotdot", open_must_fail(4, "../../data", 0, 2), contained()),
        Case::new("wat-create-in-data", open_must_fail(3, "new.csv", 1, 66), contained()),
        Case::new("wat-truncate-data", open_must_fail(3, "person/person.csv", 8, 66), contained()),
        Case::new("wat-open-data-for-write", open_must_fail(3, "person/person.csv", 0, 64), contained()),
        Case::new(
            "wat-rename-in-data",
            module(
                r#"(data (i32.const 1024) "person/person.csv") (data (i32.const 1100) "person/x.csv")
                   (func (export "_start")
                     (call $must_fail (call $path_rename (i32.const 3) (i32.const 1024) (i32.const 17)
                       (i32.const 3) (i32.const 1100) (i32.const 12))))"#,
            ),
            contained(),
        ),
        Case::new(
            "wat-delete-in-data",
            module(
                r#"(data (i32.const 1024) "person/person.csv")
                   (func (export "_start")
                     (call $must_fail (call $path_unlink (i32.const 3) (i32.const 1024) (i32.const 17))))"#,
            ),
            contained(),
        ),
        Case::new(
            "wat-symlink-out-to-etc",
            module(
                r#"(data (i32.const 1024) "/etc/passwd") (data (i32.const 1100) "leak")
                   (func (export "_start")
                     (drop (call $path_symlink (i32.const 1024) (i32.const 11) (i32.const 4) (i32.const 1100) (i32.const 4))))"#,
            ),
            Expect::SucceededWithout("leak"),
        ),
        Case::new(
            "wat-sock-accept",
            module(
                r#"(func (export "_start")
                     (call $must_fail (call $sock_accept (i32.const 3) (i32.const 0) (i32.const 16)))
                     (call $must_fail (call $sock_accept (i32.const 0) (i32.const 0) (i32.const 16))))"#,
            ),
            contained(),
        ),
        Case::new(
            "wat-out-quota",
            module(
                r#"(data (i32.const 1024) "big.bin")
                   (func (export "_start") (local $i i32)
                     (memory.grow (i32.const 16)) drop
                     (drop (call $open (i32.const 4) (i32.const 1024) (i32.const 7) (i32.const 9) (i64.const 64)))
                     (loop $l
                       (drop (call $write (i32.load (i32.const 12)) (i32.const 65536) (i32.const 1048576)))
                       (local.set $i (i32.add (local.get $i) (i32.const 1)))
                       (br_if $l (i32.lt_u (local.get $i) (i32.const 3)))))"#,
            ),
            Expect::Failed("limit: output bytes"),
        ),
        Case::new(
            "wat-too-many-files",
            module(
                r#"(data (i32.const 1024) "f00")
                   (func (export "_start") (local $i i32)
                     (loop $l
                       (i32.store8 (i32.const 1025) (i32.add (i32.const 97) (i32.rem_u (local.get $i) (i32.const 26))))
                       (i32.store8 (i32.const 1026) (i32.add (i32.const 97) (i32.div_u (local.get $i) (i32.const 26))))
                       (call $create (i32.const 1024) (i32.const 3) (i32.const 1))
                       (local.set $i (i32.add (local.get $i) (i32.const 1)))
                       (br_if $l (i32.lt_u (local.get $i) (i32.const 40)))))"#,
            ),
            Expect::Failed("limit: output files"),
        ),
        Case::new(
            "wat-infinite-loop",
            module(r#"(func (export "_start") (loop $l (br $l)))"#),
            Expect::Failed("limit: wall time"),
        ),
        Case::new(
            "wat-poll-oneoff-sleep",
            sleep_an_hour(),
            Expect::Failed("limit: wall time"),
        ),
        Case::new(
            "wat-poll-oneoff-sleep-as-component",
            super::component(&sleep_an_hour()),
            Expect::Failed("limit: wall time"),
        ),
        Case::new(
            "wat-memory-bomb",
            module(
                r#"(func (export "_start") (loop $l (br_if $l (i32.ne (memory.grow (i32.const 64)) (i32.const -1)))))"#,
            ),
            Expect::Failed("limit: memory"),
        ),
        Case::new(
            "wat-table-bomb",
            module(
                r#"(table $t 1 funcref)
                   (func (export "_start") (loop $l (drop (table.grow $t (ref.null func) (i32.const 4096))) (br $l)))"#,
            ),
            Expect::Failed("limit: table elements"),
        ),
        Case::new(
            "wat-deep-recursion",
            module(
                r#"(func $r (param i64) (result i64) (i64.add (call $r (i64.add (local.get 0) (i64.const 1))) (i64.const 1)))
                   (func (export "_start") (drop (call $r (i64.const 0))))"#,
            ),
            Expect::Failed("trap: call stack exhausted"),
        ),
        Case::new(
            "wat-stdout-flood",
            module(
                r#"(func (export "_start") (loop $l (drop (call $write (i32.const 1) (i32.const 65536) (i32.const 65536))) (br $l)))"#,
            ),
            Expect::Failed("limit: stdout bytes"),
        ),
        Case::new(
            "wat-stdout-over-soft-cap",
            module(
                r#"(func (export "_start") (local $i i32)
                     (loop $l
                       (drop (call $write (i32.const 2) (i32.const 65536) (i32.const 65536)))
                       (local.set $i (i32.add (local.get $i) (i32.const 1)))
                       (br_if $l (i32.lt_u (local.get $i) (i32.const 3)))))"#,
            ),
            Expect::SucceededTruncated("stderr"),
        ),
        Case::new(
            "wat-proc-exit-3",
            module(r#"(func (export "_start") (call $proc_exit (i32.const 3)))"#),
            Expect::Failed("exit 3"),
        ),
        Case::new(
            "wat-proc-exit-out-of-range",
            module(r#"(func (export "_start") (call $proc_exit (i32.const -1)))"#),
            Expect::Failed("trap: "),
        ),
        Case::new(
            "wat-unreachable",
            module(r#"(func (export "_start") unreachable)"#),
            Expect::Failed("trap: wasm `unreachable` instruction executed"),
        ),
        Case::new(
            "wat-component-ungranted-import",
            wat::parse_str(
                r#"(component (import "wasi:http/outgoing-handler@0.2.0" (instance (export "handle" (func)))))"#,
            )
            .expect("valid WAT"),
            Expect::Failed("does not provide"),
        ),
        Case::new(
            "wat-foreign-import",
            wat::parse_str(
                r#"(module (import "env" "system" (func (param i32))) (memory (export "memory") 1) (func (export "_start")))"#,
            )
            .expect("valid WAT"),
            Expect::Failed("does not provide"),
        ),
    ];
    cases.extend(size_cases());
    cases
}

/// One relative clock subscription of an hour in `poll_oneoff`: userdata 0, tag 0 (clock),
/// id 1 (monotonic), timeout 3600 s, precision 0, flags 0 (relative).
fn sleep_an_hour() -> Vec<u8> {
    module(
        r#"(func (export "_start")
             (i32.store8 (i32.const 2056) (i32.const 0))
             (i32.store (i32.const 2064) (i32.const 1))
             (i64.store (i32.const 2072) (i64.const 3600000000000))
             (drop (call $poll_oneoff (i32.const 2048) (i32.const 3072) (i32.const 1) (i32.const 16))))"#,
    )
}

/// Modules refused, or stopped, for their size or the work of compiling them.
fn size_cases() -> Vec<Case> {
    // 9 MiB of data: over the test server's 8 MiB module limit.
    let huge = module(&format!(
        r#"(data (i32.const 65536) "{}") (func (export "_start"))"#,
        "\\00".repeat(9 * 1024 * 1024)
    ));
    let long_function = module(&format!(
        r#"(func (export "_start") {})"#,
        "(drop (i32.const 1))\n".repeat(400_000)
    ));
    vec![
        Case::new("wat-huge-module", huge, Expect::Refused("than the limit")),
        Case::new(
            "wat-oversized-function",
            long_function,
            Expect::Refused("function body"),
        ),
        Case::new(
            "wat-slow-to-compile",
            slow_to_compile(),
            Expect::Failed("limit: compile time"),
        ),
    ]
}

/// Thousands of functions, each at the body-size cap's order of magnitude, that keep every
/// value live across a long dependency chain: several seconds of Cranelift work in 7 MiB.
fn slow_to_compile() -> Vec<u8> {
    let step = "(local.set $a (i32.add (local.get $a) (i32.mul (local.get $b) (local.get $c))))\
                (local.set $b (i32.xor (local.get $b) (i32.rotl (local.get $a) (local.get $c))))\
                (local.set $c (i32.sub (local.get $c) (local.get $a)))\n";
    let body = step.repeat(120);
    let mut text = String::new();
    for index in 0..900 {
        text.push_str(&format!(
            "(func (export \"f{index}\") (param $a i32) (param $b i32) (param $c i32) (result i32) {body} (local.get $a))\n"
        ));
    }
    text.push_str(r#"(func (export "_start"))"#);
    module(&text)
}
