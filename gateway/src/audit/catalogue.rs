//! The catalogue of audit action codes: every `action` an event can carry,
//! with what it records. Codes are a stored format: never rename one, only
//! add. A test checks that every code the gateway writes is listed here.
//!
//! Outcome is `ok`, `denied` (a refusal; `details.reason` says why) or
//! `error`. Reads of the trail are events too (`audit.*`).

/// `(code, meaning)` for every action, sorted by code.
pub const ACTIONS: &[(&str, &str)] = &[
    ("admin.dataset.list", "datasets listed"),
    (
        "admin.dataset.register",
        "a dataset version registered (details: version, tables)",
    ),
    (
        "admin.project.approvals",
        "approvals per released file set for a project",
    ),
    ("admin.project.create", "a project created"),
    (
        "admin.project.dataset.add",
        "a dataset granted to a project",
    ),
    (
        "admin.project.expiry",
        "a project's approval end date changed",
    ),
    ("admin.project.list", "projects listed"),
    ("admin.project.member.add", "a user added to a project"),
    (
        "admin.project.rules",
        "a project's own output rules set (hash, preset, loosenings)",
    ),
    (
        "admin.token.create",
        "an API token created for a user (token id; never the secret)",
    ),
    ("admin.token.list", "API tokens listed"),
    ("admin.token.revoke", "an API token revoked (token id)"),
    ("admin.user.add", "a user created with roles"),
    ("admin.user.disable", "a user disabled"),
    ("admin.user.enable", "a user enabled again"),
    (
        "admin.user.key.add",
        "an SSH public key registered (fingerprint)",
    ),
    ("admin.user.list", "users listed"),
    (
        "admin.user.password",
        "a user's web password set (never the password; clears a sign-in lock)",
    ),
    (
        "admin.user.totp",
        "a user enrolled for the web's TOTP second factor (never the secret)",
    ),
    (
        "audit.checkpoint",
        "a signed checkpoint stored (tree size, root)",
    ),
    ("audit.checkpoint.request", "a checkpoint asked for"),
    ("audit.consistency", "a consistency proof read"),
    ("audit.export", "events exported (count)"),
    ("audit.proof", "an inclusion proof read"),
    ("audit.provenance", "a job's provenance read"),
    (
        "audit.purge",
        "events past retention purged (cut, root, frontier, archive hash)",
    ),
    ("audit.purge.plan", "a purge dry run (range that would go)"),
    ("audit.query", "events listed (count)"),
    ("audit.verify", "the trail verified (problem, if any)"),
    (
        "command.invalid",
        "an unparsable command or a refused SSH feature",
    ),
    (
        "inbox.list",
        "a researcher's SFTP inbox listed (refusals only)",
    ),
    ("inbox.read", "an inbox file read (refusals only)"),
    (
        "inbox.remove",
        "a file removed from a researcher's SFTP inbox",
    ),
    (
        "inbox.upload",
        "a module uploaded to a researcher's SFTP inbox (SHA-256, size)",
    ),
    ("job.check", "output checks recorded for a job's outputs"),
    (
        "job.finish",
        "a job ended (state, reason, usage, data files read)",
    ),
    (
        "job.lease_expired",
        "a job's worker stopped renewing its lease",
    ),
    ("job.list", "a user's jobs listed"),
    ("job.outputs", "a job's outputs listed"),
    (
        "job.recover",
        "a job interrupted by a stop re-queued at start-up",
    ),
    (
        "job.result_discarded",
        "a run whose lease was lost; its result dropped",
    ),
    ("job.start", "a worker claimed a job (attempt)"),
    ("job.status", "a job's status read"),
    (
        "job.submit",
        "a job submitted (module SHA-256, dataset and version, limits)",
    ),
    (
        "release.download",
        "a released file downloaded (SHA-256, size)",
    ),
    ("release.list", "release requests listed (count)"),
    ("release.queue", "a checker's review queue listed (count)"),
    (
        "release.release",
        "a request released: approved files frozen by SHA-256, record hash",
    ),
    (
        "release.request",
        "a release request created (job, files with hashes and verdicts)",
    ),
    (
        "release.resubmit",
        "a returned request resubmitted (round, files whose votes reset)",
    ),
    ("release.review", "a request opened for review"),
    ("release.review_cat", "a file's contents shown to a checker"),
    (
        "release.state",
        "a request moved to returned, rejected or reviewed by a vote",
    ),
    ("release.view", "one release request read"),
    (
        "release.vote",
        "a checker's vote on one file (vote, round, whether commented)",
    ),
    ("release.withdraw", "a request withdrawn by its author"),
    (
        "session.csrf",
        "a web form refused: missing or wrong CSRF token, or a foreign origin",
    ),
    (
        "session.expire",
        "a web session ended by its idle or absolute timeout, or a disabled account",
    ),
    ("session.help", "help shown"),
    (
        "session.login",
        "an SSH sign-in (key fingerprint, methods tried) or a web sign-in (password + TOTP; \
         reason, failures and lock when refused)",
    ),
    (
        "session.logout",
        "an SSH connection or web session ended (duration_seconds)",
    ),
    (
        "session.password",
        "a user changed their own web password (sessions ended) or was refused",
    ),
    ("session.sftp", "an SFTP session started"),
    (
        "session.token",
        "an API token presented at the HTTPS door (token id; reason when refused)",
    ),
    (
        "session.web",
        "a web request with an unknown or ended session cookie (refused)",
    ),
    ("session.whoami", "identity shown"),
];

/// Whether `code` is in the catalogue.
pub fn is_known(code: &str) -> bool {
    ACTIONS
        .binary_search_by(|(known, _)| known.cmp(&code))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_sorted_and_unique() {
        assert!(ACTIONS.windows(2).all(|pair| pair[0].0 < pair[1].0));
    }

    /// Every quoted `area.verb` code in the code that writes events is listed.
    #[test]
    fn every_code_the_gateway_writes_is_in_the_catalogue() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/service");
        let mut files = vec![root.join("../app.rs")];
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).expect("read dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("tests.rs")
                {
                    files.push(path);
                }
            }
        }
        let areas = [
            "admin.", "audit.", "command.", "inbox.", "job.", "release.", "session.",
        ];
        // Tracing span names share the style but are not audit actions.
        let spans = ["job.run"];
        let mut missing = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read source");
            for quoted in text.split('"').skip(1).step_by(2) {
                let looks_like_code = areas.iter().any(|area| quoted.starts_with(area))
                    && quoted
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_');
                if looks_like_code && !is_known(quoted) && !spans.contains(&quoted) {
                    missing.push(format!("{quoted} ({})", file.display()));
                }
            }
        }
        assert!(missing.is_empty(), "not in the catalogue: {missing:?}");
    }
}
