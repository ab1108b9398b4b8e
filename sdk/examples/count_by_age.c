/*
 * count_by_age.c: an enclave example job.
 *
 * Counts patients by 10-year age band and sex from the OMOP `person` table and writes, with
 * the enclave SDK (sdk/c/enclave_sdk.h), a frequency table in long format and its manifest:
 *
 *   /out/count_by_age_sex.csv    age_band,sex,n   (cells, then the Total margins)
 *   /out/manifest.json           describes it as a frequency table for output checking
 *
 * Age is taken at a reference year: 2025 by default, or argv[1] when given (e.g. "2020").
 * Age bands are "0-9", "10-19", ..., "80-89", "90+"; sex is "F" or "M" from the Japanese
 * claims code in gender_source_value ("1" male, "2" female). All 20 cells are written, zeros
 * included, in a fixed order (age band ascending, then F before M), each age band followed by
 * its Total row, then the Total rows per sex and the grand Total.
 *
 * Columns are located by header name, lines may end in LF or CRLF, and over-long lines are
 * skipped and reported instead of being split. Persons born after the reference year or with an
 * unknown sex code are skipped and reported on stderr.
 *
 * Exit status: 0 success; 1 bad argument; 2 input missing, unreadable or malformed;
 * 3 output cannot be written.
 *
 * Build for the sandbox:  clang --target=wasm32-wasi -O2 -s -I sdk/c count_by_age.c -o x.wasm
 * Build natively to test: gcc -O2 -I sdk/c -DDATA_ROOT='"/tmp/data"' -DOUT_ROOT='"/tmp/out"' \
 *                             count_by_age.c -lm
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENCLAVE_SDK_IMPLEMENTATION
#include "enclave_sdk.h"

#ifndef DATA_ROOT
#define DATA_ROOT "/data"
#endif
#ifndef OUT_ROOT
#define OUT_ROOT "/out"
#endif

#define DEFAULT_REFERENCE_YEAR 2025
#define N_BANDS 10

/* ---- minimal CSV reader: no quoting (enclave datasets never quote), LF or CRLF ---- */

#define MAX_LINE 4096
#define MAX_FIELDS 64

typedef struct {
    FILE *f;
    const char *path;
    char buf[MAX_LINE];
    char *field[MAX_FIELDS];
    int nfield;
    int64_t lineno;   /* physical line number of the current record */
    int64_t too_long; /* lines skipped because longer than MAX_LINE - 2 */
    int64_t too_wide; /* lines skipped because they had more than MAX_FIELDS fields */
} csv_reader;

static int csv_open(csv_reader *r, const char *path) {
    memset(r, 0, sizeof *r);
    r->path = path;
    r->f = fopen(path, "r");
    return r->f != NULL;
}

/* Reads the next non-empty record into r->field. Returns 1 for a record, 0 at end of file,
 * -1 on a read error. */
static int csv_next(csv_reader *r) {
    for (;;) {
        if (fgets(r->buf, sizeof r->buf, r->f) == NULL)
            return ferror(r->f) ? -1 : 0;
        r->lineno++;
        size_t len = strlen(r->buf);
        if (len > 0 && r->buf[len - 1] == '\n') {
            r->buf[--len] = '\0';
        } else if (!feof(r->f)) {
            /* Longer than the buffer: discard the rest of the line, never split it. */
            int c;
            while ((c = fgetc(r->f)) != EOF && c != '\n') {
            }
            if (ferror(r->f))
                return -1;
            r->too_long++;
            continue;
        }
        if (len > 0 && r->buf[len - 1] == '\r')
            r->buf[--len] = '\0';
        if (len == 0)
            continue;
        r->nfield = 0;
        char *p = r->buf;
        int ok = 1;
        for (;;) {
            if (r->nfield == MAX_FIELDS) {
                ok = 0;
                break;
            }
            r->field[r->nfield++] = p;
            char *comma = strchr(p, ',');
            if (comma == NULL)
                break;
            *comma = '\0';
            p = comma + 1;
        }
        if (!ok) {
            r->too_wide++;
            continue;
        }
        return 1;
    }
}

