//! Issue 6: every API endpoint called as every kind of user, against real targets (a
//! finished job; release requests in review, released and returned), with the status each
//! gets kept as one table. A refused state-changing call changes nothing. And axum's own
//! refusals (405, 413) answer with the JSON error body like every other error.

use serde_json::{Value, json};

use crate::api::{Reply, call, create_token};
use crate::release::{RISKY, ok, release_job, request, request_json};
use crate::support::{Server, audited, text};

/// The users of the table, one per role mix: researcher in the project, researcher without
/// a project, checker, researcher and checker in the project, compliance, admin.
const USERS: [&str; 6] = ["alice", "bob", "carol", "gina", "erin", "root"];

/// What a row's path names: the same for every user, or made afresh for each one (a
/// state-changing call must not see another user's effect).
#[derive(Clone, Copy)]
enum Target {
    Shared,
    /// A request in review.
    FreshRequest,
    /// A request returned to its author.
    FreshReturned,
}

struct Row {
    method: &'static str,
    /// With `{job}`, `{review}`, `{released}` and `{fresh}` (the per-user target).
    path: &'static str,
    body: Body,
    target: Target,
}

enum Body {
    None,
    Json(Value),
    Module,
}

fn row(method: &'static str, path: &'static str, body: Body, target: Target) -> Row {
    Row {
        method,
        path,
        body,
        target,
    }
}

fn rows(job: &str) -> Vec<Row> {
    use Body::{Json, Module, None};
    use Target::{FreshRequest, FreshReturned, Shared};
    let release = json!({
        "job": job,
        "files": ["table.csv"],
        "context": "counts by group, adults in the demo cohort",
    });
    let approve = json!({ "file": "table.csv", "vote": "approve" });
    vec![
        row("GET", "/api/v1/openapi.json", None, Shared),
        row("GET", "/api/v1/whoami", None, Shared),
        row("GET", "/api/v1/help", None, Shared),
        row("GET", "/api/v1/jobs", None, Shared),
        row(
            "POST",
            "/api/v1/jobs?project=diabetes-study&name=roles",
            Module,
            Shared,
        ),
        row("GET", "/api/v1/jobs/{job}", None, Shared),
        row("GET", "/api/v1/jobs/{job}/outputs", None, Shared),
        row("GET", "/api/v1/releases", None, Shared),
        row("POST", "/api/v1/releases", Json(release), Shared),
        row("GET", "/api/v1/releases/{review}", None, Shared),
        row("GET", "/api/v1/releases/{review}/review", None, Shared),
        row(
            "GET",
            "/api/v1/releases/{review}/review/files/table.csv",
            None,
            Shared,
        ),
        row(
            "GET",
            "/api/v1/releases/{released}/files/table.csv",
            None,
            Shared,
        ),
        row("GET", "/api/v1/review-queue", None, Shared),
        row(
            "POST",
            "/api/v1/releases/{fresh}/votes",
            Json(approve),
            FreshRequest,
        ),
        row(
            "POST",
            "/api/v1/releases/{fresh}/withdraw",
            None,
            FreshRequest,
        ),
        row(
            "POST",
            "/api/v1/releases/{fresh}/resubmit",
            Json(json!({ "context": "counts by group, adults, second round" })),
            FreshReturned,
        ),
        row("GET", "/api/v1/audit", None, Shared),
        row("GET", "/api/v1/audit/verify", None, Shared),
        row("GET", "/api/v1/audit/export", None, Shared),
        row("GET", "/api/v1/audit/proof/1", None, Shared),
        row("POST", "/api/v1/audit/checkpoints", None, Shared),
        row("GET", "/api/v1/audit/provenance/{job}", None, Shared),
    ]
}

