//! How answers look on a terminal (text or `--json`) and how errors map to an
//! exit status and one stderr line. Shared by the SSH door and the host CLI.

use serde::Serialize;

pub mod release;

use enclave_policy::sdc::Verdict;

use crate::service::{JobView, OutputView, ReasonSummary, ServiceError, WhoAmI};

/// Exit status and stderr line for an error. Internal errors show only the request id.
pub fn error(error: &ServiceError, request_id: &str) -> (u32, String) {
    let code = match error {
        ServiceError::Invalid(_) => 2,
        ServiceError::Forbidden(_) => 3,
        ServiceError::NotFound(_) => 4,
        ServiceError::Conflict(_) => 5,
        ServiceError::Unauthenticated(_) => 77,
        ServiceError::Unavailable(_) => 75,
        ServiceError::Internal(_) => 70,
    };
    (
        code,
        format!("enclave: error: {error} (request {request_id})\n"),
    )
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).unwrap_or_else(|_| b"null".to_vec());
    out.push(b'\n');
    out
}

/// `help`
pub fn help(text: &str, as_json: bool) -> Vec<u8> {
    if as_json {
        json(&serde_json::json!({ "help": text }))
    } else {
        text.as_bytes().to_vec()
    }
}

/// `whoami`
pub fn whoami(who: &WhoAmI, as_json: bool) -> Vec<u8> {
    if as_json {
        return json(who);
    }
    let projects = if who.projects.is_empty() {
        "none".to_owned()
    } else {
        who.projects.join(", ")
    };
    let roles = if who.roles.is_empty() {
        "none".to_owned()
    } else {
        who.roles.join(", ")
    };
    format!(
        "user:     {}\nroles:    {roles}\nprojects: {projects}\n",
        who.user
    )
    .into_bytes()
}

/// `submit`: the job id is the first line.
pub fn submitted(id: &str, as_json: bool) -> Vec<u8> {
    if as_json {
        json(&serde_json::json!({ "id": id, "state": "queued" }))
    } else {
        format!("{id}\n").into_bytes()
    }
}

/// `jobs`
pub fn jobs(jobs: &[JobView], as_json: bool) -> Vec<u8> {
    if as_json {
        return json(&serde_json::json!({ "jobs": jobs }));
    }
    let mut out = format!(
        "{:<20} {:<10} {:<18} {:<27} {}\n",
        "ID", "STATE", "PROJECT", "SUBMITTED", "NAME"
    );
    for job in jobs {
        out.push_str(&format!(
            "{:<20} {:<10} {:<18} {:<27} {}\n",
            job.id, job.state, job.project, job.submitted_at, job.name
        ));
    }
    if jobs.is_empty() {
        out.push_str("(no jobs)\n");
    }
    out.into_bytes()
}

/// `status`
pub fn status(job: &JobView, as_json: bool) -> Vec<u8> {
    if as_json {
        return json(job);
    }
    let mut out = String::new();
    let mut line = |key: &str, value: &str| out.push_str(&format!("{key:<16} {value}\n"));
    line("id:", &job.id);
    line("name:", &job.name);
    line("project:", &job.project);
    line("submitter:", &job.submitter);
    line("state:", &job.state);
    line("reason:", job.reason.as_deref().unwrap_or("-"));
    line(
        "exit code:",
        &job.exit_code.map_or("-".into(), |c| c.to_string()),
    );
    match &job.script_sha256 {
        Some(script) => {
            line("language:", "python");
            line("script sha256:", script);
            line("runner sha256:", &job.module_sha256);
        }
        None => line("module sha256:", &job.module_sha256),
    }
    line(
        "dataset:",
        &format!("{} (version {})", job.dataset, job.dataset_version),
    );
    line("arguments:", &job.args.to_string());
    line("submitted:", &job.submitted_at);
    line("started:", job.started_at.as_deref().unwrap_or("-"));
    line("finished:", job.finished_at.as_deref().unwrap_or("-"));
    line("limits:", &job.limits.to_string());
    line(
        "usage:",
        &job.usage.as_ref().map_or("-".into(), ToString::to_string),
    );
    out.push_str(&data_access_lines(job.data_access.as_ref()));
    out.push_str(&String::from_utf8_lossy(&outputs_table(&job.outputs)));
    out.into_bytes()
}

/// `outputs`
pub fn outputs(id: &str, outputs: &[OutputView], as_json: bool) -> Vec<u8> {
    if as_json {
        return json(&serde_json::json!({ "id": id, "outputs": outputs }));
    }
    outputs_table(outputs)
}

fn outputs_table(outputs: &[OutputView]) -> Vec<u8> {
    let mut out = String::from("outputs (quarantined; contents are never shown before release):\n");
    if outputs.is_empty() {
        out.push_str("  (none yet)\n");
    }
    for o in outputs {
        let flag = if o.truncated { " (truncated)" } else { "" };
        let verdict = o.verdict.as_deref().unwrap_or("-");
        out.push_str(&format!(
            "  {:<32} {:<7} {:>10}  {verdict:<6}  {}{flag}\n",
            o.name, o.kind, o.size, o.sha256
        ));
        if let Some(line) = reasons_line(&o.reasons) {
            out.push_str(&format!("      {line}\n"));
        }
        if o.never_release {
            out.push_str("      checker evidence: never released\n");
        }
        if let Some(suggested) = &o.suggested {
            out.push_str(&format!(
                "      suggested safe version: {} {}\n",
                suggested.name, suggested.sha256
            ));
        }
    }
    out.into_bytes()
}

/// `fail: threshold (3 cells), zero (1 cell); review: unchecked_columns`: codes and
/// counts only (the service never stores more for researchers).
fn reasons_line(reasons: &[ReasonSummary]) -> Option<String> {
    let mut parts = Vec::new();
    for verdict in [Verdict::Fail, Verdict::Review, Verdict::Pass] {
        let items: Vec<String> = reasons
            .iter()
            .filter(|r| r.verdict == verdict)
            .map(|r| match (&r.detail, r.cells) {
                (Some(detail), _) => format!("{} ({detail})", r.code),
                (None, 0) => r.code.clone(),
                (None, 1) => format!("{} (1 cell)", r.code),
                (None, n) => format!("{} ({n} cells)", r.code),
            })
            .collect();
        if !items.is_empty() {
            parts.push(format!("{}: {}", verdict.as_str(), items.join(", ")));
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// `data read:` and one line per `/data` file the job opened, with bytes read.
fn data_access_lines(record: Option<&serde_json::Value>) -> String {
    let Some(files) = record.and_then(serde_json::Value::as_array) else {
        return format!("{:<16} -\n", "data read:");
    };
    let mut out = format!("{:<16} {} file(s)\n", "data read:", files.len());
    for file in files {
        out.push_str(&format!(
            "  {:<46} {:>12} bytes  {} open(s)\n",
            file["path"].as_str().unwrap_or("?"),
            file["bytes_read"],
            file["opens"]
        ));
    }
    out
}
