#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::os::unix::fs::symlink;

use super::*;

fn check_name(rel_path: &str, expected: Result<&str, &str>) {
    let actual = safe_name(Path::new(rel_path));
    assert_eq!(
        actual.as_ref().map(String::as_str),
        expected.as_ref().map(|name| *name),
        "{rel_path:?}"
    );
}

#[test]
fn names() {
    check_name("table.csv", Ok("table.csv"));
    check_name("figures/fig 1.png", Ok("figures/fig 1.png"));
    check_name("a//b", Ok("a/b"));
    check_name("../escape", Err("not a plain relative path"));
    check_name("/abs", Err("not a plain relative path"));
    check_name("a/./b", Ok("a/b"));
    check_name("", Err("empty name"));
    check_name("tab\there", Err("contains control characters"));
    check_name("nul\u{0}", Err("contains control characters"));
    check_name("esc\u{1b}[31m", Err("contains control characters"));
    check_name("c1\u{85}", Err("contains control characters"));
    check_name("日本語.csv", Ok("日本語.csv"));
    check_name(&"x".repeat(200), Ok(&"x".repeat(200)));
    check_name(&"x".repeat(201), Err("longer than 200 bytes"));
}

#[test]
fn non_utf8_names_are_unsafe() {
    use std::os::unix::ffi::OsStrExt;
    let name = Path::new(OsStr::from_bytes(b"bad\xff.csv"));
    assert_eq!(safe_name(name), Err("not valid UTF-8"));
}

fn limits(out_bytes: u64, out_files: u32) -> SandboxLimits {
    SandboxLimits {
        out_bytes,
        out_files,
        ..SandboxLimits::default()
    }
}

#[test]
fn measure_counts_entries_and_bytes_without_following_links() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("huge"), vec![0u8; 10_000]).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/a.csv"), "12345").unwrap();
    std::fs::write(dir.path().join("b.csv"), "123").unwrap();
    symlink(outside.path(), dir.path().join("link-dir")).unwrap();

    let tally = measure(dir.path(), &limits(1_000, 10)).unwrap();
    assert_eq!(tally.entries, 4);
    assert_eq!(tally.exceeded, None);
    // The link's own size (its target's length) counts; the target's contents do not.
    let link_len = u64::try_from(outside.path().as_os_str().len()).unwrap();
    assert_eq!(tally.bytes, 8 + link_len);

    assert_eq!(
        measure(dir.path(), &limits(1_000, 3)).unwrap().exceeded,
        Some(Limit::OutputFiles)
    );
    assert_eq!(
        measure(dir.path(), &limits(4, 10)).unwrap().exceeded,
        Some(Limit::OutputBytes)
    );
}

#[test]
fn collect_hashes_files_and_rejects_everything_else() {
    let dir = tempfile::tempdir().unwrap();
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "secret").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/a.csv"), "a").unwrap();
    symlink(secret.path(), dir.path().join("leak")).unwrap();
    symlink(dir.path().join("sub"), dir.path().join("dir-link")).unwrap();
    std::fs::create_dir(dir.path().join("bad\nname")).unwrap();
    std::fs::write(dir.path().join("bad\nname/hidden.csv"), "h").unwrap();
    let fifo = dir.path().join("pipe");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());

    let collected = collect(dir.path()).unwrap();
    assert_eq!(collected.outputs.len(), 1);
    let output = &collected.outputs[0];
    assert_eq!(output.name, "sub/a.csv");
    assert_eq!(output.size, 1);
    assert_eq!(output.sha256, hex::encode(Sha256::digest(b"a")));
    assert_eq!(output.host_path, dir.path().join("sub/a.csv"));
    let rejected: Vec<_> = collected
        .rejected
        .iter()
        .map(|entry| (entry.name.as_str(), entry.reason.as_str()))
        .collect();
    assert_eq!(
        rejected,
        [
            ("bad\nname", "unsafe name: contains control characters"),
            ("dir-link", "symbolic link is not a regular file"),
            ("leak", "symbolic link is not a regular file"),
            ("pipe", "fifo is not a regular file"),
        ]
    );
}
