//! The host side of `/out`: measuring it against the quota and collecting output candidates.
//!
//! Everything under `/out` was written by an untrusted guest. The walk goes through directory
//! handles (`openat`-style, via cap-primitives) rather than paths, never follows a symbolic
//! link, and opens only entries that are regular files with safe names. It never writes to,
//! renames or deletes anything.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use cap_primitives::fs::{
    FileType, FileTypeExt, FollowSymlinks, Metadata, OpenOptions, open, open_ambient_dir,
    open_dir_nofollow, read_base_dir,
};
use sha2::{Digest, Sha256};

use crate::{Limit, OutputFile, RejectedOutput, SandboxLimits};

/// Longest accepted output name (relative path, in bytes).
const MAX_NAME_BYTES: usize = 200;

/// The size of `/out` as measured so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Entries of any kind, directories included.
    pub(crate) entries: u64,
    /// Sum of the apparent sizes of all entries that are not directories.
    pub(crate) bytes: u64,
    /// The first quota found exceeded; the walk stops there.
    pub(crate) exceeded: Option<Limit>,
}

/// Output candidates found under `/out`.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    pub(crate) outputs: Vec<OutputFile>,
    pub(crate) rejected: Vec<RejectedOutput>,
}

/// Measures `/out` against the quota, stopping at the first limit exceeded. The work done is
/// bounded by `limits.out_files`.
pub(crate) fn measure(out_dir: &Path, limits: &SandboxLimits) -> io::Result<Tally> {
    measure_within(out_dir, limits.out_files, limits.out_bytes)
}

/// Measures the tree under `dir` against `max_entries` and `max_bytes`, as [`measure`].
pub(crate) fn measure_within(dir: &Path, max_entries: u32, max_bytes: u64) -> io::Result<Tally> {
    let mut tally = Tally::default();
    walk(dir, |entry| {
        tally.entries = tally.entries.saturating_add(1);
        if tally.entries > u64::from(max_entries) {
            tally.exceeded = Some(Limit::OutputFiles);
            return Ok(Visit::Stop);
        }
        if entry.metadata.is_dir() {
            return Ok(Visit::Descend);
        }
        tally.bytes = tally.bytes.saturating_add(entry.metadata.len());
        if tally.bytes > max_bytes {
            tally.exceeded = Some(Limit::OutputBytes);
            return Ok(Visit::Stop);
        }
        Ok(Visit::Next)
    })?;
    Ok(tally)
}

/// Collects the regular files under `/out` with their sizes and hashes; everything else is
/// rejected with a reason and never opened. Call only after [`measure`] found the quota kept,
/// which bounds the walk.
pub(crate) fn collect(out_dir: &Path) -> io::Result<Collected> {
    let mut collected = Collected::default();
    walk(out_dir, |entry| {
        let name = match safe_name(entry.rel_path) {
            Ok(name) => name,
            Err(reason) => {
                collected.rejected.push(RejectedOutput {
                    name: entry.rel_path.to_string_lossy().into_owned(),
                    reason: format!("unsafe name: {reason}"),
                });
                return Ok(Visit::Next);
            }
        };
        let file_type = entry.metadata.file_type();
        if file_type.is_dir() {
            return Ok(Visit::Descend);
        }
        if !file_type.is_file() {
            collected.rejected.push(RejectedOutput {
                name,
                reason: format!("{} is not a regular file", kind(file_type)),
            });
            return Ok(Visit::Next);
        }
        match hash_file(entry.dir, entry.file_name) {
            Ok((size, sha256)) => collected.outputs.push(OutputFile {
                host_path: out_dir.join(entry.rel_path),
                name,
                size,
                sha256,
            }),
            Err(reason) => collected.rejected.push(RejectedOutput { name, reason }),
        }
        Ok(Visit::Next)
    })?;
    collected.outputs.sort_by(|a, b| a.name.cmp(&b.name));
    collected.rejected.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(collected)
}

