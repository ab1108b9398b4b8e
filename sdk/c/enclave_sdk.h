/*
 * enclave_sdk.h: write enclave job outputs that pass output checking by construction.
 *
 * A single-header C library for jobs built for wasm32-wasi (it also builds natively, for
 * debugging on dummy data). In exactly one .c file:
 *
 *     #define ENCLAVE_SDK_IMPLEMENTATION
 *     #include "enclave_sdk.h"
 *
 * What it does for you (see sdk/README.md, "Outputs and the manifest"):
 *   - tables in long format, one row per cell, every cell written (zeros included), with
 *     `Total` margins computed by the SDK so they always add up;
 *   - frequency tables rounded to a base on request, margins summed from the rounded cells;
 *   - magnitude tables (sum or mean) with their evidence file (contributors, sum, top1, top2,
 *     negatives, missing per cell), which the checker needs and which never leaves;
 *   - /out/manifest.json describing every output, so nothing is checked as `other`.
 * Small counts are not hidden here: the checker builds a suggested safe version with
 * secondary suppression (hiding a cell yourself without it fails as recoverable).
 *
 *   static const char *band[] = {"0-39", "40-64", "65+"}, *sex[] = {"F", "M"};
 *   const char *dims[] = {"age_band", "sex"};
 *   enc_table *t = enc_frequency_table("by_age_sex.csv", "n", 2, dims);
 *   enc_levels(t, 0, 3, band); enc_levels(t, 1, 2, sex);
 *   int cell[2] = {1, 0}; enc_count(t, cell, 1);        // once per person
 *   enc_write(t); enc_free(t); enc_write_manifest();
 *
 * Every function returning int gives 0 on success and -1 on error, with the reason in
 * enc_error(). An error never leaves a half-valid manifest behind: write it last.
 */
#ifndef ENCLAVE_SDK_H
#define ENCLAVE_SDK_H

#include <stdint.h>

#define ENC_MAX_DIMS 8
#define ENC_MAX_OUTPUTS 64
#define ENC_TOTAL "Total"

typedef struct enc_table enc_table;

/* Statistics a magnitude table can publish (margins and evidence are exact for both). */
typedef enum { ENC_SUM, ENC_MEAN } enc_statistic;

/* Where outputs go (default "/out"). */
void enc_set_out_dir(const char *dir);
/* Why the last call failed. */
const char *enc_error(void);

/* A frequency table: `count_column` counts people per cell. NULL on error. */
enc_table *enc_frequency_table(const char *file, const char *count_column, int n_dims,
                               const char *const *dim_names);
/* A magnitude table publishing `statistic` of a value per cell, with evidence in
 * <stem>.evidence.csv. NULL on error. */
enc_table *enc_magnitude_table(const char *file, const char *value_column,
                               enc_statistic statistic, int n_dims,
                               const char *const *dim_names);
/* Every level of dimension `dim`, in output order (labels must be unique, not "Total"). */
int enc_levels(enc_table *t, int dim, int n, const char *const *labels);
/* Adds `n` people to the cell at level indices `cell[0..n_dims)` (frequency tables). */
int enc_count(enc_table *t, const int *cell, int64_t n);
/* One contributor (person) whose values in this cell sum to `total` over `observations`
 * values (magnitude tables). Call once per person: dominance is judged per contributor. */
int enc_contribute(enc_table *t, const int *cell, double total, int64_t observations);
/* A contributor of this cell whose value is missing. */
int enc_missing(enc_table *t, const int *cell);
/* Frequency tables: publish counts rounded (half up) to a multiple of `base` (>= 2). */
int enc_round_to(enc_table *t, int base);
/* Magnitude tables: also publish the number of observations per cell in `column`
 * (unchecked by the rules, so such a table always needs a person to review it). */
int enc_count_column(enc_table *t, const char *column);
/* Magnitude tables: decimals of the published statistic (default 2). */
int enc_decimals(enc_table *t, int decimals);
/* Writes the table (and its evidence) and records it for the manifest. */
int enc_write(enc_table *t);
void enc_free(enc_table *t);

