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
    check("help", expect![[r#""#]]);
    check("whoami --json", expect![[r#""#]]);
    check("jobs", expect![[r#""#]]);
    check("status j-1", expect![[r#""#]]);
    check("outputs j-1 --json", expect![[r#""#]]);
}

#[test]
fn submit_with_options_and_module_arguments() {
    check(
        r#"submit --project diabetes-study --name "HbA1c by age""#,
        expect![[r#""#]],
    );
    check(
        "submit --project=p --dataset claims --json -- 2020 --flag x",
        expect![[r#""#]],
    );
}

#[test]
fn malformed_lines_get_clear_errors() {
    check("", expect![[r#""#]]);
    check("rm -rf /", expect![[r#""#]]);
    check("submit --name x", expect![[r#""#]]);
    check("submit --project", expect![[r#""#]]);
    check("submit --project p extra", expect![[r#""#]]);
    check("status", expect![[r#""#]]);
    check("status a b", expect![[r#""#]]);
    check("jobs --all", expect![[r#""#]]);
    check("jobs -- x", expect![[r#""#]]);
    check("help 'unbalanced", expect![[r#""#]]);
    check("submit --project p --project q", expect![[r#""#]]);
    check(&"x".repeat(MAX_COMMAND_LEN + 1), expect![[r#""#]]);
}
