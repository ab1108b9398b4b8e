//! A real installation set up only with `enclave admin`, as an operator would.

use std::process::Command;

use crate::support::{Server, Stdin, assert_refused, audited, enclave_bin, examples_dir, text};

fn enclave(args: &[&str]) -> std::process::Output {
    Command::new(enclave_bin())
        .args(args)
        .output()
        .expect("run enclave")
}

#[track_caller]
fn ok(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "stdout: {} stderr: {}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

#[test]
fn an_operator_sets_up_users_projects_and_datasets_with_admin_commands() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().to_str().expect("utf-8").to_owned();
    // The shipped example config, pointed at a temporary state folder and free ports.
    let example = std::fs::read_to_string(crate::support::repo_root().join("infra/enclave.toml"))
        .expect("example config");
    let config_text = example
        .replace("/var/lib/enclave", &format!("{root}/state"))
        .replace("/etc/enclave/tls", &format!("{root}/tls"))
        .replace("0.0.0.0:2222", "127.0.0.1:0")
        .replace("0.0.0.0:8443", "127.0.0.1:0");
    let database_url = crate::support::fresh_database_url();
    let config_text = match &database_url {
        Some(url) => config_text.replace(
            "# database_url = \"sqlite:///var/lib/enclave/enclave.db\"",
            &format!("database_url = {url:?}"),
        ),
        None => config_text,
    };
    let config = format!("{root}/enclave.toml");
    std::fs::write(&config, config_text).expect("write config");
    std::fs::create_dir_all(format!("{root}/tls")).expect("tls dir");
    let cert = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ed25519",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args([
            "-keyout",
            &format!("{root}/tls/key.pem"),
            "-out",
            &format!("{root}/tls/cert.pem"),
        ])
        .output()
        .expect("openssl");
    assert!(cert.status.success(), "{}", text(&cert.stderr));

    assert!(ok(&enclave(&["migrate", "--config", &config])).contains("up to date"));
    ok(&enclave(&[
        "generate-dataset",
        "--out",
        &format!("{root}/data/ehr"),
        "--patients",
        "500",
        "--name",
        "ehr",
        "--version",
        "7",
    ]));
    let registered = ok(&enclave(&[
        "admin",
        "--config",
        &config,
        "dataset",
        "register",
        "ehr",
        "--path",
        &format!("{root}/data/ehr"),
        "--class",
        "pseudonymized",
    ]));
    assert!(registered.contains("version 7"), "{registered}");
    // Declaring the wrong class is refused.
    let wrong = enclave(&[
        "admin",
        "--config",
        &config,
        "dataset",
        "register",
        "ehr2",
        "--path",
        &format!("{root}/data/ehr"),
        "--class",
        "anonymized",
    ]);
    assert_refused(&wrong, 2, "class is pseudonymized");

    let key = format!("{root}/hana");
    ok(&Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f", &key])
        .output()
        .expect("ssh-keygen"));
    ok(&enclave(&[
        "admin",
        "--config",
        &config,
        "user",
        "add",
        "hana",
        "--role",
        "researcher",
        "--ssh-key",
        &format!("{key}.pub"),
    ]));
    let duplicate = enclave(&[
        "admin", "--config", &config, "user", "add", "hana", "--role", "checker",
    ]);
    assert_refused(&duplicate, 5, "already exists");
    let bad_preset = enclave(&[
        "admin",
        "--config",
        &config,
        "project",
        "create",
        "p1",
        "--organization",
        "Univ",
        "--expires",
        "2099-01-01",
        "--rules",
        "lax",
    ]);
    assert_refused(&bad_preset, 2, "unknown rule preset");
    ok(&enclave(&[
        "admin",
        "--config",
        &config,
        "project",
        "create",
        "p1",
        "--organization",
        "Example University",
        "--expires",
        "2099-01-01",
        "--rules",
        "acro",
        "--member",
        "hana",
        "--dataset",
        "ehr",
    ]));
    let listing = ok(&enclave(&["admin", "--config", &config, "project", "list"]));
    assert!(
        listing.contains("org=Example University") && listing.contains("rules=acro"),
        "{listing}"
    );
    // Neither --dir nor --config: a configuration error, exit 64.
    let none = enclave(&["admin", "user", "list"]);
    assert_eq!(none.status.code(), Some(64), "{}", text(&none.stderr));

    let mut server = Server::bare(dir, database_url);
    server.serve_config(std::path::Path::new(&config));
    let ssh = |args: &[&str], stdin: Stdin<'_>| {
        server.ssh_with(
            &["-i", &key, "-o", "IdentitiesOnly=yes"],
            "hana",
            args,
            stdin,
        )
    };
    let module = examples_dir().join("count_by_age.wasm");
    let submitted = ssh(
        &["submit", "--project", "p1", "--name", "ages"],
        Stdin::File(&module),
    );
    assert!(submitted.status.success(), "{}", text(&submitted.stderr));
    let id = text(&submitted.stdout).trim().to_owned();
    let status = loop {
        let out = ssh(&["status", &id, "--json"], Stdin::Null);
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
        if status["state"] == "succeeded" || status["state"] == "failed" {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(status["state"], "succeeded", "{status}");
    assert_eq!(status["dataset_version"], "7");

    let events = server.audit_events_with(&config);
    for action in [
        "admin.dataset.register",
        "admin.user.add",
        "admin.project.create",
        "job.submit",
        "job.finish",
    ] {
        assert!(audited(&events, action, "ok", ""), "missing {action}");
    }
    assert!(audited(
        &events,
        "admin.dataset.register",
        "error",
        "class is pseudonymized"
    ));
}