/* Files the job wrote itself: kind is "text", "summary", "model" or "other". */
int enc_declare(const char *file, const char *kind);
/* A figure and the CSV of its underlying counts: a frequency table already written with
 * enc_write (refused otherwise, so no figure leaves without the counts it shows). */
int enc_declare_figure(const char *file, const char *underlying);
/* Regression coefficients with their residual degrees of freedom. */
int enc_declare_regression(const char *file, int64_t n_obs, int64_t residual_dof);
/* Writes /out/manifest.json describing every output recorded so far. */
int enc_write_manifest(void);

#ifdef ENCLAVE_SDK_IMPLEMENTATION

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct enc_table {
    int magnitude, n_dims, round_base, decimals, written;
    enc_statistic statistic;
    char *file, *value, *count_col, *dims[ENC_MAX_DIMS];
    int n_levels[ENC_MAX_DIMS];
    char **levels[ENC_MAX_DIMS];
    size_t cells; /* extended grid: every dimension has its levels plus Total */
    int64_t *n, *obs, *negatives, *missing;
    double *sum, *top1, *top2;
};

static char enc__err[256];
static const char *enc__out = "/out";
static char *enc__manifest[ENC_MAX_OUTPUTS];
static int enc__entries;

static int enc__fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(enc__err, sizeof enc__err, fmt, ap);
    va_end(ap);
    return -1;
}

void enc_set_out_dir(const char *dir) { enc__out = dir; }
const char *enc_error(void) { return enc__err; }

static char *enc__dup(const char *s) {
    size_t len = strlen(s) + 1;
    char *d = malloc(len);
    if (d != NULL)
        memcpy(d, s, len);
    return d;
}

/* A plain relative file name inside /out, with the given suffix (or any when NULL). */
static int enc__check_name(const char *file, const char *suffix) {
    size_t len = file == NULL ? 0 : strlen(file);
    if (len == 0 || len > 200 || file[0] == '/' || strstr(file, "..") || strchr(file, '\\'))
        return enc__fail("output name \"%s\" must be a plain relative name", file ? file : "");
    if (strcmp(file, "manifest.json") == 0)
        return enc__fail("manifest.json is written by enc_write_manifest");
    if (suffix && (len < strlen(suffix) || strcmp(file + len - strlen(suffix), suffix) != 0))
        return enc__fail("\"%s\" must end in %s", file, suffix);
    return 0;
}

/* Column names that identify people fail the file gates: refuse them up front. */
static int enc__check_column(const char *name) {
    static const char *ids[] = {"id", "person_id", "patient_id", "pid", "subject_id",
                                "pseudonym", "mrn", "person", "patient"};
    if (name == NULL || name[0] == '\0' || strpbrk(name, ",\"\r\n") != NULL)
        return enc__fail("column names must be non-empty, without commas, quotes or breaks");
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (strcmp(name, ids[i]) == 0)
            return enc__fail("column \"%s\" looks like a person identifier", name);
    return 0;
}

static enc_table *enc__table(int magnitude, const char *file, const char *value, int n_dims,
                             const char *const *dims) {
    if (enc__check_name(file, ".csv") || enc__check_column(value))
        return NULL;
    if (n_dims < 1 || n_dims > ENC_MAX_DIMS) {
        enc__fail("a table needs 1 to %d dimensions", ENC_MAX_DIMS);
        return NULL;
    }
    for (int d = 0; d < n_dims; d++)
        if (enc__check_column(dims[d]) || strcmp(dims[d], value) == 0) {
            if (strcmp(dims[d], value) == 0)
                enc__fail("column \"%s\" is named twice", value);
            return NULL;
        }
    enc_table *t = calloc(1, sizeof *t);
    if (t == NULL || (t->file = enc__dup(file)) == NULL || (t->value = enc__dup(value)) == NULL) {
        enc_free(t);
        enc__fail("out of memory");
        return NULL;
    }
    t->magnitude = magnitude;
    t->n_dims = n_dims;
    t->decimals = 2;
    for (int d = 0; d < n_dims; d++)
        if ((t->dims[d] = enc__dup(dims[d])) == NULL) {
            enc_free(t);
            enc__fail("out of memory");
            return NULL;
        }
    return t;
}

