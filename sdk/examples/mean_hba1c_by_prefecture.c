/*
 * mean_hba1c_by_prefecture.c: an enclave example job.
 *
 * Joins the OMOP `measurement` table to `person` on person_id and computes, per prefecture of
 * residence, the number of HbA1c measurements and their mean, written with the enclave SDK
 * (sdk/c/enclave_sdk.h) as a magnitude table with its evidence and manifest:
 *
 *   /out/mean_hba1c_by_prefecture.csv           prefecture_code,n,mean_hba1c (then Total)
 *   /out/mean_hba1c_by_prefecture.evidence.csv  per cell: people, sum, top two contributions
 *   /out/manifest.json                          describes both for output checking
 *
 * HbA1c rows are those whose measurement_source_value is the JLAC10 code HBA1C_CODE. Rows are
 * sorted by prefecture code ("01".."47", JIS X 0401); a prefecture without any measurement has
 * an empty mean (it is undefined). The mean has 2 decimals. Contributors are people, not
 * measurements: each person's HbA1c values are summed first and given to the SDK once, so the
 * checker judges dominance and thresholds per person.
 *
 * person_id -> prefecture is held in an open-addressing hash table, so 100,000 persons and
 * millions of measurements take one pass over each file. Columns are located by header name,
 * lines may end in LF or CRLF, and over-long lines are skipped and reported instead of split.
 *
 * Exit status: 0 success; 2 input missing, unreadable or malformed (or out of memory);
 * 3 output cannot be written.
 *
 * Build for the sandbox:  clang --target=wasm32-wasi -O2 -s -I sdk/c mean_hba1c_by_prefecture.c
 * Build natively to test: gcc -O2 -I sdk/c -DDATA_ROOT='"/tmp/data"' -DOUT_ROOT='"/tmp/out"' ... -lm
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

/* JLAC10 code of HbA1c (NGSP, whole blood, HPLC); matches enclave's synthetic datasets. */
#define HBA1C_CODE "3D046000001906202"
#define N_PREFECTURES 47

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

/* Opens `path` and reads its header. Returns 1, or prints an error and returns 0. */
static int csv_open_with_header(csv_reader *r, const char *path) {
    if (!csv_open(r, path)) {
        fprintf(stderr, "mean_hba1c_by_prefecture: cannot open %s: %s\n", path, strerror(errno));
        return 0;
    }
    int rc = csv_next(r);
    if (rc != 1) {
        fprintf(stderr, "mean_hba1c_by_prefecture: %s: %s\n", path,
                rc < 0 ? "read error" : "empty file, no header");
        fclose(r->f);
        return 0;
    }
    return 1;
}

/* ---- person_id -> prefecture: open addressing with linear probing ---- */

typedef struct {
    char *key; /* NULL when the slot is free */
    int prefecture;
    double hba1c_sum; /* this person's HbA1c values, summed */
    int64_t hba1c_n;  /* and how many there are */
} slot;

typedef struct {
    slot *slots;
    size_t cap; /* power of two */
    size_t len;
} id_map;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static int map_init(id_map *m, size_t cap) {
    m->slots = calloc(cap, sizeof(slot));
    m->cap = cap;
    m->len = 0;
    return m->slots != NULL;
}

static slot *map_find_slot(slot *slots, size_t cap, const char *key) {
    size_t i = (size_t)hash_str(key) & (cap - 1);
    while (slots[i].key != NULL && strcmp(slots[i].key, key) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static int map_grow(id_map *m) {
    size_t cap = m->cap * 2;
    slot *slots = calloc(cap, sizeof(slot));
    if (slots == NULL)
        return 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key != NULL)
            *map_find_slot(slots, cap, m->slots[i].key) = m->slots[i];
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 1;
}

/* Inserts key -> prefecture. Returns 1 if inserted, 0 if the key was already present (the
 * first value is kept), -1 when out of memory. */
static int map_insert(id_map *m, const char *key, int prefecture) {
    if ((m->len + 1) * 2 > m->cap && !map_grow(m))
        return -1;
    slot *s = map_find_slot(m->slots, m->cap, key);
    if (s->key != NULL)
        return 0;
    size_t n = strlen(key) + 1;
    s->key = malloc(n);
    if (s->key == NULL)
        return -1;
    memcpy(s->key, key, n);
    s->prefecture = prefecture;
    s->hba1c_sum = 0;
    s->hba1c_n = 0;
    m->len++;
    return 1;
}

static void map_free(id_map *m) {
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    m->slots = NULL;
    m->cap = m->len = 0;
}

/* The person's slot, or NULL when the person is not in the map. */
static slot *map_get(const id_map *m, const char *key) {
    slot *s = map_find_slot(m->slots, m->cap, key);
    return s->key != NULL ? s : NULL;
}

/* "01".."47" -> 1..47, anything else -> 0. */
static int prefecture_number(const char *code) {
    if (code[0] < '0' || code[0] > '9' || code[1] < '0' || code[1] > '9' || code[2] != '\0')
        return 0;
    int n = (code[0] - '0') * 10 + (code[1] - '0');
    return n >= 1 && n <= N_PREFECTURES ? n : 0;
}

/* Parses a whole field as a finite decimal number. */
static int parse_double(const char *s, double *out) {
    if (*s == '\0')
        return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || v != v || v > 1e300 || v < -1e300)
        return 0;
    *out = v;
    return 1;
}

