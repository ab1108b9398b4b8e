//! The SSH front door (russh): public-key sign-in, one command per exec
//! request, stdin carries a submitted module. A thin adapter: it parses the
//! exec line with [`crate::command`], calls [`Service`], and maps the result
//! to stdout, a one-line stderr message and an exit status.
//!
//! Invariant: no rules here. Invariant: only `publickey` authentication is
//! offered; shells, PTYs, forwarding, agents, X11 and subsystems are refused.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use russh::keys::{Algorithm, HashAlg, PrivateKey};
use russh::server::{Auth, Handle, Msg, PublicKeyOffer, Server, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, MethodKind, MethodSet, SshId};

mod release;

use crate::audit::Door;
use crate::command::{self, AuditRequest, Command, Invocation};
use crate::render;
use crate::service::{Caller, Service, ServiceError, SubmitRequest};

/// Loads the host key, creating an ed25519 key (mode 0600) if the file is missing.
///
/// # Errors
/// When the file cannot be read, parsed or written.
pub fn load_or_create_host_key(path: &Path) -> anyhow::Result<PrivateKey> {
    if path.exists() {
        let text = std::fs::read_to_string(path)?;
        return Ok(PrivateKey::from_openssh(text)?);
    }
    let key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)?;
    let text = key.to_openssh(russh::keys::ssh_key::LineEnding::LF)?;
    crate::fsutil::write_private(path, text.as_bytes())?;
    Ok(key)
}

/// Builds the russh server configuration: publickey only, few attempts, our id string.
pub fn server_config(host_key: PrivateKey) -> russh::server::Config {
    russh::server::Config {
        server_id: SshId::Standard("SSH-2.0-enclave".into()),
        methods: MethodSet::from(&[MethodKind::PublicKey][..]),
        auth_rejection_time: Duration::from_millis(300),
        auth_rejection_time_initial: Some(Duration::ZERO),
        max_auth_attempts: 6,
        inactivity_timeout: Some(Duration::from_secs(600)),
        keys: vec![host_key],
        nodelay: true,
        ..Default::default()
    }
}

/// Accepts connections and makes one [`SshSession`] per client.
#[derive(Clone)]
pub struct SshServer {
    service: Service,
    module_limit: usize,
}

impl SshServer {
    /// A server over `service`; stdin beyond `module_limit` bytes is refused.
    pub fn new(service: Service, module_limit: usize) -> SshServer {
        SshServer {
            service,
            module_limit,
        }
    }

    /// Serves on `listener` until the task is dropped.
    ///
    /// # Errors
    /// When the listener fails.
    pub async fn serve(
        mut self,
        listener: tokio::net::TcpListener,
        config: russh::server::Config,
    ) -> std::io::Result<()> {
        self.run_on_socket(Arc::new(config), &listener).await
    }
}

impl Server for SshServer {
    type Handler = SshSession;

    fn new_client(&mut self, peer: Option<SocketAddr>) -> SshSession {
        SshSession {
            service: self.service.clone(),
            module_limit: self.module_limit,
            peer,
            user: None,
            login_user: String::from("-"),
            methods_tried: Vec::new(),
            refusal_recorded: false,
            session_id: format!("s-{}", hex::encode(rand::random::<[u8; 6]>())),
            started: Instant::now(),
            pending: HashMap::new(),
            channels: HashMap::new(),
            sftp: Vec::new(),
        }
    }
}

/// One client connection.
pub struct SshSession {
    service: Service,
    module_limit: usize,
    peer: Option<SocketAddr>,
    user: Option<String>,
    login_user: String,
    methods_tried: Vec<String>,
    refusal_recorded: bool,
    session_id: String,
    started: Instant,
    /// Submissions waiting for their module on stdin.
    pending: HashMap<ChannelId, PendingSubmit>,
    /// Session channels not yet given a request. An exec request drops its channel (the
    /// handler's callbacks serve it); an SFTP subsystem takes it as a stream.
    channels: HashMap<ChannelId, Channel<Msg>>,
    /// Channels running the SFTP subsystem; closed with exit status 0 on the client's EOF.
    sftp: Vec<ChannelId>,
}

struct PendingSubmit {
    invocation: Invocation,
    line: String,
    module: Vec<u8>,
    too_large: bool,
}

impl SshSession {
    fn source(&self) -> Option<String> {
        self.peer.map(|p| p.to_string())
    }

