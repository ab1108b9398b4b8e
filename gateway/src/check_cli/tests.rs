//! Folder reading (links, special files, caps, names) and rule loading.

use std::os::unix::ffi::OsStrExt;

use super::*;

fn folder(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, bytes) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write");
    }
    dir
}

fn read_error(dir: &Path, cap: u64) -> String {
    match read_output_dir(dir, cap) {
        Ok(files) => panic!("expected an error, read {:?}", files.keys()),
        Err(error) => error.to_string(),
    }
}

#[test]
fn reads_nested_files_by_relative_name() {
    let dir = folder(&[("a.csv", b"x,n\n"), ("sub/deeper/b.txt", b"hi")]);
    let files = read_output_dir(dir.path(), 10).expect("read");
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, ["a.csv", "sub/deeper/b.txt"]);
    assert_eq!(files["sub/deeper/b.txt"], b"hi");
}

#[test]
fn refuses_symlinks_even_to_regular_files() {
    let dir = folder(&[("a.csv", b"x,n\n")]);
    std::os::unix::fs::symlink(dir.path().join("a.csv"), dir.path().join("b.csv")).expect("ln");
    let error = read_error(dir.path(), 100);
    assert!(
        error
            .ends_with("b.csv: is a symbolic link; links are never followed, copy the file itself"),
        "{error}"
    );
}

#[test]
fn refuses_special_files() {
    let dir = folder(&[]);
    let _socket =
        std::os::unix::net::UnixListener::bind(dir.path().join("s.sock")).expect("bind socket");
    let error = read_error(dir.path(), 100);
    assert!(error.contains("s.sock: not a regular file"), "{error}");
}

#[test]
fn refuses_files_above_the_cap_naming_them() {
    let dir = folder(&[("small.csv", b"12345"), ("big.csv", b"123456")]);
    assert!(read_output_dir(dir.path(), 6).is_ok());
    let error = read_error(dir.path(), 5);
    assert!(
        error.ends_with("big.csv: larger than the limit of 5 bytes per file (--max-file-bytes)"),
        "{error}"
    );
}

#[test]
fn refuses_names_that_are_not_utf8() {
    let dir = folder(&[]);
    let name = std::ffi::OsStr::from_bytes(b"bad\xff.csv");
    std::fs::write(dir.path().join(name), b"x").expect("write");
    let error = read_error(dir.path(), 100);
    assert!(error.contains("the name is not UTF-8"), "{error}");
}

#[test]
fn refuses_a_missing_folder_or_a_file() {
    let dir = folder(&[("a.csv", b"x")]);
    let missing = read_error(&dir.path().join("nope"), 100);
    assert!(missing.contains("nope: cannot read"), "{missing}");
    let file = read_error(&dir.path().join("a.csv"), 100);
    assert!(file.ends_with("a.csv: not a folder"), "{file}");
}

#[test]
fn loads_presets_and_rules_files_with_lines() {
    assert_eq!(load_rules("acro").expect("preset"), Preset::Acro.rules());
    let dir = folder(&[
        ("ok.toml", b"preset = \"ndb\"\nthreshold = 20\n"),
        ("bad.toml", b"preset = \"ndb\"\n\nthreshold = -3\n"),
        ("binary.toml", b"\xff\xfe"),
    ]);
    let path = |name: &str| dir.path().join(name).display().to_string();
    let ok = load_rules(&path("ok.toml")).expect("rules file");
    assert_eq!(ok.threshold, 20);
    assert_eq!(ok.name, "ndb-custom");
    let bad = load_rules(&path("bad.toml")).expect_err("negative threshold");
    assert!(bad.to_string().contains("bad.toml line 3:"), "{bad}");
    let binary = load_rules(&path("binary.toml")).expect_err("not text");
    assert!(binary.to_string().contains("not UTF-8"), "{binary}");
    let unknown = load_rules("strict").expect_err("no such preset or file");
    assert!(
        unknown
            .to_string()
            .contains("neither a preset (ndb, acro, opensafely) nor a readable rules file"),
        "{unknown}"
    );
}

#[test]
fn the_text_report_names_failing_cells_and_the_suggestion() {
    let dir = folder(&[
        (
            "manifest.json",
            br#"{"version":1,"outputs":[{"file":"t.csv","kind":"frequency_table","dimensions":["g"],"count":"n"}]}"#,
        ),
        ("t.csv", b"g,n\na,3\nb,40\nc,52\nTotal,95\n"),
    ]);
    let args = CheckOutputArgs {
        rules: "ndb".into(),
        dir: dir.path().to_owned(),
        json: false,
        write_suggested: None,
        max_file_bytes: DEFAULT_MAX_FILE_BYTES,
    };
    let record = check_dir(&args).expect("checked");
    let report = text::render(&record, None);
    assert!(report.contains("overall: FAIL"), "{report}");
    assert!(
        report.contains("FAIL    t.csv (frequency_table)"),
        "{report}"
    );
    assert!(report.contains("g=a = 3: fail"), "{report}");
    assert!(report.contains("fail threshold:"), "{report}");
    assert!(
        report.contains(
            "suggested safe version: t.suggested.csv (write it with --write-suggested DIR)"
        ),
        "{report}"
    );
    let out = dir.path().join("suggested");
    write_suggested(&record, &out).expect("write");
    let suggested = std::fs::read_to_string(out.join("t.suggested.csv")).expect("suggested");
    assert!(suggested.contains("a,[REDACTED]"), "{suggested}");
}
