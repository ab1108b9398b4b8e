//! The data-access record of a WASI preview 1 job: which files under `/data` it opened and
//! how many bytes it read from each.
//!
//! wasmtime-wasi offers no hook for this, so the five preview 1 functions that open, read,
//! renumber and close descriptors are shadowed in the job linker by wrappers that call
//! wasmtime-wasi's own implementation (the same wiggle entry points its linker uses) and
//! observe arguments and results. Descriptors derived from the `/data` preopen are followed
//! by number; reads through them are counted from the `nread` result the guest receives.
//! The record is bookkeeping only: it never changes what a call does or returns.

use std::collections::{BTreeMap, HashMap};

use wasmtime::{AsContextMut, Caller, Extern, Linker};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p1::wasi_snapshot_preview1 as p1;
use wasmtime_wasi::p1::wasi_snapshot_preview1::WasiSnapshotPreview1 as _;

use crate::DataAccess;
use crate::run::JobState;

const MODULE: &str = "wasi_snapshot_preview1";
/// The guest descriptor of the `/data` preopen: the first preopen, which `wasi.rs` makes
/// `/data` whenever a data directory is mounted.
pub(crate) const DATA_PREOPEN_FD: i32 = 3;
/// `oflags` bit asking `path_open` for a directory.
const OFLAGS_DIRECTORY: i32 = 2;

/// Descriptors under `/data` and what was read through them.
#[derive(Default)]
pub(crate) struct AccessLog {
    /// Open descriptors under `/data` and the guest path each names.
    handles: HashMap<i32, String>,
    /// Files opened, by guest path.
    files: BTreeMap<String, DataAccess>,
}

impl AccessLog {
    /// A log following the `/data` preopen, or nothing when no data is mounted.
    pub(crate) fn new(data_mounted: bool) -> Self {
        let mut log = Self::default();
        if data_mounted {
            log.handles.insert(DATA_PREOPEN_FD, "/data".to_owned());
        }
        log
    }

    /// The record, sorted by path.
    pub(crate) fn into_record(self) -> Vec<DataAccess> {
        self.files.into_values().collect()
    }

    fn opened(&mut self, parent: i32, relative: &[u8], oflags: i32, new_fd: i32) {
        let Some(base) = self.handles.get(&parent) else {
            // A descriptor number may be reused for a file outside `/data`.
            self.handles.remove(&new_fd);
            return;
        };
        let path = join(base, &String::from_utf8_lossy(relative));
        if oflags & OFLAGS_DIRECTORY == 0 {
            let entry = self
                .files
                .entry(path.clone())
                .or_insert_with(|| DataAccess {
                    path: path.clone(),
                    opens: 0,
                    bytes_read: 0,
                });
            entry.opens = entry.opens.saturating_add(1);
        }
        self.handles.insert(new_fd, path);
    }

    fn read(&mut self, fd: i32, bytes: u32) {
        if let Some(path) = self.handles.get(&fd)
            && let Some(entry) = self.files.get_mut(path)
        {
            entry.bytes_read = entry.bytes_read.saturating_add(u64::from(bytes));
        }
    }
}