/// Turns a relative path into an output name, or says why it is unsafe.
pub(crate) fn safe_name(rel_path: &Path) -> Result<String, &'static str> {
    let mut name = String::new();
    for component in rel_path.components() {
        let Component::Normal(part) = component else {
            return Err("not a plain relative path");
        };
        let part = part.to_str().ok_or("not valid UTF-8")?;
        if part.is_empty() || part == "." || part == ".." {
            return Err("empty or dot component");
        }
        if part.chars().any(char::is_control) {
            return Err("contains control characters");
        }
        if !name.is_empty() {
            name.push('/');
        }
        name.push_str(part);
    }
    if name.is_empty() {
        return Err("empty name");
    }
    if name.len() > MAX_NAME_BYTES {
        return Err("longer than 200 bytes");
    }
    Ok(name)
}

/// What the walk does after visiting an entry.
enum Visit {
    /// Go into this directory (ignored for anything else).
    Descend,
    /// Carry on with the next entry.
    Next,
    /// End the walk.
    Stop,
}

/// One entry seen by [`walk`].
struct Entry<'a> {
    dir: &'a File,
    file_name: &'a OsStr,
    rel_path: &'a Path,
    metadata: &'a Metadata,
}

/// A directory waiting to be read: opened lazily from its parent's handle, so open handles
/// stay bounded by the depth of the tree rather than its width.
struct Pending {
    parent: Rc<File>,
    file_name: OsString,
    rel_path: PathBuf,
}

/// Walks `root` depth-first through directory handles. Symbolic links are reported, never
/// followed; entries that vanish during the walk are skipped.
fn walk(root: &Path, mut visit: impl FnMut(Entry<'_>) -> io::Result<Visit>) -> io::Result<()> {
    let root_dir = open_ambient_dir(root, cap_primitives::ambient_authority())?;
    let mut stack = vec![(Rc::new(root_dir), PathBuf::new())];
    let mut pending: Vec<Pending> = Vec::new();
    loop {
        while let Some((dir, rel_dir)) = stack.pop() {
            for entry in read_base_dir(&dir)? {
                let entry = entry?;
                let file_name = entry.file_name();
                let metadata = match entry.metadata() {
                    Ok(metadata) => metadata,
                    Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                    Err(error) => return Err(error),
                };
                let rel_path = rel_dir.join(&file_name);
                let step = visit(Entry {
                    dir: &dir,
                    file_name: &file_name,
                    rel_path: &rel_path,
                    metadata: &metadata,
                })?;
                match step {
                    Visit::Stop => return Ok(()),
                    Visit::Next => {}
                    Visit::Descend if metadata.is_dir() => pending.push(Pending {
                        parent: Rc::clone(&dir),
                        file_name,
                        rel_path,
                    }),
                    Visit::Descend => {}
                }
            }
        }
        let Some(next) = pending.pop() else {
            return Ok(());
        };
        match open_dir_nofollow(&next.parent, Path::new(&next.file_name)) {
            Ok(dir) => stack.push((Rc::new(dir), next.rel_path)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
    }
}

/// Opens `file_name` in `dir` without following links and returns its size and SHA-256.
fn hash_file(dir: &File, file_name: &OsStr) -> Result<(u64, String), String> {
    let mut options = OpenOptions::new();
    options.read(true);
    // `_cap_fs_ext_follow` is what `cap_fs_ext::OpenOptionsFollowExt::follow` calls; using it
    // directly spares a dependency. With `No`, a symbolic link fails to open (O_NOFOLLOW).
    options._cap_fs_ext_follow(FollowSymlinks::No);
    let mut file =
        open(dir, Path::new(file_name), &options).map_err(|_| "cannot be opened".to_owned())?;
    let is_file = file
        .metadata()
        .map(|metadata| metadata.is_file())
        .unwrap_or(false);
    if !is_file {
        return Err("changed while being collected".to_owned());
    }
    let mut hasher = Sha256::new();
    let size = io::copy(&mut file, &mut hasher).map_err(|_| "cannot be read".to_owned())?;
    Ok((size, hex::encode(hasher.finalize())))
}

fn kind(file_type: FileType) -> &'static str {
    if file_type.is_symlink() {
        "symbolic link"
    } else if file_type.is_fifo() {
        "fifo"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "device"
    } else {
        "entry"
    }
}

#[cfg(test)]
mod tests;