enc_table *enc_frequency_table(const char *file, const char *count_column, int n_dims,
                               const char *const *dim_names) {
    return enc__table(0, file, count_column, n_dims, dim_names);
}

enc_table *enc_magnitude_table(const char *file, const char *value_column,
                               enc_statistic statistic, int n_dims,
                               const char *const *dim_names) {
    enc_table *t = enc__table(1, file, value_column, n_dims, dim_names);
    if (t != NULL)
        t->statistic = statistic;
    return t;
}

int enc_levels(enc_table *t, int dim, int n, const char *const *labels) {
    if (dim < 0 || dim >= t->n_dims || n < 1)
        return enc__fail("%s: no dimension %d, or no levels", t->file, dim);
    if (t->cells)
        return enc__fail("%s: levels must be set before the first cell", t->file);
    char **copy = calloc((size_t)n, sizeof *copy);
    if (copy == NULL)
        return enc__fail("out of memory");
    for (int i = 0; i < n; i++) {
        int bad = labels[i] == NULL || labels[i][0] == '\0' || !strcmp(labels[i], ENC_TOTAL);
        for (int j = 0; j < i && !bad; j++)
            bad = strcmp(labels[i], labels[j]) == 0;
        if (bad || (copy[i] = enc__dup(labels[i])) == NULL) {
            while (i-- > 0)
                free(copy[i]);
            free(copy);
            return enc__fail("%s: level %d of %s is empty, \"Total\" or repeated", t->file, i,
                             t->dims[dim]);
        }
    }
    t->levels[dim] = copy;
    t->n_levels[dim] = n;
    return 0;
}

/* Allocates the extended grid once every dimension has its levels. */
static int enc__alloc(enc_table *t) {
    if (t->cells)
        return 0;
    size_t cells = 1;
    for (int d = 0; d < t->n_dims; d++) {
        if (t->levels[d] == NULL)
            return enc__fail("%s: dimension %s has no levels", t->file, t->dims[d]);
        if (cells > ((size_t)1 << 26) / (size_t)(t->n_levels[d] + 1))
            return enc__fail("%s: too many cells", t->file);
        cells *= (size_t)(t->n_levels[d] + 1);
    }
    t->n = calloc(cells, sizeof *t->n);
    if (t->magnitude) {
        t->obs = calloc(cells, sizeof *t->obs);
        t->negatives = calloc(cells, sizeof *t->negatives);
        t->missing = calloc(cells, sizeof *t->missing);
        t->sum = calloc(cells, sizeof *t->sum);
        t->top1 = calloc(cells, sizeof *t->top1);
        t->top2 = calloc(cells, sizeof *t->top2);
    }
    if (t->n == NULL || (t->magnitude && (!t->obs || !t->negatives || !t->missing || !t->sum ||
                                          !t->top1 || !t->top2)))
        return enc__fail("out of memory");
    t->cells = cells;
    return 0;
}

/* Position of a cell (level indices; index n_levels means Total) in the extended grid. */
static size_t enc__at(const enc_table *t, const int *cell) {
    size_t at = 0;
    for (int d = 0; d < t->n_dims; d++)
        at = at * (size_t)(t->n_levels[d] + 1) + (size_t)cell[d];
    return at;
}

static int enc__cell(enc_table *t, const int *cell, size_t *at) {
    if (enc__alloc(t))
        return -1;
    if (t->written)
        return enc__fail("%s: already written", t->file);
    for (int d = 0; d < t->n_dims; d++)
        if (cell[d] < 0 || cell[d] >= t->n_levels[d])
            return enc__fail("%s: level index %d out of range for %s", t->file, cell[d],
                             t->dims[d]);
    *at = enc__at(t, cell);
    return 0;
}

int enc_count(enc_table *t, const int *cell, int64_t n) {
    size_t at;
    if (t->magnitude)
        return enc__fail("%s: enc_count is for frequency tables", t->file);
    if (n < 0)
        return enc__fail("%s: counts cannot be negative", t->file);
    if (enc__cell(t, cell, &at))
        return -1;
    t->n[at] += n;
    return 0;
}

