//! Issue 5: the release workflow through the real `ssh` and `sftp` clients. Researchers
//! request, independent checkers vote blind, approved files are frozen and downloaded
//! byte for byte; every refusal is one clear line, changes nothing and is audited.

use std::process::{Command, Output};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::checks::writer;
use crate::support::{Server, Stdin, assert_refused, audited, text};

mod crash;
mod random;

const MANIFEST: &str = r#"{ "version": 1, "outputs": [
  { "file": "table.csv", "kind": "frequency_table", "dimensions": ["g"], "count": "n" },
  { "file": "risky.csv", "kind": "frequency_table", "dimensions": ["g"], "count": "n" },
  { "file": "cost.csv", "kind": "magnitude_table", "statistic": "mean", "dimensions": ["g"],
    "value": "mean_cost", "evidence": "cost.evidence.csv" } ] }"#;

pub const TABLE: &str = "g,n\na,30\nb,40\nTotal,70\n";
pub const RISKY: &str = "g,n\na,3\nb,40\nc,52\nTotal,95\n";

/// A job whose outputs are a passing table, a failing table and evidence; `risky` replaces
/// the failing table's contents.
pub fn release_job(server: &Server, risky: &str) -> String {
    let files: [(&str, &[u8]); 5] = [
        ("manifest.json", MANIFEST.as_bytes()),
        ("table.csv", TABLE.as_bytes()),
        ("risky.csv", risky.as_bytes()),
        ("cost.csv", b"g,mean_cost\na,10\nb,20\n"),
        (
            "cost.evidence.csv",
            b"g,n,sum,top1,top2\na,30,300,20,19\nb,40,800,30,29\n",
        ),
    ];
    let module = writer(&files);
    let id = server.submit(Stdin::Bytes(&module), &[]);
    let status = server.wait_finished(&id);
    assert_eq!(status["state"], "succeeded", "{status}");
    id
}

