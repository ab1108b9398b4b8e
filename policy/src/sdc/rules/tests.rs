use expect_test::{Expect, expect};
use proptest::prelude::*;

use super::*;

#[test]
fn presets_print_every_parameter() {
    let out: String = Preset::ALL
        .iter()
        .map(|p| format!("# {p}\n{}\n", p.rules().to_toml().unwrap()))
        .collect();
    expect![[r##"
        # ndb
        name = "ndb"
        preset = "ndb"
        threshold = 10
        zeros = "allowed"
        dominance = []
        p_percent = 0.0
        min_residual_dof = 10
        negatives = "review"
        missing = "review"
        min_max = "review"
        secondary_suppression = true
        totals_known_elsewhere = true
        rounding_base = 0
        rounding_required = false

        [gates]
        allowed_extensions = ["csv", "png", "jpeg", "jpg", "svg", "txt", "json", "md"]
        max_bytes = 16777216
        max_csv_rows = 5000
        identifier_columns = true
        pseudonym_tokens = true
        pseudonym_min_hex_run = 12

        # acro
        name = "acro"
        preset = "acro"
        threshold = 10
        zeros = "disclosive"
        p_percent = 0.1
        min_residual_dof = 10
        negatives = "review"
        missing = "review"
        min_max = "review"
        secondary_suppression = true
        totals_known_elsewhere = true
        rounding_base = 0
        rounding_required = false

        [[dominance]]
        n = 2
        k = 0.9

        [gates]
        allowed_extensions = ["csv", "png", "jpeg", "jpg", "svg", "txt", "json", "md"]
        max_bytes = 16777216
        max_csv_rows = 5000
        identifier_columns = true
        pseudonym_tokens = true
        pseudonym_min_hex_run = 12

        # opensafely
        name = "opensafely"
        preset = "opensafely"
        threshold = 8
        zeros = "allowed"
        dominance = []
        p_percent = 0.0
        min_residual_dof = 10
        negatives = "review"
        missing = "review"
        min_max = "review"
        secondary_suppression = true
        totals_known_elsewhere = true
        rounding_base = 5
        rounding_required = true

        [gates]
        allowed_extensions = ["csv", "png", "jpeg", "jpg", "svg", "txt", "json", "md"]
        max_bytes = 16777216
        max_csv_rows = 5000
        identifier_columns = true
        pseudonym_tokens = true
        pseudonym_min_hex_run = 12

    "##]]
    .assert_eq(&out);
}

#[test]
fn presets_round_trip_and_never_loosen_themselves() {
    for preset in Preset::ALL {
        let rules = preset.rules();
        rules.validate().unwrap();
        let printed = rules.to_toml().unwrap();
        assert_eq!(RuleSet::from_toml("r.toml", &printed).unwrap(), rules);
        assert!(!rules.loosens_preset());
        assert_eq!(Preset::from_name(preset.as_str()), Some(preset));
    }
}

/// Parses a rules file; renders the loosenings against its preset, or the error.
fn check(text: &str, expected: Expect) {
    let out = match RuleSet::from_toml("rules.toml", text) {
        Ok(rules) => {
            let found = rules.loosenings(&rules.preset.rules());
            let mut out = format!(
                "{} from {}: {} loosening(s)\n",
                rules.name,
                rules.preset,
                found.len()
            );
            for loosening in found {
                out.push_str(&format!(
                    "  {}: {}\n",
                    loosening.parameter, loosening.message
                ));
            }
            out
        }
        Err(err) => format!("error: {err}\n"),
    };
    expected.assert_eq(&out);
}

#[test]
fn tightening_is_not_loosening() {
    check(
        "preset = \"acro\"\nname = \"strict\"\nthreshold = 20\ndominance = [{ n = 2, k = 0.8 }, { n = 1, k = 0.5 }]\np_percent = 0.2\n[gates]\nallowed_extensions = [\"csv\"]\nmax_csv_rows = 100\n",
        expect![[r#"
        strict from acro: 0 loosening(s)
    "#]],
    );
    check(
        "preset = \"opensafely\"\nrounding_base = 10\n",
        expect![[r#"
        opensafely-custom from opensafely: 0 loosening(s)
    "#]],
    );
    check(
        "preset = \"ndb\"\n",
        expect![[r#"
        ndb from ndb: 0 loosening(s)
    "#]],
    );
}

#[test]
fn loosening_is_reported_per_parameter() {
    check(
        "preset = \"acro\"\nthreshold = 5\nzeros = \"allowed\"\ndominance = [{ n = 1, k = 0.9 }]\np_percent = 0.0\nmin_residual_dof = 5\nmin_max = \"pass\"\nsecondary_suppression = false\n[gates]\nallowed_extensions = [\"csv\", \"xlsx\"]\nmax_bytes = 999999999\npseudonym_tokens = false\n",
        expect![[r#"
            acro-custom from acro: 10 loosening(s)
              threshold: threshold lowered from 10 to 5
              zeros: zeros allowed where the baseline treats them as disclosive
              dominance: no dominance rule as strict as (2, 0.9)
              p_percent: p% lowered from 0.1 to 0
              min_residual_dof: residual degrees of freedom lowered from 10 to 5
              min_max: min_max lowered from review to pass
              secondary_suppression: secondary suppression turned off
              gates.allowed_extensions: file types added: xlsx
              gates.max_bytes: size limit raised from 16777216 to 999999999
              gates.pseudonym_tokens: pseudonym token check turned off
        "#]],
    );
    check(
        "preset = \"opensafely\"\nrounding_base = 3\nrounding_required = false\n",
        expect![[r#"
        opensafely-custom from opensafely: 2 loosening(s)
          rounding_base: rounding is no longer to a multiple of 5
          rounding_required: unrounded counts no longer fail
    "#]],
    );
}

#[test]
fn bad_rules_files_name_the_line() {
    check(
        "preset = \"acro\"\nthreshhold = 5\n",
        expect![[r#"
        error: rules.toml line 2: unknown field `threshhold`, expected one of `preset`, `name`, `threshold`, `zeros`, `dominance`, `p_percent`, `min_residual_dof`, `negatives`, `missing`, `min_max`, `secondary_suppression`, `totals_known_elsewhere`, `rounding_base`, `rounding_required`, `gates`
    "#]],
    );
    check(
        "preset = \"strict\"\n",
        expect![[r#"
        error: rules.toml line 1: unknown variant `strict`, expected one of `ndb`, `acro`, `opensafely`
    "#]],
    );
    check(
        "threshold = 5\n",
        expect![[r#"
        error: rules.toml line 1: missing field `preset`
    "#]],
    );
    check(
        "preset = \"acro\"\n\nthreshold = \"ten\"\n",
        expect![[r#"
        error: rules.toml line 3: invalid type: string "ten", expected u64
    "#]],
    );
    check(
        "preset = \"acro\"\ndominance = [{ n = 3, k = 0.9 }]\n",
        expect![[r#"
        error: rules.toml line 2: dominance n must be 1 or 2 (evidence carries top1 and top2)
    "#]],
    );
    check(
        "preset = \"acro\"\nthreshold = 0\n",
        expect![[r#"
        error: rules.toml line 2: threshold must be between 1 and 1000000
    "#]],
    );
    check(
        "preset = \"acro\"\np_percent = 1.5\n",
        expect![[r#"
        error: rules.toml line 2: p_percent must be in [0, 1)
    "#]],
    );
    check(
        "preset = \"ndb\"\nrounding_required = true\n",
        expect![[r#"
        error: rules.toml line 2: rounding_required needs a rounding_base of at least 2
    "#]],
    );
    check(
        "preset = [",
        expect![[r#"
        error: rules.toml line 1: unclosed array, expected `]`
    "#]],
    );
}

fn arbitrary_rules() -> impl Strategy<Value = RuleSet> {
    (
        prop::sample::select(Preset::ALL.to_vec()),
        1u64..100,
        any::<bool>(),
        proptest::collection::vec((1u8..=2, 0.01f64..=1.0), 0..3),
        0.0f64..0.99,
        0u64..50,
        prop::sample::select(vec![Verdict::Pass, Verdict::Review, Verdict::Fail]),
        any::<bool>(),
        prop::sample::select(vec![0u64, 5, 10]),
    )
        .prop_map(
            |(preset, threshold, disclosive, dominance, p, dof, verdict, secondary, base)| {
                RuleSet {
                    name: format!("r-{threshold}"),
                    threshold,
                    zeros: if disclosive {
                        ZeroRule::Disclosive
                    } else {
                        ZeroRule::Allowed
                    },
                    dominance: dominance
                        .into_iter()
                        .map(|(n, k)| Dominance { n, k })
                        .collect(),
                    p_percent: p,
                    min_residual_dof: dof,
                    negatives: verdict,
                    min_max: verdict,
                    secondary_suppression: secondary,
                    rounding_base: base,
                    rounding_required: base > 0 && secondary,
                    ..preset.rules()
                }
            },
        )
}

proptest! {
    /// Parse → print → parse is stable for every valid rule set.
    #[test]
    fn print_then_parse_round_trips(rules in arbitrary_rules()) {
        let printed = rules.to_toml().unwrap();
        let parsed = RuleSet::from_toml("r.toml", &printed).unwrap();
        prop_assert_eq!(&parsed, &rules);
        prop_assert_eq!(parsed.to_toml().unwrap(), printed);
    }

    /// The rules parser never panics.
    #[test]
    fn parser_never_panics(text in ".{0,200}") {
        let _ = RuleSet::from_toml("r.toml", &text);
    }
}
