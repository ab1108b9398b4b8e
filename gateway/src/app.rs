//! Opening an installation and serving it: wires config, store, sandbox,
//! service, doors and workers together.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use enclave_sandbox::{Sandbox, SandboxConfig};

use crate::audit::Door;
use crate::config::Config;
use crate::service::{
    AdminCaller, Caller, Paths, PythonRunner, Service, SystemClock, WorkerIdentity,
};
use crate::store::Store;

/// Opens the installation described by `config`: creates folders, opens the
/// database (running migrations) and builds the core.
///
/// # Errors
/// When folders, database or sandbox cannot be set up.
pub async fn open(config: &Config) -> anyhow::Result<Service> {
    let paths = Paths {
        modules: config.shared_dir().join("modules"),
        quarantine: config.shared_dir().join("quarantine"),
        work: config.state_dir.join("work"),
        inbox: config.shared_dir().join("inbox"),
    };
    paths
        .create()
        .with_context(|| format!("creating folders under {}", config.state_dir.display()))?;
    let store = Store::open(&config.database_url())
        .await
        .context("opening the database")?;
    let limits = config.limits.to_sandbox();
    let sandbox = Sandbox::new(SandboxConfig {
        max_concurrent_jobs: config.runner.workers,
        max_memory_bytes: limits.memory_bytes,
        // Fuel metering costs a few percent on compute; only an installation with a fuel
        // limit pays it.
        fuel_metering: limits.fuel.is_some(),
        // Compiled code survives restarts (local to this node: it is machine code for this
        // host's engine configuration).
        compiled_cache_dir: Some(config.state_dir.join("compiled")),
        ..SandboxConfig::default()
    })
    .context("starting the sandbox")?;
    let worker = WorkerIdentity::new(Duration::from_secs(config.runner.lease_seconds));
    let checkpoint_key = crate::service::load_or_create_checkpoint_key(
        &config.shared_dir().join("audit_signing_key"),
    )
    .context("loading the audit checkpoint signing key")?;
    let web_key =
        crate::service::WebKey::load_or_create(&config.shared_dir().join("web_secret_key"))
            .context("loading the web key (seals TOTP secrets)")?;
    let web_settings = config.web.settings()?;
    Ok(Service::new(
        store,
        Arc::new(sandbox),
        Arc::new(SystemClock),
        paths,
        limits,
    )
    .with_worker(worker)
    .with_checkpoint_key(checkpoint_key)
    .with_web(web_key, web_settings))
    .map(|service| match &config.python.runner {
        Some(runner) => service.with_python_runner(PythonRunner::new(
            runner.clone(),
            config.python.script_bytes(),
        )),
        None => service,
    })
}

/// The operator at this host's command line, as an audit actor.
pub fn cli_caller() -> AdminCaller {
    let user = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    AdminCaller(Caller {
        user: format!("cli:{user}"),
        door: Door::Cli,
        source: Some("local".into()),
        request_id: format!("cli-{}", std::process::id()),
        session: None,
    })
}

/// What a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum NodeRole {
    /// The doors (SSH, HTTPS): accept and enqueue, run no jobs.
    Gateway,
    /// Job workers only: claim, run, record.
    Worker,
    /// Both (the single-machine default).
    All,
}

impl NodeRole {
    fn doors(self) -> bool {
        matches!(self, NodeRole::Gateway | NodeRole::All)
    }

    fn workers(self) -> bool {
        matches!(self, NodeRole::Worker | NodeRole::All)
    }
}

/// Addresses the doors actually listen on (none for a worker node).
#[derive(Clone, Copy, Debug)]
pub struct Bound {
    /// SSH door.
    pub ssh: Option<SocketAddr>,
    /// HTTPS door.
    pub https: Option<SocketAddr>,
}

/// Serves the installation until SIGINT or SIGTERM: the doors and/or the
/// worker pool, per `role`. `on_ready` is called once listeners are bound.
///
/// # Errors
/// When a listener cannot be bound or a door fails.
pub async fn serve(
    config: &Config,
    service: Service,
    role: NodeRole,
    on_ready: impl FnOnce(Bound),
) -> anyhow::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut bound = Bound {
        ssh: None,
        https: None,
    };
    if role.doors() {
        let host_key = crate::ssh::load_or_create_host_key(&config.ssh.host_key)
            .context("loading the SSH host key")?;
        let ssh_listener = tokio::net::TcpListener::bind(config.ssh.listen)
            .await
            .with_context(|| format!("binding SSH on {}", config.ssh.listen))?;
        let https_listener = std::net::TcpListener::bind(config.https.listen)
            .with_context(|| format!("binding HTTPS on {}", config.https.listen))?;
        https_listener.set_nonblocking(true)?;
        bound = Bound {
            ssh: Some(ssh_listener.local_addr()?),
            https: Some(https_listener.local_addr()?),
        };
        let module_limit =
            usize::try_from(config.limits.to_sandbox().module_bytes).unwrap_or(usize::MAX);
        let ssh = crate::ssh::SshServer::new(service.clone(), module_limit);
        let https_service = service.clone();
        let ssh_config = crate::ssh::server_config(host_key);
        tasks.spawn(async move {
            ssh.serve(ssh_listener, ssh_config)
                .await
                .context("SSH door failed")
        });
        let (cert, key) = (
            config.https.certificate.clone(),
            config.https.private_key.clone(),
        );
        tasks.spawn(async move {
            crate::http::serve(https_listener, &cert, &key, https_service, module_limit)
                .await
                .context("HTTPS door failed")
        });
    }
    if role.workers() {
        let recovered = service.recover_interrupted_jobs().await?;
        if recovered > 0 {
            tracing::warn!(
                recovered,
                "jobs interrupted by the last stop were recovered"
            );
        }
        for handle in crate::runner::spawn_workers(&service, config.runner.workers) {
            tasks.spawn(async move { handle.await.context("worker stopped") });
        }
        let checkpointer = service.clone();
        let every = Duration::from_secs(config.audit.checkpoint_seconds);
        tasks.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(error) = checkpointer.checkpoint_if_new_events().await {
                    tracing::error!(%error, "could not sign an audit checkpoint");
                }
            }
        });
    }
    on_ready(bound);
    tokio::select! {
        Some(result) = tasks.join_next() => result.context("task panicked").and_then(|r| r),
        () = shutdown_signal() => Ok(()),
    }
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
