//! Issue 6: the web pages and their sessions. In headless chromium (`tests/web/*.mjs`): two
//! checkers sign in with password + TOTP and approve a request, the researcher downloads it,
//! compliance filters, pages, exports and verifies the trail. With `curl`: wrong passwords
//! and codes, replayed codes, lockout, per-address rate limit, CSRF refusals, idle and
//! absolute timeouts, sign-out, cookie attributes, secrets at rest, and the audit events of
//! each.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::browser::assert_browser_script;
use crate::release::{RISKY, release_job, request};
use crate::support::{Server, Stdin, audited, text};

/// A manifest describing only `table.csv`: other files are checked by people.
const TABLE_ONLY: &str = r#"{ "version": 1, "outputs": [
  { "file": "table.csv", "kind": "frequency_table", "dimensions": ["g"], "count": "n" } ] }"#;

/// An 8×8 PNG (made with Python's zlib).
const PNG: [u8; 74] = *b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x08\x00\x00\x00\x08\x08\x02\x00\x00\x00Km)\xdc\x00\x00\x00\x11IDATx\x9cc\x90\x8f_\x81\x151\x0c-\t\x00\x96,I\x81\x13\x8f\xb8h\x00\x00\x00\x00IEND\xaeB`\x82";

/// The demo's web credentials (`DIR/web/credentials.json`).
fn credentials(server: &Server) -> Value {
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

fn denied_login(events: &[Value], user: &str, reason: &str) -> bool {
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

#[test]
fn web_sessions_refuse_guessing_forgery_replay_and_stale_sessions() {
    let server = Server::demo();
    let frank = Client::new(&server);

    // Wrong password, wrong code, unknown user: the same answer; the reason only in the trail.
    for (user, pass, totp) in [
        (
            "frank",
            "not the password".to_owned(),
            code(&server, "frank", 0),
        ),
        (
            "frank",
            password(&server, "frank"),
            code(&server, "frank", -600),
        ),
        (
            "nobody",
            "whatever whatever".to_owned(),
            "123456".to_owned(),
        ),
    ] {
        let reply = frank.login(user, &pass, &totp);
        assert_eq!(reply.status, 401, "{user}: {}", reply.body);
        assert!(reply.body.contains("wrong user name, password or code"));
        assert!(
            reply
                .header("set-cookie")
                .iter()
                .all(|c| !c.starts_with("__Host-enclave_session"))
        );
    }
    // Something that is not a user name (a password in the wrong box?) is never recorded.
    let typo = frank.login("My Secret Passphrase!", "x", "000000");
    assert_eq!(typo.status, 401);
    // A sign-in form without its anti-forgery value (login CSRF) is refused.
    let forged = frank.post(
        "/login",
        &[
            ("user", "frank"),
            ("password", "x"),
            ("totp", "1"),
            ("csrf", "forged"),
        ],
    );
    assert_eq!(forged.status, 403);

    // The right password and code open a session with a strict cookie.
    let first_code = code(&server, "frank", 0);
    let signed_in = frank.login("frank", &password(&server, "frank"), &first_code);
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let cookie = signed_in
        .header("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("__Host-enclave_session="))
        .expect("session cookie");
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let home = frank.get("/review");
    assert_eq!(home.status, 200);
    let csp = home.header("content-security-policy").join(" ");
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");

    // The same code again (another browser) is refused: a code is good once.
    let replay = Client::new(&server).login("frank", &password(&server, "frank"), &first_code);
    assert_eq!(replay.status, 401);

    // Forms without the session's CSRF token, or from another origin, are refused and change
    // nothing: the session still works.
    let csrf = frank.get("/review").csrf();
    assert_eq!(frank.post("/logout", &[]).status, 403);
    assert_eq!(frank.post("/logout", &[("csrf", "0000")]).status, 403);
    let cross = frank.call(
        "POST",
        "/logout",
        &[("csrf", &csrf)],
        &["-H", "Origin: https://evil.example"],
    );
    assert_eq!(cross.status, 403);
    let vote = frank.post(
        "/review/rel-000000/vote",
        &[("file", "x.csv"), ("vote", "approve")],
    );
    assert_eq!(vote.status, 403);
    assert_eq!(frank.get("/review").status, 200, "the session survived");

    // Pages follow the policy: a checker sees no job list and no audit trail.
    assert_eq!(frank.get("/jobs").status, 403);
    assert_eq!(frank.get("/audit").status, 403);
    let erin = Client::new(&server);
    assert_eq!(
        erin.login(
            "erin",
            &password(&server, "erin"),
            &code(&server, "erin", 0)
        )
        .status,
        303
    );
    assert_eq!(erin.get("/audit").status, 200);
    assert_eq!(erin.get("/review").status, 403);

    // Idle timeout: a session unused for longer than `[web] idle_minutes` ends.
    server.sql("UPDATE web_sessions SET last_seen = '2020-01-01T00:00:00.000000Z' WHERE user_name = 'frank'");
    let stale = frank.get("/review");
    assert_eq!(stale.status, 303);
    assert!(stale.header("location").join("").contains("expired=1"));
    assert_eq!(
        frank.get("/review").status,
        303,
        "an ended session stays ended"
    );
    // Absolute timeout: even a busy session ends hours after sign-in.
    server.sql("UPDATE web_sessions SET created_at = '2020-01-01T00:00:00.000000Z' WHERE user_name = 'erin'");
    assert_eq!(erin.get("/audit").status, 303);

    // Sign-out ends the session and clears the cookie.
    let gina = Client::new(&server);
    assert_eq!(
        gina.login(
            "gina",
            &password(&server, "gina"),
            &code(&server, "gina", 0)
        )
        .status,
        303
    );
    let token = gina.get("/").csrf();
    let out = gina.post("/logout", &[("csrf", &token)]);
    assert_eq!(out.status, 303);
    assert_eq!(gina.get("/").status, 303);

    // Secrets at rest: argon2 password hashes, sealed TOTP secrets, hashed cookies.
    let hash =
        server.sql_value("SELECT password_hash FROM web_credentials WHERE user_name = 'frank'");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let sealed =
        server.sql_value("SELECT totp_sealed FROM web_credentials WHERE user_name = 'frank'");
    let secret = credentials(&server)["frank"]["totp"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(!sealed.contains(&secret) && !sealed.to_lowercase().contains(&secret.to_lowercase()));
    let value = cookie
        .split(';')
        .next()
        .unwrap_or("")
        .split('=')
        .nth(1)
        .unwrap_or("")
        .to_owned();
    let raw = server.sql_value(&format!(
        "SELECT COUNT(*) FROM web_sessions WHERE id_hash = '{value}'"
    ));
    assert_eq!(raw, "0", "the cookie value itself is never stored");

    let events = server.audit_events();
    assert!(denied_login(&events, "(invalid)", "not a user name"));
    assert!(
        !events
            .iter()
            .any(|e| e.to_string().contains("My Secret Passphrase")),
        "what was typed as a name is not in the trail"
    );
    assert!(denied_login(&events, "frank", "wrong password"));
    assert!(denied_login(
        &events,
        "frank",
        "wrong, expired or reused TOTP code"
    ));
    assert!(denied_login(&events, "nobody", "unknown user"));
    assert!(denied_login(&events, "frank", "sign-in form token"));
    assert!(audited(
        &events,
        "session.csrf",
        "denied",
        "missing or wrong CSRF token"
    ));
    assert!(audited(
        &events,
        "session.csrf",
        "denied",
        "cross-origin form"
    ));
    assert!(audited(&events, "session.expire", "ok", "idle timeout"));
    assert!(audited(&events, "session.expire", "ok", "absolute timeout"));
    assert!(audited(&events, "session.web", "denied", "session ended"));
    assert!(audited(&events, "session.logout", "ok", "signed out"));
}

#[test]
fn repeated_failures_lock_an_account_until_an_administrator_resets_it() {
    let server = Server::demo();
    // A session opened before the trouble; a password reset will end it.
    let earlier = Client::new(&server);
    let opened = earlier.login("bob", &password(&server, "bob"), &code(&server, "bob", 0));
    assert_eq!(opened.status, 303, "{}", opened.body);
    let bob = Client::new(&server);
    for _ in 0..5 {
        assert_eq!(bob.login("bob", "not bob's password", "000000").status, 401);
    }
    // Locked: even the right password and code are refused for now.
    let locked = bob.login("bob", &password(&server, "bob"), &code(&server, "bob", 0));
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert!(
        locked.body.contains("too many failed sign-ins"),
        "{}",
        locked.body
    );

    // Administrators set passwords from standard input (never as an argument); a short one
    // is refused and changes nothing; a good one clears the lock.
    let set = |password: &str| {
        let mut child = Command::new(crate::support::enclave_bin())
            .args(["admin", "--dir"])
            .arg(server.path())
            .args(["user", "password", "bob"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run enclave");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{password}\n").as_bytes())
            .expect("write");
        child.wait_with_output().expect("wait")
    };
    let short = set("short");
    assert_eq!(short.status.code(), Some(2), "{}", text(&short.stderr));
    assert!(text(&short.stderr).contains("at least 12"));
    assert_eq!(
        earlier.get("/").status,
        200,
        "a lock does not end open sessions"
    );
    let reset = set("a brand new passphrase for bob");
    assert!(reset.status.success(), "{}", text(&reset.stderr));
    assert_eq!(
        earlier.get("/").status,
        303,
        "a new password ends every open session"
    );
    let back = bob.login(
        "bob",
        "a brand new passphrase for bob",
        &code(&server, "bob", 30),
    );
    assert_eq!(back.status, 303, "{}", back.body);

    // A fresh TOTP enrolment prints its secret once, as an otpauth URI on the last line.
    let enrol = server.enclave(&["admin", "user", "totp", "bob"]);
    assert!(enrol.status.success(), "{}", text(&enrol.stderr));
    let last = text(&enrol.stdout).lines().last().unwrap_or("").to_owned();
    assert!(last.starts_with("otpauth://totp/enclave:bob?"), "{last}");
    let unknown = server.enclave(&["admin", "user", "totp", "nobody"]);
    assert_eq!(unknown.status.code(), Some(4));

    let events = server.audit_events();
    assert!(denied_login(&events, "bob", "account locked"));
    assert!(audited(
        &events,
        "admin.user.password",
        "ok",
        "\"sessions_ended\":1"
    ));
    assert!(audited(
        &events,
        "admin.user.password",
        "error",
        "at least 12"
    ));
    assert!(audited(&events, "admin.user.totp", "ok", ""));
    assert!(
        !events
            .iter()
            .any(|e| e.to_string().contains("a brand new passphrase")),
        "no password in the trail"
    );
}

#[test]
fn one_address_is_limited_however_many_accounts_it_tries() {
    let mut server = Server::setup_only();
    let config = server.path().join("enclave.toml");
    let mut text_config = std::fs::read_to_string(&config).expect("config");
    text_config.push_str("\n[web]\nlogin_attempts_per_address = 3\n");
    std::fs::write(&config, text_config).expect("write config");
    server.serve();
    let client = Client::new(&server);
    for user in ["u1", "u2", "u3"] {
        assert_eq!(client.login(user, "wrong password", "000000").status, 401);
    }
    let limited = client.login(
        "carol",
        &password(&server, "carol"),
        &code(&server, "carol", 0),
    );
    assert_eq!(limited.status, 429);
    // Refused again without another record: a flood cannot fill the trail.
    assert_eq!(client.login("u4", "wrong password", "000000").status, 429);
    let events = server.audit_events();
    let limited: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["action"] == "session.login"
                && e["details"]
                    .as_str()
                    .unwrap_or("")
                    .contains("too many attempts from this address")
        })
        .collect();
    assert_eq!(limited.len(), 1, "{limited:?}");
    assert_eq!(
        limited[0]["actor"], "-",
        "the names an address tries are not recorded"
    );
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

/// A signed-in user changes their own password: the current password and a fresh code are
/// asked again, failures count towards the lock, the user's other sessions end, this one
/// stays.
#[test]
fn users_change_their_own_password_with_password_and_code() {
    let server = Server::demo();
    let here = Client::new(&server);
    let old = password(&server, "gina");
    assert_eq!(
        here.login("gina", &old, &code(&server, "gina", -30)).status,
        303
    );
    let elsewhere = Client::new(&server);
    assert_eq!(
        elsewhere
            .login("gina", &old, &code(&server, "gina", 0))
            .status,
        303
    );
    let change = |current: &str, new: &str, again: &str, code: &str| {
        let csrf = here.get("/account").csrf();
        here.post(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current", current),
                ("totp", code),
                ("new", new),
                ("again", again),
            ],
        )
    };
    let new = "gina's own new passphrase";
    assert_eq!(
        change("not it", new, new, &code(&server, "gina", 30)).status,
        401
    );
    assert_eq!(
        change(&old, new, "something else!!", &code(&server, "gina", 30)).status,
        400
    );
    assert_eq!(
        change(&old, "short", "short", &code(&server, "gina", 30)).status,
        400
    );
    let done = change(&old, new, new, &code(&server, "gina", 30));
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(here.get("/account").status, 200, "this session stays");
    assert_eq!(elsewhere.get("/").status, 303, "the other session ended");
    let hash =
        server.sql_value("SELECT password_hash FROM web_credentials WHERE user_name = 'gina'");
    assert!(hash.starts_with("$argon2id$"));
    let events = server.audit_events();
    assert!(audited(
        &events,
        "session.password",
        "denied",
        "wrong current password"
    ));
    assert!(audited(&events, "session.password", "error", "at least 12"));
    assert!(audited(
        &events,
        "session.password",
        "ok",
        "\"sessions_ended\":1"
    ));
    assert!(
        !events
            .iter()
            .any(|e| e.to_string().contains("gina's own new passphrase")),
        "no password in the trail"
    );
}