    fn caller(&self) -> Option<Caller> {
        Some(Caller {
            user: self.user.clone()?,
            door: Door::Ssh,
            source: self.source(),
            request_id: request_id(),
            session: Some(self.session_id.clone()),
        })
    }

    fn note_method(&mut self, user: &str, method: &str) {
        self.login_user = user.chars().take(64).collect();
        if !self.methods_tried.iter().any(|m| m == method) {
            self.methods_tried.push(method.to_owned());
        }
    }

    /// Refuses a channel request or a forwarding attempt and records it.
    fn refuse_feature(&self, feature: &'static str) {
        let service = self.service.clone();
        let caller = self.caller();
        tokio::spawn(async move {
            if let Some(caller) = caller {
                let _ = service
                    .reject_malformed(&caller, feature, &format!("{feature} is not available"))
                    .await;
            }
        });
    }
}

impl russh::server::Handler for SshSession {
    type Error = russh::Error;

    async fn auth_none(&mut self, user: &str) -> Result<Auth, Self::Error> {
        self.note_method(user, "none");
        Ok(reject())
    }

    async fn auth_password(&mut self, user: &str, _password: &str) -> Result<Auth, Self::Error> {
        self.note_method(user, "password");
        Ok(reject())
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        _response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        self.note_method(user, "keyboard-interactive");
        Ok(reject())
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        self.note_method(user, "publickey");
        let fingerprint = offer.public_key.fingerprint(HashAlg::Sha256).to_string();
        match self
            .service
            .check_ssh_key(user, &fingerprint, self.source())
            .await
        {
            Ok(()) => Ok(Auth::Accept),
            Err(_) => {
                self.refusal_recorded = true;
                Ok(reject())
            }
        }
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        let fingerprint = key.public_key.fingerprint(HashAlg::Sha256).to_string();
        match self
            .service
            .authenticate_ssh_key(user, &fingerprint, self.source())
            .await
        {
            Ok(()) => {
                self.user = Some(user.to_owned());
                self.started = Instant::now();
                Ok(Auth::Accept)
            }
            Err(_) => {
                self.refusal_recorded = true;
                Ok(reject())
            }
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.user.is_some() && self.channels.len() < 16 {
            self.channels.insert(channel.id(), channel);
            reply.accept().await;
        }
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        _channel: Channel<Msg>,
        _host: &str,
        _port: u32,
        _originator: &str,
        _originator_port: u32,
        _reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Dropping `_reply` rejects the channel.
        self.refuse_feature("port forwarding");
        Ok(())
    }

    async fn tcpip_forward(
        &mut self,
        _address: &str,
        _port: &mut u32,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        self.refuse_feature("remote port forwarding");
        Ok(false)
    }

    async fn agent_request(
        &mut self,
        _channel: ChannelId,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        self.refuse_feature("agent forwarding");
        Ok(false)
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single: bool,
        _protocol: &str,
        _cookie: &str,
        _screen: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.refuse_feature("X11 forwarding");
        session.channel_failure(channel)
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _cols: u32,
        _rows: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // No terminal is ever allocated; the shell request below answers with help.
        session.channel_failure(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        self.refuse_feature("interactive shell");
        let message = format!(
            "{}\nenclave: interactive shells are not available; run one command, e.g. ssh ... help\n",
            crate::service::HELP_TEXT
        );
        finish(
            session.handle(),
            channel,
            Vec::new(),
            message.into_bytes(),
            1,
        );
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let open = self.channels.remove(&channel);
        match (name, open, self.caller()) {
            ("sftp", Some(open), Some(caller)) => {
                session.channel_success(channel)?;
                self.sftp.push(channel);
                let service = self.service.clone();
                let limit = self.module_limit;
                tokio::spawn(async move {
                    let _ = service.record_sftp_start(&caller).await;
                    let sftp = crate::sftp::SftpSession::new(service, caller, limit);
                    russh_sftp::server::run(open.into_stream(), sftp).await;
                });
                Ok(())
            }
            _ => {
                self.refuse_feature("subsystem");
                session.channel_failure(channel)
            }
        }
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // The handler's callbacks serve exec channels; an unread channel would stall them.
        drop(self.channels.remove(&channel));
        let Some(caller) = self.caller() else {
            return session.channel_failure(channel);
        };
        session.channel_success(channel)?;
        let line = String::from_utf8_lossy(data).into_owned();
        let handle = session.handle();
        match command::parse(&line) {
            Err(error) => {
                let service = self.service.clone();
                tokio::spawn(async move {
                    let error = service.reject_malformed(&caller, &line, &error.0).await;
                    let (code, message) = render::error(&error, &caller.request_id);
                    finish(handle, channel, Vec::new(), message.into_bytes(), code);
                });
            }
            Ok(invocation)
                if matches!(invocation.command, Command::Submit { module: None, .. }) =>
            {
                self.pending.insert(
                    channel,
                    PendingSubmit {
                        invocation,
                        line,
                        module: Vec::new(),
                        too_large: false,
                    },
                );
            }
            Ok(invocation) => {
                let service = self.service.clone();
                tokio::spawn(async move {
                    let (code, stdout, stderr) =
                        run(&service, &caller, invocation, Vec::new()).await;
                    finish(handle, channel, stdout, stderr, code);
                });
            }
        }
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(pending) = self.pending.get_mut(&channel) {
            if pending.module.len() + data.len() > self.module_limit {
                pending.too_large = true;
                pending.module.clear();
            } else if !pending.too_large {
                pending.module.extend_from_slice(data);
            }
        }
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(at) = self.sftp.iter().position(|c| *c == channel) {
            // The client is done with SFTP (scp -s checks the exit status).
            // Queued synchronously, ahead of the close the SFTP task sends when its stream ends.
            self.sftp.swap_remove(at);
            session.exit_status_request(channel, 0)?;
            session.eof(channel)?;
            return session.close(channel);
        }
        let Some(pending) = self.pending.remove(&channel) else {
            return Ok(());
        };
        let Some(caller) = self.caller() else {
            return Ok(());
        };
        let handle = session.handle();
        let service = self.service.clone();
        let limit = self.module_limit;
        tokio::spawn(async move {
            let (code, stdout, stderr) = if pending.too_large {
                let message = format!("module larger than the limit of {limit} bytes");
                let error = service
                    .reject_malformed(&caller, &pending.line, &message)
                    .await;
                let (code, message) = render::error(&error, &caller.request_id);
                (code, Vec::new(), message.into_bytes())
            } else {
                run(&service, &caller, pending.invocation, pending.module).await
            };
            finish(handle, channel, stdout, stderr, code);
        });
        Ok(())
    }
}

impl Drop for SshSession {
    fn drop(&mut self) {
        let service = self.service.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if let Some(caller) = self.caller() {
            let seconds = self.started.elapsed().as_secs_f64();
            runtime.spawn(async move {
                let _ = service.record_logout(&caller, seconds).await;
            });
        } else if !self.refusal_recorded {
            let user = self.login_user.clone();
            let methods = self.methods_tried.clone();
            let source = self.source();
            runtime.spawn(async move {
                let _ = service
                    .record_failed_login(&user, source, &methods, Door::Ssh)
                    .await;
            });
        }
    }
}

/// Runs one command; returns (exit status, stdout, stderr).
#[tracing::instrument(
    name = "ssh.command",
    skip_all,
    fields(door = "ssh", request_id = %caller.request_id, user = %caller.user, command = invocation.command.name())
)]
async fn run(
    service: &Service,
    caller: &Caller,
    invocation: Invocation,
    module: Vec<u8>,
) -> (u32, Vec<u8>, Vec<u8>) {
    let json = invocation.json;
    let result: Result<Vec<u8>, ServiceError> = match invocation.command {
        Command::Audit(request) => return run_audit(service, caller, request, json).await,
        Command::Release(command) => {
            return release::run_release(service, caller, command, json).await;
        }
        Command::Help => service
            .help(caller)
            .await
            .map(|text| render::help(text, json)),
        Command::WhoAmI => service
            .whoami(caller)
            .await
            .map(|who| render::whoami(&who, json)),
        Command::Jobs => service
            .jobs(caller)
            .await
            .map(|jobs| render::jobs(&jobs, json)),
        Command::Status { id } => service
            .status(caller, &id)
            .await
            .map(|job| render::status(&job, json)),
        Command::Outputs { id } => service
            .outputs(caller, &id)
            .await
            .map(|outputs| render::outputs(&id, &outputs, json)),
        Command::Submit {
            project,
            name,
            dataset,
            args,
            module: from_inbox,
            python,
        } => {
            let module = match from_inbox {
                Some(path) => {
                    let name = path.trim_start_matches("inbox/");
                    match service.inbox_get(caller, name).await {
                        Ok(bytes) => bytes,
                        Err(error) => {
                            let (code, message) = render::error(&error, &caller.request_id);
                            return (code, Vec::new(), message.into_bytes());
                        }
                    }
                }
                None => module,
            };
            let request = SubmitRequest {
                project,
                name,
                dataset,
                args,
                module,
                python,
            };
            service
                .submit(caller, request)
                .await
                .map(|id| render::submitted(&id, json))
        }
    };
    match result {
        Ok(stdout) => (0, stdout, Vec::new()),
        Err(error) => {
            let (code, message) = render::error(&error, &caller.request_id);
            (code, Vec::new(), message.into_bytes())
        }
    }
}

