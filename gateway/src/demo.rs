//! `enclave demo`: a working installation in one folder, built only from the
//! same admin operations an operator would run, then served.

use std::path::{Path, PathBuf};

use anyhow::Context;
use enclave_policy::{Role, RoleSet};
use russh::keys::{Algorithm, PrivateKey};

use crate::config::{CONFIG_FILE, Config};
use crate::datagen::{DatasetSpec, generate};
use crate::service::{DatasetRegistration, NewProject, NewUser, Service};

/// Options of `enclave demo`.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Installation folder.
    pub dir: PathBuf,
    /// SSH port (0 picks a free one).
    pub ssh_port: u16,
    /// HTTPS port (0 picks a free one).
    pub https_port: u16,
    /// Synthetic patients in the demo dataset.
    pub patients: u32,
    /// Seed of the synthetic dataset.
    pub seed: u64,
    /// Folder holding built example jobs (`*.wasm`).
    pub examples: Option<PathBuf>,
    /// Database URL; SQLite in the folder when `None`.
    pub database_url: Option<String>,
}

/// The demo's people: (user, roles).
pub const DEMO_USERS: [(&str, &[Role]); 8] = [
    ("alice", &[Role::Researcher]),
    ("bob", &[Role::Researcher]),
    ("carol", &[Role::Checker]),
    ("dave", &[Role::Checker]),
    ("frank", &[Role::Checker]),
    ("gina", &[Role::Researcher, Role::Checker]),
    ("erin", &[Role::Compliance]),
    ("root", &[Role::Admin]),
];

/// Name of the demo project.
pub const DEMO_PROJECT: &str = "diabetes-study";
/// Name of the demo dataset.
pub const DEMO_DATASET: &str = "claims-demo";

/// Creates the installation if `dir` has none; returns its config.
///
/// # Errors
/// When any set-up step fails.
pub async fn prepare(options: &DemoOptions) -> anyhow::Result<(Config, Service)> {
    let dir = std::path::absolute(&options.dir)?;
    let fresh = !dir.join(CONFIG_FILE).exists();
    if fresh {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(
            dir.join(CONFIG_FILE),
            Config::render_for_dir(
                options.ssh_port,
                options.https_port,
                options.database_url.as_deref(),
            ),
        )?;
    }
    if fresh {
        configure_python(&dir, options.examples.as_deref())?;
    }
    let mut config = Config::for_dir(&dir)?;
    config.ssh.listen.set_port(options.ssh_port);
    config.https.listen.set_port(options.https_port);
    let service = crate::app::open(&config).await?;
    if fresh {
        populate(&dir, &config, &service, options).await?;
    } else {
        println!("using the existing demo installation in {}", dir.display());
    }
    Ok((config, service))
}

async fn populate(
    dir: &Path,
    config: &Config,
    service: &Service,
    options: &DemoOptions,
) -> anyhow::Result<()> {
    let caller = crate::app::cli_caller();
    let fingerprint =
        crate::http::create_self_signed(&config.https.certificate, &config.https.private_key)?;
    std::fs::write(
        dir.join("tls").join("fingerprint.txt"),
        format!("{fingerprint}\n"),
    )?;
    println!("self-signed HTTPS certificate, SHA-256 fingerprint {fingerprint}");

    let dataset_dir = dir.join("datasets").join(DEMO_DATASET);
    println!(
        "generating a synthetic pseudonymized claims dataset ({} patients)...",
        options.patients
    );
    let spec = DatasetSpec {
        name: DEMO_DATASET.into(),
        version: "2025.1".into(),
        patients: options.patients,
        seed: options.seed,
    };
    let summary = generate(&dataset_dir, &spec).context("generating the demo dataset")?;
    for (table, rows) in &summary.tables {
        println!("  {table:<22} {rows:>9} rows");
    }

    let keys = dir.join("keys");
    let mut web_users = serde_json::Map::new();
    for (user, roles) in DEMO_USERS {
        let key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)?;
        let public = key.public_key().to_openssh()?;
        crate::fsutil::write_private(
            &keys.join(user),
            key.to_openssh(russh::keys::ssh_key::LineEnding::LF)?
                .as_bytes(),
        )?;
        std::fs::write(
            keys.join(format!("{user}.pub")),
            format!("{public} {user}@enclave-demo\n"),
        )?;
        let new_user = NewUser {
            name: user.into(),
            roles: RoleSet::of(roles),
            ssh_keys: vec![public],
        };
        service.admin_add_user(&caller, new_user).await?;
        // Web sign-in for everyone: a random password and a TOTP enrolment, written where
        // the demo's user (and the browser tests) can read them.
        let password = hex::encode(rand::random::<[u8; 10]>());
        service.admin_set_password(&caller, user, &password).await?;
        let enrolment = service.admin_enrol_totp(&caller, user).await?;
        web_users.insert(
            (*user).to_owned(),
            serde_json::json!({ "password": password, "totp": enrolment.secret }),
        );
    }
    crate::fsutil::write_private(
        &dir.join("web").join("credentials.json"),
        serde_json::to_string_pretty(&web_users)?.as_bytes(),
    )?;
    service
        .admin_register_dataset(
            &caller,
            DatasetRegistration {
                name: DEMO_DATASET.into(),
                path: dataset_dir,
                class: "pseudonymized".into(),
            },
        )
        .await?;
    let today = time::OffsetDateTime::now_utc().date();
    let expires_on = today
        .checked_add(time::Duration::days(365))
        .unwrap_or(today);
    service
        .admin_create_project(
            &caller,
            NewProject {
                name: DEMO_PROJECT.into(),
                organization: "Example Pharma K.K. (certified user)".into(),
                expires_on,
                rules: "ndb".into(),
                members: vec!["alice".into(), "gina".into()],
                datasets: vec![DEMO_DATASET.into()],
            },
        )
        .await?;
    install_examples(dir, options.examples.as_deref())?;
    Ok(())
}

