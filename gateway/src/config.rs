//! `enclave.toml`: where an installation keeps its state and how it listens.
//! Everything is validated before any socket is bound; an invalid file makes
//! the binary exit with code 64.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use enclave_sandbox::SandboxLimits;
use serde::{Deserialize, Serialize};

/// Name of the config file inside an installation directory (`--dir`).
pub const CONFIG_FILE: &str = "enclave.toml";

/// A validated configuration with absolute paths.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Folder for job scratch space (local to this node), and by default for
    /// modules and quarantined outputs.
    pub state_dir: PathBuf,
    /// Folder every node can read and write (modules, quarantined outputs);
    /// defaults to `state_dir`. Several nodes on PostgreSQL must share it.
    #[serde(default)]
    pub shared_dir: Option<PathBuf>,
    /// Database URL (`sqlite:` or `postgres:`); defaults to `sqlite://STATE_DIR/enclave.db`.
    #[serde(default)]
    pub database_url: Option<String>,
    /// SSH door.
    pub ssh: SshConfig,
    /// HTTPS door.
    pub https: HttpsConfig,
    /// Job workers.
    #[serde(default)]
    pub runner: RunnerConfig,
    /// Default job limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Audit trail settings.
    #[serde(default)]
    pub audit: AuditConfig,
    /// OpenTelemetry export.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Python jobs (`submit --python`); refused unless a runner is configured.
    #[serde(default)]
    pub python: PythonConfig,
    /// Web sign-in and sessions.
    #[serde(default)]
    pub web: WebConfig,
}

/// Web sign-in and session limits.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// A session unused this many minutes ends (1–720; default 15).
    pub idle_minutes: u64,
    /// A session ends this many hours after sign-in (1–24; default 8).
    pub absolute_hours: u64,
    /// Failed sign-ins in a row that lock an account (3–20; default 5).
    pub max_failed_logins: u32,
    /// Minutes a locked account stays locked (1–1440; default 15).
    pub lockout_minutes: u64,
    /// Sign-in attempts one client address may make per five minutes on one node
    /// (3–10000; default 30).
    pub login_attempts_per_address: u32,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            idle_minutes: 15,
            absolute_hours: 8,
            max_failed_logins: 5,
            lockout_minutes: 15,
            login_attempts_per_address: 30,
        }
    }
}

impl WebConfig {
    /// The settings the core uses, or why the values are out of range.
    ///
    /// # Errors
    /// When a value is outside its range.
    pub fn settings(&self) -> anyhow::Result<crate::service::WebSettings> {
        let within = |name: &str, value: u64, low: u64, high: u64| {
            if (low..=high).contains(&value) {
                Ok(value)
            } else {
                Err(anyhow::anyhow!(
                    "[web] {name} must be between {low} and {high}"
                ))
            }
        };
        let minutes = |m: u64| std::time::Duration::from_secs(m * 60);
        Ok(crate::service::WebSettings {
            idle: minutes(within("idle_minutes", self.idle_minutes, 1, 720)?),
            absolute: minutes(within("absolute_hours", self.absolute_hours, 1, 24)? * 60),
            max_failures: u32::try_from(within(
                "max_failed_logins",
                u64::from(self.max_failed_logins),
                3,
                20,
            )?)?,
            lockout: minutes(within("lockout_minutes", self.lockout_minutes, 1, 1440)?),
            attempts_per_address: u32::try_from(within(
                "login_attempts_per_address",
                u64::from(self.login_attempts_per_address),
                3,
                10_000,
            )?)?,
        })
    }
}

/// Audit trail settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// How often a worker node signs a checkpoint when new events exist (10–86400 s).
    pub checkpoint_seconds: u64,
    /// Days an audit event is kept before `enclave audit purge` may remove it
    /// (default 1826, five years; at least 365 unless
    /// `danger_allow_short_retention` is set; at most 36500).
    pub retention_days: u32,
    /// Allows `retention_days` below 365 (down to 0): for tests and
    /// short-lived installations only, never for a trail that must be kept.
    pub danger_allow_short_retention: bool,
}

/// The least retention accepted without `danger_allow_short_retention`.
pub const MIN_RETENTION_DAYS: u32 = 365;

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            checkpoint_seconds: 600,
            retention_days: 1826,
            danger_allow_short_retention: false,
        }
    }
}

