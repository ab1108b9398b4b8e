//! Issue 3: the hostile-module corpus. Every module is submitted through the real SSH door
//! of a running gateway with tight limits, and each must end with its expected, named
//! outcome. Meanwhile the gateway keeps serving: a normal job submitted after the corpus
//! succeeds, and the dataset is byte for byte unchanged. The WAT modules are in
//! `hostile/cases.rs`; the C ones in `tests/fixtures/hostile/*.c`, built here with clang.

mod cases;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{Server, Stdin, audited, repo_root, text};

/// One hostile module and what must become of it.
pub(crate) struct Case {
    name: String,
    module: Vec<u8>,
    args: Vec<&'static str>,
    expect: Expect,
}

impl Case {
    fn new(name: &str, module: Vec<u8>, expect: Expect) -> Case {
        Case {
            name: name.to_owned(),
            module,
            args: Vec::new(),
            expect,
        }
    }
}

/// The outcome a case must have.
pub(crate) enum Expect {
    /// The job succeeded (`exit 0`): the module found its attack contained.
    Succeeded,
    /// Succeeded, and no accepted output has this name.
    SucceededWithout(&'static str),
    /// Succeeded, with this stream's capture flagged truncated.
    SucceededTruncated(&'static str),
    /// The job failed with a reason containing this text.
    Failed(&'static str),
    /// `submit` itself refused the module (exit 2) with this text on stderr.
    Refused(&'static str),
}

#[test]
fn hostile_modules_are_contained_and_the_gateway_keeps_serving() {
    let server = tight_server();
    let dataset = server.path().join("datasets");
    let before = hash_tree(&dataset);
    assert!(before.len() >= 6, "the demo dataset has tables: {before:?}");

    let mut corpus = cases::cases();
    corpus.extend(c_cases());
    assert!(corpus.len() >= 25, "the corpus has {} cases", corpus.len());

    // Compile the normal job once up front (the module cache keeps it), so the
    // check at the end does not depend on compile time on a loaded machine.
    let warm = server.submit(Stdin::File(&server.job_module("count_by_age.wasm")), &[]);
    server.wait_finished(&warm);
    let mut submitted = Vec::new();
    for case in &corpus {
        let mut args = vec![
            "submit",
            "--project",
            "diabetes-study",
            "--name",
            &case.name,
        ];
        if !case.args.is_empty() {
            args.push("--");
            args.extend(&case.args);
        }
        let output = server.ssh("alice", &args, Stdin::Bytes(&case.module));
        if let Expect::Refused(fragment) = case.expect {
            assert_eq!(output.status.code(), Some(2), "{}: {output:?}", case.name);
            assert!(
                text(&output.stderr).contains(fragment),
                "{}: {output:?}",
                case.name
            );
            continue;
        }
        assert!(output.status.success(), "{}: {output:?}", case.name);
        let id = text(&output.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        submitted.push((case, id));
    }
    // Submitted behind the whole corpus: it runs only if the workers survived every case.
    let normal = server.submit(Stdin::File(&server.job_module("count_by_age.wasm")), &[]);

    for (case, id) in &submitted {
        check(&server, case, &server.wait_finished(id));
    }
    let normal = server.wait_finished(&normal);
    assert_eq!(normal["state"], "succeeded", "{normal}");
    check_data_access(&server, &normal);

    assert_eq!(hash_tree(&dataset), before, "the dataset changed");
    let verify = server.enclave(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify.stderr));
}

fn check(server: &Server, case: &Case, status: &Value) {
    let name = &case.name;
    let state = status["state"].as_str().unwrap_or_default();
    let reason = status["reason"].as_str().unwrap_or_default();
    let outputs = status["outputs"].as_array().cloned().unwrap_or_default();
    let has_output = |wanted: &str| outputs.iter().any(|o| o["name"] == wanted);
    match case.expect {
        Expect::Succeeded => assert_eq!(state, "succeeded", "{name}: {status}"),
        Expect::SucceededWithout(file) => {
            assert_eq!(state, "succeeded", "{name}: {status}");
            assert!(
                !has_output(file),
                "{name}: {file} became an output: {status}"
            );
        }
        Expect::SucceededTruncated(stream) => {
            assert_eq!(state, "succeeded", "{name}: {status}");
            let capture = outputs.iter().find(|o| o["name"] == stream);
            assert_eq!(
                capture.map(|o| &o["truncated"]),
                Some(&Value::Bool(true)),
                "{name}"
            );
        }
        Expect::Failed(fragment) => {
            assert_eq!(state, "failed", "{name}: {status}");
            assert!(
                reason.contains(fragment),
                "{name}: {reason:?} lacks {fragment:?}"
            );
        }
        Expect::Refused(_) => unreachable!("refused cases are never submitted"),
    }
    if name == "c-plant-links" {
        assert!(has_output("ok.csv"), "{status}");
        let names: Vec<&str> = outputs.iter().filter_map(|o| o["name"].as_str()).collect();
        assert!(
            names
                .iter()
                .all(|n| ["ok.csv", "stdout", "stderr"].contains(n)),
            "only the plain file may be an output: {names:?}"
        );
        let events = server.audit_events();
        assert!(
            audited(&events, "job.finish", "ok", "symbolic link"),
            "links are recorded"
        );
    }
}

/// The normal job read the person table: the record shows it in `status` and the audit.
fn check_data_access(server: &Server, status: &Value) {
    let files = status["data_access"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let person = files
        .iter()
        .find(|f| {
            f["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/data/person/"))
        })
        .unwrap_or_else(|| panic!("no person file in the data-access record: {status}"));
    assert!(
        person["bytes_read"].as_u64().unwrap_or(0) > 1000,
        "{person}"
    );
    assert_eq!(status["usage"]["data_bytes_read"], person["bytes_read"]);
    let id = status["id"].as_str().unwrap_or_default();
    let plain = server.ssh("alice", &["status", id], Stdin::Null);
    assert!(
        text(&plain.stdout).contains("data read:"),
        "{}",
        text(&plain.stdout)
    );
    let events = server.audit_events();
    assert!(
        events.iter().any(|e| e["action"] == "job.finish"
            && e["target"] == id
            && e["details"]
                .as_str()
                .unwrap_or_default()
                .contains("/data/person/")),
        "the job.finish event records the data access"
    );
}

/// A demo installation with limits small enough for the corpus to finish quickly.
fn tight_server() -> Server {
    let mut server = Server::setup_only();
    let config = server.path().join("enclave.toml");
    let text = std::fs::read_to_string(&config).expect("read enclave.toml");
    let text = text
        .replace("wall_time_seconds = 60", "wall_time_seconds = 3")
        .replace("memory_mib = 256", "memory_mib = 64")
        .replace("stdout_kib = 1024", "stdout_kib = 64")
        .replace("stderr_kib = 1024", "stderr_kib = 64")
        .replace("out_mib = 64", "out_mib = 1")
        .replace("out_files = 64", "out_files = 16")
        .replace(
            "module_mib = 64",
            "module_mib = 8\ncompile_seconds = 1\nstdio_hard_mib = 1\ntable_elements = 20000",
        );
    std::fs::write(&config, text).expect("write enclave.toml");
    server.serve();
    server
}

/// The C cases, built from `tests/fixtures/hostile` with clang for wasm32-wasi.
fn c_cases() -> Vec<Case> {
    let build = |name: &str| build_c(&repo_root().join("tests/fixtures/hostile"), name);
    let contained = || Expect::Succeeded;
    let escape = build("escape");
    let mut probe = Case::new(
        "c-probe-env-args-clock-sockets",
        build("probe_env"),
        contained(),
    );
    probe.args = vec!["--probe", "xy"];
    vec![
        Case::new("c-escape", escape.clone(), contained()),
        Case::new("c-escape-as-component", component(&escape), contained()),
        Case::new("c-write-data", build("write_data"), contained()),
        Case::new("c-plant-links", build("plant_links"), contained()),
        Case::new(
            "c-malloc-bomb",
            build("malloc_bomb"),
            Expect::Failed("limit: memory"),
        ),
        Case::new(
            "c-recursion",
            build("recursion"),
            Expect::Failed("trap: call stack exhausted"),
        ),
        probe,
    ]
}

fn build_c(dir: &Path, name: &str) -> Vec<u8> {
    let out = std::env::temp_dir().join(format!(
        "enclave-hostile-{}-{name}.wasm",
        std::process::id()
    ));
    let source: PathBuf = dir.join(format!("{name}.c"));
    let result = Command::new(std::env::var("CLANG").unwrap_or_else(|_| "clang".into()))
        .args(["--target=wasm32-wasi", "-O2", "-s", "-o"])
        .arg(&out)
        .arg(&source)
        .output()
        .expect("clang is needed for the hostile corpus: infra/dev/install-deps.sh installs it");
    assert!(
        result.status.success(),
        "clang {name}: {}",
        text(&result.stderr)
    );
    let bytes = std::fs::read(&out).expect("read built module");
    let _ = std::fs::remove_file(&out);
    bytes
}

/// A preview 1 module as a `wasi:cli/command` component (`wasm-tools component new --adapt`).
pub(crate) fn component(core: &[u8]) -> Vec<u8> {
    use wasi_preview1_component_adapter_provider::{
        WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
    };
    wit_component::ComponentEncoder::default()
        .module(core)
        .and_then(|encoder| {
            encoder.adapter(
                WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
                WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
            )
        })
        .and_then(|encoder| encoder.validate(true).encode())
        .expect("componentize")
}

/// SHA-256 of every file under `root`, by relative path.
fn hash_tree(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut hashes = BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dataset dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read dataset file");
                let relative = path.strip_prefix(root).expect("under root").to_owned();
                hashes.insert(relative, hex::encode(Sha256::digest(bytes)));
            }
        }
    }
    hashes
}
