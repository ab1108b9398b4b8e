//! Issue 6: the web pages. In headless chromium (`tests/web/*.mjs`): two checkers sign in
//! with password + TOTP and approve a request, the researcher downloads it and makes,
//! refuses and withdraws another, compliance filters, pages, exports and verifies the trail.
//! With `curl`: every page as every role; the sessions' defences are in `web/sessions.rs`.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::browser::assert_browser_script;
use crate::release::{RISKY, release_job, request};
use crate::support::{Server, Stdin, audited, text};

mod sessions;

/// A manifest describing only `table.csv`: other files are checked by people.
const TABLE_ONLY: &str = r#"{ "version": 1, "outputs": [
  { "file": "table.csv", "kind": "frequency_table", "dimensions": ["g"], "count": "n" } ] }"#;

/// An 8×8 PNG (made with Python's zlib).
const PNG: [u8; 74] = *b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x08\x00\x00\x00\x08\x08\x02\x00\x00\x00Km)\xdc\x00\x00\x00\x11IDATx\x9cc\x90\x8f_\x81\x151\x0c-\t\x00\x96,I\x81\x13\x8f\xb8h\x00\x00\x00\x00IEND\xaeB`\x82";

/// The demo's web credentials (`DIR/web/credentials.json`).
pub fn credentials(server: &Server) -> Value {
    let text = std::fs::read_to_string(server.path().join("web/credentials.json"))
        .expect("demo web credentials");
    serde_json::from_str(&text).expect("credentials JSON")
}

/// The TOTP code for `user` at `offset` seconds from now, from `oathtool`.
pub fn code(server: &Server, user: &str, offset: i64) -> String {
    let secret = credentials(server)[user]["totp"]
        .as_str()
        .expect("secret")
        .to_owned();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let at = now.saturating_add_signed(offset);
    let output = Command::new("oathtool")
        .args(["--totp", "-b", "-N", &format!("@{at}"), &secret])
        .output()
        .expect("run oathtool (infra/dev/install-deps.sh installs it)");
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout).trim().to_owned()
}

pub fn password(server: &Server, user: &str) -> String {
    credentials(server)[user]["password"]
        .as_str()
        .expect("password")
        .to_owned()
}

/// One browser's worth of cookies, driven with `curl`.
pub struct Client {
    jar: PathBuf,
    base: String,
    _dir: tempfile::TempDir,
}

/// What a request answered.
pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Vec<String> {
        self.headers
            .lines()
            .filter_map(|line| line.split_once(':'))
            .filter(|(key, _)| key.trim().eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim().to_owned())
            .collect()
    }

    /// The hidden CSRF field of the page's first form.
    pub fn csrf(&self) -> String {
        let start = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a csrf field")
            + 19;
        self.body[start..start + self.body[start..].find('"').expect("end")].to_owned()
    }
}

impl Client {
    pub fn new(server: &Server) -> Client {
        Client::at(server.https_port)
    }

    /// A fresh browser for the HTTPS door on `port`.
    pub fn at(port: u16) -> Client {
        let dir = tempfile::tempdir().expect("temp dir");
        Client {
            jar: dir.path().join("cookies"),
            base: format!("https://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    /// The same browser (its cookies copied) pointed at another port.
    pub fn clone_to(&self, port: u16) -> Client {
        let other = Client::at(port);
        std::fs::copy(&self.jar, &other.jar).expect("copy cookies");
        other
    }

    fn call(&self, method: &str, path: &str, form: &[(&str, &str)], extra: &[&str]) -> Reply {
        let head = self.jar.with_extension("head");
        let mut command = Command::new("curl");
        command
            .args(["-sk", "-H", "Accept-Language: en-US", "-X", method, "-D"])
            .arg(&head)
            .arg("-c")
            .arg(&self.jar)
            .arg("-b")
            .arg(&self.jar)
            .args(extra);
        for (key, value) in form {
            command.args(["--data-urlencode", &format!("{key}={value}")]);
        }
        let output = command
            .arg(format!("{}{path}", self.base))
            .stdin(Stdio::null())
            .output()
            .expect("run curl");
        let headers = std::fs::read_to_string(&head).unwrap_or_default();
        let status = headers
            .lines()
            .next()
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Reply {
            status,
            headers,
            body: text(&output.stdout),
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        self.call("GET", path, &[], &[])
    }

    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        self.call("POST", path, form, &[])
    }

    /// Signs in through the form; returns the reply to the POST.
    pub fn login(&self, user: &str, password: &str, code: &str) -> Reply {
        let form = self.get("/login");
        assert_eq!(form.status, 200);
        let csrf = form.csrf();
        self.post(
            "/login",
            &[
                ("user", user),
                ("password", password),
                ("totp", code),
                ("csrf", &csrf),
                ("next", "/"),
            ],
        )
    }
}

pub fn denied_login(events: &[Value], user: &str, reason: &str) -> bool {
    events.iter().any(|e| {
        e["action"] == "session.login"
            && e["actor"] == user
            && e["door"] == "https"
            && e["outcome"] == "denied"
            && e["details"].as_str().unwrap_or("").contains(reason)
    })
}

#[test]
fn checkers_and_compliance_work_in_chromium() {
    let server = Server::demo();
    let job = release_job(&server, RISKY);
    let id = request(
        &server,
        &job,
        &["table.csv", "risky.csv"],
        &["--justification", "group a is a published registry count"],
    );
    let module = crate::release::request_json(&server, "alice", &id);
    assert_eq!(module["state"], "submitted", "{module}");
    // A second request of outputs people check: a text with a pseudonym-like token, an image.
    let files: [(&str, &[u8]); 4] = [
        ("manifest.json", TABLE_ONLY.as_bytes()),
        ("table.csv", crate::release::TABLE.as_bytes()),
        (
            "notes.txt",
            b"patient P0123456789abcdef had 2 visits\nrerun with seed 7\n",
        ),
        ("plot.png", &PNG),
    ];
    let other_job = server.submit(Stdin::Bytes(&crate::checks::writer(&files)), &[]);
    assert_eq!(server.wait_finished(&other_job)["state"], "succeeded");
    let other = request(
        &server,
        &other_job,
        &["notes.txt", "plot.png"],
        &["--justification", "the identifier is a made-up example"],
    );
    let status: Value = serde_json::from_str(&crate::release::ok(
        &server,
        "alice",
        &["status", &job, "--json"],
    ))
    .expect("status JSON");
    let users =
        std::fs::read_to_string(server.path().join("web/credentials.json")).expect("credentials");
    let inputs = [
        ("ENCLAVE_WEB_USERS", users),
        ("ENCLAVE_REQUEST", id.clone()),
        ("ENCLAVE_REQUEST_OTHER", other),
        ("ENCLAVE_JOB", job.clone()),
        ("ENCLAVE_RISKY", RISKY.to_owned()),
        (
            "ENCLAVE_MODULE_SHA256",
            status["module_sha256"].as_str().unwrap_or("").to_owned(),
        ),
    ];
    assert_browser_script("review.mjs", &server, &inputs);
    assert_browser_script("compliance.mjs", &server, &inputs);
    assert_browser_script("research.mjs", &server, &inputs);

    // What the browsers did is in the trail: each sign-in with its method, the refused code,
    // the refused vote, the four votes, the release, the download, the exports, the sign-out.
    let events = server.audit_events();
    for user in ["carol", "dave", "alice", "erin"] {
        assert!(
            audited(&events, "session.login", "ok", "password+totp")
                && events.iter().any(|e| e["action"] == "session.login"
                    && e["actor"] == user
                    && e["door"] == "https"
                    && e["outcome"] == "ok"),
            "{user}'s web sign-in is audited"
        );
    }
    assert!(denied_login(&events, "carol", "TOTP"));
    let votes = events
        .iter()
        .filter(|e| e["action"] == "release.vote" && e["outcome"] == "ok" && e["target"] == id)
        .count();
    assert_eq!(votes, 4);
    assert!(audited(&events, "release.release", "ok", ""));
    assert!(audited(&events, "release.download", "ok", ""));
    assert!(audited(&events, "audit.export", "ok", ""));
    assert!(audited(&events, "session.logout", "ok", "signed out"));
    assert_eq!(
        crate::release::request_json(&server, "alice", &id)["state"],
        "released"
    );
    let verify = server.enclave(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify.stderr));
}

/// Every page as every kind of user: the statuses the policy implies (200 shown, 303 after
/// a vote, 403 refused by the core, 400/409 for a wrong target), kept as one table.
#[test]
fn every_page_as_every_role() {
    let server = Server::demo();
    let job = release_job(&server, RISKY);
    let id = request(&server, &job, &["table.csv"], &[]);
    let users = ["alice", "bob", "carol", "gina", "erin", "root"];
    let clients: Vec<Client> = users
        .iter()
        .map(|user| {
            let client = Client::new(&server);
            let reply = client.login(user, &password(&server, user), &code(&server, user, 0));
            assert_eq!(reply.status, 303, "{user}: {}", reply.body);
            client
        })
        .collect();
    let pages = [
        "/",
        "/account",
        "/jobs",
        "/jobs/{job}",
        "/requests",
        "/requests/{rel}",
        "/requests/{rel}/files/table.csv",
        "/review",
        "/review/{rel}",
        "/review/{rel}/files/table.csv",
        "/audit",
        "/audit/export?format=csv",
        "/audit/verify",
        "/provenance/{job}",
        "POST /review/{rel}/vote",
        "POST /jobs/{job}/request",
        "POST /requests/{rel}/resubmit",
        "POST /requests/{rel}/withdraw",
    ];
    let mut table = String::new();
    for page in pages {
        let path = page.replace("{job}", &job).replace("{rel}", &id);
        let mut line = format!("{page:<34}");
        for client in &clients {
            let reply = match path.strip_prefix("POST ") {
                Some(path) => {
                    let csrf = client.get("/").csrf();
                    // One form with every field any of these routes reads.
                    client.post(
                        path,
                        &[
                            ("csrf", &csrf),
                            ("file", "table.csv"),
                            ("files", "table.csv"),
                            ("vote", "changes"),
                            ("comment", "label the groups"),
                            ("context", "counts by group"),
                        ],
                    )
                }
                None => client.get(&path),
            };
            line.push_str(&format!(" {:>5}", reply.status));
        }
        table.push_str(line.trim_end());
        table.push('\n');
    }
    expect_test::expect![[r#"
        /                                    200   200   200   200   200   200
        /account                             200   200   200   200   200   200
        /jobs                                200   200   403   200   200   200
        /jobs/{job}                          200   404   404   200   200   200
        /requests                            200   200   403   200   200   200
        /requests/{rel}                      200   403   200   200   200   200
        /requests/{rel}/files/table.csv      403   403   403   403   403   403
        /review                              403   403   200   200   403   403
        /review/{rel}                        403   403   200   403   403   403
        /review/{rel}/files/table.csv        403   403   400   403   403   403
        /audit                               403   403   403   403   200   200
        /audit/export?format=csv             403   403   403   403   200   200
        /audit/verify                        403   403   403   403   200   200
        /provenance/{job}                    403   403   403   403   200   200
        POST /review/{rel}/vote              403   403   303   403   403   403
        POST /jobs/{job}/request             303   404   404   303   403   403
        POST /requests/{rel}/resubmit        409   403   403   403   403   403
        POST /requests/{rel}/withdraw        303   403   403   403   403   403
    "#]]
    .assert_eq(&table);
    // The one vote that counted is carol's; only project researchers (alice, gina) made
    // requests, and only the author withdrew hers.
    let votes: Vec<Value> = server
        .audit_events()
        .into_iter()
        .filter(|e| e["action"] == "release.vote" && e["outcome"] == "ok")
        .collect();
    assert_eq!(votes.len(), 1);
    assert_eq!(votes[0]["actor"], "carol");
    let changes: Vec<(String, String)> = server
        .audit_events()
        .into_iter()
        .filter(|e| {
            (e["action"] == "release.request" || e["action"] == "release.withdraw")
                && e["outcome"] == "ok"
        })
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("").to_owned(),
                e["actor"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("release.request".to_owned(), "alice".to_owned()),
            ("release.request".to_owned(), "alice".to_owned()),
            ("release.request".to_owned(), "gina".to_owned()),
            ("release.withdraw".to_owned(), "alice".to_owned())
        ]
    );
}