int main(void) {
    const char *person_path = DATA_ROOT "/person/person.csv";
    const char *meas_path = DATA_ROOT "/measurement/measurement.csv";

    /* Pass 1: person_id -> prefecture. */
    static csv_reader r;
    if (!csv_open_with_header(&r, person_path))
        return 2;
    int p_id = csv_column(&r, "person_id");
    int p_pref = csv_column(&r, "prefecture_code");
    if (p_id < 0 || p_pref < 0) {
        fprintf(stderr, "mean_hba1c_by_prefecture: %s: header lacks person_id or prefecture_code\n",
                person_path);
        fclose(r.f);
        return 2;
    }
    int need = (p_id > p_pref ? p_id : p_pref) + 1;
    id_map persons;
    if (!map_init(&persons, 1 << 16)) {
        fprintf(stderr, "mean_hba1c_by_prefecture: out of memory\n");
        fclose(r.f);
        return 2;
    }
    int64_t p_malformed = 0, p_duplicate = 0;
    int rc;
    while ((rc = csv_next(&r)) == 1) {
        if (r.nfield < need || r.field[p_id][0] == '\0') {
            p_malformed++;
            continue;
        }
        int ins = map_insert(&persons, r.field[p_id], prefecture_number(r.field[p_pref]));
        if (ins < 0) {
            fprintf(stderr, "mean_hba1c_by_prefecture: out of memory\n");
            fclose(r.f);
            map_free(&persons);
            return 2;
        }
        if (ins == 0)
            p_duplicate++;
    }
    fclose(r.f);
    if (rc < 0) {
        fprintf(stderr, "mean_hba1c_by_prefecture: read error in %s\n", person_path);
        map_free(&persons);
        return 2;
    }
    int64_t p_long = r.too_long + r.too_wide;

    /* Pass 2: HbA1c measurements. */
    if (!csv_open_with_header(&r, meas_path)) {
        map_free(&persons);
        return 2;
    }
    int m_id = csv_column(&r, "person_id");
    int m_code = csv_column(&r, "measurement_source_value");
    int m_value = csv_column(&r, "value_as_number");
    if (m_id < 0 || m_code < 0 || m_value < 0) {
        fprintf(stderr,
                "mean_hba1c_by_prefecture: %s: header lacks person_id, measurement_source_value "
                "or value_as_number\n",
                meas_path);
        fclose(r.f);
        map_free(&persons);
        return 2;
    }
    need = m_id;
    if (m_code > need)
        need = m_code;
    if (m_value > need)
        need = m_value;
    need++;

    int64_t m_malformed = 0, no_value = 0, no_person = 0, no_prefecture = 0, used = 0;
    while ((rc = csv_next(&r)) == 1) {
        if (r.nfield < need) {
            m_malformed++;
            continue;
        }
        if (strcmp(r.field[m_code], HBA1C_CODE) != 0)
            continue;
        double v;
        if (!parse_double(r.field[m_value], &v)) {
            no_value++;
            continue;
        }
        slot *person = map_get(&persons, r.field[m_id]);
        if (person == NULL) {
            no_person++;
            continue;
        }
        if (person->prefecture == 0) {
            no_prefecture++;
            continue;
        }
        person->hba1c_sum += v;
        person->hba1c_n++;
        used++;
    }
    fclose(r.f);
    if (rc < 0) {
        fprintf(stderr, "mean_hba1c_by_prefecture: read error in %s\n", meas_path);
        map_free(&persons);
        return 2;
    }
    int64_t m_long = r.too_long + r.too_wide;
    if (p_malformed + p_duplicate + p_long + m_malformed + m_long + no_value + no_person +
            no_prefecture >
        0)
        fprintf(stderr,
                "mean_hba1c_by_prefecture: person: %lld malformed, %lld duplicate, %lld "
                "over-long; measurement: %lld malformed, %lld over-long, HbA1c rows skipped: "
                "%lld without value, %lld unknown person, %lld without prefecture\n",
                (long long)p_malformed, (long long)p_duplicate, (long long)p_long,
                (long long)m_malformed, (long long)m_long, (long long)no_value,
                (long long)no_person, (long long)no_prefecture);

    /* One contribution per person with HbA1c values, in their prefecture's cell. */
    static char codes[N_PREFECTURES][3];
    const char *levels[N_PREFECTURES];
    for (int p = 0; p < N_PREFECTURES; p++) {
        snprintf(codes[p], sizeof codes[p], "%02d", p + 1);
        levels[p] = codes[p];
    }
    const char *dims[1] = {"prefecture_code"};
    enc_set_out_dir(OUT_ROOT);
    enc_table *t = enc_magnitude_table("mean_hba1c_by_prefecture.csv", "mean_hba1c", ENC_MEAN, 1,
                                       dims);
    int failed = t == NULL || enc_count_column(t, "n") || enc_levels(t, 0, N_PREFECTURES, levels);
    int seen[N_PREFECTURES] = {0}, cells = 0;
    for (size_t i = 0; i < persons.cap && !failed; i++) {
        const slot *s = &persons.slots[i];
        if (s->key == NULL || s->hba1c_n == 0)
            continue;
        int cell[1] = {s->prefecture - 1};
        failed = enc_contribute(t, cell, s->hba1c_sum, s->hba1c_n) != 0;
        cells += !seen[cell[0]];
        seen[cell[0]] = 1;
    }
    map_free(&persons);
    if (failed || enc_write(t) || enc_write_manifest()) {
        fprintf(stderr, "mean_hba1c_by_prefecture: %s\n", enc_error());
        enc_free(t);
        return 3;
    }
    enc_free(t);
    printf("averaged %lld HbA1c measurements over %d prefectures\n", (long long)used, cells);
    return 0;
}