/// OpenTelemetry export of tracing spans.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// OTLP/gRPC collector (`http://host:4317`, plain gRPC: keep it local);
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is used when unset. Without either, spans
    /// go to the logs only.
    pub otlp_endpoint: Option<String>,
}

/// The SSH door.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SshConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// OpenSSH private host key (created on first start if missing).
    pub host_key: PathBuf,
}

/// The HTTPS door.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpsConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// PEM certificate chain.
    pub certificate: PathBuf,
    /// PEM private key.
    pub private_key: PathBuf,
}

/// Job workers.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunnerConfig {
    /// Jobs run at once (1–64).
    pub workers: u32,
    /// How long a worker holds a job without renewing its lease (2–3600 s).
    /// A job whose worker died is re-queued once its lease expires.
    pub lease_seconds: u64,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            workers: 2,
            lease_seconds: 30,
        }
    }
}

/// Default limits for every job.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Wall-clock time.
    pub wall_time_seconds: u64,
    /// Linear memory.
    pub memory_mib: u64,
    /// Optional fuel (instruction budget).
    pub fuel: Option<u64>,
    /// Captured stdout.
    pub stdout_kib: u64,
    /// Captured stderr.
    pub stderr_kib: u64,
    /// Total bytes under `/out`.
    pub out_mib: u64,
    /// Files under `/out`.
    pub out_files: u32,
    /// Module size.
    pub module_mib: u64,
    /// Time to compile a module (compiling untrusted code is a denial-of-service vector).
    pub compile_seconds: u64,
    /// Bytes a job may write to stdout, and to stderr, before it is stopped (beyond
    /// `stdout_kib`/`stderr_kib` writes are discarded and the capture flagged truncated).
    pub stdio_hard_mib: u64,
    /// Elements per table (function pointers).
    pub table_elements: u32,
    /// Total bytes under `/tmp`.
    pub tmp_mib: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            wall_time_seconds: 60,
            memory_mib: 256,
            fuel: None,
            stdout_kib: 1024,
            stderr_kib: 1024,
            out_mib: 64,
            out_files: 64,
            module_mib: 64,
            compile_seconds: 60,
            stdio_hard_mib: 64,
            table_elements: 65_536,
            tmp_mib: 256,
        }
    }
}

impl LimitsConfig {
    /// The sandbox form.
    pub fn to_sandbox(&self) -> SandboxLimits {
        SandboxLimits {
            wall_time: Duration::from_secs(self.wall_time_seconds),
            memory_bytes: self.memory_mib * 1024 * 1024,
            fuel: self.fuel,
            stdout_bytes: self.stdout_kib * 1024,
            stderr_bytes: self.stderr_kib * 1024,
            out_bytes: self.out_mib * 1024 * 1024,
            out_files: self.out_files,
            module_bytes: self.module_mib * 1024 * 1024,
            compile_time: Duration::from_secs(self.compile_seconds),
            stdio_hard_bytes: self.stdio_hard_mib * 1024 * 1024,
            table_elements: self.table_elements,
            tmp_bytes: self.tmp_mib * 1024 * 1024,
        }
    }
}

