//! Deterministic synthetic dataset generator ("dummy data").
//!
//! Produces a pseudonymized, claims-like dataset in the OMOP Common Data Model layout that
//! enclave jobs see under `/data`: one directory per table, each holding `<table>.csv`
//! (UTF-8, header row, comma-separated, never quoted) and a `dictionary.json` describing the
//! columns. Japanese source codes are kept beside the OMOP standard ones: ICD-10 for
//! diagnoses, YJ codes for drugs, JLAC10 codes for laboratory tests, JIS X 0401 for
//! prefectures, and the claims sex code ("1" male, "2" female).
//!
//! Nothing here is real: values are drawn from approximate Japanese distributions (an
//! older-heavy age structure, prefecture populations, age-dependent prevalence of type 2
//! diabetes, hypertension and dyslipidemia, plausible prescriptions and lab values) so that
//! researchers can debug jobs on data with the same schema and a believable shape.
//!
//! Output is a pure function of [`DatasetSpec`]: the random stream is ChaCha20 seeded from
//! `spec.seed`, all arithmetic that feeds the output is done in a fixed order, and no hash
//! map iteration order is ever observed, so the same spec yields byte-identical files.

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use chacha20::ChaCha20Rng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// JLAC10 code used for HbA1c (NGSP), whole blood, HPLC: the code of the Japanese
/// Specific Health Checkups. Jobs select HbA1c rows of `measurement` with it.
pub const HBA1C_CODE: &str = "3D046000001906202";

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetSpec {
    /// Dataset name, recorded in every `dictionary.json`.
    pub name: String,
    /// Dataset version, recorded in every `dictionary.json`.
    pub version: String,
    /// Number of persons to generate.
    pub patients: u32,
    /// Seed of the random stream; the same spec always yields the same bytes.
    pub seed: u64,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetSummary {
    /// Table name and number of data rows (header excluded), in a fixed table order.
    pub tables: Vec<(String, u64)>,
}

// ---------------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------------

/// One column of a table, as written to `dictionary.json`.
#[derive(Debug, Serialize)]
struct Column {
    name: &'static str,
    #[serde(rename = "type")]
    ty: &'static str,
    description: &'static str,
    code_system: Option<&'static str>,
    identifier: bool,
}

/// Contents of a table's `dictionary.json`.
#[derive(Debug, Serialize)]
struct Dictionary<'a> {
    dataset: &'a str,
    version: &'a str,
    class: &'static str,
    table: &'static str,
    columns: &'static [Column],
}

const fn col(
    name: &'static str,
    ty: &'static str,
    description: &'static str,
    code_system: Option<&'static str>,
) -> Column {
    Column {
        name,
        ty,
        description,
        code_system,
        identifier: false,
    }
}

const PERSON_ID: Column = Column {
    name: "person_id",
    ty: "string",
    description: "Per-project person pseudonym: 'P' followed by 16 lowercase hex digits.",
    code_system: None,
    identifier: true,
};

const PERSON_COLS: &[Column] = &[
    PERSON_ID,
    col("year_of_birth", "integer", "Year of birth.", None),
    col(
        "gender_concept_id",
        "integer",
        "OMOP gender concept: 8507 male, 8532 female.",
        Some("OMOP"),
    ),
    col(
        "gender_source_value",
        "string",
        "Sex as coded in Japanese claims: 1 male, 2 female.",
        Some("JP claims sex code"),
    ),
    col(
        "prefecture_code",
        "string",
        "Prefecture of residence, 01..47.",
        Some("JIS X 0401"),
    ),
];

const OBSERVATION_PERIOD_COLS: &[Column] = &[
    col(
        "observation_period_id",
        "integer",
        "Row key of this table.",
        None,
    ),
    PERSON_ID,
    col(
        "observation_period_start_date",
        "date",
        "First day the person is covered by the data source (ISO 8601).",
        None,
    ),
    col(
        "observation_period_end_date",
        "date",
        "Last day the person is covered by the data source (ISO 8601).",
        None,
    ),
];

const VISIT_COLS: &[Column] = &[
    col(
        "visit_occurrence_id",
        "integer",
        "Row key of this table.",
        None,
    ),
    PERSON_ID,
    col(
        "visit_start_date",
        "date",
        "Date of the visit or of admission (ISO 8601).",
        None,
    ),
    col(
        "visit_concept_id",
        "integer",
        "OMOP visit concept: 9202 outpatient, 9201 inpatient.",
        Some("OMOP"),
    ),
    col(
        "visit_source_value",
        "string",
        "Visit type as in the source: outpatient or inpatient.",
        None,
    ),
];

const CONDITION_COLS: &[Column] = &[
    col(
        "condition_occurrence_id",
        "integer",
        "Row key of this table.",
        None,
    ),
    PERSON_ID,
    col(
        "condition_start_date",
        "date",
        "Date the diagnosis was recorded (ISO 8601).",
        None,
    ),
    col(
        "condition_source_value",
        "string",
        "Diagnosis code as in the claim.",
        Some("ICD10"),
    ),
    col(
        "condition_source_vocabulary",
        "string",
        "Vocabulary of condition_source_value.",
        None,
    ),
    col(
        "condition_concept_id",
        "integer",
        "OMOP standard condition concept mapped from the source code; 0 if unmapped.",
        Some("OMOP"),
    ),
];

const DRUG_COLS: &[Column] = &[
    col(
        "drug_exposure_id",
        "integer",
        "Row key of this table.",
        None,
    ),
    PERSON_ID,
    col(
        "drug_exposure_start_date",
        "date",
        "Date of prescription (ISO 8601).",
        None,
    ),
    col(
        "drug_source_value",
        "string",
        "Japanese YJ drug code (12 characters).",
        Some("YJ"),
    ),
    col(
        "drug_source_vocabulary",
        "string",
        "Vocabulary of drug_source_value.",
        None,
    ),
    col("days_supply", "integer", "Days of supply prescribed.", None),
    col(
        "quantity",
        "number",
        "Quantity dispensed (tablets, or pens for injections).",
        None,
    ),
];

const MEASUREMENT_COLS: &[Column] = &[
    col("measurement_id", "integer", "Row key of this table.", None),
    PERSON_ID,
    col(
        "measurement_date",
        "date",
        "Date the specimen was taken (ISO 8601).",
        None,
    ),
    col(
        "measurement_source_value",
        "string",
        "Laboratory test code (17 characters).",
        Some("JLAC10"),
    ),
    col(
        "measurement_source_vocabulary",
        "string",
        "Vocabulary of measurement_source_value.",
        None,
    ),
    col(
        "value_as_number",
        "number",
        "Numeric result, in unit_source_value.",
        None,
    ),
    col(
        "unit_source_value",
        "string",
        "Unit of the result as in the source.",
        None,
    ),
];