/* Index of the header column called `name`, or -1. Call right after reading the header. */
static int csv_column(const csv_reader *r, const char *name) {
    for (int i = 0; i < r->nfield; i++) {
        const char *h = r->field[i];
        if (i == 0 && (unsigned char)h[0] == 0xEF && (unsigned char)h[1] == 0xBB &&
            (unsigned char)h[2] == 0xBF)
            h += 3; /* UTF-8 byte order mark */
        if (strcmp(h, name) == 0)
            return i;
    }
    return -1;
}

/* Parses a whole field as a decimal integer. */
static int parse_int64(const char *s, int64_t *out) {
    if (*s == '\0')
        return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return 0;
    *out = (int64_t)v;
    return 1;
}

/* ---- the job ---- */

static const char *const BANDS[N_BANDS] = {"0-9",   "10-19", "20-29", "30-39", "40-49",
                                           "50-59", "60-69", "70-79", "80-89", "90+"};
static const char *const SEXES[2] = {"F", "M"};
static const char *const DIMS[2] = {"age_band", "sex"};

/* Reports an SDK error; returns the exit status for an output failure. */
static int sdk_failed(void) {
    fprintf(stderr, "count_by_age: %s\n", enc_error());
    return 3;
}

int main(int argc, char **argv) {
    int64_t reference_year = DEFAULT_REFERENCE_YEAR;
    if (argc > 1) {
        if (!parse_int64(argv[1], &reference_year) || reference_year < 1800 ||
            reference_year > 2200) {
            fprintf(stderr, "count_by_age: argument must be a reference year, got \"%s\"\n",
                    argv[1]);
            return 1;
        }
    }

    const char *in_path = DATA_ROOT "/person/person.csv";
    enc_set_out_dir(OUT_ROOT);
    enc_table *table = enc_frequency_table("count_by_age_sex.csv", "n", 2, DIMS);
    if (table == NULL || enc_levels(table, 0, N_BANDS, BANDS) || enc_levels(table, 1, 2, SEXES))
        return sdk_failed();

    static csv_reader r;
    if (!csv_open(&r, in_path)) {
        fprintf(stderr, "count_by_age: cannot open %s: %s\n", in_path, strerror(errno));
        return 2;
    }
    int rc = csv_next(&r);
    if (rc != 1) {
        fprintf(stderr, "count_by_age: %s: %s\n", in_path,
                rc < 0 ? "read error" : "empty file, no header");
        fclose(r.f);
        return 2;
    }
    int col_yob = csv_column(&r, "year_of_birth");
    int col_sex = csv_column(&r, "gender_source_value");
    if (col_yob < 0 || col_sex < 0) {
        fprintf(stderr, "count_by_age: %s: header lacks year_of_birth or gender_source_value\n",
                in_path);
        fclose(r.f);
        return 2;
    }
    int need = (col_yob > col_sex ? col_yob : col_sex) + 1;

    int64_t counted = 0, malformed = 0, unborn = 0, unknown_sex = 0;
    while ((rc = csv_next(&r)) == 1) {
        int64_t yob;
        if (r.nfield < need || !parse_int64(r.field[col_yob], &yob)) {
            malformed++;
            continue;
        }
        const char *sex = r.field[col_sex];
        int s; /* index into SEXES */
        if (strcmp(sex, "1") == 0)
            s = 1;
        else if (strcmp(sex, "2") == 0)
            s = 0;
        else {
            unknown_sex++;
            continue;
        }
        int64_t age = reference_year - yob;
        if (age < 0) {
            unborn++;
            continue;
        }
        int cell[2] = {age >= 90 ? 9 : (int)(age / 10), s};
        if (enc_count(table, cell, 1))
            return sdk_failed();
        counted++;
    }
    fclose(r.f);
    if (rc < 0) {
        fprintf(stderr, "count_by_age: read error in %s\n", in_path);
        return 2;
    }
    if (malformed + r.too_long + r.too_wide + unborn + unknown_sex > 0)
        fprintf(stderr,
                "count_by_age: skipped %lld malformed, %lld over-long, %lld too-wide lines, "
                "%lld born after %lld, %lld with unknown sex\n",
                (long long)malformed, (long long)r.too_long, (long long)r.too_wide,
                (long long)unborn, (long long)reference_year, (long long)unknown_sex);

    if (enc_write(table) || enc_write_manifest())
        return sdk_failed();
    enc_free(table);
    printf("counted %lld patients\n", (long long)counted);
    return 0;
}
