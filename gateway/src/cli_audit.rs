//! `enclave audit …` on the host: verify, query, export, checkpoints and proofs.
//! The same operations are offered to compliance staff over SSH (`crate::ssh`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::audit::checkpoint::Checkpoint;
use crate::config::AuditConfig;
use crate::service::{Caller, PurgeMode, PurgeOptions, Service};
use crate::store::AuditFilter;

/// `enclave audit` subcommands.
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the hash chain, the Merkle tree and every signed checkpoint; exit 1
    /// naming the first bad sequence number.
    Verify {
        /// Also check the log against a checkpoint kept elsewhere (JSON, as exported).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Print events as JSON Lines.
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// Start after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// At most this many events.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Export matching events with the signed checkpoint that covers them.
    Export {
        #[command(flatten)]
        filter: FilterArgs,
        /// `jsonl` (first line: the checkpoint) or `csv` (first line: `# checkpoint: {…}`).
        #[arg(long, default_value = "jsonl")]
        format: String,
    },
    /// Sign a checkpoint of the whole trail now and print it (JSON).
    Checkpoint,
    /// Print an inclusion proof for one event (JSON).
    Proof {
        /// Sequence number.
        seq: i64,
    },
    /// Print a consistency proof between two tree sizes (JSON).
    Consistency {
        /// Older size.
        old: u64,
        /// Newer size.
        new: u64,
    },
    /// Print the public key checkpoints are signed with.
    PublicKey,
    /// Print one job's provenance (JSON).
    Provenance {
        /// Job id.
        job: String,
    },
    /// Remove events older than `[audit] retention_days`, keeping the trail
    /// verifiable (purge record, signed checkpoints, an `audit.purge` event).
    /// On PostgreSQL run it with the owner's database URL: the serving role
    /// may not delete audit events.
    Purge {
        /// Only report what would be purged.
        #[arg(long)]
        dry_run: bool,
        /// First write the purged events to this new JSON Lines file.
        #[arg(long)]
        archive: Option<PathBuf>,
    },
}

/// Filters shared by `list` and `export`.
#[derive(Args, Debug, Clone, Default)]
pub struct FilterArgs {
    /// Only this actor.
    #[arg(long)]
    pub actor: Option<String>,
    /// Only this project.
    #[arg(long)]
    pub project: Option<String>,
    /// Only this dataset.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Only events about this job.
    #[arg(long)]
    pub job: Option<String>,
    /// Only this action code (e.g. job.submit).
    #[arg(long)]
    pub action: Option<String>,
    /// Only this outcome: ok, denied or error.
    #[arg(long)]
    pub outcome: Option<String>,
    /// Events at or after this RFC 3339 time.
    #[arg(long)]
    pub from: Option<String>,
    /// Events before this RFC 3339 time.
    #[arg(long)]
    pub to: Option<String>,
}

impl FilterArgs {
    /// The store's filter.
    pub fn to_filter(&self) -> AuditFilter {
        AuditFilter {
            actor: self.actor.clone(),
            project: self.project.clone(),
            dataset: self.dataset.clone(),
            target: self.job.clone(),
            action: self.action.clone(),
            outcome: self.outcome.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
        }
    }
}

