//! The same module on the same data with the same arguments and seed gives byte-identical
//! results, randomness included.

use enclave_sandbox::{Outcome, RunOutput};

use crate::support::{component, job, output, run, wasm};

/// Writes 64 random bytes and the first 14 bytes of /data/x.csv to /out/r.bin and stdout,
/// and its arguments to stdout.
fn random_job() -> Vec<u8> {
    wasm(
        r#"
      (data (i32.const 1024) "r.bin")
      (data (i32.const 1040) "x.csv")
      (func (export "_start") (local $fd i32) (local $argc i32) (local $size i32)
        (drop (call $random_get (i32.const 4096) (i32.const 64)))
        (local.set $fd (call $open (i32.const 3) (i32.const 1040) (i32.const 5) (i32.const 0) (i64.const 2)))
        (drop (call $read (local.get $fd) (i32.const 4160) (i32.const 14)))
        (drop (call $create (i32.const 4) (i32.const 1024) (i32.const 5) (i32.const 4096) (i32.const 78)))
        (drop (call $write (i32.const 1) (i32.const 4096) (i32.const 78)))
        (drop (call $args_sizes_get (i32.const 16) (i32.const 20)))
        (drop (call $args_get (i32.const 8192) (i32.const 12288)))
        (drop (call $write (i32.const 1) (i32.const 12288) (i32.load (i32.const 20)))))"#,
    )
}

fn twice(module: &[u8], seeds: [[u8; 32]; 2]) -> [RunOutput; 2] {
    seeds.map(|seed| {
        let (mut spec, _root) = job(module.to_vec());
        spec.seed = seed;
        spec.args = vec!["--table".into(), "person".into()];
        let result = run(spec);
        assert_eq!(result.outcome, Outcome::Exited(0), "{result:?}");
        let mut result = result;
        // Host paths differ per run; contents are compared through `output`.
        let bytes = output(&result, "r.bin");
        for file in &mut result.outputs {
            file.host_path = std::path::PathBuf::from(format!("{} bytes", bytes.len()));
        }
        result.usage = Default::default();
        result
    })
}

#[test]
fn reruns_are_byte_identical_and_the_seed_decides_randomness() {
    for module in [random_job(), component(&random_job())] {
        let [first, second] = twice(&module, [[1; 32], [1; 32]]);
        assert_eq!(first, second);
        assert_eq!(&first.stdout[64..78], b"id,count\n1,10\n");
        assert!(first.stdout.ends_with(b"job\0--table\0person\0"));

        let [one, other] = twice(&module, [[1; 32], [2; 32]]);
        assert_ne!(one.stdout[..64], other.stdout[..64]);
        assert_eq!(one.stdout[64..], other.stdout[64..]);
        assert_ne!(one.outputs[0].sha256, other.outputs[0].sha256);
    }
}