#[test]
fn every_endpoint_as_every_role() {
    let server = Server::demo();
    let tokens: Vec<String> = USERS
        .iter()
        .map(|user| create_token(&server, user).1)
        .collect();
    let job = release_job(&server, RISKY);
    let review = request(&server, &job, &["table.csv"], &[]);
    let released = request(&server, &job, &["table.csv"], &[]);
    for checker in ["carol", "dave"] {
        ok(
            &server,
            checker,
            &["vote", &released, "table.csv", "approve"],
        );
    }
    assert_eq!(
        request_json(&server, "alice", &released)["state"],
        "released"
    );
    let module = std::fs::read(server.job_module("count_by_age.wasm")).expect("module");

    // The table covers every route the OpenAPI document lists (which the API's own test
    // holds to the router), plus the document itself.
    let rows = rows(&job);
    let doc = call(&server, None, "GET", "/api/v1/openapi.json", b"").json();
    let mut documented: Vec<String> = vec!["GET /api/v1/openapi.json".into()];
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    let mut tested: Vec<String> = rows.iter().map(|r| template(r.method, r.path)).collect();
    documented.sort();
    tested.sort();
    assert_eq!(tested, documented, "the table and the API differ");

    let mut table = format!("{:<52}", "endpoint");
    for user in USERS {
        table.push_str(&format!(" {user:>5}"));
    }
    table.push('\n');
    for row in &rows {
        table.push_str(&format!("{:<52}", format!("{} {}", row.method, row.path)));
        for (user, token) in USERS.iter().zip(&tokens) {
            let fresh = match row.target {
                Target::Shared => None,
                Target::FreshRequest => Some(request(&server, &job, &["table.csv"], &[])),
                Target::FreshReturned => Some(returned(&server, &job)),
            };
            let before = fresh.as_ref().map(|id| request_json(&server, "alice", id));
            let path = row
                .path
                .replace("{job}", &job)
                .replace("{review}", &review)
                .replace("{released}", &released)
                .replace("{fresh}", fresh.as_deref().unwrap_or("-"));
            let body = match &row.body {
                Body::None => Vec::new(),
                Body::Json(value) => value.to_string().into_bytes(),
                Body::Module => module.clone(),
            };
            let reply = call(&server, Some(token), row.method, &path, &body);
            check_reply(&reply, user, row.method, &path);
            if let (Some(id), Some(before)) = (&fresh, &before)
                && reply.status >= 400
            {
                let after = request_json(&server, "alice", id);
                assert_eq!(
                    &after, before,
                    "{user}'s refused {} {path} changed the request",
                    row.method
                );
            }
            table.push_str(&format!(" {:>5}", reply.status));
        }
        table.push('\n');
    }
    // What policy says: researchers (alice, gina) submit, and see their project's jobs and
    // requests; bob, a researcher without a project, sees empty lists and nothing else;
    // checkers (carol, and gina outside her own project) see no jobs and no request lists,
    // only the queue, the review and the vote; only the author withdraws or resubmits;
    // compliance (erin) and the admin (root) read everything (Scope::All: jobs, requests,
    // the trail) but, being no researcher or checker, never submit, request, download,
    // review or vote. A job the caller may not see is 404 (its id does not leak); a release
    // request is 403 (the core's answer today).
    expect_test::expect![[r#"
        endpoint                                             alice   bob carol  gina  erin  root
        GET /api/v1/openapi.json                               200   200   200   200   200   200
        GET /api/v1/whoami                                     200   200   200   200   200   200
        GET /api/v1/help                                       200   200   200   200   200   200
        GET /api/v1/jobs                                       200   200   403   200   200   200
        POST /api/v1/jobs?project=diabetes-study&name=roles    201   403   403   201   403   403
        GET /api/v1/jobs/{job}                                 200   404   404   200   200   200
        GET /api/v1/jobs/{job}/outputs                         200   404   404   200   200   200
        GET /api/v1/releases                                   200   200   403   200   200   200
        POST /api/v1/releases                                  201   403   403   201   403   403
        GET /api/v1/releases/{review}                          200   403   200   200   200   200
        GET /api/v1/releases/{review}/review                   403   403   200   403   403   403
        GET /api/v1/releases/{review}/review/files/table.csv   403   403   200   403   403   403
        GET /api/v1/releases/{released}/files/table.csv        200   403   403   200   403   403
        GET /api/v1/review-queue                               403   403   200   200   403   403
        POST /api/v1/releases/{fresh}/votes                    403   403   200   403   403   403
        POST /api/v1/releases/{fresh}/withdraw                 200   403   403   403   403   403
        POST /api/v1/releases/{fresh}/resubmit                 200   403   403   403   403   403
        GET /api/v1/audit                                      403   403   403   403   200   200
        GET /api/v1/audit/verify                               403   403   403   403   200   200
        GET /api/v1/audit/export                               403   403   403   403   200   200
        GET /api/v1/audit/proof/1                              403   403   403   403   200   200
        POST /api/v1/audit/checkpoints                         403   403   403   403   200   200
        GET /api/v1/audit/provenance/{job}                     403   403   403   403   200   200
    "#]]
    .assert_eq(&table);
}

/// `METHOD /api/v1/...` with the concrete parts of a row's path turned back into the
/// OpenAPI template.
fn template(method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path.split('/').collect();
    let named: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(at, part)| {
            let after = at.checked_sub(1).map(|before| parts[before]);
            match (*part, after) {
                ("{job}" | "{review}" | "{released}" | "{fresh}", _) => "{id}".to_owned(),
                (_, Some("proof")) => "{seq}".to_owned(),
                (_, Some("files")) => "{file}".to_owned(),
                (part, _) => part.to_owned(),
            }
        })
        .collect();
    format!("{method} {}", named.join("/"))
}

/// Every reply is a success or the JSON error body with the reply's request id.
#[track_caller]
fn check_reply(reply: &Reply, user: &str, method: &str, path: &str) {
    if reply.status < 400 {
        return;
    }
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or_else(|e| {
        panic!(
            "{user} {method} {path}: {} {e}: {}",
            reply.status,
            text(&reply.body)
        )
    });
    assert!(body["error"]["code"].is_string(), "{user} {path}: {body}");
    assert_eq!(
        body["error"]["request_id"],
        reply.request_id.as_str(),
        "{user} {path}: {body}"
    );
}

/// A new request on `job`'s `table.csv`, sent back to alice by both checkers.
fn returned(server: &Server, job: &str) -> String {
    let id = request(server, job, &["table.csv"], &[]);
    for checker in ["carol", "dave"] {
        let comment = "round the counts to 5";
        ok(
            server,
            checker,
            &["vote", &id, "table.csv", "changes", "--comment", comment],
        );
    }
    assert_eq!(request_json(server, "alice", &id)["state"], "returned");
    id
}

/// axum's own refusals answer with the JSON error body: a method a path does not have
/// (405, with `Allow`), a module over the configured size and a JSON body over 64 KiB
/// (413, audited like any malformed request).
#[test]
fn http_refusals_are_json_errors() {
    let mut server = Server::setup_only();
    let config = server.path().join("enclave.toml");
    let settings = std::fs::read_to_string(&config).expect("read enclave.toml");
    assert!(settings.contains("module_mib = 64"), "{settings}");
    std::fs::write(
        &config,
        settings.replace("module_mib = 64", "module_mib = 1"),
    )
    .expect("write enclave.toml");
    server.serve();
    let (_, alice) = create_token(&server, "alice");

    let wrong = call(&server, Some(&alice), "DELETE", "/api/v1/whoami", b"");
    wrong.refused(405, "method_not_allowed");
    let allow = wrong
        .headers
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("allow: ")
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no Allow header: {}", wrong.headers));
    assert!(allow.contains("get"), "{allow}");
    assert!(
        wrong.headers.contains("application/json"),
        "{}",
        wrong.headers
    );
    // No body: the server answers 405 before reading one, and curl may then see the HTTP/2
    // stream reset instead of the reply.
    call(&server, None, "PUT", "/api/v1/releases", b"").refused(405, "method_not_allowed");

    let module = vec![0_u8; 1024 * 1024 + 1];
    let path = "/api/v1/jobs?project=diabetes-study&name=big";
    let message =
        call(&server, Some(&alice), "POST", path, &module).refused(413, "payload_too_large");
    assert!(message.contains("module larger than"), "{message}");

    let huge = json!({
        "job": "j-1",
        "files": ["table.csv"],
        "context": "x".repeat(70 * 1024),
    });
    let message = call(
        &server,
        Some(&alice),
        "POST",
        "/api/v1/releases",
        huge.to_string().as_bytes(),
    )
    .refused(413, "payload_too_large");
    assert!(
        message.contains("JSON body larger than 65536 bytes"),
        "{message}"
    );
    // Under the limit, the same request reaches the core (which refuses the unknown job).
    let small = json!({ "job": "j-1", "files": ["table.csv"], "context": "counts" });
    let reply = call(
        &server,
        Some(&alice),
        "POST",
        "/api/v1/releases",
        small.to_string().as_bytes(),
    );
    assert!(
        reply.status == 404 || reply.status == 400,
        "{}",
        text(&reply.body)
    );

    let events = server.audit_events();
    assert!(audited(
        &events,
        "command.invalid",
        "error",
        "module larger than 1048576 bytes"
    ));
    assert!(audited(
        &events,
        "command.invalid",
        "error",
        "JSON body larger than 65536 bytes"
    ));
}
