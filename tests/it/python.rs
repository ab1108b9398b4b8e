//! Python jobs end to end: a plain `.py` script submitted over the real SSH door runs in the
//! installation's Python runner component with the same sandbox as any other job. The
//! runner is built by `sdk/python/build-runner.sh` (componentize-py from PyPI, cached under
//! `/var/tmp/enclave-python`) unless `ENCLAVE_PYTHON_RUNNER` names a built one.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{Server, Stdin, assert_refused, audited, repo_root, text};

/// Counts persons by sex with the SDK, and records what the job could see of its
/// environment and clocks in a second output. (Randomness is seeded from the job id, so it
/// differs between two submissions; the sandbox's own tests rerun one job id.)
const ANALYSIS: &str = r#"
import csv, datetime, json, os, sys, time
from enclave_sdk import FrequencyTable, Outputs

table = FrequencyTable("persons_by_sex.csv", [("sex", ["1", "2"])], count="n")
with open("/data/person/person.csv", newline="", encoding="utf-8") as source:
    for row in csv.DictReader(source):
        table.add(row["gender_source_value"])
out = Outputs()
out.write(table)
with open("/out/probe.json", "w") as probe:
    json.dump({
        "env": sorted(os.environ),
        "argv": sys.argv[1:],
        "time": time.time(),
        "now": datetime.datetime.now().isoformat(),
    }, probe)
try:
    open("/job/planted.py", "w")
    job_write = "allowed"
except OSError as error:
    job_write = type(error).__name__
with open("/out/probe.json", "a") as probe:
    probe.write("\n" + json.dumps({"job_write": job_write}))
out.declare("probe.json", "text")
out.write_manifest()
print("done")
"#;

/// The runner component, built once per test run (or taken from `ENCLAVE_PYTHON_RUNNER`).
fn python_runner() -> PathBuf {
    static RUNNER: OnceLock<PathBuf> = OnceLock::new();
    RUNNER
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("ENCLAVE_PYTHON_RUNNER") {
                return PathBuf::from(path);
            }
            let out = std::env::var_os("ENCLAVE_PYTHON_CACHE")
                .map_or_else(|| PathBuf::from("/var/tmp/enclave-python"), PathBuf::from)
                .join("runner");
            let output = Command::new(repo_root().join("sdk/python/build-runner.sh"))
                .arg(&out)
                .output()
                .expect("run sdk/python/build-runner.sh");
            assert!(
                output.status.success(),
                "building the Python runner failed: {}{}",
                text(&output.stdout),
                text(&output.stderr)
            );
            out.join("python-runner.wasm")
        })
        .clone()
}

/// A demo installation with Python jobs enabled, a short wall time and a small script cap.
fn python_server() -> Server {
    let runner = python_runner();
    let mut server = Server::setup_only();
    let config = server.path().join("enclave.toml");
    let text = without_python(&std::fs::read_to_string(&config).expect("read enclave.toml"));
    let text = text.replace("wall_time_seconds = 60", "wall_time_seconds = 5")
        + &format!(
            "\n[python]\nrunner = {:?}\nscript_kib = 64\n",
            runner.display().to_string()
        );
    std::fs::write(&config, text).expect("write enclave.toml");
    seed_compiled_cache(&server);
    server.serve();
    server
}

/// `enclave.toml` without its `[python]` section: `enclave demo` writes one when the examples
/// folder holds a runner (after `infra/dev/demo.sh`), and the tests choose their own.
fn without_python(config: &str) -> String {
    let Some(start) = config.find("\n[python]\n") else {
        return config.to_owned();
    };
    let rest = &config[start + 1..];
    let end = rest[1..]
        .find("\n[")
        .map_or(config.len(), |at| start + 1 + at + 2);
    format!("{}{}", &config[..start + 1], &config[end..])
}

/// Compiled code shared between test installations (they have the same engine
/// configuration), so only the first one compiles the runner. Entries are verified by the
/// gateway like any other: a stale or damaged one is discarded and recompiled.
fn shared_compiled_cache() -> PathBuf {
    std::env::var_os("ENCLAVE_PYTHON_CACHE")
        .map_or_else(|| PathBuf::from("/var/tmp/enclave-python"), PathBuf::from)
        .join("compiled-tests")
}

fn seed_compiled_cache(server: &Server) {
    let target = server.path().join("compiled");
    std::fs::create_dir_all(&target).expect("compiled dir");
    for entry in std::fs::read_dir(shared_compiled_cache())
        .into_iter()
        .flatten()
    {
        let path = entry.expect("entry").path();
        if let Some(name) = path
            .file_name()
            .filter(|n| !n.to_string_lossy().starts_with('.') && path.is_file())
        {
            std::fs::copy(&path, target.join(name)).expect("seed compiled cache");
        }
    }
}

