//! Issue 6 (first slice): the JSON API at the HTTPS door, driven with the real `curl`.
//! Per-user tokens are created, used and revoked through `enclave admin token`; the same
//! questions asked over SSH and HTTPS get the same answers; refusals carry the stable
//! error codes; every token use and failure is audited.

use std::process::Command;

use serde_json::Value;

use crate::release::{ok, release_job};
use crate::support::{Server, Stdin, audited, text};

/// One HTTP exchange: status, `x-request-id`, headers, body.
pub struct Reply {
    pub status: u16,
    pub request_id: String,
    /// The raw header block, names lower-case as HTTP/2 sends them.
    pub headers: String,
    pub body: Vec<u8>,
}

impl Reply {
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", text(&self.body)))
    }

    /// Asserts an error reply with `status` and `code`, and returns its message.
    #[track_caller]
    pub fn refused(&self, status: u16, code: &str) -> String {
        let body = self.json();
        assert_eq!(self.status, status, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
        assert_eq!(body["error"]["request_id"], self.request_id.as_str());
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Sends `method path` with an optional bearer token and body through `curl`.
pub fn call(server: &Server, token: Option<&str>, method: &str, path: &str, body: &[u8]) -> Reply {
    let out = server.path().join("api-body");
    let headers = server.path().join("api-headers");
    let mut command = Command::new("curl");
    command
        .args(["-sk", "-X", method, "-o"])
        .arg(&out)
        .arg("-D")
        .arg(&headers)
        .args(["-w", "%{http_code}"]);
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    if !body.is_empty() {
        let file = server.path().join("api-request");
        std::fs::write(&file, body).expect("write request body");
        command
            .args([
                "-H",
                "Content-Type: application/octet-stream",
                "--data-binary",
            ])
            .arg(format!("@{}", file.display()));
    }
    let output = command
        .arg(format!("https://127.0.0.1:{}{path}", server.https_port))
        .output()
        .expect("run curl");
    let headers = std::fs::read_to_string(&headers).expect("headers");
    // When the server answers before reading the whole body (405, 413), HTTP/2 resets the
    // stream and curl may report no status although it received the reply: read it from the
    // headers then.
    let status = match text(&output.stdout).trim().parse() {
        Ok(0) | Err(_) => headers
            .lines()
            .next()
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|code| code.parse().ok())
            .unwrap_or(0),
        Ok(status) => status,
    };
    let request_id = headers
        .lines()
        .find_map(|l| {
            l.strip_prefix("x-request-id: ")
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_default();
    Reply {
        status,
        request_id,
        headers,
        body: std::fs::read(&out).unwrap_or_default(),
    }
}

pub fn get(server: &Server, token: &str, path: &str) -> Reply {
    call(server, Some(token), "GET", path, b"")
}

pub fn post(server: &Server, token: &str, path: &str, body: &Value) -> Reply {
    call(
        server,
        Some(token),
        "POST",
        path,
        body.to_string().as_bytes(),
    )
}

/// `enclave admin token create <user>`; returns (id, token) from the output.
pub fn create_token(server: &Server, user: &str) -> (String, String) {
    let output = server.enclave(&["admin", "token", "create", user, "--name", "test"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let token = stdout.lines().last().expect("token line").trim().to_owned();
    let id = token.split('_').nth(1).expect("token id").to_owned();
    assert!(
        stdout.contains(&format!("token {id} created for {user}")),
        "{stdout}"
    );
    (id, token)
}

#[test]
fn tokens_are_shown_once_used_and_revoked() {
    let server = Server::demo();
    let (id, token) = create_token(&server, "alice");
    assert!(
        token.starts_with("enc_") && token.len() == 4 + 12 + 1 + 64,
        "{token}"
    );

    // The OpenAPI document is public, parses, and lists every endpoint.
    let doc = call(&server, None, "GET", "/api/v1/openapi.json", b"");
    assert_eq!(doc.status, 200, "{}", text(&doc.body));
    let doc = doc.json();
    assert!(
        doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3."),
        "{doc}"
    );
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/api/v1/whoami",
        "/api/v1/help",
        "/api/v1/jobs",
        "/api/v1/jobs/{id}",
        "/api/v1/jobs/{id}/outputs",
        "/api/v1/releases",
        "/api/v1/releases/{id}",
        "/api/v1/releases/{id}/withdraw",
        "/api/v1/releases/{id}/resubmit",
        "/api/v1/releases/{id}/votes",
        "/api/v1/releases/{id}/files/{file}",
        "/api/v1/releases/{id}/review",
        "/api/v1/releases/{id}/review/files/{file}",
        "/api/v1/review-queue",
        "/api/v1/audit",
    ] {
        assert!(paths.contains_key(path), "{path} missing from {paths:?}");
    }
    assert!(paths["/api/v1/jobs"]["post"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    let who = get(&server, &token, "/api/v1/whoami");
    assert_eq!(who.status, 200, "{}", text(&who.body));
    assert_eq!(who.json()["user"], "alice");
    assert!(who.request_id.starts_with("r-"));

    // Neither the token nor its secret is kept or shown again.
    let list = server.enclave(&["admin", "token", "list"]);
    let listing = text(&list.stdout);
    assert!(
        listing.contains(&id) && listing.contains("active"),
        "{listing}"
    );
    assert!(!listing.contains(&token[17..]), "{listing}");
    let dump = server.sql("SELECT secret_hash FROM api_tokens");
    assert!(
        text(&dump.stdout).contains("$argon2id$"),
        "{}",
        text(&dump.stdout)
    );
    assert!(!text(&dump.stdout).contains(&token[17..]));

    // Missing, malformed, wrong and unknown tokens: 401 with the JSON error body.
    call(&server, None, "GET", "/api/v1/whoami", b"").refused(401, "unauthenticated");
    get(&server, "nonsense", "/api/v1/whoami").refused(401, "unauthenticated");
    let wrong = format!("enc_{id}_{}", "0".repeat(64));
    get(&server, &wrong, "/api/v1/whoami").refused(401, "unauthenticated");

    // A disabled owner's token stops working at once, and works again when re-enabled.
    let disable = server.enclave(&["admin", "user", "disable", "alice"]);
    assert!(disable.status.success(), "{}", text(&disable.stderr));
    get(&server, &token, "/api/v1/whoami").refused(401, "unauthenticated");
    assert!(
        server
            .enclave(&["admin", "user", "enable", "alice"])
            .status
            .success()
    );
    assert_eq!(get(&server, &token, "/api/v1/whoami").status, 200);

    let revoke = server.enclave(&["admin", "token", "revoke", &id]);
    assert!(revoke.status.success(), "{}", text(&revoke.stderr));
    let after = get(&server, &token, "/api/v1/whoami");
    after.refused(401, "unauthenticated");
    let again = server.enclave(&["admin", "token", "revoke", &id]);
    assert_eq!(again.status.code(), Some(5), "{}", text(&again.stderr));
    assert!(text(&server.enclave(&["admin", "token", "list"]).stdout).contains("revoked="));
    let unknown = server.enclave(&["admin", "token", "create", "nobody"]);
    assert!(!unknown.status.success());

    let events = server.audit_events();
    assert!(audited(&events, "admin.token.create", "ok", &id));
    assert!(audited(&events, "admin.token.revoke", "ok", &id));
    assert!(audited(
        &events,
        "admin.token.revoke",
        "error",
        "already revoked"
    ));
    assert!(audited(&events, "session.token", "ok", &id));
    assert!(audited(
        &events,
        "session.token",
        "denied",
        "no bearer token"
    ));
    assert!(audited(
        &events,
        "session.token",
        "denied",
        "malformed token"
    ));
    assert!(audited(&events, "session.token", "denied", "wrong secret"));
    assert!(audited(&events, "session.token", "denied", "revoked token"));
    assert!(audited(&events, "session.token", "denied", "disabled user"));
    // The request id the client saw is the one in the trail.
    assert!(
        events
            .iter()
            .any(|e| e["request_id"] == after.request_id.as_str()
                && e["action"] == "session.token"
                && e["outcome"] == "denied")
    );
    assert!(
        events.iter().all(|e| !e.to_string().contains(&token[17..])),
        "a token secret reached the audit trail"
    );
}

#[test]
fn ssh_and_https_give_the_same_answers() {
    let server = Server::demo();
    let alice = create_token(&server, "alice").1;
    let carol = create_token(&server, "carol").1;
    let dave = create_token(&server, "dave").1;
    let erin = create_token(&server, "erin").1;

    // Submit over HTTPS, watch over SSH.
    let module = std::fs::read(server.job_module("count_by_age.wasm")).expect("module");
    let submitted = call(
        &server,
        Some(&alice),
        "POST",
        "/api/v1/jobs?project=diabetes-study&name=api%20job",
        &module,
    );
    assert_eq!(submitted.status, 201, "{}", text(&submitted.body));
    let job = submitted.json()["id"].as_str().expect("job id").to_owned();
    let finished = server.wait_finished(&job);
    let over_https = get(&server, &alice, &format!("/api/v1/jobs/{job}")).json();
    assert_eq!(over_https, finished);
    let ssh_jobs: Value =
        serde_json::from_str(&ok(&server, "alice", &["jobs", "--json"])).expect("jobs JSON");
    assert_eq!(get(&server, &alice, "/api/v1/jobs").json(), ssh_jobs);
    let ssh_outputs: Value =
        serde_json::from_str(&ok(&server, "alice", &["outputs", &job, "--json"]))
            .expect("outputs JSON");
    let https_outputs = get(&server, &alice, &format!("/api/v1/jobs/{job}/outputs")).json();
    assert_eq!(https_outputs, ssh_outputs);

    // Refusals carry their stable codes.
    call(
        &server,
        Some(&carol),
        "POST",
        "/api/v1/jobs?project=diabetes-study&name=x",
        &module,
    )
    .refused(403, "forbidden");
    call(
        &server,
        Some(&alice),
        "POST",
        "/api/v1/jobs?name=x",
        &module,
    )
    .refused(400, "invalid");
    get(&server, &alice, "/api/v1/jobs/j-nonexistent").refused(404, "not_found");
    get(&server, &alice, "/api/v1/audit").refused(403, "forbidden");
    get(&server, &alice, "/api/v1/review-queue").refused(403, "forbidden");
    get(&server, &alice, "/api/v1/no-such-thing").refused(404, "not_found");

    // A release request through the API, votes through the API, seen over SSH.
    let release_job = release_job(&server, "g,n\na,3\nb,40\nc,52\nTotal,95\n");
    let body = serde_json::json!({
        "job": release_job,
        "files": ["table.csv"],
        "context": "counts by group, adults in the demo cohort",
    });
    let created = post(&server, &alice, "/api/v1/releases", &body);
    assert_eq!(created.status, 201, "{}", text(&created.body));
    let id = created.json()["request"].as_str().expect("id").to_owned();
    post(
        &server,
        &alice,
        "/api/v1/releases",
        &serde_json::json!({ "job": 1 }),
    )
    .refused(400, "invalid");
    let ssh_view: Value =
        serde_json::from_str(&ok(&server, "alice", &["request", &id, "--json"])).expect("JSON");
    assert_eq!(
        get(&server, &alice, &format!("/api/v1/releases/{id}")).json(),
        ssh_view
    );
    let ssh_list: Value =
        serde_json::from_str(&ok(&server, "alice", &["requests", "--json"])).expect("JSON");
    assert_eq!(get(&server, &alice, "/api/v1/releases").json(), ssh_list);
    let queue = get(&server, &carol, "/api/v1/review-queue");
    assert_eq!(queue.status, 200, "{}", text(&queue.body));
    assert!(text(&queue.body).contains(&id));

    // The checker's view and the file under review, as over SSH.
    let ssh_review: Value =
        serde_json::from_str(&ok(&server, "carol", &["review", &id, "--json"])).expect("JSON");
    assert_eq!(
        get(&server, &carol, &format!("/api/v1/releases/{id}/review")).json(),
        ssh_review
    );
    get(&server, &alice, &format!("/api/v1/releases/{id}/review")).refused(403, "forbidden");
    let under_review = get(
        &server,
        &carol,
        &format!("/api/v1/releases/{id}/review/files/table.csv"),
    );
    assert_eq!(under_review.status, 200, "{}", text(&under_review.body));
    assert_eq!(
        under_review.body,
        ok(&server, "carol", &["review-cat", &id, "table.csv"]).into_bytes()
    );

    let votes = format!("/api/v1/releases/{id}/votes");
    let approve = serde_json::json!({ "file": "table.csv", "vote": "approve" });
    post(&server, &alice, &votes, &approve).refused(403, "forbidden");
    post(&server, &erin, &votes, &approve).refused(403, "forbidden");
    post(
        &server,
        &carol,
        &votes,
        &serde_json::json!({ "file": "table.csv", "vote": "maybe" }),
    )
    .refused(400, "invalid");
    let download = format!("/api/v1/releases/{id}/files/table.csv");
    get(&server, &alice, &download).refused(403, "forbidden");
    let first = post(&server, &carol, &votes, &approve);
    assert_eq!(first.status, 200, "{}", text(&first.body));
    assert_eq!(first.json()["state"], "partially_reviewed");
    post(&server, &carol, &votes, &approve).refused(409, "conflict");
    let second = post(&server, &dave, &votes, &approve);
    assert_eq!(second.json()["state"], "released", "{}", text(&second.body));
    let seen: Value =
        serde_json::from_str(&ok(&server, "alice", &["request", &id, "--json"])).expect("JSON");
    assert_eq!(seen["state"], "released");

    // The released file downloads byte for byte, as over SSH.
    let bytes = get(&server, &alice, &download);
    assert_eq!(bytes.status, 200, "{}", text(&bytes.body));
    let over_ssh = server.ssh("alice", &["download", &id, "table.csv"], Stdin::Null);
    assert_eq!(bytes.body, over_ssh.stdout);
    post(
        &server,
        &alice,
        &format!("/api/v1/releases/{id}/withdraw"),
        &Value::Null,
    )
    .refused(409, "conflict");

    // Compliance reads the trail through the API, with filters.
    let trail = get(
        &server,
        &erin,
        "/api/v1/audit?action=release.vote&outcome=ok",
    );
    assert_eq!(trail.status, 200, "{}", text(&trail.body));
    let events = trail.json()["events"].as_array().expect("events").clone();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(|e| e["door"] == "https"));
    get(&server, &erin, "/api/v1/audit?bogus=1").refused(400, "invalid");
}

#[test]
fn compliance_verifies_exports_and_proves_the_trail_over_https() {
    let server = Server::demo();
    let job = release_job(&server, "g,n\na,30\nb,40\nTotal,70\n");
    let (_, erin) = create_token(&server, "erin");
    let (_, alice) = create_token(&server, "alice");

    let verify = get(&server, &erin, "/api/v1/audit/verify").json();
    assert!(verify["problem"].is_null(), "{verify}");
    let ssh_verify: Value =
        serde_json::from_str(&ok(&server, "erin", &["audit", "verify", "--json"])).unwrap();
    assert_eq!(ssh_verify["problem"], verify["problem"]);

    let checkpoint = call(
        &server,
        Some(&erin),
        "POST",
        "/api/v1/audit/checkpoints",
        b"",
    );
    assert_eq!(checkpoint.status, 200, "{}", text(&checkpoint.body));
    let checkpoint = checkpoint.json();
    assert!(checkpoint.to_string().contains("signature"), "{checkpoint}");

    let proof = get(&server, &erin, "/api/v1/audit/proof/1").json();
    let ssh_proof: Value =
        serde_json::from_str(&ok(&server, "erin", &["audit", "proof", "1"])).unwrap();
    assert_eq!(proof["seq"], 1, "{proof}");
    assert!(proof["event_hash"].is_string(), "{proof}");
    assert_eq!(proof["event_hash"], ssh_proof["event_hash"], "{proof}");

    let export = get(
        &server,
        &erin,
        &format!("/api/v1/audit/export?format=csv&target={job}"),
    );
    assert_eq!(export.status, 200, "{}", text(&export.body));
    let csv = text(&export.body);
    assert!(csv.contains("job.submit") && csv.contains(&job), "{csv}");
    let jsonl = text(
        &get(
            &server,
            &erin,
            &format!("/api/v1/audit/export?target={job}"),
        )
        .body,
    );
    assert!(
        jsonl
            .lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "{jsonl}"
    );

    let provenance = get(&server, &erin, &format!("/api/v1/audit/provenance/{job}")).json();
    assert_eq!(provenance["job_id"], job.as_str());

    get(&server, &alice, "/api/v1/audit/verify").refused(403, "forbidden");
    get(&server, &alice, "/api/v1/audit/export").refused(403, "forbidden");
    get(&server, &erin, "/api/v1/audit/export?format=xml").refused(400, "invalid");
    let events = server.audit_events();
    assert!(audited(&events, "audit.export", "ok", ""));
    assert!(audited(&events, "audit.verify", "denied", ""));
}

#[test]
fn resubmit_and_module_arguments_over_https_as_over_ssh() {
    let server = Server::demo();
    let alice = create_token(&server, "alice").1;

    // `arg` repeats, in order, like `submit ... -- ARGS` over SSH; unknown parameters refused.
    let module = std::fs::read(server.job_module("count_by_age.wasm")).expect("module");
    let path = "/api/v1/jobs?project=diabetes-study&name=args&arg=--min&arg=a%20b";
    let submitted = call(&server, Some(&alice), "POST", path, &module);
    assert_eq!(submitted.status, 201, "{}", text(&submitted.body));
    let job = submitted.json()["id"].as_str().expect("job id").to_owned();
    let status = get(&server, &alice, &format!("/api/v1/jobs/{job}")).json();
    assert_eq!(
        status["args"],
        serde_json::json!(["--min", "a b"]),
        "{status}"
    );
    let bogus = "/api/v1/jobs?project=diabetes-study&name=x&colour=red";
    let message = call(&server, Some(&alice), "POST", bogus, &module).refused(400, "invalid");
    assert!(message.contains("unknown submit parameter"), "{message}");
    let twice = "/api/v1/jobs?project=diabetes-study&project=other&name=x";
    call(&server, Some(&alice), "POST", twice, &module).refused(400, "invalid");

    // `help` as `help --json`.
    let help: Value = serde_json::from_str(&ok(&server, "alice", &["help", "--json"])).unwrap();
    assert_eq!(get(&server, &alice, "/api/v1/help").json(), help);

    // A request both checkers send back; resubmitted through the API.
    let job = release_job(&server, "g,n\na,30\nb,40\nTotal,70\n");
    let body = serde_json::json!({
        "job": job,
        "files": ["table.csv"],
        "context": "counts by group, adults in the demo cohort",
    });
    let id = post(&server, &alice, "/api/v1/releases", &body).json()["request"]
        .as_str()
        .expect("request id")
        .to_owned();
    let resubmit = format!("/api/v1/releases/{id}/resubmit");
    post(&server, &alice, &resubmit, &serde_json::json!({})).refused(409, "conflict");
    for checker in ["carol", "dave"] {
        let args = [
            "vote",
            &id,
            "table.csv",
            "changes",
            "--comment",
            "round to 5",
        ];
        ok(&server, checker, &args);
    }
    let malformed = serde_json::json!({ "context": "x", "files": ["table.csv"] });
    post(&server, &alice, &resubmit, &malformed).refused(400, "invalid");
    let seen: Value =
        serde_json::from_str(&ok(&server, "alice", &["request", &id, "--json"])).unwrap();
    assert_eq!(seen["state"], "returned", "{seen}");

    let change = serde_json::json!({ "context": "counts by group, rounded to 5", "job": job });
    let again = post(&server, &alice, &resubmit, &change);
    assert_eq!(again.status, 200, "{}", text(&again.body));
    assert_eq!(
        again.json(),
        serde_json::json!({ "request": id, "state": "submitted" })
    );
    let seen: Value =
        serde_json::from_str(&ok(&server, "alice", &["request", &id, "--json"])).unwrap();
    assert_eq!(seen["state"], "submitted", "{seen}");
    assert_eq!(seen["round"], 2, "{seen}");
    assert_eq!(seen["context"], "counts by group, rounded to 5", "{seen}");
    // An empty body means no change, as `resubmit <id>` with no options.
    let empty = call(&server, Some(&alice), "POST", &resubmit, b"");
    empty.refused(409, "conflict");

    let events = server.audit_events();
    assert!(events.iter().any(|e| e["action"] == "release.resubmit"
        && e["outcome"] == "ok"
        && e["target"] == id.as_str()
        && e["door"] == "https"));
    assert!(audited(
        &events,
        "command.invalid",
        "error",
        "unknown field `files`"
    ));
    assert!(audited(
        &events,
        "command.invalid",
        "error",
        "unknown submit parameter"
    ));
}