/// Runs `ssh` as `user` and returns stdout, asserting success.
#[track_caller]
pub fn ok(server: &Server, user: &str, args: &[&str]) -> String {
    let output = server.ssh(user, args, Stdin::Null);
    assert!(
        output.status.success(),
        "{user} {args:?}: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// `request <id> --json` as `user`.
pub fn request_json(server: &Server, user: &str, id: &str) -> Value {
    serde_json::from_str(&ok(server, user, &["request", id, "--json"])).expect("request JSON")
}

/// Creates a request and returns its id.
pub fn request(server: &Server, job: &str, files: &[&str], extra: &[&str]) -> String {
    let mut args = vec!["request-release", job];
    args.extend_from_slice(files);
    args.extend_from_slice(&["--context", "counts by group, adults in the demo cohort"]);
    args.extend_from_slice(extra);
    let id = ok(server, "alice", &args).trim().to_owned();
    assert!(id.starts_with("rel-"), "unexpected request id {id:?}");
    id
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn release_count(server: &Server) -> usize {
    let events = server.audit_events();
    events
        .iter()
        .filter(|e| e["action"] == "release.request" && e["outcome"] == "ok")
        .count()
}

#[test]
fn happy_path_two_blinded_approvals_then_identical_download() {
    let server = Server::demo();
    let job = release_job(&server, RISKY);

    // Refusals before anything exists: each one line, nothing created, audited.
    let refusals: Vec<(&str, Vec<&str>, i32, &str)> = vec![
        (
            "alice",
            vec!["request-release", &job, "table.csv"],
            2,
            "needs --context",
        ),
        (
            "alice",
            vec!["request-release", &job, "risky.csv", "--context", "x"],
            2,
            "give --justification",
        ),
        (
            "alice",
            vec![
                "request-release",
                &job,
                "cost.evidence.csv",
                "--context",
                "x",
                "--justification",
                "y",
            ],
            3,
            "never released",
        ),
        (
            "alice",
            vec!["request-release", &job, "nope.csv", "--context", "x"],
            2,
            "not an output file",
        ),
        (
            "alice",
            vec!["request-release", "j-000000", "table.csv", "--context", "x"],
            4,
            "no such job",
        ),
        (
            "alice",
            vec![
                "request-release",
                &job,
                "table.csv",
                "table.csv",
                "--context",
                "x",
            ],
            2,
            "named twice",
        ),
        (
            "bob",
            vec!["request-release", &job, "table.csv", "--context", "x"],
            3,
            "not a member",
        ),
        (
            "carol",
            vec!["request-release", &job, "table.csv", "--context", "x"],
            3,
            "requires role researcher",
        ),
    ];
    for (user, args, code, fragment) in &refusals {
        assert_refused(&server.ssh(user, args, Stdin::Null), *code, fragment);
    }
    assert_eq!(release_count(&server), 0);

    let id = request(&server, &job, &["table.csv"], &[]);
    let before = request_json(&server, "alice", &id);
    assert_eq!(before["state"], "submitted");
    assert_eq!(before["files"][0]["verdict"], "pass");

    // Downloads before release, by anyone, fail.
    assert_refused(
        &server.ssh("alice", &["download", &id, "table.csv"], Stdin::Null),
        3,
        "not released",
    );
    assert_refused(
        &server.ssh(
            "alice",
            &["download", "rel-000000", "table.csv"],
            Stdin::Null,
        ),
        4,
        "no such release request",
    );

    // The queue and the review for an eligible checker.
    assert!(ok(&server, "carol", &["review-queue"]).contains(&id));
    let review: Value =
        serde_json::from_str(&ok(&server, "carol", &["review", &id, "--json"])).unwrap();
    assert_eq!(review["request"]["context"], before["context"]);
    assert_eq!(review["files"][0]["kind"], "frequency_table");
    assert_eq!(review["files"][0]["verdict"], "pass");
    let cat = server.ssh("carol", &["review-cat", &id, "table.csv"], Stdin::Null);
    assert_eq!(text(&cat.stdout), TABLE);

    // Ineligible voters.
    let ineligible: [(&str, i32, &str); 5] = [
        ("gina", 3, "of which you are a member"),
        ("root", 3, "requires role checker"),
        ("alice", 3, "requires role checker"),
        ("erin", 3, "requires role checker"),
        ("bob", 3, "requires role checker"),
    ];
    for (user, code, fragment) in ineligible {
        let output = server.ssh(user, &["vote", &id, "table.csv", "approve"], Stdin::Null);
        assert_refused(&output, code, fragment);
    }
    assert!(!ok(&server, "gina", &["review-queue"]).contains(&id));
    assert_refused(
        &server.ssh("gina", &["review-cat", &id, "table.csv"], Stdin::Null),
        3,
        "of which you are a member",
    );

    // First vote: blinded for the researcher and the other checker.
    let after_one: Value = serde_json::from_str(&ok(
        &server,
        "carol",
        &["vote", &id, "table.csv", "approve", "--json"],
    ))
    .unwrap();
    assert_eq!(after_one["state"], "partially_reviewed");
    assert_eq!(
        after_one["votes"].as_array().unwrap().len(),
        1,
        "own vote visible"
    );
    for viewer in ["alice", "dave"] {
        let seen = request_json(&server, viewer, &id);
        assert_eq!(seen["blinded"], true, "{viewer}: {seen}");
        assert!(
            seen["votes"].as_array().unwrap().is_empty(),
            "{viewer}: {seen}"
        );
        assert!(seen["files"][0]["outcome"].is_null());
    }
    assert_refused(
        &server.ssh("carol", &["vote", &id, "table.csv", "approve"], Stdin::Null),
        5,
        "already voted",
    );
    assert_refused(
        &server.ssh("dave", &["vote", &id, "nope.csv", "approve"], Stdin::Null),
        2,
        "not in this request",
    );
    assert_refused(
        &server.ssh("dave", &["vote", &id, "table.csv", "reject"], Stdin::Null),
        2,
        "comment is required",
    );

    // Second approval releases.
    let after_two: Value = serde_json::from_str(&ok(
        &server,
        "dave",
        &["vote", &id, "table.csv", "approve", "--json"],
    ))
    .unwrap();
    assert_eq!(after_two["state"], "released");
    let seen = request_json(&server, "alice", &id);
    assert_eq!(seen["blinded"], false);
    assert_eq!(seen["votes"].as_array().unwrap().len(), 2);
    let frozen = seen["files"][0]["released_sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(frozen, sha256(TABLE.as_bytes()));

    // Download over ssh: exactly the frozen bytes.
    let download = server.ssh("alice", &["download", &id, "table.csv"], Stdin::Null);
    assert!(download.status.success(), "{}", text(&download.stderr));
    assert_eq!(sha256(&download.stdout), frozen);
    assert_eq!(download.stdout, TABLE.as_bytes());

    // After release: no more votes, no withdrawal, other researchers cannot download.
    assert_refused(
        &server.ssh("frank", &["vote", &id, "table.csv", "approve"], Stdin::Null),
        5,
        "released",
    );
    assert_refused(
        &server.ssh("alice", &["withdraw", &id], Stdin::Null),
        5,
        "released",
    );
    assert_refused(
        &server.ssh("bob", &["download", &id, "table.csv"], Stdin::Null),
        3,
        "not a member",
    );
    assert_refused(
        &server.ssh("alice", &["download", &id, "risky.csv"], Stdin::Null),
        3,
        "not released",
    );

    // SFTP: the released tree and nothing else of the host.
    let sftp = sftp_batch(
        &server,
        "alice",
        &format!(
            "ls /\nls released\nget released/{id}/table.csv {dir}/got.csv\n-get /etc/passwd {dir}/passwd\n-get ../../../etc/passwd {dir}/passwd2\n-put {dir}/got.csv released/{id}/x.csv\n-mkdir evil\n",
            dir = server.path().display()
        ),
    );
    let listing = text(&sftp.stdout);
    assert!(sftp.status.success(), "{listing}\n{}", text(&sftp.stderr));
    assert!(
        listing.contains("released") && listing.contains("inbox"),
        "{listing}"
    );
    assert!(listing.contains(&id), "{listing}");
    assert_eq!(
        std::fs::read(server.path().join("got.csv")).unwrap(),
        TABLE.as_bytes()
    );
    assert!(!server.path().join("passwd").exists());
    assert!(!server.path().join("passwd2").exists());

    // The trail has every step, refusals included, and still verifies.
    let events = server.audit_events();
    for (action, outcome, fragment) in [
        ("release.request", "ok", "table.csv"),
        ("command.invalid", "error", "needs --context"),
        ("release.request", "error", "named twice"),
        ("release.request", "denied", "never released"),
        ("release.request", "denied", "not a member"),
        ("release.vote", "ok", "approve"),
        ("release.vote", "denied", "already voted"),
        ("release.vote", "denied", "of which you are a member"),
        ("release.vote", "denied", "comment is required"),
        ("release.release", "ok", &frozen),
        ("release.download", "ok", &frozen),
        ("release.download", "denied", "not released"),
        ("release.review_cat", "ok", "table.csv"),
        ("session.sftp", "ok", ""),
    ] {
        assert!(
            audited(&events, action, outcome, fragment),
            "missing {action} {outcome} {fragment}"
        );
    }
    let downloads = events
        .iter()
        .filter(|e| e["action"] == "release.download" && e["outcome"] == "ok")
        .count();
    assert_eq!(downloads, 2, "one ssh download and one sftp get");
    let verify = server.enclave(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify.stdout));

    // Provenance in one query, from the release id: job, votes, release, downloads.
    let provenance: Value =
        serde_json::from_str(&ok(&server, "erin", &["audit", "provenance", &id])).unwrap();
    assert_eq!(provenance["job_id"], job.as_str());
    let release = &provenance["releases"][0];
    assert_eq!(release["id"], id.as_str());
    assert_eq!(release["votes"].as_array().unwrap().len(), 2);
    assert_eq!(release["files"][0]["released_sha256"], frozen.as_str());
    assert!(release["record_sha256"].is_string());
    let actions: Vec<&str> = release["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "release.request",
        "release.vote",
        "release.release",
        "release.download",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
}

#[test]
fn returned_then_resubmitted_with_a_new_job_keeps_unchanged_approvals() {
    let server = Server::demo();
    let job = release_job(&server, RISKY);
    let id = request(
        &server,
        &job,
        &["table.csv", "risky.csv"],
        &[
            "--justification",
            "the small cell is a margin of a public table",
        ],
    );
    assert_refused(
        &server.ssh("alice", &["resubmit", &id], Stdin::Null),
        5,
        "cannot resubmit a request that is submitted",
    );
    for checker in ["carol", "dave"] {
        ok(&server, checker, &["vote", &id, "table.csv", "approve"]);
        ok(
            &server,
            checker,
            &[
                "vote",
                &id,
                "risky.csv",
                "changes",
                "--comment",
                "suppress the cell of 3",
            ],
        );
    }
    let returned = request_json(&server, "alice", &id);
    assert_eq!(returned["state"], "returned");
    assert_eq!(returned["blinded"], false);
    assert!(returned.to_string().contains("suppress the cell of 3"));
    assert_refused(
        &server.ssh("alice", &["download", &id, "table.csv"], Stdin::Null),
        3,
        "not released",
    );

    // A new job fixes risky.csv; table.csv is unchanged and keeps its approvals.
    let fixed = release_job(&server, "g,n\na,30\nb,40\nc,52\nTotal,122\n");
    assert_refused(
        &server.ssh("bob", &["resubmit", &id, "--job", &fixed], Stdin::Null),
        3,
        "only the request's author",
    );
    ok(
        &server,
        "alice",
        &[
            "resubmit",
            &id,
            "--job",
            &fixed,
            "--context",
            "group a merged upstream",
        ],
    );
    let again = request_json(&server, "alice", &id);
    assert_eq!(again["state"], "submitted");
    assert_eq!(again["round"], 2);
    assert_eq!(again["context"], "group a merged upstream");
    let file = |name: &str| -> Value {
        again["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        file("table.csv")["votes"],
        2,
        "unchanged file keeps its votes"
    );
    assert_eq!(file("risky.csv")["votes"], 0, "changed file starts again");
    assert_eq!(file("risky.csv")["job"], fixed.as_str());
    assert_eq!(file("risky.csv")["verdict"], "pass");

    // Only the reset file needs votes; its two approvals release both files.
    let queue = ok(&server, "carol", &["review-queue"]);
    assert!(queue.contains(&id), "{queue}");
    assert_refused(
        &server.ssh("carol", &["vote", &id, "table.csv", "approve"], Stdin::Null),
        5,
        "already",
    );
    ok(&server, "carol", &["vote", &id, "risky.csv", "approve"]);
    ok(&server, "frank", &["vote", &id, "risky.csv", "approve"]);
    let released = request_json(&server, "alice", &id);
    assert_eq!(released["state"], "released", "{released}");
    for (name, bytes) in [
        ("table.csv", TABLE),
        ("risky.csv", "g,n\na,30\nb,40\nc,52\nTotal,122\n"),
    ] {
        let got = server.ssh("alice", &["download", &id, name], Stdin::Null);
        assert_eq!(text(&got.stdout), bytes);
    }
    let events = server.audit_events();
    assert!(audited(&events, "release.resubmit", "ok", "risky.csv"));
    assert!(audited(&events, "release.state", "ok", "returned"));
}

#[test]
fn a_conflict_needs_a_third_checker_and_withdrawal_closes_a_request() {
    let server = Server::demo();
    let job = release_job(&server, RISKY);
    let id = request(&server, &job, &["risky.csv"], &["--suggested"]);
    let seen = request_json(&server, "alice", &id);
    assert_eq!(seen["files"][0]["variant"], "suggested");
    assert_eq!(seen["files"][0]["verdict"], "review");
    let suggested = server.ssh("carol", &["review-cat", &id, "risky.csv"], Stdin::Null);
    assert_ne!(
        text(&suggested.stdout),
        RISKY,
        "the suggested version is not the original"
    );

    assert_refused(
        &server.ssh("carol", &["vote", &id, "risky.csv", "approve"], Stdin::Null),
        2,
        "comment is required",
    );
    ok(
        &server,
        "carol",
        &[
            "vote",
            &id,
            "risky.csv",
            "approve",
            "--comment",
            "suppressed cells safe",
        ],
    );
    ok(
        &server,
        "dave",
        &[
            "vote",
            &id,
            "risky.csv",
            "reject",
            "--comment",
            "group c is identifiable",
        ],
    );
    let conflict = request_json(&server, "alice", &id);
    assert_eq!(conflict["state"], "reviewed", "{conflict}");
    assert_eq!(conflict["blinded"], false);
    assert!(conflict["files"][0]["outcome"].is_null());
    assert!(ok(&server, "frank", &["review-queue"]).contains(&id));
    assert!(!ok(&server, "carol", &["review-queue"]).contains(&id));
    ok(
        &server,
        "frank",
        &[
            "vote",
            &id,
            "risky.csv",
            "approve",
            "--comment",
            "agree with carol",
        ],
    );
    let released = request_json(&server, "alice", &id);
    assert_eq!(released["state"], "released");
    let got = server.ssh("alice", &["download", &id, "risky.csv"], Stdin::Null);
    assert_eq!(text(&got.stdout), text(&suggested.stdout));

    // Withdrawal.
    let other = request(&server, &job, &["table.csv"], &[]);
    assert_refused(
        &server.ssh("gina", &["withdraw", &other], Stdin::Null),
        3,
        "author",
    );
    ok(&server, "alice", &["withdraw", &other]);
    assert_eq!(request_json(&server, "alice", &other)["state"], "withdrawn");
    assert_refused(
        &server.ssh(
            "carol",
            &["vote", &other, "table.csv", "approve"],
            Stdin::Null,
        ),
        5,
        "withdrawn",
    );
    assert!(!ok(&server, "carol", &["review-queue"]).contains(&other));
}

#[test]
fn modules_uploaded_to_the_inbox_are_submitted_by_name() {
    let server = Server::demo();
    let module = server.job_module("count_by_age.wasm");
    let dir = server.path().display().to_string();
    let sftp = sftp_batch(
        &server,
        "alice",
        &format!(
            "put {} inbox/count.wasm\n-put {} inbox/../evil.wasm\nls -l inbox\n",
            module.display(),
            module.display()
        ),
    );
    assert!(sftp.status.success(), "{}", text(&sftp.stderr));
    assert!(text(&sftp.stdout).contains("count.wasm"));
    let upload = openssh("scp", &server, "alice")
        .arg("-s")
        .arg(&module)
        .arg("alice@127.0.0.1:inbox/scp.wasm")
        .output()
        .expect("run scp");
    assert!(upload.status.success(), "scp: {}", text(&upload.stderr));
    let submitted = ok(
        &server,
        "alice",
        &[
            "submit",
            "--project",
            "diabetes-study",
            "--module",
            "inbox/scp.wasm",
        ],
    );
    let job = submitted.lines().next().unwrap().to_owned();
    let status = server.wait_finished(&job);
    assert_eq!(status["state"], "succeeded", "{status}");
    assert_eq!(
        status["module_sha256"],
        sha256(&std::fs::read(&module).unwrap()).as_str()
    );
    assert_refused(
        &server.ssh(
            "alice",
            &[
                "submit",
                "--project",
                "diabetes-study",
                "--module",
                "inbox/missing.wasm",
            ],
            Stdin::Null,
        ),
        4,
        "no such inbox file",
    );
    // Checkers have no inbox.
    let checker = sftp_batch(
        &server,
        "carol",
        &format!("-put {} inbox/x.wasm\n", module.display()),
    );
    assert!(!text(&checker.stderr).is_empty(), "refusal is reported");
    assert!(
        !std::path::Path::new(&dir)
            .join("shared/inbox/carol/x.wasm")
            .exists()
    );
    let events = server.audit_events();
    assert!(audited(&events, "inbox.upload", "ok", "sha256"));
    assert!(audited(&events, "inbox.upload", "denied", "researcher"));
}

/// Runs `sftp -b` as `user` with `batch` as its batch file.
pub fn sftp_batch(server: &Server, user: &str, batch: &str) -> Output {
    let batch_file = server.path().join(format!("sftp-batch-{user}"));
    std::fs::write(&batch_file, batch).expect("write batch");
    openssh("sftp", server, user)
        .arg("-b")
        .arg(&batch_file)
        .arg(format!("{user}@127.0.0.1"))
        .output()
        .expect("run sftp")
}

/// `sftp` or `scp` with `user`'s demo key and the test server's port, no host checks.
fn openssh(program: &str, server: &Server, user: &str) -> Command {
    let mut command = Command::new(program);
    command
        .args(["-P", &server.ssh_port.to_string(), "-i"])
        .arg(server.key(user))
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            "-F",
            "/dev/null",
        ]);
    command
}

#[test]
fn a_released_table_feeds_the_differencing_check_of_later_jobs() {
    let server = Server::demo();
    let job = release_job(&server, RISKY);
    let first = request(&server, &job, &["table.csv"], &[]);
    ok(&server, "carol", &["vote", &first, "table.csv", "approve"]);
    ok(&server, "dave", &["vote", &first, "table.csv", "approve"]);
    assert_eq!(request_json(&server, "alice", &first)["state"], "released");

    // Two more people in group a: subtracting the tables would isolate them.
    let manifest = r#"{ "version": 1, "outputs": [
      { "file": "table.csv", "kind": "frequency_table", "dimensions": ["g"], "count": "n" } ] }"#;
    let files: [(&str, &[u8]); 2] = [
        ("manifest.json", manifest.as_bytes()),
        ("table.csv", b"g,n\na,32\nb,40\nTotal,72\n"),
    ];
    let later = server.submit(Stdin::Bytes(&writer(&files)), &[]);
    assert_eq!(server.wait_finished(&later)["state"], "succeeded");
    let outputs: Value =
        serde_json::from_str(&ok(&server, "alice", &["outputs", &later, "--json"])).unwrap();
    let table = outputs
        .as_array()
        .or_else(|| outputs["outputs"].as_array())
        .unwrap()
        .iter()
        .find(|o| o["name"] == "table.csv")
        .cloned()
        .unwrap();
    assert_ne!(table["verdict"], "pass", "{table}");
    assert!(
        table["reasons"].to_string().contains("differencing"),
        "{table}"
    );

    // The checker sees which earlier release it differs from.
    let second = request(
        &server,
        &later,
        &["table.csv"],
        &["--justification", "the cohort grew by two"],
    );
    let review = ok(&server, "carol", &["review", &second, "--json"]);
    assert!(review.contains("differencing"), "{review}");
    assert!(
        review.contains(&first),
        "the finding names the earlier release: {review}"
    );
}

#[test]
fn a_project_may_ask_for_more_approvals_but_never_fewer_than_two_on_pseudonymized_data() {
    let server = Server::demo();
    let refused = server.enclave(&["admin", "project", "set-approvals", "diabetes-study", "1"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("pseudonymized"),
        "{}",
        text(&refused.stderr)
    );
    let set = server.enclave(&["admin", "project", "set-approvals", "diabetes-study", "3"]);
    assert!(set.status.success(), "{}", text(&set.stderr));

    let job = release_job(&server, RISKY);
    let id = request(&server, &job, &["table.csv"], &[]);
    ok(&server, "carol", &["vote", &id, "table.csv", "approve"]);
    ok(&server, "dave", &["vote", &id, "table.csv", "approve"]);
    let two = request_json(&server, "alice", &id);
    assert_eq!(two["approvals_required"], 3);
    assert_eq!(two["state"], "partially_reviewed");
    assert_eq!(two["blinded"], true);
    ok(&server, "frank", &["vote", &id, "table.csv", "approve"]);
    assert_eq!(request_json(&server, "alice", &id)["state"], "released");
    let events = server.audit_events();
    assert!(audited(
        &events,
        "admin.project.approvals",
        "error",
        "pseudonymized"
    ));
    assert!(audited(&events, "admin.project.approvals", "ok", "3"));
}
