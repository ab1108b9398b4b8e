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
    ("1-D 1k", (1_000,)),
    ("2-D 1k", (30, 30)),
    ("3-D 1k", (10, 10, 10)),
    ("4-D 1k", (6, 6, 6, 6)),
    ("1-D 10k", (10_000,)),
    ("2-D 10k", (100, 100)),
    ("3-D 10k", (22, 22, 22)),
    ("4-D 10k", (10, 10, 10, 10)),
    ("1-D 100k", (100_000,)),
    ("2-D 100k", (300, 300)),
    ("3-D 100k", (46, 46, 46)),
    ("4-D 100k", (18, 18, 18, 18)),
    ("1-D 1M", (1_000_000,)),
    ("2-D 1M", (1_000, 1_000)),
    ("3-D 1M", (100, 100, 100)),
    ("4-D 1M", (30, 30, 30, 37)),
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
    parser.add_argument("--only", help="comma-separated table names to run (e.g. '2-D 100k')")
    parser.add_argument("--enclave-only", action="store_true",
                        help="time enclave alone (for tables ACRO would take hours on)")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds before enclave's run on one table is abandoned")
    parser.add_argument("--report", help="also write the Markdown report here "
                        "(e.g. docs/acro-comparison.md)")
    parser.add_argument("--build", default="unknown build",
                        help="how the enclave binary was built, for the report")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rules = os.path.join(args.out, "rules.toml")
    with open(rules, "w") as f:
        f.write(RULES)
    for index, (name, shape) in enumerate(SHAPES):
        cells = int(np.prod(shape))
        if cells > args.max_cells:
            continue
        if args.only and name not in args.only.split(","):
            continue
        # One generator per table: a table is the same whichever others run.
        rng = np.random.default_rng([args.seed, index])
        folder = os.path.join(args.out, name.replace(" ", "_"))
        os.makedirs(folder, exist_ok=True)
        counts = make_counts(shape, rng)
        write_enclave_table(folder, shape, counts)
        enclave_time, record = run_enclave(args.enclave, folder, rules, args.timeout)
        if args.enclave_only:
            print(f"{name:10} {cells:>9} cells  enclave {enclave_time:8.2f} s  (ACRO not run)",
                  flush=True)
            save_table(args, name, (name, shape, cells, enclave_time, None, None, None, None),
                       [])
            write_reports(args)
            continue
        data = microdata(shape, counts)
        acro_time, pandas_time, table, sdc, pandas_table = run_acro(data, shape)
        recovered = recoverable_in_acro(table, pandas_table)
        if record is None:
            print(f"{name:10} {cells:>9} cells  enclave > {args.timeout:.0f} s (abandoned)  "
                  f"acro {acro_time:8.2f} s", flush=True)
            save_table(args, name, (name, shape, cells, None, acro_time, pandas_time, None,
                                    recovered), [])
            write_reports(args)
            continue
        # ACRO's coordinates are those of the table before suppression (= pandas').
        result = compare(shape, labels_of(shape), record, sdc, pandas_table)
        save_table(args, name, (name, shape, cells, enclave_time, acro_time, pandas_time,
                                result, recovered), [[name] + row for row in result["rows"]])
        print(f"{name:10} {cells:>9} cells  enclave {enclave_time:8.2f} s  "
              f"acro {acro_time:8.2f} s  (pandas crosstab {pandas_time:6.2f} s)  "
              f"ratio acro/enclave {acro_time / enclave_time:6.2f}", flush=True)
        # Rewritten after every table, so a long run that is stopped still has its report.
        write_reports(args)
    for path in write_reports(args):
        print(f"report: {path}")


def save_table(args, name, line, rows):
    """OUT/results/NAME.json: one table's figures and disagreements. The report is built from
    every saved table, so runs with --only add to (or refresh) the same report."""
    folder = os.path.join(args.out, "results")
    os.makedirs(folder, exist_ok=True)
    line = list(line)
    line[1] = list(line[1])
    if line[6] is not None:
        line[6] = dict(line[6], counts=dict(line[6]["counts"]))
    with open(os.path.join(folder, name.replace(" ", "_") + ".json"), "w") as f:
        json.dump({"line": line, "rows": rows, "build": args.build,
                   "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, f)


def load_tables(args):
    """Every saved table in SHAPES order: (lines, disagreements, builds, dates)."""
    from collections import Counter
    lines, disagreements, builds, dates = [], [], set(), []
    for name, _ in SHAPES:
        path = os.path.join(args.out, "results", name.replace(" ", "_") + ".json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            saved = json.load(f)
        line = saved["line"]
        line[1] = tuple(line[1])
        if line[6] is not None:
            line[6]["counts"] = Counter(line[6]["counts"])
        lines.append(tuple(line))
        disagreements += saved["rows"]
        builds.add(saved["build"])
        dates.append(saved["measured"])
    return lines, disagreements, builds, dates


def write_reports(args):
    """OUT/disagreements.csv, OUT/report.md and --report from every saved table; returns the
    report paths."""
    from report import write_report
    lines, disagreements, builds, dates = load_tables(args)
    with open(os.path.join(args.out, "disagreements.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["table", "cell", "count", "enclave", "acro", "why"])
        writer.writerows(disagreements)
    setup = describe_setup(args, lines, builds, dates)
    paths = [os.path.join(args.out, "report.md")] + ([args.report] if args.report else [])
    for path in paths:
        write_report(path, lines, disagreements, setup)
    return paths


def describe_setup(args, lines, builds, dates):
    """What ran where, for the report."""
    from importlib.metadata import version
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    sizes = [f"{line[0]} ({line[2]} cells)" for line in lines]
    return {
        "machine": f"{os.cpu_count()} cores ({cpu}), shared with other work while measuring",
        "enclave": f"enclave check-output, {'; '.join(sorted(builds))}",
        "acro": f"acro {version('acro')}, pandas {version('pandas')}, numpy {version('numpy')}, "
                f"Python {sys.version.split()[0]}",
        "tables": ", ".join(sizes),
        "seed": args.seed,
        "date": f"{min(dates)} to {max(dates)}" if dates else "-",
    }


if __name__ == "__main__":
    main()
