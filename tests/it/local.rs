//! Issue 3: `enclave dummy-data` and `enclave run-local`, the researcher's own-machine loop:
//! a same-schema synthetic dataset from the dictionaries alone, and a run with exactly the
//! gateway's sandbox and limits that prints state, reason, usage and data read and writes
//! the validated outputs.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{enclave_bin, examples_dir, text};

fn enclave(args: &[&str], dir: &Path) -> Output {
    Command::new(enclave_bin())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run enclave")
}

fn header(path: &Path) -> String {
    let csv = std::fs::read_to_string(path).expect("read csv");
    csv.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn dummy_data_has_the_schema_and_run_local_runs_a_job_on_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let made = enclave(
        &["generate-dataset", "--out", "real", "--patients", "100"],
        root,
    );
    assert!(made.status.success(), "{}", text(&made.stderr));

    for out in ["dummy", "again"] {
        let made = enclave(
            &[
                "dummy-data",
                "--from-dictionary",
                "real",
                "--out",
                out,
                "--rows",
                "300",
            ],
            root,
        );
        assert!(made.status.success(), "{}", text(&made.stderr));
    }
    let tables = [
        "person",
        "observation_period",
        "visit_occurrence",
        "condition_occurrence",
        "drug_exposure",
        "measurement",
    ];
    for table in tables {
        let csv = format!("{table}/{table}.csv");
        let dummy = root.join("dummy").join(&csv);
        assert_eq!(
            header(&dummy),
            header(&root.join("real").join(&csv)),
            "{table}"
        );
        let body = std::fs::read(&dummy).expect("read dummy csv");
        assert_eq!(body.iter().filter(|&&b| b == b'\n').count(), 301, "{table}");
        assert_eq!(
            body,
            std::fs::read(root.join("again").join(&csv)).expect("read"),
            "deterministic"
        );
        let dictionary =
            std::fs::read_to_string(root.join("dummy").join(table).join("dictionary.json"))
                .expect("dictionary copied");
        assert!(dictionary.contains("\"synthetic\""), "{dictionary}");
    }
    let refused = enclave(
        &["dummy-data", "--from-dictionary", "real", "--out", "dummy"],
        root,
    );
    assert!(!refused.status.success() && text(&refused.stderr).contains("not empty"));

    let module = examples_dir().join("count_by_age.wasm");
    let module = module.to_str().expect("utf-8 path");
    let run = enclave(
        &["run-local", "--data", "dummy", "--out", "out", module],
        root,
    );
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{stdout} {}", text(&run.stderr));
    assert!(stdout.contains("state:           succeeded"), "{stdout}");
    assert!(stdout.contains("reason:          exit 0"), "{stdout}");
    assert!(stdout.contains("/data/person/person.csv"), "{stdout}");
    assert!(stdout.contains("counted 300 patients"), "{stdout}");
    let table =
        std::fs::read_to_string(root.join("out/count_by_age_sex.csv")).expect("output written");
    assert!(table.starts_with("age_band,"), "{table}");
}

#[test]
fn run_local_applies_the_limits_file_and_reports_failure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir(root.join("data")).expect("mkdir");
    let looping = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))"#,
    )
    .expect("WAT");
    std::fs::write(root.join("loop.wasm"), looping).expect("write module");
    std::fs::write(
        root.join("limits.toml"),
        "[limits]\nwall_time_seconds = 1\n",
    )
    .expect("write limits");
    let run = enclave(
        &[
            "run-local",
            "--data",
            "data",
            "--out",
            "out",
            "--limits",
            "limits.toml",
            "loop.wasm",
            "--",
            "a",
        ],
        root,
    );
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{stdout} {}", text(&run.stderr));
    assert!(stdout.contains("state:           failed"), "{stdout}");
    assert!(
        stdout.contains("reason:          limit: wall time"),
        "{stdout}"
    );

    std::fs::write(root.join("bad.toml"), "[limits]\nwall_time_seconds = 0\n")
        .expect("write limits");
    let run = enclave(
        &[
            "run-local",
            "--data",
            "data",
            "--out",
            "out2",
            "--limits",
            "bad.toml",
            "loop.wasm",
        ],
        root,
    );
    assert!(!run.status.success());
    assert!(
        text(&run.stderr).contains("wall_time_seconds"),
        "{}",
        text(&run.stderr)
    );
}
