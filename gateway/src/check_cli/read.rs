//! Reading an output folder into the checker's file map (relative name → bytes).
//!
//! The folder is untrusted input: symbolic links and special files are refused, never
//! followed or opened; sizes are capped per file and in all; names must be UTF-8. Names
//! are relative paths with `/` separators, as the sandbox names a job's outputs.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// Most files the checker reads from one folder.
pub const MAX_FILES: usize = 10_000;

/// Most bytes the checker reads from one folder, all files together.
pub const MAX_TOTAL_BYTES: u64 = 1 << 30;

/// Deepest folder nesting read.
const MAX_DEPTH: usize = 16;

/// Why a folder could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The operating system refused (missing folder, permissions, ...).
    #[error("{path}: cannot read: {message}")]
    Io {
        /// The path.
        path: String,
        /// The system's message.
        message: String,
    },
    /// `--dir` is not a folder.
    #[error("{path}: not a folder")]
    NotAFolder {
        /// The path.
        path: String,
    },
    /// A symbolic link inside the folder.
    #[error("{path}: is a symbolic link; links are never followed, copy the file itself")]
    Symlink {
        /// The path.
        path: String,
    },
    /// A device, socket or pipe inside the folder.
    #[error("{path}: not a regular file (device, socket or pipe)")]
    Special {
        /// The path.
        path: String,
    },
    /// A file or folder name that is not UTF-8.
    #[error("{path}: the name is not UTF-8")]
    NameNotUtf8 {
        /// The path (lossy).
        path: String,
    },
    /// A file above the per-file cap.
    #[error("{path}: larger than the limit of {limit} bytes per file (--max-file-bytes)")]
    TooLarge {
        /// The path.
        path: String,
        /// The cap.
        limit: u64,
    },
    /// The files together exceed [`MAX_TOTAL_BYTES`].
    #[error("{path}: the folder holds more than {MAX_TOTAL_BYTES} bytes of files")]
    TotalTooLarge {
        /// The folder.
        path: String,
    },
    /// More than [`MAX_FILES`] files.
    #[error("{path}: the folder holds more than {MAX_FILES} files")]
    TooMany {
        /// The folder.
        path: String,
    },
    /// Folders nested too deep.
    #[error("{path}: folders nested deeper than {MAX_DEPTH} levels")]
    TooDeep {
        /// The folder.
        path: String,
    },
}

/// Reads every regular file under `dir` (recursively) into a map keyed by relative name.
///
/// # Errors
/// [`ReadError`] naming the offending path.
pub fn read_output_dir(
    dir: &Path,
    max_file_bytes: u64,
) -> Result<BTreeMap<String, Vec<u8>>, ReadError> {
    let shown = dir.display().to_string();
    // The folder itself was named by the user: it may be a link to a folder.
    let meta = std::fs::metadata(dir).map_err(|e| io(&shown, &e))?;
    if !meta.is_dir() {
        return Err(ReadError::NotAFolder { path: shown });
    }
    let mut walk = Walk {
        root: shown,
        max_file_bytes,
        total: 0,
        files: BTreeMap::new(),
    };
    walk.folder(dir, "", 0)?;
    Ok(walk.files)
}

struct Walk {
    root: String,
    max_file_bytes: u64,
    total: u64,
    files: BTreeMap<String, Vec<u8>>,
}

impl Walk {
    fn folder(&mut self, dir: &Path, prefix: &str, depth: usize) -> Result<(), ReadError> {
        let shown = dir.display().to_string();
        if depth > MAX_DEPTH {
            return Err(ReadError::TooDeep { path: shown });
        }
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| io(&shown, &e))? {
            entries.push(entry.map_err(|e| io(&shown, &e))?);
        }
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let path = entry.path();
            let shown = path.display().to_string();
            let Ok(name) = entry.file_name().into_string() else {
                return Err(ReadError::NameNotUtf8 { path: shown });
            };
            let relative = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            // symlink_metadata: the entry itself, never what a link points to.
            let meta = std::fs::symlink_metadata(&path).map_err(|e| io(&shown, &e))?;
            let kind = meta.file_type();
            if kind.is_symlink() {
                return Err(ReadError::Symlink { path: shown });
            }
            if kind.is_dir() {
                self.folder(&path, &relative, depth + 1)?;
                continue;
            }
            if !kind.is_file() {
                return Err(ReadError::Special { path: shown });
            }
            if self.files.len() >= MAX_FILES {
                return Err(ReadError::TooMany {
                    path: self.root.clone(),
                });
            }
            let bytes = self.file(&path, meta.len())?;
            self.total = self.total.saturating_add(bytes.len() as u64);
            if self.total > MAX_TOTAL_BYTES {
                return Err(ReadError::TotalTooLarge {
                    path: self.root.clone(),
                });
            }
            self.files.insert(relative, bytes);
        }
        Ok(())
    }

    /// Reads one regular file, never more than the cap even if it grows meanwhile.
    fn file(&self, path: &Path, size: u64) -> Result<Vec<u8>, ReadError> {
        let shown = path.display().to_string();
        let too_large = || ReadError::TooLarge {
            path: shown.clone(),
            limit: self.max_file_bytes,
        };
        if size > self.max_file_bytes {
            return Err(too_large());
        }
        let file = std::fs::File::open(path).map_err(|e| io(&shown, &e))?;
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.take(self.max_file_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| io(&shown, &e))?;
        if bytes.len() as u64 > self.max_file_bytes {
            return Err(too_large());
        }
        Ok(bytes)
    }
}

fn io(path: &str, error: &std::io::Error) -> ReadError {
    ReadError::Io {
        path: path.to_owned(),
        message: error.to_string(),
    }
}