/// Replaces the open, read, renumber and close functions of `linker` (which already holds
/// wasmtime-wasi's preview 1) with recording wrappers.
pub(crate) fn shadow(linker: &mut Linker<JobState<WasiP1Ctx>>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.func_wrap_async(
        MODULE,
        "path_open",
        |mut caller: Caller<'_, JobState<WasiP1Ctx>>,
         (fd, dirflags, path, path_len, oflags, base, inheriting, fdflags, out): (
            i32,
            i32,
            i32,
            i32,
            i32,
            i64,
            i64,
            i32,
            i32,
        )| {
            Box::new(async move {
                let fuel = caller.as_context_mut().hostcall_fuel();
                let memory = guest_memory(&mut caller)?;
                let (bytes, state) = memory.data_and_store_mut(&mut caller);
                state.wasi.set_hostcall_fuel(fuel);
                let errno = p1::path_open(
                    &mut state.wasi,
                    &mut wiggle::GuestMemory::Unshared(bytes),
                    fd,
                    dirflags,
                    path,
                    path_len,
                    oflags,
                    base,
                    inheriting,
                    fdflags,
                    out,
                )
                .await?;
                if errno == 0 {
                    let relative = slice(bytes, path, path_len).unwrap_or_default();
                    if let Some(new_fd) = load_u32(bytes, out) {
                        let new_fd = i32::try_from(new_fd).unwrap_or(-1);
                        state.access.opened(fd, relative, oflags, new_fd);
                    }
                }
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_read",
        |mut caller: Caller<'_, JobState<WasiP1Ctx>>,
         (fd, iovs, iovs_len, nread): (i32, i32, i32, i32)| {
            Box::new(async move {
                let fuel = caller.as_context_mut().hostcall_fuel();
                let memory = guest_memory(&mut caller)?;
                let (bytes, state) = memory.data_and_store_mut(&mut caller);
                state.wasi.set_hostcall_fuel(fuel);
                let mut guest = wiggle::GuestMemory::Unshared(bytes);
                let errno =
                    p1::fd_read(&mut state.wasi, &mut guest, fd, iovs, iovs_len, nread).await?;
                if errno == 0
                    && let Some(count) = load_u32(bytes, nread)
                {
                    state.access.read(fd, count);
                }
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_pread",
        |mut caller: Caller<'_, JobState<WasiP1Ctx>>,
         (fd, iovs, iovs_len, offset, nread): (i32, i32, i32, i64, i32)| {
            Box::new(async move {
                let fuel = caller.as_context_mut().hostcall_fuel();
                let memory = guest_memory(&mut caller)?;
                let (bytes, state) = memory.data_and_store_mut(&mut caller);
                state.wasi.set_hostcall_fuel(fuel);
                let mut guest = wiggle::GuestMemory::Unshared(bytes);
                let errno = p1::fd_pread(
                    &mut state.wasi,
                    &mut guest,
                    fd,
                    iovs,
                    iovs_len,
                    offset,
                    nread,
                )
                .await?;
                if errno == 0
                    && let Some(count) = load_u32(bytes, nread)
                {
                    state.access.read(fd, count);
                }
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_close",
        |mut caller: Caller<'_, JobState<WasiP1Ctx>>, (fd,): (i32,)| {
            Box::new(async move {
                let fuel = caller.as_context_mut().hostcall_fuel();
                let memory = guest_memory(&mut caller)?;
                let (bytes, state) = memory.data_and_store_mut(&mut caller);
                state.wasi.set_hostcall_fuel(fuel);
                let mut guest = wiggle::GuestMemory::Unshared(bytes);
                let errno = p1::fd_close(&mut state.wasi, &mut guest, fd).await?;
                if errno == 0 {
                    state.access.handles.remove(&fd);
                }
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_renumber",
        |mut caller: Caller<'_, JobState<WasiP1Ctx>>, (from, to): (i32, i32)| {
            Box::new(async move {
                let fuel = caller.as_context_mut().hostcall_fuel();
                let memory = guest_memory(&mut caller)?;
                let (bytes, state) = memory.data_and_store_mut(&mut caller);
                state.wasi.set_hostcall_fuel(fuel);
                let mut guest = wiggle::GuestMemory::Unshared(bytes);
                let errno = p1::fd_renumber(&mut state.wasi, &mut guest, from, to).await?;
                if errno == 0 {
                    let moved = state.access.handles.remove(&from);
                    state.access.handles.remove(&to);
                    if let Some(path) = moved {
                        state.access.handles.insert(to, path);
                    }
                }
                Ok(errno)
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The guest's exported memory, as wasmtime-wasi's own preview 1 functions require it.
pub(crate) fn guest_memory(
    caller: &mut Caller<'_, JobState<WasiP1Ctx>>,
) -> wasmtime::Result<wasmtime::Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => Err(wasmtime::format_err!("missing required memory export")),
    }
}

fn slice(bytes: &[u8], ptr: i32, len: i32) -> Option<&[u8]> {
    let start = usize::try_from(u32::try_from(ptr).ok()?).ok()?;
    let len = usize::try_from(u32::try_from(len).ok()?).ok()?;
    bytes.get(start..start.checked_add(len)?)
}

fn load_u32(bytes: &[u8], ptr: i32) -> Option<u32> {
    let word: [u8; 4] = slice(bytes, ptr, 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(word))
}

/// `base` joined with a guest-relative path, with `.` and `..` resolved lexically (the
/// filesystem layer already refused anything escaping the preopen).
pub(crate) fn join(base: &str, relative: &str) -> String {
    let mut parts: Vec<&str> = base.split('/').filter(|part| !part.is_empty()).collect();
    for part in relative.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.len() > 1 {
                    parts.pop();
                }
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_joined_lexically_and_stay_under_data() {
        assert_eq!(
            join("/data", "person/person.csv"),
            "/data/person/person.csv"
        );
        assert_eq!(
            join("/data/person", "./../visit//v.csv"),
            "/data/visit/v.csv"
        );
        assert_eq!(join("/data", "../../x"), "/data/x");
        assert_eq!(join("/data", "."), "/data");
    }

    #[test]
    fn reads_are_counted_per_file_and_reused_descriptors_are_forgotten() {
        let mut log = AccessLog::new(true);
        log.opened(DATA_PREOPEN_FD, b"person", OFLAGS_DIRECTORY, 4);
        log.opened(4, b"person.csv", 0, 5);
        log.read(5, 100);
        log.read(5, 20);
        log.read(4, 7);
        log.opened(6, b"elsewhere.csv", 0, 5);
        log.read(5, 1000);
        let record = log.into_record();
        assert_eq!(
            record,
            vec![DataAccess {
                path: "/data/person/person.csv".into(),
                opens: 1,
                bytes_read: 120
            }]
        );
    }
}
