"""count_by_age.py: an enclave example job in Python.

The Python twin of count_by_age.c: counts patients by 10-year age band and sex from the OMOP
`person` table and writes, with the enclave SDK (sdk/python/enclave_sdk.py, bundled in the
installation's Python runner), a frequency table and its manifest:

  /out/count_by_age_sex.csv    age_band,sex,n   (every cell, then the Total margins)
  /out/manifest.json           describes it as a frequency table for output checking

Age is taken at a reference year: 2025 by default, or the first argument (e.g. "2020").
Sex comes from the Japanese claims code in gender_source_value ("1" male, "2" female).
Persons born after the reference year or with an unknown sex code are skipped and counted on
stderr (counts of skipped rows only; no values).

Submit it as it is, no toolchain needed:
  ssh USER@GATEWAY submit --project P --name "count by age" --python < count_by_age.py
Try it on dummy data first:
  enclave run-local --python --runner python-runner.wasm --data DUMMY --out OUT count_by_age.py
"""

import csv
import sys

from enclave_sdk import FrequencyTable, Outputs

BANDS = ["0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90+"]
SEXES = {"1": "M", "2": "F"}


def band(age):
    return BANDS[min(age // 10, len(BANDS) - 1)]


def main():
    try:
        year = int(sys.argv[1]) if len(sys.argv) > 1 else 2025
    except ValueError:
        print("usage: count_by_age.py [REFERENCE_YEAR]", file=sys.stderr)
        return 1
    table = FrequencyTable("count_by_age_sex.csv", [("age_band", BANDS), ("sex", ["F", "M"])],
                           count="n")
    skipped = 0
    with open("/data/person/person.csv", newline="", encoding="utf-8") as source:
        for row in csv.DictReader(source):
            sex = SEXES.get(row.get("gender_source_value", ""))
            try:
                age = year - int(row["year_of_birth"])
            except (KeyError, ValueError):
                age = -1
            if sex is None or age < 0:
                skipped += 1
                continue
            table.add(band(age), sex)
    out = Outputs()
    out.write(table)
    out.write_manifest()
    if skipped:
        print(f"skipped {skipped} persons (born after {year} or unknown sex)", file=sys.stderr)
    return 0


sys.exit(main())