/// File name of the Python runner component `sdk/python/build-runner.sh` writes.
pub const PYTHON_RUNNER_FILE: &str = "python-runner.wasm";

/// When the examples folder holds a built Python runner, copies it to `DIR/python/` and
/// enables Python jobs in the fresh enclave.toml.
fn configure_python(dir: &Path, examples: Option<&Path>) -> anyhow::Result<()> {
    let Some(runner) = examples
        .map(|examples| examples.join(PYTHON_RUNNER_FILE))
        .filter(|runner| runner.is_file())
    else {
        println!(
            "note: no Python runner found; build it with sdk/python/build-runner.sh DIR and pass --examples DIR to enable submit --python"
        );
        return Ok(());
    };
    let python = dir.join("python");
    std::fs::create_dir_all(&python)?;
    std::fs::copy(&runner, python.join(PYTHON_RUNNER_FILE))
        .with_context(|| format!("copying {}", runner.display()))?;
    let mut config = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join(CONFIG_FILE))?;
    std::io::Write::write_all(
        &mut config,
        format!("\n[python]\nrunner = \"python/{PYTHON_RUNNER_FILE}\"\n").as_bytes(),
    )?;
    println!("Python jobs enabled (runner {})", runner.display());
    Ok(())
}

/// Copies built example modules (`*.wasm`, the Python runner excepted) and Python example
/// scripts (`*.py`) into `DIR/jobs/`.
fn install_examples(dir: &Path, examples: Option<&Path>) -> anyhow::Result<()> {
    let jobs = dir.join("jobs");
    std::fs::create_dir_all(&jobs)?;
    let Some(source) = examples.filter(|p| p.is_dir()) else {
        println!(
            "note: no built example jobs found; build them with sdk/build-examples.sh DIR and pass --examples DIR"
        );
        return Ok(());
    };
    for entry in std::fs::read_dir(source)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm" || e == "py")
            && let Some(name) = path.file_name()
            && name != PYTHON_RUNNER_FILE
        {
            std::fs::copy(&path, jobs.join(name))?;
        }
    }
    Ok(())
}

/// What the demo prints once it listens.
pub fn banner(dir: &Path, ssh: std::net::SocketAddr, https: std::net::SocketAddr) -> String {
    let python = dir.join("python").join(PYTHON_RUNNER_FILE).is_file();
    let dir = dir.display();
    let port = ssh.port();
    let python = if python {
        format!(
            "\x20 ssh -i {dir}/keys/alice -p {port} alice@127.0.0.1 submit --project {DEMO_PROJECT} --name \"count by age (Python)\" --python < {dir}/jobs/count_by_age.py\n"
        )
    } else {
        String::new()
    };
    format!(
        "\nenclave demo is running (Ctrl-C to stop)\n\
         ssh listening on {ssh}\nhttps listening on {https}\n\n\
         try, as researcher alice:\n\
         \x20 ssh -i {dir}/keys/alice -p {port} -o StrictHostKeyChecking=accept-new alice@127.0.0.1 help\n\
         \x20 ssh -i {dir}/keys/alice -p {port} alice@127.0.0.1 submit --project {DEMO_PROJECT} --name \"count by age\" < {dir}/jobs/count_by_age.wasm\n\
         {python}\
         \x20 ssh -i {dir}/keys/alice -p {port} alice@127.0.0.1 jobs\n\
         \x20 ssh -i {dir}/keys/alice -p {port} alice@127.0.0.1 status JOB-ID\n\
         \x20 ssh -i {dir}/keys/alice -p {port} alice@127.0.0.1 outputs JOB-ID\n\
         \x20 ssh -i {dir}/keys/alice -p {port} alice@127.0.0.1 request-release JOB-ID FILE --context \"what it shows\"\n\
         \x20 ssh -i {dir}/keys/carol -p {port} carol@127.0.0.1 review-queue   (then: review, review-cat, vote)\n\
         \x20 ssh -i {dir}/keys/alice -p {port} alice@127.0.0.1 download REQUEST-ID FILE\n\
         other users: bob (researcher, no project), carol, dave and frank (checkers), gina (researcher and checker in the project), erin (compliance), root (admin)\n\
         web:    https://{https}/   (passwords and TOTP secrets in {dir}/web/credentials.json; a code: oathtool --totp -b SECRET)\n\
         health: curl -k https://{https}/healthz   (certificate fingerprint in {dir}/tls/fingerprint.txt)\n\
         audit:  enclave audit verify --dir {dir}\n",
        ssh = ssh,
        https = https,
    )
}