/// Tables in output order, with their columns.
const TABLES: [(&str, &[Column]); 6] = [
    ("person", PERSON_COLS),
    ("observation_period", OBSERVATION_PERIOD_COLS),
    ("visit_occurrence", VISIT_COLS),
    ("condition_occurrence", CONDITION_COLS),
    ("drug_exposure", DRUG_COLS),
    ("measurement", MEASUREMENT_COLS),
];

// ---------------------------------------------------------------------------------------------
// Code lists
// ---------------------------------------------------------------------------------------------

/// A diagnosis: ICD-10 code and a fixed OMOP standard concept (0 when left unmapped).
#[derive(Debug)]
struct Dx {
    icd10: &'static str,
    concept: u32,
}

const DX_T2DM: Dx = Dx {
    icd10: "E11.9",
    concept: 201_826,
};
const DX_T2DM_RENAL: Dx = Dx {
    icd10: "E11.2",
    concept: 443_731,
};
const DX_T2DM_EYE: Dx = Dx {
    icd10: "E11.3",
    concept: 4_174_977,
};
const DX_T2DM_NEURO: Dx = Dx {
    icd10: "E11.4",
    concept: 443_730,
};
const DX_HTN: Dx = Dx {
    icd10: "I10",
    concept: 320_128,
};
const DX_DYSLIPIDEMIA: Dx = Dx {
    icd10: "E78.5",
    concept: 432_867,
};
const DX_AF: Dx = Dx {
    icd10: "I48.9",
    concept: 313_217,
};
const DX_CKD: Dx = Dx {
    icd10: "N18.9",
    concept: 46_271_022,
};
const DX_IHD: Dx = Dx {
    icd10: "I25.1",
    concept: 317_576,
};
const DX_URI: Dx = Dx {
    icd10: "J06.9",
    concept: 257_011,
};
const DX_GASTROENTERITIS: Dx = Dx {
    icd10: "A09",
    concept: 0,
};
const DX_LOW_BACK_PAIN: Dx = Dx {
    icd10: "M54.5",
    concept: 194_133,
};
const DX_GERD: Dx = Dx {
    icd10: "K21.9",
    concept: 318_800,
};
const DX_ALLERGIC_RHINITIS: Dx = Dx {
    icd10: "J30.4",
    concept: 257_007,
};
const DX_ASTHMA: Dx = Dx {
    icd10: "J45.9",
    concept: 317_009,
};
const DX_ATOPIC_DERMATITIS: Dx = Dx {
    icd10: "L20.9",
    concept: 133_834,
};
const DX_DEPRESSION: Dx = Dx {
    icd10: "F32.9",
    concept: 440_383,
};
const DX_PNEUMONIA: Dx = Dx {
    icd10: "J18.9",
    concept: 255_848,
};
const DX_STROKE: Dx = Dx {
    icd10: "I63.9",
    concept: 443_454,
};
const DX_HIP_FRACTURE: Dx = Dx {
    icd10: "S72.0",
    concept: 0,
};

/// A drug product: YJ code and units dispensed per day of supply.
#[derive(Debug)]
struct Drug {
    yj: &'static str,
    per_day: f64,
}

const METFORMIN: Drug = Drug {
    yj: "3962002F1024",
    per_day: 3.0,
};
const SITAGLIPTIN: Drug = Drug {
    yj: "3969010F2020",
    per_day: 1.0,
};
const VILDAGLIPTIN: Drug = Drug {
    yj: "3969013F1020",
    per_day: 2.0,
};
const LINAGLIPTIN: Drug = Drug {
    yj: "3969014F1024",
    per_day: 1.0,
};
const DAPAGLIFLOZIN: Drug = Drug {
    yj: "3969019F1026",
    per_day: 1.0,
};
const EMPAGLIFLOZIN: Drug = Drug {
    yj: "3969023F1020",
    per_day: 1.0,
};
/// Insulin glargine pen (300 units): about one pen per 20 days.
const INSULIN_GLARGINE: Drug = Drug {
    yj: "2492415G4020",
    per_day: 0.05,
};
const AMLODIPINE: Drug = Drug {
    yj: "2171022F2020",
    per_day: 1.0,
};
const TELMISARTAN: Drug = Drug {
    yj: "2149042F2020",
    per_day: 1.0,
};
const OLMESARTAN: Drug = Drug {
    yj: "2149044F2023",
    per_day: 1.0,
};
const ATORVASTATIN: Drug = Drug {
    yj: "2189015F1020",
    per_day: 1.0,
};
const ROSUVASTATIN: Drug = Drug {
    yj: "2189017F1024",
    per_day: 1.0,
};
const APIXABAN: Drug = Drug {
    yj: "3339004F2020",
    per_day: 2.0,
};
const VONOPRAZAN: Drug = Drug {
    yj: "2329030F1020",
    per_day: 1.0,
};
const LOXOPROFEN: Drug = Drug {
    yj: "1149019F1020",
    per_day: 3.0,
};
const ACETAMINOPHEN: Drug = Drug {
    yj: "1141007F1063",
    per_day: 3.0,
};
const CARBOCISTEINE: Drug = Drug {
    yj: "2233002F1020",
    per_day: 3.0,
};
const FEXOFENADINE: Drug = Drug {
    yj: "4490023F1020",
    per_day: 2.0,
};
const MONTELUKAST: Drug = Drug {
    yj: "4490026F1020",
    per_day: 1.0,
};

/// A laboratory test: JLAC10 code, unit and decimals shown.
#[derive(Debug)]
struct Lab {
    jlac10: &'static str,
    unit: &'static str,
    decimals: usize,
}

const LAB_HBA1C: Lab = Lab {
    jlac10: HBA1C_CODE,
    unit: "%",
    decimals: 1,
};
const LAB_GLUCOSE: Lab = Lab {
    jlac10: "3D010000002227101",
    unit: "mg/dL",
    decimals: 0,
};
const LAB_LDL: Lab = Lab {
    jlac10: "3F077000002327101",
    unit: "mg/dL",
    decimals: 0,
};
const LAB_CREATININE: Lab = Lab {
    jlac10: "3C015000002327101",
    unit: "mg/dL",
    decimals: 2,
};
const LAB_EGFR: Lab = Lab {
    jlac10: "8A065000002391901",
    unit: "mL/min/1.73m2",
    decimals: 1,
};
const LAB_ALT: Lab = Lab {
    jlac10: "3B045000002327201",
    unit: "U/L",
    decimals: 0,
};
const LAB_AST: Lab = Lab {
    jlac10: "3B035000002327201",
    unit: "U/L",
    decimals: 0,
};

/// Population of Japan by 5-year age group 0-4 .. 95-99, in units of 10,000 (approx. 2024).
const AGE_GROUP_WEIGHTS: [u32; 20] = [
    420, 490, 530, 550, 610, 640, 640, 710, 790, 940, 940, 810, 740, 760, 920, 720, 600, 390, 190,
    60,
];

