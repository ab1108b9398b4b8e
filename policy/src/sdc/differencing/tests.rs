use expect_test::{Expect, expect};

use super::*;

fn spec(dims: &[&str]) -> TableSpec {
    TableSpec {
        dimensions: dims.iter().map(|d| (*d).to_owned()).collect(),
        value: "n".into(),
        total_label: "Total".into(),
    }
}

fn ledger() -> Ledger {
    let by_age = ReleasedTable::from_csv(
        "r-1",
        "by_age.csv",
        &spec(&["age"]),
        b"age,n\n0-19,120\n20-39,250\n40-59,[REDACTED]\nTotal,400\n",
    )
    .unwrap();
    let by_sex = ReleasedTable::from_csv(
        "r-2",
        "by_sex.csv",
        &spec(&["sex"]),
        b"sex,n\nf,210\nm,190\n",
    )
    .unwrap();
    Ledger {
        tables: vec![by_age, by_sex],
    }
}

/// One line per (cell, value): the differencing findings against the ledger, threshold 10.
fn check(cells: &[(&[(&str, &str)], f64)], expected: Expect) {
    let ledger = ledger();
    let out: String = cells
        .iter()
        .map(|(dims, value)| {
            let key: CellKey = dims
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            let found = check_cell(&key, *value, 10, &ledger);
            let messages: Vec<&str> = found.iter().map(|r| r.message.as_str()).collect();
            format!("{dims:?}={value}: {messages:?}\n")
        })
        .collect();
    expected.assert_eq(&out);
}

#[test]
fn small_positive_differences_are_flagged_naming_the_release() {
    check(
        &[
            (&[("age", "0-19")], 120.0),
            (&[("age", "0-19")], 121.0),
            (&[("age", "0-19")], 111.0),
            (&[("age", "0-19")], 110.0),
            (&[("age", "0-19")], 130.0),
            (&[("age", "20-39")], 241.0),
            (&[("age", "40-59")], 3.0),
            (&[], 397.0),
            (&[("sex", "f")], 205.0),
            (&[("sex", "f"), ("age", "0-19")], 119.0),
        ],
        expect![[r#"
            [("age", "0-19")]=120: []
            [("age", "0-19")]=121: ["differs from release \"r-1\" (by_age.csv) by fewer than 10: subtracting the two isolates a few people"]
            [("age", "0-19")]=111: ["differs from release \"r-1\" (by_age.csv) by fewer than 10: subtracting the two isolates a few people"]
            [("age", "0-19")]=110: []
            [("age", "0-19")]=130: []
            [("age", "20-39")]=241: ["differs from release \"r-1\" (by_age.csv) by fewer than 10: subtracting the two isolates a few people"]
            [("age", "40-59")]=3: []
            []=397: ["differs from release \"r-1\" (by_age.csv) by fewer than 10: subtracting the two isolates a few people"]
            [("sex", "f")]=205: ["differs from release \"r-2\" (by_sex.csv) by fewer than 10: subtracting the two isolates a few people"]
            [("sex", "f"), ("age", "0-19")]=119: []
        "#]],
    );
}

#[test]
fn margins_of_a_larger_table_match_an_earlier_smaller_table() {
    let spec = spec(&["age", "sex"]);
    let key = cell_key(&spec, &["0-19".to_owned(), "Total".to_owned()]);
    assert_eq!(key, CellKey::from([("age".to_owned(), "0-19".to_owned())]));
    assert_eq!(check_cell(&key, 117.0, 10, &ledger()).len(), 1);
}