fn save_compiled_cache(server: &Server) {
    let shared = shared_compiled_cache();
    std::fs::create_dir_all(&shared).expect("shared compiled dir");
    for entry in std::fs::read_dir(server.path().join("compiled")).expect("compiled dir") {
        let path = entry.expect("entry").path();
        let Some(name) = path.file_name() else {
            continue;
        };
        if name.to_string_lossy().starts_with('.') || shared.join(name).exists() {
            continue;
        }
        // Copy then rename: a concurrent reader never sees half a file.
        let temp = shared.join(format!(
            ".{}.{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        std::fs::copy(&path, &temp).expect("save compiled cache");
        std::fs::rename(&temp, shared.join(name)).expect("save compiled cache");
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn quarantined(server: &Server, status: &Value, name: &str) -> Vec<u8> {
    let output = status["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no output {name} in {status}"));
    let sha = output["sha256"].as_str().expect("sha256");
    std::fs::read(server.path().join("quarantine").join(sha)).expect("quarantined file")
}

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

/// Persons per `gender_source_value`, read from the installation's dataset by the test.
fn expected_counts(server: &Server) -> BTreeMap<String, u64> {
    let csv = std::fs::read_to_string(server.path().join("datasets/claims-demo/person/person.csv"))
        .expect("person.csv");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let column = header
        .iter()
        .position(|h| *h == "gender_source_value")
        .expect("gender column");
    let mut counts = BTreeMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let sex = line.split(',').nth(column).expect("field").to_owned();
        *counts.entry(sex).or_insert(0) += 1;
    }
    counts
}

#[test]
fn python_scripts_run_over_ssh_deterministically_within_the_sandbox() {
    let server = python_server();
    let script = ANALYSIS.as_bytes();
    let first = server.submit(Stdin::Bytes(script), &["--python", "--", "2020"]);
    let second = server.submit(Stdin::Bytes(script), &["--python", "--", "2020"]);
    let first = server.wait_finished(&first);
    let second = server.wait_finished(&second);
    for status in [&first, &second] {
        assert_eq!(status["state"], "succeeded", "{status}");
        assert_eq!(status["reason"], "exit 0");
        assert_eq!(status["language"], "python");
        assert_eq!(status["script_sha256"], sha256_hex(script).as_str());
        let runner = std::fs::read(python_runner()).expect("runner");
        assert_eq!(status["module_sha256"], sha256_hex(&runner).as_str());
        assert_eq!(
            status["data_access"][0]["path"], "/data/person/person.csv",
            "{status}"
        );
    }
    // Same script, same dataset, same arguments: byte-identical outputs, stdout included.
    assert_eq!(output_hashes(&first), output_hashes(&second));

    // The table is the dataset's real counts, with the SDK's Total margin.
    let expected = expected_counts(&server);
    let table = text(&quarantined(&server, &first, "persons_by_sex.csv"));
    let total: u64 = expected.values().sum();
    let mut wanted = String::from("sex,n\n");
    for sex in ["1", "2"] {
        wanted.push_str(&format!(
            "{sex},{}\n",
            expected.get(sex).copied().unwrap_or(0)
        ));
    }
    wanted.push_str(&format!("Total,{total}\n"));
    assert_eq!(table.replace("\r\n", "\n"), wanted);
    assert_eq!(text(&quarantined(&server, &first, "stdout")), "done\n");

    // Nothing of the host leaks: ENCLAVE_* only, frozen clock, arguments as given.
    let probe = text(&quarantined(&server, &first, "probe.json"));
    let (probe, job_write) = probe.split_once('\n').expect("two probe lines");
    let probe: Value = serde_json::from_str(probe).expect("probe");
    let job_write: Value = serde_json::from_str(job_write).expect("probe");
    // The script's own folder is read-only.
    assert_eq!(job_write["job_write"], "PermissionError");
    let env: Vec<&str> = probe["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|k| k.as_str().expect("key"))
        .collect();
    assert!(env.contains(&"ENCLAVE_JOB_ID"), "{env:?}");
    assert!(env.iter().all(|k| k.starts_with("ENCLAVE_")), "{env:?}");
    assert_eq!(probe["argv"], serde_json::json!(["2020"]));
    assert_eq!(probe["time"], 946_684_800.0);
    assert_eq!(probe["now"], "2000-01-01T00:00:00");

    // Provenance in the audit trail: both hashes with the submission.
    let events = server.audit_events();
    assert!(audited(&events, "job.submit", "ok", &sha256_hex(script)));
    assert!(audited(&events, "job.submit", "ok", "\"runner_sha256\""));

    // The runner is compiled by now (it ran): later installations start from its entry.
    save_compiled_cache(&server);

    // An endless loop is stopped by the wall-time limit like any other job.
    let looping = server.submit(Stdin::Bytes(b"while True:\n    pass\n"), &["--python"]);
    let looping = server.wait_finished(&looping);
    assert_eq!(looping["state"], "failed");
    assert_eq!(looping["reason"], "limit: wall time");

    // A memory bomb ends with the memory limit, not a host OOM.
    let bomb = server.submit(
        Stdin::Bytes(b"blocks = []\nwhile True:\n    blocks.append(bytearray(64 << 20))\n"),
        &["--python"],
    );
    let bomb = server.wait_finished(&bomb);
    assert_eq!(bomb["state"], "failed");
    assert_eq!(bomb["reason"], "limit: memory", "{bomb}");

    // A script that raises fails with its traceback in (quarantined) stderr.
    let raising = server.submit(Stdin::Bytes(b"raise ValueError('no')\n"), &["--python"]);
    let raising = server.wait_finished(&raising);
    assert_eq!(raising["state"], "failed");
    assert!(
        text(&quarantined(&server, &raising, "stderr")).contains("ValueError: no"),
        "{raising}"
    );

    // Refused at the door, audited: not UTF-8, too large, empty.
    let submit = |bytes: &[u8]| {
        server.ssh(
            "alice",
            &["submit", "--project", "diabetes-study", "--python"],
            Stdin::Bytes(bytes),
        )
    };
    assert_refused(&submit(b"print('\xff')\n"), 2, "script is not UTF-8 text");
    let large = vec![b'#'; 65 * 1024];
    assert_refused(&submit(&large), 2, "more than the limit of 65536 bytes");
    assert_refused(&submit(b""), 2, "empty script");
    let events = server.audit_events();
    assert!(audited(&events, "job.submit", "error", "not UTF-8"));
}

#[test]
fn python_jobs_are_refused_where_no_runner_is_configured() {
    let mut server = Server::setup_only();
    let config = server.path().join("enclave.toml");
    let text = without_python(&std::fs::read_to_string(&config).expect("read enclave.toml"));
    std::fs::write(&config, text).expect("write enclave.toml");
    server.serve();
    let output = server.ssh(
        "alice",
        &["submit", "--project", "diabetes-study", "--python"],
        Stdin::Bytes(b"print('hello')\n"),
    );
    assert_refused(
        &output,
        2,
        "Python jobs are not enabled on this installation",
    );
    let events = server.audit_events();
    assert!(audited(&events, "job.submit", "error", "not enabled"));
}

#[test]
fn run_local_runs_the_python_example_on_dummy_data_reproducibly() {
    let runner = python_runner();
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let enclave = |args: &[&str]| {
        Command::new(crate::support::enclave_bin())
            .args(args)
            .current_dir(root)
            .output()
            .expect("run enclave")
    };
    let made = enclave(&["generate-dataset", "--out", "real", "--patients", "100"]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let made = enclave(&[
        "dummy-data",
        "--from-dictionary",
        "real",
        "--out",
        "dummy",
        "--rows",
        "300",
    ]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let example = repo_root().join("sdk/examples/count_by_age.py");
    // Shared between runs of the suite: run-local's engine configuration differs from the
    // gateway's, so it has an entry of its own.
    let cache = shared_compiled_cache().with_file_name("compiled-run-local");
    let mut outputs = Vec::new();
    for out in ["out1", "out2"] {
        let output = enclave(&[
            "run-local",
            "--python",
            "--runner",
            runner.to_str().expect("utf-8 path"),
            "--compiled-cache",
            cache.to_str().expect("utf-8 path"),
            "--data",
            "dummy",
            "--out",
            out,
            example.to_str().expect("utf-8 path"),
            "--",
            "2020",
        ]);
        let report = text(&output.stdout);
        assert!(output.status.success(), "{report}{}", text(&output.stderr));
        assert!(report.contains("state:           succeeded"), "{report}");
        assert!(report.contains("/data/person/person.csv"), "{report}");
        let table = std::fs::read(root.join(out).join("count_by_age_sex.csv")).expect("table");
        let manifest = std::fs::read(root.join(out).join("manifest.json")).expect("manifest");
        assert!(
            text(&table).starts_with("age_band,sex,n"),
            "{}",
            text(&table)
        );
        outputs.push((table, manifest));
    }
    // The same script, data and arguments with the same (local) job id: identical bytes.
    assert_eq!(outputs[0], outputs[1]);

    // Without a runner, --python explains what is missing.
    let output = enclave(&[
        "run-local",
        "--python",
        "--data",
        "dummy",
        "--out",
        "out3",
        example.to_str().expect("utf-8 path"),
    ]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("--python needs the Python runner"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn the_python_section_is_removed_whole_from_a_config() {
    let with = "a = 1\n\n[python]\nrunner = \"x\"\n\n[limits]\nb = 2\n";
    assert_eq!(without_python(with), "a = 1\n\n[limits]\nb = 2\n");
    let last = "a = 1\n\n[python]\nrunner = \"x\"\n";
    assert_eq!(without_python(last), "a = 1\n\n");
    assert_eq!(without_python("a = 1\n"), "a = 1\n");
}
