//! Property tests over `check_outputs`: a stricter rule set never passes more; no panic or
//! NaN on any input.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

/// A count table with margins, an evidence-backed magnitude table and a rule set.
fn arbitrary_counts() -> impl Strategy<Value = Vec<u64>> {
    proptest::collection::vec(prop_oneof![0u64..15, 0u64..200], 1..12)
}

fn arbitrary_evidence() -> impl Strategy<Value = Vec<(u64, u64, u64, u64, u64)>> {
    proptest::collection::vec(
        (0u64..30, 0u64..1000, 0u64..1000, 0u64..1000, 0u64..3),
        1..8,
    )
}

/// `base` and a rule set at least as strict.
fn rules_pair() -> impl Strategy<Value = (RuleSet, RuleSet)> {
    (
        prop::sample::select(Preset::ALL.to_vec()),
        1u64..20,
        0u64..10,
        any::<bool>(),
        0.0f64..0.5,
        0.0f64..0.3,
        0.5f64..1.0,
        0.0f64..0.4,
        any::<bool>(),
    )
        .prop_map(
            |(preset, threshold, extra, disclose, p, p_extra, k, k_less, round)| {
                let base = RuleSet {
                    threshold,
                    p_percent: p,
                    dominance: vec![Dominance { n: 2, k }],
                    ..preset.rules()
                };
                let stricter = RuleSet {
                    threshold: threshold + extra,
                    zeros: if disclose {
                        ZeroRule::Disclosive
                    } else {
                        base.zeros
                    },
                    p_percent: (p + p_extra).min(0.99),
                    dominance: vec![
                        Dominance {
                            n: 2,
                            k: (k - k_less).max(0.01),
                        },
                        Dominance { n: 1, k: 0.6 },
                    ],
                    rounding_base: if round && base.rounding_base > 0 {
                        base.rounding_base * 2
                    } else {
                        base.rounding_base
                    },
                    rounding_required: base.rounding_required || (round && base.rounding_base > 0),
                    min_max: Verdict::Fail,
                    ..base.clone()
                };
                (base, stricter)
            },
        )
}

fn outputs_for(
    counts: &[u64],
    evidence: &[(u64, u64, u64, u64, u64)],
) -> BTreeMap<String, Vec<u8>> {
    let mut freq = String::from("g,n\n");
    for (i, n) in counts.iter().enumerate() {
        freq.push_str(&format!("L{i},{n}\n"));
    }
    freq.push_str(&format!("Total,{}\n", counts.iter().sum::<u64>()));
    let (mut mag, mut ev) = (
        String::from("g,v\n"),
        String::from("g,n,sum,top1,top2,negatives\n"),
    );
    for (i, (n, a, b, c, neg)) in evidence.iter().enumerate() {
        let mut tops = [*a, *b];
        tops.sort_unstable();
        let (top1, top2) = if *n == 0 {
            (0, 0)
        } else if *n == 1 {
            (tops[1], 0)
        } else {
            (tops[1], tops[0])
        };
        mag.push_str(&format!("L{i},{}\n", top1 + top2 + c));
        ev.push_str(&format!(
            "L{i},{n},{},{top1},{top2},{neg}\n",
            top1 + top2 + c
        ));
    }
    let manifest = r#"{"version":1,"outputs":[
        {"file":"f.csv","kind":"frequency_table","dimensions":["g"],"count":"n"},
        {"file":"m.csv","kind":"magnitude_table","statistic":"max","dimensions":["g"],"value":"v","evidence":"e.csv"},
        {"file":"s.csv","kind":"magnitude_table","statistic":"sum","dimensions":["g"],"value":"v","evidence":"e.csv"}]}"#;
    BTreeMap::from([
        ("manifest.json".to_owned(), manifest.as_bytes().to_vec()),
        ("f.csv".to_owned(), freq.into_bytes()),
        ("m.csv".to_owned(), mag.clone().into_bytes()),
        ("s.csv".to_owned(), mag.into_bytes()),
        ("e.csv".to_owned(), ev.into_bytes()),
    ])
}

proptest! {
    /// A stricter rule set never passes a cell (or a file) the baseline does not pass, and
    /// it reports no loosening against the baseline.
    #[test]
    fn stricter_rules_never_pass_more((base, stricter) in rules_pair(), counts in arbitrary_counts(), evidence in arbitrary_evidence()) {
        prop_assert!(stricter.loosenings(&base).is_empty(), "{:?}", stricter.loosenings(&base));
        let files = outputs_for(&counts, &evidence);
        let released = ReleasedTable::from_csv("r-1", "f.csv", &TableSpec { dimensions: vec!["g".into()], value: "n".into(), total_label: "Total".into() }, &files["f.csv"]).unwrap();
        let ledger = Ledger { tables: vec![ReleasedTable { cells: released.cells.iter().map(|(k, v)| (k.clone(), v + 3.0)).collect(), ..released }] };
        let loose = check_outputs(&files, &base, &ledger, "t").unwrap();
        let strict = check_outputs(&files, &stricter, &ledger, "t").unwrap();
        for (a, b) in loose.outputs.iter().zip(&strict.outputs) {
            prop_assert!(b.verdict >= a.verdict, "{}: {:?} then {:?}", a.file, a.verdict, b.verdict);
            for (x, y) in a.cells.iter().zip(&b.cells) {
                prop_assert!(y.verdict >= x.verdict, "{} {:?}: {:?} then {:?}", a.file, x.dims, x.reasons, y.reasons);
            }
        }
    }

    /// Arbitrary bytes as manifest or tables: an error or a record, never a panic, and
    /// every cell value in a record is finite.
    #[test]
    fn no_panic_or_nan_on_any_input(manifest in proptest::collection::vec(any::<u8>(), 0..200), table in proptest::collection::vec(any::<u8>(), 0..300), text in "[a-z0-9,\n.\\-]{0,200}") {
        for files in [
            BTreeMap::from([("manifest.json".to_owned(), manifest.clone()), ("t.csv".to_owned(), table.clone())]),
            self::table(&text),
            BTreeMap::from([("t.csv".to_owned(), table.clone()), ("x.txt".to_owned(), manifest.clone())]),
        ] {
            if let Ok(record) = check_outputs(&files, &Preset::Acro.rules(), &Ledger::new(), "t") {
                for output in &record.outputs {
                    prop_assert!(output.cells.iter().all(|c| c.value.is_none_or(f64::is_finite)));
                }
                prop_assert!(!record.to_json().is_empty());
            }
        }
    }
}
