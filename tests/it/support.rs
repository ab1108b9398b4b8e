//! Starting an installation and talking to it like a user would.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Root of the repository.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Cargo's target folder (`CARGO_TARGET_DIR` or `target/`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo_root().join("target"), PathBuf::from)
}

/// The `enclave` binary under test.
pub fn enclave_bin() -> PathBuf {
    let path = std::env::var_os("ENCLAVE_BIN")
        .map_or_else(|| target_dir().join("debug").join("enclave"), PathBuf::from);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --bin enclave` first (infra/dev/test.sh does)",
        path.display()
    );
    path
}

/// Folder with the built example jobs.
pub fn examples_dir() -> PathBuf {
    let path = std::env::var_os("ENCLAVE_EXAMPLES")
        .map_or_else(|| target_dir().join("examples"), PathBuf::from);
    assert!(
        path.join("count_by_age.wasm").exists(),
        "example jobs are missing in {}: run sdk/build-examples.sh {0}",
        path.display()
    );
    path
}

/// The PostgreSQL test cluster started by `infra/postgres/test-cluster.sh`, when
/// `ENCLAVE_TEST_PG_DIR` names it; otherwise tests use SQLite.
pub fn postgres_cluster() -> Option<PathBuf> {
    std::env::var_os("ENCLAVE_TEST_PG_DIR").map(PathBuf::from)
}

/// A fresh database for one installation: `None` (SQLite in the folder) or a
/// new PostgreSQL database's URL.
pub fn fresh_database_url() -> Option<String> {
    postgres_cluster().map(|cluster| database_in(&cluster))
}

/// Creates a new database in the test cluster at `cluster` and returns its owner URL.
pub fn database_in(cluster: &Path) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    let output = Command::new(repo_root().join("infra/postgres/test-cluster.sh"))
        .arg("createdb")
        .arg(cluster)
        .arg(&name)
        .output()
        .expect("run test-cluster.sh createdb");
    assert!(
        output.status.success(),
        "createdb: {}",
        text(&output.stderr)
    );
    text(&output.stdout).trim().to_owned()
}

/// A PostgreSQL cluster for one test: the shared one named by
/// `ENCLAVE_TEST_PG_DIR`, or a throwaway one started (and stopped) here.
pub struct PgCluster {
    pub dir: PathBuf,
    owned: Option<tempfile::TempDir>,
}

impl PgCluster {
    pub fn ensure() -> PgCluster {
        if let Some(dir) = postgres_cluster() {
            return PgCluster { dir, owned: None };
        }
        let temp = tempfile::Builder::new()
            .prefix("enclave-pg")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let output = Command::new(repo_root().join("infra/postgres/test-cluster.sh"))
            .arg("start")
            .arg(temp.path())
            .output()
            .expect("run test-cluster.sh start");
        assert!(
            output.status.success(),
            "start cluster: {}",
            text(&output.stderr)
        );
        PgCluster {
            dir: temp.path().to_owned(),
            owned: Some(temp),
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.owned.is_some() {
            let _ = Command::new(repo_root().join("infra/postgres/test-cluster.sh"))
                .arg("stop")
                .arg(&self.dir)
                .output();
        }
    }
}

/// A running installation in a temporary folder.
pub struct Server {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    pub ssh_port: u16,
    pub https_port: u16,
    /// PostgreSQL URL, or `None` for SQLite in the folder.
    pub database_url: Option<String>,
}

impl Server {
    /// `enclave demo` with a small dataset on free ports.
    pub fn demo() -> Server {
        let mut server = Server::bare(tempfile::tempdir().expect("temp dir"), fresh_database_url());
        let command = server.demo_command(&["--patients", "3000"]);
        server.spawn(command);
        server
    }

    /// Sets up a demo installation without serving it.
    pub fn setup_only() -> Server {
        Server::setup_only_with(fresh_database_url())
    }

    /// Sets up a demo installation on the given database without serving it.
    pub fn setup_only_with(database_url: Option<String>) -> Server {
        let server = Server::bare(tempfile::tempdir().expect("temp dir"), database_url);
        let output = server
            .demo_command(&["--setup-only", "--patients", "1000"])
            .output()
            .expect("run enclave demo --setup-only");
        assert!(
            output.status.success(),
            "setup failed: {}",
            text(&output.stderr)
        );
        server
    }

    fn demo_command(&self, extra: &[&str]) -> Command {
        let mut command = Command::new(enclave_bin());
        command
            .arg("demo")
            .arg("--dir")
            .arg(self.path())
            .args(["--ssh-port", "0", "--https-port", "0"])
            .args(extra)
            .arg("--examples")
            .arg(examples_dir());
        if let Some(url) = &self.database_url {
            command.args(["--database-url", url]);
        }
        command
    }

    /// Starts `enclave serve --dir` on the installation.
    pub fn serve(&mut self) {
        let mut command = Command::new(enclave_bin());
        command.arg("serve").arg("--dir").arg(self.path());
        self.spawn(command);
    }

    /// Starts `enclave serve --config FILE`.
    pub fn serve_config(&mut self, config: &Path) {
        let mut command = Command::new(enclave_bin());
        command.arg("serve").arg("--config").arg(config);
        self.spawn(command);
    }

    /// Wraps an installation folder that a test set up by hand.
    pub fn bare(dir: tempfile::TempDir, database_url: Option<String>) -> Server {
        Server {
            dir,
            child: None,
            ssh_port: 0,
            https_port: 0,
            database_url,
        }
    }

    /// Runs SQL directly against the installation's database, as someone with
    /// file or owner access would (`sqlite3` or `psql`).
    /// The single value a query returns, as text, on either backend.
    pub fn sql_value(&self, query: &str) -> String {
        let output = match &self.database_url {
            None => self.sql(query),
            Some(url) => Command::new("psql")
                .args(["-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", query])
                .output()
                .expect("run psql"),
        };
        assert!(output.status.success(), "{query}: {}", text(&output.stderr));
        text(&output.stdout).trim().to_owned()
    }

    pub fn sql(&self, statements: &str) -> Output {
        match &self.database_url {
            // Wait for the gateway's write lock like any other writer would.
            None => Command::new("sqlite3")
                .args(["-cmd", ".timeout 30000"])
                .arg(self.path().join("enclave.db"))
                .arg(statements)
                .output()
                .expect("run sqlite3"),
            Some(url) => psql(url, statements),
        }
    }

    /// SQL that removes the store's append-only guards on the audit table.
    pub fn drop_audit_guards(&self) -> &'static str {
        match self.database_url {
            None => "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;",
            Some(_) => "DROP TRIGGER audit_events_no_update ON audit_events;",
        }
    }

    fn spawn(&mut self, mut command: Command) {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start enclave");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut ports = (None, None);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let port = |prefix: &str| {
                    line.strip_prefix(prefix)
                        .and_then(|a| a.rsplit(':').next()?.parse::<u16>().ok())
                };
                if let Some(p) = port("ssh listening on ") {
                    ports.0 = Some(p);
                }
                if let Some(p) = port("https listening on ") {
                    ports.1 = Some(p);
                }
                if let (Some(ssh), Some(https)) = ports {
                    let _ = sender.send((ssh, https));
                    ports = (None, None);
                }
            }
        });
        let (ssh, https) = receiver
            .recv_timeout(Duration::from_secs(180))
            .expect("enclave did not report its listening ports");
        self.ssh_port = ssh;
        self.https_port = https;
        self.child = Some(child);
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server process with SIGKILL (a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn key(&self, user: &str) -> PathBuf {
        self.path().join("keys").join(user)
    }

    pub fn job_module(&self, name: &str) -> PathBuf {
        self.path().join("jobs").join(name)
    }

    /// Runs the real `ssh` client as `user` with the user's demo key.
    pub fn ssh(&self, user: &str, args: &[&str], stdin: Stdin<'_>) -> Output {
        let key = self.key(user);
        self.ssh_with(
            &[
                "-i",
                key.to_str().expect("utf-8 path"),
                "-o",
                "IdentitiesOnly=yes",
            ],
            user,
            args,
            stdin,
        )
    }

    /// Runs `ssh` with explicit options (no default key).
    pub fn ssh_with(
        &self,
        options: &[&str],
        user: &str,
        args: &[&str],
        stdin: Stdin<'_>,
    ) -> Output {
        let mut command = Command::new("ssh");
        command
            .args(["-p", &self.ssh_port.to_string()])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
            ])
            .args([
                "-o",
                "LogLevel=ERROR",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=20",
            ])
            .args(["-F", "/dev/null"])
            .args(options)
            .arg(format!("{user}@127.0.0.1"))
            .args(args);
        match stdin {
            Stdin::Null => {
                command.stdin(Stdio::null());
            }
            Stdin::File(path) => {
                command.stdin(std::fs::File::open(path).expect("open stdin file"));
            }
            Stdin::Bytes(bytes) => {
                let path = self.path().join(format!("stdin-{}", std::process::id()));
                let path = path.with_extension(format!("{}", bytes.len()));
                std::fs::write(&path, bytes).expect("write stdin file");
                command.stdin(std::fs::File::open(&path).expect("open stdin file"));
            }
        }
        command.output().expect("run ssh")
    }

    /// Runs a host-side `enclave` subcommand against this installation.
    pub fn enclave(&self, args: &[&str]) -> Output {
        let (group, rest) = args.split_first().expect("subcommand");
        Command::new(enclave_bin())
            .arg(group)
            .arg("--dir")
            .arg(self.path())
            .args(rest)
            .output()
            .expect("run enclave")
    }

    /// Every audit event, parsed.
    pub fn audit_events(&self) -> Vec<Value> {
        let output = self.enclave(&["audit", "list", "--limit", "100000"]);
        assert!(
            output.status.success(),
            "audit list: {}",
            text(&output.stderr)
        );
        text(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).expect("audit line is JSON"))
            .collect()
    }

    /// Every audit event of the installation configured by `config`.
    pub fn audit_events_with(&self, config: &str) -> Vec<Value> {
        let output = Command::new(enclave_bin())
            .args(["audit", "--config", config, "list", "--limit", "100000"])
            .output()
            .expect("run enclave");
        assert!(
            output.status.success(),
            "audit list: {}",
            text(&output.stderr)
        );
        text(&output.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .collect()
    }

    /// Submits a module as alice and returns the job id.
    pub fn submit(&self, module: Stdin<'_>, extra: &[&str]) -> String {
        let mut args = vec![
            "submit",
            "--project",
            "diabetes-study",
            "--name",
            "test job",
        ];
        args.extend_from_slice(extra);
        let output = self.ssh("alice", &args, module);
        assert!(
            output.status.success(),
            "submit failed: {}",
            text(&output.stderr)
        );
        let id = text(&output.stdout)
            .lines()
            .next()
            .expect("job id line")
            .to_owned();
        assert!(id.starts_with("j-"), "unexpected job id {id:?}");
        id
    }

    /// Polls `status --json` until the job is finished.
    pub fn wait_finished(&self, id: &str) -> Value {
        self.wait_for(id, |state| state == "succeeded" || state == "failed")
    }

    /// Polls `status --json` until `done(state)` holds.
    pub fn wait_for(&self, id: &str, done: impl Fn(&str) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let output = self.ssh("alice", &["status", id, "--json"], Stdin::Null);
            assert!(
                output.status.success(),
                "status failed: {}",
                text(&output.stderr)
            );
            let status: Value = serde_json::from_slice(&output.stdout).expect("status JSON");
            if done(status["state"].as_str().unwrap_or_default()) {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "job {id} stuck: {status}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `psql` against `url` with stop-on-error.
pub fn psql(url: &str, statements: &str) -> Output {
    Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", statements])
        .output()
        .expect("run psql")
}

/// What to feed `ssh` on standard input.
pub enum Stdin<'a> {
    Null,
    File(&'a Path),
    Bytes(&'a [u8]),
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts exit status and a fragment of stderr.
#[track_caller]
pub fn assert_refused(output: &Output, code: i32, stderr_fragment: &str) {
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {} stderr: {stderr}",
        text(&output.stdout)
    );
    assert!(
        stderr.contains(stderr_fragment),
        "expected {stderr_fragment:?} in stderr: {stderr}"
    );
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "error must be one line: {stderr}"
    );
}

/// Finds audit events matching `action` and `outcome` whose details mention `fragment`.
pub fn audited(events: &[Value], action: &str, outcome: &str, fragment: &str) -> bool {
    events.iter().any(|e| {
        e["action"] == action
            && e["outcome"] == outcome
            && e["details"].as_str().unwrap_or_default().contains(fragment)
    })
}
