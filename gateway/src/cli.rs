//! The `enclave` command line: demo, serve, admin, audit, dataset tools.
//! Host-side commands select an installation with `--dir DIR` or `--config FILE`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use enclave_policy::{Role, RoleSet};

use crate::app::{self, NodeRole};
use crate::cli_audit::AuditCommand;
use crate::config::{Config, ConfigError};
use crate::demo::{DemoOptions, banner, prepare};
use crate::service::{DatasetRegistration, NewProject, NewUser, Service};
use crate::store::parse_date;
use crate::telemetry::{self, Telemetry};

/// Exit code for an unusable configuration (EX_CONFIG-like, per STYLE.md).
const EXIT_CONFIG: u8 = 64;

#[derive(Parser, Debug)]
#[command(
    name = "enclave",
    version,
    about = "A secure visiting environment for pseudonymized medical data"
)]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand, Debug)]
enum Top {
    /// Create (once) and serve a demo installation with synthetic data.
    Demo {
        /// Installation folder.
        #[arg(long, default_value = "enclave-demo")]
        dir: PathBuf,
        /// SSH port (0 picks a free port).
        #[arg(long, default_value_t = 2222)]
        ssh_port: u16,
        /// HTTPS port (0 picks a free port).
        #[arg(long, default_value_t = 8443)]
        https_port: u16,
        /// Synthetic patients.
        #[arg(long, default_value_t = 100_000)]
        patients: u32,
        /// Seed of the synthetic dataset.
        #[arg(long, default_value_t = 20_260_401)]
        seed: u64,
        /// Folder with built example jobs (*.wasm) to install into DIR/jobs.
        #[arg(long, default_value = "target/examples")]
        examples: PathBuf,
        /// Set up only; do not serve.
        #[arg(long)]
        setup_only: bool,
        /// Database URL (e.g. postgres://...); SQLite in DIR when omitted.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Serve an installation.
    Serve {
        #[command(flatten)]
        target: Target,
        /// What this node runs: the doors, job workers, or both.
        #[arg(long, value_enum, default_value = "all")]
        role: NodeRole,
    },
    /// Create or upgrade the database schema.
    Migrate {
        #[command(flatten)]
        target: Target,
        /// Run as this database URL instead of the config's (e.g. the schema
        /// owner's, when the serving role has no DDL rights).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Manage users, projects and datasets.
    Admin {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Read and verify the audit trail.
    Audit {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Run a job on your own machine, on dummy data, with the gateway's sandbox and limits.
    RunLocal(crate::local::RunLocalArgs),
    /// Write a synthetic dataset with the same schema as a dataset's dictionaries.
    DummyData(crate::dummy::DummyDataArgs),
    /// Write a synthetic claims dataset (OMOP layout) to a folder.
    GenerateDataset {
        /// Output folder (must be empty or missing).
        #[arg(long)]
        out: PathBuf,
        /// Synthetic patients.
        #[arg(long, default_value_t = 100_000)]
        patients: u32,
        /// Seed.
        #[arg(long, default_value_t = 20_260_401)]
        seed: u64,
        /// Dataset name written into the dictionaries.
        #[arg(long, default_value = "claims-demo")]
        name: String,
        /// Dataset version written into the dictionaries.
        #[arg(long, default_value = "2025.1")]
        version: String,
    },
    /// Check a job's outputs offline (e.g. a run on dummy data) and print the verdicts.
    CheckOutput(crate::check_cli::CheckOutputArgs),
}

/// Which installation a host-side command acts on.
#[derive(Args, Debug, Clone)]
struct Target {
    /// Installation folder holding enclave.toml.
    #[arg(long, global = true, conflicts_with = "config")]
    dir: Option<PathBuf>,
    /// Path of an enclave.toml.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Users and their SSH keys.
    #[command(subcommand)]
    User(UserCommand),
    /// Projects: organization, members, datasets, expiry, rules.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Datasets.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// API tokens for the HTTPS door.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create an API token for a user; the token is printed once, as the
    /// last line, and only its hash is kept.
    Create {
        /// Login name.
        user: String,
        /// A label to recognise the token by in listings.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Revoke a token by its id (shown by `create` and `list`).
    Revoke {
        /// Token id.
        id: String,
    },
    /// List tokens (ids, owners, labels; never secrets).
    List,
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create a user.
    Add {
        /// Login name.
        name: String,
        /// Role (repeatable): researcher, checker, compliance, admin.
        #[arg(long = "role", required = true)]
        roles: Vec<Role>,
        /// OpenSSH public key file (repeatable).
        #[arg(long = "ssh-key")]
        ssh_keys: Vec<PathBuf>,
    },
    /// Add an SSH public key to a user.
    AddKey {
        /// Login name.
        name: String,
        /// OpenSSH public key file.
        key: PathBuf,
    },
    /// Disable a user (every request is then refused).
    Disable {
        /// Login name.
        name: String,
    },
    /// Re-enable a user.
    Enable {
        /// Login name.
        name: String,
    },
    /// Set a user's web password, read from the first line of standard input
    /// (12–1024 characters); clears a sign-in lock.
    Password {
        /// Login name.
        name: String,
    },
    /// Enrol a user for the web's TOTP second factor with a fresh secret (replacing any
    /// earlier one); prints the secret and, as the last line, the otpauth:// URI once.
    Totp {
        /// Login name.
        name: String,
    },
    /// List users.
    List,
}

#[derive(Subcommand, Debug)]
enum ProjectCommand {
    /// Create an approved project.
    Create {
        /// Project name.
        name: String,
        /// Certified organization.
        #[arg(long)]
        organization: String,
        /// Last valid day, YYYY-MM-DD.
        #[arg(long)]
        expires: String,
        /// Output rule preset: ndb, acro or opensafely.
        #[arg(long, default_value = "ndb")]
        rules: String,
        /// Member (repeatable).
        #[arg(long = "member")]
        members: Vec<String>,
        /// Dataset (repeatable).
        #[arg(long = "dataset")]
        datasets: Vec<String>,
    },
    /// Add a member.
    AddMember {
        /// Project name.
        project: String,
        /// User name.
        user: String,
    },
    /// Grant a dataset.
    GrantDataset {
        /// Project name.
        project: String,
        /// Dataset name.
        dataset: String,
    },
    /// Change the expiry date.
    SetExpiry {
        /// Project name.
        project: String,
        /// Last valid day, YYYY-MM-DD.
        expires: String,
    },
    /// Set how many independent approvals each released file needs (1 only when all the
    /// project's data is anonymized; never fewer than 2 for pseudonymized data).
    SetApprovals {
        /// Project name.
        project: String,
        /// Approvals per file, 1 to 9.
        approvals: i64,
    },
    /// Set the project's output-checking rules from a rules file (a preset plus
    /// overrides). Tightening only, unless --allow-loosening; either way audited.
    Rules {
        /// Project name.
        project: String,
        /// Rules file (TOML), as read by `enclave check-output --rules`.
        #[arg(long = "rules")]
        file: PathBuf,
        /// Confirm that parameters looser than the project's preset are intended.
        #[arg(long)]
        allow_loosening: bool,
    },
    /// List projects.
    List,
}

#[derive(Subcommand, Debug)]
enum DatasetCommand {
    /// Register a dataset folder (one sub-folder per table with dictionary.json).
    Register {
        /// Dataset name.
        name: String,
        /// Folder.
        #[arg(long)]
        path: PathBuf,
        /// anonymized or pseudonymized.
        #[arg(long)]
        class: String,
    },
    /// List datasets.
    List,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("enclave: error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // The OTLP exporter (tonic) needs the runtime; it is flushed before the runtime ends.
    let telemetry = {
        let _entered = runtime.enter();
        Telemetry::init(telemetry::endpoint(configured_otlp_endpoint(&cli)).as_deref())
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("enclave: error: {error:#}");
            if error.downcast_ref::<ConfigError>().is_some() {
                ExitCode::from(EXIT_CONFIG)
            } else {
                ExitCode::FAILURE
            }
        }
    };
    telemetry.shutdown();
    code
}

/// `[telemetry] otlp_endpoint` of the installation a command acts on. A config
/// that does not load is reported later by the command itself.
fn configured_otlp_endpoint(cli: &Cli) -> Option<String> {
    match &cli.command {
        Top::Serve { target, .. } | Top::Admin { target, .. } | Top::Audit { target, .. } => {
            target.load().ok()?.telemetry.otlp_endpoint
        }
        _ => None,
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Top::Demo {
            dir,
            ssh_port,
            https_port,
            patients,
            seed,
            examples,
            setup_only,
            database_url,
        } => {
            let options = DemoOptions {
                dir: dir.clone(),
                ssh_port,
                https_port,
                patients,
                seed,
                examples: Some(examples),
                database_url,
            };
            let (config, service) = prepare(&options).await?;
            if setup_only {
                println!("demo installation ready in {}", dir.display());
                return Ok(ExitCode::SUCCESS);
            }
            let dir = std::path::absolute(&dir)?;
            app::serve(&config, service, NodeRole::All, |bound| {
                if let (Some(ssh), Some(https)) = (bound.ssh, bound.https) {
                    println!("{}", banner(&dir, ssh, https));
                }
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Top::Serve { target, role } => {
            let config = target.load()?;
            let service = app::open(&config).await?;
            app::serve(&config, service, role, |bound| {
                if let Some(ssh) = bound.ssh {
                    println!("ssh listening on {ssh}");
                }
                if let Some(https) = bound.https {
                    println!("https listening on {https}");
                }
                if role != NodeRole::Gateway {
                    println!("worker ready");
                }
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Top::Migrate {
            target,
            database_url,
        } => {
            let mut config = target.load()?;
            if let Some(url) = database_url {
                crate::store::Backend::of_url(&url)
                    .map_err(|e| ConfigError::Invalid(e.to_string()))?;
                config.database_url = Some(url);
            }
            // The default SQLite file lives in the state folder; create it first.
            std::fs::create_dir_all(&config.state_dir)
                .with_context(|| format!("creating {}", config.state_dir.display()))?;
            crate::store::Store::open(&config.database_url()).await?;
            println!("database schema is up to date");
            Ok(ExitCode::SUCCESS)
        }
        Top::Admin { target, command } => {
            let config = target.load()?;
            let service = app::open(&config).await?;
            admin(&service, command).await
        }
        Top::Audit { target, command } => {
            let config = target.load()?;
            let service = app::open(&config).await?;
            crate::cli_audit::run(&service, &app::cli_caller().0, command, &config.audit).await
        }
        Top::RunLocal(args) => crate::local::run_local(args).await,
        Top::DummyData(args) => crate::dummy::dummy_data(&args),
        Top::GenerateDataset {
            out,
            patients,
            seed,
            name,
            version,
        } => {
            let spec = crate::datagen::DatasetSpec {
                name,
                version,
                patients,
                seed,
            };
            let summary = crate::datagen::generate(&out, &spec)
                .with_context(|| format!("writing {}", out.display()))?;
            for (table, rows) in summary.tables {
                println!("{table:<22} {rows:>9} rows");
            }
            Ok(ExitCode::SUCCESS)
        }
        Top::CheckOutput(args) => Ok(crate::check_cli::run(&args)),
    }
}

impl Target {
    fn load(&self) -> Result<Config, ConfigError> {
        match (&self.dir, &self.config) {
            (_, Some(path)) => Config::load(path),
            (Some(dir), None) => Config::for_dir(dir),
            (None, None) => Err(ConfigError::Invalid(
                "choose an installation with --dir DIR or --config FILE".into(),
            )),
        }
    }
}

async fn admin(service: &Service, command: AdminCommand) -> anyhow::Result<ExitCode> {
    let caller = app::cli_caller();
    let result =
        match command {
            AdminCommand::User(UserCommand::Add {
                name,
                roles,
                ssh_keys,
            }) => {
                let mut keys = Vec::new();
                for path in ssh_keys {
                    keys.push(
                        std::fs::read_to_string(&path)
                            .with_context(|| format!("reading {}", path.display()))?,
                    );
                }
                service
                    .admin_add_user(
                        &caller,
                        NewUser {
                            name: name.clone(),
                            roles: RoleSet::of(&roles),
                            ssh_keys: keys,
                        },
                    )
                    .await
                    .map(|()| format!("user {name} created"))
            }
            AdminCommand::User(UserCommand::AddKey { name, key }) => {
                let text = std::fs::read_to_string(&key)
                    .with_context(|| format!("reading {}", key.display()))?;
                service
                    .admin_add_key(&caller, &name, &text)
                    .await
                    .map(|()| format!("key added to {name}"))
            }
            AdminCommand::User(UserCommand::Disable { name }) => service
                .admin_set_disabled(&caller, &name, true)
                .await
                .map(|()| format!("user {name} disabled")),
            AdminCommand::User(UserCommand::Enable { name }) => service
                .admin_set_disabled(&caller, &name, false)
                .await
                .map(|()| format!("user {name} enabled")),
            AdminCommand::User(UserCommand::Password { name }) => {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("reading the password from standard input")?;
                let password = line.trim_end_matches(['\n', '\r']);
                service
                    .admin_set_password(&caller, &name, password)
                    .await
                    .map(|()| format!("web password set for {name}"))
            }
            AdminCommand::User(UserCommand::Totp { name }) => service
                .admin_enrol_totp(&caller, &name)
                .await
                .map(|enrolment| {
                    format!(
                        "TOTP enrolled for {name}; shown only once.\nsecret (base32): {}\n{}",
                        enrolment.secret, enrolment.uri
                    )
                }),
            AdminCommand::Token(TokenCommand::Create { user, name }) => service
                .admin_create_token(&caller, &user, &name)
                .await
                .map(|created| {
                    format!(
                        "token {} created for {user}; it is shown only once:\n{}",
                        created.id, created.token
                    )
                }),
            AdminCommand::Token(TokenCommand::Revoke { id }) => service
                .admin_revoke_token(&caller, &id)
                .await
                .map(|()| format!("token {id} revoked")),
            AdminCommand::Token(TokenCommand::List) => {
                service.admin_tokens(&caller).await.map(|tokens| {
                    tokens
                        .iter()
                        .map(|t| {
                            format!(
                                "{:<14} {:<20} {:<24} created={} {}",
                                t.id,
                                t.user,
                                if t.label.is_empty() { "-" } else { &t.label },
                                t.created_at,
                                t.revoked_at.as_ref().map_or_else(
                                    || "active".to_owned(),
                                    |at| format!("revoked={at}")
                                )
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                })
            }
            AdminCommand::User(UserCommand::List) => {
                service.admin_users(&caller).await.map(|users| {
                    users
                        .iter()
                        .map(|u| {
                            format!(
                                "{:<20} {:<40} {}",
                                u.name,
                                u.roles,
                                if u.disabled { "disabled" } else { "active" }
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                })
            }
            AdminCommand::Project(ProjectCommand::Create {
                name,
                organization,
                expires,
                rules,
                members,
                datasets,
            }) => {
                let expires_on = parse_date(&expires)
                    .map_err(|_| anyhow::anyhow!("--expires must be a date YYYY-MM-DD"))?;
                let project = NewProject {
                    name: name.clone(),
                    organization,
                    expires_on,
                    rules,
                    members,
                    datasets,
                };
                service
                    .admin_create_project(&caller, project)
                    .await
                    .map(|()| format!("project {name} created"))
            }
            AdminCommand::Project(ProjectCommand::AddMember { project, user }) => service
                .admin_add_member(&caller, &project, &user)
                .await
                .map(|()| format!("{user} added to {project}")),
            AdminCommand::Project(ProjectCommand::GrantDataset { project, dataset }) => service
                .admin_grant_dataset(&caller, &project, &dataset)
                .await
                .map(|()| format!("{dataset} granted to {project}")),
            AdminCommand::Project(ProjectCommand::SetExpiry { project, expires }) => {
                let expires_on = parse_date(&expires)
                    .map_err(|_| anyhow::anyhow!("expiry must be a date YYYY-MM-DD"))?;
                service
                    .admin_set_expiry(&caller, &project, expires_on)
                    .await
                    .map(|()| format!("{project} now expires on {expires_on}"))
            }
            AdminCommand::Project(ProjectCommand::SetApprovals { project, approvals }) => service
                .admin_set_release_approvals(&caller, &project, approvals)
                .await
                .map(|()| format!("{project}: each released file now needs {approvals} approvals")),
            AdminCommand::Project(ProjectCommand::Rules {
                project,
                file,
                allow_loosening,
            }) => {
                let bytes =
                    std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
                let request = crate::service::ProjectRulesRequest {
                    project: project.clone(),
                    file: file.display().to_string(),
                    bytes,
                    loosening: if allow_loosening {
                        crate::service::LooseningConsent::Confirm
                    } else {
                        crate::service::LooseningConsent::Refuse
                    },
                };
                service
                    .admin_set_project_rules(&caller, request)
                    .await
                    .map(|set| {
                        let mut out = format!(
                            "project {project} now checks outputs under {} (sha256 {})",
                            set.name, set.sha256
                        );
                        for loosening in &set.loosenings {
                            out.push_str(&format!("\nloosened: {}", loosening.message));
                        }
                        out
                    })
            }
            AdminCommand::Project(ProjectCommand::List) => {
                service.admin_projects(&caller).await.map(|projects| {
                    projects
                .iter()
                .map(|p| format!(
                    "{:<20} org={} expires={} rules={} active={} members={} datasets={}",
                    p.facts.name, p.organization, p.facts.expires_on, p.rules, p.facts.active,
                    p.facts.members.join(","), p.datasets.join(",")
                ))
                .collect::<Vec<_>>()
                .join("\n")
                })
            }
            AdminCommand::Dataset(DatasetCommand::Register { name, path, class }) => service
                .admin_register_dataset(&caller, DatasetRegistration { name, path, class })
                .await
                .map(|d| {
                    format!(
                        "dataset {} registered: version {}, tables {}",
                        d.name,
                        d.version,
                        d.tables.join(",")
                    )
                }),
            AdminCommand::Dataset(DatasetCommand::List) => {
                service.admin_datasets(&caller).await.map(|datasets| {
                    datasets
                        .iter()
                        .map(|d| {
                            format!(
                                "{:<20} {:<14} version={} path={} tables={}",
                                d.name,
                                d.class,
                                d.version,
                                d.path,
                                d.tables.join(",")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                })
            }
        };
    match result {
        Ok(text) => {
            if !text.is_empty() {
                println!("{text}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            let (code, message) = crate::render::error(&error, &caller.0.request_id);
            eprint!("{message}");
            Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
        }
    }
}