/// Runs one `enclave audit` subcommand as `caller`.
///
/// # Errors
/// Unreadable files or store failures; verification failures are exit code 1.
pub async fn run(
    service: &Service,
    caller: &Caller,
    command: AuditCommand,
    settings: &AuditConfig,
) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Purge { dry_run, archive } => {
            let options = PurgeOptions {
                mode: if dry_run {
                    PurgeMode::DryRun
                } else {
                    PurgeMode::Purge
                },
                retention_days: settings.retention_days,
                archive,
            };
            let report = service.purge_trail(caller, &options).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify { checkpoint } => {
            let external: Option<Checkpoint> = match checkpoint {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    Some(
                        parse_checkpoint(&text)
                            .with_context(|| format!("{} is not a checkpoint", path.display()))?,
                    )
                }
                None => None,
            };
            let report = service.verify_trail(caller, external.as_ref()).await?;
            match report.problem {
                None => {
                    let purged = if report.purged > 0 {
                        format!(" (events 1..={} purged under retention)", report.purged)
                    } else {
                        String::new()
                    };
                    println!(
                        "audit chain ok: {} events{purged}, head {}, root {}, {} checkpoints verified",
                        report.events, report.head, report.root_hash, report.checkpoints
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Some(problem) => {
                    eprintln!("enclave: {problem}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        AuditCommand::List {
            filter,
            after,
            limit,
        } => {
            for event in service
                .audit_events(caller, &filter.to_filter(), after, limit)
                .await?
            {
                println!("{}", serde_json::to_string(&event)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export { filter, format } => {
            let (events, checkpoint) = service.audit_export(caller, &filter.to_filter()).await?;
            print!("{}", render_export(&events, &checkpoint, &format)?);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Checkpoint => {
            let checkpoint = service.create_checkpoint(caller).await?;
            println!("{}", serde_json::to_string_pretty(&checkpoint)?);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Proof { seq } => {
            let proof = service.inclusion_proof(caller, seq).await?;
            println!("{}", serde_json::to_string_pretty(&proof)?);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Consistency { old, new } => {
            let proof = service.consistency_proof(caller, old, new).await?;
            println!("{}", serde_json::to_string_pretty(&proof)?);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Provenance { job } => {
            let provenance = service.provenance(caller, &job).await?;
            println!("{}", serde_json::to_string_pretty(&provenance)?);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::PublicKey => {
            println!("{}", service.checkpoint_public_key().unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Reads a checkpoint from its JSON, or from the first line of a JSON Lines export.
///
/// # Errors
/// When the text holds no checkpoint.
pub fn parse_checkpoint(text: &str) -> anyhow::Result<Checkpoint> {
    if let Ok(checkpoint) = serde_json::from_str::<Checkpoint>(text) {
        return Ok(checkpoint);
    }
    let first = text.lines().next().unwrap_or_default();
    let wrapper: serde_json::Value =
        serde_json::from_str(first.trim_start_matches("# checkpoint: "))?;
    let inner = wrapper.get("checkpoint").cloned().unwrap_or(wrapper);
    Ok(serde_json::from_value(inner)?)
}

/// An export in `jsonl` or `csv`, led by the covering checkpoint.
///
/// # Errors
/// For an unknown format.
pub fn render_export(
    events: &[crate::audit::StoredEvent],
    checkpoint: &Checkpoint,
    format: &str,
) -> anyhow::Result<String> {
    let header = serde_json::json!({ "checkpoint": checkpoint }).to_string();
    let mut out = String::new();
    match format {
        "jsonl" => {
            out.push_str(&header);
            out.push('\n');
            for event in events {
                out.push_str(&serde_json::to_string(event)?);
                out.push('\n');
            }
        }
        "csv" => {
            out.push_str(&format!("# checkpoint: {header}\n"));
            let mut writer = String::new();
            writer.push_str("seq,time,actor,role,door,source,action,target,project,dataset,session,request_id,outcome,details,prev_hash,hash\n");
            for e in events {
                let fields = [
                    e.seq.to_string(),
                    e.time.clone(),
                    e.actor.clone(),
                    e.role.clone(),
                    e.door.clone(),
                    e.source.clone(),
                    e.action.clone(),
                    e.target.clone(),
                    e.project.clone(),
                    e.dataset.clone(),
                    e.session.clone(),
                    e.request_id.clone(),
                    e.outcome.clone(),
                    e.details.clone(),
                    e.prev_hash.clone(),
                    e.hash.clone(),
                ];
                let quoted: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                writer.push_str(&quoted.join(","));
                writer.push('\n');
            }
            out.push_str(&writer);
        }
        other => anyhow::bail!("unknown export format {other:?}: use jsonl or csv"),
    }
    Ok(out)
}

/// RFC 4180 quoting; a leading `=`, `+`, `-` or `@` is prefixed with `'` so a
/// spreadsheet never evaluates an audit field as a formula.
fn csv_field(field: &str) -> String {
    let safe = if field.starts_with(['=', '+', '-', '@']) && field != "-" {
        format!("'{field}")
    } else {
        field.to_owned()
    };
    if safe.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", safe.replace('"', "\"\""))
    } else {
        safe
    }
}
