"""Write enclave job outputs that pass output checking by construction.

Pure standard library (csv, json, os), so it works in a componentize-py job as well as on
your own machine against dummy data. The same contract as the C SDK (sdk/c/enclave_sdk.h);
see sdk/README.md, "Outputs and the manifest".

    from enclave_sdk import FrequencyTable, MagnitudeTable, Outputs

    out = Outputs()                                   # writes into /out
    ages = FrequencyTable("by_age_sex.csv",
                          [("age_band", ["0-39", "40-64", "65+"]), ("sex", ["F", "M"])],
                          count="n", round_to=5)
    for person in people:
        ages.add(person.band, person.sex)             # once per person
    out.write(ages)

    cost = MagnitudeTable("cost.csv", [("age_band", ["0-39", "40-64", "65+"])],
                          value="mean_cost", statistic="mean")
    for person in people:
        cost.contribute(person.band, total=person.cost)   # once per person
    out.write(cost)                                   # also writes cost.evidence.csv
    out.write_manifest()

What it does for you: every cell is written (zeros included) with Total margins that add
up; counts are rounded on request with margins summed from the rounded cells; magnitude
tables get the evidence file the checker needs (never released); the manifest describes
every output. Small counts are not hidden here: the checker suggests a safe version with
secondary suppression.
"""

import csv
import json
import os

TOTAL = "Total"
MAX_DIMS = 8
IDENTIFIER_COLUMNS = {"id", "person_id", "patient_id", "pid", "subject_id", "pseudonym",
                      "mrn", "person", "patient"}
DECLARED_KINDS = {"text", "summary", "model", "other"}
STATISTICS = {"sum", "mean"}


class SdkError(ValueError):
    """An output that would fail checking or break the manifest contract."""


def _check_name(file, suffix=None):
    if (not isinstance(file, str) or not file or len(file) > 200 or file.startswith("/")
            or ".." in file or "\\" in file):
        raise SdkError(f"output name {file!r} must be a plain relative name")
    if file == "manifest.json":
        raise SdkError("manifest.json is written by Outputs.write_manifest")
    if suffix and not file.endswith(suffix):
        raise SdkError(f"{file!r} must end in {suffix}")


def _check_column(name):
    if not isinstance(name, str) or not name or any(c in name for c in ',"\r\n'):
        raise SdkError("column names must be non-empty, without commas, quotes or breaks")
    if name in IDENTIFIER_COLUMNS:
        raise SdkError(f"column {name!r} looks like a person identifier")


class _Table:
    """Cells of a long-format table over every combination of the dimensions' levels."""

    def __init__(self, file, dimensions, value):
        _check_name(file, ".csv")
        _check_column(value)
        dimensions = list(dimensions)
        if not 1 <= len(dimensions) <= MAX_DIMS:
            raise SdkError(f"a table needs 1 to {MAX_DIMS} dimensions")
        names = [value]
        self.levels = []
        for name, levels in dimensions:
            _check_column(name)
            if name in names:
                raise SdkError(f"column {name!r} is named twice")
            names.append(name)
            levels = [str(level) for level in levels]
            if not levels or any(level in ("", TOTAL) for level in levels) \
                    or len(set(levels)) != len(levels):
                raise SdkError(f"{file}: levels of {name} must be unique, non-empty, not Total")
            self.levels.append(levels)
        self.file = file
        self.dimensions = [name for name, _ in dimensions]
        self.value = value
        self.written = False
        self._index = [{level: i for i, level in enumerate(levels)} for levels in self.levels]

    def _key(self, levels):
        if self.written:
            raise SdkError(f"{self.file}: already written")
        if len(levels) != len(self.dimensions):
            raise SdkError(f"{self.file}: a cell needs {len(self.dimensions)} levels")
        key = []
        for index, level in zip(self._index, map(str, levels)):
            if level not in index:
                raise SdkError(f"{self.file}: {level!r} is not a declared level")
            key.append(level)
        return tuple(key)

    def _grid(self):
        """Every cell of the extended grid (levels, then Total, per dimension), in order."""
        keys = [()]
        for levels in self.levels:
            keys = [key + (level,) for key in keys for level in levels + [TOTAL]]
        return keys

    def _margins(self, cells, empty, merge):
        """Interior cells plus every margin, merged over the cells each one totals."""
        out = {key: empty() for key in self._grid()}
        n = len(self.dimensions)
        for key, stats in cells.items():
            for mask in range(1 << n):
                target = tuple(TOTAL if mask >> d & 1 else key[d] for d in range(n))
                merge(out[target], stats)
        return out


