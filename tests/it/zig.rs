//! Zig jobs end to end (issue 3, guest languages): `sdk/examples/zig/count_by_sex.zig` is
//! built here with PyPI `ziglang` (Zig's own `wasm32-wasi` target, no libc) and run through
//! `enclave run-local` and through the real SSH door. The toolchain is the venv that
//! `infra/dev/install-deps.sh` installs (`/var/tmp/enclave-zig/venv`, or `ENCLAVE_ZIG_VENV`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{Server, Stdin, enclave_bin, repo_root, text};

/// Builds the example with ziglang, or returns `None` (test skipped) when the toolchain is
/// not installed outside CI. Under CI a missing toolchain fails the test.
fn build_zig_example(dir: &Path) -> Option<PathBuf> {
    let venv = std::env::var_os("ENCLAVE_ZIG_VENV")
        .map_or_else(|| PathBuf::from("/var/tmp/enclave-zig/venv"), PathBuf::from);
    let python = venv.join("bin/python3");
    if !python.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "ziglang is not installed in {}: run infra/dev/install-deps.sh",
            venv.display()
        );
        eprintln!(
            "SKIPPED: ziglang is not installed in {} (run infra/dev/install-deps.sh)",
            venv.display()
        );
        return None;
    }
    let global_cache = std::env::var_os("ZIG_GLOBAL_CACHE_DIR").map_or_else(
        || PathBuf::from("/var/tmp/enclave-zig/cache"),
        PathBuf::from,
    );
    let source = repo_root().join("sdk/examples/zig/count_by_sex.zig");
    let module = dir.join("count_by_sex.wasm");
    let output = Command::new(&python)
        .args(["-m", "ziglang", "build-exe", "-target", "wasm32-wasi"])
        .args(["-O", "ReleaseSmall", "-fstrip"])
        .arg(&source)
        .arg(format!("-femit-bin={}", module.display()))
        .arg("--cache-dir")
        .arg(dir.join("zig-cache"))
        .env("ZIG_GLOBAL_CACHE_DIR", global_cache)
        .output()
        .expect("run python3 -m ziglang");
    assert!(
        output.status.success(),
        "zig build-exe failed: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let bytes = std::fs::read(&module).expect("built module");
    assert_eq!(&bytes[..4], b"\0asm", "not a WebAssembly module");
    Some(module)
}

/// The table the job must write, computed here from the dataset file itself.
fn expected_table(person_csv: &Path) -> String {
    let csv = std::fs::read_to_string(person_csv).expect("person.csv");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let column = header
        .iter()
        .position(|h| *h == "gender_source_value")
        .expect("gender column");
    let (mut male, mut female) = (0u64, 0u64);
    for line in lines.filter(|l| !l.is_empty()) {
        match line.split(',').nth(column).expect("field") {
            "1" => male += 1,
            "2" => female += 1,
            other => panic!("unexpected sex code {other:?}"),
        }
    }
    assert!(male > 0 && female > 0, "degenerate dataset");
    format!("sex,n\nM,{male}\nF,{female}\nTotal,{}\n", male + female)
}

const MANIFEST: &str = "{\"version\": 1, \"outputs\": [{\"file\": \"persons_by_sex.csv\", \
    \"kind\": \"frequency_table\", \"dimensions\": [\"sex\"], \"count\": \"n\"}]}\n";

fn output_hashes(status: &Value) -> BTreeMap<String, String> {
    status["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .map(|o| {
            (
                o["name"].as_str().expect("name").to_owned(),
                o["sha256"].as_str().expect("sha256").to_owned(),
            )
        })
        .collect()
}

#[test]
fn zig_job_built_with_ziglang_runs_locally_and_over_ssh_reproducibly() {
    let build = tempfile::tempdir().expect("temp dir");
    let Some(module) = build_zig_example(build.path()) else {
        return;
    };

    // run-local on a generated dataset, twice: exact table, identical bytes.
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let enclave = |args: &[&str]| {
        Command::new(enclave_bin())
            .args(args)
            .current_dir(root)
            .output()
            .expect("run enclave")
    };
    let made = enclave(&["generate-dataset", "--out", "real", "--patients", "200"]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let wanted = expected_table(&root.join("real/person/person.csv"));
    let mut runs = Vec::new();
    for out in ["out1", "out2"] {
        let run = enclave(&[
            "run-local",
            "--data",
            "real",
            "--out",
            out,
            module.to_str().expect("utf-8 path"),
        ]);
        let report = text(&run.stdout);
        assert!(run.status.success(), "{report}{}", text(&run.stderr));
        assert!(report.contains("state:           succeeded"), "{report}");
        assert!(report.contains("/data/person/person.csv"), "{report}");
        let table = std::fs::read(root.join(out).join("persons_by_sex.csv")).expect("table");
        let manifest = std::fs::read(root.join(out).join("manifest.json")).expect("manifest");
        assert_eq!(text(&table), wanted);
        assert_eq!(text(&manifest), MANIFEST);
        runs.push((table, manifest));
    }
    assert_eq!(runs[0], runs[1]);

    // The same module through the real SSH door on the demo installation's dataset.
    let server = Server::demo();
    let first = server.submit(Stdin::File(&module), &[]);
    let second = server.submit(Stdin::File(&module), &[]);
    let first = server.wait_finished(&first);
    let second = server.wait_finished(&second);
    let module_sha = hex::encode(Sha256::digest(std::fs::read(&module).expect("module")));
    for status in [&first, &second] {
        assert_eq!(status["state"], "succeeded", "{status}");
        assert_eq!(status["exit_code"], 0, "{status}");
        assert_eq!(status["module_sha256"], module_sha.as_str(), "{status}");
        assert_eq!(
            status["data_access"][0]["path"], "/data/person/person.csv",
            "{status}"
        );
    }
    // Same module, same dataset: byte-identical outputs, stdout and stderr included.
    let hashes = output_hashes(&first);
    assert_eq!(hashes, output_hashes(&second));
    let quarantined = |name: &str| {
        let sha = hashes
            .get(name)
            .unwrap_or_else(|| panic!("no {name}: {first}"));
        text(&std::fs::read(server.path().join("quarantine").join(sha)).expect("quarantined"))
    };
    let wanted = expected_table(&server.path().join("datasets/claims-demo/person/person.csv"));
    assert_eq!(quarantined("persons_by_sex.csv"), wanted);
    assert_eq!(quarantined("manifest.json"), MANIFEST);
    assert_eq!(quarantined("stdout"), "");
    assert_eq!(quarantined("stderr"), "");
}
