//! The data-access record of a WASI 0.2 component: which files under `/data` it opened and
//! how many bytes it read, as `access.rs` does for preview 1.
//!
//! The component linker's `get-directories`, `open-at`, `read` and `read-via-stream` are
//! shadowed by wrappers that call wasmtime-wasi's own host implementation and observe the
//! descriptors involved. Descriptors are followed by resource number from the `/data`
//! preopen down (every descriptor comes from one of these two functions, so a reused number
//! is re-classified when it is handed out again). A stream read from a `/data` file is
//! wrapped in the resource table by a counting stream, so bytes are counted exactly however
//! the guest reads the stream. The record never changes what a call does or returns.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::WasiFilesystemView;
use wasmtime_wasi::p2::bindings::filesystem::preopens;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, Descriptor, DescriptorFlags, ErrorCode, HostDescriptor, OpenFlags, PathFlags,
};
use wasmtime_wasi::p2::pipe::ClosedInputStream;
use wasmtime_wasi::p2::{DynInputStream, InputStream, Pollable, StreamResult};

use crate::DataAccess;
use crate::access::join;
use crate::component::ComponentCtx;
use crate::run::JobState;

const PREOPENS: &str = "wasi:filesystem/preopens@0.2.12";
const TYPES: &str = "wasi:filesystem/types@0.2.12";

type State = JobState<ComponentCtx>;

/// Descriptors under `/data` and what was read through them.
#[derive(Default)]
pub(crate) struct ComponentAccess {
    /// Descriptor resource numbers under `/data` and the guest path each names.
    handles: HashMap<u32, String>,
    /// Files opened, by guest path: opens and a byte counter shared with their streams.
    files: BTreeMap<String, (u64, Arc<AtomicU64>)>,
}

impl ComponentAccess {
    /// The record, sorted by path.
    pub(crate) fn into_record(self) -> Vec<DataAccess> {
        self.files
            .into_iter()
            .map(|(path, (opens, bytes))| DataAccess {
                path,
                opens,
                bytes_read: bytes.load(Ordering::Relaxed),
            })
            .collect()
    }

    fn opened(&mut self, parent: u32, relative: &str, directory: bool, new: u32) {
        let Some(base) = self.handles.get(&parent) else {
            self.handles.remove(&new);
            return;
        };
        let path = join(base, relative);
        if !directory {
            let entry = self.files.entry(path.clone()).or_default();
            entry.0 = entry.0.saturating_add(1);
        }
        self.handles.insert(new, path);
    }

    fn counter(&self, descriptor: u32) -> Option<Arc<AtomicU64>> {
        let path = self.handles.get(&descriptor)?;
        self.files.get(path).map(|(_, bytes)| Arc::clone(bytes))
    }
}

/// Replaces the four functions in `linker` (which already holds wasmtime-wasi's WASI 0.2).
pub(crate) fn shadow(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.instance(PREOPENS)?.func_wrap(
        "get-directories",
        |mut store: StoreContextMut<'_, State>, (): ()| {
            let directories = preopens::Host::get_directories(&mut store.data_mut().filesystem())?;
            let handles = &mut store.data_mut().wasi.access.handles;
            for (descriptor, path) in &directories {
                if path == "/data" {
                    handles.insert(descriptor.rep(), "/data".to_owned());
                } else {
                    handles.remove(&descriptor.rep());
                }
            }
            Ok((directories,))
        },
    )?;
    let mut types_instance = linker.instance(TYPES)?;
    types_instance.func_wrap_async(
        "[method]descriptor.open-at",
        |mut store: StoreContextMut<'_, State>,
         (descriptor, path_flags, path, open_flags, flags): (
            Resource<Descriptor>,
            PathFlags,
            String,
            OpenFlags,
            DescriptorFlags,
        )| {
            Box::new(async move {
                let parent = descriptor.rep();
                let directory = open_flags.contains(OpenFlags::DIRECTORY);
                let relative = path.clone();
                let mut view = store.data_mut().filesystem();
                let opened = HostDescriptor::open_at(
                    &mut view, descriptor, path_flags, path, open_flags, flags,
                )
                .await;
                let result: Result<Resource<Descriptor>, ErrorCode> = match opened {
                    Ok(new) => Ok(new),
                    Err(error) => Err(types::Host::convert_error_code(&mut view, error)?),
                };
                if let Ok(new) = &result {
                    let access = &mut store.data_mut().wasi.access;
                    access.opened(parent, &relative, directory, new.rep());
                }
                Ok((result,))
            })
        },
    )?;
    types_instance.func_wrap_async(
        "[method]descriptor.read",
        |mut store: StoreContextMut<'_, State>,
         (descriptor, len, offset): (Resource<Descriptor>, u64, u64)| {
            Box::new(async move {
                let counter = store.data().wasi.access.counter(descriptor.rep());
                let mut view = store.data_mut().filesystem();
                let result = match HostDescriptor::read(&mut view, descriptor, len, offset).await {
                    Ok(read) => Ok(read),
                    Err(error) => Err(types::Host::convert_error_code(&mut view, error)?),
                };
                if let (Ok((bytes, _)), Some(counter)) = (&result, counter) {
                    count(&counter, bytes.len());
                }
                Ok((result,))
            })
        },
    )?;
    types_instance.func_wrap(
        "[method]descriptor.read-via-stream",
        |mut store: StoreContextMut<'_, State>,
         (descriptor, offset): (Resource<Descriptor>, u64)| {
            let counter = store.data().wasi.access.counter(descriptor.rep());
            let mut view = store.data_mut().filesystem();
            let result: Result<Resource<DynInputStream>, ErrorCode> =
                match HostDescriptor::read_via_stream(&mut view, descriptor, offset) {
                    Ok(stream) => Ok(stream),
                    Err(error) => Err(types::Host::convert_error_code(&mut view, error)?),
                };
            if let (Ok(stream), Some(counter)) = (&result, counter) {
                let slot = store.data_mut().wasi.table.get_mut(stream)?;
                let inner = std::mem::replace(slot, Box::new(ClosedInputStream));
                *slot = Box::new(CountingStream { inner, counter });
            }
            Ok((result,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

fn count(counter: &AtomicU64, bytes: usize) {
    let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
    counter.fetch_add(bytes, Ordering::Relaxed);
}

/// A stream from a `/data` file that counts the bytes it hands out.
struct CountingStream {
    inner: DynInputStream,
    counter: Arc<AtomicU64>,
}

#[wasmtime_wasi::async_trait]
impl InputStream for CountingStream {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        let bytes = self.inner.read(size)?;
        count(&self.counter, bytes.len());
        Ok(bytes)
    }

    async fn blocking_read(&mut self, size: usize) -> StreamResult<Bytes> {
        let bytes = self.inner.blocking_read(size).await?;
        count(&self.counter, bytes.len());
        Ok(bytes)
    }

    fn skip(&mut self, size: usize) -> StreamResult<usize> {
        self.inner.skip(size)
    }

    async fn blocking_skip(&mut self, size: usize) -> StreamResult<usize> {
        self.inner.blocking_skip(size).await
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await;
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CountingStream {
    async fn ready(&mut self) {
        self.inner.ready().await;
    }
}
