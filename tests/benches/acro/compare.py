"""Cell-by-cell comparison of enclave's check record with ACRO's result on the same table."""

from collections import Counter

import numpy as np

TOTAL = "Total"


def _labels(value):
    """A pandas index entry as a tuple of labels ('' parts of margin tuples dropped)."""
    parts = value if isinstance(value, tuple) else (value,)
    return tuple(str(part) for part in parts if str(part) != "")


def compare(shape, labels, record, sdc, table):
    """Interior cells where the verdicts or the suggested versions differ.

    Returns {"counts": Counter, "rows": [[cell, count, enclave, acro, why], ...],
    "one_hidden_lines": int}: the last is the number of lines of enclave's suggested version
    with exactly one hidden cell (0 means no cell is recoverable from its line's total alone).
    """
    output = next(o for o in record["outputs"] if o["file"] == "table.csv")
    dims = [f"d{k}" for k in range(len(shape))]
    enclave, hidden = {}, set()
    for cell in output["cells"]:
        key = tuple(cell["dims"][d] for d in dims)
        if cell.get("suppressed"):
            hidden.add(key)
        if TOTAL not in key:
            enclave[key] = cell
    acro_fail = {}
    for check, cells in sdc["cells"].items():
        for row, column in cells:
            key = _labels(table.index[row]) + _labels(table.columns[column])
            key = tuple(part for part in key if part != "all")  # 1-D: the constant column
            if "All" in key:
                continue
            acro_fail.setdefault(key, []).append(check)
    counts, rows = Counter(), []
    for key, cell in enclave.items():
        ours, theirs = cell["verdict"], "fail" if key in acro_fail else "pass"
        suppressed = cell.get("suppressed")
        if ours == theirs and (suppressed != "secondary"):
            counts["agree"] += 1
            continue
        codes = ",".join(r["code"] for r in cell["reasons"])
        if ours == "pass" and suppressed == "secondary":
            counts["secondary"] += 1
            why = ("both pass the cell; enclave's suggested version hides it as secondary "
                   "suppression so the failing cells in its lines cannot be recovered from "
                   "totals known elsewhere; ACRO publishes it (no secondary suppression)")
        elif ours == "fail" and theirs == "pass":
            counts["enclave_stricter"] += 1
            why = f"enclave fails it ({codes}); ACRO passes it"
        elif ours == "pass" and theirs == "fail":
            counts["acro_stricter"] += 1
            why = f"ACRO fails it ({','.join(acro_fail[key])}); enclave passes it"
        else:
            counts["other"] += 1
            why = f"enclave {ours} ({codes}), ACRO {theirs}"
        rows.append(["/".join(key), cell["value"], ours, theirs, why])
    return {"counts": counts, "rows": rows, "one_hidden_lines": _one_hidden_lines(
        dims, labels, hidden)}


def _one_hidden_lines(dims, labels, hidden):
    """Lines (all cells but one coordinate fixed, margins included) with exactly one hidden
    cell in enclave's suggested version."""
    lines = Counter()
    for key in hidden:
        for k in range(len(dims)):
            lines[(k, key[:k] + key[k + 1:])] += 1
    return sum(1 for n in lines.values() if n == 1)


def recoverable_in_acro(table, true_table):
    """Cells ACRO suppressed that are recovered exactly from the published cells of their row
    or column and the line's true total (which any other release of that total publishes:
    ACRO re-tabulates its own margins without the deleted records, so they do not show it).

    Returns (suppressed interior cells, exactly recovered cells).
    """
    # ACRO drops rows and columns left empty by its record deletion: align on the labels.
    table = table.reindex(index=true_table.index, columns=true_table.columns)
    published = table.iloc[:-1, :-1].to_numpy(dtype=float)
    truth = true_table.iloc[:-1, :-1].to_numpy(dtype=float)
    row_totals = true_table.iloc[:-1, -1].to_numpy(dtype=float)
    column_totals = true_table.iloc[-1, :-1].to_numpy(dtype=float)
    missing = np.isnan(published)
    recovered = set()
    for axis, totals in ((1, row_totals), (0, column_totals)):
        if published.shape[axis] < 2:
            continue  # a line of one cell: its total is the cell itself, no attack
        alone = missing.sum(axis=axis) == 1
        guess = totals - np.nansum(published, axis=axis)
        for line in np.flatnonzero(alone):
            other = int(np.flatnonzero(missing[line] if axis == 1 else missing[:, line])[0])
            cell = (line, other) if axis == 1 else (other, line)
            if guess[line] == truth[cell]:
                recovered.add(cell)
    return int(missing.sum()), len(recovered)
