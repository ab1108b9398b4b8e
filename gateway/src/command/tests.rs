use expect_test::{Expect, expect};

use super::*;

fn check(line: &str, expected: Expect) {
    let shown = match parse(line) {
        Ok(invocation) => format!("{invocation:?}"),
        Err(error) => format!("error: {error}"),
    };
    expected.assert_eq(&shown);
}

#[test]
fn simple_commands() {
    check("help", expect!["Invocation { command: Help, json: false }"]);
    check(
        "whoami --json",
        expect!["Invocation { command: WhoAmI, json: true }"],
    );
    check("jobs", expect!["Invocation { command: Jobs, json: false }"]);
    check(
        "status j-1",
        expect![[r#"Invocation { command: Status { id: "j-1" }, json: false }"#]],
    );
    check(
        "outputs j-1 --json",
        expect![[r#"Invocation { command: Outputs { id: "j-1" }, json: true }"#]],
    );
}

#[test]
fn submit_with_options_and_module_arguments() {
    check(
        r#"submit --project diabetes-study --name "HbA1c by age""#,
        expect![[
            r#"Invocation { command: Submit { project: "diabetes-study", name: "HbA1c by age", dataset: None, args: [], module: None, python: false }, json: false }"#
        ]],
    );
    check(
        "submit --project p --name HbA1c by age --json",
        expect![[
            r#"Invocation { command: Submit { project: "p", name: "HbA1c by age", dataset: None, args: [], module: None, python: false }, json: true }"#
        ]],
    );
    check(
        "submit --project p --name counts --python -- 2020",
        expect![[
            r#"Invocation { command: Submit { project: "p", name: "counts", dataset: None, args: ["2020"], module: None, python: true }, json: false }"#
        ]],
    );
    check(
        "submit --project=p --dataset claims --json -- 2020 --flag x",
        expect![[
            r#"Invocation { command: Submit { project: "p", name: "unnamed job", dataset: Some("claims"), args: ["2020", "--flag", "x"], module: None, python: false }, json: true }"#
        ]],
    );
}

#[test]
fn audit_commands_for_compliance() {
    check(
        "audit",
        expect![
            "Invocation { command: Audit(List { filter: AuditFilter { actor: None, project: None, dataset: None, target: None, action: None, outcome: None, from: None, to: None }, after: 0, limit: 100 }), json: false }"
        ],
    );
    check(
        "audit --job j-1 --outcome denied --limit 5 --json",
        expect![[
            r#"Invocation { command: Audit(List { filter: AuditFilter { actor: None, project: None, dataset: None, target: Some("j-1"), action: None, outcome: Some("denied"), from: None, to: None }, after: 0, limit: 5 }), json: true }"#
        ]],
    );
    check(
        "audit verify",
        expect!["Invocation { command: Audit(Verify), json: false }"],
    );
    check(
        "audit export --format csv --actor alice",
        expect![[
            r#"Invocation { command: Audit(Export { filter: AuditFilter { actor: Some("alice"), project: None, dataset: None, target: None, action: None, outcome: None, from: None, to: None }, format: "csv" }), json: false }"#
        ]],
    );
    check(
        "audit proof 12",
        expect!["Invocation { command: Audit(Proof { seq: 12 }), json: false }"],
    );
    check("audit proof x", expect!["error: seq must be a number"]);
    check(
        "audit export --format xml",
        expect!["error: --format must be jsonl or csv"],
    );
    check(
        "audit rewrite",
        expect![[
            r#"error: unknown audit command "rewrite"; use audit, audit verify, audit export, audit proof <seq>, audit checkpoint or audit provenance <job-id>"#
        ]],
    );
}

#[test]
fn malformed_lines_get_clear_errors() {
    check("", expect!["error: empty command; try: help"]);
    check(
        "rm -rf /",
        expect![[r#"error: unknown command "rm"; try: help"#]],
    );
    check(
        "submit --name x",
        expect!["error: submit needs --project NAME"],
    );
    check(
        "submit --project",
        expect!["error: --project needs a value"],
    );
    check(
        "submit --project p extra",
        expect![[r#"error: submit: unexpected argument "extra" (module arguments go after --)"#]],
    );
    check("status", expect!["error: usage: status <job-id>"]);
    check("status a b", expect!["error: usage: status <job-id>"]);
    check("jobs --all", expect!["error: jobs: unknown option --all"]);
    check(
        "jobs -- x",
        expect!["error: jobs takes no module arguments after --"],
    );
    check(
        "help 'unbalanced",
        expect!["error: unbalanced quotes in command line"],
    );
    check(
        "submit --project p --project q",
        expect!["error: submit: unknown or repeated option --project"],
    );
    check(
        &"x".repeat(MAX_COMMAND_LEN + 1),
        expect!["error: command line too long"],
    );
}

#[test]
fn release_commands() {
    check(
        "request-release j-1 a.csv b.csv --context counts by age band, adults --justification margins only --suggested",
        expect![[
            r#"Invocation { command: Release(Request { job: "j-1", files: ["a.csv", "b.csv"], context: "counts by age band, adults", justification: Some("margins only"), suggested: true }), json: false }"#
        ]],
    );
    check(
        "request-release j-1 a.csv",
        expect![
            "error: request-release needs --context: what the files show, the population, and how they relate to earlier outputs"
        ],
    );
    check(
        "request-release j-1",
        expect![
            "error: usage: request-release <job-id> <file>... --context TEXT [--justification TEXT] [--suggested]"
        ],
    );
    check(
        "requests --json",
        expect!["Invocation { command: Release(List), json: true }"],
    );
    check(
        "request rel-1",
        expect![[r#"Invocation { command: Release(Show { id: "rel-1" }), json: false }"#]],
    );
    check(
        "withdraw rel-1",
        expect![[r#"Invocation { command: Release(Withdraw { id: "rel-1" }), json: false }"#]],
    );
    check(
        "resubmit rel-1 --job j-2 --context now with ages merged",
        expect![[
            r#"Invocation { command: Release(Resubmit { id: "rel-1", context: Some("now with ages merged"), justification: None, job: Some("j-2") }), json: false }"#
        ]],
    );
    check(
        "download rel-1 a.csv",
        expect![[
            r#"Invocation { command: Release(Download { id: "rel-1", file: "a.csv" }), json: false }"#
        ]],
    );
    check(
        "download rel-1",
        expect!["error: usage: download <request-id> <file>"],
    );
    check(
        "review-queue",
        expect!["Invocation { command: Release(Queue), json: false }"],
    );
    check(
        "review rel-1 --json",
        expect![[r#"Invocation { command: Release(Review { id: "rel-1" }), json: true }"#]],
    );
    check(
        "review-cat rel-1 a.csv",
        expect![[
            r#"Invocation { command: Release(Cat { id: "rel-1", file: "a.csv" }), json: false }"#
        ]],
    );
    check(
        "vote rel-1 a.csv approve --comment fine: all cells above 10",
        expect![[
            r#"Invocation { command: Release(Vote { id: "rel-1", file: "a.csv", vote: "approve", comment: "fine: all cells above 10" }), json: false }"#
        ]],
    );
    check(
        "vote rel-1 a.csv maybe",
        expect![[r#"error: vote must be approve, changes or reject, not "maybe""#]],
    );
    check(
        "vote rel-1 approve",
        expect!["error: usage: vote <request-id> <file> approve|changes|reject [--comment TEXT]"],
    );
    check(
        "submit --project p --module inbox/job.wasm",
        expect![[
            r#"Invocation { command: Submit { project: "p", name: "unnamed job", dataset: None, args: [], module: Some("inbox/job.wasm"), python: false }, json: false }"#
        ]],
    );
    check(
        "submit --project p --module /etc/passwd",
        expect!["error: --module takes inbox/NAME (a file uploaded with sftp)"],
    );
}
