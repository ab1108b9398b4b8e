//! Web sessions with `curl`: wrong passwords and codes, replayed codes, lockout and its
//! reset, the per-address limit, CSRF refusals, idle and absolute timeouts, sign-out, cookie
//! attributes, secrets at rest, the user's own password change, and the audit events of each.

use std::process::{Command, Stdio};

use serde_json::Value;

use super::{Client, code, credentials, denied_login, password};
use crate::support::{Server, audited, text};

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
