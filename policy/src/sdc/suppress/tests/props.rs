//! Property test: on random 1-D to 3-D tables with every margin, every hidden cell of the
//! suggestion has an exact (LP) feasible interval at least the threshold wide.

use proptest::prelude::*;

use super::*;

fn arbitrary_table() -> impl Strategy<Value = (usize, Vec<usize>, Vec<u64>, u64, bool)> {
    (1usize..=3)
        .prop_flat_map(|dims| (Just(dims), proptest::collection::vec(2usize..=4, dims)))
        .prop_flat_map(|(dims, sizes)| {
            let cells: usize = sizes.iter().product();
            (
                Just(dims),
                Just(sizes),
                proptest::collection::vec(prop_oneof![0u64..12, 0u64..80], cells),
                3u64..=12,
                any::<bool>(),
            )
        })
}

/// A long-format CSV of `values` over `sizes` with every margin.
fn with_margins(sizes: &[usize], values: &[u64]) -> String {
    let dims = sizes.len();
    let mut out = format!("{},n\n", ["a", "b", "c"][..dims].join(","));
    let extended: usize = sizes.iter().map(|s| s + 1).product();
    for index in 0..extended {
        let mut rest = index;
        let coords: Vec<usize> = sizes
            .iter()
            .rev()
            .map(|s| {
                let c = rest % (s + 1);
                rest /= s + 1;
                c
            })
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let mut sum = 0;
        for (cell, value) in values.iter().enumerate() {
            let mut rest = cell;
            let inner: Vec<usize> = sizes
                .iter()
                .rev()
                .map(|s| {
                    let c = rest % s;
                    rest /= s;
                    c
                })
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            if coords
                .iter()
                .zip(&inner)
                .zip(sizes)
                .all(|((c, i), s)| *c == *s || c == i)
            {
                sum += value;
            }
        }
        let labels: Vec<String> = coords
            .iter()
            .zip(sizes)
            .map(|(c, s)| {
                if c == s {
                    "Total".into()
                } else {
                    format!("L{c}")
                }
            })
            .collect();
        out.push_str(&format!("{},{sum}\n", labels.join(",")));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Suppression never lets a suppressed value be recovered through margins: the exact LP
    /// interval of every hidden cell is at least the threshold wide.
    #[test]
    fn suppressed_cells_cannot_be_recovered((dims, sizes, values, threshold, disclosive) in arbitrary_table()) {
        let csv = with_margins(&sizes, &values);
        let zeros = if disclosive { crate::sdc::rules::ZeroRule::Disclosive } else { crate::sdc::rules::ZeroRule::Allowed };
        let rules = RuleSet { threshold, zeros, ..ndb() };
        let (table, suggestion) = suggest_counts(&csv, dims, &rules);
        if let Some(bytes) = &suggestion.csv {
            let published = published_view(&table, std::str::from_utf8(bytes).unwrap(), &rules);
            for (row, interval) in hidden_intervals(&published).unwrap() {
                prop_assert!(interval.width() >= threshold as f64 - 1e-6, "row {row}: {interval:?}\n{csv}");
            }
            for (row, action) in suggestion.actions.iter().enumerate() {
                let value = table.rows[row].value.number().unwrap();
                let fails = check_count(value, &rules).iter().any(|r| r.verdict == Verdict::Fail);
                prop_assert!(!fails || action.is_some(), "failing row {row} published");
            }
        } else {
            let unsafe_cells = suggestion.actions.iter().any(Option::is_some);
            let no_safe = suggestion.reasons.iter().any(|r| r.code == ReasonCode::NoSafeSuggestion);
            prop_assert_eq!(unsafe_cells, no_safe);
        }
    }
}