/// Why a configuration is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid config {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid config: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads and validates a config file; relative paths are resolved against
    /// the file's folder.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the problem.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|error| ConfigError::Parse {
            path: path.to_owned(),
            message: error.to_string(),
        })?;
        let base = path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let base = std::path::absolute(&base).unwrap_or(base);
        config.resolve(&base);
        config.validate()?;
        Ok(config)
    }

    /// Loads `DIR/enclave.toml`.
    ///
    /// # Errors
    /// See [`Config::load`].
    pub fn for_dir(dir: &Path) -> Result<Config, ConfigError> {
        Config::load(&dir.join(CONFIG_FILE))
    }

    /// The folder shared by every node.
    pub fn shared_dir(&self) -> &Path {
        self.shared_dir.as_deref().unwrap_or(&self.state_dir)
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| crate::store::Store::sqlite_url(&self.state_dir.join("enclave.db")))
    }

    fn resolve(&mut self, base: &Path) {
        if let Some(shared) = &mut self.shared_dir
            && shared.is_relative()
        {
            *shared = base.join(&*shared);
        }
        if let Some(runner) = &mut self.python.runner
            && runner.is_relative()
        {
            *runner = base.join(&*runner);
        }
        for path in [
            &mut self.state_dir,
            &mut self.ssh.host_key,
            &mut self.https.certificate,
            &mut self.https.private_key,
        ] {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if !(1..=64).contains(&self.runner.workers) {
            return invalid("runner.workers must be between 1 and 64");
        }
        if !(10..=86_400).contains(&self.audit.checkpoint_seconds) {
            return invalid("audit.checkpoint_seconds must be between 10 and 86400");
        }
        let least_retention = if self.audit.danger_allow_short_retention {
            0
        } else {
            MIN_RETENTION_DAYS
        };
        if !(least_retention..=36_500).contains(&self.audit.retention_days) {
            return invalid(
                "audit.retention_days must be between 365 and 36500 (lower only with danger_allow_short_retention)",
            );
        }
        // The exporter has no TLS built in: a local (or private-network) collector.
        if let Some(endpoint) = &self.telemetry.otlp_endpoint
            && !endpoint.starts_with("http://")
        {
            return invalid(
                "telemetry.otlp_endpoint must be an http:// URL of a local collector (no TLS to the collector is built in)",
            );
        }
        if !(2..=3600).contains(&self.runner.lease_seconds) {
            return invalid("runner.lease_seconds must be between 2 and 3600");
        }
        self.limits.validate()?;
        self.python.validate()?;
        if self.ssh.listen == self.https.listen && self.ssh.listen.port() != 0 {
            return invalid("ssh.listen and https.listen must differ");
        }
        if let Some(url) = &self.database_url
            && crate::store::Backend::of_url(url).is_err()
        {
            return invalid("database_url must start with sqlite:, postgres: or postgresql:");
        }
        Ok(())
    }
}

/// Python jobs: the operator-installed runner component (built by
/// `sdk/python/build-runner.sh`) that executes a submitted script. Trusted code: compiled
/// once, outside the per-job compile-time limit, and cached on disk.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PythonConfig {
    /// The runner component (`python-runner.wasm`); `None` refuses Python jobs.
    pub runner: Option<PathBuf>,
    /// Largest script accepted, in KiB (1–16384).
    pub script_kib: u64,
}

impl Default for PythonConfig {
    fn default() -> Self {
        PythonConfig {
            runner: None,
            script_kib: 1024,
        }
    }
}

impl PythonConfig {
    /// Refuses an absurd script size.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(runner) = &self.runner
            && !runner.is_file()
        {
            return Err(ConfigError::Invalid(format!(
                "python.runner {} is not a file (build it with sdk/python/build-runner.sh)",
                runner.display()
            )));
        }
        if !(1..=16 * 1024).contains(&self.script_kib) {
            return Err(ConfigError::Invalid(
                "python.script_kib must be between 1 and 16384".to_owned(),
            ));
        }
        Ok(())
    }

    /// The script size limit in bytes.
    pub fn script_bytes(&self) -> u64 {
        self.script_kib * 1024
    }
}

impl LimitsConfig {
    /// Refuses zero or absurd limits.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the limit.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        let l = self;
        if l.wall_time_seconds == 0 || l.wall_time_seconds > 24 * 3600 {
            return invalid("limits.wall_time_seconds must be between 1 and 86400");
        }
        if l.memory_mib == 0 || l.memory_mib > 16 * 1024 {
            return invalid("limits.memory_mib must be between 1 and 16384");
        }
        if l.out_mib == 0
            || l.out_files == 0
            || l.module_mib == 0
            || l.stdout_kib == 0
            || l.stderr_kib == 0
        {
            return invalid("limits must be positive");
        }
        if l.compile_seconds == 0 || l.compile_seconds > 3600 {
            return invalid("limits.compile_seconds must be between 1 and 3600");
        }
        if l.stdio_hard_mib == 0
            || l.stdio_hard_mib > 16 * 1024
            || l.stdio_hard_mib * 1024 < l.stdout_kib.max(l.stderr_kib)
        {
            return invalid(
                "limits.stdio_hard_mib must be between 1 and 16384 and at least stdout_kib and stderr_kib",
            );
        }
        if !(16..=65_536).contains(&l.table_elements) {
            return invalid("limits.table_elements must be between 16 and 65536");
        }
        if l.tmp_mib == 0 || l.tmp_mib > 1024 * 1024 {
            return invalid("limits.tmp_mib must be between 1 and 1048576");
        }
        Ok(())
    }
}

