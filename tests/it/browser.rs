//! Browser end-to-end tests (issue 6): scripts in `tests/web/` drive headless Debian chromium
//! through playwright-core (npm; it never downloads a browser) against a real installation's
//! HTTPS door, with TOTP codes from `oathtool`. `infra/dev/install-deps.sh` installs chromium,
//! oathtool, Node.js 20+ and `tests/web/node_modules`; a missing piece fails the test (never a
//! skip). Screenshots go to `$CARGO_TARGET_DIR/web-artifacts/screenshots/` (or
//! `target/web-artifacts/`).

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::support::{Server, repo_root, target_dir, text};

/// The Node.js that runs the scripts: `ENCLAVE_NODE`, else `node` on the PATH when it is 20 or
/// newer (playwright-core needs 20), else the one `install-deps.sh` puts in a venv.
fn node() -> PathBuf {
    if let Some(path) = std::env::var_os("ENCLAVE_NODE") {
        return PathBuf::from(path);
    }
    let major = Command::new("node")
        .args(["-p", "process.versions.node.split('.')[0]"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| text(&output.stdout).trim().parse::<u32>().ok());
    if major.is_some_and(|major| major >= 20) {
        return PathBuf::from("node");
    }
    let venv = PathBuf::from("/var/tmp/enclave-node/venv/bin/node");
    assert!(
        venv.exists(),
        "no Node.js 20 or newer for the browser tests (node on the PATH: major version {major:?}; \
         {} is missing): run infra/dev/install-deps.sh",
        venv.display()
    );
    venv
}

/// `ENCLAVE_URL` and `ENCLAVE_CERT` (the certificate chromium pins) for `server`.
pub fn server_env(server: &Server) -> Vec<(&'static str, String)> {
    vec![
        (
            "ENCLAVE_URL",
            format!("https://127.0.0.1:{}", server.https_port),
        ),
        (
            "ENCLAVE_CERT",
            server.path().join("tls/cert.pem").display().to_string(),
        ),
    ]
}

/// Runs `node tests/web/<script>` from the repository root with `envs` and `ENCLAVE_ARTIFACTS`
/// set, prints its output when it fails, and returns it. Panics when chromium, oathtool or
/// `tests/web/node_modules` is missing: the browser tests never skip.
pub fn run_browser_script(script: &str, envs: &[(&str, String)]) -> Output {
    let web = repo_root().join("tests/web");
    assert!(
        web.join("node_modules/playwright-core/package.json")
            .exists(),
        "{} is missing: run infra/dev/install-deps.sh (npm ci in tests/web)",
        web.join("node_modules").display()
    );
    let chromium = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        chromium.exists(),
        "{} is missing: run infra/dev/install-deps.sh (Debian package chromium)",
        chromium.display()
    );
    assert!(
        Command::new("oathtool").arg("--version").output().is_ok(),
        "oathtool is missing: run infra/dev/install-deps.sh (Debian package oathtool)"
    );
    let artifacts = target_dir().join("web-artifacts");
    let output = Command::new(node())
        .arg(web.join(script))
        .current_dir(repo_root())
        .env("ENCLAVE_ARTIFACTS", &artifacts)
        .env("CHROMIUM", &chromium)
        .envs(envs.iter().map(|(name, value)| (*name, value.as_str())))
        .output()
        .expect("run node");
    if !output.status.success() {
        eprintln!(
            "tests/web/{script} failed ({}); screenshots in {}\n--- stdout ---\n{}--- stderr ---\n{}",
            output.status,
            artifacts.join("screenshots").display(),
            text(&output.stdout),
            text(&output.stderr)
        );
    }
    output
}

/// Runs a script against `server` and asserts that it passed.
#[track_caller]
pub fn assert_browser_script(script: &str, server: &Server, extra: &[(&str, String)]) {
    let mut envs: Vec<(&str, String)> = server_env(server);
    envs.extend(extra.iter().cloned());
    let output = run_browser_script(script, &envs);
    assert!(
        output.status.success(),
        "tests/web/{script} failed (its output is above)"
    );
}

/// chromium reaches `/healthz` over the real TLS door (certificate pinned by its key), reads
/// status "ok" and the CSP and HSTS headers, and keeps a screenshot.
#[test]
fn browser_smoke() {
    let server = Server::demo();
    assert_browser_script("smoke.mjs", &server, &[]);
}

/// The harness itself: oathtool's codes match RFC 6238, and a CSP violation, an uncaught page
/// error and a refused page are each caught (so a green page test means no such problem).
#[test]
fn browser_harness_catches_page_problems() {
    let server = Server::demo();
    assert_browser_script("harness.mjs", &server, &[]);
}