static void enc__top(double *top1, double *top2, double v) {
    v = fabs(v);
    if (v > *top1) {
        *top2 = *top1;
        *top1 = v;
    } else if (v > *top2) {
        *top2 = v;
    }
}

int enc_contribute(enc_table *t, const int *cell, double total, int64_t observations) {
    size_t at;
    if (!t->magnitude)
        return enc__fail("%s: enc_contribute is for magnitude tables", t->file);
    if (!isfinite(total) || observations < 1)
        return enc__fail("%s: a contribution needs a finite total and observations", t->file);
    if (enc__cell(t, cell, &at))
        return -1;
    t->n[at]++;
    t->obs[at] += observations;
    t->sum[at] += total;
    t->negatives[at] += total < 0;
    enc__top(&t->top1[at], &t->top2[at], total);
    return 0;
}

int enc_missing(enc_table *t, const int *cell) {
    size_t at;
    if (!t->magnitude)
        return enc__fail("%s: enc_missing is for magnitude tables", t->file);
    if (enc__cell(t, cell, &at))
        return -1;
    t->missing[at]++;
    return 0;
}

int enc_round_to(enc_table *t, int base) {
    if (t->magnitude || base < 2)
        return enc__fail("%s: rounding is for frequency tables, to a base of 2 or more",
                         t->file);
    t->round_base = base;
    return 0;
}

int enc_count_column(enc_table *t, const char *column) {
    if (!t->magnitude || enc__check_column(column))
        return t->magnitude ? -1 : enc__fail("%s: count columns are for magnitude tables", t->file);
    for (int d = 0; d < t->n_dims; d++)
        if (strcmp(column, t->dims[d]) == 0 || strcmp(column, t->value) == 0)
            return enc__fail("column \"%s\" is named twice", column);
    free(t->count_col);
    t->count_col = enc__dup(column);
    return t->count_col ? 0 : enc__fail("out of memory");
}

int enc_decimals(enc_table *t, int decimals) {
    if (!t->magnitude || decimals < 0 || decimals > 12)
        return enc__fail("%s: decimals are 0 to 12, for magnitude tables", t->file);
    t->decimals = decimals;
    return 0;
}

/* ---- writing ---- */

/* Fills the Total positions: along each dimension in turn, a Total is the merge of that
 * line's levels. Counts and sums add; top contributions merge (top two of the union). */
static void enc__margins(enc_table *t) {
    int cell[ENC_MAX_DIMS];
    for (int d = 0; d < t->n_dims; d++) {
        size_t stride = 1;
        for (int e = d + 1; e < t->n_dims; e++)
            stride *= (size_t)(t->n_levels[e] + 1);
        int levels = t->n_levels[d];
        for (size_t at = 0; at < t->cells; at++) {
            size_t rest = at;
            for (int e = t->n_dims - 1; e >= 0; e--) {
                cell[e] = (int)(rest % (size_t)(t->n_levels[e] + 1));
                rest /= (size_t)(t->n_levels[e] + 1);
            }
            if (cell[d] != levels)
                continue;
            size_t first = at - (size_t)levels * stride;
            for (int i = 0; i < levels; i++) {
                size_t from = first + (size_t)i * stride;
                t->n[at] += t->n[from];
                if (!t->magnitude)
                    continue;
                t->obs[at] += t->obs[from];
                t->negatives[at] += t->negatives[from];
                t->missing[at] += t->missing[from];
                t->sum[at] += t->sum[from];
                enc__top(&t->top1[at], &t->top2[at], t->top1[from]);
                enc__top(&t->top1[at], &t->top2[at], t->top2[from]);
            }
        }
    }
}

