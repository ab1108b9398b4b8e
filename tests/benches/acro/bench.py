"""Benchmark: `enclave check-output` against ACRO (PyPI `acro`) on the same tables.

For each shape (1-D to 4-D, up to about a million cells) this makes synthetic microdata
(one record per person) whose cell counts are Poisson(15) with some zeros and small counts,
then
  - writes the table an enclave job would write (long-format CSV, every margin, manifest)
    and times `enclave check-output --rules <acro preset, size gates raised> --json`;
  - times ACRO's `crosstab(..., margins=True)` with suppression on the microdata (ACRO checks
    tables as it tabulates them; plain `pd.crosstab` is timed too, so the tabulation share is
    visible);
  - compares the per-cell verdicts on the interior cells, and tests ACRO's suppressed table
    for cells an attacker recovers by subtracting the published cells from ACRO's own margin.

Writes OUT/report.md (times, ratios, agreement, every kind of disagreement with an
explanation) and OUT/disagreements.csv (every disagreeing cell).
"""

import argparse
import csv
import json
import logging
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd

from compare import compare, recoverable_in_acro

SHAPES = [
    ("1-D small", (1_000,)),
    ("1-D medium", (100_000,)),
    ("1-D large", (1_000_000,)),
    ("2-D small", (30, 30)),
    ("2-D medium", (300, 300)),
    ("2-D large", (1_000, 1_000)),
    ("3-D small", (10, 10, 10)),
    ("3-D medium", (46, 46, 46)),
    ("3-D large", (100, 100, 100)),
    ("4-D small", (6, 6, 6, 6)),
    ("4-D medium", (18, 18, 18, 18)),
    ("4-D large", (30, 30, 30, 37)),
]
RULES = """preset = "acro"
name = "acro-benchmark"
[gates]
max_csv_rows = 10000000
max_bytes = 4294967296
"""


def dims_of(shape):
    return [f"d{k}" for k in range(len(shape))]


def labels_of(shape):
    return [[f"{chr(ord('a') + k)}{i}" for i in range(size)] for k, size in enumerate(shape)]


def make_counts(shape, rng):
    counts = rng.poisson(15, size=shape).astype(np.int64)
    flat = counts.reshape(-1)
    picks = rng.choice(flat.size, size=max(1, flat.size // 200), replace=False)
    flat[picks[: len(picks) // 2]] = 0  # some structural zeros
    flat[picks[len(picks) // 2:]] = rng.integers(1, 10, size=len(picks) - len(picks) // 2)
    return counts


def write_enclave_table(folder, shape, counts):
    """Long format with every margin, as the SDKs write it."""
    dims, labels = dims_of(shape), labels_of(shape)
    grids = [np.append(np.arange(size), -1) for size in shape]  # -1 is Total
    extended = counts
    for axis in range(len(shape)):
        extended = np.concatenate([extended, extended.sum(axis=axis, keepdims=True)], axis=axis)
    mesh = np.meshgrid(*grids, indexing="ij")
    columns = {}
    for k, (grid, names) in enumerate(zip(mesh, labels)):
        names = np.array(names + ["Total"], dtype=object)
        columns[dims[k]] = names[grid.reshape(-1)]
    columns["n"] = extended.reshape(-1)
    pd.DataFrame(columns).to_csv(os.path.join(folder, "table.csv"), index=False)
    manifest = {"version": 1, "outputs": [
        {"file": "table.csv", "kind": "frequency_table", "dimensions": dims, "count": "n"}]}
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(manifest, f)


def microdata(shape, counts):
    """One record per person: each dimension as a categorical column."""
    flat = counts.reshape(-1)
    cells = np.repeat(np.arange(flat.size), flat)
    codes = np.unravel_index(cells, shape)
    return pd.DataFrame({
        dim: pd.Categorical.from_codes(code, categories=names)
        for dim, code, names in zip(dims_of(shape), codes, labels_of(shape))
    })


def run_enclave(binary, folder, rules, timeout):
    """(seconds, record), or (None, None) when it ran out of time."""
    start = time.perf_counter()
    try:
        out = subprocess.run([binary, "check-output", "--rules", rules, "--dir", folder,
                              "--json"], capture_output=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, None
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"enclave check-output failed: {out.stderr.decode()}")
    return elapsed, json.loads(out.stdout)


def run_acro(data, shape):
    from acro import ACRO  # imported late: it logs its configuration on import
    logging.disable(logging.INFO)  # ACRO logs every table it checks, cell by cell
    acro = ACRO(suppress=True)
    dims = dims_of(shape)
    if len(shape) == 1:
        index, columns = [data[dims[0]]], [pd.Series(["all"] * len(data), name="const")]
    else:
        half = len(dims) // 2
        index, columns = [data[d] for d in dims[:half]], [data[d] for d in dims[half:]]
    start = time.perf_counter()
    pandas_table = pd.crosstab(index, columns, margins=True, dropna=False)
    pandas_time = time.perf_counter() - start
    start = time.perf_counter()
    table = acro.crosstab(index, columns, margins=True)
    acro_time = time.perf_counter() - start
    record = list(acro.results.results.values())[-1]
    return acro_time, pandas_time, table, record.sdc, pandas_table


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--enclave", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--max-cells", type=int, default=1_100_000)
    parser.add_argument("--seed", type=int, default=20260401)
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds before enclave's run on one table is abandoned")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rules = os.path.join(args.out, "rules.toml")
    with open(rules, "w") as f:
        f.write(RULES)
    rng = np.random.default_rng(args.seed)
    lines, disagreements = [], []
    for name, shape in SHAPES:
        cells = int(np.prod(shape))
        if cells > args.max_cells:
            continue
        folder = os.path.join(args.out, name.replace(" ", "_"))
        os.makedirs(folder, exist_ok=True)
        counts = make_counts(shape, rng)
        write_enclave_table(folder, shape, counts)
        enclave_time, record = run_enclave(args.enclave, folder, rules, args.timeout)
        data = microdata(shape, counts)
        acro_time, pandas_time, table, sdc, pandas_table = run_acro(data, shape)
        recovered = recoverable_in_acro(table, pandas_table)
        if record is None:
            print(f"{name:10} {cells:>9} cells  enclave > {args.timeout:.0f} s (abandoned)  "
                  f"acro {acro_time:8.2f} s", flush=True)
            lines.append((name, shape, cells, None, acro_time, pandas_time, None, recovered))
            continue
        # ACRO's coordinates are those of the table before suppression (= pandas').
        result = compare(shape, labels_of(shape), record, sdc, pandas_table)
        for row in result["rows"]:
            disagreements.append([name] + row)
        lines.append((name, shape, cells, enclave_time, acro_time, pandas_time, result,
                      recovered))
        print(f"{name:10} {cells:>9} cells  enclave {enclave_time:8.2f} s  "
              f"acro {acro_time:8.2f} s  (pandas crosstab {pandas_time:6.2f} s)  "
              f"ratio acro/enclave {acro_time / enclave_time:6.2f}", flush=True)
    with open(os.path.join(args.out, "disagreements.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["table", "cell", "count", "enclave", "acro", "why"])
        writer.writerows(disagreements)
    from report import write_report
    write_report(os.path.join(args.out, "report.md"), lines)
    print(f"report: {os.path.join(args.out, 'report.md')}")


if __name__ == "__main__":
    main()
