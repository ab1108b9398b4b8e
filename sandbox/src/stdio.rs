//! Captured stdout and stderr. The first `soft_cap` bytes are kept; later writes succeed for
//! the guest but are discarded, and the capture is flagged as truncated. A guest that goes on
//! writing past `hard_cap` bytes in all is stopped: as a trap on the WASI 0.2 stream, and by
//! the epoch watch (which polls [`CappedPipe::hard_cap_hit`]) for preview 1, whose writes
//! cannot trap.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use crate::Limit;
use crate::limits::LimitHit;

/// How much a guest may write in one WASI 0.2 call; a write permit, not a cap.
const WRITE_PERMIT: usize = 64 * 1024;

/// One captured stream; clones share the capture.
#[derive(Clone)]
pub(crate) struct CappedPipe {
    state: Arc<Mutex<PipeState>>,
    soft_cap: usize,
    hard_cap: u64,
    limit: Limit,
}

struct PipeState {
    kept: Vec<u8>,
    written: u64,
}

impl CappedPipe {
    pub(crate) fn new(soft_cap: u64, hard_cap: u64, limit: Limit) -> Self {
        Self {
            state: Arc::new(Mutex::new(PipeState {
                kept: Vec::new(),
                written: 0,
            })),
            soft_cap: usize::try_from(soft_cap).unwrap_or(usize::MAX),
            hard_cap: hard_cap.max(soft_cap),
            limit,
        }
    }

    /// The kept bytes and whether anything was discarded.
    pub(crate) fn contents(&self) -> (Vec<u8>, bool) {
        let state = self.lock();
        let kept = u64::try_from(state.kept.len()).unwrap_or(u64::MAX);
        (state.kept.clone(), state.written > kept)
    }

    /// The limit this stream exceeded, if the guest wrote past the hard cap.
    pub(crate) fn hard_cap_hit(&self) -> Option<Limit> {
        (self.lock().written > self.hard_cap).then_some(self.limit)
    }

    /// Records a write; `false` once the hard cap is passed.
    fn accept(&self, bytes: &[u8]) -> bool {
        let mut state = self.lock();
        let room = self.soft_cap.saturating_sub(state.kept.len());
        let keep = bytes.get(..room.min(bytes.len())).unwrap_or_default();
        state.kept.extend_from_slice(keep);
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        state.written = state.written.saturating_add(len);
        state.written <= self.hard_cap
    }

    fn lock(&self) -> MutexGuard<'_, PipeState> {
        // Updates are single appends and additions: a poisoned lock holds consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn hard_cap_error(&self) -> StreamError {
        StreamError::Trap(wasmtime::Error::new(LimitHit(self.limit)))
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CappedPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        if self.accept(&bytes) {
            Ok(())
        } else {
            Err(self.hard_cap_error())
        }
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        match self.hard_cap_hit() {
            Some(_) => Err(self.hard_cap_error()),
            None => Ok(WRITE_PERMIT),
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedPipe {
    async fn ready(&mut self) {}
}

impl AsyncWrite for CappedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.accept(buf) {
            Poll::Ready(Ok(buf.len()))
        } else {
            Poll::Ready(Err(io::Error::other("output limit exceeded")))
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