/* A CSV field, quoted when it holds a comma, quote or line break. */
static void enc__field(FILE *f, const char *s) {
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* Every cell of the extended grid in order, margins included; calls `row` for each. */
static void enc__rows(enc_table *t, FILE *f, void (*row)(enc_table *, FILE *, size_t)) {
    int cell[ENC_MAX_DIMS] = {0};
    for (;;) {
        for (int d = 0; d < t->n_dims; d++) {
            enc__field(f, cell[d] == t->n_levels[d] ? ENC_TOTAL : t->levels[d][cell[d]]);
            fputc(',', f);
        }
        row(t, f, enc__at(t, cell));
        int d = t->n_dims - 1;
        while (d >= 0 && ++cell[d] > t->n_levels[d])
            cell[d--] = 0;
        if (d < 0)
            return;
    }
}

static void enc__count_row(enc_table *t, FILE *f, size_t at) {
    fprintf(f, "%lld\n", (long long)t->n[at]);
}

static void enc__value_row(enc_table *t, FILE *f, size_t at) {
    if (t->count_col)
        fprintf(f, "%lld,", (long long)t->obs[at]);
    if (t->obs[at] == 0 && t->statistic == ENC_MEAN) /* a mean of nothing: left empty */
        fputc('\n', f);
    else if (t->statistic == ENC_MEAN)
        fprintf(f, "%.*f\n", t->decimals, t->sum[at] / (double)t->obs[at]);
    else
        fprintf(f, "%.*f\n", t->decimals, t->sum[at]);
}

static void enc__evidence_row(enc_table *t, FILE *f, size_t at) {
    fprintf(f, "%lld,%.17g,%.17g,%.17g,%lld,%lld\n", (long long)t->n[at], t->sum[at],
            t->top1[at], t->top2[at], (long long)t->negatives[at], (long long)t->missing[at]);
}

static int enc__write_csv(enc_table *t, const char *file, const char *last_columns,
                          void (*row)(enc_table *, FILE *, size_t)) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", enc__out, file);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return enc__fail("cannot create %s", path);
    for (int d = 0; d < t->n_dims; d++) {
        enc__field(f, t->dims[d]);
        fputc(',', f);
    }
    fprintf(f, "%s\n", last_columns);
    enc__rows(t, f, row);
    int failed = ferror(f);
    if (fclose(f) != 0 || failed)
        return enc__fail("error writing %s", path);
    return 0;
}

/* Appends a manifest entry (JSON object text, already escaped). */
static int enc__record(const char *fmt, ...) {
    if (enc__entries == ENC_MAX_OUTPUTS)
        return enc__fail("more than %d outputs", ENC_MAX_OUTPUTS);
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof buf || !(enc__manifest[enc__entries] = enc__dup(buf)))
        return enc__fail("manifest entry too long");
    enc__entries++;
    return 0;
}

