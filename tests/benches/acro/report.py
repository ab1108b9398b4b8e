"""The benchmark's Markdown report."""


def write_report(path, lines):
    out = ["# enclave check-output vs ACRO", "",
           "Same synthetic tables (Poisson(15) counts, 0.25% zeros, 0.25% counts 1-9), ACRO's "
           "default rules in both (threshold 10, zeros disclosive). enclave checks the table the "
           "job wrote (long format, every margin) and builds the suggested safe version; ACRO "
           "tabulates the microdata with `crosstab(margins=True)` under `suppress=True` "
           "(the way it is used). `pandas` is plain `pd.crosstab` on the same microdata, the "
           "tabulation share of ACRO's time.", "",
           "| table | shape | cells | enclave s | ACRO s | pandas s | ACRO / enclave |",
           "|---|---|---:|---:|---:|---:|---:|"]
    for name, shape, cells, ours, theirs, pandas, _, _ in lines:
        shape_text = "x".join(str(size) for size in shape)
        ours_text = "timeout" if ours is None else f"{ours:.2f}"
        ratio = "-" if ours is None else f"{theirs / ours:.2f}"
        out.append(f"| {name} | {shape_text} | {cells} | {ours_text} | {theirs:.2f} | "
                   f"{pandas:.2f} | {ratio} |")
    out += ["", "## Verdicts on interior cells", "",
            "| table | agree | enclave stricter | ACRO stricter | enclave secondary "
            "suppressions ACRO publishes | other | ACRO-suppressed cells | of which recovered "
            "exactly from a true line total | enclave lines with one hidden cell |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, _, _, _, _, _, result, recovered in lines:
        if result is None:
            out.append(f"| {name} | enclave timed out | | | | | {recovered[0]} | "
                       f"{recovered[1]} | |")
            continue
        counts = result["counts"]
        out.append(f"| {name} | {counts['agree']} | {counts['enclave_stricter']} | "
                   f"{counts['acro_stricter']} | {counts['secondary']} | {counts['other']} | "
                   f"{recovered[0]} | {recovered[1]} | {result['one_hidden_lines']} |")
    out += ["", "## Why the disagreements are enclave's to win", "",
            "- **Secondary suppression.** Both tools fail the same small and zero cells. ACRO "
            "then deletes their records and re-tabulates, so its own margins add up, but every "
            "true total published elsewhere (a 1-D table of the same population, a paper's "
            "Table 1) gives the suppressed cell back by subtraction whenever it is the only one "
            "suppressed in its row or column: the column *recovered exactly* counts those cells, "
            "each checked against the true value. enclave's suggested version also hides "
            "complementary cells (the *secondary* column), chosen as the cheapest hypercube "
            "around each failing cell, and protects as if the totals were known "
            "(`totals_known_elsewhere`); no line of its suggestion has exactly one hidden cell, "
            "and the policy tests prove by linear programming that every hidden cell's feasible "
            "interval is at least the threshold wide.",
            "- **Any other verdict difference** is listed in `disagreements.csv` with the codes "
            "of both sides; with these rules and string labels there should be none.",
            "- Not compared here: margins (ACRO checks only the `All` row and column, enclave every "
            "sub-margin), magnitude tables and dominance (ACRO needs microdata per contributor, "
            "enclave the evidence file), differencing across releases (ACRO has none).",
            ""]
    with open(path, "w") as f:
        f.write("\n".join(out))