impl Config {
    /// The text of a config for an installation in `dir` listening on the given ports.
    pub fn render_for_dir(ssh_port: u16, https_port: u16, database_url: Option<&str>) -> String {
        let database =
            database_url.map_or_else(String::new, |url| format!("database_url = {url:?}\n"));
        format!(
            "# enclave installation config; relative paths are relative to this file.\n\
             state_dir = \".\"\n{database}\n\
             [ssh]\nlisten = \"127.0.0.1:{ssh_port}\"\nhost_key = \"ssh_host_ed25519_key\"\n\n\
             [https]\nlisten = \"127.0.0.1:{https_port}\"\ncertificate = \"tls/cert.pem\"\nprivate_key = \"tls/key.pem\"\n\n\
             [runner]\nworkers = 2\n\n\
             [limits]\nwall_time_seconds = 60\nmemory_mib = 256\nstdout_kib = 1024\nstderr_kib = 1024\n\
             out_mib = 64\nout_files = 64\nmodule_mib = 64\n"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_config_loads_and_resolves_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            Config::render_for_dir(2222, 8443, None),
        )
        .unwrap();
        let config = Config::for_dir(dir.path()).unwrap();
        assert!(config.state_dir.is_absolute());
        assert_eq!(config.ssh.listen.port(), 2222);
        assert!(config.database_url().starts_with("sqlite://"));
        assert_eq!(config.limits.to_sandbox().memory_bytes, 256 * 1024 * 1024);
    }

    #[test]
    fn bad_configs_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE);
        let base = Config::render_for_dir(2222, 8443, None);
        for (text, expected) in [
            (base.replace("workers = 2", "workers = 0"), "runner.workers"),
            (
                base.replace("memory_mib = 256", "memory_mib = 0"),
                "memory_mib",
            ),
            (base.replace("8443", "2222"), "must differ"),
            (
                format!("{base}compile_seconds = 0\n"),
                "limits.compile_seconds",
            ),
            (
                format!("{base}table_elements = 100000\n"),
                "limits.table_elements",
            ),
            (format!("{base}\nunknown = 1\n"), "unknown field"),
            (base.replace("127.0.0.1:2222", "nowhere"), "invalid"),
        ] {
            std::fs::write(&path, text).unwrap();
            let error = Config::load(&path).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    #[test]
    fn the_shipped_example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/enclave.toml");
        let config = Config::load(&path).unwrap();
        assert_eq!(config.state_dir, PathBuf::from("/var/lib/enclave"));
        assert_eq!(config.runner.workers, 2);
    }
}

#[cfg(test)]
mod multinode_example_tests {
    use super::*;

    #[test]
    fn the_shipped_multinode_configs_are_valid_and_share_state() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/multinode");
        let mut shared = Vec::new();
        for name in ["gateway-1", "gateway-2", "worker-1", "worker-2"] {
            let config = Config::load(&dir.join(format!("{name}.toml"))).unwrap();
            assert!(config.database_url().starts_with("postgres://"), "{name}");
            shared.push((config.shared_dir().to_owned(), config.database_url()));
        }
        shared.dedup();
        assert_eq!(
            shared.len(),
            1,
            "every node must share the folder and the database"
        );
    }

    #[test]
    fn python_settings_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE);
        let base = Config::render_for_dir(2222, 8443, None);
        std::fs::write(&path, &base).unwrap();
        assert!(Config::load(&path).unwrap().python.runner.is_none());
        std::fs::write(dir.path().join("runner.wasm"), b"\0asm").unwrap();
        for (extra, expected) in [
            (
                "[python]\nrunner = \"missing.wasm\"\n",
                Some("python.runner"),
            ),
            ("[python]\nscript_kib = 0\n", Some("python.script_kib")),
            (
                "[python]\nrunner = \"runner.wasm\"\nscript_kib = 64\n",
                None,
            ),
        ] {
            std::fs::write(&path, format!("{base}\n{extra}")).unwrap();
            match (Config::load(&path), expected) {
                (Ok(config), None) => {
                    assert_eq!(config.python.runner, Some(dir.path().join("runner.wasm")));
                    assert_eq!(config.python.script_bytes(), 64 * 1024);
                }
                (Err(error), Some(fragment)) => {
                    assert!(error.to_string().contains(fragment), "{error}");
                }
                (result, _) => panic!("{extra}: unexpected {result:?}"),
            }
        }
    }
}