/// Runs a compliance `audit` command; returns (exit status, stdout, stderr).
async fn run_audit(
    service: &Service,
    caller: &Caller,
    request: AuditRequest,
    json: bool,
) -> (u32, Vec<u8>, Vec<u8>) {
    let result: Result<(u32, Vec<u8>), ServiceError> = match request {
        AuditRequest::List {
            filter,
            after,
            limit,
        } => service
            .audit_events(caller, &filter, after, limit)
            .await
            .map(|events| {
                if json {
                    (0, pretty(&serde_json::json!({ "events": events })))
                } else {
                    let lines: String = events
                        .iter()
                        .filter_map(|e| serde_json::to_string(e).ok())
                        .map(|l| l + "\n")
                        .collect();
                    (0, lines.into_bytes())
                }
            }),
        AuditRequest::Verify => service.verify_trail(caller, None).await.map(|report| {
            let code = u32::from(report.problem.is_some());
            if json {
                (code, pretty(&report))
            } else {
                let text = match &report.problem {
                    None => format!(
                        "audit chain ok: {} events, head {}, root {}, {} checkpoints verified\n",
                        report.events, report.head, report.root_hash, report.checkpoints
                    ),
                    Some(problem) => format!("audit verification FAILED: {problem}\n"),
                };
                (code, text.into_bytes())
            }
        }),
        AuditRequest::Export { filter, format } => service
            .audit_export(caller, &filter)
            .await
            .and_then(|(events, checkpoint)| {
                crate::cli_audit::render_export(&events, &checkpoint, &format)
                    .map(|text| (0, text.into_bytes()))
                    .map_err(|e| ServiceError::Invalid(e.to_string()))
            }),
        AuditRequest::Proof { seq } => service
            .inclusion_proof(caller, seq)
            .await
            .map(|proof| (0, pretty(&proof))),
        AuditRequest::Checkpoint => service
            .create_checkpoint(caller)
            .await
            .map(|checkpoint| (0, pretty(&checkpoint))),
        AuditRequest::Provenance { job } => service
            .provenance(caller, &job)
            .await
            .map(|provenance| (0, pretty(&provenance))),
    };
    match result {
        Ok((code, stdout)) => (code, stdout, Vec::new()),
        Err(error) => {
            let (code, message) = render::error(&error, &caller.request_id);
            (code, Vec::new(), message.into_bytes())
        }
    }
}

/// Pretty JSON for any serializable answer.
fn pretty<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).unwrap_or_else(|_| b"null".to_vec());
    out.push(b'\n');
    out
}

/// Sends stdout, stderr and the exit status, then closes the channel.
fn finish(handle: Handle, channel: ChannelId, stdout: Vec<u8>, stderr: Vec<u8>, code: u32) {
    tokio::spawn(async move {
        if !stdout.is_empty() {
            let _ = handle.data(channel, stdout).await;
        }
        if !stderr.is_empty() {
            let _ = handle.extended_data(channel, 1, stderr).await;
        }
        let _ = handle.exit_status_request(channel, code).await;
        let _ = handle.eof(channel).await;
        let _ = handle.close(channel).await;
    });
}

fn reject() -> Auth {
    Auth::Reject {
        proceed_with_methods: Some(MethodSet::from(&[MethodKind::PublicKey][..])),
        partial_success: false,
    }
}

fn request_id() -> String {
    let bytes: [u8; 6] = rand::random();
    format!("r-{}", hex::encode(bytes))
}