class FrequencyTable(_Table):
    """Counts of people per cell; `round_to` publishes multiples of that base."""

    def __init__(self, file, dimensions, count="n", round_to=None):
        super().__init__(file, dimensions, count)
        if round_to is not None and (not isinstance(round_to, int) or round_to < 2):
            raise SdkError(f"{file}: round_to must be a whole number of 2 or more")
        self.round_to = round_to
        self.counts = {}

    def add(self, *levels, n=1):
        """Adds `n` people (default 1) to the cell at these levels."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise SdkError(f"{self.file}: counts are whole numbers of zero or more")
        key = self._key(levels)
        self.counts[key] = self.counts.get(key, 0) + n

    def _rows(self):
        base = self.round_to
        cells = {key: (count + base // 2) // base * base if base else count
                 for key, count in self.counts.items()}

        def merge(total, count):
            total[0] += count

        grid = self._margins(cells, lambda: [0], merge)
        return [list(key) + [grid[key][0]] for key in self._grid()]

    def _entry(self):
        return {"file": self.file, "kind": "frequency_table", "dimensions": self.dimensions,
                "count": self.value}


class MagnitudeTable(_Table):
    """A statistic (`sum` or `mean`) of a value per cell, with its evidence file."""

    def __init__(self, file, dimensions, value, statistic="mean", count_column=None,
                 decimals=2):
        super().__init__(file, dimensions, value)
        if statistic not in STATISTICS:
            raise SdkError(f"{file}: statistic must be one of {sorted(STATISTICS)}")
        if count_column is not None:
            _check_column(count_column)
            if count_column in self.dimensions + [value]:
                raise SdkError(f"column {count_column!r} is named twice")
        if not isinstance(decimals, int) or not 0 <= decimals <= 12:
            raise SdkError(f"{file}: decimals are 0 to 12")
        self.statistic = statistic
        self.count_column = count_column
        self.decimals = decimals
        self.evidence = file[:-4] + ".evidence.csv"
        self.cells = {}

    def _stats(self, levels):
        key = self._key(levels)
        # n, observations, sum, top1, top2, negatives, missing
        return self.cells.setdefault(key, [0, 0, 0.0, 0.0, 0.0, 0, 0])

    def contribute(self, *levels, total, observations=1):
        """One contributor (person) whose values here sum to `total` over `observations`
        values. Call once per person: dominance is judged per contributor."""
        total = float(total)
        if total != total or total in (float("inf"), float("-inf")) or observations < 1:
            raise SdkError(f"{self.file}: a contribution needs a finite total and observations")
        stats = self._stats(levels)
        stats[0] += 1
        stats[1] += observations
        stats[2] += total
        _top(stats, abs(total))
        stats[5] += total < 0

    def missing(self, *levels):
        """A contributor of this cell whose value is missing."""
        self._stats(levels)[6] += 1

    def _grid_stats(self):
        def merge(into, stats):
            for i in (0, 1, 2, 5, 6):
                into[i] += stats[i]
            _top(into, stats[3])
            _top(into, stats[4])

        return self._margins(self.cells, lambda: [0, 0, 0.0, 0.0, 0.0, 0, 0], merge)

    def _rows(self):
        grid = self._grid_stats()
        rows = []
        for key in self._grid():
            n, observations, total = grid[key][:3]
            if observations == 0 and self.statistic == "mean":
                value = ""  # a mean of nothing is undefined: left empty
            else:
                value = total / observations if self.statistic == "mean" else total
                value = f"{value:.{self.decimals}f}"
            counts = [observations] if self.count_column else []
            rows.append(list(key) + counts + [value])
        return rows

    def _evidence_rows(self):
        grid = self._grid_stats()
        return [list(key) + [s[0], repr(s[2]), repr(s[3]), repr(s[4]), s[5], s[6]]
                for key, s in ((key, grid[key]) for key in self._grid())]

    def _entry(self):
        return {"file": self.file, "kind": "magnitude_table", "statistic": self.statistic,
                "dimensions": self.dimensions, "value": self.value, "evidence": self.evidence}


def _top(stats, value):
    if value > stats[3]:
        stats[3], stats[4] = value, stats[3]
    elif value > stats[4]:
        stats[4] = value


class Outputs:
    """The job's outputs and their manifest, written under `out_dir` (default /out)."""

    def __init__(self, out_dir="/out"):
        self.out_dir = out_dir
        self.entries = []

    def _record(self, entry):
        if any(e["file"] == entry["file"] for e in self.entries):
            raise SdkError(f"{entry['file']} is already an output")
        self.entries.append(entry)

    def _write_csv(self, file, header, rows):
        with open(os.path.join(self.out_dir, file), "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)

    def write(self, table):
        """Writes a table (and a magnitude table's evidence) and records it."""
        if table.written:
            raise SdkError(f"{table.file}: already written")
        self._record(table._entry())
        if isinstance(table, MagnitudeTable):
            counts = [table.count_column] if table.count_column else []
            self._write_csv(table.file, table.dimensions + counts + [table.value], table._rows())
            self._write_csv(table.evidence,
                            table.dimensions + ["n", "sum", "top1", "top2", "negatives",
                                                "missing"], table._evidence_rows())
        else:
            self._write_csv(table.file, table.dimensions + [table.value], table._rows())
        table.written = True

    def declare(self, file, kind):
        """A file the job wrote itself: `text`, `summary`, `model` or `other`."""
        if kind not in DECLARED_KINDS:
            raise SdkError(f"kind must be one of {sorted(DECLARED_KINDS)}")
        _check_name(file)
        self._record({"file": file, "kind": kind})

    def figure(self, file, underlying):
        """A figure and its underlying counts: `underlying` is a FrequencyTable (or its file
        name) already written with `write`, so the checker can check what the figure shows.
        A figure without its counts is refused here rather than failed by the checker."""
        _check_name(file)
        name = underlying.file if isinstance(underlying, FrequencyTable) else underlying
        _check_name(name, ".csv")
        if not any(e["file"] == name and e["kind"] == "frequency_table" for e in self.entries):
            raise SdkError(f"{file}: write its underlying counts {name} as a FrequencyTable first")
        self._record({"file": file, "kind": "figure", "underlying": name})

    def regression(self, file, n_obs, residual_dof):
        """Regression coefficients with their residual degrees of freedom."""
        _check_name(file)
        if n_obs < 0 or residual_dof < 0:
            raise SdkError(f"{file}: observations and degrees of freedom cannot be negative")
        self._record({"file": file, "kind": "regression", "n_obs": int(n_obs),
                      "residual_dof": int(residual_dof)})

    def write_manifest(self):
        """Writes manifest.json describing every output recorded so far."""
        with open(os.path.join(self.out_dir, "manifest.json"), "w", encoding="utf-8") as f:
            json.dump({"version": 1, "outputs": self.entries}, f, indent=2)
            f.write("\n")
