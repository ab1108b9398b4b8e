//! The fuzz targets of `fuzz/` on stable Rust: every committed seed of
//! `fuzz/corpus/<target>/`, then many deterministic mutations of the seeds (byte flips,
//! inserted delimiters, cuts, duplications, splices between seeds, numbers swapped for edge
//! values), each fed to the same target body libFuzzer runs (`fuzz/src/targets.rs`).
//!
//! A panic or a broken invariant fails the test and proptest shrinks it to a small input,
//! printed as bytes; save it under `fuzz/corpus/<target>/` as a regression seed.
//!
//! Reading the corpus from disk is the test harness's doing, not the policy library's: the
//! library stays free of I/O (`policy/clippy.toml`).
#![allow(
    clippy::expect_used,
    reason = "a test harness: a failed read or a broken invariant is the test failing"
)]

#[path = "../../fuzz/src/targets.rs"]
#[allow(
    unreachable_pub,
    reason = "the same file is the public API of the enclave-fuzz crate"
)]
mod targets;

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Mutated inputs per target. Fixed, with a fixed seed, so the test is hermetic; raise it
/// locally to search longer.
const CASES: u32 = 1500;

#[test]
fn manifest_seeds_and_mutations_keep_the_contract() {
    run("manifest", targets::manifest);
}

#[test]
fn table_seeds_and_mutations_keep_the_contract() {
    run("tables", targets::tables);
}

#[test]
fn output_bundle_seeds_and_mutations_keep_the_contract() {
    run("outputs", targets::outputs);
}

#[test]
fn rules_seeds_and_mutations_keep_the_contract() {
    run("rules", targets::rules);
}

/// The bundle format the `outputs` corpus is written in.
#[test]
fn bundle_splits_on_header_lines() {
    let files = targets::bundle(b"ignored\n==> a.csv <==\nx,n\n==> b.txt <==\nhi\n==> e <==\n");
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, ["a.csv", "b.txt", "e"]);
    assert_eq!(files["a.csv"], b"x,n\n");
    assert_eq!(files["b.txt"], b"hi\n");
    assert!(files["e"].is_empty());
}

/// Every seed must be non-empty and the corpus of each target must hold a few, or the
/// mutations below would search nothing.
fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut seeds: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("{}: {error}", folder.display()))
        .map(|entry| {
            let path = entry.expect("corpus entry").path();
            let bytes = std::fs::read(&path).expect("corpus file");
            (path, bytes)
        })
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 3, "{}: fewer than 3 seeds", folder.display());
    seeds
}

fn run(target: &str, body: fn(&[u8])) {
    let seeds = seeds(target);
    for (path, bytes) in &seeds {
        let result = std::panic::catch_unwind(|| body(bytes));
        assert!(result.is_ok(), "seed {} broke the contract", path.display());
    }
    let inputs: Vec<Vec<u8>> = seeds.into_iter().map(|(_, bytes)| bytes).collect();
    let strategy = mutated(inputs);
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_for(target));
    let mut runner = TestRunner::new_with_rng(config, rng);
    let outcome = runner.run(&strategy, |input| {
        body(&input);
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("target {target}: {failure}");
    }
}

/// A fixed 32-byte seed per target.
fn seed_for(target: &str) -> [u8; 32] {
    let mut seed = [0x5d; 32];
    for (slot, byte) in seed.iter_mut().zip(target.bytes()) {
        *slot ^= byte;
    }
    seed
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip { at: usize, bit: u8 },
    Insert { at: usize, bytes: &'static [u8] },
    Delete { at: usize, len: usize },
    Duplicate { at: usize, len: usize },
    Splice { from: usize, at: usize, len: usize },
    Number { nth: usize, to: &'static str },
    Truncate { at: usize },
}

/// Bytes that change how a CSV, JSON or TOML parser reads what follows.
const DELIMITERS: &[&[u8]] = &[
    b",",
    b"\n",
    b"\r\n",
    b"\"",
    b"\r",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b"=",
    b"\xff",
    b"\x00",
    b"\xc3",
    b"-",
    b"Total",
    b"\"\"",
    b",,",
    b"\n\n",
    b"==> x.csv <==\n",
];

/// Numbers at the edges of every rule (thresholds 8 and 10, zeros, negatives, overflow,
/// non-numbers).
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "7",
    "8",
    "9",
    "10",
    "11",
    "-1",
    "-0",
    "0.5",
    "1e308",
    "-1e308",
    "1e-320",
    "NaN",
    "inf",
    "-inf",
    "18446744073709551616",
    "9223372036854775808",
    "",
    "x",
    "4294967296",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (any::<usize>(), prop::sample::select(DELIMITERS))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), 1usize..16).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
        (any::<usize>(), any::<usize>(), 1usize..128)
            .prop_map(|(from, at, len)| Mutation::Splice { from, at, len }),
        (any::<usize>(), prop::sample::select(NUMBERS))
            .prop_map(|(nth, to)| Mutation::Number { nth, to }),
        (any::<usize>(), prop::sample::select(NUMBERS))
            .prop_map(|(nth, to)| Mutation::Number { nth, to }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

/// A seed with 1 to 6 mutations applied.
fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let count = seeds.len();
    (0..count, proptest::collection::vec(mutation(), 1..6)).prop_map(move |(index, mutations)| {
        let mut bytes = seeds[index].clone();
        for mutation in mutations {
            apply(&mut bytes, &mutation, &seeds);
        }
        bytes
    })
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation, seeds: &[Vec<u8>]) {
    let at = |position: usize, len: usize| if len == 0 { 0 } else { position % (len + 1) };
    match *mutation {
        Mutation::Flip { at: position, bit } => {
            if !bytes.is_empty() {
                let index = position % bytes.len();
                bytes[index] ^= 1 << bit;
            }
        }
        Mutation::Insert {
            at: position,
            bytes: inserted,
        } => {
            let index = at(position, bytes.len());
            bytes.splice(index..index, inserted.iter().copied());
        }
        Mutation::Delete { at: position, len } => {
            let start = at(position, bytes.len());
            let end = (start + len).min(bytes.len());
            bytes.drain(start..end);
        }
        Mutation::Duplicate { at: position, len } => {
            let start = at(position, bytes.len());
            let end = (start + len).min(bytes.len());
            let copy = bytes[start..end].to_vec();
            bytes.splice(end..end, copy);
        }
        Mutation::Splice {
            from,
            at: position,
            len,
        } => {
            let other = &seeds[from % seeds.len()];
            let start = at(position, other.len());
            let end = (start + len).min(other.len());
            let index = at(position.rotate_left(17), bytes.len());
            bytes.splice(index..index, other[start..end].iter().copied());
        }
        Mutation::Number { nth, to } => {
            let runs = digit_runs(bytes);
            if !runs.is_empty() {
                let (start, end) = runs[nth % runs.len()];
                bytes.splice(start..end, to.bytes());
            }
        }
        Mutation::Truncate { at: position } => {
            let index = at(position, bytes.len());
            bytes.truncate(index);
        }
    }
}

/// Byte ranges of runs of ASCII digits.
fn digit_runs(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (index, byte) in bytes.iter().enumerate() {
        match (byte.is_ascii_digit(), start) {
            (true, None) => start = Some(index),
            (false, Some(first)) => {
                runs.push((first, index));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(first) = start {
        runs.push((first, bytes.len()));
    }
    runs
}
