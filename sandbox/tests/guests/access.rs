//! The data-access record: which `/data` files a job opened and how much it read.

use enclave_sandbox::{DataAccess, Outcome};

use crate::support::{job, run, wasm};

/// Opens /data/x.csv and reads it whole (14 bytes) plus 4 bytes again with pread; opens the
/// `person` directory, then `p.csv` through it, reading 3 bytes; opens /out (not data).
pub(crate) fn reader() -> Vec<u8> {
    wasm(
        r#"
      (data (i32.const 1024) "x.csv")
      (data (i32.const 1040) "person")
      (data (i32.const 1056) "p.csv")
      (data (i32.const 1072) "./person/../x.csv")
      (func (export "_start") (local $fd i32) (local $dir i32)
        (local.set $fd (call $open (i32.const 3) (i32.const 1024) (i32.const 5) (i32.const 0) (i64.const 2)))
        (drop (call $read (local.get $fd) (i32.const 4096) (i32.const 1000)))
        (i32.store (i32.const 0) (i32.const 4096))
        (i32.store (i32.const 4) (i32.const 4))
        (drop (call $fd_pread (local.get $fd) (i32.const 0) (i32.const 1) (i64.const 0) (i32.const 8)))
        (drop (call $fd_close (local.get $fd)))
        (local.set $dir (call $open (i32.const 3) (i32.const 1040) (i32.const 6) (i32.const 2) (i64.const 0)))
        (local.set $fd (call $open (local.get $dir) (i32.const 1056) (i32.const 5) (i32.const 0) (i64.const 2)))
        (drop (call $read (local.get $fd) (i32.const 4096) (i32.const 3)))
        (local.set $fd (call $open (i32.const 3) (i32.const 1072) (i32.const 17) (i32.const 0) (i64.const 2)))
        (if (i32.lt_s (local.get $fd) (i32.const 0)) (then (call $proc_exit (i32.const 9)))))"#,
    )
}

#[test]
fn opened_files_and_bytes_read_are_recorded() {
    let (spec, _root) = job(reader());
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
    assert_eq!(result.usage.data_bytes_read, 21);
}

#[test]
fn a_job_that_reads_nothing_has_an_empty_record() {
    let (spec, _root) = job(wasm(r#"(func (export "_start"))"#));
    let result = run(spec);
    assert!(result.data_access.is_empty());
    assert_eq!(result.usage.data_bytes_read, 0);
}