/* A JSON string literal of `s` (quotes included) in `out`. */
static const char *enc__json(char *out, size_t cap, const char *s) {
    size_t o = 0;
    out[o++] = '"';
    for (; *s && o + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            o += (size_t)snprintf(out + o, cap - o, "\\%c", c);
        else if (c < 0x20)
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        else
            out[o++] = (char)c;
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

int enc_write(enc_table *t) {
    if (t->written)
        return enc__fail("%s: already written", t->file);
    if (enc__alloc(t))
        return -1;
    if (t->round_base >= 2) /* round the cells, then sum the margins from the rounded cells */
        for (size_t at = 0; at < t->cells; at++)
            t->n[at] = (t->n[at] + t->round_base / 2) / t->round_base * t->round_base;
    enc__margins(t);
    t->written = 1;
    char dims[1024] = "", name[256], value[256];
    for (int d = 0; d < t->n_dims; d++) {
        strncat(dims, d ? "," : "", sizeof dims - strlen(dims) - 1);
        strncat(dims, enc__json(name, sizeof name, t->dims[d]), sizeof dims - strlen(dims) - 1);
    }
    enc__json(value, sizeof value, t->value);
    enc__json(name, sizeof name, t->file);
    if (!t->magnitude) {
        if (enc__write_csv(t, t->file, t->value, enc__count_row))
            return -1;
        return enc__record("{\"file\": %s, \"kind\": \"frequency_table\", \"dimensions\": [%s], "
                           "\"count\": %s}", name, dims, value);
    }
    char evidence[256], evidence_json[300], header[512];
    snprintf(evidence, sizeof evidence, "%.*s.evidence.csv", (int)strlen(t->file) - 4, t->file);
    snprintf(header, sizeof header, "%s%s%s", t->count_col ? t->count_col : "",
             t->count_col ? "," : "", t->value);
    if (enc__write_csv(t, t->file, header, enc__value_row) ||
        enc__write_csv(t, evidence, "n,sum,top1,top2,negatives,missing", enc__evidence_row))
        return -1;
    return enc__record("{\"file\": %s, \"kind\": \"magnitude_table\", \"statistic\": \"%s\", "
                       "\"dimensions\": [%s], \"value\": %s, \"evidence\": %s}",
                       name, t->statistic == ENC_MEAN ? "mean" : "sum", dims, value,
                       enc__json(evidence_json, sizeof evidence_json, evidence));
}

void enc_free(enc_table *t) {
    if (t == NULL)
        return;
    for (int d = 0; d < ENC_MAX_DIMS; d++) {
        for (int i = 0; t->levels[d] && i < t->n_levels[d]; i++)
            free(t->levels[d][i]);
        free(t->levels[d]);
        free(t->dims[d]);
    }
    free(t->file), free(t->value), free(t->count_col);
    free(t->n), free(t->obs), free(t->negatives), free(t->missing);
    free(t->sum), free(t->top1), free(t->top2);
    free(t);
}

int enc_declare(const char *file, const char *kind) {
    static const char *kinds[] = {"text", "summary", "model", "other"};
    char name[256];
    int known = 0;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        known |= kind != NULL && strcmp(kind, kinds[i]) == 0;
    if (!known)
        return enc__fail("kind must be text, summary, model or other");
    if (enc__check_name(file, NULL))
        return -1;
    return enc__record("{\"file\": %s, \"kind\": \"%s\"}", enc__json(name, sizeof name, file),
                       kind);
}

int enc_declare_figure(const char *file, const char *underlying) {
    char name[256], counts[256], table[300];
    if (enc__check_name(file, NULL) || enc__check_name(underlying, ".csv"))
        return -1;
    /* A figure without its counts is the checkers' top rejection: refuse it here. */
    snprintf(table, sizeof table, "{\"file\": %s, \"kind\": \"frequency_table\"",
             enc__json(counts, sizeof counts, underlying));
    int found = 0;
    for (int i = 0; i < enc__entries && !found; i++)
        found = strncmp(enc__manifest[i], table, strlen(table)) == 0;
    if (!found)
        return enc__fail("%s: write its underlying counts %s with enc_write first", file,
                         underlying);
    return enc__record("{\"file\": %s, \"kind\": \"figure\", \"underlying\": %s}",
                       enc__json(name, sizeof name, file),
                       enc__json(counts, sizeof counts, underlying));
}

int enc_declare_regression(const char *file, int64_t n_obs, int64_t residual_dof) {
    char name[256];
    if (enc__check_name(file, NULL))
        return -1;
    if (n_obs < 0 || residual_dof < 0)
        return enc__fail("%s: observations and degrees of freedom cannot be negative", file);
    return enc__record("{\"file\": %s, \"kind\": \"regression\", \"n_obs\": %lld, "
                       "\"residual_dof\": %lld}",
                       enc__json(name, sizeof name, file), (long long)n_obs,
                       (long long)residual_dof);
}

int enc_write_manifest(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/manifest.json", enc__out);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return enc__fail("cannot create %s", path);
    fputs("{\"version\": 1, \"outputs\": [", f);
    for (int i = 0; i < enc__entries; i++)
        fprintf(f, "%s\n  %s", i ? "," : "", enc__manifest[i]);
    fputs("\n]}\n", f);
    int failed = ferror(f);
    if (fclose(f) != 0 || failed)
        return enc__fail("error writing %s", path);
    return 0;
}

#endif /* ENCLAVE_SDK_IMPLEMENTATION */
#endif /* ENCLAVE_SDK_H */
