//! `poll_oneoff` for preview 1 jobs, so that file I/O may run on the job's own thread.
//!
//! wasmtime-wasi serves file reads through tokio's blocking pool unless the context allows
//! blocking the current thread, which costs a thread hand-off per `fd_read` (a CSV scan made
//! of 1 KiB reads ran 14x slower than native). Allowing it has one hazard: a lone relative
//! clock subscription in `poll_oneoff` (a plain `sleep`) is then served with
//! `std::thread::sleep`, which no timeout can interrupt. This wrapper serves exactly that
//! case with a tokio sleep, which the run's wall-time timeout does cut, and passes every
//! other call to wasmtime-wasi unchanged.

use std::time::Duration;

use wasmtime::{AsContextMut, Caller, Linker};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p1::wasi_snapshot_preview1 as p1;
use wasmtime_wasi::p1::wasi_snapshot_preview1::WasiSnapshotPreview1 as _;

use crate::access::guest_memory;
use crate::run::JobState;

/// `errno::fault`: a pointer the guest passed is out of bounds.
const ERRNO_FAULT: i32 = 21;
/// Size of a `subscription` and an `event` in preview 1's layout.
const SUBSCRIPTION_BYTES: usize = 48;
const EVENT_BYTES: usize = 32;
/// `subscription_u` tag of a clock subscription, and `subclockflags::abstime`.
const TAG_CLOCK: u8 = 0;
const ABSTIME: u16 = 1;

/// Replaces `poll_oneoff` in `linker` (which already holds wasmtime-wasi's preview 1).
pub(crate) fn shadow(linker: &mut Linker<JobState<WasiP1Ctx>>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.func_wrap_async(
        "wasi_snapshot_preview1",
        "poll_oneoff",
        |mut caller: Caller<'_, JobState<WasiP1Ctx>>,
         (subs, events, count, nevents): (i32, i32, i32, i32)| {
            Box::new(async move {
                let memory = guest_memory(&mut caller)?;
                if count == 1
                    && let Some((userdata, timeout)) = lone_sleep(memory.data(&caller), subs)
                {
                    tokio::time::sleep(timeout).await;
                    let mut event = [0u8; EVENT_BYTES];
                    event[..8].copy_from_slice(&userdata.to_le_bytes());
                    // error 0 (success) at 8, type 0 (clock) at 10, the rest zero.
                    let written = write(&mut caller, memory, events, &event)
                        && write(&mut caller, memory, nevents, &1u32.to_le_bytes());
                    return Ok(if written { 0 } else { ERRNO_FAULT });
                }
                let fuel = caller.as_context_mut().hostcall_fuel();
                let (bytes, state) = memory.data_and_store_mut(&mut caller);
                state.wasi.set_hostcall_fuel(fuel);
                p1::poll_oneoff(
                    &mut state.wasi,
                    &mut wiggle::GuestMemory::Unshared(bytes),
                    subs,
                    events,
                    count,
                    nevents,
                )
                .await
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The userdata and timeout of a relative clock subscription at `subs`, if it is one.
fn lone_sleep(bytes: &[u8], subs: i32) -> Option<(u64, Duration)> {
    let start = usize::try_from(u32::try_from(subs).ok()?).ok()?;
    let sub = bytes.get(start..start.checked_add(SUBSCRIPTION_BYTES)?)?;
    let u64_at = |at: usize| Some(u64::from_le_bytes(sub.get(at..at + 8)?.try_into().ok()?));
    let flags = u16::from_le_bytes(sub.get(40..42)?.try_into().ok()?);
    if *sub.get(8)? != TAG_CLOCK || flags & ABSTIME != 0 {
        return None;
    }
    Some((u64_at(0)?, Duration::from_nanos(u64_at(24)?)))
}

fn write(
    caller: &mut Caller<'_, JobState<WasiP1Ctx>>,
    memory: wasmtime::Memory,
    ptr: i32,
    bytes: &[u8],
) -> bool {
    u32::try_from(ptr)
        .ok()
        .and_then(|ptr| usize::try_from(ptr).ok())
        .is_some_and(|offset| memory.write(&mut *caller, offset, bytes).is_ok())
}
