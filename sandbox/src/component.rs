//! Running a WASI 0.2 component (`wasi:cli/command`): its store state, its linker (every
//! interface wasmtime-wasi implements, sockets included so language runtimes link, though
//! the context denies their use), and the call of `wasi:cli/run`.

use wasmtime::Store;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::SandboxError;
use crate::component_access::{self, ComponentAccess};
use crate::limits::StoreShape;
use crate::module::error_text;
use crate::run::{Execution, JobState};

/// Instances, memories and tables a component job may create. A C program wrapped by the
/// preview 1 adapter needs 5 instances, 2 memories and 2 tables; language runtimes built
/// with componentize-py or componentize-js need a few more.
pub(crate) const COMPONENT_SHAPE: StoreShape = StoreShape {
    instances: 32,
    memories: 8,
    tables: 8,
};

/// The WASI 0.2 state of one component job.
pub(crate) struct ComponentCtx {
    ctx: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) access: ComponentAccess,
}

impl ComponentCtx {
    pub(crate) fn new(ctx: WasiCtx) -> Self {
        Self {
            ctx,
            table: ResourceTable::new(),
            access: ComponentAccess::default(),
        }
    }
}

impl WasiView for JobState<ComponentCtx> {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi.ctx,
            table: &mut self.wasi.table,
        }
    }
}

/// A linker with all of WASI 0.2, its filesystem reads recorded (`component_access.rs`).
pub(crate) fn new_linker(
    engine: &wasmtime::Engine,
) -> Result<Linker<JobState<ComponentCtx>>, SandboxError> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .and_then(|()| component_access::shadow(&mut linker))
        .map_err(|error| SandboxError::Engine(error_text(&error)))?;
    Ok(linker)
}

/// Links `component` and checks that it is a command.
pub(crate) fn prepare(
    linker: &Linker<JobState<ComponentCtx>>,
    component: &Component,
) -> Result<CommandPre<JobState<ComponentCtx>>, SandboxError> {
    let pre = linker.instantiate_pre(component).map_err(|error| {
        SandboxError::InvalidModule(format!(
            "component imports something the sandbox does not provide: {}",
            error_text(&error)
        ))
    })?;
    CommandPre::new(pre).map_err(|error| {
        SandboxError::InvalidModule(format!(
            "component is not a wasi:cli/command (no wasi:cli/run export): {}",
            error_text(&error)
        ))
    })
}

/// Instantiates the component and calls `wasi:cli/run`. A `run` returning an error is exit
/// status 1, as the preview 1 adapter and `wasi:cli/exit` define it.
pub(crate) async fn execute(
    store: &mut Store<JobState<ComponentCtx>>,
    pre: &CommandPre<JobState<ComponentCtx>>,
) -> Execution {
    let command = match pre.instantiate_async(&mut *store).await {
        Ok(command) => command,
        Err(error) => return Execution::InstantiateFailed(error),
    };
    match command.wasi_cli_run().call_run(&mut *store).await {
        Ok(Ok(())) => Execution::Exited(0),
        Ok(Err(())) => Execution::Exited(1),
        Err(error) => Execution::CallFailed(error),
    }
}
