use expect_test::{Expect, expect};

use super::*;

fn spec() -> TableSpec {
    TableSpec {
        dimensions: vec!["age".into(), "sex".into()],
        value: "n".into(),
        total_label: "Total".into(),
    }
}

/// Parses a count table; renders rows or the error.
fn check(bytes: &[u8], expected: Expect) {
    let out = match parse_table("t.csv", bytes, &spec(), ValueKind::Count) {
        Ok(table) => {
            let mut out = format!("extra columns: {:?}\n", table.extra_columns);
            for row in table.rows {
                out.push_str(&format!(
                    "line {}: {:?} {:?}\n",
                    row.line, row.dims, row.value
                ));
            }
            out
        }
        Err(err) => format!("error: {err}\n"),
    };
    expected.assert_eq(&out);
}

#[test]
fn reads_cells_margins_and_hidden_markers() {
    check(b"\xEF\xBB\xBFage,sex,n,pct\n0-19,f,12,0.5\n0-19,m,,0.1\n0-19,Total,[REDACTED],1\nTotal,Total,NA,1\n", expect![[r#"
        extra columns: ["pct"]
        line 2: ["0-19", "f"] Number(12.0)
        line 3: ["0-19", "m"] Hidden
        line 4: ["0-19", "Total"] Hidden
        line 5: ["Total", "Total"] Hidden
    "#]]);
}

#[test]
fn malformed_tables_name_file_and_line() {
    check(
        b"age,sex,n\n0-19,f,12\n0-19,m\n",
        expect![[r#"
        error: t.csv line 3: row has 2 fields but the header has 3
    "#]],
    );
    check(
        b"age,sex,n\n0-19,f,12\n0-19,m,\xff\n",
        expect![[r#"
        error: t.csv line 3: not valid UTF-8
    "#]],
    );
    check(
        b"age,sex,n\n0-19,f,12\n0-19,m,twelve\n",
        expect![[r#"
        error: t.csv line 3: value in column "n" is not a whole number of zero or more
    "#]],
    );
    check(
        b"age,sex,n\n0-19,f,-3\n",
        expect![[r#"
        error: t.csv line 2: value in column "n" is not a whole number of zero or more
    "#]],
    );
    check(
        b"age,sex,n\n0-19,f,1.5\n",
        expect![[r#"
        error: t.csv line 2: value in column "n" is not a whole number of zero or more
    "#]],
    );
    check(
        b"age,sex,n\n0-19,f,3\n0-19,f,4\n",
        expect![[r#"
        error: t.csv line 3: same cell as line 2
    "#]],
    );
    check(
        b"age,n\n0-19,3\n",
        expect![[r#"
        error: t.csv line 1: the header has no column "sex"
    "#]],
    );
    check(
        b"age,sex,n,n\n0-19,f,3,3\n",
        expect![[r#"
        error: t.csv line 1: column "n" appears twice in the header
    "#]],
    );
    check(
        b"",
        expect![[r#"
        error: t.csv line 1: no header row
    "#]],
    );
    check(
        b"age,sex,n\n0-19,\"f,3\n",
        expect![[r#"
        error: t.csv line 2: row has 2 fields but the header has 3
    "#]],
    );
}

#[test]
fn magnitudes_must_be_finite() {
    let err = parse_table(
        "m.csv",
        b"age,sex,n\n0-19,f,inf\n",
        &spec(),
        ValueKind::Magnitude,
    )
    .unwrap_err();
    expect![[r#"m.csv line 2: value in column "n" is not a finite number"#]]
        .assert_eq(&err.to_string());
    let ok = parse_table(
        "m.csv",
        b"age,sex,n\n0-19,f,-1.5e3\n",
        &spec(),
        ValueKind::Magnitude,
    )
    .unwrap();
    assert_eq!(ok.rows[0].value, Value::Number(-1500.0));
}

fn check_evidence(bytes: &[u8], expected: Expect) {
    let out = match parse_evidence("e.csv", bytes, &spec()) {
        Ok(map) => map.iter().map(|(k, v)| format!("{k:?}: {v:?}\n")).collect(),
        Err(err) => format!("error: {err}\n"),
    };
    expected.assert_eq(&out);
}

#[test]
fn evidence_files() {
    check_evidence(b"age,sex,n,sum,top1,top2,negatives,missing\n0-19,f,12,100.5,40,30,0,2\nTotal,Total,12,100.5,40,30,0,2\n", expect![[r#"
        ["0-19", "f"]: Evidence { n: 12, sum: 100.5, top1: 40.0, top2: 30.0, negatives: 0, missing: 2 }
        ["Total", "Total"]: Evidence { n: 12, sum: 100.5, top1: 40.0, top2: 30.0, negatives: 0, missing: 2 }
    "#]]);
    check_evidence(
        b"age,sex,n,sum,top1,top2\n0-19,f,12,100,40,30\n",
        expect![[r#"
        ["0-19", "f"]: Evidence { n: 12, sum: 100.0, top1: 40.0, top2: 30.0, negatives: 0, missing: 0 }
    "#]],
    );
    check_evidence(
        b"age,sex,n,sum,top1\n0-19,f,12,100,40\n",
        expect![[r#"
        error: e.csv line 1: the header has no column "top2"
    "#]],
    );
    check_evidence(
        b"age,sex,n,sum,top1,top2\n0-19,f,12,100,30,40\n",
        expect![[r#"
        error: e.csv line 2: top1 and top2 must be absolute contributions with top1 >= top2
    "#]],
    );
    check_evidence(
        b"age,sex,n,sum,top1,top2\n0-19,f,1,100,60,40\n",
        expect![[r#"
        error: e.csv line 2: top contributions given for fewer contributors than n
    "#]],
    );
    check_evidence(
        b"age,sex,n,sum,top1,top2\n0-19,f,x,100,60,40\n",
        expect![[r#"
        error: e.csv line 2: n is not a whole number of zero or more
    "#]],
    );
    check_evidence(
        b"age,sex,n,sum,top1,top2\n0-19,f,3,NaN,60,40\n",
        expect![[r#"
        error: e.csv line 2: sum is not a finite number
    "#]],
    );
}

#[test]
fn figure_counts_spec_is_inferred() {
    expect![[r#"
        Ok(
            TableSpec {
                dimensions: [
                    "bin",
                ],
                value: "count",
                total_label: "Total",
            },
        )
    "#]]
    .assert_debug_eq(&infer_spec("h.csv", b"bin,count\n0-10,12\n"));
    expect![[r#"
        Err(
            Csv {
                file: "h.csv",
                line: 1,
                message: "counts need at least one dimension column and a count column",
            },
        )
    "#]]
    .assert_debug_eq(&infer_spec("h.csv", b"count\n12\n"));
}
