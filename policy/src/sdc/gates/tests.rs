use expect_test::{Expect, expect};

use super::*;

/// Renders the gate reasons for one file under the default gates.
fn check(file: &str, bytes: &[u8], expected: Expect) {
    check_with(&FileGates::default(), file, bytes, expected);
}

fn check_with(gates: &FileGates, file: &str, bytes: &[u8], expected: Expect) {
    let out: String = check_file(file, bytes, gates)
        .iter()
        .map(|r| format!("{} {:?}: {}\n", r.verdict.as_str(), r.code, r.message))
        .collect();
    expected.assert_eq(&out);
}

#[test]
fn file_types() {
    check("table.csv", b"a,n\nx,12\n", expect![[r#""#]]);
    check("Figure.PNG", b"\x89PNG", expect![[r#""#]]);
    check(
        "model.pkl",
        b"\x80\x04",
        expect![[r#"
        fail FileType: file type "pkl" is not allowed out
    "#]],
    );
    check(
        "README",
        b"hello",
        expect![[r#"
        fail FileType: file type "" is not allowed out
    "#]],
    );
    check(
        ".csv",
        b"a\n",
        expect![[r#"
        fail FileType: file type "" is not allowed out
    "#]],
    );
}

#[test]
fn size_and_rows_at_the_limits() {
    let gates = FileGates {
        max_bytes: 12,
        max_csv_rows: 2,
        ..FileGates::default()
    };
    check_with(&gates, "a.csv", b"a,n\nx,1\ny,2", expect![[r#""#]]);
    check_with(&gates, "a.csv", b"a,n\nx,1\ny,2\n", expect![[r#""#]]);
    check_with(
        &gates,
        "a.csv",
        b"a,n\nx,1\ny,2\nz,3\n",
        expect![[r#"
        fail FileSize: larger than 12 bytes
        fail TooManyRows: more than 2 rows
    "#]],
    );
}

#[test]
fn identifier_columns() {
    check(
        "a.csv",
        b"person_id,n\nx,1\n",
        expect![[r#"
        fail IdentifierColumn: column "person_id" looks like a person identifier
    "#]],
    );
    check(
        "a.csv",
        b"Patient ID,visit_person_id,pseudonym_hash,age_band,n\nx,y,z,w,1\n",
        expect![[r#"
        fail IdentifierColumn: column "Patient ID" looks like a person identifier
        fail IdentifierColumn: column "visit_person_id" looks like a person identifier
        fail IdentifierColumn: column "pseudonym_hash" looks like a person identifier
    "#]],
    );
    check(
        "a.csv",
        b"provider_id,age_band,n\nx,y,1\n",
        expect![[r#""#]],
    );
    let off = FileGates {
        identifier_columns: false,
        ..FileGates::default()
    };
    check_with(&off, "a.csv", b"person_id,n\nx,1\n", expect![[r#""#]]);
}

#[test]
fn pseudonym_tokens_in_text() {
    check(
        "notes.txt",
        b"first line\nthe outlier was P0a1b2c3d4e5f6a7b\n",
        expect![[r#"
        fail PseudonymToken: line 2 has a token that looks like a pseudonym
    "#]],
    );
    check(
        "notes.txt",
        b"uuid 123e4567-e89b-12d3-a456-426614174000\n",
        expect![[r#"
        fail PseudonymToken: line 1 has a token that looks like a pseudonym
    "#]],
    );
    check(
        "notes.txt",
        b"dates 2024-01-01 to 2024-12-31, codes E11-E14\n",
        expect![[r#""#]],
    );
    check(
        "notes.txt",
        b"costs 123456789012345 yen; sha prefix abc123 is short\n",
        expect![[r#""#]],
    );
    check(
        "notes.txt",
        b"a 16-digit number 1234567890123456\n",
        expect![[r#"
        fail PseudonymToken: line 1 has a token that looks like a pseudonym
    "#]],
    );
    check(
        "notes.md",
        "日本語のテキスト、数字 12345 と英語 deadline facade\n".as_bytes(),
        expect![[r#""#]],
    );
    check(
        "notes.txt",
        b"shift-jis \x83\x65\x83\x4c\x83\x58\x83\x67",
        expect![[r#"
        review NotUtf8: text that is not UTF-8 could not be scanned for pseudonyms
    "#]],
    );
    check("fig.png", b"\x89PNG\xff\xfe", expect![[r#""#]]);
}

#[test]
fn identifier_names_and_extensions() {
    let names = [
        "id",
        "PID",
        "person-id",
        "subject_id",
        "患者ID",
        "n",
        "age_band",
        "idx",
    ];
    let flags: Vec<bool> = names.iter().map(|n| looks_like_identifier(n)).collect();
    assert_eq!(flags, [true, true, true, true, true, false, false, false]);
    assert_eq!(extension("dir/a.b.CSV"), "csv");
    assert_eq!(extension("dir.x/noext"), "");
}