/// Population by prefecture (JIS X 0401 order, 01 Hokkaido .. 47 Okinawa), in thousands (2020 census).
const PREFECTURE_WEIGHTS: [u32; 47] = [
    5225, 1238, 1211, 2302, 960, 1068, 1833, 2867, 1933, 1939, 7345, 6284, 14048, 9237, 2201, 1035,
    1133, 767, 810, 2048, 1979, 3633, 7542, 1770, 1414, 2578, 8838, 5465, 1324, 923, 553, 671,
    1888, 2800, 1342, 720, 950, 1335, 692, 5135, 811, 1312, 1738, 1124, 1070, 1588, 1467,
];

/// Age is counted at this year for prevalence and birth years.
const REF_YEAR: i32 = 2024;

/// Days supplied by chronic prescriptions, with weights.
const CHRONIC_DAYS: [(u32, u32); 6] = [(28, 25), (30, 15), (56, 20), (60, 10), (84, 15), (90, 15)];

// ---------------------------------------------------------------------------------------------
// Dates (days since 1970-01-01, proleptic Gregorian)
// ---------------------------------------------------------------------------------------------

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date of a day count since 1970-01-01.
fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A date, displayed as ISO 8601 `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Date(i32);

impl Date {
    fn year(self) -> i32 {
        civil_from_days(self.0).0
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(self.0);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// Coverage window of the data source: fiscal years 2015 to 2024.
fn window() -> (Date, Date) {
    (
        Date(days_from_civil(2015, 4, 1)),
        Date(days_from_civil(2025, 3, 31)),
    )
}

// ---------------------------------------------------------------------------------------------
// Random draws (only `next_u64` of the ChaCha20 stream is used, so values depend on nothing
// but the stream itself)
// ---------------------------------------------------------------------------------------------

struct Draw {
    rng: ChaCha20Rng,
}

impl Draw {
    fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha20Rng::seed_from_u64(seed),
        }
    }

    fn u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in 0..n (n > 0); multiply-shift, bias below 2^-40 for the sizes used here.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in lo..=hi.
    fn between(&mut self, lo: i32, hi: i32) -> i32 {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo) as u64 + 1) as i32
    }

    fn date_between(&mut self, lo: Date, hi: Date) -> Date {
        Date(self.between(lo.0, hi.0))
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Normal(mean, sd) by Box-Muller (one value per pair of uniforms).
    fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1]
        let u2 = self.unit();
        mean + sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Poisson count with a small mean (Knuth).
    fn poisson(&mut self, mean: f64) -> u32 {
        let limit = (-mean).exp();
        let mut k = 0;
        let mut p = self.unit();
        while p > limit && k < 50 {
            k += 1;
            p *= self.unit();
        }
        k
    }

    /// Index drawn with probability proportional to `weights` (not all zero).
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut x = self.below(total.max(1));
        for (i, &w) in weights.iter().enumerate() {
            if x < u64::from(w) {
                return i;
            }
            x -= u64::from(w);
        }
        weights.len().saturating_sub(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn chronic_days(&mut self) -> u32 {
        let weights = CHRONIC_DAYS.map(|(_, w)| w);
        CHRONIC_DAYS[self.weighted(&weights)].0
    }
}

// ---------------------------------------------------------------------------------------------
// Per-person generation
// ---------------------------------------------------------------------------------------------

/// Static attributes of one person.
struct Person {
    yob: i32,
    male: bool,
    /// Age at [`REF_YEAR`].
    age: i32,
    start: Date,
    end: Date,
    /// Latent lab levels, fixed per person.
    hba1c: f64,
    creatinine: f64,
    ldl: f64,
    alt: f64,
}

/// Chronic state of one person.
#[derive(Default)]
struct Chronic {
    dm: bool,
    htn: bool,
    dl: bool,
    af: bool,
    ckd: bool,
    ihd: bool,
}

/// Events of one person, before sorting and numbering. Reused between persons.
#[derive(Default)]
struct Events {
    visits: Vec<(Date, bool)>,
    conditions: Vec<(Date, &'static Dx)>,
    drugs: Vec<(Date, &'static Drug, u32)>,
    measurements: Vec<(Date, &'static Lab, f64)>,
}

impl Events {
    fn clear(&mut self) {
        self.visits.clear();
        self.conditions.clear();
        self.drugs.clear();
        self.measurements.clear();
    }

    fn visit(&mut self, date: Date) {
        self.visits.push((date, false));
    }

    fn admission(&mut self, date: Date) {
        self.visits.push((date, true));
    }

    fn dx(&mut self, date: Date, dx: &'static Dx) {
        self.conditions.push((date, dx));
    }

    fn rx(&mut self, date: Date, drug: &'static Drug, days: u32) {
        self.drugs.push((date, drug, days));
    }

    fn lab(&mut self, date: Date, lab: &'static Lab, value: f64) {
        self.measurements.push((date, lab, value));
    }
}

fn age_band_rate(age: i32, rates: &[(i32, f64)]) -> f64 {
    let mut rate = 0.0;
    for &(from, r) in rates {
        if age >= from {
            rate = r;
        }
    }
    rate
}

fn male_share(age: i32) -> f64 {
    age_band_rate(
        age,
        &[
            (0, 0.512),
            (20, 0.508),
            (50, 0.500),
            (65, 0.480),
            (75, 0.430),
            (85, 0.340),
            (90, 0.250),
        ],
    )
}

fn new_person(d: &mut Draw) -> Person {
    let group = d.weighted(&AGE_GROUP_WEIGHTS) as i32;
    let age = group * 5 + d.between(0, 4);
    let yob = REF_YEAR - age;
    let male = d.chance(male_share(age));
    let (w_start, w_end) = window();
    // Approximate birth date; nobody is observed before birth.
    let born = Date(days_from_civil(yob, 1, 1) + d.between(0, 364));
    let earliest = born.max(w_start);
    let latest_start = Date((w_end.0 - 180).max(earliest.0));
    let start = if d.chance(0.55) {
        earliest
    } else {
        d.date_between(earliest, latest_start)
    };
    let leave = if age >= 80 { 0.40 } else { 0.22 };
    let end = if d.chance(1.0 - leave) {
        w_end
    } else {
        d.date_between(Date((start.0 + 180).min(w_end.0)), w_end)
    };
    Person {
        yob,
        male,
        age,
        start,
        end,
        hba1c: 0.0,
        creatinine: 0.0,
        ldl: 0.0,
        alt: 0.0,
    }
}

fn chronic_state(d: &mut Draw, p: &Person) -> Chronic {
    let a = p.age;
    let mut c = Chronic::default();
    let dm_rate = age_band_rate(
        a,
        &[
            (0, 0.001),
            (20, 0.004),
            (30, 0.013),
            (40, 0.04),
            (50, 0.09),
            (60, 0.15),
            (70, 0.19),
            (80, 0.17),
        ],
    ) * if p.male { 1.42 } else { 0.74 };
    c.dm = d.chance(dm_rate);
    let htn_rate = age_band_rate(
        a,
        &[
            (0, 0.0),
            (20, 0.01),
            (30, 0.03),
            (40, 0.09),
            (50, 0.20),
            (60, 0.33),
            (70, 0.45),
            (80, 0.52),
        ],
    ) * if p.male { 1.1 } else { 0.9 }
        * if c.dm { 1.6 } else { 1.0 };
    c.htn = d.chance(htn_rate.min(0.9));
    let dl_rate = age_band_rate(
        a,
        &[
            (0, 0.0),
            (20, 0.01),
            (30, 0.04),
            (40, 0.09),
            (50, 0.17),
            (60, 0.25),
            (70, 0.28),
            (80, 0.22),
        ],
    ) * if !p.male && a >= 50 { 1.15 } else { 1.0 }
        * if c.dm { 1.8 } else { 1.0 };
    c.dl = d.chance(dl_rate.min(0.9));
    let af_rate = age_band_rate(a, &[(0, 0.0), (50, 0.005), (65, 0.02), (75, 0.05)])
        * if p.male { 1.4 } else { 0.8 };
    c.af = d.chance(af_rate);
    let mut ckd_rate = age_band_rate(a, &[(0, 0.0), (40, 0.005), (65, 0.02), (75, 0.04)]);
    if c.dm {
        ckd_rate += 0.12;
    }
    if c.htn {
        ckd_rate += 0.05;
    }
    c.ckd = d.chance(ckd_rate);
    let ihd_rate = age_band_rate(a, &[(0, 0.0), (40, 0.005), (60, 0.03), (75, 0.05)])
        * if p.male { 1.6 } else { 0.7 }
        * if c.htn || c.dl { 1.5 } else { 1.0 };
    c.ihd = d.chance(ihd_rate);
    c
}

/// Latent lab levels of a person, consistent with the chronic state.
fn latent_labs(d: &mut Draw, p: &mut Person, c: &Chronic) {
    p.hba1c = if c.dm {
        d.normal(7.2, 1.05).clamp(5.0, 14.0)
    } else {
        d.normal(5.6, 0.35).clamp(4.4, 6.3)
    };
    let base = if p.male {
        d.normal(0.88, 0.12)
    } else {
        d.normal(0.66, 0.10)
    };
    let aging = 1.0 + 0.004 * f64::from((p.age - 50).max(0));
    let kidney = if c.ckd { 1.5 + 0.8 * d.unit() } else { 1.0 };
    p.creatinine = (base * aging * kidney).clamp(0.35, 9.0);
    p.ldl = if c.dl {
        d.normal(108.0, 25.0)
    } else {
        d.normal(118.0, 28.0)
    }
    .clamp(40.0, 260.0);
    p.alt = d.normal(18f64.ln(), 0.45).exp().clamp(5.0, 300.0);
}

/// Which tests to take at one lab draw.
#[derive(Default, Clone, Copy)]
struct Panel {
    hba1c: bool,
    glucose: bool,
    ldl: bool,
    kidney: bool,
    liver: bool,
}

impl Panel {
    fn any(self) -> bool {
        self.hba1c || self.glucose || self.ldl || self.kidney || self.liver
    }
}

fn draw_labs(d: &mut Draw, p: &Person, date: Date, panel: Panel, ev: &mut Events) {
    let age = date.year() - p.yob;
    if age < 18 {
        return;
    }
    let hba1c = if panel.hba1c || panel.glucose {
        let jitter = if p.hba1c >= 6.5 { 0.3 } else { 0.15 };
        let lo = if p.hba1c >= 6.5 { 5.0 } else { 4.3 };
        let hi = if p.hba1c >= 6.5 { 14.0 } else { 6.4 };
        round_to(d.normal(p.hba1c, jitter).clamp(lo, hi), 1)
    } else {
        0.0
    };
    if panel.hba1c {
        ev.lab(date, &LAB_HBA1C, hba1c);
    }
    if panel.glucose {
        let glucose = (95.0 + (hba1c - 5.6) * 30.0 + d.normal(0.0, 9.0)).clamp(60.0, 450.0);
        ev.lab(date, &LAB_GLUCOSE, glucose.round());
    }
    if panel.ldl {
        ev.lab(
            date,
            &LAB_LDL,
            (p.ldl + d.normal(0.0, 9.0)).clamp(30.0, 300.0).round(),
        );
    }
    if panel.kidney {
        let cr = round_to(
            (p.creatinine * (1.0 + d.normal(0.0, 0.05))).clamp(0.3, 12.0),
            2,
        );
        // Japanese Society of Nephrology eGFR equation.
        let sex = if p.male { 1.0 } else { 0.739 };
        let egfr = 194.0 * cr.powf(-1.094) * f64::from(age).powf(-0.287) * sex;
        ev.lab(date, &LAB_CREATININE, cr);
        ev.lab(date, &LAB_EGFR, round_to(egfr, 1));
    }
    if panel.liver {
        let alt = (p.alt * d.normal(0.0, 0.15).exp())
            .clamp(3.0, 500.0)
            .round();
        let ast = (alt * 0.8 + 6.0 + d.normal(0.0, 3.0))
            .clamp(5.0, 500.0)
            .round();
        ev.lab(date, &LAB_ALT, alt);
        ev.lab(date, &LAB_AST, ast);
    }
}

fn round_to(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// Chronic care: a schedule of outpatient visits with diagnoses, regular prescriptions and labs.
fn chronic_care(d: &mut Draw, p: &Person, c: &Chronic, ev: &mut Events) {
    let majors = [c.dm, c.htn, c.dl, c.af, c.ckd, c.ihd]
        .iter()
        .filter(|&&x| x)
        .count() as u32;
    if majors == 0 {
        return;
    }
    let last = Date((p.end.0 - 14).max(p.start.0));
    let first = if d.chance(0.5) {
        d.date_between(p.start, Date((p.start.0 + 180).min(last.0)))
    } else {
        d.date_between(p.start, last)
    };
    let k = (3 + 2 * majors.min(3) + d.below(4) as u32).min(12) as usize;
    let mut schedule: Vec<Date> = Vec::with_capacity(k);
    schedule.push(first);
    for _ in 1..k {
        schedule.push(d.date_between(first, last));
    }
    schedule.sort_unstable();
    for &date in &schedule {
        ev.visit(date);
    }

    // Regimens, fixed per person.
    let mut dm_drugs: Vec<&'static Drug> = Vec::new();
    if c.dm {
        if d.chance(if c.ckd { 0.2 } else { 0.55 }) {
            dm_drugs.push(&METFORMIN);
        }
        if d.chance(0.6) {
            dm_drugs.push(match d.weighted(&[4, 3, if c.ckd { 6 } else { 3 }]) {
                0 => &SITAGLIPTIN,
                1 => &VILDAGLIPTIN,
                _ => &LINAGLIPTIN,
            });
        }
        if d.chance(if p.age < 75 { 0.3 } else { 0.12 }) {
            dm_drugs.push(*d.pick(&[&EMPAGLIFLOZIN, &DAPAGLIFLOZIN]));
        }
        if d.chance(0.08 + if p.hba1c > 8.5 { 0.2 } else { 0.0 }) {
            dm_drugs.push(&INSULIN_GLARGINE);
        }
        if dm_drugs.is_empty() && d.chance(0.8) {
            dm_drugs.push(&SITAGLIPTIN);
        }
    }
    let mut htn_drugs: Vec<&'static Drug> = Vec::new();
    if c.htn {
        if d.chance(0.6) {
            htn_drugs.push(*d.pick(&[&TELMISARTAN, &OLMESARTAN]));
        }
        if d.chance(0.6) || htn_drugs.is_empty() {
            htn_drugs.push(&AMLODIPINE);
        }
    }
    let statin: Option<&'static Drug> = if c.dl && d.chance(0.85) {
        Some(*d.pick(&[&ATORVASTATIN, &ROSUVASTATIN]))
    } else {
        None
    };

    let conditions: [(bool, &'static Dx); 6] = [
        (c.dm, &DX_T2DM),
        (c.htn, &DX_HTN),
        (c.dl, &DX_DYSLIPIDEMIA),
        (c.af, &DX_AF),
        (c.ckd, &DX_CKD),
        (c.ihd, &DX_IHD),
    ];
    let mut onset = [0usize; 6];
    for (i, &(has, dx)) in conditions.iter().enumerate() {
        if !has {
            continue;
        }
        onset[i] = if d.chance(0.65) {
            0
        } else {
            d.below(k as u64) as usize
        };
        ev.dx(schedule[onset[i]], dx);
        // Claims list ongoing diagnoses again on some later visits.
        for &date in &schedule[onset[i] + 1..] {
            if d.chance(0.2) {
                ev.dx(date, dx);
            }
        }
    }
    if c.dm {
        let at = schedule[onset[0]];
        if c.ckd {
            ev.dx(at, &DX_T2DM_RENAL);
        }
        if d.chance(0.10) {
            ev.dx(at, &DX_T2DM_EYE);
        }
        if d.chance(0.08) {
            ev.dx(at, &DX_T2DM_NEURO);
        }
    }

    for (j, &date) in schedule.iter().enumerate() {
        let on = |i: usize| conditions[i].0 && j >= onset[i];
        let mut fill = |d: &mut Draw, drug: &'static Drug| {
            if d.chance(0.75) {
                let days = d.chronic_days();
                ev.rx(date, drug, days);
            }
        };
        if on(0) {
            for &drug in &dm_drugs {
                fill(d, drug);
            }
        }
        if on(1) {
            for &drug in &htn_drugs {
                fill(d, drug);
            }
        }
        if on(2)
            && let Some(drug) = statin
        {
            fill(d, drug);
        }
        if on(3) {
            fill(d, &APIXABAN);
        }
        let panel = Panel {
            hba1c: d.chance(if on(0) { 0.85 } else { 0.08 }),
            glucose: d.chance(if on(0) { 0.35 } else { 0.12 }),
            ldl: d.chance(if on(2) {
                0.45
            } else if on(0) {
                0.3
            } else {
                0.12
            }),
            kidney: d.chance(if on(4) {
                0.7
            } else if on(0) || on(1) {
                0.35
            } else {
                0.12
            }),
            liver: d.chance(if on(2) { 0.3 } else { 0.18 }),
        };
        if panel.any() {
            draw_labs(d, p, date, panel, ev);
        }
    }
}

/// Short illnesses, check-ups and admissions.
fn episodes(d: &mut Draw, p: &Person, c: &Chronic, ev: &mut Events) {
    let a = p.age;
    let adult = a >= 20;
    let (s, e) = (p.start, p.end);

    // Upper respiratory infections.
    let uri = d.poisson(age_band_rate(
        a,
        &[(0, 2.2), (7, 1.1), (15, 0.5), (65, 0.35)],
    ));
    for _ in 0..uri {
        let date = d.date_between(s, e);
        ev.visit(date);
        ev.dx(date, &DX_URI);
        let days = d.between(3, 7) as u32;
        if d.chance(0.6) {
            ev.rx(
                date,
                if a < 15 || d.chance(0.35) {
                    &ACETAMINOPHEN
                } else {
                    &LOXOPROFEN
                },
                days,
            );
        }
        if d.chance(0.5) {
            ev.rx(date, &CARBOCISTEINE, days);
        }
        if d.chance(0.25) {
            ev.visit(Date((date.0 + d.between(3, 10)).min(e.0)));
        }
    }
    // Gastroenteritis.
    for _ in 0..d.poisson(if a < 15 { 0.2 } else { 0.06 }) {
        let date = d.date_between(s, e);
        ev.visit(date);
        ev.dx(date, &DX_GASTROENTERITIS);
    }
    // Low back pain.
    if adult && d.chance(age_band_rate(a, &[(20, 0.06), (40, 0.10), (65, 0.14)])) {
        let date = d.date_between(s, e);
        ev.visit(date);
        ev.dx(date, &DX_LOW_BACK_PAIN);
        if d.chance(0.8) {
            ev.rx(date, &LOXOPROFEN, 14);
        }
        for _ in 0..d.below(3) {
            ev.visit(Date((date.0 + d.between(7, 60)).min(e.0)));
        }
    }
    // Reflux.
    if adult && d.chance(age_band_rate(a, &[(20, 0.05), (40, 0.08), (65, 0.10)])) {
        let date = d.date_between(s, e);
        let n = d.between(1, 3);
        for i in 0..n {
            let at = Date((date.0 + i * d.between(28, 90)).min(e.0));
            ev.visit(at);
            if i == 0 {
                ev.dx(at, &DX_GERD);
            }
            if d.chance(0.9) {
                ev.rx(at, &VONOPRAZAN, 28);
            }
        }
    }
    // Allergic rhinitis (seasonal: February to April).
    if d.chance(if a < 20 { 0.14 } else { 0.10 }) {
        let year = d.between(s.year(), e.year());
        let date = Date(days_from_civil(year, 2, 1) + d.between(0, 88)).clamp(s, e);
        for i in 0..d.between(1, 2) {
            let at = Date((date.0 + i * 28).min(e.0));
            ev.visit(at);
            if i == 0 {
                ev.dx(at, &DX_ALLERGIC_RHINITIS);
            }
            ev.rx(at, &FEXOFENADINE, *d.pick(&[14, 28, 30]));
        }
    }
    // Asthma.
    if d.chance(if a < 15 { 0.06 } else { 0.04 }) {
        let first = d.date_between(s, e);
        ev.dx(first, &DX_ASTHMA);
        for _ in 0..d.between(2, 4) {
            let at = d.date_between(first, e);
            ev.visit(at);
            ev.rx(at, &MONTELUKAST, *d.pick(&[28, 30, 56]));
        }
        ev.visit(first);
    }
    // Atopic dermatitis.
    if d.chance(if a < 15 { 0.08 } else { 0.02 }) {
        let date = d.date_between(s, e);
        ev.visit(date);
        ev.dx(date, &DX_ATOPIC_DERMATITIS);
    }
    // Depression.
    if ((18..65).contains(&a) && d.chance(0.035)) || (a >= 65 && d.chance(0.02)) {
        let first = d.date_between(s, e);
        ev.dx(first, &DX_DEPRESSION);
        ev.visit(first);
        for _ in 0..d.between(1, 3) {
            ev.visit(d.date_between(first, e));
        }
    }
    // Check-up style labs for adults without regular chronic care.
    let chronic = c.dm || c.htn || c.dl || c.af || c.ckd || c.ihd;
    if adult && !chronic {
        let rate = age_band_rate(a, &[(20, 0.30), (40, 0.42), (65, 0.50)]);
        if d.chance(rate) {
            for _ in 0..d.between(1, 2) {
                let date = d.date_between(s, e);
                ev.visit(date);
                let panel = Panel {
                    hba1c: d.chance(0.62),
                    glucose: d.chance(0.5),
                    ldl: d.chance(0.7),
                    kidney: d.chance(0.6),
                    liver: d.chance(0.7),
                };
                draw_labs(d, p, date, panel, ev);
            }
        }
    }
    // Admissions.
    let pneumonia = age_band_rate(a, &[(0, 0.03), (5, 0.002), (65, 0.02), (75, 0.06)]);
    let mut stroke = age_band_rate(a, &[(0, 0.0), (45, 0.003), (65, 0.015)]);
    if c.htn {
        stroke *= 2.0;
    }
    if c.af {
        stroke *= 2.0;
    }
    let fracture = age_band_rate(
        a,
        &[
            (0, 0.0),
            (65, 0.004),
            (80, if p.male { 0.012 } else { 0.03 }),
        ],
    );
    let admissions: [(f64, &'static Dx); 3] = [
        (pneumonia, &DX_PNEUMONIA),
        (stroke, &DX_STROKE),
        (fracture, &DX_HIP_FRACTURE),
    ];
    for (rate, dx) in admissions {
        if d.chance(rate) {
            let date = d.date_between(s, e);
            ev.admission(date);
            ev.dx(date, dx);
            let panel = Panel {
                hba1c: c.dm,
                glucose: d.chance(0.5),
                ldl: false,
                kidney: true,
                liver: true,
            };
            draw_labs(d, p, date, panel, ev);
        }
    }
    // Everyone in a claims database has at least one claim.
    if ev.visits.is_empty() {
        let date = d.date_between(s, e);
        ev.visit(date);
        ev.dx(
            date,
            if adult && d.chance(0.25) {
                &DX_LOW_BACK_PAIN
            } else {
                &DX_URI
            },
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

type Csv = BufWriter<File>;

struct Writers {
    files: [Csv; 6],
    rows: [u64; 6],
}

const PERSON: usize = 0;
const OBSERVATION_PERIOD: usize = 1;
const VISIT: usize = 2;
const CONDITION: usize = 3;
const DRUG: usize = 4;
const MEASUREMENT: usize = 5;

impl Writers {
    fn create(out: &Path, spec: &DatasetSpec) -> io::Result<Self> {
        let open = |i: usize| -> io::Result<Csv> {
            let (table, columns) = TABLES[i];
            let dir = out.join(table);
            fs::create_dir(&dir)?;
            let dict = Dictionary {
                dataset: &spec.name,
                version: &spec.version,
                class: "pseudonymized",
                table,
                columns,
            };
            let mut json = serde_json::to_vec_pretty(&dict).map_err(io::Error::other)?;
            json.push(b'\n');
            fs::write(dir.join("dictionary.json"), json)?;
            let mut w =
                BufWriter::with_capacity(1 << 18, File::create(dir.join(format!("{table}.csv")))?);
            let header: Vec<&str> = columns.iter().map(|c| c.name).collect();
            writeln!(w, "{}", header.join(","))?;
            Ok(w)
        };
        Ok(Self {
            files: [open(0)?, open(1)?, open(2)?, open(3)?, open(4)?, open(5)?],
            rows: [0; 6],
        })
    }

    /// Next row id of a table (1-based) and its writer.
    fn row(&mut self, table: usize) -> (u64, &mut Csv) {
        self.rows[table] += 1;
        (self.rows[table], &mut self.files[table])
    }

    fn finish(self) -> io::Result<DatasetSummary> {
        let Self { files, rows } = self;
        for w in files {
            w.into_inner().map_err(io::IntoInnerError::into_error)?;
        }
        Ok(DatasetSummary {
            tables: TABLES
                .iter()
                .zip(rows)
                .map(|((t, _), n)| ((*t).to_owned(), n))
                .collect(),
        })
    }
}

/// A value with a fixed number of decimals.
struct Fixed(f64, usize);

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.*}", self.1, self.0)
    }
}

fn write_person(
    w: &mut Writers,
    pid: &str,
    p: &Person,
    pref: usize,
    ev: &mut Events,
) -> io::Result<()> {
    let (_, f) = w.row(PERSON);
    let (concept, source) = if p.male { (8507, "1") } else { (8532, "2") };
    writeln!(f, "{pid},{},{concept},{source},{:02}", p.yob, pref + 1)?;
    let (id, f) = w.row(OBSERVATION_PERIOD);
    writeln!(f, "{id},{pid},{},{}", p.start, p.end)?;

    // Visits: one per date; an admission wins over an outpatient visit on the same day.
    ev.visits
        .sort_by_key(|&(date, inpatient)| (date, !inpatient));
    ev.visits.dedup_by_key(|v| v.0);
    for &(date, inpatient) in &ev.visits {
        let (id, f) = w.row(VISIT);
        let (concept, source) = if inpatient {
            (9201, "inpatient")
        } else {
            (9202, "outpatient")
        };
        writeln!(f, "{id},{pid},{date},{concept},{source}")?;
    }
    ev.conditions.sort_by_key(|c| c.0);
    for &(date, dx) in &ev.conditions {
        let (id, f) = w.row(CONDITION);
        writeln!(f, "{id},{pid},{date},{},ICD10,{}", dx.icd10, dx.concept)?;
    }
    ev.drugs.sort_by_key(|r| r.0);
    for &(date, drug, days) in &ev.drugs {
        let (id, f) = w.row(DRUG);
        let quantity = (f64::from(days) * drug.per_day).ceil();
        writeln!(f, "{id},{pid},{date},{},YJ,{days},{quantity}", drug.yj)?;
    }
    ev.measurements.sort_by_key(|m| m.0);
    for &(date, lab, value) in &ev.measurements {
        let (id, f) = w.row(MEASUREMENT);
        writeln!(
            f,
            "{id},{pid},{date},{},JLAC10,{},{}",
            lab.jlac10,
            Fixed(value, lab.decimals),
            lab.unit
        )?;
    }
    Ok(())
}

/// Writes the dataset described by `spec` under `out`.
///
/// `out` is created if missing; it is an error if it exists and is not an empty directory.
/// The result is deterministic: the same spec always produces byte-identical files.
/// Returns the row count of every table.
///
/// # Errors
///
/// Fails if `out` exists and is not an empty directory (`AlreadyExists`), or on any I/O error
/// while creating directories or writing files; a partial dataset may then be left behind.
pub fn generate(out: &Path, spec: &DatasetSpec) -> io::Result<DatasetSummary> {
    fs::create_dir_all(out)?;
    if fs::read_dir(out)?.next().is_some() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("output directory {} is not empty", out.display()),
        ));
    }
    let mut writers = Writers::create(out, spec)?;
    // Two independent streams: pseudonyms and everything else.
    let mut ids = Draw::new(spec.seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut d = Draw::new(spec.seed);
    let mut seen: HashSet<u64> = HashSet::with_capacity(spec.patients as usize);
    let mut ev = Events::default();
    let mut pid = String::with_capacity(17);
    for _ in 0..spec.patients {
        let mut raw = ids.u64();
        while !seen.insert(raw) {
            raw = ids.u64();
        }
        pid.clear();
        pid.push('P');
        for shift in (0..16).rev() {
            pid.push(char::from(
                b"0123456789abcdef"[((raw >> (shift * 4)) & 0xf) as usize],
            ));
        }

        let mut p = new_person(&mut d);
        let pref = d.weighted(&PREFECTURE_WEIGHTS);
        let c = chronic_state(&mut d, &p);
        latent_labs(&mut d, &mut p, &c);
        ev.clear();
        chronic_care(&mut d, &p, &c, &mut ev);
        episodes(&mut d, &p, &c, &mut ev);
        write_person(&mut writers, &pid, &p, pref, &mut ev)?;
    }
    writers.finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::SeqCst);
            let p =
                std::env::temp_dir().join(format!("enclave-datagen-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            Self(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn spec(patients: u32, seed: u64) -> DatasetSpec {
        DatasetSpec {
            name: "test-claims".into(),
            version: "1".into(),
            patients,
            seed,
        }
    }

    fn gen_into(patients: u32, seed: u64) -> (TempDir, DatasetSummary) {
        let dir = TempDir::new();
        let summary = generate(&dir.0.join("ds"), &spec(patients, seed)).unwrap();
        (dir, summary)
    }

    /// All files of a dataset, by relative path.
    fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        for (table, _) in TABLES {
            for name in [format!("{table}.csv"), "dictionary.json".to_owned()] {
                let path = root.join(table).join(&name);
                out.insert(format!("{table}/{name}"), fs::read(path).unwrap());
            }
        }
        out
    }

    /// Header and rows of a table, each row as a map column → value.
    fn read_table(root: &Path, table: &str) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
        let text = fs::read_to_string(root.join(table).join(format!("{table}.csv"))).unwrap();
        let mut lines = text.lines();
        let header: Vec<String> = lines
            .next()
            .unwrap()
            .split(',')
            .map(str::to_owned)
            .collect();
        let rows = lines
            .map(|l| {
                let fields: Vec<&str> = l.split(',').collect();
                assert_eq!(fields.len(), header.len(), "{table}: {l}");
                header
                    .iter()
                    .cloned()
                    .zip(fields.iter().map(|s| (*s).to_owned()))
                    .collect()
            })
            .collect();
        (header, rows)
    }

    #[test]
    fn deterministic_and_seed_sensitive() {
        let (a, sa) = gen_into(300, 7);
        let (b, sb) = gen_into(300, 7);
        let (c, _) = gen_into(300, 8);
        assert_eq!(sa, sb);
        let fa = files(&a.0.join("ds"));
        assert_eq!(fa, files(&b.0.join("ds")));
        let fc = files(&c.0.join("ds"));
        for table in ["person", "measurement", "drug_exposure"] {
            let key = format!("{table}/{table}.csv");
            assert_ne!(fa[&key], fc[&key], "{table} must depend on the seed");
        }
    }

    #[test]
    fn summary_matches_files_and_every_table_has_rows() {
        let (dir, summary) = gen_into(400, 1);
        let root = dir.0.join("ds");
        assert_eq!(summary.tables.len(), 6);
        for (table, n) in &summary.tables {
            let (_, rows) = read_table(&root, table);
            assert_eq!(rows.len() as u64, *n, "{table}");
            assert!(*n > 0, "{table} is empty");
        }
        assert_eq!(summary.tables[0], ("person".to_owned(), 400));
    }

    #[test]
    fn headers_match_dictionaries() {
        let (dir, _) = gen_into(50, 2);
        let root = dir.0.join("ds");
        for (table, columns) in TABLES {
            let dict: serde_json::Value = serde_json::from_slice(
                &fs::read(root.join(table).join("dictionary.json")).unwrap(),
            )
            .unwrap();
            assert_eq!(dict["dataset"], "test-claims");
            assert_eq!(dict["version"], "1");
            assert_eq!(dict["class"], "pseudonymized");
            assert_eq!(dict["table"], table);
            let names: Vec<&str> = dict["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap())
                .collect();
            let (header, _) = read_table(&root, table);
            assert_eq!(names, header, "{table}");
            assert_eq!(names, columns.iter().map(|c| c.name).collect::<Vec<_>>());
            for c in dict["columns"].as_array().unwrap() {
                assert!(
                    ["string", "integer", "date", "number"].contains(&c["type"].as_str().unwrap())
                );
                assert_eq!(c["identifier"].as_bool().unwrap(), c["name"] == "person_id");
                assert!(c["description"].as_str().is_some_and(|s| !s.is_empty()));
            }
        }
    }

    #[test]
    fn ids_unique_and_referenced() {
        let (dir, _) = gen_into(500, 3);
        let root = dir.0.join("ds");
        let (_, persons) = read_table(&root, "person");
        let ids: BTreeSet<&str> = persons.iter().map(|r| r["person_id"].as_str()).collect();
        assert_eq!(ids.len(), persons.len());
        for id in &ids {
            assert_eq!(id.len(), 17);
            assert!(id.starts_with('P'));
            assert!(
                id[1..]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            );
        }
        let (start, end) = window();
        let (start, end) = (start.to_string(), end.to_string());
        for (table, columns) in &TABLES[1..] {
            let (_, rows) = read_table(&root, table);
            let key = columns[0].name;
            for (i, r) in rows.iter().enumerate() {
                assert!(
                    ids.contains(r["person_id"].as_str()),
                    "{table}: unknown {}",
                    r["person_id"]
                );
                assert_eq!(r[key], (i + 1).to_string(), "{table}: row keys are 1..n");
                for (name, v) in r {
                    if name.ends_with("_date") {
                        assert_eq!(v.len(), 10);
                        assert!(*v >= start && *v <= end, "{table}.{name} = {v}");
                    }
                }
            }
        }
    }

    #[test]
    fn events_within_observation_period() {
        let (dir, _) = gen_into(300, 4);
        let root = dir.0.join("ds");
        let (_, periods) = read_table(&root, "observation_period");
        let span: BTreeMap<String, (String, String)> = periods
            .into_iter()
            .map(|r| {
                let s = r["observation_period_start_date"].clone();
                let e = r["observation_period_end_date"].clone();
                assert!(s <= e);
                (r["person_id"].clone(), (s, e))
            })
            .collect();
        for (table, date_col) in [
            ("visit_occurrence", "visit_start_date"),
            ("condition_occurrence", "condition_start_date"),
            ("drug_exposure", "drug_exposure_start_date"),
            ("measurement", "measurement_date"),
        ] {
            let (_, rows) = read_table(&root, table);
            for r in rows {
                let (s, e) = &span[&r["person_id"]];
                assert!(&r[date_col] >= s && &r[date_col] <= e, "{table}: {r:?}");
            }
        }
    }

    #[test]
    fn codes_well_formed() {
        let (dir, _) = gen_into(300, 5);
        let root = dir.0.join("ds");
        let (_, persons) = read_table(&root, "person");
        for r in &persons {
            let pref: u32 = r["prefecture_code"].parse().unwrap();
            assert!((1..=47).contains(&pref) && r["prefecture_code"].len() == 2);
            let yob: i32 = r["year_of_birth"].parse().unwrap();
            assert!((1925..=2024).contains(&yob));
            match r["gender_source_value"].as_str() {
                "1" => assert_eq!(r["gender_concept_id"], "8507"),
                "2" => assert_eq!(r["gender_concept_id"], "8532"),
                other => panic!("sex {other}"),
            }
        }
        let (_, drugs) = read_table(&root, "drug_exposure");
        for r in &drugs {
            assert_eq!(r["drug_source_value"].len(), 12);
            assert_eq!(r["drug_source_vocabulary"], "YJ");
            assert!(r["days_supply"].parse::<u32>().unwrap() > 0);
            assert!(r["quantity"].parse::<f64>().unwrap() > 0.0);
        }
        let (_, meas) = read_table(&root, "measurement");
        for r in &meas {
            assert_eq!(r["measurement_source_value"].len(), 17);
            assert_eq!(r["measurement_source_vocabulary"], "JLAC10");
            assert!(r["value_as_number"].parse::<f64>().unwrap() > 0.0);
        }
        assert!(
            meas.iter()
                .any(|r| r["measurement_source_value"] == HBA1C_CODE)
        );
        let (_, visits) = read_table(&root, "visit_occurrence");
        for r in &visits {
            match r["visit_source_value"].as_str() {
                "outpatient" => assert_eq!(r["visit_concept_id"], "9202"),
                "inpatient" => assert_eq!(r["visit_concept_id"], "9201"),
                other => panic!("visit {other}"),
            }
        }
        let (_, conds) = read_table(&root, "condition_occurrence");
        for r in &conds {
            assert_eq!(r["condition_source_vocabulary"], "ICD10");
            r["condition_concept_id"].parse::<u32>().unwrap();
        }
    }

    #[test]
    fn hba1c_higher_in_diabetics() {
        let (dir, _) = gen_into(1500, 6);
        let root = dir.0.join("ds");
        let (_, conds) = read_table(&root, "condition_occurrence");
        let diabetic: BTreeSet<String> = conds
            .iter()
            .filter(|r| r["condition_source_value"].starts_with("E11"))
            .map(|r| r["person_id"].clone())
            .collect();
        let (_, meas) = read_table(&root, "measurement");
        let (mut dm, mut other) = (Vec::new(), Vec::new());
        for r in meas
            .iter()
            .filter(|r| r["measurement_source_value"] == HBA1C_CODE)
        {
            let v: f64 = r["value_as_number"].parse().unwrap();
            assert!((4.0..=14.0).contains(&v));
            if diabetic.contains(&r["person_id"]) {
                dm.push(v)
            } else {
                other.push(v)
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assert!(
            dm.len() > 20 && other.len() > 20,
            "{} {}",
            dm.len(),
            other.len()
        );
        let (m_dm, m_other) = (mean(&dm), mean(&other));
        assert!(m_dm > m_other + 1.0, "{m_dm} vs {m_other}");
        assert!((6.7..7.8).contains(&m_dm), "{m_dm}");
        assert!((5.3..5.9).contains(&m_other), "{m_other}");
    }

    #[test]
    fn plausible_population() {
        let (dir, _) = gen_into(4000, 9);
        let root = dir.0.join("ds");
        let (_, persons) = read_table(&root, "person");
        let n = persons.len() as f64;
        let male = persons
            .iter()
            .filter(|r| r["gender_source_value"] == "1")
            .count() as f64
            / n;
        assert!((0.45..0.52).contains(&male), "male share {male}");
        let tokyo = persons
            .iter()
            .filter(|r| r["prefecture_code"] == "13")
            .count() as f64
            / n;
        assert!((0.09..0.14).contains(&tokyo), "Tokyo share {tokyo}");
        let adults: BTreeSet<&str> = persons
            .iter()
            .filter(|r| REF_YEAR - r["year_of_birth"].parse::<i32>().unwrap() >= 20)
            .map(|r| r["person_id"].as_str())
            .collect();
        let (_, conds) = read_table(&root, "condition_occurrence");
        let with = |prefix: &str| {
            conds
                .iter()
                .filter(|r| {
                    r["condition_source_value"].starts_with(prefix)
                        && adults.contains(r["person_id"].as_str())
                })
                .map(|r| r["person_id"].as_str())
                .collect::<BTreeSet<_>>()
                .len() as f64
                / adults.len() as f64
        };
        let (dm, htn) = (with("E11"), with("I10"));
        assert!((0.07..0.13).contains(&dm), "diabetes {dm}");
        assert!((0.20..0.30).contains(&htn), "hypertension {htn}");
        let (_, meas) = read_table(&root, "measurement");
        let tested: BTreeSet<&str> = meas
            .iter()
            .filter(|r| r["measurement_source_value"] == HBA1C_CODE)
            .map(|r| r["person_id"].as_str())
            .collect();
        let tested = tested.len() as f64 / adults.len() as f64;
        assert!((0.33..0.47).contains(&tested), "HbA1c tested {tested}");
    }

    #[test]
    fn refuses_non_empty_directory() {
        let dir = TempDir::new();
        fs::create_dir_all(&dir.0).unwrap();
        fs::write(dir.0.join("x"), b"x").unwrap();
        let err = generate(&dir.0, &spec(10, 1)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        // An existing empty directory is fine.
        let empty = dir.0.join("empty");
        fs::create_dir(&empty).unwrap();
        generate(&empty, &spec(10, 1)).unwrap();
    }

    #[test]
    fn dates_round_trip() {
        for z in [-1, 0, 1, 16_526, 20_178, days_from_civil(2024, 2, 29)] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(Date(days_from_civil(2015, 4, 1)).to_string(), "2015-04-01");
        assert_eq!(Date(days_from_civil(2024, 2, 29)).to_string(), "2024-02-29");
    }
}
